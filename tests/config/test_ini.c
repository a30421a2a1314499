/* The config file: every option by its long name, [app:NAME] sections,
 * the command line winning over the file, and each refusal naming the
 * file, the line and the reason. The shipped example must parse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/options.h"

static cfg_settings s;
static char err[512];
static char path[64];

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/gs-ini-%d.ini", (int)getpid());
}

static void done(void)
{
    cfg_free(&s);
    unlink(path);
}

TestSuite(ini, .init = setup, .fini = done);

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* greenserve --config PATH [more...] */
static int parse(const char *const *more)
{
    const char *argv[32] = {"gs", "--config", path};
    int argc = 3;
    for (size_t i = 0; more && more[i]; i++)
        argv[argc++] = more[i];
    argv[argc] = NULL;
    cfg_free(&s);
    err[0] = '\0';
    return cfg_parse_args(&s, argc, (char **)argv, err, sizeof(err));
}

static int parse_text(const char *text)
{
    write_file(text);
    return parse(NULL);
}

/* The refusal names FILE:LINE and has `why`. */
static void refused_at(const char *text, int line, const char *why)
{
    cr_assert_lt(parse_text(text), 0, "accepted:\n%s", text);
    char where[96];
    snprintf(where, sizeof(where), "%s:%d: ", path, line);
    cr_assert(strstr(err, where), "no \"%s\" in: %s", where, err);
    cr_assert(strstr(err, why), "no \"%s\" in: %s", why, err);
}

Test(ini, options_and_apps)
{
    cr_assert_eq(parse_text("; a comment\n"
                            "workers = 3\n"
                            "bind = 127.0.0.1:81\n"
                            "bind = unix:/tmp/x.sock\n"
                            "max-body = 10m   ; inline comment\n"
                            "graceful-timeout = 2.5\n"
                            "reuse-port = yes\n"
                            "max-requests = 1000\n"
                            "user = nobody\n"
                            "status = 127.0.0.1:9191\n"
                            "\n"
                            "[app:hello]\n"
                            "mount = /hello/\n"
                            "path = hello.so\n"
                            "\n"
                            "[app:clock]\n"
                            "mount = /\n"
                            "path = /opt/clock.so\n"
                            "args = a=1:b\n"
                            "flags = green\n"),
                 CFG_RUN, "%s", err);
    cr_assert_eq(s.workers, 3);
    cr_assert_eq(s.nbinds, 2);
    cr_assert_str_eq(s.binds[0].port, "81");
    cr_assert(s.binds[1].is_unix);
    cr_assert_eq(s.limits.max_body, 10 << 20);
    cr_assert_eq(s.graceful_timeout_ms, 2500);
    cr_assert(s.reuse_port);
    cr_assert_eq(s.max_requests, 1000);
    cr_assert_str_eq(s.user, "nobody");
    cr_assert_str_eq(s.status.port, "9191");
    cr_assert_eq(s.nmounts, 2);
    cr_assert_str_eq(s.mounts[0].name, "hello");
    cr_assert_str_eq(s.mounts[0].prefix, "/hello");
    cr_assert_str_eq(s.mounts[0].path, "./hello.so");
    cr_assert_str_eq(s.mounts[0].args, "");
    cr_assert_eq(s.mounts[0].flags, 0);
    cr_assert_str_eq(s.mounts[1].args, "a=1:b");
    cr_assert_eq(s.mounts[1].flags, GS_APP_GREEN);
}

Test(ini, a_greenserve_section_holds_options_too)
{
    cr_assert_eq(parse_text("[greenserve]\nthreads = 4\n[app:a]\nmount = /\npath = a.so\n"),
                 CFG_RUN, "%s", err);
    cr_assert_eq(s.threads, 4);
}

Test(ini, the_command_line_wins)
{
    write_file("workers = 3\nmax-conns = 10\nbind = 127.0.0.1:81\nbind = 127.0.0.1:82\n"
               "[app:a]\nmount = /a\npath = a.so\n[app:b]\nmount = /b\npath = b.so\n");
    cr_assert_eq(parse((const char *[]){"--workers", "1", "--bind", "127.0.0.1:90", "/a=z.so",
                                        "/c=c.so", NULL}),
                 CFG_RUN, "%s", err);
    cr_assert_eq(s.workers, 1);
    cr_assert_eq(s.limits.max_conns, 10, "what the command line leaves alone stays");
    cr_assert_eq(s.nbinds, 1, "the command line's binds replace the file's");
    cr_assert_str_eq(s.binds[0].port, "90");
    cr_assert_eq(s.nmounts, 3);
    cr_assert_str_eq(s.mounts[0].path, "./z.so", "the app at /a is the command line's");
    cr_assert_str_eq(s.mounts[1].prefix, "/b");
    cr_assert_str_eq(s.mounts[2].prefix, "/c");
}

Test(ini, unknown_key_names_file_and_line)
{
    refused_at("workers = 2\n\nfrobnicate = 1\n", 3, "unknown option frobnicate");
}

Test(ini, bad_value_names_file_line_and_option)
{
    refused_at("workers = 2\nmax-body = 1x\n", 2, "--max-body 1x: expected a byte count");
    refused_at("daemon = perhaps\n", 1, "expected yes or no");
}

Test(ini, syntax_error_names_the_line)
{
    refused_at("workers = 2\nthis is not a key\n", 2, "expected NAME = VALUE");
}

Test(ini, app_sections_are_checked)
{
    refused_at("[app:x]\nmount = /x\nfrob = 1\n", 3, "unknown key frob in [app:x]");
    refused_at("[app:x]\nmount = /x\n\n[app:y]\nmount = /y\npath = y.so\n", 1,
               "app x: needs mount = /PREFIX and path = FILE.so");
    refused_at("[app:x]\nmount = /x\npath = x.so\nflags = fast\n", 4, "unknown flag \"fast\"");
    refused_at("[server]\nworkers = 2\n", 1, "unknown section [server]");
}

Test(ini, command_line_only_options_are_refused_in_a_file)
{
    refused_at("config = other.ini\n", 1, "only on the command line");
}

Test(ini, a_missing_file_is_named)
{
    unlink(path);
    cr_assert_lt(parse(NULL), 0);
    cr_assert(strstr(err, path) && strstr(err, "No such file"), "%s", err);
}

Test(ini, a_line_too_long_is_refused_not_split)
{
    char text[1200];
    snprintf(text, sizeof(text), "[app:a]\nmount = /\npath = /%0160d.so\nargs = x = y\n", 0);
    cr_assert_eq(parse_text(text), CFG_RUN, "%s", err);
    cr_assert_eq(strlen(s.mounts[0].path), 164);
    cr_assert_str_eq(s.mounts[0].args, "x = y");
    snprintf(text, sizeof(text), "[app:a]\nmount = /\npath = /%0900d.so\nargs = x\n", 0);
    refused_at(text, 3, "line longer than");
}

Test(ini, the_shipped_example_parses)
{
    const char *argv[] = {"gs", "--config", "packaging/greenserve.ini", NULL};
    cr_assert_eq(cfg_parse_args(&s, 3, (char **)argv, err, sizeof(err)), CFG_RUN, "%s", err);
    cr_assert_eq(s.workers, 2);
    cr_assert_eq(s.nmounts, 3);
    cr_assert_str_eq(s.mounts[2].prefix, "/clock");
    cr_assert_eq(s.mounts[2].flags, GS_APP_GREEN);
    cr_assert_str_eq(s.status.text, "127.0.0.1:9191");
}

Test(ini, underscores_in_keys_read_as_dashes)
{
    cr_assert_eq(parse_text("green_libc = on\nmax_body = 2k\n[app:a]\nmount = /\npath = a.so\n"),
                 CFG_RUN, "%s", err);
    cr_assert(s.green_libc);
    cr_assert_eq(s.limits.max_body, 2048);
}
