/*
 * hub.c -- green threads and the per-OS-thread hub that schedules them.
 *
 * Every OS thread that uses the runtime gets a hub: an event_base, two run
 * queues and a "loop" green thread that runs libevent on its own stack. The
 * OS thread's own stack is the "root" green thread, so plain code in main()
 * can block (gs_sleep, gs_join...) and the hub starts implicitly.
 *
 * A parking thread switches straight to the next runnable one: the loop
 * thread only runs when the batch is empty or I/O is due for a poll, so a
 * wake-then-wait hand-off between two threads is a single switch.
 */
#include "runtime/hub.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/io.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define RT_ASAN 1
#endif

#define RT_COMMON_TIMEOUTS 4

struct rt_link {
    void (*cb)(gs_thread *t, void *result, void *arg);
    void *arg;
    rt_link *next;
};

struct rt_hub {
    struct event_base *base;
    gs_thread *current;
    gs_thread root;                     /* the OS thread's own stack */
    gs_thread loop;                     /* runs event_base_loop */
    gs_thread *ready_head, *ready_tail; /* this batch */
    gs_thread *next_head, *next_tail;   /* woken since: the next batch */
    gs_thread *intr_head;               /* threads in an interruptible wait */
    rt_stack_pool stacks;
    unsigned live; /* spawned green threads not yet dead */
    int pending;   /* waits with no libevent event of their own */
    int internal;  /* our own registered events (fd table...) */
    unsigned batches;
    unsigned alone;   /* rounds in a row that polled only the fd set */
    int64_t round_ms; /* gs_now_ms() when the loop last polled */
    bool stop;
    bool root_in_run;   /* root is inside gs_hub_run */
    bool draining;      /* rt_hub_drain was called */
    struct event sweep; /* stashes the stacks of long-parked threads */
    bool sweep_armed;
    unsigned sweep_tick;
    struct {
        int64_t ms;               /* 0: free */
        const struct timeval *tv; /* libevent's handle for it */
    } common[RT_COMMON_TIMEOUTS]; /* see rt_hub_common_timeout */
};

/* Loop every 64th batch swap through libevent even when threads are
 * runnable, so I/O and timers are never starved by busy yielders. */
#define RT_POLL_EVERY 64
/* While the hub's descriptor set is busy (its last poll took more than
 * one edge), the loop polls it alone, at most this many rounds in a row:
 * then libevent's turn (its timers, signals and the apps' own events). */
#define RT_ALONE_MAX  8
#define RT_LOOP_STACK (256 * 1024)

static __thread rt_hub *tls_hub;

/* schedule and switch_to are inlined into every caller: jump_fcontext
 * resumes a thread with an indirect jmp, not a ret, which leaves the
 * CPU's return predictor one entry off, so every frame the resumed thread
 * then returns through costs a mispredicted return (~10 ns here). Each
 * switch thus returns straight into the blocking call that made it
 * (bench/RESULTS.md, "Runtime"). */
static inline __attribute__((always_inline)) void schedule(rt_hub *h);

int64_t gs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- switching ---- */

static void asan_start(gs_thread *from, gs_thread *to)
{
#ifdef RT_ASAN
    __sanitizer_start_switch_fiber(from->state == RT_DEAD ? NULL : &from->asan_fake_stack,
                                   to->asan_bottom, to->asan_size);
#else
    (void)from, (void)to;
#endif
}

static void asan_finish(gs_thread *me, gs_thread *prev)
{
#ifdef RT_ASAN
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(me->asan_fake_stack, &bottom, &size);
    if (!prev->asan_bottom) { /* the root: its bounds are learnt here */
        prev->asan_bottom = bottom;
        prev->asan_size = size;
    }
#else
    (void)me, (void)prev;
#endif
}

/* The thread that switched to us is either suspended (remember where) or
 * dead, in which case it could not free its own stack: we do. */
static void after_switch(rt_hub *h, rt_transfer tr)
{
    gs_thread *prev = tr.data;
    if (prev->state != RT_DEAD) {
        prev->ctx = tr.fctx;
        return;
    }
    rt_stack_put(&h->stacks, prev->stack);
    prev->stack = NULL;
    if (prev->detached)
        free(prev);
}

static __attribute__((noinline, cold)) void unstash(gs_thread *t)
{
    rt_stack_unstash(t->stack, t->stash, t->stash_len);
    t->stash = NULL;
}

static inline __attribute__((always_inline)) void switch_to(rt_hub *h, gs_thread *to)
{
    gs_thread *from = h->current;
    if (to == from) {
        from->state = RT_RUNNING;
        return;
    }
    if (__builtin_expect(to->stash != NULL, 0))
        unstash(to);
    h->current = to;
    to->state = RT_RUNNING;
    rt_stack_set_running(to->stack);
    asan_start(from, to);
    rt_transfer tr = rt_jump_fcontext(to->ctx, from);
    asan_finish(from, tr.data);
    after_switch(h, tr);
}

/* ---- run queues ---- */

static void push_next(rt_hub *h, gs_thread *t)
{
    t->state = RT_READY;
    t->run_next = NULL;
    if (h->next_tail)
        h->next_tail->run_next = t;
    else
        h->next_head = t;
    h->next_tail = t;
}

/* Move the next batch behind the current one. */
static void take_next_batch(rt_hub *h)
{
    if (!h->next_head)
        return;
    if (h->ready_tail)
        h->ready_tail->run_next = h->next_head;
    else
        h->ready_head = h->next_head;
    h->ready_tail = h->next_tail;
    h->next_head = h->next_tail = NULL;
}

static gs_thread *pop_ready(rt_hub *h)
{
    gs_thread *t = h->ready_head;
    if (t) {
        h->ready_head = t->run_next;
        if (!h->ready_head)
            h->ready_tail = NULL;
    }
    return t;
}

/* Leave the current thread (already queued or parked by the caller) for
 * the next runnable one, or the loop. */
static inline __attribute__((always_inline)) void schedule(rt_hub *h)
{
    gs_thread *t = pop_ready(h);
    if (!t && h->next_head && ++h->batches % RT_POLL_EVERY != 0) {
        take_next_batch(h);
        t = pop_ready(h);
    }
    switch_to(h, t ? t : &h->loop);
}

/* ---- the loop thread ---- */

static bool has_work(rt_hub *h)
{
    int n = event_base_get_num_events(h->base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE |
                                                   EVENT_BASE_COUNT_VIRTUAL);
    return n > h->internal || h->pending > 0;
}

/* One poll: the descriptor set alone while it is busy (one epoll_wait),
 * else libevent, which may sleep, and polls the set too when it has edges
 * (its epoll_wait, then the set's). A lone client's request, one edge,
 * goes by libevent: polling the set first would only find it empty. */
static void poll_round(rt_hub *h, bool idle)
{
    if (h->alone < RT_ALONE_MAX && rt_io_last_poll() > 1 && rt_io_poll() > 0) {
        h->alone++;
    } else {
        h->alone = 0;
        event_base_loop(h->base, idle ? EVLOOP_ONCE : EVLOOP_NONBLOCK);
    }
    h->round_ms = gs_now_ms();
}

static void loop_main(rt_transfer tr)
{
    rt_hub *h = tls_hub;
    asan_finish(&h->loop, tr.data);
    after_switch(h, tr);
    for (;;) {
        bool idle = !h->ready_head && !h->next_head;
        bool root_waits = h->root.state == RT_WAITING;
        if (root_waits && h->root_in_run && h->stop) {
            h->stop = false;
            rt_wake(&h->root, 0);
        } else if (idle && root_waits && !has_work(h)) {
            /* Nothing can wake anyone any more: gs_hub_run is done, any
             * other wait of the root would last forever. */
            rt_wake(&h->root, h->root_in_run ? 0 : -EDEADLK);
        } else {
            poll_round(h, idle);
        }
        take_next_batch(h);
        gs_thread *t = pop_ready(h);
        if (t)
            switch_to(h, t);
    }
}

/* ---- hub ---- */

static void arm_timer(gs_thread *t, int64_t at, int64_t ms);

/* The thread's timer is lazy: a wake leaves it armed, and a wait re-arms
 * it only when it would fire too late. So it may fire for a wait that has
 * ended, or early for a later one: it then only re-arms, or stops. */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    gs_thread *t = arg;
    t->timer_at = 0;
    t->hub->internal--;
    if (t->state != RT_WAITING || !t->wait_until)
        return;
    int64_t left = t->wait_until - gs_now_ms();
    if (left > 0)
        arm_timer(t, t->wait_until, left);
    else
        rt_wake(t, -ETIMEDOUT);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg);

static rt_hub *hub_new(void)
{
    rt_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    struct event_config *cfg = event_config_new();
    if (cfg) {
        /* One hub per OS thread: the base is never shared, needs no lock. */
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
        h->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    rt_stack_pool loop_pool;
    rt_stack_pool_init(&loop_pool, RT_LOOP_STACK);
    h->loop.stack = h->base ? rt_stack_get(&loop_pool) : NULL;
    if (!h->loop.stack) {
        if (h->base)
            event_base_free(h->base);
        free(h);
        return NULL;
    }
    rt_stack_pool_init(&h->stacks, RT_STACK_DEFAULT);
    rt_stack_guard_init();
    h->root.hub = h->loop.hub = h;
    h->root.state = RT_RUNNING;
    h->current = &h->root;
    evtimer_assign(&h->root.timer, h->base, on_timeout, &h->root);
    evtimer_assign(&h->sweep, h->base, on_sweep, h);
    h->loop.ctx = make_fcontext(rt_stack_top(h->loop.stack), RT_LOOP_STACK, loop_main);
    h->loop.asan_bottom = rt_stack_bottom(h->loop.stack);
    h->loop.asan_size = RT_LOOP_STACK;
    return h;
}

rt_hub *rt_hub_get(void)
{
    if (!tls_hub)
        tls_hub = hub_new();
    return tls_hub;
}

rt_hub *rt_hub_peek(void)
{
    return tls_hub;
}

struct event_base *rt_hub_base(rt_hub *h)
{
    return h->base;
}

struct event_base *gs_hub_base(void)
{
    rt_hub *h = rt_hub_get();
    return h ? h->base : NULL;
}

gs_thread *rt_current(void)
{
    rt_hub *h = rt_hub_get();
    return h ? h->current : NULL;
}

int64_t rt_round_ms(void)
{
    rt_hub *h = tls_hub;
    return h && h->round_ms ? h->round_ms : gs_now_ms();
}

void rt_hub_pending(rt_hub *h, int delta)
{
    h->pending += delta;
}

void rt_hub_internal_events(rt_hub *h, int delta)
{
    h->internal += delta;
}

int gs_hub_run(void)
{
    rt_hub *h = rt_hub_get();
    if (!h)
        return -ENOMEM;
    if (h->current != &h->root || h->root_in_run)
        return -EINVAL;
    h->root_in_run = true;
    h->stop = false;
    h->root.state = RT_WAITING;
    h->root.wq = NULL;
    schedule(h);
    h->root_in_run = false;
    return 0;
}

void gs_hub_stop(void)
{
    rt_hub *h = rt_hub_get();
    if (!h)
        return;
    h->stop = true;
    event_base_loopbreak(h->base);
}

void gs_set_stack_size(size_t bytes)
{
    rt_hub *h = rt_hub_get();
    if (h)
        rt_stack_pool_resize(&h->stacks, bytes);
}

/* ---- waiting ---- */

int64_t rt_effective_timeout(gs_thread *t, int64_t timeout_ms)
{
    if (!t->deadline)
        return timeout_ms < 0 ? GS_FOREVER : timeout_ms;
    int64_t left = t->deadline - gs_now_ms();
    if (left < 0)
        left = 0;
    return timeout_ms < 0 || left < timeout_ms ? left : timeout_ms;
}

static void waitq_unlink(gs_thread *t)
{
    rt_waitq *q = t->wq;
    if (t->wq_prev)
        t->wq_prev->wq_next = t->wq_next;
    else
        q->head = t->wq_next;
    if (t->wq_next)
        t->wq_next->wq_prev = t->wq_prev;
    else
        q->tail = t->wq_prev;
    t->wq = NULL;
    t->wq_prev = t->wq_next = NULL;
}

static struct timeval ms_to_tv(int64_t ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

void rt_hub_common_timeout(int64_t ms)
{
    rt_hub *h = rt_hub_get();
    for (int i = 0; h && ms > 0 && i < RT_COMMON_TIMEOUTS; i++) {
        if (h->common[i].ms == ms)
            return;
        if (h->common[i].ms)
            continue;
        struct timeval tv = ms_to_tv(ms);
        h->common[i].tv = event_base_init_common_timeout(h->base, &tv);
        if (h->common[i].tv)
            h->common[i].ms = ms;
        return;
    }
}

/* libevent's handle for a common timeout of ms, or *tv set to ms. */
static const struct timeval *timeout_tv(rt_hub *h, int64_t ms, struct timeval *tv)
{
    for (int i = 0; i < RT_COMMON_TIMEOUTS && h->common[i].ms; i++)
        if (h->common[i].ms == ms)
            return h->common[i].tv;
    *tv = ms_to_tv(ms);
    return tv;
}

static void arm_timer(gs_thread *t, int64_t at, int64_t ms)
{
    struct timeval tv;
    event_add(&t->timer, timeout_tv(t->hub, ms, &tv));
    if (!t->timer_at)
        t->hub->internal++; /* an armed timer alone keeps no hub running */
    t->timer_at = at;
}

/* Park t on q until `at` (a gs_now_ms time; 0: no end), `now` being the
 * clock if the caller read it, else 0. A keep-alive connection waits with
 * the same timeout after every request: its timer, armed for the first
 * wait, still fires before the next one's end and is left alone, and the
 * clock is not even read. Adding and deleting a libevent timer per wait
 * cost more than the rest of the wait. A deadline already past with such
 * a timer armed ends the wait when that timer fires, in the next round. */
static int park_until(rt_hub *h, gs_thread *t, rt_waitq *q, int64_t at, int64_t now)
{
    if (at && (!t->timer_at || t->timer_at > at)) {
        if (!now)
            now = gs_now_ms();
        if (at <= now)
            return -ETIMEDOUT;
        arm_timer(t, at, at - now);
    }
    if (q) {
        t->wq = q;
        t->wq_next = NULL;
        t->wq_prev = q->tail;
        if (q->tail)
            q->tail->wq_next = t;
        else
            q->head = t;
        q->tail = t;
    }
    t->wait_until = at;
    if (at)
        h->pending++; /* the timed wait, not its timer, keeps the hub up */
    t->state = RT_WAITING;
    t->wake = 0;
    schedule(h);
    if (at)
        h->pending--;
    return t->wake;
}

int rt_wait(rt_waitq *q, int64_t timeout_ms)
{
    rt_hub *h = rt_hub_get();
    gs_thread *t = h->current;
    if (t == &h->loop)
        return -EDEADLK; /* a libevent callback cannot park */
    if (t->cancelled && !t->uninterruptible)
        return -ECANCELED;
    int64_t to = rt_effective_timeout(t, timeout_ms);
    if (to == 0)
        return -ETIMEDOUT;
    int64_t now = to > 0 ? gs_now_ms() : 0;
    return park_until(h, t, q, to > 0 ? now + to : 0, now);
}

int rt_wait_until(rt_waitq *q, int64_t at)
{
    rt_hub *h = rt_hub_get();
    gs_thread *t = h->current;
    if (t == &h->loop)
        return -EDEADLK;
    if (t->cancelled && !t->uninterruptible)
        return -ECANCELED;
    if (t->deadline && (!at || t->deadline < at))
        at = t->deadline;
    return park_until(h, t, q, at, 0);
}

void rt_wake(gs_thread *t, int result)
{
    if (t->state != RT_WAITING)
        return;
    if (t->wq)
        waitq_unlink(t);
    t->wake = result;
    push_next(t->hub, t);
}

int rt_wake_one(rt_waitq *q, int result)
{
    if (!q->head)
        return 0;
    rt_wake(q->head, result);
    return 1;
}

int rt_wake_all(rt_waitq *q, int result)
{
    int n = 0;
    while (q->head) {
        rt_wake(q->head, result);
        n++;
    }
    return n;
}

/* ---- interruptible waits ----
 * The hub lists the threads in an interruptible wait so that a drain
 * reaches each of them without a scan over every thread. A woken thread
 * stays listed until it runs again and leaves the list itself. */

static void intr_link(rt_hub *h, gs_thread *t)
{
    t->intr_prev = NULL;
    t->intr_next = h->intr_head;
    if (h->intr_head)
        h->intr_head->intr_prev = t;
    h->intr_head = t;
}

static void intr_unlink(rt_hub *h, gs_thread *t)
{
    if (t->intr_prev)
        t->intr_prev->intr_next = t->intr_next;
    else
        h->intr_head = t->intr_next;
    if (t->intr_next)
        t->intr_next->intr_prev = t->intr_prev;
    t->intr_prev = t->intr_next = NULL;
}

/* ---- stashing the stacks of long waits ----
 * A thread that has stayed in an interruptible wait (a long-poll, a stream
 * waiting for news) for a whole sweep period will likely stay longer: its
 * stack's bytes in use go to the heap and its pages back to the kernel,
 * until it is switched to again. A parked long-poll then costs the bytes
 * its frames use, not a page (gs_set_stash_after sets the period). What a
 * waker or a callback touches while a thread waits must therefore live in
 * gs_thread or on the heap, never on the waiting thread's stack. */
static _Atomic int64_t stash_after_ms = 1000; /* the sweep's period */

void gs_set_stash_after(int64_t ms)
{
    atomic_store_explicit(&stash_after_ms, ms, memory_order_relaxed);
}

static void sweep_arm(rt_hub *h)
{
    int64_t ms = atomic_load_explicit(&stash_after_ms, memory_order_relaxed);
    if (ms <= 0)
        return;
    struct timeval tv = ms_to_tv(ms);
    event_add(&h->sweep, &tv);
    h->sweep_armed = true;
    h->internal++; /* it alone does not keep the hub running */
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    rt_hub *h = arg;
    h->sweep_armed = false;
    h->internal--;
    bool on = atomic_load_explicit(&stash_after_ms, memory_order_relaxed) > 0;
    for (gs_thread *t = h->intr_head; on && t; t = t->intr_next) {
        bool cold = t->state == RT_WAITING && t->park_tick != h->sweep_tick;
        if (cold && t->stack && !t->stash)
            t->stash = rt_stack_stash(t->stack, t->ctx, &t->stash_len);
    }
    h->sweep_tick++;
    if (h->intr_head)
        sweep_arm(h);
}

int rt_wait_interruptible(rt_waitq *q, int64_t timeout_ms)
{
    rt_hub *h = rt_hub_get();
    gs_thread *t = h->current;
    if (t->cancelled)
        return -ECANCELED;
    if (t->interrupt)
        return t->interrupt;
    if (h->draining)
        return -ESHUTDOWN;
    intr_link(h, t);
    t->park_tick = h->sweep_tick;
    if (!h->sweep_armed)
        sweep_arm(h);
    t->interruptible = true;
    int r = rt_wait(q, timeout_ms);
    t->interruptible = false;
    intr_unlink(h, t);
    return r;
}

bool rt_interrupt(gs_thread *t, int err)
{
    t->interrupt = err < 0 ? err : 0;
    if (!t->interrupt || !t->interruptible || t->state != RT_WAITING)
        return false;
    rt_wake(t, err);
    return true;
}

void rt_hub_drain(void)
{
    rt_hub *h = rt_hub_get();
    if (!h)
        return;
    h->draining = true;
    for (gs_thread *t = h->intr_head; t; t = t->intr_next)
        rt_wake(t, -ESHUTDOWN); /* a no-op for those already woken */
}

bool gs_draining(void)
{
    rt_hub *h = rt_hub_peek();
    return h && h->draining;
}

/* ---- green threads ---- */

static void thread_exit(rt_hub *h, gs_thread *t)
{
    rt_link *l = t->links;
    while (l) {
        rt_link *next = l->next;
        l->cb(t, t->result, l->arg);
        free(l);
        l = next;
    }
    t->links = NULL;
    rt_wake_all(&t->joiners, 0);
    if (t->timer_at) {
        event_del(&t->timer); /* t may be freed once it is dead */
        h->internal--;
    }
    h->live--;
    t->state = RT_DEAD;
    schedule(h); /* never returns: the next thread frees our stack */
}

static void thread_main(rt_transfer tr)
{
    rt_hub *h = tls_hub;
    gs_thread *t = h->current;
    asan_finish(t, tr.data);
    after_switch(h, tr);
    t->result = t->fn(t->arg);
    thread_exit(h, t);
}

static gs_thread *spawn(gs_fn fn, void *arg, bool detached)
{
    rt_hub *h = rt_hub_get();
    if (!h)
        return NULL;
    size_t size = (sizeof(gs_thread) + 63) & ~(size_t)63;
    gs_thread *t = aligned_alloc(64, size);
    if (!t)
        return NULL;
    memset(t, 0, size);
    t->stack = rt_stack_get(&h->stacks);
    if (!t->stack) {
        free(t);
        return NULL;
    }
    t->hub = h;
    t->fn = fn;
    t->arg = arg;
    t->detached = detached;
    t->asan_bottom = rt_stack_bottom(t->stack);
    t->asan_size = (char *)rt_stack_top(t->stack) - (char *)t->asan_bottom;
    t->ctx = make_fcontext(rt_stack_top(t->stack), t->asan_size, thread_main);
    evtimer_assign(&t->timer, h->base, on_timeout, t);
    h->live++;
    push_next(h, t);
    return t;
}

gs_thread *gs_spawn(gs_fn fn, void *arg)
{
    return spawn(fn, arg, false);
}

int gs_spawn_n(gs_fn fn, void *arg)
{
    return spawn(fn, arg, true) ? 0 : -ENOMEM;
}

int gs_join(gs_thread *t, void **result, int64_t timeout_ms)
{
    if (!t)
        return -EINVAL;
    if (t == rt_current())
        return -EDEADLK;
    if (t->state != RT_DEAD) {
        int r = rt_wait(&t->joiners, timeout_ms);
        if (r < 0)
            return r;
    }
    if (result)
        *result = t->result;
    free(t);
    return 0;
}

int gs_kill(gs_thread *t)
{
    if (!t)
        return -EINVAL;
    if (t->state == RT_DEAD)
        return 0;
    t->cancelled = true;
    if (t->state == RT_WAITING && !t->uninterruptible)
        rt_wake(t, -ECANCELED);
    return 0;
}

int gs_yield(void)
{
    rt_hub *h = rt_hub_get();
    gs_thread *t = h->current;
    if (t->cancelled)
        return -ECANCELED;
    if (t == &h->loop)
        return -EDEADLK;
    push_next(h, t);
    schedule(h);
    return 0;
}

int gs_sleep(int64_t ms)
{
    if (ms <= 0)
        return gs_yield();
    gs_thread *t = rt_current();
    bool by_deadline = t->deadline && t->deadline < gs_now_ms() + ms;
    int r = rt_wait(NULL, ms);
    return r == -ETIMEDOUT && !by_deadline ? 0 : r;
}

int gs_link(gs_thread *t, void (*cb)(gs_thread *, void *, void *), void *arg)
{
    if (t->state == RT_DEAD) {
        cb(t, t->result, arg);
        return 0;
    }
    rt_link *l = malloc(sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->cb = cb;
    l->arg = arg;
    l->next = NULL;
    rt_link **p = &t->links;
    while (*p)
        p = &(*p)->next;
    *p = l;
    return 0;
}

gs_thread *gs_self(void)
{
    return rt_current();
}

bool gs_cancelled(void)
{
    gs_thread *t = rt_current();
    return t && t->cancelled;
}

void gs_deadline_begin(gs_deadline *d, int64_t ms)
{
    gs_thread *t = rt_current();
    d->prev = t->deadline;
    if (ms < 0)
        return;
    int64_t at = gs_now_ms() + ms;
    if (at == 0)
        at = 1; /* 0 means "no deadline" */
    if (!t->deadline || at < t->deadline)
        t->deadline = at;
}

void gs_deadline_end(gs_deadline *d)
{
    rt_current()->deadline = d->prev;
}
