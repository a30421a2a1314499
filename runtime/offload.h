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

/* The handler pool behind --threads: run fn(arg) on one of at most
 * `threads` OS threads (0 means 1) that serve nothing else, and park the
 * calling green thread until fn has returned, whatever happens: as in
 * gs_offload, a kill is only recorded and a deadline does not cut the wait
 * short, since fn uses the caller's memory. A kill does not reach fn
 * either. Where the caller cannot park (see rt_offload_can_park) fn runs
 * inline. Green threads that fn leaves on its thread's own hub finish
 * there before the thread takes its next job. Returns 0 (*result, if not
 * NULL, set to fn's return value), or -ENOMEM / -errno when no thread
 * could be started. Switches. */
int rt_offload_handler(unsigned threads, void *(*fn)(void *arg), void *arg, void **result);

#endif
