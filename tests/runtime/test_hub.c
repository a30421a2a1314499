/* Green threads and the hub: spawn, join, kill, sleep, yield, link,
 * deadlines, the implicit and explicit hub, stack overflow. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "greenserve.h"

static char order[256];

static void note(const char *s)
{
    strcat(order, s);
    strcat(order, ";");
}

static void *sleeper(void *arg)
{
    const char *name = arg;
    gs_sleep(name[4] == '1' ? 40 : 20);
    note(name);
    return arg;
}

/* The seeds' first example: func1 sleeps 2 units, func2 1 unit. */
Test(hub, sleep_order_func2_then_func1, .timeout = 5)
{
    order[0] = 0;
    gs_thread *a = gs_spawn(sleeper, "func1");
    gs_thread *b = gs_spawn(sleeper, "func2");
    void *ra, *rb;
    cr_assert_eq(gs_join(a, &ra, GS_FOREVER), 0);
    cr_assert_eq(gs_join(b, &rb, GS_FOREVER), 0);
    cr_assert_str_eq(order, "func2;func1;");
    cr_assert_str_eq(ra, "func1");
    cr_assert_str_eq(rb, "func2");
}

static void *ret_arg(void *arg)
{
    return arg;
}

Test(hub, join_after_exit_returns_result)
{
    gs_thread *t = gs_spawn(ret_arg, (void *)42);
    cr_assert_eq(gs_yield(), 0);
    cr_assert_eq(gs_sleep(5), 0); /* t has certainly exited */
    void *r = NULL;
    cr_assert_eq(gs_join(t, &r, 0), 0);
    cr_assert_eq((long)r, 42);
}

Test(hub, join_timeout_then_join_again, .timeout = 5)
{
    gs_thread *t = gs_spawn(sleeper, "func1"); /* 40 ms */
    cr_assert_eq(gs_join(t, NULL, 5), -ETIMEDOUT);
    cr_assert_eq(gs_join(t, NULL, GS_FOREVER), 0);
}

Test(hub, join_self_is_deadlock)
{
    cr_assert_eq(gs_join(gs_self(), NULL, 0), -EDEADLK);
}

static void *sleep_long(void *arg)
{
    int *res = arg;
    *res = gs_sleep(10000);
    res[1] = gs_sleep(1); /* still cancelled */
    return NULL;
}

Test(hub, kill_while_sleeping, .timeout = 5)
{
    int res[2] = {1, 1};
    gs_thread *t = gs_spawn(sleep_long, res);
    gs_sleep(1);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_kill(t), 0);
    cr_assert_eq(gs_join(t, NULL, GS_FOREVER), 0);
    cr_assert_eq(res[0], -ECANCELED);
    cr_assert_eq(res[1], -ECANCELED);
    cr_assert_lt(gs_now_ms() - t0, 1000);
}

Test(hub, kill_before_first_run, .timeout = 5)
{
    int res[2] = {1, 1};
    gs_thread *t = gs_spawn(sleep_long, res);
    gs_kill(t);
    cr_assert_eq(gs_join(t, NULL, GS_FOREVER), 0);
    cr_assert_eq(res[0], -ECANCELED);
}

Test(hub, kill_of_dead_thread_is_noop)
{
    gs_thread *t = gs_spawn(ret_arg, NULL);
    gs_sleep(1);
    cr_assert_eq(gs_kill(t), 0);
    cr_assert_eq(gs_join(t, NULL, 0), 0);
}

static void *counter(void *arg)
{
    int *n = arg;
    for (int i = 0; i < 3; i++) {
        (*n)++;
        gs_yield();
    }
    return NULL;
}

Test(hub, yield_interleaves)
{
    int a = 0, b = 0;
    gs_thread *ta = gs_spawn(counter, &a);
    gs_thread *tb = gs_spawn(counter, &b);
    gs_yield();
    cr_assert_eq(a, 1);
    cr_assert_eq(b, 1);
    gs_yield();
    cr_assert_eq(a, 2);
    cr_assert_eq(b, 2);
    gs_join(ta, NULL, GS_FOREVER);
    gs_join(tb, NULL, GS_FOREVER);
    cr_assert_eq(a + b, 6);
}

static void on_exit_cb(gs_thread *t, void *result, void *arg)
{
    (void)t;
    *(long *)arg = (long)result + 1;
}

Test(hub, link_called_at_exit_and_when_already_dead)
{
    long seen = 0, seen2 = 0;
    gs_thread *t = gs_spawn(ret_arg, (void *)7);
    cr_assert_eq(gs_link(t, on_exit_cb, &seen), 0);
    cr_assert_eq(seen, 0);
    gs_sleep(1);
    cr_assert_eq(seen, 8);
    cr_assert_eq(gs_link(t, on_exit_cb, &seen2), 0);
    cr_assert_eq(seen2, 8);
    gs_join(t, NULL, 0);
}

Test(hub, deadline_bounds_waits, .timeout = 5)
{
    gs_deadline d;
    int64_t t0 = gs_now_ms();
    gs_deadline_begin(&d, 30);
    int r = gs_sleep(5000);
    gs_deadline_end(&d);
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_geq(gs_now_ms() - t0, 25);
    cr_assert_lt(gs_now_ms() - t0, 1000);
    cr_assert_eq(gs_sleep(1), 0); /* the deadline is gone */
}

Test(hub, nested_deadline_nearest_wins, .timeout = 5)
{
    gs_deadline outer, inner;
    gs_deadline_begin(&outer, 20);
    gs_deadline_begin(&inner, 5000); /* looser: the outer still bounds */
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_sleep(3000), -ETIMEDOUT);
    cr_assert_lt(gs_now_ms() - t0, 1000);
    gs_deadline_end(&inner);
    gs_deadline_end(&outer);
}

static void *sleeps_arg_ms(void *arg)
{
    gs_sleep((int64_t)(long)arg);
    return NULL;
}

/* A wait's timer outlives a wait that ended early (it is re-armed only
 * when it would fire too late): a later, shorter wait must still time out
 * on time, and a later, longer one must not time out at the old time. */
Test(hub, timeouts_after_early_wakes, .timeout = 10)
{
    gs_thread *t = gs_spawn(sleeps_arg_ms, (void *)5L);
    cr_assert_eq(gs_join(t, NULL, 8000), 0); /* woken at ~5 ms, 8 s armed */
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_join(gs_spawn(sleeps_arg_ms, (void *)3000L), NULL, 50), -ETIMEDOUT);
    int64_t took = gs_now_ms() - t0;
    cr_assert(took >= 50 && took < 1000, "a 50 ms wait took %lld ms", (long long)took);

    t = gs_spawn(sleeps_arg_ms, (void *)5L);
    cr_assert_eq(gs_join(t, NULL, 30), 0); /* woken at ~5 ms, 30 ms armed */
    t0 = gs_now_ms();
    t = gs_spawn(sleeps_arg_ms, (void *)100L);
    cr_assert_eq(gs_join(t, NULL, 400), 0, "the old 30 ms timer ended a 400 ms wait");
    cr_assert_geq(gs_now_ms() - t0, 100);
}

static void *joins_quick_thread(void *arg)
{
    (void)arg;
    gs_join(gs_spawn(sleeps_arg_ms, (void *)5L), NULL, 8000);
    return NULL;
}

/* A timer left armed by a wait that ended keeps nobody waiting. */
Test(hub, run_ends_with_a_stale_timer_armed, .timeout = 5)
{
    int64_t t0 = gs_now_ms();
    gs_spawn_n(joins_quick_thread, NULL);
    cr_assert_eq(gs_hub_run(), 0);
    cr_assert_lt(gs_now_ms() - t0, 1000, "gs_hub_run waited for a timer nobody needs");
}

static void *spawner_done(void *arg)
{
    (*(int *)arg)++;
    return NULL;
}

Test(hub, explicit_run_returns_when_nothing_left, .timeout = 5)
{
    int n = 0;
    for (int i = 0; i < 10; i++)
        gs_spawn_n(spawner_done, &n);
    cr_assert_eq(gs_hub_run(), 0);
    cr_assert_eq(n, 10);
}

static void *stopper(void *arg)
{
    (void)arg;
    gs_sleep(10);
    gs_hub_stop();
    return NULL;
}

Test(hub, stop_ends_run_with_events_pending, .timeout = 5)
{
    order[0] = 0;
    gs_spawn_n(stopper, NULL);    /* stops the hub after 10 ms */
    gs_spawn_n(sleeper, "func1"); /* keeps it busy for 40 ms */
    cr_assert_eq(gs_hub_run(), 0);
    cr_assert_str_eq(order, "", "gs_hub_run waited for the sleeper instead of stopping");
    gs_sleep(100);
    cr_assert_str_eq(order, "func1;");
}

static void *waits_forever(void *arg)
{
    (void)arg;
    return (void *)(long)gs_sleep(-1 + 0); /* yield, returns */
}

Test(hub, run_from_green_thread_is_refused)
{
    gs_thread *t = gs_spawn(waits_forever, NULL);
    gs_join(t, NULL, GS_FOREVER);
    cr_assert_eq(gs_hub_run(), 0);
}

static int recurse(int n)
{
    volatile char buf[1024];
    buf[0] = (char)n;
    return n ? recurse(n - 1) + buf[0] : 0;
}

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(long)recurse(1000); /* ~1 MiB of stack */
}

Test(hub, stack_overflow_hits_guard, .signal = SIGSEGV, .timeout = 5)
{
    gs_thread *t = gs_spawn(overflow, NULL);
    gs_join(t, NULL, GS_FOREVER);
}

static void *deep(void *arg)
{
    (void)arg;
    return (void *)(long)recurse(200);
}

Test(hub, stack_size_is_settable, .timeout = 5)
{
    gs_set_stack_size(512 * 1024);
    gs_thread *t = gs_spawn(deep, NULL);
    cr_assert_eq(gs_join(t, NULL, GS_FOREVER), 0);
}

Test(hub, base_is_shared_and_stable)
{
    cr_assert_not_null(gs_hub_base());
    cr_assert_eq(gs_hub_base(), gs_hub_base());
}
