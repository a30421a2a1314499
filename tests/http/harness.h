/*
 * harness.h -- an in-process HTTP server and green clients for the tests
 * of http/.
 *
 * Everything runs on the test's own hub: hs_start spawns a green accept
 * loop on a listener at 127.0.0.1:0 that calls http_serve for each
 * connection (or http_refuse_busy past limits.max_conns), with mounts whose
 * gs_app structs the test defines. The test body (the root green thread)
 * is the client: hc_* talk raw HTTP over non-blocking sockets with green
 * I/O, so the server runs whenever the client waits. Handlers and the test
 * body can share state and wake each other with gs_event.
 *
 * The error log (rt_log) and the access log go to files in a fresh
 * directory. hs_stop kills and joins every green thread the server
 * started: nothing is left running or allocated.
 */
#ifndef TESTS_HTTP_HARNESS_H
#define TESTS_HTTP_HARNESS_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "greenserve.h"
#include "http/http.h"
#include "runtime/hub.h"
#include "runtime/log.h"
#include "support/server.h"

#define HS_UNUSED   __attribute__((unused))
#define HS_MAXCONNS 256
#define HS_TIMEOUT  3000 /* ms a client waits for an answer */

typedef struct hs {
    int lfd, port;
    http_site site;
    http_mount mounts[8];
    gs_thread *acceptor;
    gs_thread *conns[HS_MAXCONNS];
    unsigned nconns;
    unsigned done;  /* connections whose http_serve returned */
    rt_waitq doneq; /* woken at each */
    char dir[64], error_log[96], access_log[96];
} hs;

typedef struct hs_conn_arg {
    hs *s;
    int fd;
    socklen_t len;
    struct sockaddr_storage peer;
} hs_conn_arg;

static void *hs_conn_main(void *arg)
{
    hs_conn_arg a = *(hs_conn_arg *)arg;
    free(arg);
    http_serve(&a.s->site, a.fd, (struct sockaddr *)&a.peer, a.len);
    a.s->done++;
    rt_wake_all(&a.s->doneq, 0);
    return NULL;
}

static void *hs_accept_main(void *arg)
{
    hs *s = arg;
    for (;;) {
        hs_conn_arg *a = calloc(1, sizeof(*a));
        a->s = s;
        a->len = sizeof(a->peer);
        a->fd = gs_accept(s->lfd, (struct sockaddr *)&a->peer, &a->len, GS_FOREVER);
        if (a->fd < 0) {
            free(a);
            return NULL;
        }
        if (s->site.active_conns >= s->site.limits.max_conns || s->nconns == HS_MAXCONNS) {
            http_refuse_busy(&s->site, a->fd);
            free(a);
            continue;
        }
        s->conns[s->nconns++] = gs_spawn(hs_conn_main, a);
    }
}

static int hs_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 128), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void hs_open_logs(hs *s)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/gs-http-test.XXXXXX");
    cr_assert(mkdtemp(s->dir));
    snprintf(s->error_log, sizeof(s->error_log), "%s/error.log", s->dir);
    snprintf(s->access_log, sizeof(s->access_log), "%s/access.log", s->dir);
    int efd = open(s->error_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    s->site.access_log_fd = open(s->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert(efd >= 0 && s->site.access_log_fd >= 0);
    rt_log_set_fd(efd);
}

/* Serve `apps` mounted at `prefixes` (n of each). `tweak`, if not NULL,
 * adjusts the default limits first. */
static HS_UNUSED void hs_start(hs *s, const char *const *prefixes, const gs_app *const *apps,
                               size_t n, void (*tweak)(http_limits *))
{
    memset(s, 0, sizeof(*s));
    hs_open_logs(s);
    http_limits_default(&s->site.limits);
    if (tweak)
        tweak(&s->site.limits);
    for (size_t i = 0; i < n; i++)
        s->mounts[i] = (http_mount){prefixes[i], strlen(prefixes[i]), apps[i], NULL};
    s->site.mounts = s->mounts;
    s->site.nmounts = n;
    s->lfd = hs_listen(&s->port);
    s->acceptor = gs_spawn(hs_accept_main, s);
}

/* One app at "/". */
static HS_UNUSED void hs_start1(hs *s, const gs_app *app, void (*tweak)(http_limits *))
{
    hs_start(s, (const char *[]){"/"}, (const gs_app *[]){app}, 1, tweak);
}

static HS_UNUSED void hs_stop(hs *s)
{
    gs_kill(s->acceptor);
    gs_join(s->acceptor, NULL, GS_FOREVER);
    for (unsigned i = 0; i < s->nconns; i++) {
        gs_kill(s->conns[i]);
        gs_join(s->conns[i], NULL, GS_FOREVER);
    }
    gs_close(s->lfd);
    http_access_log_flush();
    int efd = rt_log_fd();
    rt_log_set_fd(2);
    close(efd);
    close(s->site.access_log_fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
    cr_assert_eq(system(cmd), 0);
}

/* Wait until n connections in all have ended on the server's side. */
static HS_UNUSED bool hs_wait_done(hs *s, unsigned n, int timeout_ms)
{
    int64_t deadline = gs_now_ms() + timeout_ms;
    while (s->done < n) {
        int64_t left = deadline - gs_now_ms();
        if (left <= 0 || rt_wait(&s->doneq, left) == -ETIMEDOUT)
            break;
    }
    return s->done >= n;
}

/* The error log so far (static buffer). */
static HS_UNUSED const char *hs_error_log(hs *s)
{
    static char buf[1 << 16];
    ts_read_file(s->error_log, buf, sizeof(buf));
    return buf;
}

static HS_UNUSED const char *hs_access_log(hs *s)
{
    static char buf[1 << 16];
    ts_read_file(s->access_log, buf, sizeof(buf));
    return buf;
}

/* ---- green client ---- */

#define HC_BUF (1 << 18)

typedef struct hc {
    int fd;
    size_t len; /* bytes in buf not yet returned */
    char buf[HC_BUF];
    char resp[HC_BUF]; /* the last response, NUL-terminated */
} hc;

static HS_UNUSED hc *hc_open(hs *s)
{
    hc *c = calloc(1, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(gs_connect(c->fd, (struct sockaddr *)&a, sizeof(a), HS_TIMEOUT), 0);
    return c;
}

static HS_UNUSED void hc_close(hc *c)
{
    gs_close(c->fd);
    free(c);
}

static HS_UNUSED void hc_sendn(hc *c, const void *data, size_t n)
{
    cr_assert_eq(gs_fd_write(c->fd, data, n, HS_TIMEOUT), (ssize_t)n, "send failed");
}

static HS_UNUSED void hc_send(hc *c, const char *data)
{
    hc_sendn(c, data, strlen(data));
}

/* Send one byte at a time, letting the server run between them. */
static HS_UNUSED void hc_send_slowly(hc *c, const char *data)
{
    for (; *data; data++) {
        hc_sendn(c, data, 1);
        gs_sleep(1);
    }
}

/* Where a chunked body starting at p ends (past the trailers), or NULL. */
static const char *hc_chunked_end(const char *p, const char *end)
{
    for (;;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            return NULL;
        unsigned long size = strtoul(p, NULL, 16);
        p = eol + 2;
        if (size == 0) {
            const char *blank = memmem(p - 2, (size_t)(end - p + 2), "\r\n\r\n", 4);
            return blank ? blank + 4 : NULL;
        }
        if ((size_t)(end - p) < size + 2)
            return NULL;
        p += size + 2;
    }
}

static const char *hc_find_header(const char *head, const char *head_end, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p < head_end; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, len) == 0 && p[2 + len] == ':')
            return p + 3 + len + strspn(p + 3 + len, " ");
    return NULL;
}

/* The length of the response at the start of buf (n bytes): 0 while
 * incomplete, SIZE_MAX when it ends with the connection. */
static size_t hc_response_length(const char *buf, size_t n, bool head_only)
{
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end + 4 - buf);
    int status = atoi(buf + 9);
    if (head_only || status / 100 == 1 || status == 204 || status == 304)
        return head;
    const char *cl = hc_find_header(buf, end, "Content-Length");
    if (cl)
        return n >= head + strtoull(cl, NULL, 10) ? head + strtoull(cl, NULL, 10) : 0;
    const char *te = hc_find_header(buf, end, "Transfer-Encoding");
    if (te && strncasecmp(te, "chunked", 7) == 0) {
        const char *stop = hc_chunked_end(buf + head, buf + n);
        return stop ? (size_t)(stop - buf) : 0;
    }
    return SIZE_MAX;
}

/* Move the first `take` buffered bytes into c->resp. */
static const char *hc_take(hc *c, size_t take)
{
    memcpy(c->resp, c->buf, take);
    c->resp[take] = '\0';
    memmove(c->buf, c->buf + take, c->len - take);
    c->len -= take;
    return c->resp;
}

/* One response, or NULL (timeout, or the connection closed first: *eof). */
static HS_UNUSED const char *hc_recv_try(hc *c, bool head_only, int timeout_ms, bool *eof)
{
    int64_t deadline = gs_now_ms() + timeout_ms;
    *eof = false;
    for (;;) {
        size_t len = hc_response_length(c->buf, c->len, head_only);
        if (len && len != SIZE_MAX)
            return hc_take(c, len);
        int64_t left = deadline - gs_now_ms();
        ssize_t n =
            left <= 0 ? -ETIMEDOUT : gs_fd_read(c->fd, c->buf + c->len, HC_BUF - 1 - c->len, left);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        *eof = n == 0 || n == -ECONNRESET;
        if (*eof && len == SIZE_MAX)
            return hc_take(c, c->len); /* close-delimited */
        return NULL;
    }
}

static HS_UNUSED const char *hc_recv(hc *c, bool head_only)
{
    bool eof;
    const char *r = hc_recv_try(c, head_only, HS_TIMEOUT, &eof);
    cr_assert_not_null(r, "no response (%s)", eof ? "connection closed" : "timeout");
    return r;
}

/* Whether the server closes within timeout_ms (anything sent first is
 * dropped). */
static HS_UNUSED bool hc_closed(hc *c, int timeout_ms)
{
    int64_t deadline = gs_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - gs_now_ms();
        if (left <= 0)
            return false;
        char sink[4096];
        ssize_t n = gs_fd_read(c->fd, sink, sizeof(sink), left);
        if (n == 0 || n == -ECONNRESET)
            return true;
        if (n < 0)
            return false;
    }
}

/* One request on a fresh connection; the response (static). */
static HS_UNUSED const char *hs_request(hs *s, const char *req)
{
    static char copy[HC_BUF];
    hc *c = hc_open(s);
    hc_send(c, req);
    snprintf(copy, sizeof(copy), "%s", hc_recv(c, strncmp(req, "HEAD ", 5) == 0));
    hc_close(c);
    return copy;
}

/* ---- reading responses ---- */

static HS_UNUSED int hs_status(const char *resp)
{
    return strncmp(resp, "HTTP/1.1 ", 9) == 0 ? atoi(resp + 9) : -1;
}

static HS_UNUSED const char *hs_body(const char *resp)
{
    const char *end = strstr(resp, "\r\n\r\n");
    return end ? end + 4 : "";
}

/* The value of a response header (static, NUL-terminated), or NULL. */
static HS_UNUSED const char *hs_header(const char *resp, const char *name)
{
    static char val[1024];
    const char *end = strstr(resp, "\r\n\r\n");
    const char *v = hc_find_header(resp, end ? end : resp + strlen(resp), name);
    if (!v)
        return NULL;
    size_t n = strcspn(v, "\r\n");
    snprintf(val, sizeof(val), "%.*s", (int)n, v);
    return val;
}

/* The de-chunked body of a chunked response (static). */
static HS_UNUSED const char *hs_dechunk(const char *resp)
{
    static char out[HC_BUF];
    const char *p = hs_body(resp);
    size_t n = 0;
    for (;;) {
        char *end;
        unsigned long size = strtoul(p, &end, 16);
        const char *eol = strstr(p, "\r\n");
        if (!eol || end == p || size == 0)
            break;
        p = eol + 2;
        memcpy(out + n, p, size);
        n += size;
        p += size + 2;
    }
    out[n] = '\0';
    return out;
}

/* ---- apps every test file uses ---- */

static int hs_hello(gs_request *r, void *state)
{
    (void)state;
    gs_start_response(r, 200,
                      (const char *[]){"Content-Type", "text/plain", "Content-Length", "6", NULL});
    gs_write(r, "hello\n", 6);
    return 0;
}

static HS_UNUSED const gs_app hs_hello_app = {
    .abi = GS_ABI_VERSION, .name = "hello", .handle = hs_hello};

/* Echo the body back, with Content-Length; gs_read's error if it fails. */
static int hs_echo(gs_request *r, void *state)
{
    (void)state;
    static char body[1 << 21];
    size_t n = 0;
    ssize_t got;
    while ((got = gs_read(r, body + n, sizeof(body) - n)) > 0)
        n += (size_t)got;
    if (got < 0)
        return (int)got;
    char len[32];
    snprintf(len, sizeof(len), "%zu", n);
    gs_start_response(r, 200, (const char *[]){"Content-Length", len, NULL});
    gs_write(r, body, n);
    return 0;
}

static HS_UNUSED const gs_app hs_echo_app = {
    .abi = GS_ABI_VERSION, .name = "echo", .handle = hs_echo};

#endif
