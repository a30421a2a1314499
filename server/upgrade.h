/*
 * upgrade.h -- replacing the running binary without closing a socket
 * (SIGUSR2, as nginx and gunicorn do).
 *
 * The master forks and executes the greenserve it was started as (the
 * path resolved at start-up, so a package that installed a new file there
 * runs the new code) with the same arguments. The listening sockets go
 * with it the way systemd passes them (descriptors 3.., LISTEN_FDS,
 * LISTEN_PID), so the new master adopts them and binds nothing; the
 * kernel keeps accepting into the same queue all along. With them goes
 * the write end of a pipe (GREENSERVE_UPGRADE_FD): the new master writes
 * its pid there once all its workers are ready, and only then does the old
 * one stop, gracefully. If the new master exits first (it could not be
 * run, its config or a plugin is refused, an app's init fails), the pipe
 * reads EOF and the old master carries on serving.
 */
#ifndef SRV_UPGRADE_H
#define SRV_UPGRADE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/listen.h"

/* Names the pipe's descriptor in the new master's environment. */
#define SRV_UPGRADE_ENV "GREENSERVE_UPGRADE_FD"

/* How long a new master gets to have all its workers ready. */
#define SRV_UPGRADE_TIMEOUT_MS 60000

typedef struct srv_upgrade {
    char exe[PATH_MAX]; /* what to execute: resolved at start-up, "" if unknown */
    pid_t pid;          /* the new master while it starts, else 0 */
    int ready_rd;       /* its pipe, else -1 */
    int64_t deadline;
} srv_upgrade;

enum { SRV_UPGRADE_IDLE, SRV_UPGRADE_PENDING, SRV_UPGRADE_DONE, SRV_UPGRADE_FAILED };

/* Resolve argv0 now (the way execvp would: a path with a '/' taken from
 * the current directory, a bare name looked up in PATH), because the
 * directory or PATH may have changed by the time SIGUSR2 comes. */
void srv_upgrade_init(srv_upgrade *u, const char *argv0);

/* Fork and execute u->exe with argv, passing the n listeners. 0, or
 * -errno (nothing started). */
int srv_upgrade_start(srv_upgrade *u, char *const *argv, const srv_listener *l, size_t n);

/* How the new master is doing (never blocks): PENDING until it is ready
 * (DONE) or has failed (FAILED, logged with its exit status; one that
 * outlives SRV_UPGRADE_TIMEOUT_MS is stopped and fails). IDLE when no
 * upgrade is under way. */
int srv_upgrade_poll(srv_upgrade *u, int64_t now);

/* In the new master: the pipe to the old one (removed from the
 * environment, made close-on-exec), or -1 when not started by an upgrade. */
int srv_upgrade_inherited(void);

/* In the new master, once its workers serve: tell the old one. */
void srv_upgrade_ready(int fd);

#endif
