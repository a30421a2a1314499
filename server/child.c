/*
 * child.c -- from fork to serving, in a worker.
 */
#include "server/child.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runtime/log.h"
#include "server/bus.h"
#include "server/signals.h"
#include "server/worker.h"

/* The worker's own copy of the listeners: the master's shared sockets,
 * or with --reuse-port a socket of its own per TCP address, bound now
 * (while it may still be root) and listening once its apps are ready. */
static srv_listener *own_listeners(const srv_child_args *a)
{
    srv_listener *ls = calloc(a->nlisteners ? a->nlisteners : 1, sizeof(*ls));
    char err[512];
    for (size_t i = 0; ls && i < a->nlisteners; i++) {
        const srv_listener *m = &a->listeners[i];
        if (!m->reuse_port) {
            ls[i] = *m;
            continue;
        }
        if (srv_listen_bind(&ls[i], m->bind, true, m->port, err, sizeof(err)) < 0) {
            rt_log("%s", err);
            free(ls);
            return NULL;
        }
        close(m->fd); /* the master's placeholder holding the port */
    }
    return ls;
}

/* Seconds a worker whose master died gets to stop gracefully. */
static unsigned orphan_grace_s;

/* The master died (PR_SET_PDEATHSIG): stop gracefully, as on SIGTERM,
 * and for good past the graceful timeout, when SIGALRM's default action
 * ends the process even if its hub is stuck in a handler and never runs
 * the stop. */
static void on_master_gone(int sig)
{
    (void)sig;
    alarm(orphan_grace_s);
    kill(getpid(), SIGTERM);
}

/* PR_SET_PDEATHSIG is cleared by a change of user: set it after. The
 * master may have died before it was set: check. SIGHUP means nothing
 * else to a worker. */
static int follow_master(pid_t master, int64_t grace_ms)
{
    orphan_grace_s = (unsigned)(grace_ms / 1000) + 5;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_master_gone;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGHUP, &sa, NULL) < 0 || prctl(PR_SET_PDEATHSIG, SIGHUP) < 0)
        return -errno;
    return getppid() == master ? 0 : -ESRCH;
}

static int by_value(const void *x, const void *y)
{
    return *(const int *)x - *(const int *)y;
}

/* Close every descriptor but those the worker uses: whatever the master
 * holds (its signalfd, status clients, inotify, plugin copies) is none of
 * the worker's business. */
static void close_the_rest(const srv_child_args *a)
{
    int keep[8 + 64], n = 0;
    keep[n++] = 2; /* 0, 1 and 2 are kept below */
    keep[n++] = a->logs->error_fd;
    keep[n++] = a->logs->access_fd;
    keep[n++] = a->notify_fd;
    keep[n++] = srv_bus_child_fd();
    for (size_t i = 0; i < a->nlisteners && n < (int)(sizeof(keep) / sizeof(keep[0])); i++)
        keep[n++] = a->listeners[i].fd;
    qsort(keep, (size_t)n, sizeof(keep[0]), by_value);
    unsigned from = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < (int)from)
            continue;
        if ((unsigned)keep[i] > from)
            close_range(from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    close_range(from, ~0u, 0);
}

static int prepare(const srv_child_args *a, srv_listener **ls)
{
    char err[512];
    srv_signals_reset();
    if (srv_bus_child_connect(a->master) < 0) /* the worker runs alone: logged, not fatal */
        rt_log("bus: cannot reach the master: channels stay in this worker");
    close_the_rest(a);
    /* Early: a worker stuck in an app's init must answer too (the default
     * action of SIGUSR2 would kill it without a word). */
    srv_slot_answer_watchdog(a->slot);
    *ls = own_listeners(a);
    if (!*ls)
        return 1;
    if (srv_identity_assume(a->id, err, sizeof(err)) < 0) {
        rt_log("%s", err);
        return CFG_EXIT_USAGE;
    }
    if (follow_master(a->master, a->gen->settings.graceful_timeout_ms) < 0) {
        rt_log("the master has gone: not starting");
        return 1;
    }
    return 0;
}

void srv_child_run(const srv_child_args *a)
{
    srv_listener *ls = NULL;
    int status = prepare(a, &ls);
    if (status == 0) {
        srv_worker_args w = {.settings = &a->gen->settings,
                             .listeners = ls,
                             .nlisteners = a->nlisteners,
                             .plugins = a->gen->plugins,
                             .nplugins = a->gen->nplugins,
                             .logs = a->logs,
                             .unlink_sockets = false,
                             .slot = a->slot,
                             .slots = a->slots,
                             .notify_fd = a->notify_fd,
                             .tick_ms = srv_heartbeat_ms(a->gen->settings.timeout_ms),
                             .exit_on_quit = true};
        status = srv_worker_run(&w);
    }
    free(ls);
    exit(status);
}
