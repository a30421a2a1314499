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

srv_slot *srv_scoreboard_new(void)
{
    void *p = mmap(NULL, SRV_SLOTS * sizeof(srv_slot), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void srv_scoreboard_free(srv_slot *slots)
{
    if (slots)
        munmap(slots, SRV_SLOTS * sizeof(srv_slot));
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
