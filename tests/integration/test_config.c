/* The config file and the command line around it, against the real
 * executable: apps from [app:NAME] sections serve; the command line wins;
 * every mistake stops start-up with exit status 2 naming the file and the
 * line; --check-config; --help and --version; --daemon and --pidfile. */
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
static char conf[96];
static char out[1 << 16];
static char resp[1 << 14];
static int daemon_pid;          /* --daemon's master, stopped by the fini */
static char daemon_pidfile[96]; /* or found there, if the test failed early */

static void setup(void)
{
    snprintf(conf, sizeof(conf), "/tmp/gs-config-%d.ini", (int)getpid());
}

static void teardown(void)
{
    ts_stop(&srv, 5000);
    if (daemon_pid <= 0 && daemon_pidfile[0]) {
        char text[32];
        ts_read_file(daemon_pidfile, text, sizeof(text));
        daemon_pid = atoi(text);
    }
    if (daemon_pid > 0)
        kill(daemon_pid, SIGTERM);
    unlink(conf);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 20);

static void write_conf(const char *fmt, const char *arg)
{
    FILE *f = fopen(conf, "w");
    cr_assert(f);
    fprintf(f, fmt, arg, arg, arg);
    fclose(f);
}

/* greenserve ARGS, its output in out: its exit status (124 if it ran
 * for more than 10 s). */
static int run(const char *args)
{
    return ts_sh(out, sizeof(out), "timeout 10 %s/greenserve %s", ts_build_dir(), args);
}

static const char *body_of(const char *path)
{
    char req[128];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    resp[0] = '\0';
    if (ts_request(srv.port, req, resp, sizeof(resp), 3000) <= 0 || ts_status(resp) != 200)
        return "";
    return ts_body(resp);
}

Test(config, apps_and_options_from_the_file)
{
    write_conf("workers = 1\n"
               "max-body = 16\n"
               "[app:hello]\nmount = /hi\npath = %s/apps/hello.so\n"
               "[app:echo]\nmount = /echo\npath = %s/apps/echo.so\nargs = X-From-Config\n",
               ts_build_dir());
    const char *args[] = {"--config", conf, NULL};
    cr_assert_eq(ts_start(&srv, args), 0);
    cr_assert_str_eq(body_of("/hi"), "Hello, World!");
    cr_assert(strstr(body_of("/echo/x"), "SCRIPT_NAME: /echo\n"), "%s", resp);
    ts_request(srv.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n", resp,
               sizeof(resp), 3000);
    cr_assert_eq(ts_status(resp), 413, "max-body from the file: %s", resp);
    ts_read_file(srv.error_log, out, sizeof(out));
    cr_assert_eq(ts_log_count(srv.error_log, 0, "listening on"), 1, "workers = 1:\n%s", out);
}

Test(config, the_command_line_wins)
{
    write_conf("workers = 1\nmax-body = 16\n"
               "[app:hello]\nmount = /hi\npath = %s/apps/hello.so\n",
               ts_build_dir());
    const char *args[] = {
        "--config", conf, "--max-body", "1k", "--workers", "2", "/hi={build}/apps/echo.so", NULL};
    cr_assert_eq(ts_start(&srv, args), 0);
    cr_assert(strstr(body_of("/hi/x"), "SCRIPT_NAME: /hi\n"), "the command line's app: %s", resp);
    ts_request(srv.port,
               "POST /hi HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n01234567890123456789",
               resp, sizeof(resp), 3000);
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, "listening on", 2, 3000));
}

/* Start with the file, expect exit 2 and FILE:LINE: why on stderr. */
static void refused(const char *text, int line, const char *why)
{
    write_conf(text, ts_build_dir());
    char args[256], where[160];
    snprintf(args, sizeof(args), "--config %s", conf);
    cr_assert_eq(run(args), 2, "%s", out);
    snprintf(where, sizeof(where), "%s:%d: ", conf, line);
    cr_assert(strstr(out, where) && strstr(out, why), "want \"%s%s\" in:\n%s", where, why, out);
}

Test(config, mistakes_name_the_file_and_the_line)
{
    refused("workers = 1\n; fine\nworkerz = 2\n", 3, "unknown option workerz");
    refused("workers = many\n", 1, "--workers many: expected a number >= 0");
    refused("[app:a]\nmount = /\npath = %s/apps/hello.so\nflags = quick\n", 4,
            "unknown flag \"quick\"");
    refused("bind = 127.0.0.1\n", 1, "--bind 127.0.0.1");
    refused("[app:a]\nmount = /\n", 1, "app a: needs mount = /PREFIX and path = FILE.so");
    cr_assert_eq(run("--config /nonexistent/gs.ini"), 2, "%s", out);
    cr_assert(strstr(out, "/nonexistent/gs.ini: No such file or directory"), "%s", out);
}

Test(config, a_plugin_that_does_not_load_is_named)
{
    write_conf("[app:a]\nmount = /\npath = %s/tests/plugins/wrong_abi.so\n", ts_build_dir());
    char args[256];
    snprintf(args, sizeof(args), "--config %s", conf);
    cr_assert_eq(run(args), 2, "%s", out);
    cr_assert(strstr(out, "wrong_abi.so") && strstr(out, "ABI version 99"), "%s", out);
}

Test(config, check_config)
{
    write_conf("workers = 3\n[app:a]\nmount = /\npath = %s/apps/hello.so\n", ts_build_dir());
    char args[256];
    snprintf(args, sizeof(args), "--config %s --check-config", conf);
    cr_assert_eq(run(args), 0, "%s", out);
    cr_assert(strstr(out, "configuration OK") && strstr(out, "1 app(s)") &&
                  strstr(out, "3 worker(s)") && strstr(out, "(app \"hello\")"),
              "%s", out);
    /* It loads the plugins... */
    write_conf("[app:a]\nmount = /\npath = %s/tests/plugins/no_symbol.so\n", ts_build_dir());
    cr_assert_eq(run(args), 2, "%s", out);
    cr_assert(strstr(out, "no_symbol.so") && strstr(out, "greenserve_app"), "%s", out);
    /* ...and looks the user up, but binds nothing and starts nothing. */
    write_conf("user = no-such-user-here\n[app:a]\nmount = /\npath = %s/apps/hello.so\n",
               ts_build_dir());
    cr_assert_eq(run(args), 2, "%s", out);
    cr_assert(strstr(out, "no such user"), "%s", out);
    cr_assert_eq(run("--bind 127.0.0.1:1 --check-config /=nothere.so"), 2, "%s", out);
    cr_assert(strstr(out, "nothere.so: No such file"), "%s", out);
}

Test(config, the_shipped_example_is_a_valid_config)
{
    cr_assert_eq(run("--config packaging/greenserve.ini --check-config /=build/apps/hello.so "
                     "/echo=build/apps/echo.so /clock=build/apps/clock.so"),
                 0, "%s", out);
}

Test(config, help_lists_every_option_and_version_says_the_abi)
{
    cr_assert_eq(run("--help"), 0);
    const char *opts[] = {"--config",     "--check-config", "--workers",      "--threads",
                          "--reuse-port", "--timeout",      "--max-requests", "--max-memory",
                          "--max-age",    "--user",         "--group",        "--pidfile",
                          "--daemon",     "--reload",       "--status",       "--graceful-timeout"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        cr_assert(strstr(out, opts[i]), "%s not in --help", opts[i]);
    cr_assert(strstr(out, "(default the number of CPUs)"), "%s", out);
    cr_assert(strstr(out, "SIGHUP") || strstr(out, "HUP reloads"), "%s", out);
    cr_assert_eq(run("--version"), 0);
    cr_assert(strstr(out, "plugin ABI version"), "%s", out);
}

/* ---- --daemon and --pidfile ---- */

Test(config, daemon_and_pidfile)
{
    char dir[64] = "/tmp/gs-daemon-XXXXXX", args[512], pidfile[96], log[96];
    cr_assert(mkdtemp(dir));
    snprintf(pidfile, sizeof(pidfile), "%s/gs.pid", dir);
    snprintf(daemon_pidfile, sizeof(daemon_pidfile), "%s", pidfile);
    snprintf(log, sizeof(log), "%s/error.log", dir);
    snprintf(args, sizeof(args),
             "--daemon --pidfile %s --error-log %s --bind 127.0.0.1:0 --workers 1 "
             "/=%s/tests/plugins/pid.so",
             pidfile, log, ts_build_dir());
    /* It returns once serving, with the status of the start-up. */
    cr_assert_eq(run(args), 0, "%s", out);
    char text[8192];
    ts_read_file(pidfile, text, sizeof(text));
    daemon_pid = atoi(text);
    cr_assert_gt(daemon_pid, 0, "pid file: %s", text);
    cr_assert_eq(kill(daemon_pid, 0), 0, "the daemon is not running");
    ts_read_file(log, text, sizeof(text));
    const char *at = strstr(text, "listening on http://127.0.0.1:");
    cr_assert(at, "%s", text);
    int port = atoi(at + strlen("listening on http://127.0.0.1:"));
    cr_assert_gt(ts_request(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof(resp), 3000),
                 0);
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    /* Detached: a session of its own. */
    cr_assert_eq(getsid(daemon_pid), daemon_pid);
    kill(daemon_pid, SIGTERM);
    int64_t deadline = ts_now_ms() + 5000;
    while (kill(daemon_pid, 0) == 0 && ts_now_ms() < deadline)
        usleep(20000);
    cr_assert_neq(kill(daemon_pid, 0), 0, "the daemon did not stop");
    daemon_pid = 0;
    cr_assert_neq(access(pidfile, F_OK), 0, "the pid file outlived the server");
    daemon_pidfile[0] = '\0';
    unlink(log);
    rmdir(dir);
}

Test(config, daemon_reports_a_failed_startup)
{
    char args[512];
    snprintf(args, sizeof(args),
             "--daemon --bind 127.0.0.1:0 --workers 1 --error-log /dev/null "
             "/=%s/tests/plugins/init_fails.so",
             ts_build_dir());
    cr_assert_eq(run(args), 2, "the init failure is the shell's exit status: %s", out);
}
