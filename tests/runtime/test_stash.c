/* Stacks of long-parked threads go to the heap and their pages back to the
 * kernel (runtime/hub.c, "stashing"); the thread resumes with its frames
 * intact. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/hub.h"

#define PATTERN_LEN 600

/* Parks in a long wait with a pattern in its frame; returns how many
 * bytes of the pattern survived (all of them, or the test fails). */
static void *parker(void *arg)
{
    volatile unsigned char pattern[PATTERN_LEN];
    uintptr_t seed = (uintptr_t)arg;
    for (size_t i = 0; i < PATTERN_LEN; i++)
        pattern[i] = (unsigned char)(seed + i * 7);
    int r = rt_wait_interruptible(NULL, GS_FOREVER);
    size_t ok = 0;
    for (size_t i = 0; i < PATTERN_LEN; i++)
        ok += pattern[i] == (unsigned char)(seed + i * 7);
    return (void *)(uintptr_t)(r == -EPIPE ? ok : 0);
}

/* Resident pages of t's stack, descriptor page included. */
static size_t resident_pages(const gs_thread *t)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)t->asan_bottom & ~(pg - 1);
    uintptr_t hi = ((uintptr_t)t->stack + sizeof(rt_stack) + pg - 1) & ~(pg - 1);
    size_t n = (hi - lo) / pg;
    unsigned char vec[n];
    cr_assert_eq(mincore((void *)lo, hi - lo, vec), 0);
    size_t in = 0;
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    return in;
}

static void wake_and_check(gs_thread *t)
{
    cr_assert(rt_interrupt(t, -EPIPE));
    void *res;
    cr_assert_eq(gs_join(t, &res, 5000), 0);
    cr_assert_eq((uintptr_t)res, PATTERN_LEN, "the frame came back with %zu of %d bytes",
                 (size_t)(uintptr_t)res, PATTERN_LEN);
}

Test(stash, long_wait_stack_goes_to_heap_and_comes_back, .timeout = 10)
{
    gs_thread *t = gs_spawn(parker, (void *)(uintptr_t)3);
    gs_sleep(50);
    cr_assert_null(t->stash);
    cr_assert_gt(resident_pages(t), 0);
    gs_sleep(2300); /* two sweeps: parked for a whole period */
    cr_assert_not_null(t->stash, "a thread parked > 2 s is stashed");
    cr_assert_lt(t->stash_len, 4096, "only the bytes in use: %zu", t->stash_len);
    cr_assert_eq(resident_pages(t), 0, "no page of the stack stays resident");
    wake_and_check(t);
}

Test(stash, off_means_never, .timeout = 10)
{
    gs_set_stash_after(0);
    gs_thread *t = gs_spawn(parker, (void *)(uintptr_t)7);
    gs_sleep(2300);
    cr_assert_null(t->stash);
    cr_assert_gt(resident_pages(t), 0);
    wake_and_check(t);
    gs_set_stash_after(1000);
}

Test(stash, period_is_settable, .timeout = 10)
{
    gs_set_stash_after(100);
    gs_thread *t = gs_spawn(parker, (void *)(uintptr_t)8);
    gs_sleep(400); /* two periods of 100 ms */
    cr_assert_not_null(t->stash);
    wake_and_check(t);
    gs_set_stash_after(1000);
}

Test(stash, short_wait_is_not_stashed, .timeout = 10)
{
    gs_thread *t = gs_spawn(parker, (void *)(uintptr_t)5);
    gs_sleep(300); /* the first sweep is 1 s after the first wait */
    cr_assert_null(t->stash);
    wake_and_check(t);
}

/* Many stashed threads woken at once, as by a fan-out: each resumes on its
 * own frames, whatever order they run in. */
Test(stash, many_threads_resume_on_their_own_frames, .timeout = 20)
{
    enum { N = 500 };
    static gs_thread *ts[N];
    for (int i = 0; i < N; i++)
        ts[i] = gs_spawn(parker, (void *)(uintptr_t)(i * 13));
    gs_sleep(2300);
    for (int i = 0; i < N; i++)
        cr_assert_not_null(ts[i]->stash);
    for (int i = N - 1; i >= 0; i--)
        cr_assert(rt_interrupt(ts[i], -EPIPE));
    for (int i = 0; i < N; i++) {
        void *res;
        cr_assert_eq(gs_join(ts[i], &res, 5000), 0);
        cr_assert_eq((uintptr_t)res, PATTERN_LEN, "thread %d", i);
    }
}

/* A thread woken (killed) while stashed unwinds normally and its stack is
 * reused by the next thread. */
Test(stash, killed_while_stashed, .timeout = 10)
{
    gs_thread *t = gs_spawn(parker, (void *)(uintptr_t)9);
    gs_sleep(2300);
    cr_assert_not_null(t->stash);
    cr_assert_eq(gs_kill(t), 0);
    void *res;
    cr_assert_eq(gs_join(t, &res, 5000), 0);
    cr_assert_eq((uintptr_t)res, 0, "its wait returned -ECANCELED, not -EPIPE");
    gs_thread *u = gs_spawn(parker, (void *)(uintptr_t)11);
    gs_sleep(10);
    wake_and_check(u);
}
