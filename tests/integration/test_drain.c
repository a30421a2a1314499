/* The drain notice with the real executable: an event stream parked in a
 * wait learns that its worker retires (the wait returns -ESHUTDOWN and
 * gs_draining() is true), tells its client to come back (`retry: 1000`
 * and an end event) and returns, so the client gets a whole response, its
 * chunked terminator included, on a graceful reload (HUP) and on a stop
 * (TERM). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/client.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 14];
static char out[1 << 18];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

TestSuite(drain, .fini = stop_server, .timeout = 20);

static void start(void)
{
    const char *args[] = {"--workers", "1", "/life={build}/tests/plugins/lifecycle.so", NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

/* Open the stream and read up to its first event. */
static int open_stream(void)
{
    int fd = ts_connect(srv.port);
    cr_assert_geq(fd, 0);
    const char *req = "GET /life/sse HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    size_t n = 0;
    resp[0] = '\0';
    while (!strstr(resp, "data: in\n\n")) {
        ssize_t got = recv(fd, resp + n, sizeof(resp) - 1 - n, 0);
        cr_assert_gt(got, 0, "the stream ended before its first event");
        n += (size_t)got;
        resp[n] = '\0';
    }
    return fd;
}

/* Read on until the chunked terminator ends what came (the connection
 * itself may stay open: kept alive, or handed to the next generation).
 * Bytes read, or -1 if the stream closed or stalled first. */
static ssize_t recv_to_end(int fd, int timeout_ms)
{
    size_t n = 0;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (n < 5 || memcmp(resp + n - 5, "0\r\n\r\n", 5) != 0) {
        ssize_t got = recv(fd, resp + n, sizeof(resp) - 1 - n, 0);
        if (got <= 0)
            return -1;
        n += (size_t)got;
        resp[n] = '\0';
    }
    return (ssize_t)n;
}

/* After sig, the rest of the stream: the end event and the terminator. */
static void ends_cleanly_on(int sig)
{
    start();
    int fd = open_stream();
    cr_assert(strstr(resp, "HTTP/1.1 200 OK\r\n") && strstr(resp, "Transfer-Encoding: chunked"),
              "%s", resp);
    ts_signal(&srv, sig);
    ssize_t n = recv_to_end(fd, 5000);
    close(fd);
    cr_assert_gt(n, 0, "the stream did not end with a chunked terminator: %s", resp);
    cr_assert(strstr(resp, "retry: 1000\n\n"), "%s", resp);
    cr_assert(strstr(resp, "event: end\ndata: draining=1\n\n"), "%s", resp);
    cr_assert(n >= 5 && memcmp(resp + n - 5, "0\r\n\r\n", 5) == 0, "no chunked terminator: %s",
              resp);
}

Test(drain, a_stream_ends_cleanly_on_a_graceful_reload)
{
    ends_cleanly_on(SIGHUP);
    /* The new generation serves the stream's comeback. */
    int fd = open_stream();
    close(fd);
}

Test(drain, a_stream_ends_cleanly_on_a_stop)
{
    ends_cleanly_on(SIGTERM);
    cr_assert(WIFEXITED(ts_wait_exit(&srv, 5000)));
}

/* A stop closes the connections that wait for a next request, but not
 * one whose next request is coming in: its client gets the answer. */
Test(drain, a_stop_answers_a_request_whose_head_is_coming_in)
{
    const char *args[] = {"--workers", "1", "/={build}/apps/hello.so", NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start");
    int fd = ts_connect(srv.port);
    cr_assert_geq(fd, 0);
    const char *req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0);
    const char *part = "GET /again HTTP/1.1\r\nHost: t\r\n";
    cr_assert_eq(ts_send(fd, part, strlen(part)), 0);
    usleep(100 * 1000);
    ts_signal(&srv, SIGTERM);
    usleep(400 * 1000); /* a few of the stop's rounds */
    cr_assert_eq(ts_send(fd, "\r\n", 2), 0);
    ssize_t n = ts_recv_response(fd, resp, sizeof(resp), false, 5000);
    close(fd);
    cr_assert_gt(n, 0, "the connection closed with the request unanswered");
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    cr_assert_str_eq(ts_body(resp), "Hello, World!");
    cr_assert(WIFEXITED(ts_wait_exit(&srv, 5000)));
}
