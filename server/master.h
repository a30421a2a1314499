/*
 * master.h -- the master process: it forks the workers, keeps their
 * number, replaces the ones that die or grow old, reloads, and serves the
 * status endpoint. It never serves a request and never runs plugin code,
 * and has no hub: its loop is poll(2) over a signalfd, a pipe the workers
 * wake it with, the status sockets and the --reload watch, so every worker
 * starts from a clean state.
 *
 * Signals: TERM/INT graceful stop (again: at once), QUIT immediate stop,
 * HUP reload (config file and plugins, a new generation of workers, the
 * old one retired once the new one is ready), TTIN/TTOU one more / one
 * fewer worker, USR1 reopen the logs (the master's, then the workers'),
 * USR2 execute a new binary that inherits the sockets, then retire once
 * it serves (see upgrade.h).
 */
#ifndef SRV_MASTER_H
#define SRV_MASTER_H

#include <stddef.h>

#include "server/generation.h"
#include "server/listen.h"
#include "server/logs.h"
#include "server/privs.h"
#include "server/status.h"

typedef struct srv_master_args {
    int argc; /* read again on SIGHUP */
    char **argv;
    srv_gen *gen; /* the first generation, loaded; the master owns it */
    srv_listener *listeners;
    size_t nlisteners;
    srv_logs *logs;
    srv_identity id;
    srv_status *status; /* NULL when off; the master owns it */
    int ready_fd;       /* --daemon: told how start-up went, else -1 */
} srv_master_args;

/* Run until stopped. Returns the exit status: 0 after a stop,
 * CFG_EXIT_USAGE when the first workers could not start (their apps'
 * init failed), 1 when the master itself could not run. */
int srv_master_run(srv_master_args *a);

#endif
