/* Reloading, with the real executable: SIGHUP under continuous load loses
 * no request; a rebuilt plugin is served after SIGHUP, and by itself with
 * --reload; a reload that cannot work (bad config file, broken plugin,
 * an init that fails) leaves the serving generation alone; --reuse-port
 * reloads without loss too. Fixture: tests/plugins/version.c, rebuilt by
 * the tests with another VERSION. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/client.h"
#include "support/load.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 16];
static char text[1 << 18];
static char so[160]; /* the plugin the tests rebuild, in the server's directory */

static void cleanup_version(void);

/* Also what a failed test left: the rebuilt plugin, a config file. */
static void stop_server(void)
{
    char conf[128];
    ts_stop(&srv, 8000);
    if (so[0])
        cleanup_version();
    snprintf(conf, sizeof(conf), "/tmp/gs-reload-%d.ini", (int)getpid());
    unlink(conf);
}

TestSuite(reload, .fini = stop_server, .timeout = 25);

static const char *error_log(void)
{
    ts_read_file(srv.error_log, text, sizeof(text));
    return text;
}

static void logged_n(const char *needle, size_t n, int timeout_ms)
{
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, needle, n, timeout_ms),
              "\"%s\" not %zu times in the error log:\n%s", needle, n, error_log());
}

/* Build tests/plugins/version.c answering `version` into path, as a
 * build does: a new file renamed over the old one. */
static void build_version(const char *path, const char *version)
{
    char out[4096];
    int st = ts_sh(out, sizeof(out),
                   "cc -shared -fPIC -Iinclude -DVERSION='\"%s\"' tests/plugins/version.c "
                   "-o %s.tmp && mv %s.tmp %s",
                   version, path, path, path);
    cr_assert_eq(st, 0, "building the plugin: %s", out);
}

/* The body of GET path (on a new connection), or "" when it failed. */
static const char *get(const char *path)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    resp[0] = '\0';
    if (ts_request(srv.port, req, resp, sizeof(resp), 5000) <= 0 || ts_status(resp) != 200)
        return "";
    return ts_body(resp);
}

/* Start with the version plugin at /v (built as "one") plus opts. */
static void start_with_version(const char *const *opts)
{
    char dir[64] = "/tmp/gs-reload-XXXXXX", mount[256];
    cr_assert(mkdtemp(dir));
    snprintf(so, sizeof(so), "%s/version.so", dir);
    build_version(so, "one");
    snprintf(mount, sizeof(mount), "/v=%s", so);
    const char *args[32];
    size_t n = 0;
    for (size_t i = 0; opts && opts[i]; i++)
        args[n++] = opts[i];
    args[n++] = mount;
    args[n++] = "/={build}/apps/hello.so";
    args[n] = NULL;
    cr_assert_eq(ts_start(&srv, args), 0, "did not start:\n%s", error_log());
    cr_assert_str_eq(get("/v"), "one\n");
}

static void cleanup_version(void)
{
    char dir[160];
    snprintf(dir, sizeof(dir), "%s", so);
    unlink(so);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
    so[0] = '\0';
}

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Once the new generation is ready, the old workers accept until their
 * retirement reaches them: callers first wait for those to stop, then
 * every request must get `want`. */
static void served(const char *want)
{
    int64_t deadline = ts_now_ms() + 3000;
    while (strcmp(get("/v"), want) != 0 && ts_now_ms() < deadline)
        usleep(20000);
    for (int i = 0; i < 20; i++)
        cr_assert_str_eq(get("/v"), want, "request %d after the reload", i);
}

Test(reload, sighup_under_load_loses_no_request)
{
    start_with_version(OPTS("--workers", "2"));
    ts_load *l = ts_load_start(srv.port, "GET /v HTTP/1.1\r\nHost: t\r\n\r\n", 4);
    cr_assert(l);
    for (int gen = 2; gen <= 4; gen++) {
        char ready[64];
        snprintf(ready, sizeof(ready), "generation %d ready", gen);
        unsigned long before = ts_load_done(l);
        ts_signal(&srv, SIGHUP);
        logged_n(ready, 1, 8000);
        /* Let the load run through the retirement of the old workers. */
        while (ts_load_done(l) < before + 300)
            usleep(10000);
    }
    ts_load_result r = ts_load_stop(l);
    cr_assert_eq(r.failed, 0, "%lu of %lu requests failed; the first: %s", r.failed,
                 r.ok + r.failed, r.first_failure);
    cr_assert_gt(r.ok, 900);
    logged_n(" (generation 3) stopped", 2, 8000);
    cleanup_version();
}

Test(reload, sighup_serves_a_rebuilt_plugin)
{
    start_with_version(OPTS("--workers", "2"));
    build_version(so, "two");
    cr_assert_str_eq(get("/v"), "one\n", "the old code serves until told");
    ts_signal(&srv, SIGHUP);
    logged_n("generation 2 ready: retiring generation 1", 1, 8000);
    logged_n("(generation 1) stopped", 2, 8000);
    served("two\n");
    /* And again: each reload reads the file afresh. */
    build_version(so, "three");
    ts_signal(&srv, SIGHUP);
    logged_n("generation 3 ready", 1, 8000);
    logged_n("(generation 2) stopped", 2, 8000);
    served("three\n");
    cleanup_version();
}

Test(reload, reload_option_follows_a_rebuild)
{
    start_with_version(OPTS("--workers", "1", "--reload"));
    build_version(so, "two");
    logged_n("--reload: ", 1, 5000);
    logged_n("generation 2 ready", 1, 8000);
    logged_n("(generation 1) stopped", 1, 8000);
    served("two\n");
    cleanup_version();
}

Test(reload, a_broken_plugin_leaves_the_serving_generation_alone)
{
    start_with_version(OPTS("--workers", "1"));
    char out[256];
    cr_assert_eq(
        ts_sh(out, sizeof(out), "echo 'not a library' > %s.tmp && mv %s.tmp %s", so, so, so), 0);
    ts_signal(&srv, SIGHUP);
    logged_n("generation 1 keeps serving", 1, 5000);
    cr_assert(strstr(error_log(), "version.so"), "the file is named:\n%s", text);
    cr_assert_str_eq(get("/v"), "one\n");
    /* Workers of generation 1 are still replaced from the code loaded. */
    build_version(so, "two"); /* not reloaded: the running code stays */
    ts_signal(&srv, SIGTTIN);
    logged_n(" ready (generation 1)", 2, 5000);
    for (int i = 0; i < 10; i++)
        cr_assert_str_eq(get("/v"), "one\n");
    cleanup_version();
}

Test(reload, a_failing_init_abandons_the_reload)
{
    char flag[128], mount[256];
    snprintf(flag, sizeof(flag), "/tmp/gs-reload-flag-%d", (int)getpid());
    snprintf(mount, sizeof(mount), "/f={build}/tests/plugins/flaky_init.so:%s", flag);
    unlink(flag);
    const char *args[] = {"--workers", "2", mount, "/={build}/apps/hello.so", NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "%s", error_log());
    logged_n(" ready (generation 1)", 2, 5000);
    close(creat(flag, 0644));
    ts_signal(&srv, SIGHUP);
    logged_n("reload abandoned", 1, 5000);
    cr_assert(strstr(error_log(), "generation 1 keeps serving"), "%s", text);
    unlink(flag);
    for (int i = 0; i < 10; i++)
        cr_assert_str_eq(get("/f"), "fine!\n");
    /* Neither worker of generation 1 was retired. */
    cr_assert_eq(ts_log_count(srv.error_log, 0, "(generation 1) stopped"), 0, "%s", error_log());
    /* A later reload works. */
    ts_signal(&srv, SIGHUP);
    logged_n("generation 3 ready", 1, 8000);
}

Test(reload, a_bad_config_file_leaves_the_serving_generation_alone)
{
    char conf[128], out[512];
    snprintf(conf, sizeof(conf), "/tmp/gs-reload-%d.ini", (int)getpid());
    cr_assert_eq(ts_sh(out, sizeof(out),
                       "printf 'workers = 1\\n[app:v]\\nmount = /v\\npath = %s/tests/plugins/"
                       "version.so\\n' > %s",
                       ts_build_dir(), conf),
                 0);
    const char *args[] = {"--config", conf, NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "%s", error_log());
    cr_assert_str_eq(get("/v"), "one\n");
    cr_assert_eq(ts_sh(out, sizeof(out), "printf 'workers = 1\\nmax-body = lots\\n' > %s", conf),
                 0);
    ts_signal(&srv, SIGHUP);
    logged_n("generation 1 keeps serving", 1, 5000);
    char where[160];
    snprintf(where, sizeof(where), "%s:2: --max-body lots", conf);
    cr_assert(strstr(error_log(), where), "%s", text);
    cr_assert_str_eq(get("/v"), "one\n");
    /* Fixed, it reloads, with the file's new settings (a reload refused
     * before it started took no generation number). */
    cr_assert_eq(ts_sh(out, sizeof(out),
                       "printf 'workers = 2\\n[app:v]\\nmount = /v2\\npath = %s/tests/plugins/"
                       "version.so\\n' > %s",
                       ts_build_dir(), conf),
                 0);
    ts_signal(&srv, SIGHUP);
    logged_n("generation 2: starting 2 worker(s)", 1, 5000);
    logged_n("generation 2 ready", 1, 8000);
    int64_t deadline = ts_now_ms() + 3000;
    while (strcmp(get("/v2"), "one\n") != 0 && ts_now_ms() < deadline)
        usleep(20000);
    cr_assert_str_eq(get("/v2"), "one\n");
    unlink(conf);
}

Test(reload, reuse_port_serves_and_reloads_without_loss)
{
    start_with_version(OPTS("--workers", "2", "--reuse-port"));
    logged_n(" ready (generation 1)", 2, 5000);
    ts_load *l = ts_load_start(srv.port, "GET /v HTTP/1.1\r\nHost: t\r\n\r\n", 4);
    cr_assert(l);
    while (ts_load_done(l) < 200)
        usleep(10000);
    ts_signal(&srv, SIGHUP);
    logged_n("generation 2 ready", 1, 8000);
    logged_n(" (generation 1) stopped", 2, 8000);
    unsigned long at = ts_load_done(l);
    while (ts_load_done(l) < at + 200)
        usleep(10000);
    ts_load_result r = ts_load_stop(l);
    /* A worker's own socket loses what is queued in it when it closes
     * (unless net.ipv4.tcp_migrate_req is set); draining it first makes
     * that rare, not impossible: allow very few. */
    cr_assert_leq(r.failed, 2, "%lu of %lu failed; the first: %s", r.failed, r.ok + r.failed,
                  r.first_failure);
    cr_assert_gt(r.ok, 300);
    cleanup_version();
}
