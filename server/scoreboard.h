/*
 * scoreboard.h -- what the master and its workers share: one slot per
 * worker in an anonymous shared mapping made before the first fork.
 *
 * The master claims a slot and fills its identity before forking; the
 * worker then keeps its heartbeat and counters there, and the master reads
 * them for the watchdog, recycling and the status endpoint. Every field
 * one side writes while the other reads is atomic (relaxed: each is a
 * figure on its own, no field orders another).
 */
#ifndef SRV_SCOREBOARD_H
#define SRV_SCOREBOARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Slots in the mapping: the most workers (all generations together) a
 * master runs at once. Untouched slots cost no memory. */
#define SRV_SLOTS 512

enum srv_slot_state {
    SRV_SLOT_FREE,     /* no worker */
    SRV_SLOT_STARTING, /* forked: initialising its apps */
    SRV_SLOT_READY,    /* accepting */
    SRV_SLOT_STOPPING, /* stopped accepting: finishing its requests */
};

typedef struct srv_slot {
    _Atomic int state;   /* enum srv_slot_state */
    pid_t pid;           /* master: set before the fork (0 in the child until then) */
    unsigned generation; /* master */
    int64_t started_ms;  /* master: srv_clock_ms() at the fork */

    /* The worker's, updated at every tick of its hub. */
    _Atomic int64_t heartbeat_ms; /* srv_clock_ms() of the last tick */
    _Atomic uint64_t requests;
    _Atomic uint64_t accepted; /* connections, counted as they come */
    _Atomic unsigned active_conns;
    _Atomic unsigned green_threads; /* connections' and acceptors' */
    _Atomic unsigned waiting;       /* handlers parked in a long-poll wait */

    _Atomic uint64_t rss_bytes; /* the master's, from /proc at its checks */

    /* The watchdog asks (asked++ and SIGUSR2); the worker's signal handler
     * writes what its hub is running into `report`, then answered = asked. */
    _Atomic unsigned asked, answered;
    char report[400];
} srv_slot;

/* The monotonic clock in ms, the same for every process of the machine. */
int64_t srv_clock_ms(void);

/* How often a worker ticks for a watchdog timeout (GS_FOREVER: none):
 * a quarter of it, between 10 ms and 500 ms (the status figures are as
 * fresh as that). */
int64_t srv_heartbeat_ms(int64_t timeout_ms);

/* Map SRV_SLOTS zeroed slots, shared with every child forked after.
 * NULL if mmap failed. */
srv_slot *srv_scoreboard_new(void);
void srv_scoreboard_free(srv_slot *slots);

/* A free slot, reset and marked STARTING for generation gen, or NULL when
 * all are taken. Master only. */
srv_slot *srv_slot_claim(srv_slot *slots, unsigned gen);
void srv_slot_release(srv_slot *s);

/* In the worker: answer the watchdog's SIGUSR2 into s, from the signal
 * handler (async-signal-safe: the hub may be stuck in a handler, and the
 * answer says which). 0 or -errno. */
int srv_slot_answer_watchdog(srv_slot *s);

/* In the master: ask the worker of s what it is running (SIGUSR2 to the
 * thread that runs its hub, the process's first). */
void srv_slot_ask(srv_slot *s);
bool srv_slot_answered(const srv_slot *s);

/* Fair spread over a shared listening socket (the default; not needed
 * with --reuse-port, where the kernel spreads connections). A worker
 * holding more than the average connections of the accepting workers,
 * plus 10% and SRV_FAIR_SLACK, defers to the others: */
#define SRV_FAIR_SLACK    4
#define SRV_FAIR_DEFER_MS 5

/* Whether the worker of `mine`, holding conns connections, may accept
 * now (and store conns in its slot for its siblings). Never switches. */
bool srv_slot_fair_turn(srv_slot *mine, unsigned conns);

/* In the worker's accept loop, before each accept on the shared socket
 * lfd: wait until it is readable, then, while this worker holds more than
 * its share, leave the connection to the others, 1 ms at a time, up to
 * SRV_FAIR_DEFER_MS (past that it accepts anyway: the others may be busy
 * or stuck). Returns at once without a slot. Switches. */
void srv_slot_await_turn(srv_slot *mine, int lfd, unsigned conns);

#endif
