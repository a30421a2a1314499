/*
 * bus.h -- channels across the workers of one master (and, with --bus
 * redis://, across hosts).
 *
 * The master listens on an abstract Unix socket named after its pid;
 * each worker connects right after fork and routes its publishes there
 * (rt_chan_set_bus). The master numbers each message (per channel,
 * strictly increasing; a channel's first id is the wall clock in
 * microseconds, as in runtime/chan.c, so ids stay unique across master
 * restarts), sends it to every worker, the publisher included, and then
 * answers the publisher its id. It keeps each channel's counter and its
 * last BUS_HISTORY messages, replayed to every worker that connects, so
 * a worker started later (TTIN, respawn, a reload's new generation)
 * continues the numbering with its rings already filled.
 *
 * Frames, both ways: u32 length of the rest, u8 type, u64 a, u64 b,
 * u16 name length, name, data (host byte order: one host).
 *   'P' worker -> master: publish; a = token (0: no answer wanted).
 *   'M' master -> worker: message; a = id.
 *   'A' master -> worker: answer; a = token, b = id or -errno.
 * A worker that stops reading is dropped once BUS_OUT_LIMIT bytes wait
 * for it (its clients then see `dropped`); it reconnects by itself.
 */
#ifndef SRV_BUS_H
#define SRV_BUS_H

#include <stdint.h>
#include <sys/types.h>

typedef struct srv_bus srv_bus;

/* ---- in the master (no hub: driven by its poll loop) ---- */

/* Listen for the workers. url: NULL or "embedded", or "redis://host:port"
 * (the master then relays between Redis and its workers). NULL with
 * errno set when the socket cannot be made. */
srv_bus *srv_bus_open(const char *url);

/* The descriptor to poll for reading: readable when srv_bus_run has
 * work. */
int srv_bus_fd(const srv_bus *b);

/* Accept workers, read their publishes, write what is queued. Never
 * blocks. NULL b is a no-op. */
void srv_bus_run(srv_bus *b);

/* For the status: "embedded" or "redis" ... */
const char *srv_bus_kind(const srv_bus *b);

/* ... "connected" (the embedded bus always is: the master is the relay)
 * or "reconnecting" (Redis away) ... */
const char *srv_bus_state(const srv_bus *b);

/* ... and how many workers are connected to it. */
unsigned srv_bus_workers(const srv_bus *b);

void srv_bus_close(srv_bus *b);

/* ---- in a worker ---- */

/* Right after fork: connect to the master's bus. Returns the descriptor
 * (kept until srv_bus_worker_stop; keep it open) or -errno. */
int srv_bus_child_connect(pid_t master);

/* The descriptor srv_bus_child_connect returned, -1 if none. */
int srv_bus_child_fd(void);

/* On the worker's hub, before any publish: route this hub's channels
 * through the master. A no-op (0) without srv_bus_child_connect.
 * 0 or -errno. */
int srv_bus_worker_start(void);

void srv_bus_worker_stop(void);

#endif
