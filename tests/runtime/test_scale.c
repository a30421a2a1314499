/* Scale: 100,000 green threads alive at once, each parked in a sleep, in
 * one process, at a cost in memory of about one stack page and a struct
 * each. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

#include "greenserve.h"

enum { THREADS = 100000, SLEEP_MS = 1000 };

/* Valgrind tracks at most some tens of thousands of mappings, runs ~50
 * times slower, and its own memory is part of RSS: under it, fewer and
 * longer sleepers, and no RSS bound. */
enum { VALGRIND_THREADS = 5000, VALGRIND_SLEEP_MS = 4000 };

/* Each guarded stack is two mappings (guard + stack). */
#define MAP_COUNT_NEEDED 250000L
#define MAP_COUNT_PATH   "/proc/sys/vm/max_map_count"

static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static bool write_long(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fprintf(f, "%ld\n", v) > 0;
    return fclose(f) == 0 && ok;
}

static void ensure_map_count(void)
{
    long have = read_long(MAP_COUNT_PATH);
    if (have >= MAP_COUNT_NEEDED)
        return;
    bool raised = geteuid() == 0 && write_long(MAP_COUNT_PATH, MAP_COUNT_NEEDED) &&
                  read_long(MAP_COUNT_PATH) >= MAP_COUNT_NEEDED;
    cr_assert(raised,
              "%d green threads need vm.max_map_count >= %ld (it is %ld) and this test "
              "could not raise it: run it as root, or `sysctl vm.max_map_count=%ld`",
              THREADS, MAP_COUNT_NEEDED, have, MAP_COUNT_NEEDED);
}

/* Resident set size in KiB. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static int started, finished, sleep_errors, sleep_ms;

static void *sleeper(void *arg)
{
    (void)arg;
    started++;
    if (gs_sleep(sleep_ms) != 0)
        sleep_errors++;
    finished++;
    return NULL;
}

Test(scale, hundred_thousand_sleeping_green_threads, .timeout = 60)
{
    int n = RUNNING_ON_VALGRIND ? VALGRIND_THREADS : THREADS;
    sleep_ms = RUNNING_ON_VALGRIND ? VALGRIND_SLEEP_MS : SLEEP_MS;
    ensure_map_count();
    gs_thread **t = calloc(n, sizeof(*t));
    cr_assert_not_null(t);
    memset(t, 0, n * sizeof(*t)); /* resident before the baseline */
    gs_hub_base();
    long before = rss_kib();
    int64_t t0 = gs_now_ms();
    for (int i = 0; i < n; i++) {
        t[i] = gs_spawn(sleeper, NULL);
        cr_assert_not_null(t[i], "spawn %d failed (see the log above)", i);
    }
    int64_t spawned = gs_now_ms() - t0;
    /* They first run, and start sleeping, once the caller yields. */
    while (started < n)
        gs_yield();
    int64_t up = gs_now_ms() - t0 - spawned;
    long during = rss_kib();
    cr_assert_eq(finished, 0, "the first sleeper woke (after %d ms) before all had started",
                 sleep_ms);
    for (int i = 0; i < n; i++)
        cr_assert_eq(gs_join(t[i], NULL, GS_FOREVER), 0);
    cr_assert_eq(finished, n);
    cr_assert_eq(sleep_errors, 0);
    double per_thread = (double)(during - before) * 1024 / n;
    cr_log_info("%d green threads spawned in %ld ms, all asleep %ld ms later; %.0f bytes of "
                "RSS each",
                n, (long)spawned, (long)up, per_thread);
#if !defined(__SANITIZE_ADDRESS__) /* ASan's shadow memory is part of RSS */
    if (!RUNNING_ON_VALGRIND)
        cr_assert_lt(per_thread, 8192, "an idle green thread costs %.0f bytes of RSS", per_thread);
#endif
    free(t);
}
