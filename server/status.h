/*
 * status.h -- the status endpoint (--status ADDR), served by the master
 * from its own poll loop: GET / (or /status) answers JSON, GET /metrics
 * the same figures as Prometheus text. Each answer is one small write of
 * what the scoreboard holds, so the master never waits on a client: a
 * connection that does not send its request in time is dropped.
 *
 * Per worker: pid, generation, state, uptime, requests served, active
 * connections, green threads (those of its connections and accept
 * loops), handlers waiting in a long-poll, RSS, and the age of its last
 * heartbeat. And the bus between the workers: its kind, its state and
 * the workers connected to it.
 */
#ifndef SRV_STATUS_H
#define SRV_STATUS_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/options.h"
#include "server/scoreboard.h"

typedef struct srv_status srv_status;

/* What the master says of itself. */
typedef struct srv_status_info {
    pid_t pid;
    unsigned generation; /* the one serving */
    unsigned workers;    /* wanted */
    int64_t started_ms;  /* srv_clock_ms() at start-up */
    const srv_slot *slots;
    const struct srv_bus *bus; /* NULL: none */
} srv_status_info;

/* Bind and listen on b. NULL with err naming the address. */
srv_status *srv_status_open(const cfg_bind *b, char *err, size_t errlen);

/* The listening socket's address ("http://127.0.0.1:9191/"). */
const char *srv_status_url(const srv_status *st);

/* Every descriptor it owns, for a forked worker to close: up to max
 * written to fds; returns how many. */
size_t srv_status_fds(const srv_status *st, int *fds, size_t max);

/* The pollfds it wants (listener and clients) into p (room for max);
 * returns how many. */
size_t srv_status_poll(srv_status *st, struct pollfd *p, size_t max);

/* Act on what poll said about those n entries, and drop clients past
 * their time. Never blocks. */
void srv_status_serve(srv_status *st, const struct pollfd *p, size_t n,
                      const srv_status_info *info);

void srv_status_close(srv_status *st);

/* The answers' bodies (malloc'd, NUL-terminated; NULL if out of memory),
 * for the endpoint and its tests. */
char *srv_status_json(const srv_status_info *info, size_t *len);
char *srv_status_metrics(const srv_status_info *info, size_t *len);

#endif
