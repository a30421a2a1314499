/*
 * offload.c -- the thread pool: blocking calls run on OS threads while
 * only the green thread that made them waits.
 *
 * Two pools per process, each a mutex-protected job queue with threads
 * started on demand: gs_offload's, for blocking calls, and the handler
 * pool behind --threads (rt_offload_handler), for whole request handlers
 * that may block their thread for as long as they like; kept apart so that
 * neither can starve the other. Each hub that offloads gets a "home":
 * a completion list and an eventfd registered on its event_base. A pool
 * thread appends the finished job to its home and writes the eventfd; the
 * hub's callback takes the list and wakes the waiters, so green threads
 * are only ever touched from their own OS thread.
 *
 * Ownership: a job normally lives with its waiter (gs_offload keeps it on
 * the green thread's stack, since that thread cannot leave before the job
 * is delivered). A waiter that gives up (rt_offload_wait: timeout, kill)
 * marks the job abandoned under the home's lock, and from then on the pool
 * thread that finishes it frees it; whichever of "finished" and
 * "abandoned" is set second decides, under that lock, who owns the job.
 */
#include "runtime/offload.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime/hub.h"

struct rt_home {
    pthread_mutex_t lock;
    rt_job *head, *tail; /* finished, not yet delivered */
    int efd;
    struct event ev;
};

#define POOL_DEFAULT_THREADS 4

typedef struct rt_pool {
    pthread_mutex_t lock;
    pthread_cond_t more;
    rt_job *head, *tail;
    unsigned queued; /* jobs not yet taken */
    unsigned idle;   /* threads waiting for a job */
    unsigned started;
    unsigned max;
} rt_pool;

/* Process-wide by nature: each pool is shared by every hub. */
static rt_pool offload_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                               .max = POOL_DEFAULT_THREADS};
static rt_pool handler_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, .max = 1};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static __thread rt_home *tls_home;
static __thread bool in_pool; /* this OS thread is a pool thread */

/* ---- the hub side ---- */

static void take_delivered(rt_home *home, rt_job **list)
{
    pthread_mutex_lock(&home->lock);
    *list = home->head;
    home->head = home->tail = NULL;
    pthread_mutex_unlock(&home->lock);
}

/* The eventfd is read before the list is taken: a job appended after the
 * read has written the eventfd again, so it is never stranded. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof(n));
    (void)r;
    rt_job *j;
    take_delivered(arg, &j);
    while (j) {
        rt_job *next = j->next;
        j->delivered = true;
        rt_wake(j->waiter, 0);
        j = next;
    }
}

static rt_home *home_new(rt_hub *h)
{
    rt_home *home = calloc(1, sizeof(*home));
    if (!home)
        return NULL;
    home->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (home->efd < 0)
        goto err_free;
    pthread_mutex_init(&home->lock, NULL);
    event_assign(&home->ev, rt_hub_base(h), home->efd, EV_READ | EV_PERSIST, on_done, home);
    if (event_add(&home->ev, NULL) < 0)
        goto err_close;
    /* Not a reason for gs_hub_run to go on: waiters count as pending. */
    rt_hub_internal_events(h, 1);
    return home;
err_close:
    pthread_mutex_destroy(&home->lock);
    close(home->efd);
err_free:
    free(home);
    return NULL;
}

/* The calling hub's home, created on first use. It lives as long as the
 * hub (that is, the OS thread): abandoned jobs never reach it. */
static rt_home *home_get(void)
{
    rt_hub *h = rt_hub_get();
    if (!tls_home && h)
        tls_home = home_new(h);
    return tls_home;
}

/* ---- the pool side ---- */

/* Called with j's home unlocked; j must not be touched afterwards, since
 * its waiter may free it as soon as the hub has it. */
static void deliver(rt_job *j)
{
    rt_home *home = j->home;
    pthread_mutex_lock(&home->lock);
    j->finished = true;
    bool abandoned = j->abandoned;
    bool was_empty = !home->head;
    if (!abandoned) {
        j->next = NULL;
        if (home->tail)
            home->tail->next = j;
        else
            home->head = j;
        home->tail = j;
    }
    pthread_mutex_unlock(&home->lock);
    if (abandoned) {
        j->orphan(j);
    } else if (was_empty) {
        /* A non-empty list already has a write pending on the hub. */
        uint64_t one = 1;
        ssize_t r = write(home->efd, &one, sizeof(one));
        (void)r;
    }
}

/* Skip the work of a job nobody waits for any more. */
static bool claim(rt_job *j)
{
    pthread_mutex_lock(&j->home->lock);
    bool abandoned = j->abandoned;
    pthread_mutex_unlock(&j->home->lock);
    if (abandoned)
        j->orphan(j);
    return !abandoned;
}

static rt_job *pool_take(rt_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->idle++;
    while (!p->head)
        pthread_cond_wait(&p->more, &p->lock);
    p->idle--;
    rt_job *j = p->head;
    p->head = j->next;
    if (!p->head)
        p->tail = NULL;
    p->queued--;
    pthread_mutex_unlock(&p->lock);
    return j;
}

/* A job that used the runtime on this thread (gs_sleep, gs_spawn...) gave
 * it a hub of its own, whose green threads only run while this thread
 * waits: let those the job left behind finish before the next job, rather
 * than stay parked until some later job happens to block. */
static void finish_own_green_threads(void)
{
    if (rt_hub_peek())
        gs_hub_run();
}

static void *pool_main(void *arg)
{
    rt_pool *p = arg;
    in_pool = true;
    for (;;) {
        rt_job *j = pool_take(p);
        if (!claim(j))
            continue;
        j->result = j->fn(j->arg);
        deliver(j);
        finish_own_green_threads();
    }
    return NULL;
}

/* Pool threads take no asynchronous signals: those belong to the hubs
 * (the server's signal handling). Faults still reach their handlers. */
static int start_thread(rt_pool *p)
{
    sigset_t block, old;
    sigfillset(&block);
    sigdelset(&block, SIGSEGV);
    sigdelset(&block, SIGBUS);
    sigdelset(&block, SIGFPE);
    sigdelset(&block, SIGILL);
    pthread_sigmask(SIG_SETMASK, &block, &old);
    pthread_t tid;
    int r = pthread_create(&tid, NULL, pool_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return -r;
    pthread_detach(tid);
    p->started++;
    return 0;
}

/* Threads do not survive fork: the child starts with an empty pool, and
 * the forking thread's home gets a fresh lock and eventfd (the parent's
 * pool must neither wake the child's hub nor have its wake-ups eaten). */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&offload_pool.lock);
    pthread_mutex_lock(&handler_pool.lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&handler_pool.lock);
    pthread_mutex_unlock(&offload_pool.lock);
}

static void pool_reset(rt_pool *p)
{
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->more, NULL);
    p->head = p->tail = NULL;
    p->queued = p->idle = p->started = 0;
}

static void atfork_child(void)
{
    pool_reset(&offload_pool);
    pool_reset(&handler_pool);
    rt_home *home = tls_home;
    if (!home)
        return;
    pthread_mutex_init(&home->lock, NULL);
    home->head = home->tail = NULL;
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd >= 0) {
        dup2(efd, home->efd);
        close(efd);
    }
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Queue j, starting a thread when more jobs wait than threads do. */
static int pool_push(rt_pool *p, rt_job *j)
{
    pthread_once(&atfork_once, atfork_register);
    pthread_mutex_lock(&p->lock);
    if (p->queued + 1 > p->idle && p->started < p->max) {
        int r = start_thread(p);
        if (r < 0 && p->started == 0) {
            pthread_mutex_unlock(&p->lock);
            return r == -EAGAIN ? -ENOMEM : r;
        }
    }
    j->next = NULL;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->more);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static void pool_set_max(rt_pool *p, unsigned n)
{
    pthread_mutex_lock(&p->lock);
    p->max = n ? n : 1;
    pthread_mutex_unlock(&p->lock);
}

void gs_offload_threads(unsigned n)
{
    pool_set_max(&offload_pool, n);
}

/* ---- waiting ---- */

bool rt_offload_can_park(void)
{
    /* rt_wait refuses at once, and without side effects, in a libevent
     * callback (the loop thread): the probe for "cannot park here". */
    return !in_pool && rt_hub_peek() && rt_wait(NULL, 0) != -EDEADLK;
}

static int submit(rt_pool *p, rt_job *j)
{
    rt_home *home = home_get();
    if (!home)
        return -ENOMEM;
    j->home = home;
    j->waiter = rt_current();
    j->finished = j->abandoned = j->delivered = false;
    return pool_push(p, j);
}

int rt_offload_submit(rt_job *j)
{
    return submit(&offload_pool, j);
}

/* The waiter gives j up. False when j finished first: it is then still on
 * the home's list (the hub delivers a whole list in one callback, without
 * switching), so take it off and keep it. */
static bool abandon(rt_job *j)
{
    rt_home *home = j->home;
    pthread_mutex_lock(&home->lock);
    bool finished = j->finished;
    j->abandoned = !finished;
    if (finished) {
        rt_job **p = &home->head, *prev = NULL;
        while (*p != j) {
            prev = *p;
            p = &(*p)->next;
        }
        *p = j->next;
        if (home->tail == j)
            home->tail = prev;
    }
    pthread_mutex_unlock(&home->lock);
    return !finished;
}

static int64_t remaining(int64_t timeout_ms, int64_t start)
{
    if (timeout_ms < 0)
        return GS_FOREVER;
    int64_t l = timeout_ms - (gs_now_ms() - start);
    return l > 0 ? l : 0;
}

int rt_offload_wait(rt_job *j, int64_t timeout_ms)
{
    rt_hub *h = rt_hub_get();
    int64_t start = gs_now_ms();
    int r = 0;
    rt_hub_pending(h, 1);
    while (!j->delivered && r == 0)
        r = rt_wait(NULL, remaining(timeout_ms, start));
    rt_hub_pending(h, -1);
    if (j->delivered || !abandon(j))
        return 0;
    return r;
}

/* Park until j is delivered, whatever happens: fn may be using memory of
 * this green thread (and j is on its stack), so it must not leave. A kill
 * is recorded meanwhile and reported once fn has returned; a deadline
 * cannot cut the wait short either. */
static void wait_delivered(rt_job *j)
{
    rt_hub *h = rt_hub_get();
    gs_thread *t = rt_current();
    int64_t deadline = t->deadline;
    t->deadline = 0;
    t->uninterruptible = true;
    rt_hub_pending(h, 1);
    while (!j->delivered)
        rt_wait(NULL, GS_FOREVER);
    rt_hub_pending(h, -1);
    t->uninterruptible = false;
    t->deadline = deadline;
}

static void never_orphaned(rt_job *j)
{
    (void)j;
    abort(); /* gs_offload never abandons its job */
}

static int run_inline(void *(*fn)(void *arg), void *arg, void **result)
{
    void *r = fn(arg);
    if (result)
        *result = r;
    return 0;
}

/* fn(arg) on a thread of p, while the calling green thread waits. */
static int run_on(rt_pool *p, void *(*fn)(void *arg), void *arg, void **result)
{
    rt_job j = {.fn = fn, .arg = arg, .orphan = never_orphaned};
    int r = submit(p, &j);
    if (r < 0)
        return r;
    wait_delivered(&j);
    if (result)
        *result = j.result;
    return 0;
}

int gs_offload(void *(*fn)(void *arg), void *arg, void **result)
{
    if (!rt_offload_can_park())
        return run_inline(fn, arg, result);
    if (gs_cancelled())
        return -ECANCELED;
    int r = run_on(&offload_pool, fn, arg, result);
    return r == 0 && gs_cancelled() ? -ECANCELED : r;
}

int rt_offload_handler(unsigned threads, void *(*fn)(void *arg), void *arg, void **result)
{
    if (!rt_offload_can_park())
        return run_inline(fn, arg, result);
    pool_set_max(&handler_pool, threads);
    return run_on(&handler_pool, fn, arg, result);
}

/* ---- getaddrinfo ---- */

/* Everything the pool thread needs, copied: the caller may have returned
 * (timeout, kill) long before getaddrinfo does. */
typedef struct gai_job {
    rt_job job;
    const char *node, *service; /* point into text[] or NULL */
    struct addrinfo hints;
    bool has_hints;
    struct addrinfo *res;
    int rc;
    int err; /* errno, for EAI_SYSTEM */
    char text[];
} gai_job;

static void *gai_run(void *arg)
{
    gai_job *g = arg;
    g->rc = getaddrinfo(g->node, g->service, g->has_hints ? &g->hints : NULL, &g->res);
    g->err = errno;
    return NULL;
}

static void gai_free(rt_job *j)
{
    gai_job *g = (gai_job *)j;
    if (g->res)
        freeaddrinfo(g->res);
    free(g);
}

static const char *copy_str(char **dst, const char *s)
{
    if (!s)
        return NULL;
    const char *copy = strcpy(*dst, s);
    *dst += strlen(s) + 1;
    return copy;
}

static gai_job *gai_new(const char *node, const char *service, const struct addrinfo *hints)
{
    size_t len = (node ? strlen(node) + 1 : 0) + (service ? strlen(service) + 1 : 0);
    gai_job *g = calloc(1, sizeof(*g) + len);
    if (!g)
        return NULL;
    char *text = g->text;
    g->node = copy_str(&text, node);
    g->service = copy_str(&text, service);
    if (hints) {
        /* Only these members are input; the rest must be zero. */
        g->hints.ai_flags = hints->ai_flags;
        g->hints.ai_family = hints->ai_family;
        g->hints.ai_socktype = hints->ai_socktype;
        g->hints.ai_protocol = hints->ai_protocol;
        g->has_hints = true;
    }
    g->job.fn = gai_run;
    g->job.arg = g;
    g->job.orphan = gai_free;
    return g;
}

/* The job is delivered: hand its result over, unless killed meanwhile. */
static int gai_finish(gai_job *g, struct addrinfo **res)
{
    int rc = g->rc;
    if (gs_cancelled()) {
        rc = EAI_CANCELED;
    } else if (rc == 0) {
        *res = g->res;
        g->res = NULL;
    }
    int err = g->err;
    gai_free(&g->job);
    if (rc == EAI_SYSTEM)
        errno = err; /* getaddrinfo's convention; nothing switches after this */
    return rc;
}

int gs_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res, int64_t timeout_ms)
{
    *res = NULL;
    if (!rt_offload_can_park())
        return getaddrinfo(node, service, hints, res);
    if (gs_cancelled())
        return EAI_CANCELED;
    if (rt_effective_timeout(rt_current(), timeout_ms) == 0)
        return EAI_AGAIN; /* a lookup always has to wait */
    gai_job *g = gai_new(node, service, hints);
    if (!g)
        return EAI_MEMORY;
    if (rt_offload_submit(&g->job) < 0) {
        free(g);
        return EAI_MEMORY;
    }
    int r = rt_offload_wait(&g->job, timeout_ms);
    if (r < 0)
        return r == -ECANCELED ? EAI_CANCELED : EAI_AGAIN; /* g is the pool's now */
    return gai_finish(g, res);
}
