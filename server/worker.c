/*
 * worker.c -- accept loops, one green thread per connection, the
 * heartbeat, graceful stop.
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
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "runtime/hub.h"
#include "runtime/greenlibc.h"
#include "server/bus.h"
#include "server/handoff.h"
#include "runtime/log.h"
#include "server/inflight.h"
#include "server/conninfo.h"

typedef struct worker worker;

typedef struct conn {
    struct conn *prev, *next;
    worker *w;
    gs_thread *thread;    /* NULL until it first runs */
    http_conn *hc;        /* while http/ serves it: for a hand-off */
    http_handoff *resume; /* handed over by a retiring worker; NULL */
    int fd;
    bool killed;             /* by a stop: its waits return -ECANCELED */
    _Atomic bool busy;       /* a handler has its request (maybe on an OS thread) */
    _Atomic unsigned served; /* requests its handlers finished */
    int64_t accepted_ms;
    srv_inflight inflight; /* while a handler runs its request */
    socklen_t peerlen;
    /* What http/ formats (an IP peer), not a sockaddr_storage: a parked
     * connection holds this for as long as it waits. */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
} conn;

/* What http/ sees as the app: a copy of the plugin's gs_app whose handle
 * records the request for crash reports, the watchdog and graceful stops. */
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

enum { SIG_TERM, SIG_INT, SIG_QUIT, SIG_USR1, NSIGNALS };

struct worker {
    const srv_worker_args *a;
    rt_hub *hub;
    http_site site;
    http_mount *mounts;
    app_mount *apps;
    acceptor *acceptors;
    unsigned naccepting;
    conn *conns;
    unsigned nconns;
    conn **by_fd; /* a handler finds its connection by descriptor */
    size_t nfds;
    struct event *signals[NSIGNALS];
    struct event *tick;
    gs_sem *wake;               /* the stopper's: a connection or a handler ended */
    srv_handoff_server handoff; /* taking connections from retiring siblings */
    gs_thread *handoff_thread;
    bool stopping; /* SIGTERM/SIGINT seen */
    bool forced;   /* seen twice, or SIGQUIT: stop waiting */
    bool quit;     /* SIGQUIT: left the hub with threads still parked */
};

/* A fresh connection that has not sent its first request yet is not idle:
 * its client may be sending it now, and would see a close as a failure. A
 * stop gives it this long before closing it. */
#define FRESH_GRACE_MS 1000

/* How often a stop looks again at idle connections and handlers on OS
 * threads (whose end it is not told of). */
#define STOP_POLL_MS 100

/* ---- connections by descriptor ---- */

static conn *conn_of(worker *w, gs_request *r)
{
    int fd = srv_request_fd(r);
    return fd >= 0 && (size_t)fd < w->nfds ? w->by_fd[fd] : NULL;
}

static int index_fds(worker *w)
{
    struct rlimit rl;
    w->nfds = 1 << 16;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        w->nfds = rl.rlim_cur < (1u << 22) ? rl.rlim_cur : (1u << 22);
    w->by_fd = calloc(w->nfds, sizeof(*w->by_fd));
    return w->by_fd ? 0 : -ENOMEM;
}

/* ---- apps ---- */

static int guarded_handle(gs_request *r, void *state)
{
    app_mount *m = state;
    worker *w = m->w;
    conn *c = conn_of(w, r);
    if (c)
        atomic_store_explicit(&c->busy, true, memory_order_release);
    /* Not on the handler's stack: the list is walked and relinked while
     * this thread is parked, and a long-parked thread's stack is stashed
     * (runtime/hub.c). A connection runs one handler at a time. */
    srv_inflight *f = c ? &c->inflight : malloc(sizeof(*f));
    if (!f)
        return -ENOMEM;
    srv_inflight_begin(f, m->shim.name, r);
    int rc = m->plugin->app->handle(r, m->plugin->state);
    srv_inflight_end(f);
    if (c) {
        atomic_fetch_add_explicit(&c->served, 1, memory_order_relaxed);
        atomic_store_explicit(&c->busy, false, memory_order_release);
    } else {
        free(f);
    }
    /* Handlers on OS threads (--threads) must not touch the hub's state:
     * the tick and the stopper's polling cover those. */
    if (rt_hub_peek() != w->hub)
        return rc;
    if (w->a->slot) /* for --max-requests, sooner than the next tick */
        atomic_store_explicit(&w->a->slot->requests, w->site.requests, memory_order_relaxed);
    if (w->stopping)
        gs_sem_release(w->wake); /* its connection may be idle now */
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
            if (rt_log_fd() != 2) /* whoever started us should see it too */
                fprintf(stderr, "greenserve: %s\n", err);
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
        m->shim.flags |= p->mount->flags; /* flags = green in the config file */
        m->shim.init = NULL;              /* the worker calls them, not http/ */
        m->shim.fini = NULL;
        m->plugin = p;
        m->w = w;
        w->mounts[i] = (http_mount){.prefix = p->mount->prefix,
                                    .prefix_len = strlen(p->mount->prefix),
                                    .app = &m->shim,
                                    .state = m,
                                    .request_timeout_ms = p->mount->request_timeout_ms};
        rt_log("mounted app \"%s\" at %s (%s)", p->app->name ? p->app->name : "?", p->mount->prefix,
               p->mount->path);
    }
    w->site.mounts = w->mounts;
    w->site.nmounts = n;
    return 0;
}

/* ---- connections ---- */

static void conn_forget(worker *w, conn *c)
{
    if ((size_t)c->fd < w->nfds && w->by_fd[c->fd] == c)
        w->by_fd[c->fd] = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    worker *w = c->w;
    c->thread = gs_self();
    if (c->killed)
        gs_close(c->fd); /* a stop came before it ran */
    else
        http_serve_ex(&w->site, c->fd, &c->peer.sa, c->peerlen, c->resume, &c->hc);
    free(c->resume);
    /* The descriptor is closed, but no other green thread ran since: its
     * number cannot have been reused by an accept yet. */
    conn_forget(w, c);
    free(c);
    if (w->stopping)
        gs_sem_release(w->wake);
    return NULL;
}

static int conn_start(worker *w, int fd, const struct sockaddr_storage *peer, socklen_t len,
                      http_handoff *resume)
{
    conn *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (conn){.w = w,
                .fd = fd,
                .peerlen = len < sizeof(c->peer) ? len : sizeof(c->peer),
                .next = w->conns,
                .accepted_ms = gs_now_ms(),
                .resume = resume};
    memcpy(&c->peer, peer, len < sizeof(c->peer) ? len : sizeof(c->peer));
    if (gs_spawn_n(conn_main, c) < 0) {
        free(c);
        return -ENOMEM;
    }
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    if ((size_t)fd < w->nfds)
        w->by_fd[fd] = c;
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

static void take(worker *w, acceptor *ac, int fd, const struct sockaddr_storage *peer,
                 socklen_t len)
{
    if (w->a->slot) /* a worker that took a client did not die of its start-up */
        atomic_fetch_add_explicit(&w->a->slot->accepted, 1, memory_order_relaxed);
    if (w->nconns >= w->site.limits.max_conns) {
        http_refuse_busy(&w->site, fd);
    } else if (conn_start(w, fd, peer, len, NULL) < 0) {
        gs_close(fd);
        accept_failed(ac, -ENOMEM);
    }
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
        if (!ac->l->reuse_port) /* a shared socket: take only a fair share */
            srv_slot_await_turn(w->a->slot, ac->l->fd, w->nconns);
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = gs_accept(ac->l->fd, (struct sockaddr *)&peer, &len, GS_FOREVER);
        if (fd == -ECANCELED)
            return NULL;
        if (fd < 0)
            accept_failed(ac, fd);
        else
            take(w, ac, fd, &peer, len);
    }
}

static int start_accepting(worker *w)
{
    char err[512];
    w->acceptors = calloc(w->a->nlisteners, sizeof(*w->acceptors));
    if (!w->acceptors)
        return -ENOMEM;
    for (size_t i = 0; i < w->a->nlisteners; i++) {
        acceptor *ac = &w->acceptors[i];
        *ac = (acceptor){.w = w, .l = &w->a->listeners[i]};
        /* A socket of our own (--reuse-port) takes connections only now
         * that the apps are ready. */
        if (ac->l->reuse_port && srv_listen_start(ac->l, err, sizeof(err)) < 0) {
            rt_log("%s", err);
            return -EADDRNOTAVAIL;
        }
        ac->thread = gs_spawn(accept_loop, ac);
        if (!ac->thread)
            return -ENOMEM;
        w->naccepting++;
        rt_log("listening on %s", ac->l->url);
    }
    return 0;
}

/* A socket of our own has its own backlog, lost when it closes: take
 * what is queued there first. (A shared one's backlog stays with the
 * other workers.) */
static void drain_backlog(worker *w, acceptor *ac)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(ac->l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        take(w, ac, fd, &peer, len);
    }
}

static void stop_accepting(worker *w)
{
    for (size_t i = 0; w->acceptors && i < w->a->nlisteners; i++) {
        acceptor *ac = &w->acceptors[i];
        if (ac->thread) {
            gs_kill(ac->thread);
            gs_join(ac->thread, NULL, GS_FOREVER);
            ac->thread = NULL;
            w->naccepting--;
            if (ac->l->reuse_port)
                drain_backlog(w, ac);
        }
        srv_listen_close(ac->l, w->a->unlink_sockets);
    }
}

/* ---- the heartbeat ---- */

/* Every tick_ms, from the hub: a hub stuck in a handler misses its ticks,
 * which is what the master's watchdog looks for. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    worker *w = arg;
    srv_slot *s = w->a->slot;
    unsigned waiting = (unsigned)srv_inflight_parked();
    atomic_store_explicit(&s->requests, w->site.requests, memory_order_relaxed);
    atomic_store_explicit(&s->active_conns, w->nconns, memory_order_relaxed);
    atomic_store_explicit(&s->green_threads, w->nconns + w->naccepting, memory_order_relaxed);
    atomic_store_explicit(&s->waiting, waiting, memory_order_relaxed);
    atomic_store_explicit(&s->heartbeat_ms, srv_clock_ms(), memory_order_relaxed);
}

static int start_ticking(worker *w)
{
    if (!w->a->slot)
        return 0;
    w->tick = event_new(gs_hub_base(), -1, EV_PERSIST, on_tick, w);
    struct timeval tv = {w->a->tick_ms / 1000, (w->a->tick_ms % 1000) * 1000};
    if (!w->tick || event_add(w->tick, &tv) < 0)
        return -ENOMEM;
    rt_hub_internal_events(w->hub, 1); /* it must not keep the hub running */
    on_tick(-1, 0, w);
    return 0;
}

/* Tell the master (slot, then a byte down its pipe to wake it). */
static void set_state(worker *w, int state)
{
    if (!w->a->slot)
        return;
    atomic_store(&w->a->slot->state, state);
    if (w->a->notify_fd >= 0) {
        ssize_t n = write(w->a->notify_fd, "!", 1);
        (void)n; /* a full pipe has a wake-up pending already */
    }
}

/* ---- hand-off ---- */

/* Connections one worker takes from retiring siblings. */
static bool take_handed(void *arg, int fd, http_handoff *state)
{
    worker *w = arg;
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    if (w->stopping || w->nconns >= w->site.limits.max_conns)
        return false;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
        len = 0;
    if (conn_start(w, fd, &peer, len, state) < 0)
        return false;
    if (w->a->slot) { /* as for an accept: it serves, so it did not die of its start-up */
        atomic_fetch_add_explicit(&w->a->slot->accepted, 1, memory_order_relaxed);
        /* Now, not at the next tick: the sender picks its next target by it. */
        atomic_store_explicit(&w->a->slot->active_conns, w->nconns, memory_order_relaxed);
    }
    return true;
}

static int start_taking(worker *w)
{
    if (!w->a->slots)
        return 0;
    int fd = srv_handoff_listen();
    if (fd < 0) { /* not fatal: retiring siblings drain as before */
        rt_log("handoff: cannot listen: %s; connections of retiring workers will not come here",
               strerror(-fd));
        return 0;
    }
    w->handoff = (srv_handoff_server){.lfd = fd, .take = take_handed, .arg = w};
    w->handoff_thread = gs_spawn(srv_handoff_serve, &w->handoff);
    if (!w->handoff_thread) {
        close(fd);
        return -ENOMEM;
    }
    return 0;
}

static void stop_taking(worker *w)
{
    if (!w->handoff_thread)
        return;
    gs_kill(w->handoff_thread);
    gs_join(w->handoff_thread, NULL, GS_FOREVER);
    w->handoff_thread = NULL;
}

#define HANDOFF_TARGETS 16
/* How long a batch may wait for its answer: the whole hub waits with it. */
#define HANDOFF_WAIT_MS 2000
/* Rounds before the drain: after each, the handlers that were about to
 * run (woken by a message) have run and parked again, and can go. */
#define HANDOFF_ROUNDS 20

typedef struct handing {
    worker *w;
    int socks[HANDOFF_TARGETS];
    pid_t pids[HANDOFF_TARGETS];
    size_t n, next; /* targets connected; the next one to send to */
    pid_t dropped[HANDOFF_TARGETS * 2];
    size_t ndropped;
    unsigned handed;
    int64_t last_ms; /* when the last batch was taken */
} handing;

static bool handing_knows(const handing *h, pid_t pid)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->pids[i] == pid)
            return true;
    for (size_t i = 0; i < h->ndropped; i++)
        if (h->dropped[i] == pid)
            return true;
    return false;
}

static void handing_drop(handing *h, size_t k, int err)
{
    rt_log("handoff: worker %d: %s; handing no more to it", (int)h->pids[k], strerror(-err));
    if (h->socks[k] >= 0)
        close(h->socks[k]);
    if (h->ndropped < sizeof(h->dropped) / sizeof(h->dropped[0]))
        h->dropped[h->ndropped++] = h->pids[k];
    h->socks[k] = h->socks[--h->n];
    h->pids[k] = h->pids[h->n];
}

/* Connect to the targets the scoreboard names now that we do not know
 * yet: the ones found first may retire in turn (a reload that follows a
 * recycle). Returns how many are connected. */
static size_t handing_find(handing *h)
{
    worker *w = h->w;
    pid_t pids[HANDOFF_TARGETS];
    size_t n =
        w->a->slots ? srv_handoff_targets(w->a->slots, w->a->slot, pids, HANDOFF_TARGETS) : 0;
    for (size_t i = 0; i < n && h->n < HANDOFF_TARGETS; i++) {
        if (handing_knows(h, pids[i]))
            continue;
        int fd = srv_handoff_connect(pids[i]);
        h->pids[h->n] = pids[i];
        h->socks[h->n++] = fd;
        if (fd < 0)
            handing_drop(h, h->n - 1, fd);
    }
    return h->n;
}

static void handing_close(handing *h)
{
    while (h->n > 0)
        close(h->socks[--h->n]);
}

/* The connections the worker pid holds, as its slot says (it stores the
 * count as it takes), or UINT_MAX if it has no slot any more. */
static unsigned conns_of(const worker *w, pid_t pid)
{
    for (const srv_slot *s = w->a->slots; s < w->a->slots + SRV_SLOTS; s++)
        if (s->pid == pid)
            return atomic_load_explicit(&s->active_conns, memory_order_relaxed);
    return UINT_MAX;
}

/* The target of the next batch: the one holding the fewest connections,
 * so that a recycled worker's clients go to its fresh replacement rather
 * than half of them to the sibling already holding its share. Among
 * equals, the next in this worker's round robin: workers retiring
 * together start it at different targets (see stopper). */
static size_t pick_target(handing *h)
{
    size_t best = 0;
    unsigned fewest = UINT_MAX;
    for (size_t i = 0; i < h->n; i++) {
        size_t k = (h->next + i) % h->n;
        unsigned conns = conns_of(h->w, h->pids[k]);
        if (i == 0 || conns < fewest) {
            fewest = conns;
            best = k;
        }
    }
    h->next = best + 1;
    return best;
}

/* A batch's size: at most SRV_HANDOFF_BATCH, and small enough that this
 * worker's connections make two batches per target or more, so that
 * pick_target can even the targets out. With targets only (h->n > 0). */
static size_t batch_size(const handing *h)
{
    size_t n = h->w->nconns / (2 * h->n);
    return n < 8 ? 8 : n > SRV_HANDOFF_BATCH ? SRV_HANDOFF_BATCH : n;
}

/* Send a batch to the least loaded target; a target that fails or takes
 * none (retiring too, or full) is dropped and the next one tried, looking
 * for new ones when none is left. The taken connections are now the other
 * worker's: unwind their threads here without a word to the client. */
static int send_batch(handing *h, conn **cs, http_handoff **states, size_t n)
{
    int fds[SRV_HANDOFF_BATCH];
    bool taken[SRV_HANDOFF_BATCH];
    for (size_t i = 0; i < n; i++)
        fds[i] = cs[i]->fd;
    while (h->n > 0 || handing_find(h) > 0) {
        size_t k = pick_target(h);
        int r = srv_handoff_send(h->socks[k], fds, states, n, HANDOFF_WAIT_MS, taken);
        if (r <= 0) {
            handing_drop(h, k, r < 0 ? r : -EBUSY);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (taken[i]) {
                http_conn_handed(cs[i]->hc);
                conn_kill(cs[i]);
            }
        h->handed += (unsigned)r;
        h->last_ms = gs_now_ms();
        return r;
    }
    return -ENOTCONN;
}

/* Send the batch (if any) and free its states; the count taken. */
static int flush_batch(handing *h, conn **batch, http_handoff **states, size_t *n)
{
    int r = *n ? send_batch(h, batch, states, *n) : 0;
    while (*n > 0)
        free(states[--*n]);
    return r > 0 ? r : 0;
}

/* Hand off every connection that can go now (http_conn_capture), without
 * switching: a connection in flight must not run here. The count. */
static int hand_round(worker *w, handing *h)
{
    conn *batch[SRV_HANDOFF_BATCH];
    http_handoff *states[SRV_HANDOFF_BATCH];
    size_t n = 0;
    int total = 0;
    if (h->n == 0 && handing_find(h) == 0)
        return 0;
    size_t size = batch_size(h);
    for (conn *c = w->conns; c && h->n > 0; c = c->next) {
        if (c->killed || !c->hc || !(states[n] = http_conn_capture(c->hc)))
            continue;
        batch[n++] = c;
        if (n == size)
            total += flush_batch(h, batch, states, &n);
    }
    return total + flush_batch(h, batch, states, &n);
}

static void hand_off(worker *w, handing *h, int64_t t0)
{
    for (int i = 0; i < HANDOFF_ROUNDS; i++) {
        int r = hand_round(w, h);
        if (h->n == 0 || (r == 0 && i > 0))
            break;
        gs_yield();
    }
    if (h->handed)
        rt_log("handoff: %u connection(s) handed to %zu worker(s) in %lld ms", h->handed, h->n,
               (long long)(h->last_ms - t0));
}

/* ---- graceful stop ---- */

/* Idle: waiting for a next request of which nothing came (not merely
 * out of its handler: it may be sending the response, reading the next
 * head, or woken by it and not run yet), and past its first request (or
 * silent for too long to be about to send it). */
static bool idle(const conn *c, int64_t now)
{
    if (c->killed || atomic_load(&c->busy))
        return false;
    if (c->hc && !http_conn_idle(c->hc))
        return false;
    return atomic_load(&c->served) > 0 || now - c->accepted_ms >= FRESH_GRACE_MS;
}

static void close_idle(worker *w)
{
    int64_t now = gs_now_ms();
    for (conn *c = w->conns; c; c = c->next)
        if (idle(c, now))
            conn_kill(c);
}

/* Connections that become idle go to a sibling if there is one, or are
 * closed between requests. */
static void wait_for_conns(worker *w, handing *h, int64_t deadline)
{
    while (w->nconns > 0 && !w->forced) {
        hand_round(w, h);
        close_idle(w);
        int64_t left = deadline - gs_now_ms();
        if (left <= 0 || w->nconns == 0)
            break;
        gs_sem_acquire(w->wake, left < STOP_POLL_MS ? left : STOP_POLL_MS);
    }
}

static void *stopper(void *arg)
{
    worker *w = arg;
    int64_t grace = w->a->settings->graceful_timeout_ms;
    int64_t t0 = gs_now_ms();
    stop_accepting(w);
    set_state(w, SRV_SLOT_STOPPING);
    stop_taking(w);
    /* Retiring while siblings stay (a reload, a recycle): what waits or
     * idles goes to them, with its socket, to the least loaded first.
     * Workers retiring together break ties at a target of their own (by
     * slot): had all started at the first, a reload of few connections
     * (a batch each) would put them all on it. */
    handing h = {.w = w,
                 .next = w->a->slot && w->a->slots ? (size_t)(w->a->slot - w->a->slots) : 0};
    hand_off(w, &h, t0);
    /* Long-polls (gs_wait_disconnect, channel waits) end with -ESHUTDOWN,
     * now and from now on, and gs_draining() turns true: their handlers
     * answer, and their clients come back to a worker still accepting. */
    size_t parked = srv_inflight_parked();
    rt_hub_drain();
    rt_log("stopping: %u connection(s) open, %zu request(s) in progress (%zu long-poll(s) "
           "woken); waiting up to %lld ms",
           w->nconns, srv_inflight_count(), parked, (long long)grace);
    wait_for_conns(w, &h, gs_now_ms() + grace);
    handing_close(&h);
    if (h.handed) /* how long the old worker held connections: the cost of a hand-off */
        rt_log("handoff: %u connection(s) handed in all, the last %lld ms after the retirement "
               "began",
               h.handed, (long long)(h.last_ms - t0));
    if (w->nconns > 0) {
        rt_log("stopping: cancelling %zu request(s) still in progress", srv_inflight_count());
        for (conn *c = w->conns; c; c = c->next)
            conn_kill(c);
        /* Cancelled handlers unwind by returning; give them a moment. */
        int64_t end = gs_now_ms() + 1000;
        while (w->nconns > 0 && gs_now_ms() < end)
            gs_sem_acquire(w->wake, STOP_POLL_MS);
    }
    http_access_log_flush();
    rt_log("stopped");
    gs_hub_stop();
    return NULL;
}

/* Graceful; a second time, cut the wait short (the stopper cancels what
 * is left); `now` (SIGQUIT), leave the hub at once: what was running never
 * runs again. */
static void stop(worker *w, const char *why, bool now)
{
    if (now || w->stopping) {
        rt_log("%s: stopping now", why);
        w->forced = true;
        w->quit |= now;
        if (now)
            gs_hub_stop();
        else
            gs_sem_release(w->wake);
        return;
    }
    rt_log("%s: stopping gracefully", why);
    w->stopping = true;
    if (gs_spawn_n(stopper, w) < 0)
        gs_hub_stop();
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    worker *w = arg;
    (void)what;
    if (sig == SIGUSR1) {
        rt_log("SIGUSR1: reopening the logs");
        srv_logs_reopen(w->a->logs, (uid_t)-1, (gid_t)-1);
    } else if (sig == SIGQUIT) {
        http_access_log_flush();
        stop(w, "SIGQUIT", true);
    } else {
        stop(w, sig == SIGTERM ? "SIGTERM" : "SIGINT", false);
    }
}

static int catch_signals(worker *w)
{
    const int sig[NSIGNALS] = {
        [SIG_TERM] = SIGTERM, [SIG_INT] = SIGINT, [SIG_QUIT] = SIGQUIT, [SIG_USR1] = SIGUSR1};
    for (int i = 0; i < NSIGNALS; i++) {
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
        r = catch_signals(w);
    if (r == 0)
        r = srv_inflight_catch_crashes();
    if (r == 0)
        r = start_taking(w);
    if (r == 0)
        r = start_accepting(w);
    if (r == 0)
        r = start_ticking(w);
    if (r < 0) {
        rt_log("cannot start the worker: %s", strerror(-r));
        return 1;
    }
    set_state(w, SRV_SLOT_READY);
    gs_hub_run();
    return 0;
}

static void cleanup(worker *w)
{
    for (int i = 0; i < NSIGNALS; i++)
        if (w->signals[i])
            event_free(w->signals[i]);
    if (w->tick) {
        event_free(w->tick);
        rt_hub_internal_events(w->hub, -1);
    }
    /* Connections left after a forced stop never run again. */
    while (w->conns) {
        conn *c = w->conns;
        w->conns = c->next;
        free(c->resume);
        free(c);
    }
    free(w->by_fd);
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
    w.site.access_log_fd = a->logs ? a->logs->access_fd : -1;
    w.site.threads = a->settings->threads;
    rt_greenlibc_enable(a->settings->green_libc);
    gs_set_stash_after(a->settings->stash_after_ms);
    rt_greenlibc_quiet(w.site.access_log_fd);
    rt_greenlibc_quiet(rt_log_fd());
    w.hub = rt_hub_get();
    w.wake = gs_sem_new(0);
    if (!w.hub || !w.wake || index_fds(&w) < 0) {
        rt_log("cannot start the worker: out of memory");
        cleanup(&w);
        return 1;
    }
    /* A client that left must cost an -EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    /* Before the apps' init: a channel ignores ids below its local ones. */
    if (srv_bus_worker_start() < 0)
        rt_log("bus: cannot start: channels stay in this worker");
    int status = init_apps(&w);
    if (status == 0) {
        status = serve(&w);
        fini_apps(&w);
    }
    /* After a failed start or SIGQUIT, some are still open. */
    for (size_t i = 0; i < a->nlisteners; i++)
        srv_listen_close(&a->listeners[i], a->unlink_sockets);
    if (w.quit && a->exit_on_quit)
        _exit(status); /* what is parked stays so: nothing to unwind or free */
    srv_bus_worker_stop();
    cleanup(&w);
    return status;
}
