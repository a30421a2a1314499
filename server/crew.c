/*
 * crew.c -- forking, reaping and replacing workers. See crew.h for the
 * rules.
 */
#include "server/crew.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/log.h"
#include "server/child.h"
#include "server/signals.h"

struct srv_child {
    srv_child *next;
    pid_t pid;
    srv_slot *slot;
    unsigned gen;
    int64_t timeout_ms; /* the watchdog's, from its generation */
    int64_t spawned_ms;
    int64_t ready_ms;      /* 0 until seen ready */
    uint64_t max_requests; /* with its jitter; 0 = none */
    const char *doomed;    /* why it is to be replaced; NULL */
    bool retiring;         /* sent SIGTERM: finishing */
    int64_t kill_at;       /* retiring: SIGKILL past this */
    int64_t asked_ms;      /* the watchdog asked it; 0 = not */
    bool killed;           /* sent SIGKILL */
};

/* A worker that dies this soon after getting ready, before it took a
 * single connection, died of its start-up too. */
#define STARTUP_MS 1000

/* Backoff between starts while workers keep dying at start-up. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000

/* How long the watchdog waits for a stuck worker's answer. */
#define ANSWER_MS 500

/* Past the graceful timeout, how long a retiring worker gets. */
#define RETIRE_MARGIN_MS 5000

/* ---- the list ---- */

int srv_crew_init(srv_crew *c, const srv_master_args *a)
{
    *c = (srv_crew){.a = a,
                    .first = a->gen,
                    .gen = a->gen,
                    .last_gen = a->gen->id,
                    .target = a->gen->settings.workers,
                    .wake_rd = -1,
                    .wake_wr = -1};
    int p[2];
    c->slots = srv_scoreboard_new();
    if (!c->slots || pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    c->wake_rd = p[0];
    c->wake_wr = p[1];
    return 0;
}

static void free_gen(srv_crew *c, srv_gen *g)
{
    if (g == c->first) { /* its settings hold what start-up bound: keep them */
        while (g->nplugins > 0)
            srv_plugin_unload(&g->plugins[--g->nplugins]);
    } else {
        srv_gen_free(g);
    }
}

void srv_crew_free(srv_crew *c)
{
    while (c->children) {
        srv_child *ch = c->children;
        c->children = ch->next;
        free(ch);
    }
    if (c->next)
        free_gen(c, c->next);
    if (c->gen != c->first)
        free_gen(c, c->gen);
    srv_gen_free(c->first);
    srv_scoreboard_free(c->slots);
    if (c->wake_rd >= 0)
        close(c->wake_rd), close(c->wake_wr);
}

unsigned srv_crew_size(const srv_crew *c)
{
    unsigned n = 0;
    for (const srv_child *ch = c->children; ch; ch = ch->next)
        n++;
    return n;
}

enum { FRESH = 1, READY = 2 };

/* Workers of generation gen that are fresh (neither retiring nor due for
 * replacement) and, with READY, ready. */
static unsigned count(const srv_crew *c, unsigned gen, unsigned what)
{
    unsigned n = 0;
    for (const srv_child *ch = c->children; ch; ch = ch->next)
        n += ch->gen == gen && !ch->retiring && !ch->doomed && (!(what & READY) || ch->ready_ms);
    return n;
}

void srv_crew_signal_all(srv_crew *c, int sig)
{
    /* A stop: every worker stops, so none is a sibling to hand off to
     * (mark them all before the first one looks). */
    for (srv_child *ch = c->children; ch && (sig == SIGTERM || sig == SIGINT); ch = ch->next)
        atomic_store(&ch->slot->state, SRV_SLOT_STOPPING);
    for (srv_child *ch = c->children; ch; ch = ch->next)
        if (!ch->killed)
            kill(ch->pid, sig);
}

void srv_crew_drain_wakes(srv_crew *c)
{
    char buf[256];
    while (read(c->wake_rd, buf, sizeof(buf)) > 0)
        ;
}

/* ---- starting ---- */

static uint64_t jittered(unsigned max_requests)
{
    if (!max_requests)
        return 0;
    /* Up to 10% more, so workers started together do not all recycle at
     * once. */
    return max_requests + (uint64_t)random() % (max_requests / 10 + 1);
}

static void run_child(srv_crew *c, srv_gen *g, srv_slot *slot)
{
    srv_child_args ca = {.gen = g,
                         .listeners = c->a->listeners,
                         .nlisteners = c->a->nlisteners,
                         .logs = c->a->logs,
                         .id = &c->a->id,
                         .slot = slot,
                         .slots = c->slots,
                         .master = getppid(),
                         .notify_fd = c->wake_wr};
    srv_child_run(&ca);
}

static srv_child *spawn(srv_crew *c, srv_gen *g)
{
    srv_slot *slot = srv_slot_claim(c->slots, g->id);
    srv_child *ch = slot ? calloc(1, sizeof(*ch)) : NULL;
    if (!ch) {
        rt_log("cannot start a worker: %s", slot ? "out of memory" : "every scoreboard slot taken");
        if (slot)
            srv_slot_release(slot);
        return NULL;
    }
    fflush(NULL); /* or the child would write our buffered output again */
    pid_t pid = fork();
    if (pid == 0)
        run_child(c, g, slot);
    if (pid < 0) {
        rt_log("cannot start a worker: fork: %s", strerror(errno));
        srv_slot_release(slot);
        free(ch);
        return NULL;
    }
    slot->pid = pid;
    *ch = (srv_child){.next = c->children,
                      .pid = pid,
                      .slot = slot,
                      .gen = g->id,
                      .timeout_ms = g->settings.timeout_ms,
                      .spawned_ms = slot->started_ms,
                      .max_requests = jittered(g->settings.max_requests)};
    c->children = ch;
    return ch;
}

/* Start workers of g until it has `want` fresh ones. While workers of
 * the current generation die at start-up, one at a time, and not before
 * the backoff allows. */
static void fill(srv_crew *c, srv_gen *g, unsigned want, int64_t now)
{
    bool careful = c->fails && g == c->gen;
    while (count(c, g->id, FRESH) < want) {
        if (careful && now < c->next_spawn_ms)
            return;
        if (!spawn(c, g))
            return;
        if (careful) {
            c->next_spawn_ms = now + BACKOFF_MAX_MS; /* until this one's fate is known */
            return;
        }
    }
}

/* ---- retiring ---- */

/* Marked stopping in the scoreboard before any of them is told: a
 * retiring worker hands its connections to the ready ones (see
 * srv_handoff_targets), which must not be retiring too. */
static void mark_retiring(srv_child *ch)
{
    atomic_store(&ch->slot->state, SRV_SLOT_STOPPING);
}

static void retire(srv_crew *c, srv_child *ch, int64_t now)
{
    mark_retiring(ch);
    ch->retiring = true;
    ch->kill_at = now + c->gen->settings.graceful_timeout_ms + RETIRE_MARGIN_MS;
    kill(ch->pid, SIGTERM);
}

/* Which worker goes when there are too many: one not ready yet, else the
 * youngest. */
static srv_child *extra(srv_crew *c)
{
    srv_child *pick = NULL;
    for (srv_child *ch = c->children; ch; ch = ch->next) {
        if (ch->gen != c->gen->id || ch->retiring || ch->doomed)
            continue;
        if (!ch->ready_ms)
            return ch;
        if (!pick || ch->spawned_ms > pick->spawned_ms)
            pick = ch;
    }
    return pick;
}

/* Too many fresh workers (SIGTTOU): retire the extra ones. Workers due
 * for replacement: retire them once their replacements are all ready. */
static void trim(srv_crew *c, int64_t now)
{
    srv_child *ch;
    while (count(c, c->gen->id, FRESH) > c->target && (ch = extra(c))) {
        rt_log("worker %d (generation %u): one worker fewer: retiring it", (int)ch->pid, ch->gen);
        retire(c, ch, now);
    }
    if (count(c, c->gen->id, FRESH | READY) < c->target)
        return;
    for (ch = c->children; ch; ch = ch->next)
        if (ch->doomed && !ch->retiring)
            mark_retiring(ch);
    for (ch = c->children; ch; ch = ch->next)
        if (ch->doomed && !ch->retiring)
            retire(c, ch, now);
}

void srv_crew_resize(srv_crew *c, int delta)
{
    if (delta < 0 && c->target <= 1) {
        rt_log("SIGTTOU: keeping the last worker");
        return;
    }
    if (delta > 0 && c->target >= SRV_SLOTS / 2) {
        rt_log("SIGTTIN: %u workers is the most", c->target);
        return;
    }
    c->target = (unsigned)((int)c->target + delta);
    rt_log("%s: %u worker(s) now", delta > 0 ? "SIGTTIN" : "SIGTTOU", c->target);
}

/* ---- generations ---- */

void srv_crew_start_generation(srv_crew *c, srv_gen *g)
{
    c->next = g;
    c->last_gen = g->id;
    rt_log("generation %u: starting %u worker(s)", g->id, g->settings.workers);
}

static void switch_generation(srv_crew *c, int64_t now)
{
    for (srv_child *ch = c->children; ch; ch = ch->next)
        if (ch->gen != c->next->id && !ch->retiring)
            mark_retiring(ch);
    for (srv_child *ch = c->children; ch; ch = ch->next)
        if (ch->gen != c->next->id && !ch->retiring)
            retire(c, ch, now);
    rt_log("generation %u ready: retiring generation %u", c->next->id, c->gen->id);
    free_gen(c, c->gen);
    c->gen = c->next;
    c->next = NULL;
    c->target = c->gen->settings.workers;
    c->fails = 0; /* new code: a clean slate */
    c->reload_done = true;
}

static void abandon_reload(srv_crew *c, int64_t now)
{
    rt_log("reload abandoned: a worker of generation %u died at start-up; generation %u keeps "
           "serving",
           c->next->id, c->gen->id);
    for (srv_child *ch = c->children; ch; ch = ch->next)
        if (ch->gen == c->next->id && !ch->retiring)
            retire(c, ch, now);
    free_gen(c, c->next);
    c->next = NULL;
    c->reload_done = true;
}

/* ---- reaping ---- */

static void describe(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "was killed by %s%s", srv_signal_name(WTERMSIG(st)),
                 WCOREDUMP(st) ? " (core dumped)" : "");
    else
        snprintf(buf, n, "ended (status %#x)", st);
}

static void backoff(srv_crew *c, int64_t now)
{
    c->fails++;
    c->last_fail_ms = now;
    int64_t delay = BACKOFF_MIN_MS << (c->fails - 1 < 7 ? c->fails - 1 : 7);
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    c->next_spawn_ms = now + delay;
    rt_log("workers keep dying at start-up (%u in a row): backing off, next start in %lld ms",
           c->fails, (long long)delay);
}

static void died_at_startup(srv_crew *c, const srv_child *ch, int st, int64_t now)
{
    if (c->next && ch->gen == c->next->id)
        abandon_reload(c, now);
    else if (!c->serving)
        c->failed = WIFEXITED(st) && WEXITSTATUS(st) == CFG_EXIT_USAGE ? CFG_EXIT_USAGE : 1;
    else if (ch->gen == c->gen->id)
        backoff(c, now);
}

static void ended(srv_crew *c, srv_child *ch, int st)
{
    int64_t now = srv_clock_ms();
    char how[96];
    describe(st, how, sizeof(how));
    bool at_startup =
        !ch->ready_ms || (now - ch->ready_ms < STARTUP_MS && atomic_load(&ch->slot->accepted) == 0);
    bool expected = ch->retiring || c->stopping;
    if (expected && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        rt_log("worker %d (generation %u) stopped", (int)ch->pid, ch->gen);
        return;
    }
    rt_log("worker %d (generation %u) %s%s after %.1f s", (int)ch->pid, ch->gen, how,
           at_startup ? " at start-up" : "", (double)(now - ch->spawned_ms) / 1000);
    if (!expected && at_startup && !c->failed)
        died_at_startup(c, ch, st, now);
}

void srv_crew_reap(srv_crew *c)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (srv_child **p = &c->children; *p; p = &(*p)->next) {
            srv_child *ch = *p;
            if (ch->pid != pid)
                continue;
            *p = ch->next;
            ended(c, ch, st);
            srv_slot_release(ch->slot);
            free(ch);
            break;
        }
    }
}

/* ---- watching them ---- */

/* Workers that got ready since the last look; the first generation's
 * start-up ends when all of it is; a worker that stays up clears the
 * backoff. */
static void notice_ready(srv_crew *c, int64_t now)
{
    for (srv_child *ch = c->children; ch; ch = ch->next) {
        if (!ch->ready_ms && atomic_load(&ch->slot->state) == SRV_SLOT_READY) {
            ch->ready_ms = now;
            rt_log("worker %d ready (generation %u)", (int)ch->pid, ch->gen);
        }
        if (c->fails && ch->ready_ms && ch->spawned_ms > c->last_fail_ms &&
            now - ch->ready_ms >= STARTUP_MS) {
            rt_log("workers start again after %u failure(s)", c->fails);
            c->fails = 0;
        }
    }
    if (!c->serving && count(c, c->first->id, FRESH | READY) >= c->target)
        c->serving = true;
}

static void watchdog(srv_child *ch, int64_t now)
{
    int64_t age = now - atomic_load(&ch->slot->heartbeat_ms);
    if (ch->killed || ch->timeout_ms < 0 || age <= ch->timeout_ms) {
        ch->asked_ms = 0;
        return;
    }
    if (!ch->asked_ms) {
        srv_slot_ask(ch->slot);
        ch->asked_ms = now;
        return;
    }
    bool answered = srv_slot_answered(ch->slot);
    if (!answered && now - ch->asked_ms < ANSWER_MS)
        return;
    rt_log("watchdog: worker %d (generation %u) has not ticked for %.1f s (--timeout %.1f s): "
           "killing it; it was running %s",
           (int)ch->pid, ch->gen, (double)age / 1000, (double)ch->timeout_ms / 1000,
           answered ? ch->slot->report : "(no answer)");
    kill(ch->pid, SIGKILL);
    ch->killed = true;
}

static void overdue(srv_child *ch, int64_t now)
{
    if (!ch->retiring || ch->killed || now < ch->kill_at)
        return;
    rt_log("worker %d (generation %u) still not stopped past the graceful timeout: killing it",
           (int)ch->pid, ch->gen);
    kill(ch->pid, SIGKILL);
    ch->killed = true;
}

/* ---- recycling ---- */

static uint64_t read_rss(pid_t pid)
{
    char path[64];
    unsigned long long size = 0, resident = 0;
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void doom(srv_child *ch, const char *why, const char *detail)
{
    ch->doomed = why;
    rt_log("worker %d (generation %u): %s (--%s): replacing it", (int)ch->pid, ch->gen, detail,
           why);
}

static void recycle(srv_crew *c, srv_child *ch, int64_t now, bool rss_due)
{
    const cfg_settings *s = &c->gen->settings;
    char detail[96];
    uint64_t rss = rss_due ? read_rss(ch->pid) : atomic_load(&ch->slot->rss_bytes);
    atomic_store(&ch->slot->rss_bytes, rss);
    if (ch->gen != c->gen->id || ch->doomed || ch->retiring || !ch->ready_ms)
        return;
    uint64_t served = atomic_load(&ch->slot->requests);
    if (ch->max_requests && served >= ch->max_requests) {
        snprintf(detail, sizeof(detail), "%llu requests served", (unsigned long long)served);
        doom(ch, "max-requests", detail);
    } else if (s->max_memory_mb && rss > (uint64_t)s->max_memory_mb << 20) {
        snprintf(detail, sizeof(detail), "RSS %llu MB", (unsigned long long)(rss >> 20));
        doom(ch, "max-memory", detail);
    } else if (s->max_age_ms >= 0 && now - ch->spawned_ms >= s->max_age_ms) {
        snprintf(detail, sizeof(detail), "%.0f s old", (double)(now - ch->spawned_ms) / 1000);
        doom(ch, "max-age", detail);
    }
}

void srv_crew_watch(srv_crew *c, int64_t now)
{
    for (srv_child *ch = c->children; ch; ch = ch->next)
        watchdog(ch, now);
}

void srv_crew_tend(srv_crew *c, int64_t now)
{
    notice_ready(c, now);
    bool rss_due = now - c->last_rss_ms >= 1000;
    if (rss_due)
        c->last_rss_ms = now;
    for (srv_child *ch = c->children; ch; ch = ch->next) {
        watchdog(ch, now);
        overdue(ch, now);
        recycle(c, ch, now, rss_due);
    }
    fill(c, c->gen, c->target, now);
    trim(c, now);
    if (c->next) {
        fill(c, c->next, c->next->settings.workers, now);
        if (c->next && count(c, c->next->id, FRESH | READY) >= c->next->settings.workers)
            switch_generation(c, now);
    }
}
