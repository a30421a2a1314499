/*
 * reader.c -- gs_reader: a buffered reader over a non-blocking descriptor,
 * for line-oriented protocols and small reads that should not each cost a
 * syscall.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "greenserve.h"

struct gs_reader {
    int fd; /* borrowed */
    char *buf;
    size_t cap;
    size_t start, end; /* buffered bytes are buf[start, end) */
    bool eof;          /* a read returned 0: reported without reading again */
};

gs_reader *gs_reader_new(int fd, size_t bufsize)
{
    gs_reader *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return NULL;
    rd->cap = bufsize ? bufsize : 4096;
    rd->buf = malloc(rd->cap);
    if (!rd->buf) {
        free(rd);
        return NULL;
    }
    rd->fd = fd;
    return rd;
}

void gs_reader_free(gs_reader *rd)
{
    if (!rd)
        return;
    free(rd->buf);
    free(rd);
}

static size_t buffered(const gs_reader *rd)
{
    return rd->end - rd->start;
}

/* What is left of a call-wide timeout that started at `start`. */
static int64_t remaining(int64_t timeout_ms, int64_t start)
{
    if (timeout_ms < 0)
        return GS_FOREVER;
    int64_t l = timeout_ms - (gs_now_ms() - start);
    return l > 0 ? l : 0;
}

/* One read of up to n bytes into dst: > 0, 0 at end of file, or -errno.
 * It always tries the read first: a short read does not prove the socket
 * drained, since an end of file or a reset may be pending behind the data
 * with its edge already consumed, and waiting would then never end. */
static ssize_t read_some(gs_reader *rd, char *dst, size_t n, int64_t timeout_ms)
{
    if (rd->eof)
        return 0;
    ssize_t r = gs_fd_read(rd->fd, dst, n, timeout_ms);
    rd->eof = r == 0;
    return r;
}

/* Make room at the end of the buffer: slide the data down, and grow to
 * `want` bytes when a line needs more than the buffer holds. */
static int make_room(gs_reader *rd, size_t want)
{
    if (rd->start > 0 && rd->end == rd->cap) {
        memmove(rd->buf, rd->buf + rd->start, buffered(rd));
        rd->end -= rd->start;
        rd->start = 0;
    }
    if (rd->end < rd->cap)
        return 0;
    if (want <= rd->cap)
        return -EMSGSIZE; /* full: a read of 0 bytes would look like EOF */
    char *b = realloc(rd->buf, want);
    if (!b)
        return -ENOMEM;
    rd->buf = b;
    rd->cap = want;
    return 0;
}

/* Read more into the buffer: > 0, 0 at end of file, or -errno. */
static ssize_t fill(gs_reader *rd, size_t want, int64_t timeout_ms)
{
    int r = make_room(rd, want);
    if (r < 0)
        return r;
    ssize_t got = read_some(rd, rd->buf + rd->end, rd->cap - rd->end, timeout_ms);
    if (got > 0)
        rd->end += (size_t)got;
    return got;
}

static size_t take(gs_reader *rd, void *dst, size_t n)
{
    memcpy(dst, rd->buf + rd->start, n);
    rd->start += n;
    if (rd->start == rd->end)
        rd->start = rd->end = 0;
    return n;
}

ssize_t gs_reader_read(gs_reader *rd, void *buf, size_t n, int64_t timeout_ms)
{
    if (n == 0)
        return 0;
    size_t have = buffered(rd);
    if (have)
        return (ssize_t)take(rd, buf, have < n ? have : n);
    /* A read as large as the buffer gains nothing from it: no copy. */
    if (n >= rd->cap)
        return read_some(rd, buf, n, timeout_ms);
    ssize_t r = fill(rd, 0, timeout_ms);
    if (r <= 0)
        return r;
    return (ssize_t)take(rd, buf, (size_t)r < n ? (size_t)r : n);
}

/* Copy the first len buffered bytes out as a NUL-terminated line. */
static ssize_t take_line(gs_reader *rd, char *buf, size_t len)
{
    take(rd, buf, len);
    buf[len] = '\0';
    return (ssize_t)len;
}

ssize_t gs_reader_readline(gs_reader *rd, char *buf, size_t n, int64_t timeout_ms)
{
    if (n == 0)
        return -EINVAL;
    int64_t start = gs_now_ms();
    size_t scanned = 0; /* bytes already known to hold no '\n' */
    for (;;) {
        size_t have = buffered(rd);
        char *nl = memchr(rd->buf + rd->start + scanned, '\n', have - scanned);
        if (nl) {
            size_t len = (size_t)(nl - (rd->buf + rd->start)) + 1;
            return len > n - 1 ? -EMSGSIZE : take_line(rd, buf, len);
        }
        /* n - 1 bytes without '\n' could still be a last line at EOF. */
        if (have > n - 1)
            return -EMSGSIZE;
        scanned = have;
        ssize_t r = fill(rd, n, remaining(timeout_ms, start));
        if (r < 0)
            return r;
        if (r == 0)
            return have ? take_line(rd, buf, have) : 0;
    }
}
