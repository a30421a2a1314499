/*
 * bridge.c -- the libevent bridge: callback-style libevent code and green
 * threads sharing one hub's event_base.
 *
 * Two directions:
 *   - callback code starts green code: gs_call_green runs a function in a
 *     new green thread and calls back when it returns;
 *   - green code drives a bufferevent that callback code created:
 *     gs_bstream parks the green thread where callback code would have
 *     registered a read/write/event callback.
 * The third piece, the future that callback code resolves and a green
 * thread blocks on, is gs_event (runtime/sync.c): gs_event_send never
 * switches, so a libevent callback may call it.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/hub.h"

/* ---- gs_call_green ---- */

typedef struct call {
    gs_fn fn;
    void *arg;
    void (*done)(void *result, void *done_arg);
    void *done_arg;
} call;

static void *call_main(void *arg)
{
    call c = *(call *)arg;
    free(arg); /* before fn: a fn that never returns must not leak it */
    void *result = c.fn(c.arg);
    if (c.done)
        c.done(result, c.done_arg);
    return result;
}

int gs_call_green(gs_fn fn, void *arg, void (*done)(void *result, void *done_arg), void *done_arg)
{
    call *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (call){.fn = fn, .arg = arg, .done = done, .done_arg = done_arg};
    int r = gs_spawn_n(call_main, c);
    if (r < 0)
        free(c);
    return r;
}

/* ---- gs_bstream ---- */

/* The callbacks the bufferevent had before the stream took it over, given
 * back by gs_bstream_free so callback code can carry on with it. */
typedef struct saved_cbs {
    bufferevent_data_cb readcb, writecb;
    bufferevent_event_cb eventcb;
    void *arg;
} saved_cbs;

struct gs_bstream {
    struct bufferevent *bev;
    rt_waitq readers; /* wait for input, EOF or an error */
    rt_waitq writers; /* wait for the output buffer to drain */
    bool eof;
    int err; /* sticky: -ECONNRESET once the bufferevent failed */
    saved_cbs saved;
};

/* The callbacks only record state and wake: each waiter re-checks the
 * buffers itself, so data that arrived before an EOF or an error is still
 * returned before it. */
static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    gs_bstream *s = arg;
    rt_wake_all(&s->readers, 0);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    gs_bstream *s = arg;
    rt_wake_all(&s->writers, 0);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    gs_bstream *s = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        /* The bufferevent's own timeout (set by callback code) fired and
         * libevent disabled that direction: end the waits it bounds. */
        if (what & BEV_EVENT_READING)
            rt_wake_all(&s->readers, -ETIMEDOUT);
        if (what & BEV_EVENT_WRITING)
            rt_wake_all(&s->writers, -ETIMEDOUT);
        return;
    }
    if (what & BEV_EVENT_EOF)
        s->eof = true;
    if (what & BEV_EVENT_ERROR)
        s->err = -ECONNRESET;
    rt_wake_all(&s->readers, 0);
    rt_wake_all(&s->writers, 0);
}

gs_bstream *gs_bstream_new(struct bufferevent *bev)
{
    gs_bstream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->bev = bev;
    saved_cbs *o = &s->saved;
    bufferevent_getcb(bev, &o->readcb, &o->writecb, &o->eventcb, &o->arg);
    bufferevent_setcb(bev, on_read, on_write, on_event, s);
    return s;
}

void gs_bstream_free(gs_bstream *s)
{
    if (!s)
        return;
    saved_cbs *o = &s->saved;
    bufferevent_setcb(s->bev, o->readcb, o->writecb, o->eventcb, o->arg);
    /* A waiter returns at once on a negative wake, never touching s. */
    rt_wake_all(&s->readers, -EBADF);
    rt_wake_all(&s->writers, -EBADF);
    free(s);
}

/* The time left of a call-wide timeout that started at `start`. */
static int64_t time_left(int64_t timeout_ms, int64_t start)
{
    if (timeout_ms < 0)
        return GS_FOREVER;
    int64_t l = timeout_ms - (gs_now_ms() - start);
    return l > 0 ? l : 0;
}

/* Park until the bufferevent has something new for a reader. Reading is
 * enabled on the first wait and left on: toggling it per call would cost
 * two epoll_ctl calls per read. The bufferevent's read high-watermark, if
 * callback code set one, still bounds what is buffered ahead. */
static int wait_input(gs_bstream *s, int64_t timeout_ms, int64_t start)
{
    if (!(bufferevent_get_enabled(s->bev) & EV_READ) && bufferevent_enable(s->bev, EV_READ) < 0)
        return -ENOMEM;
    return rt_wait(&s->readers, time_left(timeout_ms, start));
}

ssize_t gs_bstream_read(gs_bstream *s, void *buf, size_t n, int64_t timeout_ms)
{
    int64_t start = gs_now_ms();
    for (;;) {
        struct evbuffer *in = bufferevent_get_input(s->bev);
        if (evbuffer_get_length(in) > 0 || n == 0)
            return evbuffer_remove(in, buf, n);
        if (s->err)
            return s->err;
        if (s->eof)
            return 0;
        int r = wait_input(s, timeout_ms, start);
        if (r < 0)
            return r;
    }
}

/* One whole line (or the last, unterminated one at EOF or error) if it
 * is there: its length, 0 or the error when nothing more will come,
 * -EMSGSIZE, or -EAGAIN to wait. The search stops after n bytes, so a
 * peer that never sends '\n' costs O(n) per wake, not O(buffered). */
static ssize_t take_line(gs_bstream *s, char *buf, size_t n)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t have = evbuffer_get_length(in);
    struct evbuffer_ptr end;
    evbuffer_ptr_set(in, &end, have < n ? have : n, EVBUFFER_PTR_SET);
    struct evbuffer_ptr nl = evbuffer_search_range(in, "\n", 1, NULL, &end);
    bool whole = nl.pos >= 0 || (have > 0 && (s->eof || s->err));
    size_t len = nl.pos >= 0 ? (size_t)nl.pos + 1 : have;
    if (whole ? len > n - 1 : have > 0 && have >= n - 1)
        return -EMSGSIZE; /* does not fit, now or once its '\n' comes */
    if (!whole)
        return s->err ? s->err : s->eof ? 0 : -EAGAIN;
    evbuffer_remove(in, buf, len);
    buf[len] = '\0';
    return (ssize_t)len;
}

ssize_t gs_bstream_readline(gs_bstream *s, char *buf, size_t n, int64_t timeout_ms)
{
    if (n == 0)
        return -EMSGSIZE;
    int64_t start = gs_now_ms();
    for (;;) {
        ssize_t r = take_line(s, buf, n);
        if (r != -EAGAIN)
            return r;
        int w = wait_input(s, timeout_ms, start);
        if (w < 0)
            return w;
    }
}

/* Writing is waiting for the drain: the write callback fires whenever a
 * write leaves the output at or under its low watermark, so it also fires
 * on the write that empties it. */
ssize_t gs_bstream_write(gs_bstream *s, const void *buf, size_t n, int64_t timeout_ms)
{
    if (s->err)
        return s->err;
    if (!(bufferevent_get_enabled(s->bev) & EV_WRITE) && bufferevent_enable(s->bev, EV_WRITE) < 0)
        return -ENOMEM;
    if (n > 0 && bufferevent_write(s->bev, buf, n) < 0)
        return -ENOMEM;
    int64_t start = gs_now_ms();
    struct evbuffer *out = bufferevent_get_output(s->bev);
    while (evbuffer_get_length(out) > 0) {
        if (s->err)
            return s->err;
        int r = rt_wait(&s->writers, time_left(timeout_ms, start));
        if (r < 0)
            return r;
    }
    return (ssize_t)n;
}
