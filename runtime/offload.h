/*
 * offload.h -- jobs on the thread pool, for runtime modules that need more
 * than gs_offload: a wait that may give up (timeout, kill) and leave the
 * job to finish, and free itself, in the background.
 */
#ifndef RT_OFFLOAD_H
#define RT_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "greenserve.h"

typedef struct rt_home rt_home;
typedef struct rt_job rt_job;

struct rt_job {
    void *(*fn)(void *arg); /* run on a pool thread */
    void *arg;
    void *result; /* fn's return value once delivered */
    /* Called on the pool thread, instead of delivering, for a job its
     * waiter abandoned: frees the job and what fn produced. fn is skipped
     * when the job was abandoned before a thread took it. */
    void (*orphan)(rt_job *j);
    /* Private to offload.c. */
    rt_home *home;
    gs_thread *waiter;
    rt_job *next;
    bool finished;  /* fn has returned (under home's lock) */
    bool abandoned; /* the waiter left (under home's lock) */
    bool delivered; /* the hub has handed the result back (hub thread) */
};

/* Whether the caller may park on the pool: a green thread (or root) of a
 * hub, not a libevent callback, not a pool thread. Never switches. */
bool rt_offload_can_park(void);

/* Queue j (fn, arg and orphan set, the rest zeroed) for a pool thread on
 * behalf of the calling green thread. 0, or -ENOMEM / -errno when the pool
 * or the hub's wake-up descriptor cannot be set up. Never switches. */
int rt_offload_submit(rt_job *j);

/* Wait for a submitted job at most timeout_ms; kill and deadlines end the
 * wait. Returns 0 once delivered (j->result set; the caller owns j again),
 * or -ETIMEDOUT / -ECANCELED after abandoning it: j then belongs to the
 * pool, which calls j->orphan. Switches. */
int rt_offload_wait(rt_job *j, int64_t timeout_ms);

#endif
