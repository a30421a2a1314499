/* The command line: every value form, every refusal naming its option,
 * mounts, and the defaults --help shows. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/options.h"

static cfg_settings s;
static char err[512];

static int parse(const char *const *argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    cfg_free(&s);
    err[0] = '\0';
    return cfg_parse_args(&s, argc, (char **)argv, err, sizeof(err));
}

static void done(void)
{
    cfg_free(&s);
}

TestSuite(options, .fini = done);

Test(options, defaults_bind_localhost_8080)
{
    cr_assert_eq(parse((const char *[]){"gs", "/=a.so", NULL}), CFG_RUN, "%s", err);
    cr_assert_eq(s.nbinds, 1);
    cr_assert_str_eq(s.binds[0].host, "127.0.0.1");
    cr_assert_str_eq(s.binds[0].port, "8080");
    cr_assert_null(s.access_log);
    cr_assert_null(s.error_log);
    cr_assert_eq(s.graceful_timeout_ms, 30000);
    http_limits d;
    http_limits_default(&d);
    /* Field by field: memcmp would compare the padding too. */
    cr_assert_eq(s.limits.max_uri, d.max_uri);
    cr_assert_eq(s.limits.max_header_bytes, d.max_header_bytes);
    cr_assert_eq(s.limits.max_headers, d.max_headers);
    cr_assert_eq(s.limits.max_body, d.max_body);
    cr_assert_eq(s.limits.header_timeout_ms, d.header_timeout_ms);
    cr_assert_eq(s.limits.body_timeout_ms, d.body_timeout_ms);
    cr_assert_eq(s.limits.keepalive_timeout_ms, d.keepalive_timeout_ms);
    cr_assert_eq(s.limits.write_timeout_ms, d.write_timeout_ms);
    cr_assert_eq(s.limits.max_conns, d.max_conns);
}

Test(options, bind_forms)
{
    cr_assert_eq(
        parse((const char *[]){"gs", "--bind", "10.0.0.1:80", "--bind", "[::1]:0", "--bind",
                               "unix:/tmp/x.sock", "--bind", "*:8081", "/=a.so", NULL}),
        CFG_RUN, "%s", err);
    cr_assert_eq(s.nbinds, 4);
    cr_assert_str_eq(s.binds[0].host, "10.0.0.1");
    cr_assert_str_eq(s.binds[1].host, "::1");
    cr_assert_str_eq(s.binds[1].port, "0");
    cr_assert(s.binds[2].is_unix);
    cr_assert_str_eq(s.binds[2].path, "/tmp/x.sock");
    cr_assert_str_eq(s.binds[3].host, "");
}

Test(options, bad_binds_are_refused_naming_the_option)
{
    const char *bad[] = {"localhost", "::1:80", "1.2.3.4:70000", "1.2.3.4:x", "unix:", "[::1]80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse((const char *[]){"gs", "--bind", bad[i], "/=a.so", NULL}), -EINVAL,
                     "%s accepted", bad[i]);
        cr_assert(strstr(err, "--bind") && strstr(err, bad[i]), "%s", err);
    }
}

Test(options, sizes_counts_and_times)
{
    cr_assert_eq(parse((const char *[]){"gs", "--max-uri", "16k", "--max-body", "10m",
                                        "--max-headers", "50", "--header-timeout", "500ms",
                                        "--body-timeout", "2.5", "--keepalive-timeout", "off",
                                        "--graceful-timeout", "0", "/=a.so", NULL}),
                 CFG_RUN, "%s", err);
    cr_assert_eq(s.limits.max_uri, 16384);
    cr_assert_eq(s.limits.max_body, 10 << 20);
    cr_assert_eq(s.limits.max_headers, 50);
    cr_assert_eq(s.limits.header_timeout_ms, 500);
    cr_assert_eq(s.limits.body_timeout_ms, 2500);
    cr_assert_eq(s.limits.keepalive_timeout_ms, GS_FOREVER);
    cr_assert_eq(s.graceful_timeout_ms, 0);
}

Test(options, workers_default_to_the_cpus_and_threads_to_none)
{
    cr_assert_eq(parse((const char *[]){"gs", "/=a.so", NULL}), CFG_RUN, "%s", err);
    cr_assert_eq(s.workers, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    cr_assert_eq(s.threads, 0);
    cr_assert_eq(parse((const char *[]){"gs", "--workers", "0", "--threads", "8", "/=a.so", NULL}),
                 CFG_RUN, "%s", err);
    cr_assert_eq(s.workers, 0, "0 = one process, no master");
    cr_assert_eq(s.threads, 8);
    cr_assert_eq(parse((const char *[]){"gs", "--threads", "0", "/=a.so", NULL}), CFG_RUN);
    cr_assert_eq(parse((const char *[]){"gs", "--workers", "-1", "/=a.so", NULL}), -EINVAL);
    cr_assert(strstr(err, "--workers") && strstr(err, ">= 0"), "%s", err);
    cr_assert_eq(parse((const char *[]){"gs", "--threads", "two", "/=a.so", NULL}), -EINVAL);
    cr_assert(strstr(err, "--threads"), "%s", err);
}

Test(options, process_model_options)
{
    cr_assert_eq(parse((const char *[]){"gs", "/=a.so", NULL}), CFG_RUN, "%s", err);
    cr_assert_eq(s.timeout_ms, 30000);
    cr_assert_eq(s.max_requests, 0, "off");
    cr_assert_eq(s.max_memory_mb, 0, "off");
    cr_assert_eq(s.max_age_ms, GS_FOREVER, "off");
    cr_assert_null(s.status.text, "off");
    cr_assert(!s.daemon && !s.reload && !s.reuse_port && !s.check_config);
    cr_assert_eq(parse((const char *[]){"gs",          "--daemon",       "--reuse-port",
                                        "--reload",    "--check-config", "--max-requests",
                                        "500",         "--max-memory",   "256",
                                        "--max-age",   "3600",           "--timeout",
                                        "off",         "--status",       "127.0.0.1:9191",
                                        "--user",      "nobody",         "--pidfile",
                                        "/tmp/gs.pid", "/=a.so",         NULL}),
                 CFG_RUN, "%s", err);
    cr_assert(s.daemon && s.reuse_port && s.reload && s.check_config);
    cr_assert_eq(s.max_requests, 500);
    cr_assert_eq(s.max_memory_mb, 256);
    cr_assert_eq(s.max_age_ms, 3600000);
    cr_assert_eq(s.timeout_ms, GS_FOREVER);
    cr_assert_str_eq(s.status.port, "9191");
    cr_assert_str_eq(s.user, "nobody");
    cr_assert_str_eq(s.pidfile, "/tmp/gs.pid");
    cr_assert_eq(
        parse((const char *[]){"gs", "--max-requests", "off", "--status", "off", "/=a.so", NULL}),
        CFG_RUN, "%s", err);
    cr_assert_eq(s.max_requests, 0);
    cr_assert_eq(parse((const char *[]){"gs", "--status", "nowhere", "/=a.so", NULL}), -EINVAL);
    cr_assert(strstr(err, "--status nowhere"), "%s", err);
    cr_assert_eq(parse((const char *[]){"gs", "--daemon=yes", "/=a.so", NULL}), -EINVAL,
                 "a flag takes no value on the command line");
}

Test(options, bad_values_are_refused_naming_the_option)
{
    const char *cases[][2] = {{"--max-body", "1x"},         {"--max-uri", "-1"},
                              {"--max-conns", "0"},         {"--max-headers", "10k"},
                              {"--header-timeout", "0"},    {"--write-timeout", "soon"},
                              {"--graceful-timeout", "-1"}, {"--max-uri", "99999999999999999999"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(parse((const char *[]){"gs", cases[i][0], cases[i][1], "/=a.so", NULL}),
                     -EINVAL, "%s %s accepted", cases[i][0], cases[i][1]);
        cr_assert(strstr(err, cases[i][0]), "%s", err);
    }
}

Test(options, unknown_option_and_missing_value)
{
    cr_assert_eq(parse((const char *[]){"gs", "--frobnicate", "/=a.so", NULL}), -EINVAL);
    cr_assert(strstr(err, "--frobnicate"), "%s", err);
    cr_assert_eq(parse((const char *[]){"gs", "/=a.so", "--max-body", NULL}), -EINVAL);
    cr_assert(strstr(err, "--max-body") && strstr(err, "needs a value"), "%s", err);
}

Test(options, logs)
{
    cr_assert_eq(parse((const char *[]){"gs", "--access-log", "-", "--error-log", "/tmp/e.log",
                                        "/=a.so", NULL}),
                 CFG_RUN);
    cr_assert_str_eq(s.access_log, "-");
    cr_assert_str_eq(s.error_log, "/tmp/e.log");
    cr_assert_eq(parse((const char *[]){"gs", "--access-log", "off", "/=a.so", NULL}), CFG_RUN);
    cr_assert_null(s.access_log);
}

Test(options, mounts_prefix_path_and_args)
{
    cr_assert_eq(parse((const char *[]){"gs", "/chat/=apps/chat.so:room=a:b", "/=hello.so",
                                        "/x=/opt/lib:x/y.so", NULL}),
                 CFG_RUN, "%s", err);
    cr_assert_eq(s.nmounts, 3);
    cr_assert_str_eq(s.mounts[0].prefix, "/chat");
    cr_assert_str_eq(s.mounts[0].path, "apps/chat.so");
    cr_assert_str_eq(s.mounts[0].args, "room=a:b");
    cr_assert_str_eq(s.mounts[1].prefix, "/");
    cr_assert_str_eq(s.mounts[1].path, "./hello.so", "a bare name is not searched for");
    cr_assert_str_eq(s.mounts[1].args, "");
    cr_assert_str_eq(s.mounts[2].path, "/opt/lib:x/y.so");
}

Test(options, bad_mounts_are_refused)
{
    cr_assert_eq(parse((const char *[]){"gs", NULL}), -EINVAL);
    cr_assert(strstr(err, "no app mounted"), "%s", err);
    cr_assert_eq(parse((const char *[]){"gs", "hello.so", NULL}), -EINVAL);
    cr_assert(strstr(err, "PREFIX=PATH.so"), "%s", err);
    cr_assert_eq(parse((const char *[]){"gs", "/a=x.so", "/a/=y.so", NULL}), -EINVAL);
    cr_assert(strstr(err, "two apps mounted at /a"), "%s", err);
}

Test(options, help_and_version)
{
    cr_assert_eq(parse((const char *[]){"gs", "--help", NULL}), CFG_HELP);
    cr_assert_eq(parse((const char *[]){"gs", "--version", NULL}), CFG_VERSION_SHOWN);
}

Test(options, help_lists_every_option_with_its_default)
{
    char buf[8192];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    cfg_usage(f, "greenserve");
    fclose(f);
    const char *opts[] = {"--bind",
                          "--max-uri",
                          "--max-header-bytes",
                          "--max-headers",
                          "--max-body",
                          "--header-timeout",
                          "--body-timeout",
                          "--keepalive-timeout",
                          "--write-timeout",
                          "--max-conns",
                          "--access-log",
                          "--error-log",
                          "--graceful-timeout",
                          "--workers",
                          "--threads",
                          "--help",
                          "--version"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        cr_assert(strstr(buf, opts[i]), "%s missing", opts[i]);
    cr_assert(strstr(buf, "(default 127.0.0.1:8080)"));
    cr_assert(strstr(buf, "(default 30s)"));
    cr_assert(strstr(buf, "(default off)"));
    cr_assert(strstr(buf, "(default stderr)"));
    cr_assert(strstr(buf, "(default the number of CPUs)"));
}

Test(options, cfg_set_is_what_a_config_file_will_call)
{
    cfg_defaults(&s);
    cr_assert_eq(cfg_set(&s, "max-conns", "20", err, sizeof(err)), 0);
    cr_assert_eq(s.limits.max_conns, 20);
    cr_assert_eq(cfg_set(&s, "no-such", "1", err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "no-such"), "%s", err);
}
