/*
 * sync.c -- events, queues, semaphores and green pools, all on rt_wait.
 *
 * One rule makes them safe against kills and timeouts: whatever a waiter
 * is owed (a value, a queue item, a semaphore unit, a pool slot) is handed
 * to it by the waker together with rt_wake(t, 0), never left behind for
 * it to pick up later. rt_wake only acts on a thread that still waits and
 * unlinks it from its queue, so exactly one of "handed over", "timed out"
 * and "killed" ends a wait: a waiter that timed out or was killed is no
 * longer on the queue and gets nothing, and one that was handed something
 * keeps it even if it is killed before it runs again. The waker never
 * switches, so every release may be called from a libevent callback.
 *
 * Waiters exist only while the resource is exhausted (an event unsent, a
 * queue empty or full, a semaphore or pool at zero), and a release serves
 * the longest waiter first, so nobody can overtake a parked thread.
 */
#include <errno.h>
#include <stdlib.h>

#include "runtime/hub.h"

/* Objects freed with threads still parked on them wake those threads with
 * this, rather than leaving them linked into freed memory. */
#define RT_GONE (-EIDRM)

/* Hand data to the longest waiter of q and make its wait return 0. */
static void hand_to_first(rt_waitq *q, void *data)
{
    gs_thread *t = q->head;
    t->wait_data = data;
    rt_wake(t, 0);
}

/* Park on q; on a hand-over, store what was handed in *data. */
static int wait_for_data(rt_waitq *q, void **data, int64_t timeout_ms)
{
    int r = rt_wait(q, timeout_ms);
    if (r == 0 && data)
        *data = rt_current()->wait_data;
    return r;
}

/* ---- event ---- */

struct gs_event {
    rt_waitq waiters;
    void *value;
    int result; /* 0 or the error sent */
    bool sent;
};

gs_event *gs_event_new(void)
{
    return calloc(1, sizeof(gs_event));
}

void gs_event_free(gs_event *ev)
{
    if (!ev)
        return;
    rt_wake_all(&ev->waiters, RT_GONE);
    free(ev);
}

/* Each waiter gets the value in its own thread, so the event may be freed
 * as soon as it is sent, before the woken waiters have run. */
static int event_fire(gs_event *ev, void *value, int result)
{
    if (ev->sent)
        return -EALREADY;
    ev->sent = true;
    ev->value = value;
    ev->result = result;
    while (!rt_waitq_empty(&ev->waiters)) {
        ev->waiters.head->wait_data = value;
        rt_wake(ev->waiters.head, result);
    }
    return 0;
}

int gs_event_send(gs_event *ev, void *value)
{
    return event_fire(ev, value, 0);
}

int gs_event_send_error(gs_event *ev, int err)
{
    if (err >= 0)
        return -EINVAL;
    return event_fire(ev, NULL, err);
}

int gs_event_poll(const gs_event *ev, void **value)
{
    if (!ev->sent)
        return -EAGAIN;
    if (ev->result == 0 && value)
        *value = ev->value;
    return ev->result;
}

int gs_event_wait(gs_event *ev, void **value, int64_t timeout_ms)
{
    if (ev->sent)
        return gs_event_poll(ev, value);
    return wait_for_data(&ev->waiters, value, timeout_ms);
}

bool gs_event_ready(const gs_event *ev)
{
    return ev->sent;
}

/* ---- queue ----
 * A ring of item pointers, allocated on first put, doubled when full (up
 * to the capacity when bounded) and halved when a quarter full. Getters
 * park only while the ring is empty, putters only while it is full; a
 * putter parks with its item in its own wait_data, and the getter that
 * makes room moves it in. */

struct gs_queue {
    void **ring;
    size_t size;     /* slots allocated */
    size_t head;     /* oldest item */
    size_t len;      /* items in the ring */
    size_t capacity; /* 0 = unbounded */
    rt_waitq getters, putters;
};

#define RING_MIN 8

gs_queue *gs_queue_new(size_t capacity)
{
    gs_queue *q = calloc(1, sizeof(*q));
    if (q)
        q->capacity = capacity;
    return q;
}

void gs_queue_free(gs_queue *q)
{
    if (!q)
        return;
    rt_wake_all(&q->getters, RT_GONE);
    rt_wake_all(&q->putters, RT_GONE);
    free(q->ring);
    free(q);
}

size_t gs_queue_len(const gs_queue *q)
{
    return q->len;
}

static bool queue_full(const gs_queue *q)
{
    return q->capacity && q->len >= q->capacity;
}

/* Reallocate the ring to `size` slots, unwrapping it to start at 0. */
static int ring_resize(gs_queue *q, size_t size)
{
    void **ring = malloc(size * sizeof(*ring));
    if (!ring)
        return -ENOMEM;
    for (size_t i = 0; i < q->len; i++)
        ring[i] = q->ring[(q->head + i) % q->size];
    free(q->ring);
    q->ring = ring;
    q->size = size;
    q->head = 0;
    return 0;
}

static int ring_push(gs_queue *q, void *item)
{
    if (q->len == q->size) {
        size_t size = q->size ? q->size * 2 : RING_MIN;
        if (q->capacity && size > q->capacity)
            size = q->capacity;
        if (size <= q->size || size > SIZE_MAX / sizeof(void *))
            return -ENOMEM;
        int r = ring_resize(q, size);
        if (r < 0)
            return r;
    }
    q->ring[(q->head + q->len) % q->size] = item;
    q->len++;
    return 0;
}

/* Halve the ring once it is a quarter full, so a burst does not pin its
 * memory for the queue's life (a failed shrink just keeps the ring). */
static void *ring_pop(gs_queue *q)
{
    void *item = q->ring[q->head];
    q->head = (q->head + 1) % q->size;
    q->len--;
    if (q->size > RING_MIN && q->len <= q->size / 4)
        ring_resize(q, q->size / 2);
    return item;
}

int gs_queue_put(gs_queue *q, void *item, int64_t timeout_ms)
{
    if (!rt_waitq_empty(&q->getters)) {
        hand_to_first(&q->getters, item); /* the ring is empty: no one is overtaken */
        return 0;
    }
    if (!queue_full(q))
        return ring_push(q, item);
    rt_current()->wait_data = item;
    return rt_wait(&q->putters, timeout_ms);
}

/* A slot just freed up: the longest-waiting putter's item takes it, and
 * that putter's put succeeds. The pop left room, so the push cannot fail. */
static void admit_putter(gs_queue *q)
{
    if (rt_waitq_empty(&q->putters))
        return;
    gs_thread *t = q->putters.head;
    ring_push(q, t->wait_data);
    rt_wake(t, 0);
}

int gs_queue_get(gs_queue *q, void **item, int64_t timeout_ms)
{
    if (q->len == 0)
        return wait_for_data(&q->getters, item, timeout_ms);
    void *it = ring_pop(q);
    admit_putter(q);
    if (item)
        *item = it;
    return 0;
}

/* ---- semaphore ---- */

struct gs_sem {
    unsigned value;
    rt_waitq waiters; /* only while value == 0 */
};

gs_sem *gs_sem_new(unsigned value)
{
    gs_sem *s = calloc(1, sizeof(*s));
    if (s)
        s->value = value;
    return s;
}

void gs_sem_free(gs_sem *s)
{
    if (!s)
        return;
    rt_wake_all(&s->waiters, RT_GONE);
    free(s);
}

int gs_sem_acquire(gs_sem *s, int64_t timeout_ms)
{
    if (s->value > 0) {
        s->value--;
        return 0;
    }
    return rt_wait(&s->waiters, timeout_ms);
}

/* A parked acquirer takes the unit directly: the count never rises while
 * someone waits, so a later acquire cannot overtake it. */
void gs_sem_release(gs_sem *s)
{
    if (!rt_wake_one(&s->waiters, 0))
        s->value++;
}

/* ---- pool ----
 * `running` counts slots taken: tasks alive plus slots handed to spawners
 * that have not started their task yet. Each task keeps a link to the
 * pool, cut by gs_pool_free so tasks outliving their pool stay safe. */

typedef struct pool_task pool_task;

struct gs_pool {
    unsigned size;
    unsigned running;
    int failed;        /* since the last waitall */
    rt_waitq spawners; /* waiting for a slot */
    rt_waitq idlers;   /* in waitall */
    pool_task *tasks;  /* alive */
};

struct pool_task {
    gs_pool *pool; /* NULL once the pool is freed */
    int (*fn)(void *arg);
    void *arg;
    pool_task *prev, *next;
};

gs_pool *gs_pool_new(unsigned size)
{
    if (size == 0)
        return NULL;
    gs_pool *p = calloc(1, sizeof(*p));
    if (p)
        p->size = size;
    return p;
}

void gs_pool_free(gs_pool *p)
{
    if (!p)
        return;
    for (pool_task *t = p->tasks; t; t = t->next)
        t->pool = NULL;
    rt_wake_all(&p->spawners, RT_GONE);
    rt_wake_all(&p->idlers, RT_GONE);
    free(p);
}

unsigned gs_pool_running(const gs_pool *p)
{
    return p->running;
}

/* A slot is free again: the longest-waiting spawner takes it, or, when
 * the pool has gone idle, every waitall returns the failures so far. */
static void pool_release(gs_pool *p)
{
    if (rt_wake_one(&p->spawners, 0))
        return;
    if (--p->running > 0 || rt_waitq_empty(&p->idlers))
        return;
    rt_wake_all(&p->idlers, p->failed);
    p->failed = 0;
}

static void task_unlink(gs_pool *p, pool_task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        p->tasks = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void *task_main(void *arg)
{
    pool_task *t = arg;
    int r = t->fn(t->arg);
    gs_pool *p = t->pool;
    if (p) {
        task_unlink(p, t);
        if (r < 0)
            p->failed++;
        pool_release(p);
    }
    free(t);
    return NULL;
}

/* Start a task in a slot the caller already holds. */
static int task_start(gs_pool *p, int (*fn)(void *arg), void *arg)
{
    pool_task *t = malloc(sizeof(*t));
    if (!t)
        return -ENOMEM;
    *t = (pool_task){.pool = p, .fn = fn, .arg = arg, .next = p->tasks};
    if (gs_spawn_n(task_main, t) < 0) {
        free(t);
        return -ENOMEM;
    }
    if (p->tasks)
        p->tasks->prev = t;
    p->tasks = t;
    return 0;
}

int gs_pool_spawn(gs_pool *p, int (*fn)(void *arg), void *arg, int64_t timeout_ms)
{
    if (p->running < p->size) {
        p->running++;
    } else {
        int r = rt_wait(&p->spawners, timeout_ms);
        if (r < 0)
            return r;
    }
    int r = task_start(p, fn, arg);
    if (r < 0)
        pool_release(p);
    return r;
}

int gs_pool_waitall(gs_pool *p, int64_t timeout_ms)
{
    if (p->running > 0)
        return rt_wait(&p->idlers, timeout_ms);
    int failed = p->failed;
    p->failed = 0;
    return failed;
}
