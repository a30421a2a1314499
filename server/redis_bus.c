/*
 * redis_bus.c -- the Redis relay (see redis_bus.h).
 */
#include "server/redis_bus.h"

#include <errno.h>
#include <stdlib.h>

srv_redis *srv_redis_open(srv_bus *b, const char *url)
{
    (void)b, (void)url;
    errno = ENOTSUP;
    return NULL;
}

int srv_redis_publish(srv_redis *r, const char *name, const void *data, size_t len, int fd,
                      pid_t pid, uint64_t token)
{
    (void)r, (void)name, (void)data, (void)len, (void)fd, (void)pid, (void)token;
    return -ENOTSUP;
}

bool srv_redis_io(srv_redis *r, void *tag, uint32_t events)
{
    (void)r, (void)tag, (void)events;
    return false;
}

void srv_redis_tick(srv_redis *r)
{
    (void)r;
}

const char *srv_redis_state(const srv_redis *r)
{
    (void)r;
    return "reconnecting";
}

void srv_redis_close(srv_redis *r)
{
    (void)r;
}
