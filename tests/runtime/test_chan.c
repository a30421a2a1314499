/* Channels: ids and order, cursors, the history ring's limits reported as
 * `dropped` (never a silent loss), fan-out to many waiters of one shared
 * message, every way a wait ends (timeout, kill, interrupt, drain), the
 * bus hook with a fake bus, and channels forgotten once unused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/valgrind.h>

#include "greenserve.h"
#include "runtime/chan.h"
#include "runtime/hub.h"

#if defined(__SANITIZE_ADDRESS__)
/* As in test_sync.c: Criterion's runner loses a timeout record under
 * --jobs 2; only stacks through its runner are ignored. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:criterion_run_all_tests\n";
}

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}
#endif

static int64_t pub(const char *name, const char *text)
{
    int64_t id = gs_chan_publish(name, text, strlen(text));
    cr_assert_gt(id, 0, "publish on %s: %lld", name, (long long)id);
    return id;
}

static rt_chan_stats stats(void)
{
    rt_chan_stats s;
    rt_chan_stats_get(&s);
    return s;
}

static int64_t elapsed_since(int64_t t0)
{
    return gs_now_ms() - t0;
}

/* A wait run in its own green thread, so the test can kill, interrupt or
 * drain it. */
typedef struct waiter {
    const char *name;
    uint64_t after;
    int64_t timeout;
    int r;
    gs_chan_batch b;
    const gs_chan_msg *first; /* b.msgs[0], kept past the release */
    uint64_t first_id;
} waiter;

static void *wait_main(void *arg)
{
    waiter *w = arg;
    w->r = gs_chan_wait(w->name, w->after, w->timeout, &w->b);
    if (w->b.count) {
        w->first = w->b.msgs[0];
        w->first_id = w->b.msgs[0]->id;
    }
    gs_chan_release(&w->b);
    return NULL;
}

static gs_thread *start(waiter *w)
{
    gs_thread *t = gs_spawn(wait_main, w);
    cr_assert_not_null(t);
    return t;
}

static void join(gs_thread *t)
{
    cr_assert_eq(gs_join(t, NULL, 5000), 0);
}

/* ------------------------------------------------------------ ids, order */

Test(chan, ids_increase_by_one_and_messages_come_in_order)
{
    int64_t a = pub("news", "one");
    int64_t b = pub("news", "two");
    int64_t c = pub("news", "three");
    cr_assert_eq(b, a + 1);
    cr_assert_eq(c, b + 1);
    int64_t other = pub("sport", "x");
    cr_assert_neq(other, c + 1, "another channel has its own numbering");

    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("news", GS_CHAN_ALL, 0, &bt), 3);
    const char *want[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(bt.msgs[i]->id, (uint64_t)a + i);
        cr_assert_eq(bt.msgs[i]->len, strlen(want[i]));
        cr_assert_str_eq(bt.msgs[i]->data, want[i], "NUL-terminated copy");
    }
    cr_assert_not(bt.dropped);
    cr_assert_eq(bt.oldest, (uint64_t)a);
    cr_assert_eq(bt.next, (uint64_t)c);
    gs_chan_release(&bt);
    gs_chan_release(&bt); /* twice is fine */
    cr_assert_eq(bt.count, 0);
}

Test(chan, cursor_returns_only_newer_messages)
{
    int64_t a = pub("c", "a");
    pub("c", "b");
    int64_t c = pub("c", "c");
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("c", (uint64_t)a, 0, &bt), 2);
    cr_assert_str_eq(bt.msgs[0]->data, "b");
    cr_assert_str_eq(bt.msgs[1]->data, "c");
    cr_assert_not(bt.dropped);
    gs_chan_release(&bt);
    cr_assert_eq(gs_chan_wait("c", (uint64_t)c, 0, &bt), -ETIMEDOUT, "nothing newer");
    cr_assert_eq(bt.count, 0);
    cr_assert_eq(bt.next, (uint64_t)c, "the cursor stays");
    gs_chan_release(&bt);
}

Test(chan, buffered_messages_return_without_parking, .timeout = 5)
{
    pub("now", "here");
    gs_chan_batch bt;
    int64_t t0 = gs_now_ms();
    /* The root thread with nothing else alive would get -EDEADLK if the
     * call parked. */
    cr_assert_eq(gs_chan_wait("now", GS_CHAN_ALL, GS_FOREVER, &bt), 1);
    cr_assert_lt(elapsed_since(t0), 100);
    gs_chan_release(&bt);
}

Test(chan, cursor_new_waits_for_the_next_message, .timeout = 5)
{
    pub("n", "old");
    waiter w = {.name = "n", .after = GS_CHAN_NEW, .timeout = 5000};
    gs_thread *t = start(&w);
    gs_yield();
    int64_t id = pub("n", "fresh");
    join(t);
    cr_assert_eq(w.r, 1);
    cr_assert_eq(w.first_id, (uint64_t)id);
    cr_assert_eq(w.b.count, 0, "released");
}

Test(chan, cursor_all_on_an_empty_channel_waits, .timeout = 5)
{
    waiter w = {.name = "e", .after = GS_CHAN_ALL, .timeout = 5000};
    gs_thread *t = start(&w);
    gs_yield();
    cr_assert_eq(stats().waiters, 1);
    int64_t id = pub("e", "first");
    join(t);
    cr_assert_eq(w.r, 1);
    cr_assert_eq(w.first_id, (uint64_t)id);
}

Test(chan, wait_times_out, .timeout = 5)
{
    int64_t id = pub("t", "x");
    gs_chan_batch bt;
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_chan_wait("t", GS_CHAN_NEW, 40, &bt), -ETIMEDOUT);
    cr_assert_geq(elapsed_since(t0), 35);
    cr_assert_lt(elapsed_since(t0), 1000);
    cr_assert_eq(bt.count, 0);
    cr_assert_eq(bt.next, (uint64_t)id, "GS_CHAN_NEW resolved to the newest id");
    gs_chan_release(&bt);
    cr_assert_eq(stats().waiters, 0);
}

Test(chan, a_cursor_from_the_future_waits_for_what_follows_it, .timeout = 5)
{
    int64_t id = pub("f", "1");
    waiter w = {.name = "f", .after = (uint64_t)id + 2, .timeout = 5000};
    gs_thread *t = start(&w);
    gs_yield();
    pub("f", "2");
    pub("f", "3");
    gs_yield();
    cr_assert_eq(stats().waiters, 1, "ids up to its cursor do not wake it");
    int64_t four = pub("f", "4");
    join(t);
    cr_assert_eq(w.r, 1);
    cr_assert_eq(w.first_id, (uint64_t)four);
}

Test(chan, bad_names_and_arguments)
{
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = 0;
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_publish("", "x", 1), -EINVAL);
    cr_assert_eq(gs_chan_publish(NULL, "x", 1), -EINVAL);
    cr_assert_eq(gs_chan_publish("a", NULL, 1), -EINVAL);
    cr_assert_eq(gs_chan_publish(long_name, "x", 1), -ENAMETOOLONG);
    long_name[255] = 0;
    cr_assert_gt(gs_chan_publish(long_name, "x", 1), 0, "255 bytes is fine");
    cr_assert_gt(gs_chan_publish("empty", NULL, 0), 0);
    cr_assert_eq(gs_chan_wait("", 0, 0, &bt), -EINVAL);
    gs_chan_release(&bt);
    cr_assert_eq(gs_chan_wait("a", 0, 0, NULL), -EINVAL);
    cr_assert_eq(gs_chan_limits(0, 1000, 1000), -EINVAL, "a ring holds at least one");
    cr_assert_eq(gs_chan_limits(10, -1, 0), -EINVAL);
}

Test(chan, a_batch_larger_than_the_inline_room)
{
    int64_t first = 0;
    for (int i = 0; i < 50; i++) {
        char b[16];
        snprintf(b, sizeof(b), "m%d", i);
        int64_t id = pub("big", b);
        if (!first)
            first = id;
    }
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("big", GS_CHAN_ALL, 0, &bt), 50);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(bt.msgs[i]->id, (uint64_t)first + i);
    gs_chan_release(&bt);
}

/* ------------------------------------------------------------- the ring */

Test(chan, overflow_is_reported_as_dropped_with_the_oldest_id)
{
    cr_assert_eq(gs_chan_limits(4, 0, 0), 0);
    int64_t id[10];
    for (int i = 0; i < 10; i++)
        id[i] = pub("r", "m");
    cr_assert_eq(stats().messages, 4);

    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("r", (uint64_t)id[0], 0, &bt), 4);
    cr_assert(bt.dropped, "ids 2..6 are gone");
    cr_assert_eq(bt.oldest, (uint64_t)id[6]);
    cr_assert_eq(bt.msgs[0]->id, (uint64_t)id[6]);
    cr_assert_eq(bt.next, (uint64_t)id[9]);
    gs_chan_release(&bt);

    cr_assert_eq(gs_chan_wait("r", (uint64_t)id[5], 0, &bt), 4);
    cr_assert_not(bt.dropped, "the message right after the cursor is held");
    gs_chan_release(&bt);

    cr_assert_eq(gs_chan_wait("r", GS_CHAN_ALL, 0, &bt), 4);
    cr_assert_not(bt.dropped, "GS_CHAN_ALL asks for what is held");
    gs_chan_release(&bt);
}

Test(chan, byte_limit_keeps_the_newest_message)
{
    cr_assert_eq(gs_chan_limits(1000, 0, 10), 0);
    for (int i = 0; i < 5; i++)
        pub("b", "abcd");
    cr_assert_eq(stats().messages, 2);
    cr_assert_eq(stats().bytes, 8);
    char big[100];
    memset(big, 'x', sizeof(big));
    cr_assert_gt(gs_chan_publish("b", big, sizeof(big)), 0);
    cr_assert_eq(stats().messages, 1, "the newest stays even when larger");
    cr_assert_eq(stats().bytes, 100);
}

Test(chan, lowering_the_limits_applies_at_once)
{
    for (int i = 0; i < 20; i++)
        pub("l", "m");
    cr_assert_eq(stats().messages, 20);
    cr_assert_eq(gs_chan_limits(5, 0, 0), 0);
    cr_assert_eq(stats().messages, 5);
}

Test(chan, old_messages_are_evicted_by_age, .timeout = 5)
{
    /* Timers fire in order, so a and b are gone once the second sleep
     * ends; c stays unless that sleep overran by 150 ms. */
    cr_assert_eq(gs_chan_limits(100, 300, 0), 0);
    int64_t a = pub("age", "a");
    pub("age", "b");
    gs_sleep(200);
    int64_t c = pub("age", "c");
    gs_sleep(150);
    cr_assert_eq(stats().messages, 1);
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("age", (uint64_t)a, 0, &bt), 1);
    cr_assert(bt.dropped);
    cr_assert_eq(bt.oldest, (uint64_t)c);
    cr_assert_eq(bt.msgs[0]->id, (uint64_t)c);
    gs_chan_release(&bt);

    gs_sleep(200);
    cr_assert_eq(stats().messages, 0);
    cr_assert_eq(stats().alive, 0);
    cr_assert_eq(stats().channels, 0, "an empty channel nobody waits on is forgotten");
}

/* A waiter woken by the first message of a burst runs after the ring has
 * overflowed: it learns that it lost some. */
Test(chan, a_waiter_overrun_before_it_runs_sees_dropped, .timeout = 5)
{
    cr_assert_eq(gs_chan_limits(4, 0, 0), 0);
    int64_t last = pub("burst", "before");
    waiter w = {.name = "burst", .after = GS_CHAN_NEW, .timeout = 5000};
    gs_thread *t = start(&w);
    gs_yield();
    int64_t id = 0;
    for (int i = 0; i < 10; i++)
        id = pub("burst", "m");
    join(t);
    cr_assert_eq(w.r, 4);
    cr_assert(w.b.dropped);
    cr_assert_eq(w.first_id, (uint64_t)id - 3);
    cr_assert_gt(w.first_id, (uint64_t)last + 1);
}

/* A batch keeps its messages after the ring let go of them. */
Test(chan, a_batch_outlives_eviction)
{
    cr_assert_eq(gs_chan_limits(1, 0, 0), 0);
    pub("keep", "kept by the batch");
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("keep", GS_CHAN_ALL, 0, &bt), 1);
    pub("keep", "newer");
    pub("keep", "newest");
    cr_assert_str_eq(bt.msgs[0]->data, "kept by the batch");
    cr_assert_eq(stats().messages, 1);
    cr_assert_eq(stats().alive, 2, "the newest, and the one the batch holds");
    gs_chan_release(&bt);
    cr_assert_eq(stats().alive, 1, "the batch's message was freed");
}

/* A waiter woken and then killed before it runs keeps what it was woken
 * for, and gives it back. */
Test(chan, a_waiter_killed_after_its_wake_releases_its_message, .timeout = 5)
{
    waiter w = {.name = "wk", .after = GS_CHAN_NEW, .timeout = GS_FOREVER};
    gs_thread *t = start(&w);
    gs_yield();
    int64_t id = pub("wk", "m");
    gs_kill(t);
    join(t);
    cr_assert_eq(w.r, 1);
    cr_assert_eq(w.first_id, (uint64_t)id);
    cr_assert_eq(stats().alive, 1, "only the ring's message is left");
    cr_assert_eq(stats().waiters, 0);
}

/* ------------------------------------------------------------- fan-out */

/* One publish wakes every waiter of its channel, each with a reference to
 * the same stored message. */
Test(chan, one_publish_wakes_ten_thousand_waiters_with_one_message, .timeout = 60)
{
    int n = RUNNING_ON_VALGRIND ? 1000 : 10000;
    waiter *w = calloc(n, sizeof(*w));
    gs_thread **t = calloc(n, sizeof(*t));
    cr_assert(w && t);
    for (int i = 0; i < n; i++) {
        w[i] = (waiter){.name = "fan", .after = GS_CHAN_NEW, .timeout = 30000};
        t[i] = start(&w[i]);
    }
    waiter other = {.name = "elsewhere", .after = GS_CHAN_NEW, .timeout = 30000};
    gs_thread *ot = start(&other);
    gs_yield();
    cr_assert_eq(stats().waiters, (size_t)n + 1);

    int64_t t0 = gs_now_ms();
    int64_t id = pub("fan", "to everyone");
    for (int i = 0; i < n; i++)
        join(t[i]);
    cr_log_info("%d waiters woken and run in %lld ms", n, (long long)elapsed_since(t0));
    for (int i = 0; i < n; i++) {
        cr_assert_eq(w[i].r, 1);
        cr_assert_eq(w[i].first_id, (uint64_t)id);
        cr_assert_eq(w[i].first, w[0].first, "shared, not copied");
    }
    cr_assert_eq(stats().waiters, 1, "the other channel's waiter still waits");
    cr_assert_eq(stats().messages, 1);
    cr_assert_eq(stats().alive, 1, "every batch gave its reference back");
    gs_kill(ot);
    join(ot);
    free(w);
    free(t);
}

/* ---------------------------------------------------- ending a wait early */

Test(chan, kill_ends_the_wait_with_ecanceled, .timeout = 5)
{
    waiter w = {.name = "k", .after = GS_CHAN_NEW, .timeout = GS_FOREVER};
    gs_thread *t = start(&w);
    gs_yield();
    cr_assert_eq(stats().channels, 1);
    gs_kill(t);
    join(t);
    cr_assert_eq(w.r, -ECANCELED);
    cr_assert_eq(stats().waiters, 0);
    cr_assert_eq(stats().channels, 0, "the waiter's channel went with it");
}

Test(chan, interrupt_ends_an_opted_in_wait_and_stays, .timeout = 5)
{
    waiter w = {.name = "i", .after = GS_CHAN_NEW, .timeout = GS_FOREVER};
    gs_thread *t = start(&w);
    gs_yield();
    cr_assert(rt_interrupt(t, -EPIPE));
    join(t);
    cr_assert_eq(w.r, -EPIPE);

    /* Sticky: the next interruptible wait ends at once. */
    gs_thread *me = gs_self();
    cr_assert_not(rt_interrupt(me, -EPIPE), "not waiting: nothing to end");
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("i", GS_CHAN_NEW, 5000, &bt), -EPIPE);
    gs_chan_release(&bt);
    rt_interrupt(me, 0);
    cr_assert_eq(gs_chan_wait("i", GS_CHAN_NEW, 0, &bt), -ETIMEDOUT, "cleared");
    gs_chan_release(&bt);
}

static void *sleep_main(void *arg)
{
    int *r = arg;
    *r = gs_sleep(30);
    return NULL;
}

static void *event_main(void *arg)
{
    return (void *)(long)gs_event_wait(arg, NULL, GS_FOREVER);
}

/* Waits that did not opt in are not ended; the error waits for the
 * thread's next interruptible wait. */
Test(chan, interrupt_leaves_other_waits_alone, .timeout = 5)
{
    int slept = -1;
    gs_thread *s = gs_spawn(sleep_main, &slept);
    gs_event *ev = gs_event_new();
    gs_thread *e = gs_spawn(event_main, ev);
    gs_yield();
    cr_assert_not(rt_interrupt(s, -EPIPE));
    cr_assert_not(rt_interrupt(e, -EPIPE));
    join(s);
    cr_assert_eq(slept, 0, "the sleep ran its course");
    gs_event_send(ev, NULL);
    void *er;
    cr_assert_eq(gs_join(e, &er, 5000), 0);
    cr_assert_eq((long)er, 0, "the event wait got the send");
    gs_event_free(ev);
}

static void *stream_main(void *arg)
{
    waiter *w = arg;
    w->r = gs_chan_wait(w->name, w->after, w->timeout, &w->b);
    gs_chan_release(&w->b);
    /* What a streaming handler does once told to stop: it returns. */
    return (void *)(long)gs_draining();
}

static void *generic_main(void *arg)
{
    (void)arg;
    return (void *)(long)rt_wait_interruptible(NULL, GS_FOREVER);
}

Test(chan, drain_ends_every_channel_wait_with_eshutdown, .timeout = 5)
{
    waiter w[3] = {{.name = "d1", .after = GS_CHAN_NEW, .timeout = GS_FOREVER},
                   {.name = "d2", .after = GS_CHAN_NEW, .timeout = GS_FOREVER},
                   {.name = "d2", .after = GS_CHAN_NEW, .timeout = GS_FOREVER}};
    gs_thread *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = gs_spawn(stream_main, &w[i]);
    int slept = -1;
    gs_thread *s = gs_spawn(sleep_main, &slept);
    gs_thread *g = gs_spawn(generic_main, NULL);
    gs_yield();
    cr_assert_not(gs_draining());
    rt_hub_drain();
    cr_assert(gs_draining());
    void *gr;
    cr_assert_eq(gs_join(g, &gr, 5000), 0);
    cr_assert_eq((long)gr, -ESHUTDOWN, "any interruptible wait (http_wait's kind)");
    for (int i = 0; i < 3; i++) {
        void *saw;
        cr_assert_eq(gs_join(t[i], &saw, 5000), 0);
        cr_assert_eq(w[i].r, -ESHUTDOWN);
        cr_assert_eq((long)saw, 1, "gs_draining from the woken handler");
    }
    join(s);
    cr_assert_eq(slept, 0, "a plain sleep is not a channel wait");

    /* Later waits: what is buffered still comes, then -ESHUTDOWN. */
    int64_t id = pub("d1", "last words");
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("d1", (uint64_t)id - 1, 5000, &bt), 1);
    gs_chan_release(&bt);
    cr_assert_eq(gs_chan_wait("d1", (uint64_t)id, 5000, &bt), -ESHUTDOWN);
    gs_chan_release(&bt);
    cr_assert_eq(stats().waiters, 0);
}

static void callback_wait(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    int *r = arg;
    gs_chan_batch bt;
    r[0] = gs_chan_wait("cbw", GS_CHAN_ALL, 1000, &bt);
    gs_chan_release(&bt);
    r[1] = gs_chan_wait("cbw", GS_CHAN_NEW, 1000, &bt);
    gs_chan_release(&bt);
}

/* A libevent callback cannot park: it gets what is buffered, or -EDEADLK. */
Test(chan, a_callback_waits_without_parking, .timeout = 5)
{
    pub("cbw", "m");
    int r[2] = {0, 0};
    struct timeval tv = {0, 1000};
    cr_assert_eq(event_base_once(gs_hub_base(), -1, EV_TIMEOUT, callback_wait, r, &tv), 0);
    gs_sleep(20);
    cr_assert_eq(r[0], 1);
    cr_assert_eq(r[1], -EDEADLK);
    cr_assert_eq(stats().waiters, 0);
}

/* -------------------------------------------------------------- the bus */

/* A fake bus: publishes are queued; a "master" green thread numbers them
 * from 1000 on, delivers each back and answers the publisher. */
typedef struct sent {
    uint64_t token;
    char name[32];
    char data[32];
    size_t len;
} sent;

static struct fake_bus {
    sent q[16];
    int n;
    int fail;       /* publish returns this when < 0 */
    bool sync;      /* answer from within publish */
    uint64_t next;  /* the next id to give */
    gs_event *kick; /* wakes the master */
} bus;

static void answer(sent *s)
{
    uint64_t id = bus.next++;
    cr_assert_eq(rt_chan_deliver(s->name, id, s->data, s->len), 1);
    rt_chan_published(s->token, (int64_t)id);
}

static int bus_publish(void *ctx, uint64_t token, const char *name, const void *data, size_t len)
{
    cr_assert_eq(ctx, &bus);
    if (bus.fail)
        return bus.fail;
    sent *s = &bus.q[bus.n++];
    *s = (sent){.token = token, .len = len};
    snprintf(s->name, sizeof(s->name), "%s", name);
    memcpy(s->data, data, len);
    if (bus.sync)
        answer(s);
    else if (bus.kick)
        gs_event_send(bus.kick, NULL);
    return 0;
}

static const rt_chan_bus fake_ops = {.publish = bus_publish};

static void *master_main(void *arg)
{
    (void)arg;
    gs_event_wait(bus.kick, NULL, 5000);
    for (int i = 0; i < bus.n; i++)
        answer(&bus.q[i]);
    return NULL;
}

static void bus_init(void)
{
    bus = (struct fake_bus){.next = 1000};
    rt_chan_set_bus(&fake_ops, &bus);
}

Test(bus, publish_round_trip_gives_the_bus_id, .timeout = 5)
{
    bus_init();
    bus.kick = gs_event_new();
    gs_thread *m = gs_spawn(master_main, NULL);
    cr_assert_eq(gs_chan_publish("bus", "hello", 5), 1000);
    join(m);
    cr_assert_eq(bus.n, 1);
    cr_assert_neq(bus.q[0].token, 0);
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("bus", GS_CHAN_ALL, 0, &bt), 1, "delivered back by the bus");
    cr_assert_eq(bt.msgs[0]->id, 1000);
    cr_assert_str_eq(bt.msgs[0]->data, "hello");
    gs_chan_release(&bt);
    gs_event_free(bus.kick);
}

Test(bus, an_answer_from_within_publish)
{
    bus_init();
    bus.sync = true;
    cr_assert_eq(gs_chan_publish("bus", "a", 1), 1000);
    cr_assert_eq(gs_chan_publish("bus", "b", 1), 1001);
    cr_assert_eq(stats().messages, 2);
}

Test(bus, errors_and_a_bus_that_never_answers, .timeout = 5)
{
    bus_init();
    bus.fail = -ENOTCONN;
    cr_assert_eq(gs_chan_publish("bus", "x", 1), -ENOTCONN);
    bus.fail = 0;

    gs_deadline d;
    gs_deadline_begin(&d, 30);
    cr_assert_eq(gs_chan_publish("bus", "x", 1), -ETIMEDOUT);
    gs_deadline_end(&d);
    rt_chan_published(bus.q[0].token, 5); /* too late: ignored */

    gs_kill(gs_self());
    cr_assert_eq(gs_chan_publish("bus", "x", 1), -ECANCELED);
    cr_assert_eq(bus.n, 1, "a killed thread sends nothing");
}

static void *publish_main(void *arg)
{
    return (void *)(long)gs_chan_publish(arg, "x", 1);
}

Test(bus, removing_the_bus_aborts_waiting_publishes, .timeout = 5)
{
    bus_init();
    gs_thread *t = gs_spawn(publish_main, "bus");
    gs_yield();
    cr_assert_eq(bus.n, 1);
    rt_chan_set_bus(NULL, NULL);
    void *r;
    cr_assert_eq(gs_join(t, &r, 5000), 0);
    cr_assert_eq((long)r, -ECONNABORTED);
    cr_assert_gt(gs_chan_publish("bus", "x", 1), 0, "numbered locally again");
}

static void callback_publish(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    *(int64_t *)arg = gs_chan_publish("bus", "cb", 2);
}

Test(bus, a_callback_publishes_without_waiting, .timeout = 5)
{
    bus_init();
    int64_t r = 0;
    struct timeval tv = {0, 1000};
    cr_assert_eq(event_base_once(gs_hub_base(), -1, EV_TIMEOUT, callback_publish, &r, &tv), 0);
    gs_sleep(20);
    cr_assert_eq(r, -EINPROGRESS);
    cr_assert_eq(bus.n, 1);
    cr_assert_eq(bus.q[0].token, 0, "no answer asked for");
}

Test(bus, delivery_order_duplicates_and_gaps)
{
    cr_assert_eq(rt_chan_deliver("g", 5, "5", 1), 1);
    cr_assert_eq(rt_chan_deliver("g", 6, "6", 1), 1);
    cr_assert_eq(rt_chan_deliver("g", 7, "7", 1), 1);
    cr_assert_eq(rt_chan_deliver("g", 6, "6", 1), 0, "duplicate");
    cr_assert_eq(rt_chan_deliver("g", 4, "4", 1), 0, "older than the newest");
    cr_assert_eq(rt_chan_deliver("g", 0, "0", 1), -EINVAL);
    cr_assert_eq(stats().lost, 0, "a channel's first id is no gap");
    cr_assert_eq(rt_chan_deliver("g", 10, "10", 2), 1);
    cr_assert_eq(stats().lost, 2, "8 and 9");

    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("g", GS_CHAN_ALL, 0, &bt), 4);
    uint64_t want[] = {5, 6, 7, 10};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(bt.msgs[i]->id, want[i]);
    cr_assert_not(bt.dropped);
    gs_chan_release(&bt);

    cr_assert_eq(gs_chan_wait("g", 6, 0, &bt), 2);
    cr_assert_not(bt.dropped, "7 follows 6");
    gs_chan_release(&bt);
    cr_assert_eq(gs_chan_wait("g", 7, 0, &bt), 1);
    cr_assert(bt.dropped, "8 and 9 are lost");
    cr_assert_eq(bt.msgs[0]->id, 10);
    gs_chan_release(&bt);
    cr_assert_eq(gs_chan_wait("g", 8, 0, &bt), 1);
    cr_assert(bt.dropped, "a cursor inside the gap: 9 is lost");
    gs_chan_release(&bt);
    cr_assert_eq(gs_chan_wait("g", 9, 0, &bt), 1);
    cr_assert_not(bt.dropped, "10 follows 9");
    gs_chan_release(&bt);
}

Test(bus, delivery_wakes_waiters, .timeout = 5)
{
    cr_assert_eq(rt_chan_deliver("w", 41, "a", 1), 1);
    waiter w = {.name = "w", .after = 41, .timeout = 5000};
    gs_thread *t = start(&w);
    gs_yield();
    cr_assert_eq(rt_chan_deliver("w", 42, "b", 1), 1);
    join(t);
    cr_assert_eq(w.r, 1);
    cr_assert_eq(w.first_id, 42);
    cr_assert_not(w.b.dropped);
}

/* ------------------------------------------------------------- lifetime */

Test(chan, channels_are_forgotten_once_unused, .timeout = 5)
{
    gs_chan_batch bt;
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "poll-%d", i);
        cr_assert_eq(gs_chan_wait(name, GS_CHAN_NEW, 0, &bt), -ETIMEDOUT);
        gs_chan_release(&bt);
    }
    cr_assert_eq(stats().channels, 0);

    waiter w = {.name = "gone", .after = GS_CHAN_NEW, .timeout = 20};
    gs_thread *t = start(&w);
    gs_yield();
    cr_assert_eq(stats().channels, 1);
    join(t);
    cr_assert_eq(w.r, -ETIMEDOUT);
    cr_assert_eq(stats().channels, 0);
}

Test(chan, a_forgotten_channel_never_reuses_an_id, .timeout = 5)
{
    cr_assert_eq(gs_chan_limits(10, 20, 0), 0);
    int64_t old = pub("reborn", "a");
    gs_sleep(40);
    cr_assert_eq(stats().channels, 0);
    int64_t fresh = pub("reborn", "b");
    cr_assert_gt(fresh, old);
    gs_chan_batch bt;
    cr_assert_eq(gs_chan_wait("reborn", (uint64_t)old - 1, 0, &bt), 1);
    cr_assert(bt.dropped, "the old message is gone and the client is told");
    gs_chan_release(&bt);
}

Test(chan, stats_count_messages_and_bytes)
{
    pub("s1", "abc");
    pub("s1", "de");
    pub("s2", "f");
    rt_chan_stats s = stats();
    cr_assert_eq(s.channels, 2);
    cr_assert_eq(s.messages, 3);
    cr_assert_eq(s.bytes, 6);
    cr_assert_eq(s.waiters, 0);
}
