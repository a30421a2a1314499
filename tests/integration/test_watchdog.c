/* The watchdog with the real executable: a handler that spins without
 * yielding stalls its worker's hub; before the master kills the worker,
 * the worker writes to the error log the request it was running (method,
 * path, client, how long) and a backtrace naming the spinning function;
 * then a new worker serves. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
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

TestSuite(watchdog, .fini = stop_server, .timeout = 20);

static void logged(const char *needle)
{
    cr_assert(ts_log_wait(&srv, srv.error_log, needle, 8000), "no \"%s\" in the error log:\n%s",
              needle, (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

/* A 200 from /life/ within timeout_ms, trying again while no worker
 * answers (the replacement is starting). */
static bool served_within(int timeout_ms)
{
    for (int64_t end = ts_now_ms() + timeout_ms; ts_now_ms() < end; usleep(50 * 1000)) {
        ssize_t n = ts_request(srv.port, "GET /life/ HTTP/1.1\r\nHost: t\r\n\r\n", resp,
                               sizeof(resp), 1000);
        if (n > 0 && ts_status(resp) == 200)
            return true;
    }
    return false;
}

Test(watchdog, a_stuck_worker_logs_its_request_and_backtrace_then_is_replaced)
{
    const char *args[] = {
        "--workers", "1", "--timeout", "1s", "/life={build}/tests/plugins/lifecycle.so", NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
    int fd = ts_connect(srv.port);
    const char *req = "GET /life/spin HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert(ts_log_wait(&srv, srv.output, "lifecycle: /spin", 3000));

    logged("watchdog: the hub is stuck in app \"lifecycle\" request \"GET /life/spin\" from "
           "127.0.0.1:");
    logged(" s ago); backtrace of the running code:");
    logged("(lifecycle_spin_forever+");
    logged("killing it; it was running app \"lifecycle\" request \"GET /life/spin\"");
    /* The spinning request's client sees its connection end. */
    cr_assert(ts_closed_within(fd, 5000));
    close(fd);
    cr_assert(served_within(8000), "no worker serves after the kill:\n%s",
              (ts_read_file(srv.error_log, out, sizeof(out)), out));
}
