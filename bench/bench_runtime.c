/*
 * bench_runtime.c -- what the runtime's basic operations cost on this
 * machine: the raw fcontext jump (the floor), a green switch, spawn+join,
 * a gs_event hand-off, a gs_offload round trip, and the memory an idle
 * green thread holds. Each figure is the median of REPEATS runs.
 *
 *     make bench-runtime
 *     build/bench/bench_runtime [repeats] [figure]   (one figure: under perf)
 *
 * The results and how to read them: bench/RESULTS.md, section "Runtime".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "greenserve.h"
#include "runtime/fcontext.h"

#define REPEATS      7
#define IDLE_THREADS 100000
/* Each green thread stack is two mappings (the guard page and the stack). */
#define MAP_COUNT_NEEDED 250000

static double clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Everything but the offload round trip runs on this one OS thread, so it
 * is timed in this thread's CPU time: on a shared machine, time spent
 * preempted by other processes is not the runtime's cost. */
static double cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static double wall_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A figure: the median of `repeats` runs of fn(n), after a shorter one
 * that warms caches, the stack pool, libevent and the pool threads. */
static double measure(double (*fn)(long n), long n, int repeats)
{
    double v[64];
    fn(n / 10 + 1);
    for (int i = 0; i < repeats; i++)
        v[i] = fn(n);
    return median(v, repeats);
}

/* ---- raw jump_fcontext: two contexts ping-ponging ---- */

/* Whether both sides switch from one call down, as the hub does, and
 * whether they use the hub's switch (fcontext.S) rather than boost's. */
static bool raw_deep, raw_ours;

static rt_fctx jump(rt_fctx to)
{
    return raw_ours ? rt_jump_fcontext(to, NULL).fctx : jump_fcontext(to, NULL).fctx;
}

/* One call deep: after the jump, this frame's return is the first thing
 * the resumed side does (kept a real call: no inlining, no tail jump). */
__attribute__((noinline, optimize("no-optimize-sibling-calls"))) static rt_fctx
jump_one_deep(rt_fctx to)
{
    return jump(to);
}

static void bounce(rt_transfer tr)
{
    rt_fctx peer = tr.fctx;
    for (;;)
        peer = raw_deep ? jump_one_deep(peer) : jump(peer);
}

/* ns per round trip: main -> bounce -> main, two jumps. */
static double raw_round_trips(long n, bool deep, bool ours)
{
    enum { SIZE = 64 * 1024 };
    char *stack = aligned_alloc(64, SIZE);
    raw_deep = deep;
    raw_ours = ours;
    rt_fctx peer = make_fcontext(stack + SIZE, SIZE, bounce);
    peer = jump_fcontext(peer, NULL).fctx; /* start it */
    double t0 = cpu_ns();
    for (long i = 0; i < n; i++)
        peer = deep ? jump_one_deep(peer) : jump(peer);
    double ns = (cpu_ns() - t0) / (double)n;
    free(stack); /* bounce stays parked forever: nothing to unwind */
    return ns;
}

static double bench_raw_jump(long n)
{
    return raw_round_trips(n, false, false);
}

static double bench_raw_jump_deep(long n)
{
    return raw_round_trips(n, true, false);
}

static double bench_ours_jump(long n)
{
    return raw_round_trips(n, false, true);
}

static double bench_ours_jump_deep(long n)
{
    return raw_round_trips(n, true, true);
}

/* ---- green switch: two threads yielding to each other ---- */

static void *yielder(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        gs_yield();
    return NULL;
}

/* ns per switch: each yield hands the OS thread to the other thread. */
static double bench_switch(long n)
{
    gs_thread *a = gs_spawn(yielder, &n), *b = gs_spawn(yielder, &n);
    double t0 = cpu_ns();
    gs_join(a, NULL, GS_FOREVER);
    gs_join(b, NULL, GS_FOREVER);
    return (cpu_ns() - t0) / (2.0 * (double)n);
}

/* ---- spawn + join ---- */

static void *return_arg(void *arg)
{
    return arg;
}

static double bench_spawn_join(long n)
{
    double t0 = cpu_ns();
    for (long i = 0; i < n; i++) {
        gs_thread *t = gs_spawn(return_arg, NULL);
        if (!t || gs_join(t, NULL, GS_FOREVER) < 0) {
            fprintf(stderr, "spawn/join failed\n");
            exit(1);
        }
    }
    return (cpu_ns() - t0) / (double)n;
}

/* ---- gs_event ping-pong ---- */

typedef struct pingpong {
    gs_event **ping, **pong;
    long n;
} pingpong;

static void *ponger(void *arg)
{
    pingpong *pp = arg;
    for (long i = 0; i < pp->n; i++) {
        gs_event_wait(pp->ping[i], NULL, GS_FOREVER);
        gs_event_send(pp->pong[i], NULL);
    }
    return NULL;
}

static void *pinger(void *arg)
{
    pingpong *pp = arg;
    for (long i = 0; i < pp->n; i++) {
        gs_event_send(pp->ping[i], NULL);
        gs_event_wait(pp->pong[i], NULL, GS_FOREVER);
    }
    return NULL;
}

/* ns per round trip: send, the other side wakes and answers, we wake.
 * gs_event is single-use, so the events are made beforehand, untimed. */
static double bench_event(long n)
{
    pingpong pp = {.ping = calloc((size_t)n, sizeof(gs_event *)),
                   .pong = calloc((size_t)n, sizeof(gs_event *)),
                   .n = n};
    for (long i = 0; i < n; i++) {
        pp.ping[i] = gs_event_new();
        pp.pong[i] = gs_event_new();
    }
    gs_thread *b = gs_spawn(ponger, &pp), *a = gs_spawn(pinger, &pp);
    double t0 = cpu_ns();
    gs_join(a, NULL, GS_FOREVER);
    gs_join(b, NULL, GS_FOREVER);
    double ns = (cpu_ns() - t0) / (double)n;
    for (long i = 0; i < n; i++) {
        gs_event_free(pp.ping[i]);
        gs_event_free(pp.pong[i]);
    }
    free(pp.ping);
    free(pp.pong);
    return ns;
}

/* ---- gs_offload round trip ---- */

static void *noop(void *arg)
{
    return arg;
}

static void *offloader(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        gs_offload(noop, NULL, NULL);
    return NULL;
}

/* From a green thread, as handlers call it: submit, park, pool thread runs
 * fn, the hub is woken, the thread resumes. Wall time: the latency, which
 * is two cross-thread wake-ups and depends on the OS scheduler. */
static double bench_offload(long n)
{
    gs_thread *t = gs_spawn(offloader, &n);
    double t0 = wall_ns();
    gs_join(t, NULL, GS_FOREVER);
    return (wall_ns() - t0) / (double)n;
}

/* The same, in the hub thread's CPU time: what each call costs the hub. */
static double bench_offload_cpu(long n)
{
    gs_thread *t = gs_spawn(offloader, &n);
    double t0 = cpu_ns();
    gs_join(t, NULL, GS_FOREVER);
    return (cpu_ns() - t0) / (double)n;
}

/* ---- memory per idle green thread ---- */

/* A "VmRSS:"-style field of /proc/self/status, in KiB (-1 if absent). */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t len = strlen(field);
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, field, len) && sscanf(line + len, " %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static void *idle(void *arg)
{
    gs_event_wait(arg, NULL, GS_FOREVER);
    return NULL;
}

/* What each of n parked threads adds: [0] resident bytes (VmRSS), [1] page
 * table bytes (VmPTE, which VmRSS does not count). */
static void idle_cost_child(long n, double cost[2])
{
    gs_event *ev = gs_event_new();
    gs_thread *warm = gs_spawn(return_arg, NULL); /* the hub, its loop stack */
    gs_join(warm, NULL, GS_FOREVER);
    long rss = status_kib("VmRSS:"), pte = status_kib("VmPTE:");
    cost[0] = cost[1] = -1;
    for (long i = 0; i < n; i++)
        if (gs_spawn_n(idle, ev) < 0)
            return;
    gs_yield(); /* every one of them runs and parks on ev */
    cost[0] = (double)(status_kib("VmRSS:") - rss) * 1024.0 / (double)n;
    cost[1] = (double)(status_kib("VmPTE:") - pte) * 1024.0 / (double)n;
}

/* Runs in a fresh child process each time, so memory freed by an earlier
 * run (pooled stacks, malloc's free lists) cannot make a later one look
 * cheaper. */
static int bench_idle_cost(long n, double cost[2])
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        idle_cost_child(n, cost);
        ssize_t w = write(fds[1], cost, 2 * sizeof(double));
        _exit(w == 2 * sizeof(double) ? 0 : 1);
    }
    ssize_t r = pid > 0 ? read(fds[0], cost, 2 * sizeof(double)) : -1;
    if (pid > 0)
        waitpid(pid, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    return r == 2 * sizeof(double) && cost[0] > 0 ? 0 : -1;
}

/* n idle threads need 2n mappings: raise vm.max_map_count if we may, or
 * run with as many threads as the limit allows and say so. */
static long idle_thread_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long have = 0;
    if (!f || fscanf(f, "%ld", &have) != 1)
        have = 65530;
    if (f)
        fclose(f);
    if (have >= MAP_COUNT_NEEDED)
        return IDLE_THREADS;
    f = geteuid() == 0 ? fopen("/proc/sys/vm/max_map_count", "w") : NULL;
    if (f && fprintf(f, "%d\n", MAP_COUNT_NEEDED) > 0 && fclose(f) == 0) {
        printf("# raised vm.max_map_count from %ld to %d\n", have, MAP_COUNT_NEEDED);
        return IDLE_THREADS;
    }
    long n = (have - 1000) / 2;
    printf("# vm.max_map_count is %ld and %s: measuring %ld idle threads, not %d\n", have,
           geteuid() == 0 ? "cannot be written" : "only root may raise it", n, IDLE_THREADS);
    return n;
}

/* ---- report ---- */

static void machine(void)
{
    struct utsname u;
    uname(&u);
    char model[256] = "unknown CPU", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            snprintf(model, sizeof(model), "%s", colon + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    }
    if (f)
        fclose(f);
    printf("# %s, %ld CPUs, %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release);
}

typedef struct figure {
    const char *name; /* for the command line */
    const char *what, *unit;
    double (*fn)(long n);
    long n;
    double target; /* 0: none */
} figure;

/* In this order; the first and third are compared at the end. */
enum { FIG_RAW, FIG_RAW1, FIG_OURS, FIG_OURS1, FIG_SWITCH, FIG_COUNT = 9 };

static const figure figures[FIG_COUNT] = {
    {"raw", "raw jump_fcontext round trip (2 jumps)", "ns", bench_raw_jump, 20000000, 0},
    {"raw1", "  the same, each side switching 1 call deep", "ns", bench_raw_jump_deep, 20000000, 0},
    {"ours", "rt_jump_fcontext (fcontext.S) round trip", "ns", bench_ours_jump, 20000000, 0},
    {"ours1", "  the same, each side switching 1 call deep", "ns", bench_ours_jump_deep, 20000000,
     0},
    {"switch", "green switch (gs_yield ping-pong), per switch", "ns", bench_switch, 10000000, 15},
    {"spawn", "spawn+join (pooled stack)", "ns", bench_spawn_join, 2000000, 300},
    {"event", "gs_event ping-pong, per round trip", "ns", bench_event, 1000000, 0},
    {"offload", "gs_offload round trip (no-op fn), wall time", "ns", bench_offload, 50000, 0},
    {"offload-cpu", "  the same, hub thread CPU time per call", "ns", bench_offload_cpu, 50000, 0},
};

static void row(const char *what, double v, const char *unit, double target)
{
    char t[40] = "";
    if (target > 0)
        snprintf(t, sizeof(t), "target <= %g %s  %s", target, unit, v <= target ? "ok" : "MISSED");
    printf("%-46s %9.1f %-4s %s\n", what, v, unit, t);
}

/* The idle-thread figure first, while this process has no hub and no pool
 * threads that a fork would have to leave behind. */
static void report_idle(int repeats)
{
    long n = idle_thread_count();
    double rss[64], pte[64], cost[2];
    for (int i = 0; i < repeats; i++) {
        if (bench_idle_cost(n, cost) < 0) {
            printf("# idle threads: the measuring child failed (see stderr)\n");
            return;
        }
        rss[i] = cost[0] / 1024.0;
        pte[i] = cost[1];
    }
    char what[80];
    snprintf(what, sizeof(what), "RSS per idle green thread (%ld alive)", n);
    row(what, median(rss, repeats), "KiB", 5);
    printf("#   plus %.0f bytes of page tables per thread (VmPTE, not in VmRSS)\n",
           median(pte, repeats));
}

/* usage: bench_runtime [repeats] [rss|raw|raw1|switch|spawn|event|offload|offload-cpu]
 * (a name runs that figure alone). */
int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : REPEATS;
    if (repeats < 1 || repeats > 64)
        repeats = REPEATS;
    const char *only = argc > 2 ? argv[2] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    machine();
    printf("# median of %d runs each\n", repeats);
    if (!only || !strcmp(only, "rss"))
        report_idle(repeats);
    double got[FIG_COUNT] = {0};
    for (int i = 0; i < FIG_COUNT; i++) {
        const figure *f = &figures[i];
        if (only && strcmp(only, f->name))
            continue;
        got[i] = measure(f->fn, f->n, repeats);
        row(f->what, got[i], f->unit, f->target);
    }
    double jump = got[FIG_RAW] / 2;
    if (jump > 0 && got[FIG_SWITCH] > 0)
        printf("# a green switch costs %.1fx a raw jump (%.1f ns, half a round trip)\n",
               got[FIG_SWITCH] / jump, jump);
    return 0;
}
