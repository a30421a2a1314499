/*
 * scoreboard.c -- the shared slots, and the watchdog's question and answer.
 */
#include "server/scoreboard.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "greenserve.h"
#include "runtime/log.h"
#include "server/inflight.h"

int64_t srv_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t srv_heartbeat_ms(int64_t timeout_ms)
{
    int64_t t = timeout_ms < 0 ? 500 : timeout_ms / 4;
    return t < 10 ? 10 : t > 500 ? 500 : t;
}

/* The whole mapping, so that a worker (which inherits this at its fork)
 * can see its siblings' slots. Set once, before the first fork. */
static srv_slot *board;

srv_slot *srv_scoreboard_new(void)
{
    void *p = mmap(NULL, SRV_SLOTS * sizeof(srv_slot), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    board = p;
    return p;
}

void srv_scoreboard_free(srv_slot *slots)
{
    if (slots)
        munmap(slots, SRV_SLOTS * sizeof(srv_slot));
    if (slots == board)
        board = NULL;
}

srv_slot *srv_slot_claim(srv_slot *slots, unsigned gen)
{
    for (size_t i = 0; i < SRV_SLOTS; i++) {
        srv_slot *s = &slots[i];
        if (atomic_load_explicit(&s->state, memory_order_relaxed) != SRV_SLOT_FREE)
            continue;
        /* No worker uses a free slot: plain writes are safe until the fork. */
        memset((void *)s, 0, sizeof(*s));
        s->generation = gen;
        s->started_ms = srv_clock_ms();
        s->heartbeat_ms = s->started_ms;
        s->state = SRV_SLOT_STARTING;
        return s;
    }
    return NULL;
}

void srv_slot_release(srv_slot *s)
{
    atomic_store(&s->state, SRV_SLOT_FREE);
}

/* ---- the watchdog ---- */

/* The worker's own slot, for its signal handler (one per process). */
static srv_slot *answering;

/* The error log gets the request and a backtrace before the master is
 * told: once answered, the master kills this process. */
static void on_watchdog(int sig)
{
    (void)sig;
    int saved = errno;
    srv_slot *s = answering;
    srv_inflight_dump(rt_log_fd());
    srv_inflight_describe(s->report, sizeof(s->report));
    atomic_store(&s->answered, atomic_load(&s->asked));
    errno = saved;
}

int srv_slot_answer_watchdog(srv_slot *s)
{
    answering = s;
    srv_inflight_dump_ready();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_watchdog;
    /* Not SA_ONSTACK: the handler runs on the interrupted stack, the
     * spinning handler's own, so that the backtrace walks its frames (and
     * the alternate stack stays free for a stack overflow report). */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGUSR2, &sa, NULL) < 0 ? -errno : 0;
}

void srv_slot_ask(srv_slot *s)
{
    atomic_fetch_add(&s->asked, 1);
    /* To the hub's thread: a process-directed signal could land on a
     * handler thread (--threads), which would describe its own request. */
    syscall(SYS_tgkill, s->pid, s->pid, SIGUSR2);
}

bool srv_slot_answered(const srv_slot *s)
{
    return atomic_load(&s->answered) == atomic_load(&s->asked);
}

/* ---- fair accepting on a shared socket ----
 * Every worker waiting on a shared listening socket is woken for each
 * connection, and the one that is quickest (already running, on a free
 * CPU) takes it, and often the burst behind it: 8,000 long-polls on 4
 * workers ended up 52% on one. So a worker that holds more than its share
 * leaves new connections to the others for a moment. Shares are counted
 * over the accepting (READY) workers, each of which stores its count here
 * as it accepts; the list of them is looked up again every 100 ms. */

#define FAIR_REFRESH_MS   100
#define FAIR_MAX_SIBLINGS 64

static struct {
    int64_t at; /* srv_clock_ms() of the last look */
    unsigned n;
    srv_slot *slots[FAIR_MAX_SIBLINGS];
} siblings;

static void find_siblings(const srv_slot *mine, int64_t now)
{
    siblings.at = now;
    siblings.n = 0;
    for (size_t i = 0; board && i < SRV_SLOTS && siblings.n < FAIR_MAX_SIBLINGS; i++) {
        srv_slot *s = &board[i];
        if (s != mine && atomic_load_explicit(&s->state, memory_order_relaxed) == SRV_SLOT_READY)
            siblings.slots[siblings.n++] = s;
    }
}

bool srv_slot_fair_turn(srv_slot *mine, unsigned conns)
{
    atomic_store_explicit(&mine->active_conns, conns, memory_order_relaxed);
    int64_t now = srv_clock_ms();
    if (now - siblings.at >= FAIR_REFRESH_MS)
        find_siblings(mine, now);
    uint64_t total = conns;
    unsigned n = 1;
    for (unsigned i = 0; i < siblings.n; i++) {
        srv_slot *s = siblings.slots[i];
        if (atomic_load_explicit(&s->state, memory_order_relaxed) != SRV_SLOT_READY)
            continue;
        total += atomic_load_explicit(&s->active_conns, memory_order_relaxed);
        n++;
    }
    /* Its share: the average, plus 10% and a few of slack, so that equals
     * do not keep deferring to each other. */
    return (uint64_t)conns * 10 * n <= total * 11 + (uint64_t)SRV_FAIR_SLACK * 10 * n;
}

void srv_slot_await_turn(srv_slot *mine, int lfd, unsigned conns)
{
    if (!mine || gs_wait_fd(lfd, GS_READ, GS_FOREVER) < 0)
        return;
    for (int i = 0; i < SRV_FAIR_DEFER_MS && !srv_slot_fair_turn(mine, conns); i++)
        if (gs_sleep(1) < 0)
            return;
}
