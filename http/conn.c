/*
 * conn.c -- http_serve: one connection on its own green thread.
 *
 *   read -> parse head -> route -> handler -> finish response -> drain the
 *   body -> access log -> (keep-alive and pipelined ? loop : close)
 *
 * System calls are what a request costs (DESIGN.md, "Performance notes"),
 * so this file counts them:
 *   - a read that fills less than the room it was given drained the
 *     socket: the next one waits for readiness first instead of finding
 *     EAGAIN;
 *   - responses collect in the output buffer and leave in one writev when
 *     the connection is about to wait: a keep-alive request costs a read
 *     and a write, a pipelined batch a read and a write for all of it;
 *   - buffers come from a per-hub pool and go back to it while the
 *     connection idles, so an idle keep-alive client holds no buffer and
 *     a busy one costs no malloc.
 */
#include "http/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http/accesslog.h"
#include "http/body.h"
#include "http/handoff.h"
#include "http/parse.h"
#include "http/response.h"
#include "http/route.h"
#include "http/thread.h"
#include "runtime/hub.h"
#include "runtime/io.h"
#include "runtime/log.h"

/* Below this much room at the end of the input buffer, compact or grow. */
#define MIN_READ 512
/* Room after a complete head for body reads (see http_conn_body_room). */
#define BODY_ROOM 1024
/* Pipelined responses are sent once this much is waiting. */
#define OUT_HIGH (HTTP_BUF_SIZE * 3 / 4)
/* A closing connection reads and drops what the client still sends for
 * at most this long, so that the client sees our last answer instead of
 * a reset (closing with unread input sends RST). */
#define LINGER_MS    1000
#define LINGER_BYTES (256 * 1024)
#define POOL_MAX     64

void http_limits_default(http_limits *l)
{
    *l = (http_limits){
        .max_uri = 8 * 1024,
        .max_header_bytes = 32 * 1024,
        .max_headers = 100,
        .max_body = 1024 * 1024,
        .header_timeout_ms = 30 * 1000,
        .body_timeout_ms = 60 * 1000,
        .keepalive_timeout_ms = 75 * 1000,
        .write_timeout_ms = 60 * 1000,
        .max_conns = 10000,
    };
}

/* ---- buffers ---- */

typedef struct buf_pool {
    char *free[POOL_MAX];
    unsigned n;
} buf_pool;

/* One pool per size: [0] input (HTTP_IN_SIZE), [1] output (HTTP_BUF_SIZE). */
static __thread buf_pool pool[2];

static buf_pool *pool_for(size_t cap)
{
    if (cap == HTTP_IN_SIZE)
        return &pool[0];
    return cap == HTTP_BUF_SIZE ? &pool[1] : NULL;
}

static char *buf_get(size_t cap)
{
    buf_pool *p = pool_for(cap);
    return p->n ? p->free[--p->n] : malloc(cap);
}

static void buf_put(char *b, size_t cap)
{
    buf_pool *p = pool_for(cap);
    if (b && p && p->n < POOL_MAX)
        p->free[p->n++] = b;
    else
        free(b);
}

static int in_acquire(http_conn *c)
{
    c->in = buf_get(HTTP_IN_SIZE);
    c->in_cap = c->in ? HTTP_IN_SIZE : 0;
    return c->in ? 0 : -ENOMEM;
}

/* Only with nothing buffered: the offsets all fall back to 0. */
static void in_release(http_conn *c)
{
    buf_put(c->in, c->in_cap);
    c->in = NULL;
    c->in_cap = c->in_len = c->pos = c->req_start = 0;
}

static void out_release(http_conn *c)
{
    buf_put(c->out, c->out_cap);
    c->out = NULL;
    c->out_cap = c->out_len = 0;
}

void http_conn_park_light(http_conn *c)
{
    if (c->out_len == 0 && !c->flushing)
        out_release(c);
}

static int in_grow(http_conn *c, size_t cap)
{
    char *p = malloc(cap);
    if (!p)
        return -ENOMEM;
    memcpy(p, c->in, c->in_len);
    buf_put(c->in, c->in_cap);
    c->in = p;
    c->in_cap = cap;
    return 0;
}

/* Move the current request to the start of the buffer. Only while nothing
 * points into it: before its head is complete, or right then. */
static void in_compact(http_conn *c)
{
    if (c->req_start == 0)
        return;
    memmove(c->in, c->in + c->req_start, c->in_len - c->req_start);
    c->in_len -= c->req_start;
    c->pos -= c->req_start;
    c->req_start = 0;
}

/* Drop the body bytes already parsed; the head stays where it is. */
static void in_drop_body(http_conn *c)
{
    size_t head_end = c->req_start + c->req.head_len;
    memmove(c->in + head_end, c->in + c->pos, c->in_len - c->pos);
    c->in_len -= c->pos - head_end;
    c->pos = head_end;
}

int http_conn_in_room(http_conn *c)
{
    if (!c->in)
        return in_acquire(c);
    if (c->in_cap - c->in_len >= MIN_READ)
        return 0;
    if (c->req.head_done) {
        in_drop_body(c);
        return 0; /* http_conn_body_room left enough */
    }
    in_compact(c);
    if (c->in_cap - c->in_len >= MIN_READ)
        return 0;
    size_t limit = c->lim->max_header_bytes + 1;
    if (c->in_len >= limit)
        return -EMSGSIZE;
    size_t cap = c->in_cap * 2;
    if (cap > limit + MIN_READ)
        cap = limit + MIN_READ;
    return in_grow(c, cap);
}

int http_conn_body_room(http_conn *c)
{
    if (!c->req.chunked && c->req.body_left == 0)
        return 0;
    if (c->in_cap - c->in_len >= BODY_ROOM)
        return 0;
    in_compact(c);
    if (c->in_cap - c->in_len >= BODY_ROOM)
        return 0;
    return in_grow(c, (c->in_len + BODY_ROOM + HTTP_BUF_SIZE - 1) / HTTP_BUF_SIZE * HTTP_BUF_SIZE);
}

char *http_conn_out_reserve(http_conn *c, size_t n)
{
    if (!c->out) {
        c->out = buf_get(HTTP_BUF_SIZE);
        c->out_cap = c->out ? HTTP_BUF_SIZE : 0;
        if (!c->out)
            return NULL;
    }
    if (c->out_cap - c->out_len < n) {
        size_t cap = c->out_cap;
        while (cap - c->out_len < n)
            cap *= 2;
        char *p = malloc(cap);
        if (!p)
            return NULL;
        memcpy(p, c->out, c->out_len);
        buf_put(c->out, c->out_cap);
        c->out = p;
        c->out_cap = cap;
    }
    return c->out + c->out_len;
}

/* ---- time ---- */

int64_t http_deadline_at(http_deadline *d)
{
    if (d->timeout_ms < 0)
        return 0;
    if (!d->at)
        d->at = gs_now_ms() + d->timeout_ms;
    return d->at;
}

/* ---- writing ---- */

static void advance(struct iovec **v, int *k, size_t n)
{
    while (*k > 0 && n >= (*v)->iov_len) {
        n -= (*v)->iov_len;
        (*v)++;
        (*k)--;
    }
    if (*k > 0) {
        (*v)->iov_base = (char *)(*v)->iov_base + n;
        (*v)->iov_len -= n;
    }
}

static int send_all(http_conn *c, struct iovec *v, int k)
{
    http_deadline d = http_deadline_in(c->lim->write_timeout_ms);
    while (k > 0) {
        /* One buffer (most responses) goes by send: sendmsg costs the
         * kernel a msghdr and an iovec array to copy in and check. */
        struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)k};
        ssize_t w = k == 1 ? send(c->fd, v->iov_base, v->iov_len, MSG_NOSIGNAL)
                           : sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (w >= 0) {
            advance(&v, &k, (size_t)w);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -EPIPE;
        /* EAGAIN just now, nothing ran since: the next edge is news. */
        http_conn_watch(c);
        int r = rt_io_wait_until(c->fd, GS_WRITE, http_deadline_at(&d));
        if (r < 0)
            return r;
    }
    return 0;
}

int http_conn_flush(http_conn *c, const struct iovec *iov, int n)
{
    if (c->resume_head)
        http_resume_head(c, false);
    if (c->dead)
        return -EPIPE;
    struct iovec v[4];
    int k = 0;
    if (c->out_len)
        v[k++] = (struct iovec){c->out, c->out_len};
    for (int i = 0; i < n && k < 4; i++)
        if (iov[i].iov_len)
            v[k++] = iov[i];
    if (k == 0)
        return 0;
    c->flushing = true;
    int e = send_all(c, v, k);
    c->flushing = false;
    c->out_len = 0;
    if (c->req.started) {
        c->req.flushed = true;
        c->req.out_start = 0;
    }
    if (e == -ETIMEDOUT)
        http_conn_log(c, "closing: the client read nothing for %lld ms",
                      (long long)c->lim->write_timeout_ms);
    /* A grown buffer is not worth keeping; nor is any buffer a handler
     * empties: it streams, and may park next for long (an event stream
     * waiting for news) while the pool lends the buffer to others. */
    if (e < 0)
        c->dead = true;
    else if (c->out_cap > HTTP_BUF_SIZE || c->in_handler)
        out_release(c);
    return e;
}

/* A handler that parks while earlier pipelined responses wait in the
 * buffer would hold them back for as long as it waits. So while a handler
 * runs with output pending, an active event is queued: the loop only gets
 * to it once the handler has parked, and then sends what it can without
 * blocking. The connection's own flush, if one is in flight, owns the
 * buffer: then nothing is done. */
static void on_late_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    http_conn *c = arg;
    gs_request *r = &c->req;
    c->late_armed = false;
    if (c->resume_head)
        http_resume_head(c, false);
    if (c->flushing || c->dead || c->out_len == 0)
        return;
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w <= 0)
        return; /* full or failed: the connection's next flush finds out */
    size_t sent = (size_t)w;
    memmove(c->out, c->out + sent, c->out_len - sent);
    c->out_len -= sent;
    if (r->started && sent > r->out_start)
        r->flushed = true;
    r->out_start = sent > r->out_start ? 0 : r->out_start - sent;
    http_conn_park_light(c);
}

/* The event is made the first time a connection needs it: one that
 * pipelines keeps it, a parked long-poll never has one. */
static void arm_late_flush(http_conn *c)
{
    if (c->out_len == 0)
        return;
    if (!c->late_flush)
        c->late_flush = event_new(gs_hub_base(), -1, 0, on_late_flush, c);
    if (!c->late_flush)
        return; /* out of memory: the handler's own flush sends it */
    event_active(c->late_flush, EV_TIMEOUT, 1);
    c->late_armed = true;
}

static void disarm_late_flush(http_conn *c)
{
    if (c->late_armed)
        event_del(c->late_flush);
    c->late_armed = false;
}

/* ---- reading ---- */

/* The socket was found drained. rt_io_wait_until parks for the next edge and
 * forgets any recorded before, so it is only right if none came since
 * that read: the handler may have switched in between, letting the loop
 * see one. on_edge notes every read edge in c->readable, so: read again
 * if one came, else park. A peer's FIN may have come with the data that
 * read returned (one edge for both): then there is an EOF to read and no
 * edge to wait for. (gs_wait_fd would be right too, but asks the kernel
 * with a poll(2) first: one more syscall per request.) */
static int park_read(http_conn *c, http_deadline *d)
{
    if (!c->readable && !c->hup) {
        http_conn_watch(c);
        int w = rt_io_wait_until(c->fd, GS_READ, http_deadline_at(d));
        if (w < 0)
            return w;
    }
    c->drained = false;
    return 0;
}

ssize_t http_conn_recv(http_conn *c, char *dst, size_t n, http_deadline *d)
{
    for (;;) {
        if (!c->drained) {
            c->readable = false;
            ssize_t got = recv(c->fd, dst, n, 0);
            if (got >= 0) {
                c->drained = (size_t)got < n;
                c->hup = c->hup || got == 0;
                return got;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                c->hup = true; /* reset: nothing more to read, nor to linger for */
                return -errno;
            }
            if (c->hup)
                return 0; /* closed and nothing left: park_read would not wait */
            c->drained = true;
        }
        if (c->out_len > 0) {
            int e = http_conn_flush(c, NULL, 0); /* never wait with output held */
            if (e < 0)
                return e;
        }
        int e = park_read(c, d);
        if (e < 0)
            return e;
    }
}

ssize_t http_conn_read(http_conn *c, http_deadline *d)
{
    int e = http_conn_in_room(c);
    if (e < 0)
        return e;
    ssize_t got = http_conn_recv(c, c->in + c->in_len, c->in_cap - c->in_len, d);
    if (got > 0)
        c->in_len += (size_t)got;
    return got;
}

/* Between requests, with nothing buffered: send what is pending, give the
 * buffers back, and park holding nothing but the stack. */
static ssize_t read_idle(http_conn *c, http_deadline *d)
{
    if (c->drained) {
        int e = c->out_len ? http_conn_flush(c, NULL, 0) : 0;
        if (e < 0)
            return e;
        in_release(c);
        out_release(c);
        e = park_read(c, d);
        if (e < 0)
            return e;
    }
    return http_conn_read(c, d);
}

/* ---- logging ---- */

static size_t escape(char *dst, size_t size, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            dst[o++] = (char)ch;
        else
            o += (size_t)snprintf(dst + o, size - o, "\\x%02x", ch);
    }
    dst[o] = '\0';
    return o;
}

static const char *protocol(http_conn *c)
{
    gs_request *r = &c->req;
    unsigned minor = r->head_done ? r->minor : c->parser.http_minor;
    unsigned major = r->head_done ? r->major : c->parser.http_major;
    if (major != 1)
        return "-";
    return minor ? "HTTP/1.1" : "HTTP/1.0";
}

static void log_line(http_conn *c, const char *msg)
{
    gs_request *r = &c->req;
    char target[320];
    if (!r->got_url || !c->in) {
        rt_log("%s; client %s:%s; request -", msg, c->peer, c->peer_port);
        return;
    }
    size_t n = r->url_len < 256 ? r->url_len : 256;
    escape(target, sizeof(target), c->in + c->req_start + r->url, n);
    rt_log("%s; client %s:%s; request \"%s %s%s %s\"", msg, c->peer, c->peer_port,
           llhttp_method_name(r->method), target, n < r->url_len ? "..." : "", protocol(c));
}

void http_conn_log(http_conn *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_line(c, msg);
}

void gs_log(gs_request *r, const char *fmt, ...)
{
    char msg[512];
    const char *app = r && r->mount ? r->mount->app->name : NULL;
    int n = app ? snprintf(msg, sizeof(msg), "app %s: ", app) : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    if (r)
        log_line(r->c, msg);
    else
        rt_log("%s", msg);
}

static void access_log(http_conn *c)
{
    int fd = c->site->access_log_fd;
    gs_request *r = &c->req;
    if (fd < 0 || c->handed) /* the worker it went to logs it */
        return;
    bool known = r->got_url && c->in;
    http_alog_entry e = {
        .client = c->peer,
        .method = known ? llhttp_method_name(r->method) : NULL,
        .target = known ? c->in + c->req_start + r->url : NULL,
        .target_len = r->url_len,
        .protocol = protocol(c),
        .status = r->status,
        .bytes = r->body_sent,
        .referer = r->head_done ? http_header(r, "referer") : NULL,
        .agent = r->head_done ? http_header(r, "user-agent") : NULL,
        .usec = r->t0_us ? http_now_us() - r->t0_us : 0,
    };
    http_alog_add(fd, &e);
}

/* ---- one request ---- */

/* Answer an error of the request itself, log it, and close. */
static bool refuse(http_conn *c, int status, const char *why)
{
    http_conn_log(c, "%d %s: %s", status, http_reason(status), why);
    http_response_error(c, status, true);
    access_log(c);
    c->site->requests++;
    return false;
}

static ssize_t read_head(http_conn *c, http_deadline *d)
{
    int e = http_conn_in_room(c);
    if (e < 0)
        return e;
    return http_conn_read(c, d);
}

/* Read and parse until the next request's head is complete (true), or
 * the connection is to close (false, answered if need be). */
static bool next_request(http_conn *c)
{
    gs_request *r = &c->req;
    c->req_start = c->pos;
    http_request_begin(r);
    http_deadline idle =
        http_deadline_in(c->fresh ? c->lim->header_timeout_ms : c->lim->keepalive_timeout_ms);
    /* The idle wait starts now, as the clock of the loop's round tells
     * (behind by what ran since): not worth a clock read per request. */
    if (idle.timeout_ms >= 0)
        idle.at = rt_round_ms() + idle.timeout_ms;
    http_deadline head = http_deadline_in(c->lim->header_timeout_ms);
    bool started = false;
    for (;;) {
        if (!started && c->in_len > c->req_start) {
            started = true;
            if (c->site->access_log_fd >= 0)
                r->t0_us = http_now_us();
        }
        int st = c->pos < c->in_len ? http_parse_head(c) : 0;
        if (st == 1)
            return true;
        if (st > 1)
            return refuse(c, st, r->fail_reason);
        if (c->in_len - c->req_start > c->lim->max_header_bytes)
            return refuse(c, 431, "request head too large");
        c->between = !started; /* idle: the worker may hand it off while it waits */
        ssize_t n = started ? read_head(c, &head) : read_idle(c, &idle);
        c->between = false;
        if (n > 0)
            continue;
        if (n == -EMSGSIZE)
            return refuse(c, 431, "request head too large");
        if (n == -ETIMEDOUT && started)
            return refuse(c, 408, "request head not complete in time");
        return false; /* EOF, idle timeout, reset, kill: nothing to answer */
    }
}

static int call_app(http_conn *c)
{
    c->resumed = c->has_cursor = false;
    if (c->resume_pending && !http_resume_request(c))
        return 0;
    if (http_thread_wanted(c))
        return http_thread_call(c);
    arm_late_flush(c);
    c->in_handler = true;
    int ret = http_run_handler(&c->req);
    c->in_handler = false;
    disarm_late_flush(c);
    return ret;
}

/* Serve the parsed request; true to read the next one. */
static bool serve(http_conn *c)
{
    gs_request *r = &c->req;
    c->fresh = false;
    c->req_ms = rt_round_ms();
    int st = http_route(r);
    if (st == 0) {
        http_response_finish(r, call_app(c));
    } else {
        if (st != 404)
            http_conn_log(c, "%d %s: unusable request-target", st, http_reason(st));
        http_response_error(c, st, st != 404);
    }
    if (c->resume_head || c->resume_pending)
        http_resume_end(c);
    http_request_end(r);
    if (!c->close && !c->dead && !http_body_drain(r))
        c->close = true;
    access_log(c);
    c->site->requests += !c->handed;
    if (c->close || c->dead)
        return false;
    if (c->out_len >= OUT_HIGH && http_conn_flush(c, NULL, 0) < 0)
        return false;
    return true;
}

/* ---- the connection ---- */

static void on_edge(int fd, int events, void *arg)
{
    http_conn *c = arg;
    if (events & GS_READ)
        c->readable = true;
    if (c->hup)
        return;
    if (!(events & RT_IO_HUP)) {
        /* libevent reports a reset (EPOLLHUP/EPOLLERR) as read + write,
         * not as a close: while a handler runs, look. */
        if (!(events & GS_READ) || !c->in_handler)
            return;
        char b;
        ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
            return;
    }
    c->hup = true;
    if (c->on_thread) {
        if (c->hup_waiter) /* on the handler thread's hub, like this callback */
            rt_wake(c->hup_waiter, -EPIPE);
        return;
    }
    /* Ends the handler's interruptible wait (a channel, http_wait) with
     * -EPIPE, or the next one it starts: the error is sticky. */
    rt_interrupt(c->thread, -EPIPE);
}

void http_conn_notify(http_conn *c, bool on)
{
    rt_io_notify(c->fd, on ? on_edge : NULL, on ? c : NULL);
}

void http_conn_watch(http_conn *c)
{
    if (!c->on_thread || c->watched)
        return;
    /* A stale entry for the number (a descriptor the thread closed with
     * close(2), not gs_close) would never see an edge again. */
    rt_io_forget(c->fd);
    c->watched = rt_io_notify(c->fd, on_edge, c) == 0;
}

static void format_addr(const struct sockaddr *sa, char *host, size_t hlen, char *port, size_t plen)
{
    snprintf(host, hlen, "-");
    snprintf(port, plen, "0");
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)hlen);
        snprintf(port, plen, "%u", ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hlen);
        snprintf(port, plen, "%u", ntohs(in6->sin6_port));
    }
}

void http_conn_local(http_conn *c)
{
    if (c->local_known)
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(c->fd, (struct sockaddr *)&ss, &len) < 0)
        ss.ss_family = AF_UNSPEC;
    format_addr((struct sockaddr *)&ss, c->local, sizeof(c->local), c->local_port,
                sizeof(c->local_port));
    c->local_known = true;
}

static void conn_init(http_conn *c, http_site *site, int fd, const struct sockaddr *peer,
                      socklen_t peerlen)
{
    memset(c, 0, sizeof(*c));
    c->site = site;
    c->lim = &site->limits;
    c->fd = fd;
    c->fresh = true;
    c->thread = gs_self();
    c->req.c = c;
    format_addr(peerlen ? peer : NULL, c->peer, sizeof(c->peer), c->peer_port,
                sizeof(c->peer_port));
    http_parse_init(c);
    /* Responses leave whole, in one send: Nagle would only delay the
     * next streamed chunk behind a delayed ACK. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rt_io_notify(fd, on_edge, c);
}

/* ---- hand-off (the rest is in handoff.c) ---- */

/* A handed-over connection's input: what the other worker had read. */
static int resume_input(http_conn *c, const http_handoff *h)
{
    c->fresh = h->fresh;
    c->resume = *h;
    c->resume_pending = h->parked;
    if (h->len == 0)
        return 0;
    if (in_acquire(c) < 0 || (h->len + MIN_READ > c->in_cap && in_grow(c, h->len + MIN_READ) < 0))
        return -ENOMEM;
    memcpy(c->in, http_handoff_bytes(h), h->len);
    c->in_len = h->len;
    return 0;
}

/* Whether the client may still be sending what we will never read. */
static bool unread_input(http_conn *c)
{
    return !c->drained || c->pos < c->in_len || (c->req.head_done && !c->req.body_done);
}

/* Out of line: inlined, its buffer would widen http_serve's frame, and
 * push every request's frames (and a parked handler's) onto a second
 * stack page. */
static __attribute__((noinline)) void linger(http_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    http_deadline d = http_deadline_in(LINGER_MS);
    char junk[1024];
    for (size_t total = 0; total < LINGER_BYTES;) {
        ssize_t n = http_conn_recv(c, junk, sizeof(junk), &d);
        if (n <= 0)
            return;
        total += (size_t)n;
    }
}

static void conn_end(http_conn *c)
{
    if (c->out_len && !c->dead)
        http_conn_flush(c, NULL, 0);
    if (!c->dead && !c->hup && unread_input(c))
        linger(c);
    if ((c->dead || gs_cancelled()) && !c->handed) {
        /* Nothing more will reach this client: reset instead of leaving
         * the kernel holding what it could not send (megabytes for a
         * stalled stream) until the peer reads or goes away. */
        struct linger reset = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    }
    rt_io_notify(c->fd, NULL, NULL);
    disarm_late_flush(c);
    if (c->late_flush)
        event_free(c->late_flush);
    gs_close(c->fd);
    in_release(c);
    out_release(c);
    http_request_free(&c->req);
}

/* The connection lives on the heap, not on its thread's stack: callbacks
 * (edges, hang-ups, late flushes) write to it while the thread is parked,
 * and a long-parked thread's stack is stashed (runtime/hub.c). */
void http_serve_ex(http_site *site, int fd, const struct sockaddr *peer, socklen_t peerlen,
                   const http_handoff *resume, http_conn **self)
{
    http_conn *c = malloc(sizeof(*c));
    if (!c) {
        rt_log("no memory for a connection: closed");
        gs_close(fd);
        return;
    }
    conn_init(c, site, fd, peer, peerlen);
    if (resume && resume_input(c, resume) < 0)
        c->dead = true; /* out of memory: close it as we would a broken one */
    if (self)
        *self = c;
    site->active_conns++;
    while (!c->dead && next_request(c) && serve(c))
        ;
    if (self)
        *self = NULL;
    conn_end(c);
    free(c);
    if (--site->active_conns == 0)
        http_access_log_flush();
}

void http_serve(http_site *site, int fd, const struct sockaddr *peer, socklen_t peerlen)
{
    http_serve_ex(site, fd, peer, peerlen, NULL, NULL);
}
