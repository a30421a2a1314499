/*
 * route.c -- request-target -> mount, SCRIPT_NAME / PATH_INFO / QUERY_STRING,
 * and the call into the app's handler under its request timeout.
 */
#include "http/route.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "http/conn.h"

const http_mount *http_route_match(const http_site *site, const char *path)
{
    const http_mount *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < site->nmounts; i++) {
        const http_mount *m = &site->mounts[i];
        size_t n = m->prefix_len;
        if (n == 1 && m->prefix[0] == '/')
            n = 0; /* the root: matches everything, loses to any other */
        else if (strncmp(path, m->prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
            continue;
        if (!best || n > best_len) {
            best = m;
            best_len = n;
        }
    }
    return best;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decode n bytes into dst (room for n + 1). A '%' not followed by
 * two hex digits stays as it is. Returns false for an encoded NUL, which a
 * C string cannot carry. */
static bool decode(char *dst, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            *dst = (char)(hi << 4 | lo);
            if (*dst++ == '\0')
                return false;
            i += 2;
            continue;
        }
        *dst++ = s[i];
    }
    *dst = '\0';
    return true;
}

/* The path part of an origin-form or absolute-form target (n bytes), or
 * NULL: "/a/b?q" -> "/a/b?q", "http://host/a?q" -> "/a?q",
 * "http://host" -> "" (meaning "/"). */
static const char *path_start(const char *t, size_t n, size_t *skip)
{
    *skip = 0;
    if (n > 0 && t[0] == '/')
        return t;
    const char *sep = memchr(t, ':', n);
    if (!sep || (size_t)(sep - t) + 3 > n || sep[1] != '/' || sep[2] != '/')
        return NULL;
    if (!((sep - t == 4 && strncasecmp(t, "http", 4) == 0) ||
          (sep - t == 5 && strncasecmp(t, "https", 5) == 0)))
        return NULL;
    const char *p = memchr(sep + 3, '/', n - (size_t)(sep + 3 - t));
    if (!p)
        p = memchr(sep + 3, '?', n - (size_t)(sep + 3 - t));
    *skip = p ? (size_t)(p - t) : n;
    return t + *skip;
}

int http_route(gs_request *r)
{
    const char *target = r->c->in + r->c->req_start + r->url;
    size_t skip, n;
    const char *path = path_start(target, r->url_len, &skip);
    if (!path)
        return r->url_len == 1 && target[0] == '*' ? 404 : 400;
    n = r->url_len - skip;
    const char *q = memchr(path, '?', n);
    if (q) {
        r->query = q + 1; /* NUL-terminated with the target */
        n = (size_t)(q - path);
    }
    bool empty = n == 0; /* "http://host?q": the path is "/" */
    char *dst = n + 2 <= sizeof(r->path_inline) ? r->path_inline : gs_alloc(r, n + 2);
    if (!dst)
        return 500;
    if (!decode(dst, empty ? "/" : path, empty ? 1 : n))
        return 400;
    r->mount = http_route_match(r->c->site, dst);
    if (!r->mount)
        return 404;
    r->path_info = r->mount->prefix_len == 1 ? dst : dst + r->mount->prefix_len;
    return 0;
}

/* ---- the request timeout ----
 * A timer on the hub of the thread that runs the handler (the worker's, or
 * a handler thread's own) kills the handler's green thread when its time
 * is up: its current wait, and every later one, returns -ECANCELED, and
 * the handler unwinds by returning. A handler found parked in a long wait
 * (a channel wait, gs_wait_disconnect) is a long-poll or a stream: it is
 * left alone from then on, since those waits have bounds of their own (their
 * timeout, the client's disconnect, the drain). A handler that never
 * waits cannot be cancelled: the watchdog (--timeout) is for those. */

typedef struct run_timer {
    gs_request *r;
    gs_thread *thread;
    struct event ev;
} run_timer;

static int64_t limit_of(const gs_request *r)
{
    int64_t own = r->mount->request_timeout_ms;
    int64_t ms = own ? own : r->c->lim->request_timeout_ms;
    return ms > 0 ? ms : 0;
}

static bool in_long_wait(const gs_request *r, const gs_thread *t)
{
    return r->in_long_wait || (t->state == RT_WAITING && t->interruptible);
}

static void on_due(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    run_timer *rt = arg;
    if (in_long_wait(rt->r, rt->thread))
        rt->r->long_request = true;
    else
        http_request_cancel(rt->r, rt->thread);
}

void http_request_cancel(gs_request *r, gs_thread *t)
{
    if (t->cancelled)
        return; /* killed by a stop: it stays so, and is not ours to answer */
    r->timed_out = r->cancelled = true;
    gs_kill(t);
}

/* The timer counts as the runtime's own event: a wait it alone could end
 * is still a deadlock (-EDEADLK), as it would be without it. */
static void arm(run_timer *rt, gs_request *r, int64_t ms)
{
    rt->r = r;
    rt->thread = gs_self();
    evtimer_assign(&rt->ev, gs_hub_base(), on_due, rt);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000};
    evtimer_add(&rt->ev, &tv);
    rt_hub_internal_events(rt_hub_get(), 1);
    r->due_ms = gs_now_ms() + ms;
}

static void disarm(run_timer *rt)
{
    evtimer_del(&rt->ev);
    rt_hub_internal_events(rt_hub_get(), -1);
}

/* Past its time: the handler's thread is uncancelled so that the
 * connection can still answer (504) or close cleanly, and the failure
 * the handler returns is replaced by the timeout's. */
static int timed_out(gs_request *r, int64_t limit, int64_t t0)
{
    if (r->cancelled)
        rt_current()->cancelled = false;
    r->fail_status = 504;
    http_conn_log(r->c, "%s: app %s ran %lld ms, past its request timeout of %lld ms",
                  r->flushed ? "closing the connection" : "504 Gateway Timeout",
                  r->mount->app->name ? r->mount->app->name : "-", (long long)(gs_now_ms() - t0),
                  (long long)limit);
    return -ETIMEDOUT;
}

int http_run_handler(gs_request *r)
{
    int64_t limit = limit_of(r);
    /* Not on the stack: the loop links the event into its timer heap, and
     * a stack parked in a long wait may be stashed away (runtime/stack.c). */
    run_timer *rt = limit ? gs_alloc(r, sizeof(*rt)) : NULL;
    if (!rt)
        return r->mount->app->handle(r, r->mount->state);
    int64_t t0 = gs_now_ms();
    arm(rt, r, limit);
    int ret = r->mount->app->handle(r, r->mount->state);
    disarm(rt);
    /* One that ran past its time without a wait the timer could end (CPU,
     * or blocking calls on a handler thread) and started nothing. */
    if (!r->long_request && !r->started && gs_now_ms() - t0 >= limit)
        r->timed_out = true;
    return r->timed_out ? timed_out(r, limit, t0) : ret;
}
