/* --threads with the real executable and apps/blocking.so, whose handler
 * makes plain blocking calls (usleep, a blocking recv): with --threads 0
 * they stall the worker, so concurrent requests are served one after
 * another; with --threads 8 they run side by side and the worker stays
 * responsive. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/client.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 16];
static char out[1 << 16];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

TestSuite(threads, .fini = stop_server, .timeout = 20);

/* One process (--workers 0), so that every request meets the same hub. */
static void start(const char *threads)
{
    const char *args[] = {"--workers",
                          "0",
                          "--threads",
                          threads,
                          "/blocking={build}/apps/blocking.so",
                          "/hello={build}/apps/hello.so",
                          NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

static int send_get(const char *target)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    int fd = ts_connect(srv.port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    return fd;
}

static void expect_200(int fd, int timeout_ms)
{
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, timeout_ms), 0, "no answer");
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    close(fd);
}

/* n clients at once on target; ms until the last has its answer. */
static int64_t together(int n, const char *target)
{
    int fds[16];
    int64_t t0 = ts_now_ms();
    for (int i = 0; i < n; i++)
        fds[i] = send_get(target);
    for (int i = 0; i < n; i++)
        expect_200(fds[i], 10000);
    return ts_now_ms() - t0;
}

Test(threads, without_threads_blocking_sleeps_are_served_one_by_one)
{
    start("0");
    int64_t took = together(8, "/blocking/sleep?ms=300");
    cr_assert_geq(took, 2200, "8 x 300 ms on one hub took only %lld ms", (long long)took);
    cr_assert_lt(took, 6000);
}

Test(threads, with_8_threads_blocking_sleeps_run_side_by_side)
{
    start("8");
    int64_t took = together(8, "/blocking/sleep?ms=300");
    cr_assert_geq(took, 290);
    cr_assert_lt(took, 1200, "8 x 300 ms on 8 threads took %lld ms", (long long)took);
}

Test(threads, with_8_threads_blocking_reads_run_side_by_side)
{
    start("8");
    int64_t took = together(8, "/blocking/read?ms=300");
    cr_assert_lt(took, 1200, "8 x 300 ms on 8 threads took %lld ms", (long long)took);
    cr_assert(strstr(ts_body(resp), "echoed 16 random bytes"), "%s", resp);
}

/* hello while blocking requests hold the worker: n of them, ms each. */
static int64_t hello_during_blocking(int n, int ms)
{
    char target[64];
    snprintf(target, sizeof(target), "/blocking/sleep?ms=%d", ms);
    int fds[16];
    for (int i = 0; i < n; i++)
        fds[i] = send_get(target);
    usleep(100 * 1000); /* let them start: the point is that they block */
    int64_t t0 = ts_now_ms();
    expect_200(send_get("/hello"), 10000);
    int64_t took = ts_now_ms() - t0;
    cr_assert_str_eq(ts_body(resp), "Hello, World!");
    for (int i = 0; i < n; i++)
        expect_200(fds[i], 10000);
    return took;
}

Test(threads, with_8_threads_hello_answers_while_handlers_block)
{
    start("8");
    /* hello.so is not GS_APP_GREEN: it takes one of the two free threads. */
    int64_t took = hello_during_blocking(6, 1000);
    cr_assert_lt(took, 400, "hello took %lld ms", (long long)took);
}

Test(threads, without_threads_hello_waits_for_the_blocked_worker)
{
    start("0");
    int64_t took = hello_during_blocking(1, 800);
    cr_assert_geq(took, 500, "hello took only %lld ms", (long long)took);
}

Test(threads, sigterm_lets_a_handler_on_a_thread_finish)
{
    start("2");
    int fd = send_get("/blocking/sleep?ms=600");
    usleep(100 * 1000);
    ts_signal(&srv, SIGTERM);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0);
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    cr_assert(strstr(ts_body(resp), "usleep(600 ms)"), "%s", resp);
    int st = ts_wait_exit(&srv, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    close(fd);
}
