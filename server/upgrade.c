/*
 * upgrade.c -- SIGUSR2: executing a new master that inherits the
 * listening sockets (see upgrade.h).
 */
#include "server/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/log.h"
#include "server/activation.h"
#include "server/scoreboard.h"
#include "server/signals.h"

/* A bare name: the first executable of that name in PATH, as execvp. */
static void search_path(char *out, size_t cap, const char *name)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *save = NULL;
    for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
         dir = strtok_r(NULL, ":", &save)) {
        int n = snprintf(out, cap, "%s/%s", *dir ? dir : ".", name);
        if (n > 0 && (size_t)n < cap && access(out, X_OK) == 0)
            break;
        out[0] = '\0';
    }
    free(copy);
}

/* Not realpath: a symlink such as /usr/bin/greenserve -> a versioned
 * file should be followed afresh at upgrade time. */
static void absolute(char *out, size_t cap, const char *argv0)
{
    char cwd[PATH_MAX];
    int n = argv0[0] == '/' || !getcwd(cwd, sizeof(cwd)) ? snprintf(out, cap, "%s", argv0)
                                                         : snprintf(out, cap, "%s/%s", cwd, argv0);
    if (n < 0 || (size_t)n >= cap)
        out[0] = '\0';
}

void srv_upgrade_init(srv_upgrade *u, const char *argv0)
{
    *u = (srv_upgrade){.ready_rd = -1};
    if (!argv0 || !*argv0)
        return;
    if (strchr(argv0, '/'))
        absolute(u->exe, sizeof(u->exe), argv0);
    else
        search_path(u->exe, sizeof(u->exe), argv0);
    if (!u->exe[0] && readlink("/proc/self/exe", u->exe, sizeof(u->exe) - 1) < 0)
        u->exe[0] = '\0';
}

/* A descriptor at or above `low`, close-on-exec. */
static int dup_high(int fd, int low)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, low);
}

/* In the forked child: sockets to 3.., the pipe above them; dup2
 * clears close-on-exec on exactly those. Two steps, because a socket may
 * already sit where another must go. */
static int arrange_fds(const srv_listener *l, size_t n, int ready_wr)
{
    int low = SRV_ACTIVATION_FIRST_FD + (int)n + 1, tmp[n + 1];
    /* The error log may sit where a socket goes: keep logging, until
     * the exec, to a copy out of the way. */
    int log = dup_high(rt_log_fd(), low);
    if (log >= 0)
        rt_log_set_fd(log);
    for (size_t i = 0; i < n; i++)
        if ((tmp[i] = dup_high(l[i].fd, low)) < 0)
            return -1;
    if ((tmp[n] = dup_high(ready_wr, low)) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (dup2(tmp[i], SRV_ACTIVATION_FIRST_FD + (int)i) < 0)
            return -1;
    int fd = SRV_ACTIVATION_FIRST_FD + (int)n;
    return dup2(tmp[n], fd) < 0 ? -1 : fd;
}

static void set_env_int(const char *name, long v)
{
    char text[24];
    snprintf(text, sizeof(text), "%ld", v);
    setenv(name, text, 1);
}

__attribute__((noreturn)) static void run_new(const srv_upgrade *u, char *const *argv,
                                              const srv_listener *l, size_t n, int ready_wr)
{
    srv_signals_reset();
    int fd = arrange_fds(l, n, ready_wr);
    if (fd < 0) {
        rt_log("upgrade: cannot pass the sockets: %s", strerror(errno));
        _exit(127);
    }
    set_env_int("LISTEN_FDS", (long)n);
    set_env_int("LISTEN_PID", (long)getpid());
    unsetenv("LISTEN_FDNAMES");
    set_env_int(SRV_UPGRADE_ENV, fd);
    execv(u->exe, argv);
    rt_log("upgrade: cannot run %s: %s", u->exe, strerror(errno));
    _exit(127);
}

int srv_upgrade_start(srv_upgrade *u, char *const *argv, const srv_listener *l, size_t n)
{
    int p[2];
    if (!u->exe[0])
        return -ENOENT;
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid == 0)
        run_new(u, argv, l, n, p[1]);
    int e = errno;
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -e;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    u->pid = pid;
    u->ready_rd = p[0];
    u->deadline = srv_clock_ms() + SRV_UPGRADE_TIMEOUT_MS;
    return 0;
}

static void describe(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "was killed by %s", srv_signal_name(WTERMSIG(st)));
    else
        snprintf(buf, n, "stopped");
}

/* The pipe is at EOF: it has exited, or is about to. The crew's reaping
 * (waitpid(-1)) may have collected it already; then its status is lost
 * but its own log lines say why. */
static int failed(srv_upgrade *u, const char *why)
{
    int st;
    char how[64] = "stopped";
    if (waitpid(u->pid, &st, why ? WNOHANG : 0) == u->pid)
        describe(st, how, sizeof(how));
    rt_log("upgrade: the new master (pid %d) %s before it was ready%s; this master keeps serving",
           (int)u->pid, why ? why : how, why ? "" : " (its messages above say why)");
    close(u->ready_rd);
    u->ready_rd = -1;
    u->pid = 0;
    return SRV_UPGRADE_FAILED;
}

int srv_upgrade_poll(srv_upgrade *u, int64_t now)
{
    if (u->ready_rd < 0)
        return SRV_UPGRADE_IDLE;
    char b[24] = "";
    ssize_t r = read(u->ready_rd, b, sizeof(b) - 1);
    if (r > 0) { /* its pid: with --daemon, not the one we forked */
        rt_log("upgrade: the new master (pid %d) serves", atoi(b));
        close(u->ready_rd);
        u->ready_rd = -1;
        u->pid = 0;
        return SRV_UPGRADE_DONE;
    }
    if (r == 0)
        return failed(u, NULL);
    if (now >= u->deadline) {
        kill(u->pid, SIGQUIT);
        return failed(u, "was not ready in time: stopped it");
    }
    return SRV_UPGRADE_PENDING;
}

int srv_upgrade_inherited(void)
{
    const char *v = getenv(SRV_UPGRADE_ENV);
    char *end;
    long fd = v ? strtol(v, &end, 10) : -1;
    unsetenv(SRV_UPGRADE_ENV);
    if (!v || *end || fd < 0 || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return (int)fd;
}

void srv_upgrade_ready(int fd)
{
    if (fd < 0)
        return;
    /* The old master may have stopped meanwhile: no SIGPIPE for that. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, was;
    sigaction(SIGPIPE, &ign, &was);
    char pid[24];
    ssize_t w = write(fd, pid, (size_t)snprintf(pid, sizeof(pid), "%d", (int)getpid()));
    (void)w;
    sigaction(SIGPIPE, &was, NULL);
    close(fd);
}
