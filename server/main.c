/*
 * main.c -- greenserve [options] PREFIX=PATH.so[:ARGS] ...
 *
 * Start-up in the order a master will keep: settings, logs, plugins
 * loaded (dlopen and checks), sockets bound; then the worker initialises
 * the apps and serves. Anything refused before serving exits 2 with a
 * message naming the option, file or app.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config/options.h"
#include "runtime/log.h"
#include "server/listen.h"
#include "server/plugin.h"
#include "server/worker.h"

typedef struct startup {
    cfg_settings settings;
    srv_plugin *plugins;
    srv_listener *listeners;
    size_t nlisteners;
    int access_log_fd;
    int error_log_fd;
} startup;

/* A refusal goes to the error log and, when that is a file, to the
 * terminal too: whoever started us should see why we did not. */
static int refuse(const startup *st, const char *msg)
{
    rt_log("%s", msg);
    if (st->error_log_fd != 2)
        fprintf(stderr, "greenserve: %s\n", msg);
    return CFG_EXIT_USAGE;
}

static int open_log(const char *option, const char *path, int *fd, char *err, size_t n)
{
    if (strcmp(path, "-") == 0) {
        *fd = 1;
        return 0;
    }
    *fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (*fd >= 0)
        return 0;
    snprintf(err, n, "--%s %s: %s", option, path, strerror(errno));
    return -errno;
}

static int open_logs(startup *st)
{
    char err[512];
    const cfg_settings *s = &st->settings;
    if (s->error_log && open_log("error-log", s->error_log, &st->error_log_fd, err, sizeof(err)))
        return refuse(st, err);
    rt_log_set_fd(st->error_log_fd);
    if (s->access_log &&
        open_log("access-log", s->access_log, &st->access_log_fd, err, sizeof(err)))
        return refuse(st, err);
    return 0;
}

/* Every connection is a descriptor: take all the hard limit allows. */
static void raise_fd_limit(const startup *st)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    unsigned want = st->settings.limits.max_conns;
    if (rl.rlim_cur != RLIM_INFINITY && want + 64 > rl.rlim_cur)
        rt_log("warning: --max-conns %u but only %llu descriptors (ulimit -n): past that, "
               "clients wait in the listen backlog",
               want, (unsigned long long)rl.rlim_cur);
}

static int load_plugins(startup *st)
{
    char err[512];
    const cfg_settings *s = &st->settings;
    st->plugins = calloc(s->nmounts, sizeof(*st->plugins));
    if (!st->plugins)
        return refuse(st, "out of memory");
    for (size_t i = 0; i < s->nmounts; i++)
        if (srv_plugin_load(&st->plugins[i], &s->mounts[i], err, sizeof(err)) < 0)
            return refuse(st, err);
    return 0;
}

static int bind_all(startup *st)
{
    char err[512];
    const cfg_settings *s = &st->settings;
    st->listeners = calloc(s->nbinds, sizeof(*st->listeners));
    if (!st->listeners)
        return refuse(st, "out of memory");
    for (size_t i = 0; i < s->nbinds; i++) {
        if (srv_listen(&st->listeners[i], &s->binds[i], err, sizeof(err)) < 0)
            return refuse(st, err);
        st->nlisteners++;
    }
    return 0;
}

static int run(startup *st)
{
    int status = open_logs(st);
    if (status == 0)
        status = load_plugins(st);
    if (status == 0)
        status = bind_all(st);
    if (status != 0)
        return status;
    raise_fd_limit(st);
    srv_worker_args a = {.settings = &st->settings,
                         .listeners = st->listeners,
                         .nlisteners = st->nlisteners,
                         .plugins = st->plugins,
                         .nplugins = st->settings.nmounts,
                         .access_log_fd = st->access_log_fd,
                         .unlink_sockets = true};
    return srv_worker_run(&a);
}

static void cleanup(startup *st)
{
    for (size_t i = 0; i < st->nlisteners; i++)
        srv_listen_close(&st->listeners[i], true);
    free(st->listeners);
    free(st->plugins);
    if (st->access_log_fd > 2)
        close(st->access_log_fd);
    cfg_free(&st->settings);
}

int main(int argc, char **argv)
{
    startup st = {.access_log_fd = -1, .error_log_fd = 2};
    char err[512];
    int r = cfg_parse_args(&st.settings, argc, argv, err, sizeof(err));
    if (r == CFG_HELP)
        cfg_usage(stdout, "greenserve");
    else if (r == CFG_VERSION_SHOWN)
        printf("greenserve %s (plugin ABI version %d)\n", CFG_VERSION, GS_ABI_VERSION);
    else if (r < 0)
        fprintf(stderr, "greenserve: %s\nTry 'greenserve --help'.\n", err);
    int status = r < 0 ? CFG_EXIT_USAGE : r == CFG_RUN ? run(&st) : 0;
    cleanup(&st);
    return status;
}
