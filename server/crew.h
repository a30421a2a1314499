/*
 * crew.h -- the master's workers: forking them, reaping them, and the
 * rules that keep the right number of them serving.
 *
 *   - The current generation keeps `target` fresh workers (not retiring,
 *     not due for replacement); one that dies is replaced at once, unless
 *     workers keep dying at start-up: then each attempt waits twice as
 *     long as the one before (100 ms up to 10 s), and each death is logged.
 *   - A worker due for replacement (--max-requests, --max-memory,
 *     --max-age) keeps serving until its replacement is ready, then is
 *     retired: SIGTERM, and SIGKILL if it outlives the graceful timeout.
 *   - A reload starts a next generation; once all of it is ready, the old
 *     one is retired. A worker of the next one that dies before that
 *     abandons the reload: the current generation never stopped serving.
 *   - A worker is marked stopping in the scoreboard before it is told to
 *     retire (SIGTERM), and on a stop every worker is, before any is told:
 *     a retiring worker hands its connections to the ready workers of the
 *     newest generation (server/handoff.h), never to one that goes too.
 *   - The watchdog: a worker whose heartbeat is older than --timeout is
 *     asked what it runs (SIGUSR2), then killed, the answer logged.
 */
#ifndef SRV_CREW_H
#define SRV_CREW_H

#include <stdbool.h>
#include <stdint.h>

#include "server/generation.h"
#include "server/master.h"
#include "server/scoreboard.h"

typedef struct srv_child srv_child;

typedef struct srv_crew {
    const srv_master_args *a;
    srv_slot *slots;
    srv_gen *first; /* start-up's: its settings live as long as the crew */
    srv_gen *gen;   /* the generation serving */
    srv_gen *next;  /* a reload's, until all its workers are ready */
    unsigned last_gen;
    unsigned target; /* workers of the current generation */
    srv_child *children;
    int wake_rd, wake_wr; /* workers write a byte when ready */
    bool serving;         /* the first generation has been all ready */
    int failed;           /* the first workers could not start: the exit status */
    bool reload_done;     /* a reload just finished, or was abandoned */
    bool stopping;        /* the master stops: every exit is expected */
    unsigned fails;       /* deaths at start-up in a row */
    int64_t last_fail_ms, next_spawn_ms, last_rss_ms;
} srv_crew;

/* Take a->gen as the first generation; map the scoreboard, open the pipe.
 * No worker is started yet. 0, or -1 with errno set. */
int srv_crew_init(srv_crew *c, const srv_master_args *a);
void srv_crew_free(srv_crew *c);

/* Workers alive (of any generation, retiring ones included). */
unsigned srv_crew_size(const srv_crew *c);

/* Reap the workers that exited, logging how, and act on it (replace,
 * back off, abandon a reload, or set `failed`). */
void srv_crew_reap(srv_crew *c);

/* Everything due at `now`: notice workers that got ready, the watchdog,
 * recycling, retirements past their time, spawning. */
void srv_crew_tend(srv_crew *c, int64_t now);

/* Only the watchdog, for a master that stops: a stuck worker would hold
 * the stop up until its deadline. */
void srv_crew_watch(srv_crew *c, int64_t now);

/* Make g (loaded) the next generation: its workers start at the next
 * srv_crew_tend. */
void srv_crew_start_generation(srv_crew *c, srv_gen *g);

/* One more (+1) or one fewer (-1) worker; never below one. */
void srv_crew_resize(srv_crew *c, int delta);

void srv_crew_signal_all(srv_crew *c, int sig);

/* Empty the pipe the workers wake the master with. */
void srv_crew_drain_wakes(srv_crew *c);

#endif
