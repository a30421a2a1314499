/* Socket activation: started the way systemd starts it (the listening
 * socket open as descriptor 3, LISTEN_FDS=1, LISTEN_PID its own pid),
 * greenserve serves on that socket and binds nothing of its own. The
 * socket listens before greenserve starts, so a request made at once
 * waits in its backlog: no polling for readiness. */
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

#include "support/client.h"
#include "support/server.h"

static pid_t child;
static char dir[64], log_path[96], text[8192];

static void setup(void)
{
    strcpy(dir, "/tmp/gs-activation-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(log_path, sizeof(log_path), "%s/error.log", dir);
}

/* Stop exactly the process started here. */
static void teardown(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    char sock[96];
    snprintf(sock, sizeof(sock), "%s/http.sock", dir);
    unlink(sock);
    unlink(log_path);
    rmdir(dir);
}

TestSuite(activation, .init = setup, .fini = teardown, .timeout = 20);

static int listening_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 64) == 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* {build} is expanded by ts_start only: do it here. */
static void expand_build(const char **arg, char *buf, size_t cap)
{
    const char *at = strstr(*arg, "{build}");
    if (at) {
        snprintf(buf, cap, "%.*s%s%s", (int)(at - *arg), *arg, ts_build_dir(), at + 7);
        *arg = buf;
    }
}

/* fork, put fd at 3, name our own pid in LISTEN_PID (exec keeps it). */
static void start_activated(int fd, const char **extra)
{
    char exe[256];
    snprintf(exe, sizeof(exe), "%s/greenserve", ts_build_dir());
    child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char pid[24];
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        int null = open("/dev/null", O_WRONLY); /* refusals are in the error log too */
        if (dup2(fd, 3) < 0 || null < 0 || dup2(null, 2) < 0)
            _exit(127);
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_PID", pid, 1);
        const char *argv[16] = {exe, "--error-log", log_path, "--bind", "127.0.0.1:0"};
        size_t n = 5;
        static char expanded[8][256];
        for (size_t i = 0; extra[i] && n < 15 && i < 8; i++) {
            argv[n] = extra[i];
            expand_build(&argv[n++], expanded[i], sizeof(expanded[i]));
        }
        execv(exe, (char **)argv);
        _exit(127);
    }
}

static int stop(void)
{
    int status = -1;
    kill(child, SIGTERM);
    waitpid(child, &status, 0);
    child = 0;
    return status;
}

static void get_hello(int port)
{
    ssize_t n = ts_request(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", text, sizeof(text), 5000);
    cr_assert_gt(n, 0, "no answer on the passed socket");
    cr_assert_eq(ts_status(text), 200, "%s", text);
    cr_assert_str_eq(ts_body(text), "Hello, World!");
}

static void serves_on_the_passed_socket(const char *workers)
{
    int port, fd = listening_socket(&port);
    start_activated(fd, (const char *[]){"--workers", workers, "/={build}/apps/hello.so", NULL});
    close(fd);
    get_hello(port);
    get_hello(port);
    /* Every worker up before the stop, so that each logs its socket. */
    ts_server watch = {.pid = child, .pidfd = -1};
    size_t workers_n = strcmp(workers, "0") ? (size_t)atoi(workers) : 0;
    cr_assert(ts_log_wait_count(&watch, log_path, 0, "ready (generation", workers_n, 5000),
              "workers not ready");
    int status = stop();
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    ts_read_file(log_path, text, sizeof(text));
    char url[64];
    snprintf(url, sizeof(url), "listening on http://127.0.0.1:%d/", port);
    cr_assert(strstr(text, url), "the passed socket, not --bind 127.0.0.1:0: %s", text);
    cr_assert_eq(ts_log_count(log_path, 0, "listening on"), strcmp(workers, "0") ? 2u : 1u,
                 "one socket per worker, none bound: %s", text);
}

Test(activation, lone_process_serves_on_the_passed_socket)
{
    serves_on_the_passed_socket("0");
}

Test(activation, master_and_workers_share_the_passed_socket)
{
    serves_on_the_passed_socket("2");
}

Test(activation, a_passed_descriptor_that_is_not_listening_is_refused)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    start_activated(fd, (const char *[]){"--workers", "0", "/={build}/apps/hello.so", NULL});
    close(fd);
    int status = -1;
    waitpid(child, &status, 0);
    child = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %#x", status);
    ts_read_file(log_path, text, sizeof(text));
    cr_assert(strstr(text, "socket activation: descriptor 3"), "%s", text);
}

/* The real thing where the Debian package systemd provides it: its
 * "Listening on" line on stderr comes before it execs greenserve (same
 * pid), so a request made then waits in the backlog. */
Test(activation, systemd_socket_activate_on_a_unix_socket)
{
    if (access("/usr/bin/systemd-socket-activate", X_OK) != 0)
        cr_skip_test("no systemd-socket-activate");
    char sock[96], exe[256], app[256], line[256] = "";
    snprintf(sock, sizeof(sock), "%s/http.sock", dir);
    snprintf(exe, sizeof(exe), "%s/greenserve", ts_build_dir());
    snprintf(app, sizeof(app), "/=%s/apps/hello.so", ts_build_dir());
    int p[2];
    cr_assert_eq(pipe(p), 0);
    child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 2);
        execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", "-l", sock, exe,
              "--workers", "1", "--error-log", log_path, app, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *err = fdopen(p[0], "r");
    while (fgets(line, sizeof(line), err) && !strstr(line, "Listening on"))
        ;
    cr_assert(strstr(line, "Listening on"), "systemd-socket-activate said: %s", line);
    int st = ts_sh(text, sizeof(text), "curl -sS --max-time 5 --unix-socket '%s' http://gs/", sock);
    cr_assert_eq(st, 0, "curl: %s", text);
    cr_assert_str_eq(text, "Hello, World!");
    int status = stop();
    fclose(err);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    ts_read_file(log_path, text, sizeof(text));
    cr_assert(strstr(text, "listening on unix:"), "%s", text);
}
