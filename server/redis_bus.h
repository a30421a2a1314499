/*
 * redis_bus.h -- --bus redis://host:port: the master relays between Redis
 * and its workers, so the workers' side is the embedded bus's.
 *
 * A publish runs one Lua script: INCR of the channel's counter (seeded
 * with the clock in microseconds on first use, the embedded bus's rule),
 * XADD to the channel's stream (capped near the history size) and PUBLISH
 * of "id|name|data" on one pub/sub channel; the script's answer is the id.
 * Every master SUBSCRIBEs to that channel and hands what comes to its
 * workers (srv_bus_deliver). After a (re)connect, the streams of the
 * channels seen so far are read again (XRANGE) to fill the gap.
 * While Redis is away, publishes fail with -ENOTCONN; it reconnects with
 * a backoff, logging each change of state once.
 */
#ifndef SRV_REDIS_BUS_H
#define SRV_REDIS_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/bus.h"

typedef struct srv_redis srv_redis;

/* url: "redis://host:port". NULL with errno set (EINVAL: bad url). */
srv_redis *srv_redis_open(srv_bus *b, const char *url);

/* Publish; the answer goes to the worker (fd, pid) with token through
 * srv_bus_answer. 0 or -errno (then no answer follows). */
int srv_redis_publish(srv_redis *r, const char *name, const void *data, size_t len, int fd,
                      pid_t pid, uint64_t token);

/* An epoll event with data.ptr = tag: true if it was one of r's. */
bool srv_redis_io(srv_redis *r, void *tag, uint32_t events);

/* Reconnect when due. */
void srv_redis_tick(srv_redis *r);

/* "connected" or "reconnecting". */
const char *srv_redis_state(const srv_redis *r);

void srv_redis_close(srv_redis *r);

/* From bus.c, for this module. */
void srv_bus_deliver(srv_bus *b, const char *name, uint64_t id, const char *data, size_t len);
void srv_bus_answer(srv_bus *b, int fd, pid_t pid, uint64_t token, int64_t id_or_err);
int srv_bus_epoll(const srv_bus *b);
void srv_bus_each_channel(srv_bus *b, void (*fn)(void *arg, const char *name), void *arg);

#endif
