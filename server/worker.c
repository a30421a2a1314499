/*
 * worker.c -- accept loops, one green thread per connection, graceful
 * stop.
 *
 * Per listening socket a green thread accepts and spawns a detached green
 * thread per connection that runs http_serve. The worker keeps its own
 * list of those connections: the accept loop drains the backlog before
 * any new thread has run, so http/'s active_conns lags behind it, and a
 * stop needs to reach every connection to close the idle ones.
 */
#include "server/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "runtime/log.h"
#include "server/inflight.h"

typedef struct worker worker;

typedef struct conn {
    struct conn *prev, *next;
    worker *w;
    gs_thread *thread; /* NULL until it first runs */
    int fd;
    bool killed; /* by a stop: its waits return -ECANCELED */
    socklen_t peerlen;
    struct sockaddr_storage peer;
} conn;

/* What http/ sees as the app: a copy of the plugin's gs_app whose handle
 * records the request for crash reports and graceful stops. */
typedef struct app_mount {
    gs_app shim;
    const srv_plugin *plugin;
    worker *w;
} app_mount;

typedef struct acceptor {
    worker *w;
    srv_listener *l;
    gs_thread *thread;
} acceptor;

struct worker {
    const srv_worker_args *a;
    http_site site;
    http_mount *mounts;
    app_mount *apps;
    acceptor *acceptors;
    conn *conns;
    unsigned nconns;
    struct event *signals[2];
    gs_sem *wake;  /* the stopper's: a connection or a handler ended */
    bool stopping; /* SIGTERM/SIGINT seen */
    bool forced;   /* seen twice: stop waiting */
};

/* ---- apps ---- */

static int guarded_handle(gs_request *r, void *state)
{
    app_mount *m = state;
    srv_inflight f;
    srv_inflight_begin(&f, m->shim.name, r);
    int rc = m->plugin->app->handle(r, m->plugin->state);
    srv_inflight_end(&f);
    if (m->w->stopping)
        gs_sem_release(m->w->wake); /* its connection may be idle now */
    return rc;
}

static void fini_apps(worker *w)
{
    for (size_t i = w->a->nplugins; i-- > 0;)
        srv_plugin_fini(&w->a->plugins[i]);
}

/* Init every app, in mount order; on a failure undo the ones done. */
static int init_apps(worker *w)
{
    char err[512];
    for (size_t i = 0; i < w->a->nplugins; i++) {
        if (srv_plugin_init(&w->a->plugins[i], err, sizeof(err)) < 0) {
            rt_log("%s", err);
            fini_apps(w);
            return CFG_EXIT_USAGE;
        }
    }
    return 0;
}

static int mount_apps(worker *w)
{
    size_t n = w->a->nplugins;
    w->mounts = calloc(n, sizeof(*w->mounts));
    w->apps = calloc(n, sizeof(*w->apps));
    if (!w->mounts || !w->apps)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const srv_plugin *p = &w->a->plugins[i];
        app_mount *m = &w->apps[i];
        m->shim = *p->app;
        m->shim.handle = guarded_handle;
        m->shim.init = NULL; /* the worker calls them, not http/ */
        m->shim.fini = NULL;
        m->plugin = p;
        m->w = w;
        w->mounts[i] = (http_mount){.prefix = p->mount->prefix,
                                    .prefix_len = strlen(p->mount->prefix),
                                    .app = &m->shim,
                                    .state = m};
        rt_log("mounted app \"%s\" at %s (%s)", p->app->name ? p->app->name : "?", p->mount->prefix,
               p->mount->path);
    }
    w->site.mounts = w->mounts;
    w->site.nmounts = n;
    return 0;
}

/* ---- connections ---- */

static void *conn_main(void *arg)
{
    conn *c = arg;
    worker *w = c->w;
    c->thread = gs_self();
    if (c->killed)
        gs_close(c->fd); /* a stop came before it ran */
    else
        http_serve(&w->site, c->fd, (struct sockaddr *)&c->peer, c->peerlen);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    free(c);
    if (w->stopping)
        gs_sem_release(w->wake);
    return NULL;
}

static int conn_start(worker *w, int fd, const struct sockaddr_storage *peer, socklen_t len)
{
    conn *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (conn){.w = w, .fd = fd, .peerlen = len, .next = w->conns};
    memcpy(&c->peer, peer, len < sizeof(c->peer) ? len : sizeof(c->peer));
    if (gs_spawn_n(conn_main, c) < 0) {
        free(c);
        return -ENOMEM;
    }
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    return 0;
}

static void conn_kill(conn *c)
{
    c->killed = true;
    if (c->thread)
        gs_kill(c->thread);
}

/* ---- accepting ---- */

/* Out of descriptors or memory: the client waits in the backlog while we
 * pause, rather than spin on an accept that keeps failing. */
static void accept_failed(acceptor *ac, int err)
{
    rt_log("accept on %s: %s; pausing 100 ms", ac->l->url, strerror(-err));
    gs_sleep(100);
}

/* Accepts in a row before the new connections get to run: a burst of
 * clients is taken in batches (cheap) without one waiting for thousands. */
#define ACCEPT_BATCH 64

static void *accept_loop(void *arg)
{
    acceptor *ac = arg;
    worker *w = ac->w;
    for (unsigned n = 1;; n++) {
        if (n % ACCEPT_BATCH == 0)
            gs_yield();
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = gs_accept(ac->l->fd, (struct sockaddr *)&peer, &len, GS_FOREVER);
        if (fd == -ECANCELED)
            return NULL;
        if (fd < 0)
            accept_failed(ac, fd);
        else if (w->nconns >= w->site.limits.max_conns)
            http_refuse_busy(&w->site, fd);
        else if (conn_start(w, fd, &peer, len) < 0) {
            gs_close(fd);
            accept_failed(ac, -ENOMEM);
        }
    }
}

static int start_accepting(worker *w)
{
    w->acceptors = calloc(w->a->nlisteners, sizeof(*w->acceptors));
    if (!w->acceptors)
        return -ENOMEM;
    for (size_t i = 0; i < w->a->nlisteners; i++) {
        acceptor *ac = &w->acceptors[i];
        *ac = (acceptor){.w = w, .l = &w->a->listeners[i]};
        ac->thread = gs_spawn(accept_loop, ac);
        if (!ac->thread)
            return -ENOMEM;
        rt_log("listening on %s", ac->l->url);
    }
    return 0;
}

static void stop_accepting(worker *w)
{
    for (size_t i = 0; w->acceptors && i < w->a->nlisteners; i++) {
        acceptor *ac = &w->acceptors[i];
        if (ac->thread) {
            gs_kill(ac->thread);
            gs_join(ac->thread, NULL, GS_FOREVER);
            ac->thread = NULL;
        }
        srv_listen_close(ac->l, w->a->unlink_sockets);
    }
}

/* ---- graceful stop ---- */

/* Kill every connection not inside a handler: idle keep-alive ones and
 * those still reading a request head. Handlers run to their end. */
static void close_idle(worker *w)
{
    size_t n;
    gs_thread **busy = srv_inflight_snapshot(&n);
    if (n && !busy)
        return; /* out of memory: try again at the next wake-up */
    for (conn *c = w->conns; c; c = c->next)
        if (!c->killed && !srv_inflight_contains(busy, n, c->thread))
            conn_kill(c);
    free(busy);
}

static void wait_for_conns(worker *w, int64_t deadline)
{
    while (w->nconns > 0 && !w->forced) {
        close_idle(w);
        int64_t left = deadline - gs_now_ms();
        if (left <= 0 || w->nconns == 0)
            break;
        gs_sem_acquire(w->wake, left);
    }
}

static void *stopper(void *arg)
{
    worker *w = arg;
    int64_t grace = w->a->settings->graceful_timeout_ms;
    stop_accepting(w);
    rt_log("stopping: %u connection(s) open, %zu request(s) in progress; waiting up to %lld ms",
           w->nconns, srv_inflight_count(), (long long)grace);
    wait_for_conns(w, gs_now_ms() + grace);
    if (w->nconns > 0) {
        rt_log("stopping: cancelling %zu request(s) still in progress", srv_inflight_count());
        for (conn *c = w->conns; c; c = c->next)
            conn_kill(c);
        /* Cancelled handlers unwind by returning; give them a moment. */
        int64_t end = gs_now_ms() + 1000;
        while (w->nconns > 0 && gs_sem_acquire(w->wake, end - gs_now_ms()) == 0)
            ;
    }
    http_access_log_flush();
    rt_log("stopped");
    gs_hub_stop();
    return NULL;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    worker *w = arg;
    (void)what;
    const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    if (w->stopping) {
        rt_log("%s again: stopping now", name);
        w->forced = true;
        gs_sem_release(w->wake);
        return;
    }
    rt_log("%s: stopping gracefully", name);
    w->stopping = true;
    if (gs_spawn_n(stopper, w) < 0)
        gs_hub_stop();
}

static int catch_stop_signals(worker *w)
{
    const int sig[2] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        w->signals[i] = evsignal_new(gs_hub_base(), sig[i], on_signal, w);
        if (!w->signals[i] || evsignal_add(w->signals[i], NULL) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* ---- the whole ---- */

static int serve(worker *w)
{
    int r = mount_apps(w);
    if (r == 0)
        r = catch_stop_signals(w);
    if (r == 0)
        r = srv_inflight_catch_crashes();
    if (r == 0)
        r = start_accepting(w);
    if (r < 0) {
        rt_log("cannot start the worker: %s", strerror(-r));
        return 1;
    }
    gs_hub_run();
    return 0;
}

static void cleanup(worker *w)
{
    for (int i = 0; i < 2; i++)
        if (w->signals[i])
            event_free(w->signals[i]);
    /* Connections left after a forced stop never run again. */
    while (w->conns) {
        conn *c = w->conns;
        w->conns = c->next;
        free(c);
    }
    free(w->acceptors);
    free(w->apps);
    free(w->mounts);
    if (w->wake)
        gs_sem_free(w->wake);
}

int srv_worker_run(const srv_worker_args *a)
{
    worker w = {.a = a};
    w.site.limits = a->settings->limits;
    w.site.access_log_fd = a->access_log_fd;
    w.site.threads = a->settings->threads;
    w.wake = gs_sem_new(0);
    if (!gs_hub_base() || !w.wake) {
        rt_log("cannot start the worker: out of memory");
        return 1;
    }
    /* A client that left must cost an -EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    int status = init_apps(&w);
    if (status == 0) {
        status = serve(&w);
        if (status != 0)
            stop_accepting(&w);
        fini_apps(&w);
    }
    cleanup(&w);
    return status;
}
