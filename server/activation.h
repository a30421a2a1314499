/*
 * activation.h -- socket activation: listening sockets handed over by
 * systemd (a .socket unit) or systemd-socket-activate instead of bound.
 *
 * The protocol (sd_listen_fds(3)): LISTEN_PID is our pid and LISTEN_FDS
 * the count n of sockets, open as descriptors 3 .. 3+n-1.
 */
#ifndef SRV_ACTIVATION_H
#define SRV_ACTIVATION_H

#include <stdbool.h>
#include <stddef.h>

#include "server/listen.h"

/* How many sockets were passed to this process (0: none, or they were
 * meant for another pid). The variables are removed from the environment
 * either way, so nothing started later takes them as its own. *upgrade
 * tells whether they come from a greenserve master being replaced
 * (SIGUSR2, see upgrade.h) rather than from systemd. */
int srv_activation_count(bool *upgrade);

/* Turn descriptor fd, a passed socket, into l: checked to be a listening
 * stream socket, made non-blocking and close-on-exec, its address read
 * back for the log. A unix socket's file stays systemd's, never unlinked,
 * unless `owned` (an upgrade: the file is ours to remove at the end).
 * Returns 0, or -errno with err saying why. */
int srv_activation_adopt(srv_listener *l, int fd, bool owned, char *err, size_t errlen);

#define SRV_ACTIVATION_FIRST_FD 3

#endif
