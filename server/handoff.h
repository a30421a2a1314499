/*
 * handoff.h -- connections passed from a retiring worker to a worker that
 * stays: the socket itself (SCM_RIGHTS) and its http_handoff state.
 *
 * Worker to worker, directly: each worker listens on an abstract
 * SOCK_SEQPACKET Unix socket named after its pid, and a retiring worker
 * connects to the ones it hands to. The master only picks who retires
 * and who stays (the scoreboard: ready workers of the newest generation),
 * which it knows already; carrying thousands of descriptors through it
 * would double their trips and put the one process every worker depends
 * on in the path of every connection. Both ends check that the other is
 * a child of the same master (SO_PEERCRED), as the bus does: an abstract
 * name is reachable by anyone on the host.
 *
 * One message per connection (its descriptor, a record head, the state);
 * a batch of at most SRV_HANDOFF_BATCH is answered by one message naming
 * the ones taken. A connection is the receiver's once its bit is set;
 * every other one stays with the sender, which still holds its copy. A
 * record carries a deadline: a receiver that reads it late refuses it,
 * since the sender has by then given up waiting and kept the connection.
 */
#ifndef SRV_HANDOFF_H
#define SRV_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http/http.h"
#include "server/scoreboard.h"

#define SRV_HANDOFF_BATCH 64

/* The workers to hand to: the pids of the ready workers of the newest
 * generation among them, but self. Returns how many (at most max). */
size_t srv_handoff_targets(const srv_slot *slots, const srv_slot *self, pid_t *pids, size_t max);

/* ---- the retiring side: blocking calls, for a worker that must not run
 * anything else of its hub while a connection is in flight ---- */

/* Connect to worker pid's hand-off socket, checking it is a sibling. The
 * descriptor, or -errno. */
int srv_handoff_connect(pid_t pid);

/* Send n (<= SRV_HANDOFF_BATCH) connections (fds[i], with states[i]) and
 * wait for the answer, at most about timeout_ms: taken[i] tells which the
 * other worker took (whose descriptors the caller then closes). Returns
 * how many, or -errno (none taken: the connection to it is no good any
 * more). Blocks the calling OS thread; never switches, even with
 * --green-libc. */
int srv_handoff_send(int sock, const int *fds, http_handoff *const *states, size_t n,
                     int64_t timeout_ms, bool *taken);

/* ---- the side that stays ---- */

/* Listen on this process's hand-off socket. The descriptor (non-blocking)
 * or -errno. */
int srv_handoff_listen(void);

/* What takes a handed connection: true if it did (it then owns fd and
 * state, a malloc'd block), false to refuse it (the caller closes and
 * frees). Called on the hub, never switches. */
typedef bool (*srv_handoff_take)(void *arg, int fd, http_handoff *state);

/* Serve lfd: accept siblings and take what they hand over, until the
 * calling green thread is killed (then lfd is closed). For gs_spawn. */
typedef struct srv_handoff_server {
    int lfd;
    srv_handoff_take take;
    void *arg;
} srv_handoff_server;

void *srv_handoff_serve(void *server);

#endif
