/*
 * chan.h -- channels inside the runtime: the hook a bus plugs into so
 * that several workers (or hosts) share one numbering of every channel,
 * and the figures for the status page.
 *
 * Without a bus, gs_chan_publish numbers a message itself and inserts it
 * in the calling hub's ring. With one, it hands the message to the bus
 * and parks until the bus reports the id it was given; the message enters
 * the ring only when the bus delivers it back (rt_chan_deliver), like
 * every other worker's messages, so every hub orders them the same way.
 * Everything here belongs to the calling OS thread's hub and must be
 * called on that thread.
 */
#ifndef RT_CHAN_H
#define RT_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "greenserve.h"

typedef struct rt_chan_bus {
    /* Send one publish (data is borrowed for the call). When token is not
     * 0, the bus must later call rt_chan_published(token, id or -errno)
     * exactly once, from this hub's thread (a libevent callback, or even
     * from within this call); token 0 asks for no answer. Returns 0 once
     * sent (or queued), or -errno, in which case no answer is expected.
     * Must not switch. */
    int (*publish)(void *ctx, uint64_t token, const char *name, const void *data, size_t len);
} rt_chan_bus;

/* Route this hub's publishes through ops (borrowed until replaced), or
 * number them locally again with ops NULL. Publishes still waiting for an
 * id end with -ECONNABORTED. Set it before the first publish: a channel
 * ignores ids at or below the newest it holds, local ones included.
 * Never switches. */
void rt_chan_set_bus(const rt_chan_bus *ops, void *ctx);

/* The bus's answer to the publish sent with token: the id (> 0) the
 * message was given, or -errno. An unknown token (its publisher gave up
 * waiting) is ignored. Never switches. */
void rt_chan_published(uint64_t token, int64_t id_or_err);

/* A message received from the bus (the publisher's own ones included):
 * copied into the channel's ring and handed to its waiters, if id is
 * newer than every id the channel has seen. Returns 1 if inserted, 0 for
 * a duplicate or late message (id <= the newest seen; ignored), -EINVAL,
 * -ENAMETOOLONG or -ENOMEM. Ids that the bus skipped (id > newest + 1)
 * are counted as lost, and a cursor that falls in the gap gets `dropped`.
 * Never switches. */
int rt_chan_deliver(const char *name, uint64_t id, const void *data, size_t len);

/* A snapshot of this hub's channels. */
typedef struct rt_chan_stats {
    size_t channels; /* channels alive (with messages or waiters) */
    size_t waiters;  /* gs_chan_wait calls parked */
    size_t messages; /* messages held in the rings */
    size_t bytes;    /* their payload bytes */
    size_t alive;    /* messages in memory: held, or only in batches */
    uint64_t lost;   /* ids the bus skipped, since start */
} rt_chan_stats;

void rt_chan_stats_get(rt_chan_stats *s);

#endif
