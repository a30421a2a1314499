/*
 * worker.h -- one worker: a hub on the calling OS thread that accepts on
 * the listening sockets and serves each connection on its own green
 * thread, until SIGTERM or SIGINT stops it gracefully.
 *
 * Everything it needs is prepared by its caller and handed in: the
 * sockets are bound and the plugins loaded, so the same call serves a
 * one-process server (main) and each worker a master forks.
 */
#ifndef SRV_WORKER_H
#define SRV_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "config/options.h"
#include "server/listen.h"
#include "server/logs.h"
#include "server/plugin.h"
#include "server/scoreboard.h"

typedef struct srv_worker_args {
    const cfg_settings *settings;
    srv_listener *listeners; /* bound; closed by the worker. Those marked reuse_port
                                are not listening yet: the worker listens once ready */
    size_t nlisteners;
    srv_plugin *plugins; /* loaded, not yet initialised */
    size_t nplugins;
    const srv_logs *logs;  /* access log descriptor; paths for SIGUSR1 */
    bool unlink_sockets;   /* it created the unix sockets: remove them at stop */
    srv_slot *slot;        /* under a master: its scoreboard slot (the caller answers the
                              watchdog: srv_slot_answer_watchdog), else NULL */
    const srv_slot *slots; /* under a master: the whole scoreboard, to find the siblings
                              a retiring worker hands its connections to; else NULL */
    int notify_fd;         /* under a master: written to once ready, else -1 */
    int64_t tick_ms;       /* heartbeat period (with a slot) */
    bool exit_on_quit;     /* after SIGQUIT, _exit once the apps' fini ran */
} srv_worker_args;

/* Initialise every app (in mount order), log one "listening on URL" line
 * per socket and serve. Under a master, mark the slot ready and tick its
 * heartbeat and counters every tick_ms.
 *
 * SIGTERM/SIGINT: stop accepting. Under a master whose other workers
 * stay (a reload, a recycle, SIGTTOU: the master marked only this one
 * stopping), hand off to the ready workers of the newest generation every
 * connection that idles between requests, and every request of a
 * GS_APP_HANDOFF app parked in a long wait (server/handoff.h; idle ones
 * keep going as they become idle). Then drain the hub (rt_hub_drain: long-poll
 * waits -- gs_wait_disconnect, channels -- end with -ESHUTDOWN and
 * gs_draining() turns true), so that their handlers answer and their
 * clients come back to a worker still accepting; close idle connections (a fresh one gets
 * a moment to send its first request); let requests in progress finish for
 * up to settings->graceful_timeout_ms; cancel what is left; fini the apps.
 * A second signal, or SIGQUIT, stops at once. SIGUSR1 reopens the logs.
 *
 * Returns the exit status: 0 after a stop, CFG_EXIT_USAGE when an app's
 * init failed (logged, naming it), 1 when the hub could not be set up. */
int srv_worker_run(const srv_worker_args *a);

#endif
