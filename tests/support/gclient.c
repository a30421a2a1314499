/*
 * gclient.c -- green HTTP/1.1 client connections for tests.
 */
#include "support/gclient.h"

#include <errno.h>
#include <greenserve.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

long tg_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

int tg_open(tg_conn *c, int port, int64_t timeout_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    *c = (tg_conn){.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (c->fd < 0)
        return -errno;
    int err = gs_connect(c->fd, (struct sockaddr *)&a, sizeof(a), timeout_ms);
    if (err == 0 && !(c->rd = gs_reader_new(c->fd, 4096)))
        err = -ENOMEM;
    if (err)
        tg_close(c);
    return err;
}

void tg_close(tg_conn *c)
{
    if (c->rd)
        gs_reader_free(c->rd);
    if (c->fd >= 0)
        gs_close(c->fd);
    *c = (tg_conn){.fd = -1};
}

int tg_send(tg_conn *c, const char *req, size_t n, int64_t timeout_ms)
{
    ssize_t w = gs_fd_write(c->fd, req, n, timeout_ms);
    return w < 0 ? (int)w : 0;
}

/* A read that ended the connection: EOF and a reset read the same here. */
static int ended(ssize_t n)
{
    return n == 0 || n == -ECONNRESET || n == -EPIPE ? -ECONNRESET : (int)n;
}

static void header_line(tg_head *h, const char *line)
{
    if (strncasecmp(line, "Content-Length:", 15) == 0)
        h->length = strtoll(line + 15, NULL, 10);
    else if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line, "close"))
        h->close = true;
    else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strcasestr(line, "chunked"))
        h->chunked = true;
}

int tg_read_head(tg_conn *c, tg_head *h, int64_t timeout_ms)
{
    char line[1024];
    int status = 0;
    ssize_t n = gs_reader_readline(c->rd, line, sizeof(line), timeout_ms);
    if (n <= 0)
        return ended(n);
    if (sscanf(line, "HTTP/1.%*d %d", &status) != 1)
        return -EPROTO;
    *h = (tg_head){.status = status, .length = -1};
    while ((n = gs_reader_readline(c->rd, line, sizeof(line), timeout_ms)) > 2)
        header_line(h, line);
    return n <= 0 ? ended(n) : 0;
}

static int read_exactly(tg_conn *c, char *buf, size_t n, int64_t timeout_ms)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = gs_reader_read(c->rd, buf + got, n - got, timeout_ms);
        if (r <= 0)
            return ended(r);
        got += (size_t)r;
    }
    return 0;
}

int tg_read_body(tg_conn *c, const tg_head *h, char **body, int64_t timeout_ms)
{
    size_t len = h->length > 0 ? (size_t)h->length : 0;
    *body = malloc(len + 1);
    if (!*body)
        return -ENOMEM;
    int err = read_exactly(c, *body, len, timeout_ms);
    (*body)[err ? 0 : len] = '\0';
    return err;
}

ssize_t tg_read_chunk(tg_conn *c, char *buf, size_t cap, int64_t timeout_ms)
{
    char line[64];
    ssize_t n = gs_reader_readline(c->rd, line, sizeof(line), timeout_ms);
    if (n <= 0)
        return ended(n);
    char *end;
    unsigned long size = strtoul(line, &end, 16);
    if (end == line)
        return -EPROTO;
    if (size >= cap)
        return -EMSGSIZE;
    int err = read_exactly(c, buf, size, timeout_ms);
    if (!err)
        err = read_exactly(c, line, 2, timeout_ms); /* the CRLF after it */
    if (err)
        return err;
    buf[size] = '\0';
    return (ssize_t)size;
}
