/* Binary upgrade (SIGUSR2) with the real executable, under a steady
 * stream of requests each on a new connection: the new master takes the
 * very same listening socket (same port, same socket inode, nothing bound
 * again) and no request fails while the old master and its workers go.
 * And when the new binary cannot serve -- its app's init fails, the file
 * is gone, it exits at once -- the old master keeps serving.
 *
 * The test process is a child subreaper: when the old master exits, the
 * new one becomes its child, so it can be stopped and reaped by pid. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/client.h"
#include "support/load.h"
#include "support/server.h"

#define REQUEST "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

static ts_server srv;
static pid_t new_master;
static char dir[64], pidfile[96], sock[96], text[1 << 16];

static void setup(void)
{
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    strcpy(dir, "/tmp/gs-upgrade-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(pidfile, sizeof(pidfile), "%s/gs.pid", dir);
    snprintf(sock, sizeof(sock), "%s/http.sock", dir);
}

/* Stop exactly what was started here: the first master (ts_stop) and the
 * one it executed. */
static void teardown(void)
{
    if (new_master > 0) {
        kill(new_master, SIGQUIT);
        waitpid(new_master, NULL, 0);
    }
    ts_stop(&srv, 5000);
    ts_sh(text, sizeof(text), "rm -rf '%s'", dir);
}

TestSuite(upgrade, .init = setup, .fini = teardown, .timeout = 60);

/* "worker N ready" lines past `from`: the pids of the workers. */
static size_t worker_pids(size_t from, pid_t *pids, size_t max)
{
    ts_read_file(srv.error_log, text, sizeof(text));
    size_t n = 0;
    for (const char *p = text + from; n < max && (p = strstr(p, "] worker ")); p++) {
        int pid;
        char word[16];
        if (sscanf(p, "] worker %d %15s", &pid, word) == 2 && strcmp(word, "ready") == 0)
            pids[n++] = pid;
    }
    return n;
}

/* The inode of the socket listening on port, and how many listen on it
 * (/proc/net/tcp: state 0A is LISTEN; the port is hex). */
static unsigned long listening_inode(int port, int *count)
{
    int st = ts_sh(text, sizeof(text),
                   "awk '$4 == \"0A\" && $2 ~ /:%04X$/ { print $10 }' /proc/net/tcp", port);
    cr_assert_eq(st, 0, "%s", text);
    *count = 0;
    unsigned long inode = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), (*count)++)
        inode = strtoul(line, NULL, 10);
    return inode;
}

static void wait_for_answers(ts_load *load, unsigned long more)
{
    unsigned long want = ts_load_done(load) + more;
    int64_t deadline = ts_now_ms() + 10000;
    while (ts_load_done(load) < want && ts_now_ms() < deadline)
        usleep(10000); /* a counter in other threads: nothing to wait on */
    cr_assert_geq(ts_load_done(load), want, "the clients stalled");
}

static pid_t read_pid(const char *path)
{
    ts_read_file(path, text, sizeof(text));
    return atoi(text);
}

static void start(const char *app)
{
    char unix_bind[128];
    snprintf(unix_bind, sizeof(unix_bind), "unix:%s", sock);
    cr_assert_eq(ts_start(&srv, (const char *[]){"--workers", "2", "--pidfile", pidfile, "--bind",
                                                 unix_bind, "--graceful-timeout", "5", app, NULL}),
                 0, "greenserve did not start");
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, "ready (generation 1)", 2, 5000));
}

Test(upgrade, new_binary_takes_the_socket_and_no_request_fails)
{
    start("/={build}/apps/hello.so");
    pid_t old_master = srv.pid, old_workers[2];
    cr_assert_eq(worker_pids(0, old_workers, 2), 2u);
    int listeners;
    unsigned long inode = listening_inode(srv.port, &listeners);
    cr_assert(inode && listeners == 1, "%d listening sockets", listeners);

    ts_load *load = ts_load_start(srv.port, REQUEST, 4);
    cr_assert_not_null(load);
    wait_for_answers(load, 50);
    size_t from = ts_file_size(srv.error_log);
    ts_signal(&srv, SIGUSR2);
    cr_assert(ts_log_wait_from(&srv, srv.error_log, from, "upgrade: the new master (pid", 10000),
              "no new master served");
    ts_read_file(srv.error_log, text, sizeof(text));
    const char *line = strstr(text + from, "upgrade: the new master (pid ");
    cr_assert(line && strstr(line, ") serves"), "%s", text + from);
    new_master = atoi(line + strlen("upgrade: the new master (pid "));
    int status = ts_wait_exit(&srv, 10000);
    cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the old master retires: %#x", status);
    wait_for_answers(load, 50); /* now all served by the new master */
    ts_load_result r = ts_load_stop(load);

    cr_assert_eq(r.failed, 0, "%lu of %lu failed: %s", r.failed, r.ok + r.failed, r.first_failure);
    cr_assert_neq(new_master, old_master);
    cr_assert_eq(kill(new_master, 0), 0, "the new master serves on");
    for (int i = 0; i < 2; i++)
        cr_assert(kill(old_workers[i], 0) < 0 && errno == ESRCH, "old worker %d is still there",
                  (int)old_workers[i]);
    cr_assert_eq(listening_inode(srv.port, &listeners), inode, "the same socket listens");
    cr_assert_eq(listeners, 1, "and no other");
    cr_assert_eq(read_pid(pidfile), new_master, "the pid file names the new master");
    char oldbin[128];
    snprintf(oldbin, sizeof(oldbin), "%s.oldbin", pidfile);
    cr_assert_neq(access(oldbin, F_OK), 0, "FILE.oldbin is gone with the old master");

    /* The unix socket went along: still there after the old master, and
     * removed by the new one when it stops. */
    int st = ts_sh(text, sizeof(text), "curl -sS --max-time 5 --unix-socket '%s' http://gs/", sock);
    cr_assert_eq(st, 0, "curl: %s", text);
    cr_assert_str_eq(text, "Hello, World!");
    kill(new_master, SIGTERM);
    cr_assert_eq(waitpid(new_master, &status, 0), new_master);
    new_master = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the new master: %#x", status);
    cr_assert_neq(access(sock, F_OK), 0, "the socket file is removed at the last stop");
}

/* SIGUSR2, then the old master logs why the new one failed, and every
 * request meanwhile was answered by the old one. */
static void upgrade_fails(const char *why)
{
    ts_load *load = ts_load_start(srv.port, REQUEST, 2);
    cr_assert_not_null(load);
    wait_for_answers(load, 20);
    size_t from = ts_file_size(srv.error_log);
    ts_signal(&srv, SIGUSR2);
    cr_assert(ts_log_wait_from(&srv, srv.error_log, from, "this master keeps serving", 15000),
              "no failure logged");
    ts_read_file(srv.error_log, text, sizeof(text));
    cr_assert(strstr(text + from, why), "expected '%s' in: %s", why, text + from);
    wait_for_answers(load, 20);
    ts_load_result r = ts_load_stop(load);
    cr_assert_eq(r.failed, 0, "%s: %lu failed: %s", why, r.failed, r.first_failure);
    cr_assert_eq(read_pid(pidfile), srv.pid, "the pid file is the old master's again");
}

Test(upgrade, a_new_master_that_cannot_serve_leaves_the_old_one_serving)
{
    /* A copy of the executable, to remove and replace. */
    char exe_dir[96], app[160];
    snprintf(exe_dir, sizeof(exe_dir), "%s/bin", dir);
    snprintf(app, sizeof(app), "/=%s/tests/plugins/flaky_init.so:%s/fail", ts_build_dir(), dir);
    cr_assert_eq(ts_sh(text, sizeof(text), "mkdir '%s' && cp '%s/greenserve' '%s/'", exe_dir,
                       ts_build_dir(), exe_dir),
                 0, "%s", text);
    setenv("GS_BUILD", exe_dir, 1);
    start(app);

    /* The new binary runs, but its app's init fails in every worker. */
    cr_assert_eq(ts_sh(text, sizeof(text), "touch '%s/fail'", dir), 0);
    upgrade_fails("exited with status 2 before it was ready");
    cr_assert_eq(ts_sh(text, sizeof(text), "rm '%s/fail'", dir), 0);

    /* The file is gone (a half-done deployment). */
    cr_assert_eq(ts_sh(text, sizeof(text), "mv '%s/greenserve' '%s/moved'", exe_dir, exe_dir), 0);
    upgrade_fails("cannot run");

    /* Something that exits at once. */
    cr_assert_eq(ts_sh(text, sizeof(text),
                       "printf '#!/bin/sh\\nexit 3\\n' > '%s/greenserve' && "
                       "chmod 755 '%s/greenserve'",
                       exe_dir, exe_dir),
                 0);
    upgrade_fails("exited with status 3");

    int status = ts_stop(&srv, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}
