/* Synchronisation: events, queues, semaphores, green pools. Every kind of
 * wait is tested for timeouts and kills; the queue hand-off for losing or
 * duplicating no item whoever wins; the seeds' examples for the exact
 * order in which threads run. */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "greenserve.h"

static char order[256];

static void note(const char *s)
{
    strcat(order, s);
    strcat(order, ";");
}

/* A wait run in its own green thread, so the test can kill or time it. */
typedef struct op {
    void *obj;
    int64_t timeout;
    void *item;   /* in: what to put; out: what was got */
    int r, again; /* the wait's result, and a second wait's */
    const char *name;
    gs_event *done; /* sent by callbacks once they have run */
} op;

static gs_thread *start(gs_fn fn, op *o)
{
    gs_thread *t = gs_spawn(fn, o);
    cr_assert_not_null(t);
    return t;
}

static void join(gs_thread *t)
{
    cr_assert_eq(gs_join(t, NULL, 5000), 0);
}

static int64_t elapsed_since(int64_t t0)
{
    return gs_now_ms() - t0;
}

/* ------------------------------------------------------------------ event */

static void *event_waiter(void *arg)
{
    op *o = arg;
    o->r = gs_event_wait(o->obj, &o->item, o->timeout);
    if (o->name)
        note(o->name);
    o->again = gs_event_wait(o->obj, NULL, 0);
    return NULL;
}

static void *event_sender_func3(void *arg)
{
    note("func3 begin");
    cr_assert_eq(gs_event_send(arg, "v"), 0);
    note("func3 exit");
    return NULL;
}

/* The seeds' event example: sending wakes the waiters but does not switch
 * to them, so func3 runs to its end before func1 and func2 resume. */
Test(event, seeds_order_sender_finishes_first, .timeout = 5)
{
    order[0] = 0;
    gs_event *ev = gs_event_new();
    op a = {.obj = ev, .timeout = GS_FOREVER, .name = "func1"};
    op b = {.obj = ev, .timeout = GS_FOREVER, .name = "func2"};
    gs_thread *t1 = start(event_waiter, &a);
    gs_thread *t2 = start(event_waiter, &b);
    gs_thread *t3 = gs_spawn(event_sender_func3, ev);
    join(t1), join(t2), join(t3);
    cr_assert_str_eq(order, "func3 begin;func3 exit;func1;func2;");
    cr_assert_eq(a.r, 0);
    cr_assert_str_eq(a.item, "v");
    cr_assert_str_eq(b.item, "v");
    gs_event_free(ev);
}

Test(event, send_then_wait_poll_ready)
{
    gs_event *ev = gs_event_new();
    void *v = NULL;
    cr_assert_not(gs_event_ready(ev));
    cr_assert_eq(gs_event_poll(ev, &v), -EAGAIN);
    cr_assert_eq(gs_event_send(ev, (void *)5), 0);
    cr_assert(gs_event_ready(ev));
    cr_assert_eq(gs_event_poll(ev, &v), 0);
    cr_assert_eq((long)v, 5);
    v = NULL;
    cr_assert_eq(gs_event_wait(ev, &v, 0), 0); /* sent: no wait, no timeout */
    cr_assert_eq((long)v, 5);
    gs_event_free(ev);
}

Test(event, send_twice_is_already)
{
    gs_event *ev = gs_event_new();
    cr_assert_eq(gs_event_send(ev, (void *)1), 0);
    cr_assert_eq(gs_event_send(ev, (void *)2), -EALREADY);
    cr_assert_eq(gs_event_send_error(ev, -EPIPE), -EALREADY);
    void *v;
    cr_assert_eq(gs_event_wait(ev, &v, 0), 0);
    cr_assert_eq((long)v, 1, "the first send wins");
    gs_event_free(ev);
}

Test(event, send_error_rejects_non_negative)
{
    gs_event *ev = gs_event_new();
    cr_assert_eq(gs_event_send_error(ev, 0), -EINVAL);
    cr_assert_eq(gs_event_send_error(ev, EPIPE), -EINVAL);
    cr_assert_not(gs_event_ready(ev));
    gs_event_free(ev);
}

Test(event, send_error_reaches_every_waiter, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    op w[3];
    gs_thread *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (op){.obj = ev, .timeout = GS_FOREVER, .item = (void *)-1};
        t[i] = start(event_waiter, &w[i]);
    }
    gs_yield();
    cr_assert_eq(gs_event_send_error(ev, -EPIPE), 0);
    for (int i = 0; i < 3; i++) {
        join(t[i]);
        cr_assert_eq(w[i].r, -EPIPE);
        cr_assert_eq(w[i].again, -EPIPE);
        cr_assert_eq(w[i].item, (void *)-1, "no value stored on error");
    }
    void *v = NULL;
    cr_assert_eq(gs_event_poll(ev, &v), -EPIPE);
    cr_assert_eq(gs_event_wait(ev, &v, GS_FOREVER), -EPIPE);
    gs_event_free(ev);
}

Test(event, wait_times_out, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    cr_assert_eq(gs_event_wait(ev, NULL, 0), -ETIMEDOUT);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_event_wait(ev, NULL, 30), -ETIMEDOUT);
    cr_assert_geq(elapsed_since(t0), 25);
    cr_assert_lt(elapsed_since(t0), 1000);
    cr_assert_eq(gs_event_send(ev, NULL), 0, "a timed-out wait leaves the event usable");
    gs_event_free(ev);
}

Test(event, deadline_bounds_wait, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    gs_deadline d;
    gs_deadline_begin(&d, 20);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_event_wait(ev, NULL, GS_FOREVER), -ETIMEDOUT);
    gs_deadline_end(&d);
    cr_assert_lt(elapsed_since(t0), 1000);
    gs_event_free(ev);
}

/* A killed waiter leaves the queue: the send still reaches the others. */
Test(event, kill_while_waiting, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    op a = {.obj = ev, .timeout = GS_FOREVER};
    op b = {.obj = ev, .timeout = GS_FOREVER};
    gs_thread *ta = start(event_waiter, &a);
    gs_thread *tb = start(event_waiter, &b);
    gs_yield();
    cr_assert_eq(gs_kill(ta), 0);
    cr_assert_eq(gs_event_send(ev, (void *)3), 0);
    join(ta), join(tb);
    cr_assert_eq(a.r, -ECANCELED);
    cr_assert_null(a.item);
    cr_assert_eq(b.r, 0);
    cr_assert_eq((long)b.item, 3);
    gs_event_free(ev);
}

/* Sent, then killed before it ran: the send had already won. */
Test(event, send_wins_over_later_kill, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    op a = {.obj = ev, .timeout = GS_FOREVER};
    gs_thread *ta = start(event_waiter, &a);
    gs_yield();
    gs_event_send(ev, (void *)9);
    gs_kill(ta);
    join(ta);
    cr_assert_eq(a.r, 0);
    cr_assert_eq((long)a.item, 9);
    gs_event_free(ev);
}

/* The waiters get the value in their own thread: the event may be freed
 * right after the send, before they run (ASan would see a stale read). */
Test(event, free_right_after_send, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    op a = {.obj = NULL, .timeout = GS_FOREVER};
    a.obj = ev;
    gs_thread *ta = gs_spawn(event_waiter, &a);
    gs_yield();
    gs_event_send(ev, (void *)4);
    a.obj = gs_event_new(); /* for its second wait */
    gs_event_free(ev);
    join(ta);
    cr_assert_eq(a.r, 0);
    cr_assert_eq((long)a.item, 4);
    gs_event_free(a.obj);
}

Test(event, free_with_waiters_wakes_them, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    op a = {.obj = ev, .timeout = GS_FOREVER};
    gs_thread *ta = gs_spawn(event_waiter, &a);
    gs_yield();
    a.obj = gs_event_new();
    gs_event_free(ev);
    join(ta);
    cr_assert_eq(a.r, -EIDRM);
    gs_event_free(a.obj);
}

static void send_from_callback(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    op *o = arg;
    o->r = gs_event_send(o->obj, (void *)77);
    o->again = 1; /* still in the callback after the send: it did not switch */
}

/* The future use: libevent callback code on the hub's base resolves the
 * event a green thread (here the root) is blocked on. */
Test(event, sent_from_libevent_callback, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    op cb = {.obj = ev, .r = 1};
    struct event *timer = evtimer_new(gs_hub_base(), send_from_callback, &cb);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 10000};
    evtimer_add(timer, &tv);
    void *v = NULL;
    cr_assert_eq(gs_event_wait(ev, &v, 5000), 0);
    cr_assert_eq((long)v, 77);
    cr_assert_eq(cb.r, 0);
    cr_assert_eq(cb.again, 1);
    event_free(timer);
    gs_event_free(ev);
}

Test(event, callback_wakes_green_thread, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    op cb = {.obj = ev, .r = 1};
    op w = {.obj = ev, .timeout = GS_FOREVER};
    gs_thread *t = start(event_waiter, &w);
    struct event *timer = evtimer_new(gs_hub_base(), send_from_callback, &cb);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 5000};
    evtimer_add(timer, &tv);
    join(t);
    cr_assert_eq(w.r, 0);
    cr_assert_eq((long)w.item, 77);
    event_free(timer);
    gs_event_free(ev);
}

static void wait_from_callback(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    op *o = arg;
    o->r = gs_event_wait(o->obj, NULL, 1000); /* callbacks cannot park */
    o->again = gs_queue_get(o->item, &o->item, 1000);
    gs_event_send(o->done, NULL);
}

/* Callback code may use what does not wait; a wait that would park is
 * refused at once instead of blocking the whole loop. */
Test(event, wait_from_callback_is_refused, .timeout = 5)
{
    gs_queue *q = gs_queue_new(0);
    gs_queue_put(q, (void *)3, 0);
    op cb = {.obj = gs_event_new(), .item = q, .done = gs_event_new()};
    struct event *timer = evtimer_new(gs_hub_base(), wait_from_callback, &cb);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 1000};
    evtimer_add(timer, &tv);
    cr_assert_eq(gs_event_wait(cb.done, NULL, 5000), 0);
    cr_assert_eq(cb.r, -EDEADLK);
    cr_assert_eq(cb.again, 0, "the queue had an item: no wait needed");
    cr_assert_eq((long)cb.item, 3);
    event_free(timer);
    gs_event_free(cb.obj);
    gs_event_free(cb.done);
    gs_queue_free(q);
}

/* The root waiting with nothing left that could ever wake it gets
 * -EDEADLK instead of hanging. */
Test(event, root_wait_nobody_can_end_is_deadlock, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    cr_assert_eq(gs_event_wait(ev, NULL, GS_FOREVER), -EDEADLK);
    gs_queue *q = gs_queue_new(0);
    cr_assert_eq(gs_queue_get(q, NULL, GS_FOREVER), -EDEADLK);
    gs_queue_free(q);
    gs_event_free(ev);
}

/* ------------------------------------------------------------------ queue */

static void *getter(void *arg)
{
    op *o = arg;
    o->r = gs_queue_get(o->obj, &o->item, o->timeout);
    if (o->name) {
        char s[32];
        snprintf(s, sizeof(s), "%s %ld", o->name, (long)o->item);
        note(s);
    }
    o->again = gs_queue_get(o->obj, NULL, 0);
    return NULL;
}

static void *getter_once(void *arg)
{
    op *o = arg;
    o->r = gs_queue_get(o->obj, &o->item, o->timeout);
    return NULL;
}

static void *putter(void *arg)
{
    op *o = arg;
    o->r = gs_queue_put(o->obj, o->item, o->timeout);
    if (o->name)
        note(o->name);
    o->again = gs_queue_put(o->obj, (void *)999, 0);
    return NULL;
}

static void *queue_func3(void *arg)
{
    note("func3 begin");
    cr_assert_eq(gs_queue_put(arg, (void *)1, GS_FOREVER), 0);
    note("func3 middle");
    cr_assert_eq(gs_queue_put(arg, (void *)2, GS_FOREVER), 0);
    note("func3 exit");
    return NULL;
}

/* The seeds' queue example: a put to a waiting getter hands the item over
 * without switching, so the putter finishes before either getter runs. */
static void seeds_queue_order(size_t capacity)
{
    order[0] = 0;
    gs_queue *q = gs_queue_new(capacity);
    op a = {.obj = q, .timeout = GS_FOREVER, .name = "func1"};
    op b = {.obj = q, .timeout = GS_FOREVER, .name = "func2"};
    gs_thread *t1 = start(getter, &a);
    gs_thread *t2 = start(getter, &b);
    gs_thread *t3 = gs_spawn(queue_func3, q);
    join(t1), join(t2), join(t3);
    cr_assert_str_eq(order, "func3 begin;func3 middle;func3 exit;func1 1;func2 2;");
    cr_assert_eq(gs_queue_len(q), 0);
    gs_queue_free(q);
}

Test(queue, seeds_order_unbounded, .timeout = 5)
{
    seeds_queue_order(0);
}

Test(queue, seeds_order_capacity_one, .timeout = 5)
{
    seeds_queue_order(1);
}

Test(queue, fifo_without_waiting)
{
    gs_queue *q = gs_queue_new(0);
    for (long i = 1; i <= 3; i++)
        cr_assert_eq(gs_queue_put(q, (void *)i, 0), 0);
    cr_assert_eq(gs_queue_len(q), 3);
    for (long i = 1; i <= 3; i++) {
        void *v;
        cr_assert_eq(gs_queue_get(q, &v, 0), 0);
        cr_assert_eq((long)v, i);
    }
    cr_assert_eq(gs_queue_len(q), 0);
    gs_queue_free(q);
}

/* Growth and wrap-around: a bounded ring whose capacity is not a power of
 * two, filled and drained out of phase, and an unbounded one grown large. */
Test(queue, ring_keeps_order_across_growth_and_wrap)
{
    gs_queue *q = gs_queue_new(13);
    long next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        while (gs_queue_put(q, (void *)next_in, 0) == 0)
            next_in++;
        cr_assert_eq(gs_queue_len(q), 13);
        for (int i = 0; i < 1 + round % 13; i++) {
            void *v;
            cr_assert_eq(gs_queue_get(q, &v, 0), 0);
            cr_assert_eq((long)v, next_out++);
        }
    }
    gs_queue_free(q);

    q = gs_queue_new(0);
    for (long i = 0; i < 5; i++)
        gs_queue_put(q, (void *)i, 0), gs_queue_get(q, NULL, 0); /* move the head */
    for (long i = 0; i < 10000; i++)
        cr_assert_eq(gs_queue_put(q, (void *)i, 0), 0);
    cr_assert_eq(gs_queue_len(q), 10000);
    for (long i = 0; i < 10000; i++) {
        void *v;
        cr_assert_eq(gs_queue_get(q, &v, 0), 0);
        cr_assert_eq((long)v, i);
    }
    gs_queue_free(q);
}

Test(queue, empty_and_full_with_timeout_zero)
{
    gs_queue *q = gs_queue_new(2);
    cr_assert_eq(gs_queue_get(q, NULL, 0), -ETIMEDOUT);
    cr_assert_eq(gs_queue_put(q, (void *)1, 0), 0);
    cr_assert_eq(gs_queue_put(q, (void *)2, 0), 0);
    cr_assert_eq(gs_queue_put(q, (void *)3, 0), -ETIMEDOUT);
    cr_assert_eq(gs_queue_len(q), 2, "a refused put adds nothing");
    gs_queue_free(q);
}

Test(queue, get_and_put_time_out, .timeout = 5)
{
    gs_queue *q = gs_queue_new(1);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_queue_get(q, NULL, 20), -ETIMEDOUT);
    cr_assert_geq(elapsed_since(t0), 15);
    gs_queue_put(q, (void *)1, 0);
    t0 = gs_now_ms();
    cr_assert_eq(gs_queue_put(q, (void *)2, 20), -ETIMEDOUT);
    cr_assert_geq(elapsed_since(t0), 15);
    cr_assert_lt(elapsed_since(t0), 1000);
    void *v;
    cr_assert_eq(gs_queue_get(q, &v, 0), 0);
    cr_assert_eq((long)v, 1);
    cr_assert_eq(gs_queue_get(q, NULL, 0), -ETIMEDOUT, "the timed-out put left nothing");
    gs_queue_free(q);
}

Test(queue, waiting_getters_served_in_arrival_order, .timeout = 5)
{
    gs_queue *q = gs_queue_new(0);
    op g[3];
    gs_thread *t[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (op){.obj = q, .timeout = GS_FOREVER};
        t[i] = start(getter, &g[i]);
        gs_yield(); /* park them one by one */
    }
    for (long i = 1; i <= 3; i++)
        gs_queue_put(q, (void *)(i * 10), 0);
    for (int i = 0; i < 3; i++) {
        join(t[i]);
        cr_assert_eq(g[i].r, 0);
        cr_assert_eq((long)g[i].item, (i + 1) * 10);
    }
    gs_queue_free(q);
}

/* Putters blocked on a full queue get in in arrival order, each as soon as
 * a get makes room, and a get that finds room never lets a later put
 * overtake a parked one. */
Test(queue, waiting_putters_served_in_arrival_order, .timeout = 5)
{
    gs_queue *q = gs_queue_new(1);
    gs_queue_put(q, (void *)1, 0);
    op p[3];
    gs_thread *t[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (op){.obj = q, .timeout = GS_FOREVER, .item = (void *)(long)(i + 2)};
        t[i] = start(putter, &p[i]);
        gs_yield();
    }
    for (long want = 1; want <= 4; want++) {
        void *v;
        cr_assert_eq(gs_queue_get(q, &v, 0), 0);
        cr_assert_eq((long)v, want);
        cr_assert_eq(gs_queue_len(q), want < 4 ? 1 : 0, "the next putter's item moved in");
        cr_assert_eq(gs_queue_put(q, (void *)99, 0), want < 4 ? -ETIMEDOUT : 0);
        if (want == 4)
            gs_queue_get(q, NULL, 0);
    }
    for (int i = 0; i < 3; i++) {
        join(t[i]);
        cr_assert_eq(p[i].r, 0);
    }
    gs_queue_free(q);
}

Test(queue, kill_waiting_getter_loses_no_item, .timeout = 5)
{
    gs_queue *q = gs_queue_new(0);
    op a = {.obj = q, .timeout = GS_FOREVER};
    op b = {.obj = q, .timeout = GS_FOREVER};
    gs_thread *ta = start(getter, &a);
    gs_thread *tb = start(getter, &b);
    gs_yield();
    gs_kill(ta);
    gs_queue_put(q, (void *)5, 0);
    join(ta), join(tb);
    cr_assert_eq(a.r, -ECANCELED);
    cr_assert_null(a.item);
    cr_assert_eq(a.again, -ECANCELED);
    cr_assert_eq(b.r, 0);
    cr_assert_eq((long)b.item, 5, "the killed getter's turn passed to the next");
    cr_assert_eq(b.again, -ETIMEDOUT);
    cr_assert_eq(gs_queue_put(q, (void *)6, 0), 0);
    cr_assert_eq(gs_queue_len(q), 1, "no stale getter took it");
    gs_queue_free(q);
}

/* Handed an item, then killed before it ran: the hand-over won, the
 * getter returns the item, and only its next wait sees the kill. */
Test(queue, item_handed_to_getter_killed_before_it_runs, .timeout = 5)
{
    gs_queue *q = gs_queue_new(0);
    op a = {.obj = q, .timeout = GS_FOREVER};
    gs_thread *ta = start(getter, &a);
    gs_yield();
    cr_assert_eq(gs_queue_put(q, (void *)8, 0), 0);
    gs_kill(ta);
    join(ta);
    cr_assert_eq(a.r, 0);
    cr_assert_eq((long)a.item, 8);
    cr_assert_eq(a.again, -ECANCELED);
    cr_assert_eq(gs_queue_len(q), 0, "handed over, not also buffered");
    gs_queue_free(q);
}

Test(queue, kill_putter_on_full_queue, .timeout = 5)
{
    gs_queue *q = gs_queue_new(1);
    gs_queue_put(q, (void *)1, 0);
    op p = {.obj = q, .timeout = GS_FOREVER, .item = (void *)2};
    gs_thread *tp = start(putter, &p);
    gs_yield();
    gs_kill(tp);
    join(tp);
    cr_assert_eq(p.r, -ECANCELED);
    cr_assert_eq(p.again, -ECANCELED);
    void *v;
    cr_assert_eq(gs_queue_get(q, &v, 0), 0);
    cr_assert_eq((long)v, 1);
    cr_assert_eq(gs_queue_get(q, &v, 0), -ETIMEDOUT, "the killed put added nothing");
    gs_queue_free(q);
}

/* Let a get make room for a parked putter, then kill the putter before it
 * runs: its put succeeded, and its item is in the queue exactly once. */
Test(queue, putter_admitted_then_killed_keeps_its_put, .timeout = 5)
{
    gs_queue *q = gs_queue_new(1);
    gs_queue_put(q, (void *)1, 0);
    op p = {.obj = q, .timeout = GS_FOREVER, .item = (void *)2};
    gs_thread *tp = start(putter, &p);
    gs_yield();
    void *v;
    cr_assert_eq(gs_queue_get(q, &v, 0), 0);
    gs_kill(tp);
    join(tp);
    cr_assert_eq(p.r, 0);
    cr_assert_eq(gs_queue_len(q), 1);
    cr_assert_eq(gs_queue_get(q, &v, 0), 0);
    cr_assert_eq((long)v, 2);
    cr_assert_eq(gs_queue_get(q, &v, 0), -ETIMEDOUT);
    gs_queue_free(q);
}

Test(queue, timed_out_getter_takes_nothing_later, .timeout = 5)
{
    gs_queue *q = gs_queue_new(0);
    op a = {.obj = q, .timeout = 10};
    gs_thread *ta = start(getter, &a);
    join(ta);
    cr_assert_eq(a.r, -ETIMEDOUT);
    gs_queue_put(q, (void *)3, 0);
    cr_assert_eq(gs_queue_len(q), 1);
    gs_queue_free(q);
}

static void put_from_callback(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    op *o = arg;
    o->r = gs_queue_put(o->obj, o->item, 0);
    if (o->done)
        gs_event_send(o->done, NULL);
}

/* A getter's timeout and a put from callback code fall due together,
 * armed in either order: whichever wins, the item is got once or kept
 * once, never both or neither. */
Test(queue, timeout_racing_a_put_conserves_the_item, .timeout = 10)
{
    int got = 0, kept = 0;
    for (int i = 0; i < 20; i++) {
        gs_queue *q = gs_queue_new(0);
        op cb = {.obj = q, .item = (void *)7, .r = 1, .done = gs_event_new()};
        op a = {.obj = q, .timeout = 5};
        struct event *timer = evtimer_new(gs_hub_base(), put_from_callback, &cb);
        struct timeval tv = {.tv_sec = 0, .tv_usec = 5000};
        if (i % 2)
            evtimer_add(timer, &tv);
        gs_thread *ta = start(getter_once, &a);
        gs_yield(); /* a parks, arming its timer */
        if (i % 2 == 0)
            evtimer_add(timer, &tv);
        join(ta);
        cr_assert_eq(gs_event_wait(cb.done, NULL, 5000), 0);
        cr_assert_eq(cb.r, 0);
        if (a.r == 0) {
            cr_assert(a.item == (void *)7 && gs_queue_len(q) == 0);
            got++;
        } else {
            cr_assert(a.r == -ETIMEDOUT && gs_queue_len(q) == 1);
            kept++;
        }
        event_free(timer);
        gs_event_free(cb.done);
        gs_queue_free(q);
    }
    /* The timer armed first fires first, so each order shows one outcome. */
    cr_assert(got > 0 && kept > 0, "both outcomes exercised: got %d, kept %d", got, kept);
}

Test(queue, put_from_callback_hands_to_waiting_getter, .timeout = 5)
{
    gs_queue *q = gs_queue_new(1);
    op cb = {.obj = q, .item = (void *)12, .r = 1};
    struct event *timer = evtimer_new(gs_hub_base(), put_from_callback, &cb);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 5000};
    evtimer_add(timer, &tv);
    void *v;
    cr_assert_eq(gs_queue_get(q, &v, 5000), 0);
    cr_assert_eq((long)v, 12);
    cr_assert_eq(cb.r, 0);
    event_free(timer);
    gs_queue_free(q);
}

Test(queue, free_with_waiters_wakes_them, .timeout = 5)
{
    gs_queue *q = gs_queue_new(1);
    op a = {.obj = q, .timeout = GS_FOREVER};
    gs_thread *ta = gs_spawn(getter, &a);
    gs_yield();
    a.obj = gs_queue_new(0); /* for its second get */
    gs_queue_free(q);
    join(ta);
    cr_assert_eq(a.r, -EIDRM);
    gs_queue_free(a.obj);
}

/* -------------------------------------------------------------- semaphore */

static void *acquirer(void *arg)
{
    op *o = arg;
    o->r = gs_sem_acquire(o->obj, o->timeout);
    if (o->name)
        note(o->name);
    return NULL;
}

Test(sem, counts_down_and_up)
{
    gs_sem *s = gs_sem_new(2);
    cr_assert_eq(gs_sem_acquire(s, 0), 0);
    cr_assert_eq(gs_sem_acquire(s, 0), 0);
    cr_assert_eq(gs_sem_acquire(s, 0), -ETIMEDOUT);
    gs_sem_release(s);
    cr_assert_eq(gs_sem_acquire(s, 0), 0);
    gs_sem_free(s);
}

Test(sem, acquire_times_out, .timeout = 5)
{
    gs_sem *s = gs_sem_new(0);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_sem_acquire(s, 20), -ETIMEDOUT);
    cr_assert_geq(elapsed_since(t0), 15);
    cr_assert_lt(elapsed_since(t0), 1000);
    gs_sem_free(s);
}

/* A release goes to the longest waiter, and straight to it: an acquire
 * made before the waiter runs finds nothing left. */
Test(sem, release_hands_unit_to_first_waiter, .timeout = 5)
{
    order[0] = 0;
    gs_sem *s = gs_sem_new(0);
    op a = {.obj = s, .timeout = GS_FOREVER, .name = "a"};
    op b = {.obj = s, .timeout = GS_FOREVER, .name = "b"};
    gs_thread *ta = start(acquirer, &a);
    gs_thread *tb = start(acquirer, &b);
    gs_yield();
    gs_sem_release(s);
    cr_assert_eq(gs_sem_acquire(s, 0), -ETIMEDOUT, "no barging past a");
    gs_sem_release(s);
    join(ta), join(tb);
    cr_assert_str_eq(order, "a;b;");
    cr_assert_eq(a.r, 0);
    cr_assert_eq(b.r, 0);
    gs_sem_free(s);
}

Test(sem, kill_while_acquiring, .timeout = 5)
{
    gs_sem *s = gs_sem_new(0);
    op a = {.obj = s, .timeout = GS_FOREVER};
    gs_thread *ta = start(acquirer, &a);
    gs_yield();
    gs_kill(ta);
    gs_sem_release(s);
    join(ta);
    cr_assert_eq(a.r, -ECANCELED);
    cr_assert_eq(gs_sem_acquire(s, 0), 0, "the killed waiter did not eat the unit");
    gs_sem_free(s);
}

Test(sem, unit_handed_to_acquirer_killed_before_it_runs, .timeout = 5)
{
    gs_sem *s = gs_sem_new(0);
    op a = {.obj = s, .timeout = GS_FOREVER, .r = 1};
    gs_thread *ta = start(acquirer, &a);
    gs_yield();
    gs_sem_release(s);
    gs_kill(ta);
    join(ta);
    cr_assert_eq(a.r, 0);
    cr_assert_eq(gs_sem_acquire(s, 0), -ETIMEDOUT, "one release, one unit");
    gs_sem_free(s);
}

/* ------------------------------------------------------------------- pool */

typedef struct pool_probe {
    int now, max, ran;
    gs_event *gate; /* tasks wait on it when set */
} pool_probe;

static pool_probe probe;

static int probe_task(void *arg)
{
    probe.now++;
    if (probe.now > probe.max)
        probe.max = probe.now;
    if (probe.gate)
        gs_event_wait(probe.gate, NULL, GS_FOREVER);
    else
        gs_sleep(1);
    probe.now--;
    probe.ran++;
    return (int)(long)arg;
}

Test(pool, never_exceeds_its_size, .timeout = 5)
{
    gs_pool *p = gs_pool_new(3);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(gs_pool_spawn(p, probe_task, NULL, GS_FOREVER), 0);
        cr_assert_leq(gs_pool_running(p), 3);
    }
    cr_assert_eq(gs_pool_waitall(p, GS_FOREVER), 0);
    cr_assert_eq(probe.ran, 20);
    cr_assert_eq(probe.max, 3);
    cr_assert_eq(gs_pool_running(p), 0);
    gs_pool_free(p);
}

Test(pool, waitall_counts_failures_since_last_waitall, .timeout = 5)
{
    gs_pool *p = gs_pool_new(2);
    long results[] = {0, -1, 3, -EIO, 0};
    for (int i = 0; i < 5; i++)
        gs_pool_spawn(p, probe_task, (void *)results[i], GS_FOREVER);
    cr_assert_eq(gs_pool_waitall(p, GS_FOREVER), 2);
    cr_assert_eq(gs_pool_waitall(p, GS_FOREVER), 0, "counted once");
    gs_pool_spawn(p, probe_task, (void *)-1L, GS_FOREVER);
    gs_yield();
    gs_sleep(5); /* it has failed: waitall needs no wait now */
    cr_assert_eq(gs_pool_running(p), 0);
    cr_assert_eq(gs_pool_waitall(p, 0), 1);
    gs_pool_free(p);
}

Test(pool, waitall_on_idle_pool_returns_at_once)
{
    gs_pool *p = gs_pool_new(1);
    cr_assert_eq(gs_pool_waitall(p, 0), 0);
    gs_pool_free(p);
}

Test(pool, spawn_into_full_pool_times_out, .timeout = 5)
{
    probe.gate = gs_event_new();
    gs_pool *p = gs_pool_new(1);
    cr_assert_eq(gs_pool_spawn(p, probe_task, NULL, 0), 0);
    cr_assert_eq(gs_pool_spawn(p, probe_task, NULL, 0), -ETIMEDOUT);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_pool_spawn(p, probe_task, NULL, 20), -ETIMEDOUT);
    cr_assert_geq(elapsed_since(t0), 15);
    cr_assert_eq(gs_pool_waitall(p, 10), -ETIMEDOUT);
    gs_event_send(probe.gate, NULL);
    cr_assert_eq(gs_pool_waitall(p, GS_FOREVER), 0);
    cr_assert_eq(probe.ran, 1, "the refused spawns never ran");
    gs_pool_free(p);
    gs_event_free(probe.gate);
}

/* Spawn blocks for a place, and gets the one freed, before anyone else. */
Test(pool, spawn_waits_for_room, .timeout = 5)
{
    gs_pool *p = gs_pool_new(2);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(gs_pool_spawn(p, probe_task, NULL, GS_FOREVER), 0);
    cr_assert_geq(probe.ran, 4, "the 5th and 6th spawns waited for two to end");
    cr_assert_eq(gs_pool_waitall(p, GS_FOREVER), 0);
    cr_assert_eq(probe.ran, 6);
    gs_pool_free(p);
}

typedef struct pool_op {
    gs_pool *pool;
    int r;
} pool_op;

static void *pool_spawner(void *arg)
{
    pool_op *o = arg;
    o->r = gs_pool_spawn(o->pool, probe_task, NULL, GS_FOREVER);
    return NULL;
}

static void *pool_waiter(void *arg)
{
    pool_op *o = arg;
    o->r = gs_pool_waitall(o->pool, GS_FOREVER);
    return NULL;
}

Test(pool, kill_while_spawning_and_waiting, .timeout = 5)
{
    probe.gate = gs_event_new();
    gs_pool *p = gs_pool_new(1);
    gs_pool_spawn(p, probe_task, NULL, 0);
    pool_op s = {.pool = p, .r = 1}, w = {.pool = p, .r = 1};
    gs_thread *ts = gs_spawn(pool_spawner, &s);
    gs_thread *tw = gs_spawn(pool_waiter, &w);
    gs_yield();
    gs_kill(ts);
    gs_kill(tw);
    join(ts), join(tw);
    cr_assert_eq(s.r, -ECANCELED);
    cr_assert_eq(w.r, -ECANCELED);
    cr_assert_eq(gs_pool_running(p), 1, "the killed spawn holds no place");
    gs_event_send(probe.gate, NULL);
    cr_assert_eq(gs_pool_waitall(p, GS_FOREVER), 0);
    cr_assert_eq(probe.ran, 1);
    gs_pool_free(p);
    gs_event_free(probe.gate);
}

/* A place freed for a parked spawner is its own even if it is killed
 * before it runs: the spawn succeeds and its task runs. */
Test(pool, place_handed_to_spawner_killed_before_it_runs, .timeout = 5)
{
    probe.gate = gs_event_new();
    gs_pool *p = gs_pool_new(1);
    gs_pool_spawn(p, probe_task, NULL, 0);
    pool_op s = {.pool = p, .r = 1};
    gs_thread *ts = gs_spawn(pool_spawner, &s);
    gs_yield(); /* the task waits on the gate, the spawner for a place */
    gs_event_send(probe.gate, NULL);
    gs_yield(); /* the task ends and hands its place to the spawner */
    cr_assert_eq(probe.ran, 1);
    cr_assert_eq(s.r, 1, "the spawner has not run yet");
    gs_kill(ts);
    join(ts);
    cr_assert_eq(s.r, 0);
    cr_assert_eq(gs_pool_waitall(p, GS_FOREVER), 0);
    cr_assert_eq(probe.ran, 2);
    gs_pool_free(p);
    gs_event_free(probe.gate);
}

/* Several waitalls parked together all see the same failure count. */
Test(pool, concurrent_waitalls_share_the_count, .timeout = 5)
{
    gs_pool *p = gs_pool_new(4);
    for (int i = 0; i < 3; i++)
        gs_pool_spawn(p, probe_task, (void *)-1L, 0);
    pool_op a = {.pool = p, .r = -1}, b = {.pool = p, .r = -1};
    gs_thread *ta = gs_spawn(pool_waiter, &a);
    gs_thread *tb = gs_spawn(pool_waiter, &b);
    join(ta), join(tb);
    cr_assert_eq(a.r, 3);
    cr_assert_eq(b.r, 3);
    cr_assert_eq(gs_pool_waitall(p, 0), 0);
    gs_pool_free(p);
}

/* gs_pool_free with tasks alive: they finish without touching the pool
 * (ASan and valgrind would see a write to freed memory). */
Test(pool, tasks_outlive_a_freed_pool, .timeout = 5)
{
    gs_pool *p = gs_pool_new(2);
    gs_pool_spawn(p, probe_task, (void *)-1L, 0);
    gs_pool_spawn(p, probe_task, NULL, 0);
    gs_pool_free(p);
    gs_sleep(10);
    cr_assert_eq(probe.ran, 2);
}

Test(pool, size_zero_is_refused)
{
    cr_assert_null(gs_pool_new(0));
}
