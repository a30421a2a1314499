/* Shipping: `make install` into a staging DESTDIR, then what a user does
 * out of the tree -- `greenserve new-app demo`, `make` against the staged
 * greenserve.pc, the staged executable serving the new plugin, answered
 * through curl. And the man page renders without a groff warning. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/server.h"

static ts_server srv;
static char stage[64], work[64], root[PATH_MAX];
static char out[16384];

/* make, run from make test, would inherit its jobserver and level. */
#define CLEAN_MAKE "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory"

static void setup(void)
{
    cr_assert_not_null(getcwd(root, sizeof(root)));
    strcpy(stage, "/tmp/gs-stage-XXXXXX");
    strcpy(work, "/tmp/gs-newapp-XXXXXX");
    cr_assert_not_null(mkdtemp(stage));
    cr_assert_not_null(mkdtemp(work));
}

static void teardown(void)
{
    ts_stop(&srv, 5000);
    ts_sh(out, sizeof(out), "rm -rf '%s' '%s'", stage, work);
}

TestSuite(install, .init = setup, .fini = teardown, .timeout = 120);

/* The tree being tested is the one installed: the sanitized build when
 * make test runs with SANITIZE=1. */
static void install_staged(void)
{
    int sanitize = strcmp(ts_build_dir(), "build-san") == 0;
    int st = ts_sh(out, sizeof(out), CLEAN_MAKE " -s -C '%s' install DESTDIR='%s' PREFIX=/usr%s",
                   root, stage, sanitize ? " SANITIZE=1" : "");
    cr_assert_eq(st, 0, "make install: %s", out);
}

static bool staged(const char *path)
{
    char full[256];
    snprintf(full, sizeof(full), "%s/usr/%s", stage, path);
    return access(full, F_OK) == 0;
}

static const char *const files[] = {"bin/greenserve",
                                    "include/greenserve.h",
                                    "lib/pkgconfig/greenserve.pc",
                                    "lib/greenserve/apps/hello.so",
                                    "share/man/man1/greenserve.1",
                                    "share/doc/greenserve/greenserve.ini",
                                    "lib/systemd/system/greenserve.service",
                                    "lib/systemd/system/greenserve.socket",
                                    NULL};

/* PREFIX=/usr: the config in /etc, as Debian has it. */
static bool config_staged(void)
{
    char full[256];
    snprintf(full, sizeof(full), "%s/etc/greenserve/greenserve.ini", stage);
    return access(full, F_OK) == 0;
}

static void check_installed(void)
{
    for (const char *const *f = files; *f; f++)
        cr_assert(staged(*f), "%s not installed", *f);
    cr_assert(config_staged(), "no /etc/greenserve/greenserve.ini");
    cr_assert_eq(
        ts_sh(out, sizeof(out),
              "grep -c '^ExecStart=/usr/bin/greenserve --config "
              "/etc/greenserve/greenserve.ini$' '%s/usr/lib/systemd/system/greenserve.service'",
              stage),
        0, "the unit runs the installed config: %s", out);
    cr_assert_eq(ts_sh(out, sizeof(out), "grep -c /usr/lib/greenserve/apps/hello.so '%s/usr/%s'",
                       stage, "share/doc/greenserve/greenserve.ini"),
                 0, "the example config names the installed apps: %s", out);
}

/* An edited config survives both a second install and uninstall. */
static void check_config_kept(void)
{
    int st = ts_sh(out, sizeof(out),
                   "echo '; mine' >> '%s/etc/greenserve/greenserve.ini' && " CLEAN_MAKE
                   " -s -C '%s' install DESTDIR='%s' PREFIX=/usr && " CLEAN_MAKE
                   " -s -C '%s' uninstall DESTDIR='%s' PREFIX=/usr && "
                   "tail -1 '%s/etc/greenserve/greenserve.ini'",
                   stage, root, stage, root, stage, stage);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "exists: kept") && strstr(out, "was edited: kept"), "%s", out);
    cr_assert(strstr(out, "; mine\n"), "%s", out);
    for (const char *const *f = files; *f; f++)
        cr_assert_not(staged(*f), "%s left by uninstall", *f);
}

static void check_uninstall(void)
{
    cr_assert_eq(ts_sh(out, sizeof(out),
                       CLEAN_MAKE " -s -C '%s' uninstall DESTDIR='%s' PREFIX=/usr", root, stage),
                 0, "%s", out);
    for (const char *const *f = files; *f; f++)
        cr_assert_not(staged(*f), "%s left by uninstall", *f);
    cr_assert_not(config_staged(), "the unchanged config is left by uninstall");
    install_staged();
    check_config_kept();
}

/* pkg-config as a user would run it, pointed at the staging tree: the
 * sysroot makes -I/usr/include read -I$stage/usr/include. */
static void build_new_app(void)
{
    int st =
        ts_sh(out, sizeof(out), "cd '%s' && '%s/usr/bin/greenserve' new-app demo", work, stage);
    cr_assert_eq(st, 0, "new-app: %s", out);
    st = ts_sh(out, sizeof(out),
               "cd '%s' && PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' PKG_CONFIG_SYSROOT_DIR='%s' "
               "CFLAGS='-O2 -Wall -Wextra -Werror' " CLEAN_MAKE,
               work, stage, stage);
    cr_assert_eq(st, 0, "make of the new app: %s", out);
    cr_assert(strstr(out, stage), "compiled against the staged header: %s", out);
}

static void check_serves(void)
{
    char exe_dir[96], plugin[96];
    snprintf(exe_dir, sizeof(exe_dir), "%s/usr/bin", stage);
    snprintf(plugin, sizeof(plugin), "/app=%s/demo.so", work);
    setenv("GS_BUILD", exe_dir, 1); /* ts_start runs $GS_BUILD/greenserve */
    cr_assert_eq(ts_start(&srv, (const char *[]){"--workers", "1", plugin, NULL}), 0,
                 "the installed greenserve did not start with the new app");
    int st =
        ts_sh(out, sizeof(out), "curl -sS --max-time 5 http://127.0.0.1:%d/app/hi/there", srv.port);
    cr_assert_eq(st, 0, "curl: %s", out);
    cr_assert_str_eq(out, "Hello from demo! You asked for /hi/there\n");
    ts_stop(&srv, 5000);
}

static void check_no_overwrite(void)
{
    int st = ts_sh(out, sizeof(out),
                   "cd '%s' && rm -f Makefile demo.so && echo keep > demo.c && "
                   "'%s/usr/bin/greenserve' new-app demo",
                   work, stage);
    cr_assert_eq(st, 2, "%s", out);
    cr_assert(strstr(out, "demo.c") && strstr(out, "not overwritten"), "%s", out);
    cr_assert_eq(ts_sh(out, sizeof(out), "cd '%s' && cat demo.c && ls", work), 0);
    cr_assert_str_eq(out, "keep\ndemo.c\n", "nothing written, nothing replaced");
    st = ts_sh(out, sizeof(out), "cd '%s' && '%s/usr/bin/greenserve' new-app 'x/y'", work, stage);
    cr_assert_eq(st, 2, "a name that is not an identifier: %s", out);
}

/* One test, in order: a second one running make install at the same
 * time could relink the build's executable under the first. */
Test(install, staged_install_builds_and_serves_a_new_app_then_uninstalls)
{
    install_staged();
    check_installed();
    build_new_app();
    check_serves();
    check_no_overwrite();
    check_uninstall();
}

Test(install, man_page_renders_without_warnings)
{
    int st = ts_sh(out, sizeof(out), "groff -ww -man -Tutf8 -z '%s/packaging/greenserve.1'", root);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert_str_eq(out, "", "groff warnings");
    st = ts_sh(out, sizeof(out),
               "MANWIDTH=80 man --warnings -l '%s/packaging/greenserve.1' >/dev/null", root);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert_str_eq(out, "", "man warnings");
}

/* An option added to the table (and so to --help) must be documented. */
Test(install, man_page_names_every_option_of_help)
{
    int st = ts_sh(out, sizeof(out),
                   "page=$(groff -man -Tascii -rLL=300n -P-cbou '%s/packaging/greenserve.1'); "
                   "opts=$('%s/%s/greenserve' --help | grep -o '^  [-a-zA-Z, ]*--[a-z-]*' "
                   "| sed 's/.*--//'); [ -n \"$opts\" ] || echo 'no option in --help'; "
                   "for o in $opts; do "
                   "printf '%%s' \"$page\" | grep -qF -- \"--$o\" || echo \"--$o\"; done",
                   root, root, ts_build_dir());
    cr_assert_eq(st, 0, "%s", out);
    cr_assert_str_eq(out, "", "options of --help missing from packaging/greenserve.1");
}

/* Every option is a config key too (but the three that make no sense in
 * a file), and every signal the master handles, every variable it reads,
 * has its entry. */
Test(install, man_page_names_every_config_key_signal_and_variable)
{
    int st = ts_sh(out, sizeof(out),
                   "page=$(groff -man -Tascii -rLL=300n -P-cbou '%s/packaging/greenserve.1'); "
                   "keys=$(printf '%%s' \"$page\" | sed -n '/^CONFIGURATION FILE/,/^SIGNALS/p'); "
                   "opts=$('%s/%s/greenserve' --help | grep -o '^  --[a-z-]*' | sed 's/.*--//'); "
                   "for o in $opts; do case $o in config|help|version) continue;; esac; "
                   "printf '%%s' \"$keys\" | grep -qw -- \"$o\" || echo \"key $o\"; done; "
                   "sigs=$(printf '%%s' \"$page\" | sed -n '/^SIGNALS/,/^ENVIRONMENT/p'); "
                   "for s in TERM INT QUIT HUP TTIN TTOU USR1 USR2; do "
                   "printf '%%s' \"$sigs\" | grep -qw \"SIG$s\" || echo \"signal $s\"; done; "
                   "env=$(printf '%%s' \"$page\" | sed -n '/^ENVIRONMENT/,/^EXIT STATUS/p'); "
                   "for v in LISTEN_FDS LISTEN_PID GREENSERVE_UPGRADE_FD NOTIFY_SOCKET; do "
                   "printf '%%s' \"$env\" | grep -qw \"$v\" || echo \"variable $v\"; done",
                   root, root, ts_build_dir());
    cr_assert_eq(st, 0, "%s", out);
    cr_assert_str_eq(out, "", "missing from packaging/greenserve.1");
}
