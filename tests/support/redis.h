/*
 * redis.h -- a real redis-server for tests: on a free loopback port, no
 * persistence, killed with the test process if the test dies first.
 */
#ifndef TS_REDIS_H
#define TS_REDIS_H

#include <stdint.h>
#include <sys/types.h>

/* A loopback TCP port that was free a moment ago. -1 on error. */
int ts_free_port(void);

/* Start redis-server on 127.0.0.1:port. With wait_ms > 0, return only
 * once it accepts connections (-1 if it did not within wait_ms). Returns
 * its pid; stop it with ts_redis_stop. */
pid_t ts_redis_start(int port, int64_t wait_ms);

/* SIGKILL the server and reap it. Safe with pid <= 0. */
void ts_redis_stop(pid_t pid);

#endif
