/*
 * master.c -- the master's loop, its signals, stopping and reloading.
 * The workers themselves (forking, reaping, replacing) are crew.c's.
 */
#include "server/master.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"
#include "server/bus.h"
#include "server/crew.h"
#include "server/daemon.h"
#include "server/reload.h"
#include "server/signals.h"
#include "server/upgrade.h"

/* The loop's pace when nothing happens: the watchdog, recycling checks
 * and deadlines are looked at this often. */
#define TICK_MS 100

/* --reload waits for the files to stay quiet this long: a build writes
 * a .so in several steps. */
#define SETTLE_MS 300

/* Past the graceful timeout, how long stopping workers get before
 * SIGKILL (their own cancellation takes up to a second). */
#define STOP_MARGIN_MS 5000

typedef struct master {
    srv_master_args *a;
    srv_crew crew;
    int sigfd;
    srv_watch *watch;
    srv_bus *bus; /* channels between the workers */
    int64_t started_ms;
    int64_t reload_at; /* --reload: when the files have settled; 0 = none */
    bool reload_queued;
    int stopping;        /* 0, SIGTERM / SIGINT (graceful) or SIGQUIT */
    srv_upgrade upgrade; /* SIGUSR2: the new master we started */
    int old_master_fd;   /* we are that new master: tell the old one once ready */
    bool upgrade_asked;  /* SIGUSR2 came: acted on after the status is served */
    bool replaced;       /* a new master serves: this one retires */
    bool notified;       /* systemd told we are ready */
    int64_t stop_deadline;
    bool stop_killed;
} master;

/* ---- reloading ---- */

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_binds(const cfg_settings *a, const cfg_settings *b)
{
    if (a->nbinds != b->nbinds)
        return false;
    for (size_t i = 0; i < a->nbinds; i++)
        if (strcmp(a->binds[i].text, b->binds[i].text) != 0)
            return false;
    return true;
}

/* What only start-up sets up (sockets, identity, files): warn when a
 * reload would change it. */
static void warn_fixed(const cfg_settings *was, const cfg_settings *now)
{
    const char *changed[10];
    size_t n = 0;
    if (!same_binds(was, now))
        changed[n++] = "bind";
    if (!same_text(was->status.text, now->status.text))
        changed[n++] = "status";
    if (!same_text(was->user, now->user) || !same_text(was->group, now->group))
        changed[n++] = "user/group";
    if (!same_text(was->pidfile, now->pidfile))
        changed[n++] = "pidfile";
    if (!same_text(was->error_log, now->error_log) || !same_text(was->access_log, now->access_log))
        changed[n++] = "error-log/access-log";
    if (was->reuse_port != now->reuse_port)
        changed[n++] = "reuse-port";
    for (size_t i = 0; i < n; i++)
        rt_log("reload: %s changed: that takes a restart; keeping what start-up set", changed[i]);
}

static srv_gen *configure_next(master *m)
{
    char err[512];
    int action;
    srv_crew *c = &m->crew;
    srv_gen *g =
        srv_gen_configure(c->last_gen + 1, m->a->argc, m->a->argv, &action, err, sizeof(err));
    if (g && g->settings.workers == 0) {
        snprintf(err, sizeof(err), "workers = 0 (no master) takes a restart");
        srv_gen_free(g);
        g = NULL;
    }
    if (g) {
        warn_fixed(&c->first->settings, &g->settings);
        if (srv_gen_load(g, true, err, sizeof(err)) < 0) {
            srv_gen_free(g);
            g = NULL;
        }
    }
    if (!g)
        rt_log("reload: %s; generation %u keeps serving", err, c->gen->id);
    return g;
}

static void reload(master *m, const char *why)
{
    srv_crew *c = &m->crew;
    if (m->stopping)
        return;
    if (c->next) {
        rt_log("%s: a reload is in progress; another follows it", why);
        m->reload_queued = true;
        return;
    }
    rt_log("%s: reloading the config%s and the plugins", why,
           c->first->settings.config ? " file" : "");
    srv_gen *g = configure_next(m);
    if (!g)
        return;
    srv_crew_start_generation(c, g);
    if (m->watch) { /* the files may have changed with the config */
        srv_watch_free(m->watch);
        m->watch = srv_watch_new(&g->settings);
    }
}

/* ---- stopping ---- */

/* sig: SIGTERM or SIGINT (graceful, or at once the second time),
 * SIGQUIT (at once). why: what the log says. */
static void begin_stop(master *m, int sig, const char *why)
{
    int64_t now = srv_clock_ms();
    m->crew.stopping = true;
    if (sig == SIGQUIT || m->stopping) {
        rt_log("%s: stopping now", why);
        m->stopping = SIGQUIT;
        srv_crew_signal_all(&m->crew, sig == SIGQUIT ? SIGQUIT : sig);
        if (m->stop_deadline > now + 2000 || !m->stop_deadline)
            m->stop_deadline = now + 2000;
        return;
    }
    m->stopping = sig;
    rt_log("%s: stopping gracefully (%u worker(s))", why, srv_crew_size(&m->crew));
    /* Once every worker has closed its copy too, connecting fails at once
     * instead of waiting in a backlog nobody accepts from. */
    for (size_t i = 0; i < m->a->nlisteners; i++)
        srv_listen_close(&m->a->listeners[i], false);
    srv_crew_signal_all(&m->crew, SIGTERM);
    m->stop_deadline = now + m->crew.gen->settings.graceful_timeout_ms + STOP_MARGIN_MS;
}

static bool tend_stop(master *m, int64_t now)
{
    if (srv_crew_size(&m->crew) == 0)
        return true;
    srv_crew_watch(&m->crew, now);
    if (now >= m->stop_deadline && !m->stop_killed) {
        rt_log("stopping: %u worker(s) still running: killing them", srv_crew_size(&m->crew));
        srv_crew_signal_all(&m->crew, SIGKILL);
        m->stop_killed = true;
    }
    return false;
}

/* ---- binary upgrade (SIGUSR2) ---- */

static const char *pidfile(const master *m)
{
    return m->crew.first->settings.pidfile;
}

/* As nginx: while both masters run, ours is FILE.oldbin and FILE is the
 * new master's (which writes it at start-up). */
static void oldbin_name(const master *m, char *buf, size_t n)
{
    snprintf(buf, n, "%s.oldbin", pidfile(m));
}

static void pidfile_aside(const master *m, bool back)
{
    char old[PATH_MAX];
    if (!pidfile(m))
        return;
    oldbin_name(m, old, sizeof(old));
    /* back: the failed new master removed its FILE when it exited. */
    int r = back ? rename(old, pidfile(m)) : rename(pidfile(m), old);
    if (r < 0 && errno != ENOENT)
        rt_log("upgrade: cannot rename the pid file: %s", strerror(errno));
}

/* The status socket cannot be shared the way the listeners are (the new
 * master binds its own): it is closed for the time the new one starts. */
static void status_pause(master *m, bool resume)
{
    char err[512];
    const cfg_bind *b = &m->crew.first->settings.status;
    if (!resume) {
        srv_status_close(m->a->status);
        m->a->status = NULL;
    } else if (b->text && !(m->a->status = srv_status_open(b, err, sizeof(err)))) {
        rt_log("upgrade: %s", err);
    }
}

static void upgrade(master *m)
{
    const cfg_settings *s = &m->crew.first->settings;
    const char *refused = m->stopping          ? "stopping"
                          : m->upgrade.pid     ? "an upgrade is in progress"
                          : s->reuse_port      ? "--reuse-port sockets cannot be passed on"
                          : !m->upgrade.exe[0] ? "the executable's path is unknown"
                                               : NULL;
    if (refused) {
        rt_log("SIGUSR2: not upgrading: %s", refused);
        return;
    }
    rt_log("SIGUSR2: starting a new master from %s", m->upgrade.exe);
    pidfile_aside(m, false);
    status_pause(m, false);
    int r = srv_upgrade_start(&m->upgrade, m->a->argv, m->a->listeners, m->a->nlisteners);
    if (r < 0) {
        rt_log("upgrade: cannot start %s: %s", m->upgrade.exe, strerror(-r));
        pidfile_aside(m, true);
        status_pause(m, true);
    }
}

static void tend_upgrade(master *m, int64_t now)
{
    switch (srv_upgrade_poll(&m->upgrade, now)) {
    case SRV_UPGRADE_FAILED:
        pidfile_aside(m, true);
        status_pause(m, true);
        break;
    case SRV_UPGRADE_DONE:
        m->replaced = true;
        /* The sockets are the new master's now: closing ours must not
         * remove a unix socket's file. */
        for (size_t i = 0; i < m->a->nlisteners; i++)
            m->a->listeners[i].path[0] = '\0';
        begin_stop(m, SIGTERM, "upgrade");
        break;
    }
}

/* ---- signals ---- */

static void on_signal(master *m, int sig)
{
    srv_crew *c = &m->crew;
    switch (sig) {
    case SIGCHLD:
        break; /* reaped after the signals */
    case SIGHUP:
        reload(m, "SIGHUP");
        break;
    case SIGTTIN:
    case SIGTTOU:
        srv_crew_resize(c, sig == SIGTTIN ? 1 : -1);
        break;
    case SIGUSR2: /* it closes the status socket turn() still polls */
        m->upgrade_asked = true;
        break;
    case SIGUSR1:
        rt_log("SIGUSR1: reopening the logs");
        srv_logs_reopen(m->a->logs, m->a->id.uid, m->a->id.gid);
        srv_crew_signal_all(c, SIGUSR1);
        break;
    default: /* TERM, INT, QUIT */
        begin_stop(m, sig, srv_signal_name(sig));
    }
}

/* ---- the loop ---- */

enum { MAX_POLL = 32 };

static size_t gather(master *m, struct pollfd *p, size_t *nstatus)
{
    size_t n = 0;
    p[n++] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = m->crew.wake_rd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = m->watch ? srv_watch_fd(m->watch) : -1, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = m->upgrade.ready_rd, .events = POLLIN};
    *nstatus = m->a->status ? srv_status_poll(m->a->status, p + n, MAX_POLL - 1 - n) : 0;
    n += *nstatus;
    p[n++] = (struct pollfd){.fd = srv_bus_fd(m->bus), .events = POLLIN};
    return n;
}

static void serve_status(master *m, const struct pollfd *p, size_t n)
{
    srv_status_info info = {.pid = getpid(),
                            .generation = m->crew.gen->id,
                            .workers = m->crew.target,
                            .started_ms = m->started_ms,
                            .slots = m->crew.slots,
                            .bus = m->bus};
    srv_status_serve(m->a->status, p, n, &info);
}

static void turn(master *m)
{
    struct pollfd p[MAX_POLL];
    size_t nstatus, n = gather(m, p, &nstatus);
    if (poll(p, n, TICK_MS) < 0 && errno != EINTR)
        rt_log("poll: %s", strerror(errno));
    int sig;
    while ((sig = srv_signals_next(m->sigfd)) > 0)
        on_signal(m, sig);
    srv_crew_drain_wakes(&m->crew);
    srv_bus_run(m->bus);
    if (p[2].revents && srv_watch_changed(m->watch))
        m->reload_at = srv_clock_ms() + SETTLE_MS;
    if (nstatus)
        serve_status(m, p + 4, nstatus);
}

/* The first generation serves: whoever waits for that may go on (the
 * shell that ran --daemon, systemd, the master this one replaces). */
static void announce(master *m)
{
    if (m->a->ready_fd >= 0) {
        srv_daemon_ready(m->a->ready_fd, 0);
        m->a->ready_fd = -1;
    }
    if (!m->notified)
        srv_notify_ready();
    m->notified = true;
    srv_upgrade_ready(m->old_master_fd);
    m->old_master_fd = -1;
}

/* One pass over everything with a deadline. True once stopped. */
static bool tend(master *m)
{
    int64_t now = srv_clock_ms();
    srv_crew *c = &m->crew;
    if (!m->stopping) /* first: the crew's reaping would take its exit status */
        tend_upgrade(m, now);
    srv_crew_reap(c);
    if (c->failed && !m->stopping) { /* the first workers could not start */
        srv_daemon_ready(m->a->ready_fd, c->failed);
        m->a->ready_fd = -1;
        begin_stop(m, SIGTERM, "start-up failed");
    }
    if (m->stopping)
        return tend_stop(m, now);
    srv_crew_tend(c, now);
    if (c->serving)
        announce(m);
    if (m->upgrade_asked)
        upgrade(m);
    m->upgrade_asked = false;
    if (c->reload_done && m->reload_queued) {
        m->reload_queued = false;
        reload(m, "queued reload");
    }
    c->reload_done = false;
    if (m->reload_at && now >= m->reload_at) {
        m->reload_at = 0;
        reload(m, "--reload");
    }
    return false;
}

static int open_master(master *m, srv_master_args *a)
{
    *m = (master){.a = a, .sigfd = -1, .started_ms = srv_clock_ms()};
    srv_upgrade_init(&m->upgrade, a->argv[0]);
    m->old_master_fd = srv_upgrade_inherited();
    srandom((unsigned)(time(NULL) ^ getpid()));
    /* A worker's bus connection closes when it stops or dies, maybe while
     * the bus writes to it: the write's EPIPE drops that peer, where
     * SIGPIPE would kill the master (the workers inherit SIG_IGN too). */
    signal(SIGPIPE, SIG_IGN);
    m->sigfd = srv_signals_open();
    /* Before any worker: each connects to it right after fork. */
    m->bus = srv_bus_open(a->gen->settings.bus);
    if (m->sigfd < 0 || !m->bus || srv_crew_init(&m->crew, a) < 0)
        return -1;
    if (a->gen->settings.reload && !(m->watch = srv_watch_new(&a->gen->settings)))
        rt_log("--reload: cannot watch the files: %s", strerror(errno));
    return 0;
}

static void close_master(master *m)
{
    if (m->replaced && pidfile(m)) { /* before the crew frees the settings */
        char old[PATH_MAX];
        oldbin_name(m, old, sizeof(old));
        srv_pidfile_remove(old);
    }
    srv_crew_free(&m->crew);
    srv_watch_free(m->watch);
    srv_bus_close(m->bus);
    srv_status_close(m->a->status);
    m->a->status = NULL;
    if (m->sigfd >= 0)
        close(m->sigfd);
    if (m->old_master_fd >= 0)
        close(m->old_master_fd);
    for (size_t i = 0; i < m->a->nlisteners; i++)
        srv_listen_close(&m->a->listeners[i], true);
}

int srv_master_run(srv_master_args *a)
{
    master m;
    if (open_master(&m, a) < 0) {
        rt_log("cannot start the master: %s", strerror(errno));
        close_master(&m);
        return 1;
    }
    rt_log("master started: %u worker(s)%s%s", m.crew.target, a->status ? ", status on " : "",
           a->status ? srv_status_url(a->status) : "");
    do
        turn(&m);
    while (!tend(&m));
    int status = m.crew.failed;
    rt_log("master stopped");
    close_master(&m);
    return status;
}
