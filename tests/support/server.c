/*
 * server.c -- start, watch and stop the real greenserve executable.
 */
#include "support/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/client.h"

#define MAX_ARGS 64

const char *ts_build_dir(void)
{
    const char *b = getenv("GS_BUILD");
    return b && *b ? b : "build";
}

int ts_generation_pids(ts_server *s, const char *gen, pid_t *pids, int max)
{
    static char log[1 << 16];
    ts_read_file(s->error_log, log, sizeof(log));
    int n = 0;
    for (const char *p = log; n < max && (p = strstr(p, "worker ")); p++) {
        int pid;
        char g[32];
        if (sscanf(p, "worker %d ready (generation %31[^)])", &pid, g) == 2 && strcmp(g, gen) == 0)
            pids[n++] = pid;
    }
    return n;
}

size_t ts_read_file(const char *path, char *buf, size_t cap)
{
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r;
        while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
            n += (size_t)r;
        close(fd);
    }
    buf[n] = '\0';
    return n;
}

/* "{build}" in an argument becomes the build directory. */
static char *expand(const char *arg)
{
    const char *at = strstr(arg, "{build}");
    if (!at)
        return strdup(arg);
    char *out;
    if (asprintf(&out, "%.*s%s%s", (int)(at - arg), arg, ts_build_dir(), at + 7) < 0)
        return NULL;
    return out;
}

static void exec_server(ts_server *s, const char *const *args)
{
    char exe[256];
    char *argv[MAX_ARGS + 8];
    int n = 0;
    snprintf(exe, sizeof(exe), "%s/greenserve", ts_build_dir());
    argv[n++] = exe;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--error-log";
    argv[n++] = s->error_log;
    argv[n++] = "--access-log";
    argv[n++] = s->access_log;
    for (int i = 0; args[i] && i < MAX_ARGS; i++)
        argv[n++] = expand(args[i]);
    argv[n] = NULL;
    int out = open(s->output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    dup2(out, 1);
    dup2(out, 2);
    /* Die with the test, whatever becomes of it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(exe, argv);
    _exit(127);
}

static void reap(ts_server *s, int status)
{
    s->status = status;
    s->pid = 0;
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->pidfd = -1;
}

/* Reap the server if it has exited; true if it has. */
static bool exited(ts_server *s)
{
    int st;
    if (s->pid <= 0)
        return true;
    if (waitpid(s->pid, &st, WNOHANG) != s->pid)
        return false;
    reap(s, st);
    return true;
}

size_t ts_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

size_t ts_log_count(const char *file, size_t from, const char *needle)
{
    static char buf[1 << 20]; /* the test's own thread only */
    size_t n = ts_read_file(file, buf, sizeof(buf)), count = 0;
    for (const char *p = n >= from ? buf + from : ""; (p = strstr(p, needle)); p += strlen(needle))
        count++;
    return count;
}

bool ts_log_wait(ts_server *s, const char *file, const char *needle, int timeout_ms)
{
    return ts_log_wait_from(s, file, 0, needle, timeout_ms);
}

bool ts_log_wait_from(ts_server *s, const char *file, size_t from, const char *needle,
                      int timeout_ms)
{
    return ts_log_wait_count(s, file, from, needle, 1, timeout_ms);
}

bool ts_log_wait_count(ts_server *s, const char *file, size_t from, const char *needle, size_t n,
                       int timeout_ms)
{
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    inotify_add_watch(in, file, IN_MODIFY);
    int64_t deadline = ts_now_ms() + timeout_ms;
    bool found = false;
    for (;;) {
        if ((found = ts_log_count(file, from, needle) >= n) || exited(s) || ts_now_ms() >= deadline)
            break;
        struct pollfd p[2] = {{.fd = in, .events = POLLIN}, {.fd = s->pidfd, .events = POLLIN}};
        poll(p, s->pidfd >= 0 ? 2 : 1, (int)(deadline - ts_now_ms()));
        char ev[4096];
        while (read(in, ev, sizeof(ev)) > 0)
            ;
    }
    if (!found) /* a last look: it may have written just before exiting */
        found = ts_log_count(file, from, needle) >= n;
    close(in);
    return found;
}

static int learn_port(ts_server *s)
{
    const char *needle = "listening on http://127.0.0.1:";
    char buf[8192];
    if (!ts_log_wait(s, s->error_log, needle, 5000))
        return -1;
    ts_read_file(s->error_log, buf, sizeof(buf));
    s->port = atoi(strstr(buf, needle) + strlen(needle));
    return s->port > 0 ? 0 : -1;
}

int ts_start(ts_server *s, const char *const *args)
{
    memset(s, 0, sizeof(*s));
    s->pidfd = -1;
    snprintf(s->dir, sizeof(s->dir), "/tmp/gs-test-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->error_log, sizeof(s->error_log), "%s/error.log", s->dir);
    snprintf(s->access_log, sizeof(s->access_log), "%s/access.log", s->dir);
    snprintf(s->output, sizeof(s->output), "%s/output", s->dir);
    close(open(s->error_log, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)); /* to watch it */
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0)
        exec_server(s, args);
    s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
    return learn_port(s);
}

void ts_signal(ts_server *s, int sig)
{
    if (s->pid > 0)
        kill(s->pid, sig);
}

int ts_wait_exit(ts_server *s, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    while (!exited(s)) {
        int64_t left = deadline - ts_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = s->pidfd, .events = POLLIN};
        poll(&p, 1, (int)left);
    }
    return s->status;
}

/* The log directory and whatever a test left in it. */
static void remove_dir(ts_server *s)
{
    if (!s->dir[0])
        return;
    DIR *d = opendir(s->dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    if (d)
        closedir(d);
    rmdir(s->dir);
    s->dir[0] = '\0';
}

int ts_stop(ts_server *s, int timeout_ms)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        if (ts_wait_exit(s, timeout_ms) < 0) {
            kill(s->pid, SIGKILL);
            ts_wait_exit(s, 5000);
        }
    }
    remove_dir(s);
    return s->status;
}

int ts_sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char *full;
    if (asprintf(&full, "(%s) 2>&1", cmd) < 0)
        return -1;
    FILE *p = popen(full, "r");
    free(full);
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) /* let it finish */
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
