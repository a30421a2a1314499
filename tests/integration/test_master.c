/* The master and its workers, with the real executable: several workers
 * really serve; a worker killed, crashing, spinning (the watchdog) or
 * failing at start-up is replaced (backed off when it keeps failing);
 * TTIN/TTOU; recycling without a failed request; the workers' identity;
 * logs reopened; workers that outlive their master stop; QUIT. Fixtures:
 * tests/plugins/pid.so (answers its worker's pid), spin.so, flaky_init.so,
 * longpoll.so, crash.so, slow.so. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/client.h"
#include "support/load.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 16];
static char text[1 << 18];

static void stop_server(void)
{
    ts_stop(&srv, 8000);
}

TestSuite(master, .fini = stop_server, .timeout = 25);

#define MOUNTS                                                                                     \
    "/pid={build}/tests/plugins/pid.so", "/slow={build}/tests/plugins/slow.so",                    \
        "/spin={build}/tests/plugins/spin.so", "/crash={build}/tests/plugins/crash.so",            \
        "/longpoll={build}/tests/plugins/longpoll.so"

/* Start with the options given (NULL-terminated), then the mounts. */
static void start(const char *const *opts)
{
    const char *args[64];
    size_t n = 0;
    for (size_t i = 0; opts && opts[i]; i++)
        args[n++] = opts[i];
    const char *mounts[] = {MOUNTS, NULL};
    for (size_t i = 0; mounts[i]; i++)
        args[n++] = mounts[i];
    args[n] = NULL;
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, text, sizeof(text)), text));
}

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *error_log(void)
{
    ts_read_file(srv.error_log, text, sizeof(text));
    return text;
}

/* Wait until the error log has needle n times. */
static void logged_n(const char *needle, size_t n, int timeout_ms)
{
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, needle, n, timeout_ms),
              "\"%s\" not %zu times in the error log:\n%s", needle, n, error_log());
}

/* The pid of the worker that answers a request on a new connection. */
static int served_by(void)
{
    resp[0] = '\0';
    if (ts_request(srv.port, "GET /pid HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof(resp), 5000) <= 0)
        return -1;
    return ts_status(resp) == 200 ? atoi(ts_body(resp) + 4) : -1;
}

static bool alive(int pid)
{
    return kill(pid, 0) == 0;
}

/* Wait until pid has gone (it is the master's child, reaped by it). */
static bool gone_within(int pid, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    while (alive(pid) && ts_now_ms() < deadline)
        usleep(10000);
    return !alive(pid);
}

/* Every worker pid the log says got ready, in order. */
static size_t ready_pids(int *pids, size_t max)
{
    const char *needle = "] worker ";
    size_t n = 0;
    error_log();
    for (const char *p = text; n < max && (p = strstr(p, needle)); p++) {
        int pid;
        char word[16];
        if (sscanf(p + strlen(needle), "%d %15s", &pid, word) == 2 && strcmp(word, "ready") == 0)
            pids[n++] = pid;
    }
    return n;
}

/* ---- workers ---- */

Test(master, several_workers_serve)
{
    start(OPTS("--workers", "2"));
    logged_n(" ready (generation 1)", 2, 5000);
    int seen[2] = {0, 0};
    for (int i = 0; i < 400 && !seen[1]; i++) {
        int pid = served_by();
        cr_assert_gt(pid, 0, "%s", resp);
        cr_assert_neq(pid, srv.pid, "the master answered");
        if (!seen[0])
            seen[0] = pid;
        else if (pid != seen[0])
            seen[1] = pid;
    }
    cr_assert(seen[1], "only worker %d ever answered", seen[0]);
}

Test(master, a_killed_worker_is_replaced_and_the_others_keep_serving)
{
    start(OPTS("--workers", "2"));
    logged_n(" ready (generation 1)", 2, 5000);
    int pids[8];
    cr_assert_eq(ready_pids(pids, 8), 2);
    kill(pids[0], SIGKILL);
    /* Meanwhile every request is answered, by the other or the new one. */
    for (int i = 0; i < 20; i++)
        cr_assert_gt(served_by(), 0, "a request failed after the kill: %s", resp);
    logged_n(" ready (generation 1)", 3, 5000);
    cr_assert(strstr(error_log(), "was killed by SIGKILL"), "%s", text);
    int now[8];
    cr_assert_eq(ready_pids(now, 8), 3);
    cr_assert(alive(pids[1]) && alive(now[2]), "%s", text);
    for (int i = 0; i < 20; i++)
        cr_assert_neq(served_by(), pids[0]);
}

Test(master, a_crashing_handler_costs_its_worker_only)
{
    start(OPTS("--workers", "1"));
    cr_assert_leq(ts_request(srv.port, "GET /crash/segv HTTP/1.1\r\nHost: t\r\n\r\n", resp,
                             sizeof(resp), 5000),
                  0);
    logged_n("crash: app \"crash\" request \"GET /crash/segv\"", 1, 3000);
    logged_n(" ready (generation 1)", 2, 5000);
    cr_assert_gt(served_by(), 0, "%s", resp);
    cr_assert(!strstr(error_log(), "backing off"), "one crash is no crash loop:\n%s", text);
}

Test(master, ttin_and_ttou_change_the_number_of_workers)
{
    start(OPTS("--workers", "1"));
    logged_n(" ready (generation 1)", 1, 5000);
    ts_signal(&srv, SIGTTIN);
    logged_n(" ready (generation 1)", 2, 5000);
    cr_assert(strstr(error_log(), "SIGTTIN: 2 worker(s) now"), "%s", text);
    int pids[4];
    cr_assert_eq(ready_pids(pids, 4), 2);
    ts_signal(&srv, SIGTTOU);
    logged_n(" stopped", 1, 5000);
    cr_assert(strstr(error_log(), "SIGTTOU: 1 worker(s) now"), "%s", text);
    /* The one retired is the younger; the first one still serves. */
    cr_assert(gone_within(pids[1], 3000), "%s", text);
    cr_assert(alive(pids[0]));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(served_by(), pids[0], "%s", resp);
    /* Never below one. */
    ts_signal(&srv, SIGTTOU);
    logged_n("keeping the last worker", 1, 3000);
    cr_assert_eq(served_by(), pids[0]);
}

/* ---- the watchdog ---- */

Test(master, the_watchdog_kills_a_spinning_worker_and_names_its_request)
{
    start(OPTS("--workers", "1", "--timeout", "1"));
    logged_n(" ready (generation 1)", 1, 5000);
    int fd = ts_connect(srv.port);
    const char *req = "GET /spin/spin?x=1 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert(ts_closed_within(fd, 6000), "the spinning request's connection stayed open");
    close(fd);
    logged_n("watchdog: worker ", 1, 3000);
    const char *line = strstr(error_log(), "watchdog: worker ");
    cr_assert(strstr(line, "has not ticked for") && strstr(line, "--timeout 1.0 s"), "%s", line);
    cr_assert(strstr(line, "it was running app \"spin\" request \"GET /spin/spin\" from "
                           "127.0.0.1:"),
              "%s", line);
    cr_assert(strstr(line, "started 20"), "%s", line);
    /* Replaced at once: a spinning handler is no start-up failure. */
    logged_n(" ready (generation 1)", 2, 5000);
    cr_assert_eq(ts_request(srv.port, "GET /spin/x HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof(resp),
                            5000) > 0 &&
                     ts_status(resp) == 200,
                 1, "%s", resp);
}

/* ---- start-up failures ---- */

Test(master, a_worker_failing_at_startup_is_backed_off)
{
    char flag[160], mount[256];
    ts_server *s = &srv;
    const char *args[8];
    snprintf(flag, sizeof(flag), "/tmp/gs-flaky-%d", (int)getpid());
    snprintf(mount, sizeof(mount), "/={build}/tests/plugins/flaky_init.so:%s", flag);
    unlink(flag);
    args[0] = "--workers", args[1] = "1", args[2] = mount, args[3] = NULL;
    cr_assert_eq(ts_start(s, args), 0, "%s", error_log());
    logged_n(" ready (generation 1)", 1, 5000);
    int pids[4];
    ready_pids(pids, 4);
    close(creat(flag, 0644));
    kill(pids[0], SIGKILL);
    /* Without a backoff this would be hundreds of forks. */
    logged_n("backing off", 3, 5000);
    int64_t t0 = ts_now_ms();
    usleep(1500 * 1000);
    size_t fails = ts_log_count(srv.error_log, 0, "init failed");
    cr_assert_leq(fails, 7, "%zu failed starts in about 2 s:\n%s", fails, error_log());
    cr_assert(strstr(error_log(), "app \"flaky_init\""), "the cause is logged:\n%s", text);
    cr_assert(strstr(text, "Resource temporarily unavailable"), "%s", text);
    unlink(flag);
    /* It comes back once the cause has gone. */
    logged_n(" ready (generation 1)", 2, 8000);
    cr_assert_lt(ts_now_ms() - t0, 9000);
    cr_assert_eq(
        ts_request(srv.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof(resp), 3000) > 0 &&
            ts_status(resp) == 200,
        1, "%s", resp);
    logged_n("workers start again", 1, 3000);
}

/* ---- recycling ---- */

Test(master, max_requests_replaces_the_worker_without_a_failed_request)
{
    start(OPTS("--workers", "1", "--max-requests", "30"));
    logged_n(" ready (generation 1)", 1, 5000);
    ts_load *l = ts_load_start(srv.port, "GET /pid HTTP/1.1\r\nHost: t\r\n\r\n", 3);
    cr_assert(l);
    logged_n("(--max-requests): replacing it", 2, 10000);
    ts_load_result r = ts_load_stop(l);
    cr_assert_eq(r.failed, 0, "%lu of %lu failed; the first: %s", r.failed, r.ok + r.failed,
                 r.first_failure);
    cr_assert_gt(r.ok, 60);
    logged_n(" ready (generation 1)", 3, 3000);
    logged_n(" (generation 1) stopped", 2, 5000);
}

Test(master, max_age_replaces_the_worker)
{
    start(OPTS("--workers", "1", "--max-age", "0.5"));
    logged_n(" s old (--max-age): replacing it", 1, 5000);
    logged_n(" (generation 1) stopped", 1, 5000);
    int pids[8];
    cr_assert_geq(ready_pids(pids, 8), 2);
    cr_assert(gone_within(pids[0], 3000));
    cr_assert_gt(served_by(), 0, "%s", resp);
}

/* ---- stopping ---- */

Test(master, sigterm_wakes_long_polls_so_their_clients_get_an_answer)
{
    start(OPTS("--workers", "1")); /* graceful timeout: 30 s */
    int fd = ts_connect(srv.port);
    const char *req = "GET /longpoll HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert(ts_log_wait(&srv, srv.output, "longpoll: waiting", 3000));
    int64_t t0 = ts_now_ms();
    ts_signal(&srv, SIGTERM);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 3000), 0);
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    int st = ts_wait_exit(&srv, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    cr_assert_lt(ts_now_ms() - t0, 3000, "the stop waited for the long-poll's own timeout");
    cr_assert(strstr(error_log(), "(1 long-poll(s) woken)"), "%s", text);
    cr_assert_str_eq(ts_body(resp), "stopped\n", "-ESHUTDOWN, not a timeout");
    close(fd);
}

Test(master, sigquit_stops_at_once)
{
    start(OPTS("--workers", "2"));
    int fd = ts_connect(srv.port);
    const char *req = "GET /slow?10000 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert(ts_log_wait(&srv, srv.output, "slow: sleeping", 3000));
    int64_t t0 = ts_now_ms();
    ts_signal(&srv, SIGQUIT);
    int st = ts_wait_exit(&srv, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    cr_assert_lt(ts_now_ms() - t0, 2500);
    close(fd);
}

/* Whether process pid ignores sig (the SigIgn mask of /proc/PID/status). */
static bool ignores(int pid, int sig)
{
    char path[64], line[128];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    unsigned long long mask = 0;
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = sscanf(line, "SigIgn: %llx", &mask) == 1;
    if (f)
        fclose(f);
    cr_assert(found, "no SigIgn for %d", pid);
    return mask >> (sig - 1) & 1;
}

/* A worker's bus connection can close while the master writes to it (the
 * worker stopping or killed in the middle of the master's round: seen
 * once in a reload under load). The write fails with EPIPE and the peer
 * is dropped; SIGPIPE would have killed the master without a word. */
Test(master, the_master_and_its_workers_ignore_sigpipe)
{
    start(OPTS("--workers", "2"));
    logged_n(" ready (generation 1)", 2, 5000);
    int pids[4];
    cr_assert_eq(ready_pids(pids, 4), 2);
    cr_assert(ignores(srv.pid, SIGPIPE), "the master would die of a write to a closed socket");
    cr_assert(ignores(pids[0], SIGPIPE) && ignores(pids[1], SIGPIPE));
}

Test(master, workers_stop_when_the_master_dies)
{
    start(OPTS("--workers", "2"));
    logged_n(" ready (generation 1)", 2, 5000);
    int pids[4];
    cr_assert_eq(ready_pids(pids, 4), 2);
    ts_signal(&srv, SIGKILL);
    ts_wait_exit(&srv, 3000);
    /* Reparented: no longer our children, so poll for them. */
    cr_assert(gone_within(pids[0], 5000) && gone_within(pids[1], 5000),
              "workers outlived the master:\n%s", error_log());
}

Test(master, a_stuck_worker_does_not_outlive_its_master)
{
    start(OPTS("--workers", "1", "--graceful-timeout", "0"));
    logged_n(" ready (generation 1)", 1, 5000);
    int pids[4];
    cr_assert_eq(ready_pids(pids, 4), 1);
    int fd = ts_connect(srv.port);
    const char *req = "GET /spin/spin HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert(ts_log_wait(&srv, srv.output, "spin: spinning", 3000));
    ts_signal(&srv, SIGKILL);
    ts_wait_exit(&srv, 3000);
    /* Its hub never runs the stop: the alarm set when the master died
     * ends it, the graceful timeout plus 5 s later. */
    cr_assert(gone_within(pids[0], 8000), "a stuck orphan stayed");
    close(fd);
}

/* ---- identity and logs ---- */

/* The real uid of pid, from /proc. */
static int uid_of(int pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    ts_read_file(path, buf, sizeof(buf));
    const char *uid = strstr(buf, "\nUid:");
    return uid ? atoi(uid + 5) : -1;
}

Test(master, workers_run_as_the_user_given)
{
    if (geteuid() != 0)
        cr_skip("needs root");
    struct passwd *nobody = getpwnam("nobody");
    cr_assert(nobody);
    /* A privileged port: bound by the master, as root. */
    start(OPTS("--workers", "2", "--user", "nobody", "--bind", "127.0.0.1:981"));
    logged_n(" ready (generation 1)", 2, 5000);
    int pids[4];
    cr_assert_eq(ready_pids(pids, 4), 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(uid_of(pids[i]), (int)nobody->pw_uid, "worker %d", pids[i]);
    cr_assert_eq(uid_of(srv.pid), 0, "the master stays root");
    cr_assert_gt(served_by(), 0, "%s", resp);
    char out[256];
    cr_assert_eq(ts_sh(out, sizeof(out), "curl -sS http://127.0.0.1:981/pid"), 0, "%s", out);
}

Test(master, an_unknown_user_stops_startup)
{
    const char *args[] = {"--user", "no-such-user-here", "/={build}/apps/hello.so", NULL};
    cr_assert_eq(ts_start(&srv, args), -1);
    cr_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 2, "%#x", srv.status);
    cr_assert(strstr(error_log(), "--user no-such-user-here: no such user"), "%s", text);
}

Test(master, sigusr1_reopens_the_logs)
{
    start(OPTS("--workers", "2"));
    logged_n(" ready (generation 1)", 2, 5000);
    char moved[128], moved_err[128];
    snprintf(moved, sizeof(moved), "%s.1", srv.access_log);
    snprintf(moved_err, sizeof(moved_err), "%s.1", srv.error_log);
    cr_assert_eq(rename(srv.access_log, moved), 0);
    cr_assert_eq(rename(srv.error_log, moved_err), 0);
    ts_signal(&srv, SIGUSR1);
    cr_assert(ts_log_wait_count(&srv, moved_err, 0, "SIGUSR1: reopening the logs", 3, 3000),
              "the master and both workers say so");
    /* Every process writes to the new files now. */
    for (int i = 0; i < 20; i++)
        cr_assert_gt(served_by(), 0);
    ts_signal(&srv, SIGTTIN);
    cr_assert(ts_log_wait(&srv, srv.error_log, "SIGTTIN", 3000), "the master's log");
    cr_assert(ts_log_wait_count(&srv, srv.access_log, 0, "\"GET /pid HTTP/1.1\" 200", 20, 3000),
              "the workers' access log");
    unlink(moved);
    unlink(moved_err);
}
