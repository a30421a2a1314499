/* Plugin loading, against the real executable: every refusal stops
 * start-up with exit status 2 and a message naming the file (or app) and
 * the reason; a crashing handler leaves a log line naming its app, its
 * request and the signal. Fixtures: tests/plugins/. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "greenserve.h"
#include "support/client.h"
#include "support/server.h"

static ts_server srv;
static char log_text[65536];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

TestSuite(plugins, .fini = stop_server, .timeout = 15);

/* Start with args, expect a refusal: exit status 2, and return the log. */
static const char *refused(const char *const *args)
{
    cr_assert_eq(ts_start(&srv, args), -1, "greenserve started with a bad plugin");
    cr_assert_eq(ts_wait_exit(&srv, 5000), srv.status);
    cr_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 2, "exit status %#x", srv.status);
    ts_read_file(srv.error_log, log_text, sizeof(log_text));
    return log_text;
}

Test(plugins, wrong_abi_version_refused_naming_file_and_both_versions)
{
    const char *log = refused((const char *[]){"/="
                                               "{build}/tests/plugins/wrong_abi.so",
                                               NULL});
    char ours[64];
    snprintf(ours, sizeof(ours), "ABI version %d", GS_ABI_VERSION);
    cr_assert(strstr(log, "tests/plugins/wrong_abi.so"), "%s", log);
    cr_assert(strstr(log, "ABI version 99"), "%s", log);
    cr_assert(strstr(log, ours), "%s", log);
}

Test(plugins, missing_symbol_refused_naming_file_and_symbol)
{
    const char *log = refused((const char *[]){"/x={build}/tests/plugins/no_symbol.so", NULL});
    cr_assert(strstr(log, "tests/plugins/no_symbol.so"), "%s", log);
    cr_assert(strstr(log, "greenserve_app"), "%s", log);
}

Test(plugins, missing_file_refused_naming_it)
{
    const char *log = refused((const char *[]){"/x={build}/tests/plugins/nothere.so", NULL});
    cr_assert(strstr(log, "tests/plugins/nothere.so"), "%s", log);
    cr_assert(strstr(log, "No such file"), "%s", log);
}

Test(plugins, failing_init_stops_startup_naming_the_app)
{
    const char *log = refused((const char *[]){"/ok={build}/apps/hello.so",
                                               "/bad={build}/tests/plugins/init_fails.so", NULL});
    cr_assert(strstr(log, "app \"init_fails\""), "%s", log);
    cr_assert(strstr(log, "init failed"), "%s", log);
    cr_assert(strstr(log, "No such file"), "the init's error: %s", log);
    cr_assert_null(strstr(log, "listening on"), "%s", log);
}

/* GET /crash/<how>: no response, a crash line in the log, and the process
 * dies by the signal (under ASan its own report may end it instead). One
 * process (--workers 0): under a master the worker would be replaced
 * (test_master.c). */
static void crash_with(const char *how, const char *signame, int sig)
{
    cr_assert_eq(ts_start(&srv, (const char *[]){"--workers", "0",
                                                 "/crash={build}/tests/plugins/crash.so", NULL}),
                 0);
    char req[128], resp[1024], line[256];
    snprintf(req, sizeof(req), "GET /crash/%s HTTP/1.1\r\nHost: t\r\n\r\n", how);
    cr_assert_leq(ts_request(srv.port, req, resp, sizeof(resp), 5000), 0, "%s", resp);
    snprintf(line, sizeof(line), "crash: app \"crash\" request \"GET /crash/%s\": signal %s", how,
             signame);
    cr_assert(ts_log_wait(&srv, srv.error_log, line, 5000), "no \"%s\" in the log", line);
    int st = ts_wait_exit(&srv, 5000);
    cr_assert(st != -1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0), "status %#x", st);
#ifndef __SANITIZE_ADDRESS__
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == sig, "status %#x", st);
#else
    (void)sig; /* ASan's own report may end it with exit(1) */
#endif
}

Test(plugins, segfaulting_handler_logs_app_request_and_signal)
{
    crash_with("segv", "SIGSEGV", SIGSEGV);
}

Test(plugins, aborting_handler_logs_app_request_and_signal)
{
    crash_with("abort", "SIGABRT", SIGABRT);
}

Test(plugins, dividing_by_zero_logs_app_request_and_signal)
{
    crash_with("fpe", "SIGFPE", SIGFPE);
}

Test(plugins, stack_overflow_logs_the_request_and_the_overflow)
{
    crash_with("overflow", "SIGSEGV", SIGSEGV);
    /* The runtime's own report, on stderr, follows ours. */
    ts_read_file(srv.output, log_text, sizeof(log_text));
    cr_assert(strstr(log_text, "stack overflow"), "%s", log_text);
}

Test(plugins, a_handler_that_does_not_crash_answers)
{
    cr_assert_eq(ts_start(&srv, (const char *[]){"/crash={build}/tests/plugins/crash.so", NULL}),
                 0);
    char resp[1024];
    cr_assert_gt(ts_request(srv.port, "GET /crash/fine HTTP/1.1\r\nHost: t\r\n\r\n", resp,
                            sizeof(resp), 5000),
                 0);
    cr_assert_eq(ts_status(resp), 200);
    cr_assert_str_eq(ts_body(resp), "alive\n");
}
