/* The status endpoint (--status), against the real executable: JSON per
 * worker at /, the same figures as Prometheus text at /metrics, served by
 * the master while its workers are busy or stuck. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/redis.h"
#include "support/client.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 16];
static char text[1 << 18];
static int status_port;

static void stop_server(void)
{
    ts_stop(&srv, 8000);
}

TestSuite(status, .fini = stop_server, .timeout = 20);

static const char *error_log(void)
{
    ts_read_file(srv.error_log, text, sizeof(text));
    return text;
}

/* Start 2 workers with --status on a free port (learnt from the log). */
static void start(const char *const *more)
{
    const char *args[16] = {"--workers", "2", "--status", "127.0.0.1:0"};
    size_t n = 4;
    for (size_t i = 0; more && more[i]; i++)
        args[n++] = more[i];
    args[n++] = "/pid={build}/tests/plugins/pid.so";
    args[n++] = "/longpoll={build}/tests/plugins/longpoll.so";
    args[n++] = "/spin={build}/tests/plugins/spin.so";
    args[n] = NULL;
    cr_assert_eq(ts_start(&srv, args), 0, "%s", error_log());
    const char *at = strstr(error_log(), "status on http://127.0.0.1:");
    cr_assert(at, "%s", text);
    status_port = atoi(at + strlen("status on http://127.0.0.1:"));
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, " ready (generation 1)", 2, 5000));
}

static int fetch(const char *path)
{
    char req[128];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    resp[0] = '\0';
    cr_assert_gt(ts_request(status_port, req, resp, sizeof(resp), 3000), 0, "no answer to %s",
                 path);
    return ts_status(resp);
}

/* The value of "key": in the JSON object that has "pid":pid. */
static long long field(const char *json, int pid, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "{\"pid\":%d,", pid);
    const char *obj = strstr(json, needle);
    if (!obj)
        return -1;
    snprintf(needle, sizeof(needle), "\"%s\":", key);
    const char *v = strstr(obj, needle);
    const char *end = strchr(obj, '}');
    return v && v < end ? atoll(v + strlen(needle)) : -1;
}

/* The pids of the workers listed in the JSON, in order. */
static size_t worker_pids(const char *json, int *pids, size_t max)
{
    size_t n = 0;
    const char *list = strstr(json, "\"workers\":[");
    for (const char *p = list; p && n < max && (p = strstr(p, "{\"pid\":")); p++)
        pids[n++] = atoi(p + 7);
    return n;
}

/* Poll the JSON until cond holds for worker pid (the counters are as
 * fresh as the workers' last tick). */
static bool until(int pid, const char *key, long long at_least, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    do {
        fetch("/");
        if (field(ts_body(resp), pid, key) >= at_least)
            return true;
        usleep(50000);
    } while (ts_now_ms() < deadline);
    return false;
}

/* Poll the JSON until its "bus" object holds needle. */
static bool until_bus(const char *needle, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    do {
        fetch("/");
        const char *bus = strstr(ts_body(resp), "\"bus\":{");
        if (bus && strstr(bus, needle))
            return true;
        usleep(50000);
    } while (ts_now_ms() < deadline);
    return false;
}

Test(status, json_per_worker)
{
    start(NULL);
    cr_assert_eq(fetch("/"), 200, "%s", resp);
    char v[64];
    cr_assert(ts_header(resp, "Content-Type", v, sizeof(v)) && strcmp(v, "application/json") == 0);
    const char *json = ts_body(resp);
    char master[32];
    snprintf(master, sizeof(master), "{\"pid\":%d,\"generation\":1,", (int)srv.pid);
    cr_assert(strncmp(json, master, strlen(master)) == 0, "%s", json);
    cr_assert(strstr(json, "\"workers_wanted\":2"), "%s", json);
    int pids[4];
    cr_assert_eq(worker_pids(json, pids, 4), 2, "%s", json);
    for (int i = 0; i < 2; i++) {
        cr_assert_neq(pids[i], srv.pid);
        cr_assert_eq(field(json, pids[i], "generation"), 1, "%s", json);
        cr_assert(strstr(json, "\"state\":\"ready\""), "%s", json);
        cr_assert_geq(field(json, pids[i], "green_threads"), 1, "its accept loop: %s", json);
        cr_assert_eq(field(json, pids[i], "waiting"), 0, "%s", json);
        cr_assert_geq(field(json, pids[i], "heartbeat_age_ms"), 0, "%s", json);
    }
    /* The embedded bus: both workers connect to it right after fork. */
    cr_assert(strstr(json, "\"bus\":{\"kind\":\"embedded\",\"state\":\"connected\","), "%s", json);
    cr_assert(until_bus("\"workers\":2}", 3000), "%s", ts_body(resp));
    /* RSS comes from /proc, read by the master each second. */
    cr_assert(until(pids[0], "rss_bytes", 100000, 3000), "%s", ts_body(resp));
}

Test(status, counters_follow_the_traffic)
{
    start(NULL);
    fetch("/");
    int pids[4];
    cr_assert_eq(worker_pids(ts_body(resp), pids, 4), 2);
    /* 20 requests, each answered by the worker that says its pid. */
    int by_first = 0;
    for (int i = 0; i < 20; i++) {
        char body[4096];
        cr_assert_gt(
            ts_request(srv.port, "GET /pid HTTP/1.1\r\nHost: t\r\n\r\n", body, sizeof(body), 3000),
            0);
        by_first += atoi(ts_body(body) + 4) == pids[0];
    }
    if (by_first)
        cr_assert(until(pids[0], "requests", by_first, 3000), "%s", ts_body(resp));
    cr_assert(by_first == 20 || until(pids[1], "requests", 20 - by_first, 3000), "%s",
              ts_body(resp));
    /* A long-poll parked: a connection, and a waiting handler. */
    int fd = ts_connect(srv.port);
    const char *req = "GET /longpoll HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert(ts_log_wait(&srv, srv.output, "longpoll: waiting", 3000));
    int64_t deadline = ts_now_ms() + 3000;
    long long waiting = 0, conns = 0;
    while (waiting < 1 && ts_now_ms() < deadline) {
        usleep(50000);
        fetch("/");
        waiting =
            field(ts_body(resp), pids[0], "waiting") + field(ts_body(resp), pids[1], "waiting");
        conns = field(ts_body(resp), pids[0], "active_connections") +
                field(ts_body(resp), pids[1], "active_connections");
    }
    cr_assert_eq(waiting, 1, "%s", ts_body(resp));
    cr_assert_geq(conns, 1, "%s", ts_body(resp));
    close(fd);
}

Test(status, prometheus_metrics)
{
    start(NULL);
    cr_assert_eq(fetch("/metrics"), 200, "%s", resp);
    char v[64];
    cr_assert(ts_header(resp, "Content-Type", v, sizeof(v)) && strstr(v, "text/plain"), "%s", resp);
    const char *m = ts_body(resp);
    cr_assert(strstr(m, "# TYPE greenserve_workers gauge\ngreenserve_workers 2\n"), "%s", m);
    cr_assert(strstr(m, "greenserve_generation 1\n"), "%s", m);
    cr_assert(strstr(m, "# TYPE greenserve_bus_connected gauge\n"
                        "greenserve_bus_connected{kind=\"embedded\"} 1\n"),
              "%s", m);
    cr_assert(strstr(m, "# TYPE greenserve_bus_workers gauge\n"), "%s", m);
    const char *families[] = {
        "greenserve_worker_requests_total", "greenserve_worker_active_connections",
        "greenserve_worker_green_threads",  "greenserve_worker_waiting",
        "greenserve_worker_rss_bytes",      "greenserve_worker_uptime_seconds"};
    fetch("/");
    int pids[4];
    cr_assert_eq(worker_pids(ts_body(resp), pids, 4), 2);
    fetch("/metrics");
    m = ts_body(resp);
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char line[160];
        snprintf(line, sizeof(line), "# TYPE %s ", families[i]);
        cr_assert(strstr(m, line), "%s missing:\n%s", families[i], m);
        for (int w = 0; w < 2; w++) {
            snprintf(line, sizeof(line), "%s{pid=\"%d\",generation=\"1\",state=\"ready\"} ",
                     families[i], pids[w]);
            cr_assert(strstr(m, line), "%s missing:\n%s", line, m);
        }
    }
    cr_assert(strstr(m, "# TYPE greenserve_worker_requests_total counter"), "%s", m);
}

Test(status, other_paths_and_methods)
{
    start(NULL);
    cr_assert_eq(fetch("/nothing"), 404, "%s", resp);
    cr_assert_eq(fetch("/status"), 200, "%s", resp);
    resp[0] = '\0';
    cr_assert_gt(ts_request(status_port, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
                            resp, sizeof(resp), 3000),
                 0);
    cr_assert_eq(ts_status(resp), 405, "%s", resp);
}

Test(status, the_master_answers_while_a_worker_is_stuck_or_a_client_is_silent)
{
    start((const char *[]){"--timeout", "3", NULL});
    int silent = ts_connect(status_port); /* connects and never asks */
    int fd = ts_connect(srv.port);
    const char *req = "GET /spin/spin HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert(ts_log_wait(&srv, srv.output, "spin: spinning", 3000));
    usleep(1200 * 1000);
    int64_t t0 = ts_now_ms();
    cr_assert_eq(fetch("/"), 200);
    cr_assert_lt(ts_now_ms() - t0, 500, "the status waited");
    /* One worker's heartbeat is a second old or more: the stuck one. */
    int pids[4];
    cr_assert_eq(worker_pids(ts_body(resp), pids, 4), 2);
    long long age0 = field(ts_body(resp), pids[0], "heartbeat_age_ms");
    long long age1 = field(ts_body(resp), pids[1], "heartbeat_age_ms");
    cr_assert((age0 >= 1000) != (age1 >= 1000), "ages %lld and %lld", age0, age1);
    close(fd);
    close(silent);
}

/* ---- a Redis bus: "reconnecting" while Redis is away ---- */

Test(status, the_bus_state_follows_redis)
{
    int rport = ts_free_port();
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rport);
    start((const char *[]){"--bus", url, NULL});
    /* Nothing listens there yet. */
    cr_assert(until_bus("\"kind\":\"redis\",\"state\":\"reconnecting\"", 3000), "%s",
              ts_body(resp));
    fetch("/metrics");
    cr_assert(strstr(ts_body(resp), "greenserve_bus_connected{kind=\"redis\"} 0\n"), "%s",
              ts_body(resp));
    pid_t redis = ts_redis_start(rport, 0);
    cr_assert_gt(redis, 0);
    /* The master retries with a backoff of at most 2 s. */
    bool up = until_bus("\"kind\":\"redis\",\"state\":\"connected\"", 6000);
    ts_redis_stop(redis);
    cr_assert(up, "%s", ts_body(resp));
    cr_assert(until_bus("\"state\":\"reconnecting\"", 3000), "%s", ts_body(resp));
}
