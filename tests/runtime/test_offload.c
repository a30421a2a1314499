/* The thread pool: gs_offload, gs_offload_threads, gs_getaddrinfo, and the
 * abandonable jobs they are built on. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "greenserve.h"
#include "runtime/offload.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static long tid(void)
{
    return syscall(SYS_gettid);
}

static int os_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 2; /* . and .. */
}

/* ---- gs_offload ---- */

static void *double_it(void *arg)
{
    return (void *)((long)arg * 2);
}

static void *whose_thread(void *arg)
{
    (void)arg;
    return (void *)tid();
}

Test(offload, round_trip_runs_on_another_thread, .timeout = 5)
{
    gs_hub_base(); /* main is now the root green thread of a hub */
    void *r = NULL;
    cr_assert_eq(gs_offload(double_it, (void *)21, &r), 0);
    cr_assert_eq((long)r, 42);
    cr_assert_eq(gs_offload(whose_thread, NULL, &r), 0);
    cr_assert_neq((long)r, tid());
    cr_assert_eq(gs_offload(double_it, (void *)1, NULL), 0); /* result optional */
}

static void *nap(void *arg)
{
    sleep_ms((int)(long)arg);
    return arg;
}

static void *offload_nap(void *arg)
{
    void *r = NULL;
    long rc = gs_offload(nap, arg, &r);
    return rc < 0 ? (void *)rc : r;
}

static void *ticker(void *arg)
{
    int *ticks = arg;
    while (gs_sleep(10) == 0)
        (*ticks)++;
    return NULL;
}

static int running, most_running;

static void *counted_nap(void *arg)
{
    int now = __atomic_add_fetch(&running, 1, __ATOMIC_SEQ_CST);
    int seen = __atomic_load_n(&most_running, __ATOMIC_SEQ_CST);
    while (now > seen && !__atomic_compare_exchange_n(&most_running, &seen, now, false,
                                                      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
    sleep_ms(100);
    __atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
    return arg;
}

static void *offload_counted(void *arg)
{
    void *r = NULL;
    long rc = gs_offload(counted_nap, arg, &r);
    return rc < 0 ? (void *)rc : r;
}

/* 8 jobs of 100 ms on 4 threads: two rounds of 4, while the hub keeps
 * running other green threads. */
Test(offload, concurrent_jobs_overlap_up_to_pool_size, .timeout = 5)
{
    gs_offload_threads(4);
    int ticks = 0;
    gs_thread *tick = gs_spawn(ticker, &ticks);
    gs_thread *t[8];
    int64_t t0 = gs_now_ms();
    for (long i = 0; i < 8; i++)
        t[i] = gs_spawn(offload_counted, (void *)i);
    for (long i = 0; i < 8; i++) {
        void *r;
        cr_assert_eq(gs_join(t[i], &r, GS_FOREVER), 0);
        cr_assert_eq((long)r, i);
    }
    int64_t took = gs_now_ms() - t0;
    cr_assert_eq(most_running, 4, "%d jobs ran at once", most_running);
    cr_assert_geq(took, 195, "8 x 100 ms on 4 threads took %ld ms", (long)took);
    if (!RUNNING_ON_VALGRIND)
        cr_assert_lt(took, 450, "8 x 100 ms on 4 threads took %ld ms", (long)took);
    cr_assert_geq(ticks, 8, "the hub ran other threads meanwhile (%d ticks)", ticks);
    gs_kill(tick);
    gs_join(tick, NULL, GS_FOREVER);
}

Test(offload, threads_start_lazily_up_to_the_limit, .timeout = 5)
{
    gs_offload_threads(3);
    gs_hub_base();
    int base = os_threads();
    cr_assert_eq(gs_offload(double_it, (void *)1, NULL), 0);
    cr_assert_eq(os_threads(), base + 1, "one job needs one thread");
    gs_thread *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = gs_spawn(offload_nap, (void *)30L);
    for (int i = 0; i < 6; i++)
        gs_join(t[i], NULL, GS_FOREVER);
    cr_assert_eq(os_threads(), base + 3);
}

static void *sum_offloads(void *arg)
{
    long sum = 0;
    for (long i = 1; i <= 20; i++) {
        void *r;
        if (gs_offload(double_it, (void *)i, &r) < 0)
            return (void *)-1L;
        sum += (long)r;
    }
    (void)arg;
    return (void *)sum;
}

/* Completions from several pool threads race onto one hub's list. */
Test(offload, many_small_jobs_from_many_green_threads, .timeout = 10)
{
    enum { N = 200 };
    gs_thread *t[N];
    for (int i = 0; i < N; i++)
        t[i] = gs_spawn(sum_offloads, NULL);
    for (int i = 0; i < N; i++) {
        void *r;
        cr_assert_eq(gs_join(t[i], &r, GS_FOREVER), 0);
        cr_assert_eq((long)r, 420); /* 2 * (1 + ... + 20) */
    }
}

struct killed_job {
    int rc;
    void *result;
    bool fn_done_at_return;
    volatile bool fn_done;
};

static void *slow_flag(void *arg)
{
    struct killed_job *k = arg;
    sleep_ms(100);
    k->fn_done = true;
    return (void *)7L;
}

static void *offload_then_report(void *arg)
{
    struct killed_job *k = arg;
    k->rc = gs_offload(slow_flag, k, &k->result);
    k->fn_done_at_return = k->fn_done;
    return NULL;
}

Test(offload, kill_waits_for_fn_then_reports_cancel, .timeout = 5)
{
    struct killed_job k = {0};
    gs_thread *t = gs_spawn(offload_then_report, &k);
    gs_sleep(10); /* t is parked in gs_offload */
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_kill(t), 0);
    cr_assert_eq(gs_join(t, NULL, GS_FOREVER), 0);
    cr_assert_eq(k.rc, -ECANCELED);
    cr_assert(k.fn_done_at_return, "gs_offload returned before fn did");
    cr_assert_eq((long)k.result, 7, "the result is stored even when killed");
    cr_assert_geq(gs_now_ms() - t0, 60);
}

static int calls;

static void *count_call(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *offload_after_kill(void *arg)
{
    (void)arg;
    return (void *)(long)gs_offload(count_call, NULL, NULL);
}

Test(offload, killed_thread_does_not_start_a_job, .timeout = 5)
{
    gs_thread *t = gs_spawn(offload_after_kill, NULL);
    gs_kill(t);
    void *r;
    gs_join(t, &r, GS_FOREVER);
    cr_assert_eq((long)r, -ECANCELED);
    cr_assert_eq(calls, 0);
}

Test(offload, deadline_does_not_cut_it_short, .timeout = 5)
{
    gs_deadline d;
    gs_deadline_begin(&d, 20);
    void *r = NULL;
    int64_t t0 = gs_now_ms();
    int rc = gs_offload(nap, (void *)80L, &r);
    int64_t took = gs_now_ms() - t0;
    cr_assert_eq(gs_sleep(5), -ETIMEDOUT, "the deadline still holds afterwards");
    gs_deadline_end(&d);
    cr_assert_eq(rc, 0);
    cr_assert_eq((long)r, 80);
    cr_assert_geq(took, 75);
}

static void *offload_from_thread(void *arg)
{
    long *seen = arg;
    void *r;
    seen[0] = tid();
    seen[1] = gs_offload(whose_thread, NULL, &r);
    seen[2] = (long)r;
    return NULL;
}

Test(offload, thread_without_hub_runs_fn_inline)
{
    /* Nothing else could run on this OS thread while it waited. */
    void *r;
    cr_assert_eq(gs_offload(whose_thread, NULL, &r), 0);
    cr_assert_eq((long)r, tid());
}

Test(offload, plain_os_thread_calls_fn_itself, .timeout = 5)
{
    long seen[3] = {0};
    pthread_t th;
    pthread_create(&th, NULL, offload_from_thread, seen);
    pthread_join(th, NULL);
    cr_assert_eq(seen[1], 0);
    cr_assert_eq(seen[2], seen[0]);
}

static void *nested(void *arg)
{
    long *seen = arg;
    seen[0] = tid();
    void *r;
    seen[1] = gs_offload(whose_thread, NULL, &r);
    seen[2] = (long)r;
    return NULL;
}

/* A pool thread must not queue behind itself (a full pool would hang). */
Test(offload, offload_from_pool_thread_runs_inline, .timeout = 5)
{
    gs_offload_threads(1);
    gs_hub_base();
    long seen[3] = {0};
    cr_assert_eq(gs_offload(nested, seen, NULL), 0);
    cr_assert_eq(seen[1], 0);
    cr_assert_eq(seen[2], seen[0]);
    cr_assert_neq(seen[0], tid());
}

static void from_callback(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    long *seen = arg;
    void *r;
    seen[0] = gs_offload(whose_thread, NULL, &r);
    seen[1] = (long)r;
}

/* Callback code cannot park: the job runs right there. */
Test(offload, from_libevent_callback_runs_inline, .timeout = 5)
{
    long seen[2] = {-1, 0};
    struct timeval tv = {0, 1000};
    event_base_once(gs_hub_base(), -1, EV_TIMEOUT, from_callback, seen, &tv);
    gs_sleep(20);
    cr_assert_eq(seen[0], 0);
    cr_assert_eq(seen[1], tid());
}

static long detached_result;

static void *detached_offloader(void *arg)
{
    detached_result = (long)offload_nap(arg);
    return NULL;
}

/* Only a job, no event of a green thread's own, keeps the hub busy. */
Test(offload, hub_run_waits_for_jobs_and_then_returns, .timeout = 5)
{
    gs_spawn_n(detached_offloader, (void *)50L);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_hub_run(), 0);
    cr_assert_eq(detached_result, 50);
    cr_assert_geq(gs_now_ms() - t0, 45);
}

/* ---- abandonable jobs ---- */

struct orphan_probe {
    int pipe[2];
    volatile bool ran;
};

static void *slow_probe(void *arg)
{
    struct orphan_probe *p = arg;
    sleep_ms(60);
    p->ran = true;
    return NULL;
}

static void orphan_notes(rt_job *j)
{
    struct orphan_probe *p = j->arg;
    char c = p->ran ? 'r' : 's'; /* on a pool thread: no Criterion asserts here */
    ssize_t r = write(p->pipe[1], &c, 1);
    (void)r;
    free(j);
}

static rt_job *probe_job(struct orphan_probe *p)
{
    rt_job *j = calloc(1, sizeof(*j));
    j->fn = slow_probe;
    j->arg = p;
    j->orphan = orphan_notes;
    return j;
}

static char wait_note(struct orphan_probe *p)
{
    char c = 0;
    cr_assert_gt(gs_fd_read(p->pipe[0], &c, 1, 2000), 0);
    return c;
}

Test(offload, timed_out_job_finishes_and_frees_itself, .timeout = 5)
{
    struct orphan_probe p = {0};
    cr_assert_eq(pipe(p.pipe), 0);
    gs_set_nonblock(p.pipe[0]);
    rt_job *j = probe_job(&p);
    cr_assert_eq(rt_offload_submit(j), 0);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(rt_offload_wait(j, 10), -ETIMEDOUT);
    cr_assert_lt(gs_now_ms() - t0, 50);
    cr_assert_eq(wait_note(&p), 'r', "fn ran to completion, then the orphan hook");
}

Test(offload, job_abandoned_in_queue_is_not_run, .timeout = 5)
{
    gs_offload_threads(1);
    struct orphan_probe busy = {0}, p = {0};
    cr_assert_eq(pipe(busy.pipe), 0);
    cr_assert_eq(pipe(p.pipe), 0);
    gs_set_nonblock(busy.pipe[0]);
    gs_set_nonblock(p.pipe[0]);
    rt_job *first = probe_job(&busy), *second = probe_job(&p);
    cr_assert_eq(rt_offload_submit(first), 0);
    cr_assert_eq(rt_offload_submit(second), 0);
    cr_assert_eq(rt_offload_wait(second, 10), -ETIMEDOUT);
    cr_assert_eq(rt_offload_wait(first, GS_FOREVER), 0);
    free(first);
    cr_assert_eq(wait_note(&p), 's', "an abandoned job still queued is skipped");
}

/* ---- gs_getaddrinfo ---- */

Test(offload, getaddrinfo_localhost, .timeout = 5)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    cr_assert_eq(gs_getaddrinfo("localhost", "8080", &hints, &res, 2000), 0);
    cr_assert_not_null(res);
    struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
    cr_assert_eq(sin->sin_family, AF_INET);
    cr_assert_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    cr_assert_eq(ntohs(sin->sin_port), 8080);
    freeaddrinfo(res);
}

Test(offload, getaddrinfo_unresolvable_name, .timeout = 10)
{
    struct addrinfo *res = NULL;
    int rc = gs_getaddrinfo("no-such-host.invalid", NULL, NULL, &res, 5000);
    cr_assert_neq(rc, 0);
    cr_assert_null(res);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST};
    cr_assert_eq(gs_getaddrinfo("not-an-address", NULL, &hints, &res, 2000), EAI_NONAME);
}

static void *gai_in_green(void *arg)
{
    struct addrinfo *res = NULL;
    long rc = gs_getaddrinfo("localhost", NULL, NULL, &res, (long)arg);
    if (res)
        freeaddrinfo(res);
    return (void *)rc;
}

/* One pool thread, busy for 300 ms: lookups queue behind it. */
static gs_thread *occupy_pool(void)
{
    gs_offload_threads(1);
    gs_thread *busy = gs_spawn(offload_nap, (void *)300L);
    gs_yield(); /* it has submitted its job */
    return busy;
}

Test(offload, getaddrinfo_timeout_is_eai_again, .timeout = 5)
{
    gs_thread *busy = occupy_pool();
    struct addrinfo *res = (struct addrinfo *)1;
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_getaddrinfo("localhost", NULL, NULL, &res, 50), EAI_AGAIN);
    int64_t took = gs_now_ms() - t0;
    cr_assert_null(res);
    cr_assert_geq(took, 45);
    cr_assert_lt(took, 250);
    cr_assert_eq(gs_getaddrinfo("localhost", NULL, NULL, &res, 0), EAI_AGAIN);
    gs_join(busy, NULL, GS_FOREVER);
}

Test(offload, getaddrinfo_kill_is_eai_canceled, .timeout = 5)
{
    gs_thread *busy = occupy_pool();
    gs_thread *t = gs_spawn(gai_in_green, (void *)GS_FOREVER);
    gs_sleep(10);
    int64_t t0 = gs_now_ms();
    gs_kill(t);
    void *r;
    cr_assert_eq(gs_join(t, &r, GS_FOREVER), 0);
    cr_assert_eq((long)r, EAI_CANCELED);
    cr_assert_lt(gs_now_ms() - t0, 100, "a lookup can be given up at once");
    gs_join(busy, NULL, GS_FOREVER);
}

Test(offload, getaddrinfo_from_many_green_threads, .timeout = 10)
{
    gs_thread *t[50];
    for (int i = 0; i < 50; i++)
        t[i] = gs_spawn(gai_in_green, (void *)5000L);
    for (int i = 0; i < 50; i++) {
        void *r;
        gs_join(t[i], &r, GS_FOREVER);
        cr_assert_eq((long)r, 0);
    }
}
