/*
 * worker.h -- one worker: a hub on the calling OS thread that accepts on
 * the listening sockets and serves each connection on its own green
 * thread, until SIGTERM or SIGINT stops it gracefully.
 *
 * Everything it needs is prepared by its caller and handed in: the
 * sockets are bound and the plugins loaded, so the same call serves a
 * one-process server (main) and, later, each worker a master forks.
 */
#ifndef SRV_WORKER_H
#define SRV_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "config/options.h"
#include "server/listen.h"
#include "server/plugin.h"

typedef struct srv_worker_args {
    const cfg_settings *settings;
    srv_listener *listeners; /* bound, listening; closed by the worker */
    size_t nlisteners;
    srv_plugin *plugins; /* loaded, not yet initialised */
    size_t nplugins;
    int access_log_fd;   /* -1: none */
    bool unlink_sockets; /* it created the unix sockets: remove them at stop */
} srv_worker_args;

/* Initialise every app (in mount order), log one "listening on URL" line
 * per socket and serve. On SIGTERM/SIGINT: stop accepting, close idle
 * connections, let requests in progress finish for up to
 * settings->graceful_timeout_ms, cancel what is left, fini the apps.
 * A second signal cuts the wait short. Returns the exit status: 0 after a
 * stop, CFG_EXIT_USAGE when an app's init failed (logged, naming it), 1
 * when the hub could not be set up. */
int srv_worker_run(const srv_worker_args *a);

#endif
