/*
 * child.h -- what a forked worker does before it serves: forget the
 * master's state (signals; every descriptor but the logs, the listening
 * sockets and the pipe to the master), take its own sockets with
 * --reuse-port, drop privileges, die with the master, then run the worker
 * and exit with its status. Never returns.
 */
#ifndef SRV_CHILD_H
#define SRV_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "server/generation.h"
#include "server/listen.h"
#include "server/logs.h"
#include "server/privs.h"
#include "server/scoreboard.h"

typedef struct srv_child_args {
    const srv_gen *gen;            /* settings and loaded plugins */
    const srv_listener *listeners; /* the master's: shared, or (reuse_port) only bound */
    size_t nlisteners;
    const srv_logs *logs;
    const srv_identity *id;
    srv_slot *slot;
    const srv_slot *slots; /* the whole scoreboard */
    pid_t master;
    int notify_fd; /* the write end of the master's pipe */
} srv_child_args;

__attribute__((noreturn)) void srv_child_run(const srv_child_args *a);

#endif
