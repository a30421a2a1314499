/* --request-timeout with the real executable: a handler past its time is
 * cancelled and answered 504 (or its connection closed once its response
 * has left), while the worker and every other request carry on; per-app
 * limits; long waits exempt; handlers on OS threads (--threads). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support/client.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 16];
static char out[1 << 18];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

TestSuite(timeouts, .fini = stop_server, .timeout = 20);

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* --workers 1, the options given, then the fixtures' mounts. */
static void start(const char *const *opts)
{
    const char *args[32] = {"--workers", "1"};
    size_t n = 2;
    for (size_t i = 0; opts && opts[i]; i++)
        args[n++] = opts[i];
    const char *mounts[] = {"/slow={build}/tests/plugins/slow.so",
                            "/slow2={build}/tests/plugins/slow.so",
                            "/life={build}/tests/plugins/lifecycle.so",
                            "/lp={build}/tests/plugins/longpoll.so",
                            "/hello={build}/apps/hello.so",
                            "/chat={build}/apps/chat.so"};
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++)
        args[n++] = mounts[i];
    args[n] = NULL;
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

static int request(const char *req, int timeout_ms)
{
    resp[0] = '\0';
    cr_assert_gt(ts_request(srv.port, req, resp, sizeof(resp), timeout_ms), 0, "no response to %s",
                 req);
    return ts_status(resp);
}

static void logged(const char *needle)
{
    cr_assert(ts_log_wait(&srv, srv.error_log, needle, 3000), "no \"%s\" in the error log:\n%s",
              needle, (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

static void still_serves(void)
{
    cr_assert_eq(request("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 3000), 200, "%s", resp);
}

Test(timeouts, a_handler_past_its_time_gets_504_and_others_carry_on)
{
    start(OPTS("--request-timeout", "300ms"));
    int slow = ts_connect(srv.port);
    cr_assert_geq(slow, 0);
    const char *req = "GET /slow?5000 HTTP/1.1\r\nHost: t\r\n\r\n";
    int64_t t0 = ts_now_ms();
    cr_assert_eq(ts_send(slow, req, strlen(req)), 0);
    /* Another request on the same worker meanwhile, well within its time. */
    cr_assert_eq(request("GET /slow?100 HTTP/1.1\r\nHost: t\r\n\r\n", 3000), 200, "%s", resp);
    cr_assert_str_eq(ts_body(resp), "slept 100 ms\n");

    cr_assert_gt(ts_recv_response(slow, resp, sizeof(resp), false, 3000), 0);
    int64_t took = ts_now_ms() - t0;
    cr_assert_eq(ts_status(resp), 504, "%s", resp);
    cr_assert_str_eq(ts_body(resp), "504 Gateway Timeout\n");
    char conn[32];
    cr_assert(ts_header(resp, "Connection", conn, sizeof(conn)) && strcmp(conn, "close") == 0);
    cr_assert(took >= 250 && took < 3000, "answered after %lld ms", (long long)took);
    cr_assert(ts_closed_within(slow, 3000));
    close(slow);

    logged("504 Gateway Timeout: app slow ran ");
    logged("past its request timeout of 300 ms; client 127.0.0.1:");
    logged("request \"GET /slow?5000 HTTP/1.1\"");
    still_serves();
}

Test(timeouts, a_response_already_sent_is_cut_by_closing)
{
    start(OPTS("--request-timeout", "300ms"));
    int fd = ts_connect(srv.port);
    const char *req = "GET /life/stream?5000 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    ssize_t n = ts_recv_all(fd, resp, sizeof(resp), 3000);
    close(fd);
    cr_assert_gt(n, 0, "not closed in time");
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    cr_assert(strstr(resp, "first\n"), "%s", resp);
    cr_assert_null(strstr(resp, "second"), "%s", resp);
    /* No chunked terminator: the client sees a cut, not a whole response. */
    cr_assert(n < 5 || memcmp(resp + n - 5, "0\r\n\r\n", 5) != 0, "%s", resp);
    logged("closing the connection: app lifecycle ran ");
    still_serves();
}

Test(timeouts, each_app_may_have_its_own)
{
    start(OPTS("--request-timeout", "5s", "--request-timeout", "/slow=200ms", "--request-timeout",
               "/life=off"));
    cr_assert_eq(request("GET /slow?2000 HTTP/1.1\r\nHost: t\r\n\r\n", 3000), 504, "%s", resp);
    cr_assert_eq(request("GET /slow2?600 HTTP/1.1\r\nHost: t\r\n\r\n", 3000), 200, "%s", resp);
    cr_assert_str_eq(ts_body(resp), "slept 600 ms\n");
    logged("past its request timeout of 200 ms");
}

Test(timeouts, off_by_default)
{
    start(NULL);
    cr_assert_eq(request("GET /slow?700 HTTP/1.1\r\nHost: t\r\n\r\n", 3000), 200, "%s", resp);
}

Test(timeouts, long_waits_are_exempt)
{
    start(OPTS("--request-timeout", "200ms"));
    /* The long-poll waits 800 ms for its client to leave, then answers. */
    cr_assert_eq(request("GET /lp?800 HTTP/1.1\r\nHost: t\r\n\r\n", 3000), 200, "%s", resp);
    cr_assert_str_eq(ts_body(resp), "timeout\n");
}

Test(timeouts, channel_waits_are_exempt)
{
    start(OPTS("--request-timeout", "200ms"));
    /* A long-poll on a channel with no news: it answers after its 0.8 s. */
    int64_t t0 = ts_now_ms();
    cr_assert_eq(
        request("GET /chat/poll?room=quiet&after=0&timeout=0.8 HTTP/1.1\r\nHost: t\r\n\r\n", 3000),
        200, "%s", resp);
    cr_assert_geq(ts_now_ms() - t0, 700);
}

Test(timeouts, a_handler_on_an_os_thread_learns_it_at_its_next_call)
{
    start(OPTS("--threads", "2", "--request-timeout", "200ms"));
    int64_t t0 = ts_now_ms();
    cr_assert_eq(request("GET /life/block?700 HTTP/1.1\r\nHost: t\r\n\r\n", 3000), 504, "%s", resp);
    /* It could not be stopped while it blocked its thread. */
    cr_assert_geq(ts_now_ms() - t0, 650);
    char line[64];
    snprintf(line, sizeof(line), "lifecycle: block wrote %d", -ECANCELED);
    cr_assert(ts_log_wait(&srv, srv.output, line, 3000), "%s",
              (ts_read_file(srv.output, out, sizeof(out)), out));
    still_serves();
    cr_assert_eq(request("GET /life/ HTTP/1.1\r\nHost: t\r\n\r\n", 3000), 200, "%s", resp);
}

Test(timeouts, a_prefix_nobody_mounts_is_refused)
{
    const char *args[] = {"--request-timeout", "/nope=1s", "/hello={build}/apps/hello.so", NULL};
    cr_assert_eq(ts_start(&srv, args), -1);
    ts_read_file(srv.output, out, sizeof(out));
    cr_assert(strstr(out, "--request-timeout /nope=1s: no app is mounted there"), "%s", out);
}
