/*
 * hub.h -- the scheduler inside the runtime: green threads, the per-OS-
 * thread hub, and the one primitive every wait is built on (rt_wait /
 * rt_wake). Other runtime modules build queues, events and I/O on it.
 */
#ifndef RT_HUB_H
#define RT_HUB_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "greenserve.h"
#include "runtime/fcontext.h"
#include "runtime/stack.h"

typedef struct rt_hub rt_hub;

/* A list of parked green threads, served first in, first out. */
typedef struct rt_waitq {
    gs_thread *head, *tail;
} rt_waitq;

typedef struct rt_link rt_link;

enum rt_state { RT_READY, RT_RUNNING, RT_WAITING, RT_DEAD };

struct gs_thread {
    /* What a wait, a wake and a switch touch comes first: the two cache
     * lines the struct starts with (it is allocated aligned to them). */
    rt_fctx ctx; /* where to resume it */
    rt_hub *hub;
    enum rt_state state;
    bool cancelled;       /* gs_kill'd: every wait returns -ECANCELED */
    bool detached;        /* freed at exit, nobody joins */
    bool uninterruptible; /* the current wait ignores kill (offload) */
    bool interruptible;   /* the current wait ends on rt_interrupt, drain */
    int interrupt;        /* rt_interrupt's error, sticky; 0 = none */
    int wake;             /* what the current wait returns */
    gs_thread *run_next;  /* run queue link */
    rt_waitq *wq;         /* the queue it is parked on, if any */
    gs_thread *wq_prev, *wq_next;
    void *stash;        /* the stack's content while stashed (see hub.c) */
    void *wait_data;    /* a value handed over by the waker */
    int64_t deadline;   /* absolute gs_now_ms bound on waits; 0 = none */
    int64_t timer_at;   /* when the armed timer fires; 0 = not armed */
    int64_t wait_until; /* when the current wait times out; 0 = never */
    /* Links in the hub's list of interruptible waits. */
    gs_thread *intr_prev, *intr_next;
    unsigned park_tick; /* the hub's sweep count when the wait began */
    /* The rest is for starting, ending and timing out. */
    rt_stack *stack; /* NULL for the root and once dead */
    gs_fn fn;
    void *arg;
    void *result;
    struct event timer; /* wait timeouts, armed lazily (see rt_wait) */
    rt_waitq joiners;
    rt_link *links;
    size_t stash_len;
    void *asan_fake_stack;
    const void *asan_bottom;
    size_t asan_size;
};

/* The hub of the calling OS thread, created on first use (NULL if out of
 * memory). */
rt_hub *rt_hub_get(void);
/* The calling OS thread's hub if it has one, without creating it. */
rt_hub *rt_hub_peek(void);
struct event_base *rt_hub_base(rt_hub *h);

/* gs_now_ms() as of the hub's last poll, which found what woke the
 * running thread: one clock read per round, not one per request. Behind
 * the clock by what ran since (CPU only): for timestamps, and for the
 * start of a long timeout on a thread the loop just woke (a few
 * milliseconds early is nothing to a keep-alive timeout); not for a wait
 * on a hub that may not have polled for long (a handler's OS thread). */
int64_t rt_round_ms(void);

/* The running green thread (the root when none). */
gs_thread *rt_current(void);

/* Park the current green thread on q (which may be NULL: only a timeout,
 * a kill or an explicit rt_wake ends the wait) for at most timeout_ms.
 * Returns what the waker passed to rt_wake, -ETIMEDOUT, -ECANCELED, or
 * -EDEADLK when nothing is left that could ever wake it. */
int rt_wait(rt_waitq *q, int64_t timeout_ms);

/* As rt_wait, until `at`, a gs_now_ms() time (0: no end): for callers
 * that keep a deadline over several waits. Reads no clock when the
 * thread's timer already fires before `at`. */
int rt_wait_until(rt_waitq *q, int64_t at);

/* Make t runnable; its rt_wait returns `result`. No-op unless t waits.
 * Never switches. */
void rt_wake(gs_thread *t, int result);

/* Wake the longest waiter / every waiter of q. Return how many woke. */
int rt_wake_one(rt_waitq *q, int result);
int rt_wake_all(rt_waitq *q, int result);
static inline bool rt_waitq_empty(const rt_waitq *q)
{
    return q->head == NULL;
}

/* As rt_wait, but the wait is interruptible: it also ends with the
 * thread's interrupt error (rt_interrupt) or, once the hub drains, with
 * -ESHUTDOWN; either is returned at once if already set. For waits that
 * should end when their client leaves or their worker retires (channel
 * waits, http_wait). */
int rt_wait_interruptible(rt_waitq *q, int64_t timeout_ms);

/* From now on, t's interruptible waits end with err (< 0), the current one
 * at once; its other waits are not affected. err 0 clears it. Returns
 * whether a wait was ended. Never switches; call it on t's hub thread. */
bool rt_interrupt(gs_thread *t, int err);

/* The worker is retiring: gs_draining() turns true and every interruptible
 * wait of the calling thread's hub, current or later, ends with
 * -ESHUTDOWN. O(interruptible waiters). Never switches. */
void rt_hub_drain(void);

/* Declare ms a common timeout of the calling thread's hub: waits of
 * exactly ms then keep their timers in one libevent FIFO (O(1) to add and
 * to delete) instead of its heap (O(log n)), which pays with tens of
 * thousands of long-polls parked with the same timeout. The first few
 * durations declared are kept; later ones are ignored. Never switches. */
void rt_hub_common_timeout(int64_t ms);

/* Bookkeeping that tells the hub a wait without an event of its own is
 * pending (thread pool jobs), and how many registered events are the
 * runtime's own and must not keep gs_hub_run alive. */
void rt_hub_pending(rt_hub *h, int delta);
void rt_hub_internal_events(rt_hub *h, int delta);

/* Effective timeout for a wait of timeout_ms under the current deadline:
 * GS_FOREVER, or >= 0. */
int64_t rt_effective_timeout(gs_thread *t, int64_t timeout_ms);

#endif
