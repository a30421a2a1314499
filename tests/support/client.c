/*
 * client.c -- raw-socket HTTP client for tests.
 */
#include "support/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ts_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

int ts_send(int fd, const void *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Wait for input until the deadline: 1 readable, 0 timed out. */
static int wait_readable(int fd, int64_t deadline)
{
    int64_t left = deadline - ts_now_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return left > 0 && poll(&p, 1, (int)left) > 0;
}

/* Where a chunked body starting at p ends, or NULL if not all here. */
static const char *chunked_end(const char *p, const char *end)
{
    for (;;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            return NULL;
        unsigned long size = strtoul(p, NULL, 16);
        p = eol + 2;
        if (size == 0) { /* trailers, then a blank line */
            const char *blank = memmem(p - 2, (size_t)(end - p + 2), "\r\n\r\n", 4);
            return blank ? blank + 4 : NULL;
        }
        if ((size_t)(end - p) < size + 2)
            return NULL;
        p += size + 2;
    }
}

/* The length of the response at the start of buf, 0 while incomplete,
 * SIZE_MAX when it ends with the connection. */
static size_t response_length(char *buf, size_t n, bool head_only)
{
    const char *head_end = memmem(buf, n, "\r\n\r\n", 4);
    if (!head_end)
        return 0;
    size_t head = (size_t)(head_end + 4 - buf);
    char c = buf[head];
    buf[head] = '\0'; /* confine the header lookups to the head */
    char v[64];
    int status = ts_status(buf);
    bool cl = ts_header(buf, "Content-Length", v, sizeof(v));
    bool te = !cl && ts_header(buf, "Transfer-Encoding", v, sizeof(v)) && strcasestr(v, "chunked");
    buf[head] = c;
    if (head_only || status / 100 == 1 || status == 204 || status == 304)
        return head;
    if (cl)
        return n >= head + strtoull(v, NULL, 10) ? head + strtoull(v, NULL, 10) : 0;
    if (te) {
        const char *end = chunked_end(buf + head, buf + n);
        return end ? (size_t)(end - buf) : 0;
    }
    return SIZE_MAX;
}

ssize_t ts_recv_response(int fd, char *buf, size_t cap, bool head_only, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    size_t have = 0;
    while (have < cap - 1) {
        if (!wait_readable(fd, deadline))
            return -1;
        /* Peek, then take only what belongs to this response: the rest is
         * the next pipelined one. */
        ssize_t r = recv(fd, buf + have, cap - 1 - have, MSG_PEEK);
        if (r <= 0)
            break;
        buf[have + (size_t)r] = '\0';
        size_t len = response_length(buf, have + (size_t)r, head_only);
        size_t take = len && len != SIZE_MAX ? len - have : (size_t)r;
        if (recv(fd, buf + have, take, 0) != (ssize_t)take)
            break;
        have += take;
        if (len && len != SIZE_MAX)
            break;
    }
    buf[have] = '\0';
    return (ssize_t)have;
}

ssize_t ts_recv_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    size_t have = 0;
    for (;;) {
        if (!wait_readable(fd, deadline)) {
            buf[have] = '\0';
            return -1;
        }
        ssize_t r = recv(fd, buf + have, cap - 1 - have, 0);
        if (r <= 0 || (have += (size_t)r) == cap - 1)
            break;
    }
    buf[have] = '\0';
    return (ssize_t)have;
}

bool ts_closed_within(int fd, int timeout_ms)
{
    char sink[4096];
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        if (!wait_readable(fd, deadline))
            return false;
        ssize_t r = recv(fd, sink, sizeof(sink), 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
    }
}

ssize_t ts_request(int port, const char *req, char *buf, size_t cap, int timeout_ms)
{
    int fd = ts_connect(port);
    if (fd < 0)
        return -1;
    ssize_t n =
        ts_send(fd, req, strlen(req)) == 0 ? ts_recv_response(fd, buf, cap, false, timeout_ms) : -1;
    close(fd);
    return n;
}

int ts_status(const char *resp)
{
    int status;
    if (strncmp(resp, "HTTP/1.", 7) != 0 || sscanf(resp + 8, " %3d", &status) != 1)
        return -1;
    return status;
}

bool ts_header(const char *resp, const char *name, char *val, size_t cap)
{
    size_t len = strlen(name);
    const char *end = strstr(resp, "\r\n\r\n");
    for (const char *p = strstr(resp, "\r\n"); p && (!end || p < end); p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, len) != 0 || p[2 + len] != ':')
            continue;
        const char *v = p + 3 + len;
        v += strspn(v, " \t");
        size_t n = strcspn(v, "\r\n");
        n = n < cap - 1 ? n : cap - 1;
        memcpy(val, v, n);
        val[n] = '\0';
        return true;
    }
    return false;
}

const char *ts_body(const char *resp)
{
    const char *end = strstr(resp, "\r\n\r\n");
    return end ? end + 4 : "";
}
