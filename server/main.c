/*
 * main.c -- greenserve [options] PREFIX=PATH.so[:ARGS] ...
 *
 * Start-up: settings (command line and config file), logs, plugins loaded
 * (dlopen and checks), the workers' identity looked up, sockets bound,
 * detached if asked; then either a master that forks the workers
 * (--workers N, the default) or, with --workers 0, this process serving
 * alone. Anything refused before serving exits 2 with a message naming
 * the option, file or app.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config/options.h"
#include "runtime/log.h"
#include "server/activation.h"
#include "server/daemon.h"
#include "server/generation.h"
#include "server/listen.h"
#include "server/logs.h"
#include "server/master.h"
#include "server/newapp.h"
#include "server/privs.h"
#include "server/status.h"
#include "server/upgrade.h"
#include "server/worker.h"

typedef struct startup {
    int argc;
    char **argv;
    srv_gen *gen;
    srv_logs logs;
    srv_listener *listeners;
    size_t nlisteners;
    srv_status *status;
    srv_identity id;
    int ready_fd; /* --daemon: the waiting shell's pipe */
} startup;

/* A refusal goes to the error log and, when that is a file, to the
 * terminal too: whoever started us should see why we did not. */
static int refuse(const startup *st, const char *msg)
{
    rt_log("%s", msg);
    if (st->logs.error_fd != 2)
        fprintf(stderr, "greenserve: %s\n", msg);
    return CFG_EXIT_USAGE;
}

static const cfg_settings *settings(const startup *st)
{
    return &st->gen->settings;
}

/* Every connection is a descriptor: take all the hard limit allows. */
static void raise_fd_limit(const startup *st)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    unsigned want = settings(st)->limits.max_conns;
    if (rl.rlim_cur != RLIM_INFINITY && want + 64 > rl.rlim_cur)
        rt_log("warning: --max-conns %u but only %llu descriptors (ulimit -n): past that, "
               "clients wait in the listen backlog",
               want, (unsigned long long)rl.rlim_cur);
}

/* Sockets passed by systemd replace every --bind (and --reuse-port). */
static int adopt_all(startup *st, int n, bool upgrade)
{
    char err[512];
    st->listeners = calloc(n, sizeof(*st->listeners));
    if (!st->listeners)
        return refuse(st, "out of memory");
    for (int i = 0; i < n; i++) {
        int fd = SRV_ACTIVATION_FIRST_FD + i;
        if (srv_activation_adopt(&st->listeners[i], fd, upgrade, err, sizeof(err)) < 0)
            return refuse(st, err);
        st->nlisteners++;
    }
    return 0;
}

/* With --reuse-port, a master only binds its TCP sockets (holding their
 * ports): each worker listens on its own. */
static int bind_all(startup *st)
{
    char err[512];
    const cfg_settings *s = settings(st);
    bool reserve = s->reuse_port && s->workers > 0;
    bool upgrade;
    int passed = srv_activation_count(&upgrade);
    if (passed > 0 && adopt_all(st, passed, upgrade) != 0)
        return CFG_EXIT_USAGE;
    if (!passed && !(st->listeners = calloc(s->nbinds, sizeof(*st->listeners))))
        return refuse(st, "out of memory");
    for (size_t i = 0; !passed && i < s->nbinds; i++) {
        const cfg_bind *b = &s->binds[i];
        int r = reserve && !b->is_unix
                    ? srv_listen_bind(&st->listeners[i], b, true, 0, err, sizeof(err))
                    : srv_listen(&st->listeners[i], b, err, sizeof(err));
        if (r < 0)
            return refuse(st, err);
        st->nlisteners++;
    }
    if (s->status.text && s->workers > 0 &&
        !(st->status = srv_status_open(&s->status, err, sizeof(err))))
        return refuse(st, err);
    return 0;
}

static int prepare(startup *st)
{
    char err[512];
    const cfg_settings *s = settings(st);
    if (srv_logs_open(&st->logs, s, err, sizeof(err)) < 0)
        return refuse(st, err);
    if (srv_gen_load(st->gen, false, err, sizeof(err)) < 0 ||
        srv_identity_resolve(&st->id, s, err, sizeof(err)) < 0)
        return refuse(st, err);
    return bind_all(st);
}

/* After binding, before serving: the pid file names the process that
 * stays (the daemon's, not the one the shell started). */
static int detach(startup *st)
{
    const cfg_settings *s = settings(st);
    if (s->daemon) {
        if (!s->error_log)
            fprintf(stderr, "greenserve: --daemon without --error-log: the error log is lost\n");
        st->ready_fd = srv_daemonize();
        if (st->ready_fd < 0)
            return refuse(st, "--daemon: fork failed");
    }
    if (s->pidfile && srv_pidfile_write(s->pidfile) < 0) {
        char err[512];
        snprintf(err, sizeof(err), "--pidfile %s: %s", s->pidfile, strerror(errno));
        return refuse(st, err);
    }
    return 0;
}

/* --workers 0: this process is the worker. What needs a master is said
 * to be ignored rather than silently dropped. */
static int run_alone(startup *st)
{
    char err[512];
    const cfg_settings *s = settings(st);
    const char *ignored = s->status.text       ? "--status"
                          : s->reload          ? "--reload"
                          : s->reuse_port      ? "--reuse-port"
                          : s->max_requests    ? "--max-requests"
                          : s->max_memory_mb   ? "--max-memory"
                          : s->max_age_ms >= 0 ? "--max-age"
                                               : NULL;
    if (ignored)
        rt_log("warning: %s needs a master (--workers > 0): ignored", ignored);
    if (srv_identity_assume(&st->id, err, sizeof(err)) < 0)
        return refuse(st, err);
    srv_daemon_ready(st->ready_fd, 0);
    srv_notify_ready();
    srv_upgrade_ready(srv_upgrade_inherited()); /* workers = 0 in a new config */
    srv_worker_args a = {.settings = s,
                         .listeners = st->listeners,
                         .nlisteners = st->nlisteners,
                         .plugins = st->gen->plugins,
                         .nplugins = st->gen->nplugins,
                         .logs = &st->logs,
                         .unlink_sockets = true,
                         .notify_fd = -1};
    return srv_worker_run(&a);
}

static int run_master(startup *st)
{
    srv_master_args a = {.argc = st->argc,
                         .argv = st->argv,
                         .gen = st->gen,
                         .listeners = st->listeners,
                         .nlisteners = st->nlisteners,
                         .logs = &st->logs,
                         .id = st->id,
                         .status = st->status,
                         .ready_fd = st->ready_fd};
    st->gen = NULL; /* the master's now, */
    st->status = NULL;
    int status = srv_master_run(&a);
    st->nlisteners = 0; /* and closed by it */
    return status;
}

static int run(startup *st)
{
    int status = prepare(st);
    if (status == 0)
        status = detach(st);
    if (status != 0)
        return status;
    raise_fd_limit(st);
    const char *pidfile = settings(st)->pidfile ? strdup(settings(st)->pidfile) : NULL;
    status = settings(st)->workers == 0 ? run_alone(st) : run_master(st);
    srv_pidfile_remove(pidfile);
    free((char *)pidfile);
    return status;
}

/* --check-config: everything start-up checks but binding and the apps'
 * init (which runs in the workers). */
static int check(startup *st)
{
    char err[512];
    const cfg_settings *s = settings(st);
    if (srv_gen_load(st->gen, false, err, sizeof(err)) < 0 ||
        srv_identity_resolve(&st->id, s, err, sizeof(err)) < 0) {
        fprintf(stderr, "greenserve: %s\n", err);
        return CFG_EXIT_USAGE;
    }
    printf("greenserve: configuration OK%s%s: %zu app(s), %zu address(es), %u worker(s)\n",
           s->config ? " in " : "", s->config ? s->config : "", s->nmounts, s->nbinds, s->workers);
    for (size_t i = 0; i < st->gen->nplugins; i++)
        printf("  %s = %s (app \"%s\")\n", s->mounts[i].prefix, s->mounts[i].path,
               st->gen->plugins[i].app->name ? st->gen->plugins[i].app->name : "?");
    return 0;
}

static void cleanup(startup *st)
{
    for (size_t i = 0; i < st->nlisteners; i++)
        srv_listen_close(&st->listeners[i], true);
    free(st->listeners);
    srv_status_close(st->status);
    srv_logs_close(&st->logs);
    srv_gen_free(st->gen);
}

int main(int argc, char **argv)
{
    if (srv_newapp_wanted(argc, argv))
        return srv_newapp_run(argc, argv);
    startup st = {
        .argc = argc, .argv = argv, .logs = {.error_fd = 2, .access_fd = -1}, .ready_fd = -1};
    char err[512];
    int action, status = 0;
    st.gen = srv_gen_configure(1, argc, argv, &action, err, sizeof(err));
    if (action == CFG_HELP)
        cfg_usage(stdout, "greenserve");
    else if (action == CFG_VERSION_SHOWN)
        printf("greenserve %s (plugin ABI version %d)\n", CFG_VERSION, GS_ABI_VERSION);
    else if (action < 0)
        fprintf(stderr, "greenserve: %s\nTry 'greenserve --help'.\n", err);
    if (action < 0)
        status = CFG_EXIT_USAGE;
    else if (action == CFG_RUN)
        status = settings(&st)->check_config ? check(&st) : run(&st);
    cleanup(&st);
    return status;
}
