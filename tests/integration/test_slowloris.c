/* Slowloris with the real executable: 1,000 clients each sending a byte a
 * second hold one worker; the header timeout cuts those that never end
 * their head, and the body timeout those that never end their body (each
 * a whole-head / all-waits bound, not one per byte), each with a 408, at
 * about the timeout; meanwhile a normal client is served as usual. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support/client.h"
#include "support/drip.h"
#include "support/gclient.h"
#include "support/server.h"

#define SLOW 1000

static ts_server srv;
static char resp[1 << 14];
static char out[1 << 18];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

/* 1,000 connections here, and as many in the server (which inherits it). */
static void room_for_descriptors(void)
{
    tg_raise_nofile();
}

TestSuite(slowloris, .init = room_for_descriptors, .fini = stop_server, .timeout = 30);

static void start(const char *opt, const char *value)
{
    const char *args[] = {"--workers",
                          "1",
                          opt,
                          value,
                          "/hello={build}/apps/hello.so",
                          "/sink={build}/tests/plugins/sink.so",
                          NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

/* A normal client: one keep-alive connection, a request after another,
 * while the slow ones are open; every one must be answered. Returns how
 * many were. */
static unsigned normal_client_while_open(ts_drip *d, int64_t for_ms)
{
    int fd = ts_connect(srv.port);
    cr_assert_geq(fd, 0);
    const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    unsigned served = 0;
    for (int64_t end = ts_now_ms() + for_ms; ts_now_ms() < end && ts_drip_open(d) > 0;) {
        cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
        cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 2000), 0,
                     "a normal request was not answered with %u slow clients open",
                     ts_drip_open(d));
        cr_assert_eq(ts_status(resp), 200, "%s", resp);
        served++;
        usleep(20 * 1000);
    }
    close(fd);
    return served;
}

static void cut_at_timeout(const char *head, const char *drip, const char *why)
{
    ts_drip *d = ts_drip_start(srv.port, SLOW, head, drip, 408);
    cr_assert_not_null(d);
    /* Still open a second in: cut by the timeout (2 s), not sooner. */
    usleep(1000 * 1000);
    cr_assert_eq(ts_drip_open(d), SLOW, "%u of %u slow clients open after 1 s", ts_drip_open(d),
                 SLOW);
    unsigned served = normal_client_while_open(d, 8000);
    cr_assert_gt(served, 10, "only %u normal requests served", served);
    for (int64_t end = ts_now_ms() + 5000; ts_drip_open(d) > 0 && ts_now_ms() < end;)
        usleep(50 * 1000);
    ts_drip_result r = ts_drip_stop(d);
    cr_assert_eq(r.clients, SLOW);
    cr_assert_eq(r.closed, SLOW, "%u of %u slow clients cut", r.closed, SLOW);
    cr_assert_eq(r.answered, SLOW, "%u answered 408, %u something else", r.answered, r.others);
    cr_assert(r.min_age_ms >= 1800 && r.max_age_ms <= 5000, "cut between %lld and %lld ms",
              (long long)r.min_age_ms, (long long)r.max_age_ms);
    cr_assert(ts_log_wait(&srv, srv.error_log, why, 3000), "no \"%s\" in the error log", why);
    cr_assert_eq(ts_request(srv.port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof(resp),
                            3000) > 0 &&
                     ts_status(resp) == 200,
                 1);
}

Test(slowloris, a_head_sent_a_byte_a_second_is_cut_at_the_header_timeout)
{
    start("--header-timeout", "2s");
    cut_at_timeout("GET /hello HTTP/1.1\r\nHost: t\r\n", "X-Drip: aaaaaaaaaaaaaaaaaaaa",
                   "408 Request Timeout: request head not complete in time");
}

Test(slowloris, a_body_sent_a_byte_a_second_is_cut_at_the_body_timeout)
{
    start("--body-timeout", "2s");
    cut_at_timeout("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n", "a",
                   "408 Request Timeout: no body bytes for 2000 ms");
}
