/*
 * test_handoff.c -- connections survive their worker. One run holds
 * 2,000 parked long-polls and 200 SSE streams on two workers while
 * messages are published at a steady 50 a second, through a reload
 * (SIGHUP) and then a --max-memory recycle: every client gets every
 * message exactly once and in order, on the one connection it opened (no
 * disconnect, no Connection: close), and the retired workers are gone.
 * Smaller cases: SIGTTOU; a stream moved twice with no event between; a
 * moved long-poll keeps its deadline; a running request finishes on the
 * old worker and then its connection moves; an app without
 * GS_APP_HANDOFF, and a stop, still drain (-ESHUTDOWN); a stranger cannot
 * hand connections over.
 *
 * The clients are green threads of this process (support/gclient.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <greenserve.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "support/client.h"
#include "support/gclient.h"
#include "support/server.h"

#define LP_CLIENTS  2000
#define SSE_CLIENTS 200
#define TOTAL       240 /* messages: 4.8 s at 50 a second */
#define PACE_MS     20
#define PUBLISHERS  4 /* connections: one alone would publish as slowly as the server answers */
#define ROOM        "ho"
#define IO_MS       10000
#define RUN_MS      35000

static ts_server srv;
static int64_t deadline;

typedef struct client {
    unsigned next;               /* messages it got */
    uint64_t cursor;             /* the last id it got */
    uint64_t first, sse_id;      /* the first id it got; an SSE event's id: line */
    uint8_t seen[TOTAL / 8 + 1]; /* by message number */
    unsigned conns, disconnects, closes;
    char part[64]; /* an SSE line cut by a chunk's end */
    size_t plen;
    bool counted;                  /* in `started` */
    int64_t last_ms, worst_gap_ms; /* when it got a message; the longest wait for one */
    unsigned worst_at;
    char failure[200];
} client;

static client lp[LP_CLIENTS], sse[SSE_CLIENTS];
static unsigned started;   /* clients whose first request is out */
static unsigned published; /* messages the publishers got an id for */
static uint64_t first_id;  /* the room's first message */
static int64_t pub_t0, pub_done_ms;
static char pub_failure[200];

static void fail(client *cl, const char *what, const char *detail)
{
    if (!cl->failure[0])
        snprintf(cl->failure, sizeof(cl->failure), "%s: %.150s", what, detail);
}

/* Message id, "m<i>": ids go up one by one (a channel numbers its
 * messages consecutively: a gap is a loss, the same id twice or going
 * back a duplicate), and each i comes once. */
static void take(client *cl, uint64_t id, const char *data)
{
    int i = data[0] == 'm' ? atoi(data + 1) : -1;
    if (i < 0 || i >= TOTAL || (cl->seen[i / 8] & (1u << (i % 8))))
        fail(cl, "a duplicate or a stranger", data);
    else if (cl->next > 0 && id != cl->cursor + 1)
        fail(cl, "a gap or a duplicate id at", data);
    if (cl->failure[0])
        return;
    cl->seen[i / 8] |= (uint8_t)(1u << (i % 8));
    cl->first = cl->next++ ? cl->first : id;
    cl->cursor = id;
    int64_t now = gs_now_ms();
    if (cl->last_ms && now - cl->last_ms > cl->worst_gap_ms) {
        cl->worst_gap_ms = now - cl->last_ms;
        cl->worst_at = cl->next;
    }
    cl->last_ms = now;
}

/* ---- long-poll clients ---- */

static void lp_take(client *cl, const char *body)
{
    for (const char *p = body; (p = strstr(p, "{\"id\":")); p++) {
        const char *data = strstr(p, "\"data\":\"");
        if (!data)
            break;
        take(cl, strtoull(p + 6, NULL, 10), data + 8);
    }
    const char *last = strstr(body, "\"last\":");
    if (!last || strstr(body, "\"dropped\":true"))
        fail(cl, "a bad answer", body);
    else
        cl->cursor = strtoull(last + 7, NULL, 10);
}

/* One poll on c: 0; 1 when the answer said Connection: close; or the
 * connection's end (-ECONNRESET, -EPIPE) or another -errno. */
static int lp_poll(client *cl, tg_conn *c)
{
    char req[200];
    int n =
        snprintf(req, sizeof(req),
                 "GET /chat/poll?room=" ROOM "&after=%llu&timeout=30 HTTP/1.1\r\nHost: t\r\n\r\n",
                 (unsigned long long)cl->cursor);
    tg_head h;
    char *body = NULL;
    int err = tg_send(c, req, (size_t)n, IO_MS);
    started += !cl->counted;
    cl->counted = true;
    if (!err)
        err = tg_read_head(c, &h, IO_MS);
    if (!err)
        err = tg_read_body(c, &h, &body, IO_MS);
    if (!err && h.status != 200)
        fail(cl, "a poll failed", body);
    else if (!err)
        lp_take(cl, body);
    free(body);
    return err ? err : h.close;
}

static void *poller(void *arg)
{
    client *cl = arg;
    tg_conn c = {.fd = -1};
    while (cl->next < TOTAL && !cl->failure[0] && !pub_failure[0] && gs_now_ms() < deadline) {
        if (c.fd < 0) {
            if (tg_open(&c, srv.port, IO_MS) < 0) {
                gs_sleep(50);
                continue;
            }
            cl->conns++;
        }
        int r = lp_poll(cl, &c);
        if (r == 0)
            continue;
        if (r == 1)
            cl->closes++;
        else if (r == -ECONNRESET || r == -EPIPE)
            cl->disconnects++;
        else
            fail(cl, "a poll failed", strerror(-r));
        tg_close(&c);
    }
    tg_close(&c);
    return NULL;
}

/* ---- SSE clients ---- */

static void sse_line(client *cl, const char *line)
{
    if (strncmp(line, "id: ", 4) == 0)
        cl->sse_id = strtoull(line + 4, NULL, 10);
    else if (strncmp(line, "data: ", 6) == 0)
        take(cl, cl->sse_id, line + 6);
    else if (strncmp(line, "event: dropped", 14) == 0)
        fail(cl, "dropped", line);
}

static void sse_take(client *cl, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            if (cl->plen < sizeof(cl->part) - 1)
                cl->part[cl->plen++] = p[i];
            continue;
        }
        cl->part[cl->plen] = '\0';
        sse_line(cl, cl->part);
        cl->plen = 0;
    }
}

/* One stream, from the client's cursor, until it ends. */
static void sse_stream(client *cl, tg_conn *c)
{
    char req[200], buf[16384];
    int n = snprintf(req, sizeof(req),
                     "GET /chat/events?room=" ROOM " HTTP/1.1\r\nHost: t\r\n%s%llu\r\n\r\n",
                     cl->cursor ? "Last-Event-ID: " : "X-From: ", (unsigned long long)cl->cursor);
    tg_head h;
    int err = tg_send(c, req, (size_t)n, IO_MS);
    started += !cl->counted;
    cl->counted = true;
    if (!err)
        err = tg_read_head(c, &h, IO_MS);
    if (!err && (h.status != 200 || !h.chunked)) {
        fail(cl, "not a stream", "");
        return;
    }
    ssize_t got;
    while (!err && cl->next < TOTAL && !cl->failure[0] &&
           (got = tg_read_chunk(c, buf, sizeof(buf), IO_MS)) > 0)
        sse_take(cl, buf, (size_t)got);
}

static void *streamer(void *arg)
{
    client *cl = arg;
    while (cl->next < TOTAL && !cl->failure[0] && !pub_failure[0] && gs_now_ms() < deadline) {
        tg_conn c;
        if (tg_open(&c, srv.port, IO_MS) < 0) {
            gs_sleep(50);
            continue;
        }
        cl->conns++;
        cl->plen = 0;
        sse_stream(cl, &c);
        cl->disconnects += cl->next < TOTAL && !cl->failure[0];
        tg_close(&c);
    }
    return NULL;
}

/* ---- publishers: keep-alive connections, a steady pace in all ---- */

static int publish(tg_conn *c, int i, uint64_t *id)
{
    char req[200], body[16];
    int blen = snprintf(body, sizeof(body), "m%d", i);
    int n = snprintf(req, sizeof(req),
                     "POST /chat/send?room=" ROOM " HTTP/1.1\r\nHost: t\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     blen, body);
    tg_head h;
    char *answer = NULL;
    int err = tg_send(c, req, (size_t)n, IO_MS);
    if (!err)
        err = tg_read_head(c, &h, IO_MS);
    if (!err)
        err = tg_read_body(c, &h, &answer, IO_MS);
    if (!err && (h.status != 200 || h.close)) {
        fprintf(stderr, "publisher: message %d answered %d%s: %s\n", i, h.status,
                h.close ? " with Connection: close" : "", answer ? answer : "");
        err = -EPROTO;
    }
    *id = err ? 0 : strtoull(strchr(answer, ':') + 1, NULL, 10);
    free(answer);
    return err;
}

/* Publisher k sends the messages i = k mod PUBLISHERS, each at
 * pub_t0 + i * PACE_MS (or as soon as it can once late). */
static void *publisher(void *arg)
{
    int k = (int)(intptr_t)arg;
    tg_conn c;
    if (tg_open(&c, srv.port, IO_MS) < 0) {
        snprintf(pub_failure, sizeof(pub_failure), "cannot connect");
        return NULL;
    }
    for (int i = k; i < TOTAL && !pub_failure[0]; i += PUBLISHERS) {
        int64_t due = pub_t0 + (int64_t)i * PACE_MS - gs_now_ms();
        if (due > 0)
            gs_sleep(due);
        uint64_t id;
        int err = publish(&c, i, &id);
        if (err) {
            snprintf(pub_failure, sizeof(pub_failure), "message %d: %s", i, strerror(-err));
            break;
        }
        first_id = first_id && first_id < id ? first_id : id;
        published++;
        pub_done_ms = gs_now_ms();
    }
    tg_close(&c);
    return NULL;
}

/* ---- the scenario ---- */

static bool gone(pid_t pid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    return stat(path, &st) < 0 && errno == ENOENT;
}

/* What retires workers once `at` messages are out: it returns the pids
 * that must be gone afterwards, once they have stopped. */
typedef int (*trigger_fn)(pid_t *retired, int max);

typedef struct trigger {
    const char *name;
    unsigned at;
    trigger_fn fn;
    pid_t retired[4];
    int nretired;
    int64_t at_ms, done_ms;
} trigger;

#define NTRIGGERS 2

static void *run_triggers(void *arg)
{
    trigger *t = arg;
    for (int i = 0; i < NTRIGGERS; i++) {
        while (published < t[i].at && !pub_failure[0] && gs_now_ms() < deadline)
            gs_sleep(5);
        t[i].at_ms = gs_now_ms();
        t[i].nretired = t[i].fn(t[i].retired, 4);
        t[i].done_ms = gs_now_ms();
    }
    return NULL;
}

/* The log lines of the retired workers' hand-offs: how many connections
 * they handed in all; the longest time their first rounds took (what was
 * parked or idle when they retired), and the longest to their last one. */
typedef struct handoffs {
    unsigned count;
    long first_ms, last_ms;
} handoffs;

static bool retired_pid(const trigger *t, int pid)
{
    for (int i = 0; i < t->nretired; i++)
        if (pid == t->retired[i])
            return true;
    return false;
}

static handoffs handed(const trigger *t)
{
    static char log[1 << 20];
    ts_read_file(srv.error_log, log, sizeof(log));
    handoffs h = {0};
    for (const char *p = log; (p = strstr(p, "handoff: ")); p++) {
        unsigned n, k;
        long ms;
        const char *pid = p;
        while (pid > log && pid[-1] != '[')
            pid--;
        if (!retired_pid(t, atoi(pid)))
            continue;
        if (sscanf(p, "handoff: %u connection(s) handed in all, the last %ld ms", &n, &ms) == 2) {
            h.count += n;
            h.last_ms = ms > h.last_ms ? ms : h.last_ms;
        } else if (sscanf(p, "handoff: %u connection(s) handed to %u worker(s) in %ld ms", &n, &k,
                          &ms) == 3) {
            h.first_ms = ms > h.first_ms ? ms : h.first_ms;
        }
    }
    return h;
}

static void check_clients(const char *kind, client *cls, int n)
{
    unsigned conns = 0;
    int worst = 0;
    for (int i = 0; i < n; i++)
        worst = cls[i].worst_gap_ms > cls[worst].worst_gap_ms ? i : worst;
    cr_log_info("%s clients: the longest wait for a message: %lld ms (client %d, message %u)", kind,
                (long long)cls[worst].worst_gap_ms, worst, cls[worst].worst_at);
    for (int i = 0; i < n; i++) {
        client *cl = &cls[i];
        cr_assert_eq(cl->failure[0], '\0', "%s client %d: %s", kind, i, cl->failure);
        cr_assert_eq(cl->next, TOTAL, "%s client %d got %u of %d messages", kind, i, cl->next,
                     TOTAL);
        cr_assert_eq(cl->first, first_id, "%s client %d missed the first message(s)", kind, i);
        cr_assert_eq(cl->disconnects, 0, "%s client %d was disconnected %u time(s)", kind, i,
                     cl->disconnects);
        cr_assert_eq(cl->closes, 0, "%s client %d was told to reconnect", kind, i);
        conns += cl->conns;
    }
    cr_assert_eq(conns, (unsigned)n, "%s clients opened %u connections", kind, conns);
}

static void check_trigger(const trigger *t)
{
    cr_assert(t->nretired > 0, "%s: no worker was retired", t->name);
    for (int i = 0; i < t->nretired; i++)
        cr_assert(gone(t->retired[i]), "%s: retired worker %d is still there", t->name,
                  (int)t->retired[i]);
    handoffs h = handed(t);
    cr_assert_gt(h.count, 0u, "%s: nothing was handed off", t->name);
    cr_log_info("%s: %u connection(s) handed by %d retired worker(s); from a worker's "
                "retirement, its first rounds took at most %ld ms, its last connection went "
                "%ld ms after; %lld ms from the trigger to the last one's exit",
                t->name, h.count, t->nretired, h.first_ms, h.last_ms,
                (long long)(t->done_ms - t->at_ms));
}

/* 2,000 long-polls and 200 streams, then a publisher and the triggers. */
static void scenario(const char *const *argv, trigger *tr)
{
    cr_assert_geq(tg_raise_nofile(), LP_CLIENTS + SSE_CLIENTS + 100);
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, " ready (generation 1)", 2, 5000));
    deadline = gs_now_ms() + RUN_MS;
    gs_thread *t[LP_CLIENTS + SSE_CLIENTS + PUBLISHERS + 1];
    int nt = 0;
    for (int i = 0; i < LP_CLIENTS; i++)
        t[nt++] = gs_spawn(poller, &lp[i]);
    for (int i = 0; i < SSE_CLIENTS; i++)
        t[nt++] = gs_spawn(streamer, &sse[i]);
    while (started < LP_CLIENTS + SSE_CLIENTS && gs_now_ms() < deadline)
        gs_sleep(10);
    cr_assert_eq(started, LP_CLIENTS + SSE_CLIENTS, "only %u clients started", started);
    pub_t0 = gs_now_ms();
    for (intptr_t k = 0; k < PUBLISHERS; k++)
        t[nt++] = gs_spawn(publisher, (void *)k);
    t[nt++] = gs_spawn(run_triggers, tr);
    for (int i = 0; i < nt; i++)
        cr_assert_eq(gs_join(t[i], NULL, RUN_MS + IO_MS), 0);
    cr_log_info("%d messages published in %lld ms, the clients had them all %lld ms later", TOTAL,
                (long long)(pub_done_ms - pub_t0), (long long)(gs_now_ms() - pub_done_ms));

    cr_assert_eq(pub_failure[0], '\0', "publisher: %s", pub_failure);
    cr_assert_eq(published, TOTAL);
    check_clients("long-poll", lp, LP_CLIENTS);
    check_clients("SSE", sse, SSE_CLIENTS);
    for (int i = 0; i < NTRIGGERS; i++)
        check_trigger(&tr[i]);
    ts_stop(&srv, 10000);
}

/* ---- reload ---- */

static int reload(pid_t *retired, int max)
{
    int n = ts_generation_pids(&srv, "1", retired, max);
    size_t from = ts_file_size(srv.error_log);
    ts_signal(&srv, SIGHUP);
    while (ts_log_count(srv.error_log, from, " (generation 1) stopped") < (size_t)n &&
           gs_now_ms() < deadline)
        gs_sleep(20);
    return n;
}

/* ---- --max-memory recycle ---- */

/* Well above what a worker holding every client takes (AddressSanitizer's
 * shadow and quarantine take a lot more), and the hog well above that. */
#if defined(__SANITIZE_ADDRESS__)
#define MAX_MEMORY_MB "800"
#define HOG_MB        "900"
#else
#define MAX_MEMORY_MB "100"
#define HOG_MB        "160"
#endif

/* The parked polls chat's /stats reports in text (its worker's pid in
 * *pid if not NULL), or -1. */
static int stats_polls(const char *text, int *pid)
{
    const char *p = text ? strstr(text, "{\"pid\":") : NULL;
    int who, polls;
    if (!p || sscanf(p, "{\"pid\":%d,\"polls\":%d", &who, &polls) != 2)
        return -1;
    if (pid)
        *pid = who;
    return polls;
}

/* Whether the worker at the other end of c holds long-polls (its chat
 * /stats), the connection kept open. */
static bool holds_polls(tg_conn *c)
{
    static const char req[] = "GET /chat/stats HTTP/1.1\r\nHost: t\r\n\r\n";
    tg_head h;
    char *body = NULL;
    int err = tg_send(c, req, sizeof(req) - 1, IO_MS);
    if (!err)
        err = tg_read_head(c, &h, IO_MS);
    if (!err)
        err = tg_read_body(c, &h, &body, IO_MS);
    bool holds = !err && stats_polls(body, NULL) > 0;
    free(body);
    return holds;
}

/* Make one worker that holds clients pass --max-memory
 * (tests/plugins/hog.so): the master replaces it and retires it. A
 * connection lands on either worker, and one may hold none (a reload may
 * have handed every client to the first one ready), so the hog is asked
 * on a connection whose worker says it holds some. Its pid, or 0. */
static pid_t hog_a_worker(void)
{
    tg_conn c;
    tg_head h;
    char *body = NULL;
    static const char req[] =
        "GET /hog?" HOG_MB " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int err = -EAGAIN;
    for (int tries = 0; err == -EAGAIN && tries < 100; tries++) {
        err = tg_open(&c, srv.port, IO_MS);
        if (!err && !holds_polls(&c)) {
            tg_close(&c);
            err = -EAGAIN;
        }
    }
    if (!err)
        err = tg_send(&c, req, sizeof(req) - 1, IO_MS);
    if (!err)
        err = tg_read_head(&c, &h, IO_MS);
    if (!err)
        err = tg_read_body(&c, &h, &body, IO_MS);
    tg_close(&c);
    pid_t pid = err ? 0 : atoi(body);
    free(body);
    return pid;
}

/* The trigger: hog_a_worker on generation 2 (after the reload), its pid
 * once it has stopped. */
static int recycle(pid_t *retired, int max)
{
    (void)max;
    retired[0] = hog_a_worker();
    if (retired[0] <= 0)
        return 0;
    char line[64];
    snprintf(line, sizeof(line), "worker %d (generation 2) stopped", (int)retired[0]);
    while (ts_log_count(srv.error_log, 0, line) == 0 && gs_now_ms() < deadline)
        gs_sleep(20);
    return 1;
}

/* One run, the two ways a worker retires gracefully with clients on it,
 * one after the other: the second one hands over connections the first
 * one handed over. (One test, not two: each needs both cores.) */
Test(handoff, reload_and_recycle_keep_every_long_poll_and_stream, .timeout = 60)
{
    const char *argv[] = {"--workers",
                          "2",
                          "--max-memory",
                          MAX_MEMORY_MB,
                          "/chat={build}/apps/chat.so:history=8192",
                          "/hog={build}/tests/plugins/hog.so",
                          NULL};
    trigger tr[NTRIGGERS] = {{.name = "reload (SIGHUP)", .at = TOTAL / 4, .fn = reload},
                             {.name = "--max-memory recycle", .at = TOTAL * 5 / 8, .fn = recycle}};
    scenario(argv, tr);
}

/* ---- what does not move ---- */

/* The parked polls of the worker a new connection lands on (its pid in
 * *pid if not NULL), or -1. */
static int chat_polls(int port, int *pid)
{
    char buf[1024];
    ssize_t n = ts_request(port, "GET /chat/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                           buf, sizeof(buf), 5000);
    return stats_polls(n > 0 ? buf : NULL, pid);
}

/* A chat long-poll on a new connection, parked once /stats counts it. */
static int park_chat_poll(int port)
{
    int fd = ts_connect(port);
    static const char req[] = "GET /chat/poll?room=still&timeout=30 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert(fd >= 0 && ts_send(fd, req, sizeof(req) - 1) == 0);
    int64_t end = ts_now_ms() + 5000;
    while (chat_polls(port, NULL) < 1 && ts_now_ms() < end)
        gs_sleep(10);
    cr_assert_eq(chat_polls(port, NULL), 1, "the poll did not park");
    return fd;
}

/* tests/plugins/longpoll.so has no GS_APP_HANDOFF: its wait ends with
 * -ESHUTDOWN on the retiring worker ("stopped"), while chat's poll on the
 * same worker moves, and answers from the new one when a message comes. */
Test(handoff, an_app_without_the_flag_drains_as_before, .timeout = 30)
{
    const char *argv[] = {"--workers", "1", "/lp={build}/tests/plugins/longpoll.so",
                          "/chat={build}/apps/chat.so", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait(&srv, srv.error_log, " ready (generation 1)", 5000));
    int lp_fd = ts_connect(srv.port);
    static const char lp_req[] = "GET /lp?60000 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert(lp_fd >= 0 && ts_send(lp_fd, lp_req, sizeof(lp_req) - 1) == 0);
    cr_assert(ts_log_wait(&srv, srv.output, "longpoll: waiting", 5000));
    int chat_fd = park_chat_poll(srv.port);

    size_t from = ts_file_size(srv.error_log);
    ts_signal(&srv, SIGHUP);
    cr_assert(ts_log_wait_from(&srv, srv.error_log, from, " (generation 1) stopped", 10000));

    char buf[4096];
    cr_assert_gt(ts_recv_response(lp_fd, buf, sizeof(buf), false, 5000), 0);
    cr_assert_eq(ts_status(buf), 200);
    cr_assert_str_eq(ts_body(buf), "stopped\n", "the wait did not end with -ESHUTDOWN: %s", buf);
    cr_assert(ts_log_wait_from(&srv, srv.error_log, from, "handoff: 1 connection(s) handed", 1000),
              "chat's poll did not move");
    char sent[256];
    cr_assert_gt(ts_request(srv.port,
                            "POST /chat/send?room=still HTTP/1.1\r\nHost: t\r\nContent-Length: 5"
                            "\r\nConnection: close\r\n\r\nhello",
                            sent, sizeof(sent), 5000),
                 0);
    cr_assert_gt(ts_recv_response(chat_fd, buf, sizeof(buf), false, 5000), 0);
    cr_assert_eq(ts_status(buf), 200);
    cr_assert(strstr(ts_body(buf), "\"data\":\"hello\""), "%s", buf);
    close(lp_fd);
    close(chat_fd);
    ts_stop(&srv, 5000);
}

/* A stop leaves no worker to move to: waits end as before, and say so. */
Test(handoff, a_stop_drains_as_before, .timeout = 30)
{
    const char *argv[] = {"--workers", "2", "/chat={build}/apps/chat.so", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, " ready (generation 1)", 2, 5000));
    int sse_fd = ts_connect(srv.port);
    static const char sse_req[] = "GET /chat/events?room=s HTTP/1.1\r\nHost: t\r\n\r\n";
    char buf[4096];
    cr_assert(sse_fd >= 0 && ts_send(sse_fd, sse_req, sizeof(sse_req) - 1) == 0);
    cr_assert_gt(ts_recv_response(sse_fd, buf, sizeof(buf), true, 5000), 0);
    int chat_fd = ts_connect(srv.port);
    static const char req[] = "GET /chat/poll?room=s&timeout=30 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert(chat_fd >= 0 && ts_send(chat_fd, req, sizeof(req) - 1) == 0);

    ts_signal(&srv, SIGTERM);
    cr_assert_gt(ts_recv_response(chat_fd, buf, sizeof(buf), false, 5000), 0);
    cr_assert_eq(ts_status(buf), 200);
    char v[32];
    cr_assert(ts_header(buf, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0, "%s", buf);
    cr_assert_geq(ts_recv_all(sse_fd, buf, sizeof(buf), 5000), 0, "the stream did not end");
    cr_assert(strstr(buf, ": server restarting\nretry: 1000"), "no drain hint: %s", buf);
    cr_assert_eq(ts_wait_exit(&srv, 10000) >= 0, true);
    cr_assert_eq(ts_log_count(srv.error_log, 0, "handoff:"), 0);
    close(sse_fd);
    close(chat_fd);
    ts_stop(&srv, 1000);
}

/* ---- one worker fewer ---- */

/* Read fd until needle has come (or the timeout, or the end). */
static bool recv_until(int fd, const char *needle, int timeout_ms)
{
    char buf[8192];
    size_t have = 0;
    int64_t end = ts_now_ms() + timeout_ms;
    while (ts_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(end - ts_now_ms())) <= 0)
            break;
        ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, needle))
            return true;
        if (have > sizeof(buf) / 2) { /* keep the tail: the needle may straddle */
            memmove(buf, buf + have - 64, 64);
            have = 64;
        }
    }
    return false;
}

#define TTOU_STREAMS 40

/* SIGTTOU: the worker that goes hands its streams to the one that stays.
 * Each worker has its own socket (--reuse-port), so the streams spread. */
Test(handoff, one_worker_fewer_hands_its_streams_to_the_other, .timeout = 30)
{
    const char *argv[] = {"--workers", "2", "--reuse-port", "/chat={build}/apps/chat.so", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, " ready (generation 1)", 2, 5000));
    int fds[TTOU_STREAMS];
    static const char req[] = "GET /chat/events?room=ttou HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < TTOU_STREAMS; i++) {
        fds[i] = ts_connect(srv.port);
        cr_assert(fds[i] >= 0 && ts_send(fds[i], req, sizeof(req) - 1) == 0);
        cr_assert(recv_until(fds[i], "retry: ", 5000), "stream %d did not start", i);
    }
    size_t from = ts_file_size(srv.error_log);
    ts_signal(&srv, SIGTTOU);
    cr_assert(ts_log_wait_from(&srv, srv.error_log, from, ") stopped", 10000));
    cr_assert(ts_log_wait_from(&srv, srv.error_log, from, "connection(s) handed in all", 1000),
              "the worker that went handed nothing over");
    char sent[256];
    cr_assert_gt(ts_request(srv.port,
                            "POST /chat/send?room=ttou HTTP/1.1\r\nHost: t\r\nContent-Length: 5"
                            "\r\nConnection: close\r\n\r\nafter",
                            sent, sizeof(sent), 5000),
                 0);
    for (int i = 0; i < TTOU_STREAMS; i++) {
        cr_assert(recv_until(fds[i], "data: after\n", 5000), "stream %d lost", i);
        close(fds[i]);
    }
    ts_stop(&srv, 5000);
}

/* Only a child of the same master may hand connections over: anyone on
 * the host can reach an abstract socket. */
Test(handoff, a_stranger_cannot_hand_over, .timeout = 20)
{
    const char *argv[] = {"--workers", "1", "/chat={build}/apps/chat.so", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait(&srv, srv.error_log, " ready (generation 1)", 5000));
    pid_t worker;
    cr_assert_eq(ts_generation_pids(&srv, "1", &worker, 1), 1);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n =
        snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "greenserve-handoff-%d", (int)worker);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    cr_assert(connect(fd, (struct sockaddr *)&sa,
                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0,
              "the worker does not listen for hand-offs");
    char buf[64];
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(recv(fd, buf, sizeof(buf), 0), 0, "a stranger was not turned away");
    close(fd);
    ts_stop(&srv, 5000);
}

/* A stream handed over twice with no event in between: the second time,
 * the head its handler made again on the way (not to be sent: the client
 * has it) is still in the output buffer. */
Test(handoff, a_stream_moves_twice_without_an_event, .timeout = 30)
{
    const char *argv[] = {"--workers", "1", "/chat={build}/apps/chat.so", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait(&srv, srv.error_log, " ready (generation 1)", 5000));
    int fd = ts_connect(srv.port);
    static const char req[] = "GET /chat/events?room=twice HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert(fd >= 0 && ts_send(fd, req, sizeof(req) - 1) == 0);
    cr_assert(recv_until(fd, "retry: ", 5000));
    for (int gen = 1; gen <= 2; gen++) {
        char line[64];
        snprintf(line, sizeof(line), " (generation %d) stopped", gen);
        ts_signal(&srv, SIGHUP);
        cr_assert(ts_log_wait(&srv, srv.error_log, line, 10000));
    }
    cr_assert_eq(ts_log_count(srv.error_log, 0, "connection(s) handed in all"), 2);
    char sent[256];
    cr_assert_gt(ts_request(srv.port,
                            "POST /chat/send?room=twice HTTP/1.1\r\nHost: t\r\nContent-Length: 2"
                            "\r\nConnection: close\r\n\r\nhi",
                            sent, sizeof(sent), 5000),
                 0);
    char buf[4096] = "";
    ssize_t n = 0;
    int64_t end = ts_now_ms() + 5000;
    while (!strstr(buf, "data: hi\n") && ts_now_ms() < end && n < (ssize_t)sizeof(buf) - 1) {
        ssize_t got = recv(fd, buf + n, sizeof(buf) - 1 - (size_t)n, MSG_DONTWAIT);
        n += got > 0 ? got : 0;
        buf[n] = '\0';
        if (got <= 0)
            poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 100);
    }
    /* A chunk, nothing before it: no second head. */
    const char *crlf = strstr(buf, "\r\n");
    cr_assert(crlf && strspn(buf, "0123456789abcdef") == (size_t)(crlf - buf) &&
                  strncmp(crlf + 2, "id: ", 4) == 0,
              "not a chunk: %s", buf);
    cr_assert_null(strstr(buf, "HTTP/1.1"), "a second head: %s", buf);
    cr_assert(strstr(buf, "data: hi\n"), "%s", buf);
    close(fd);
    ts_stop(&srv, 5000);
}

/* A long-poll moved halfway through its timeout answers when the timeout
 * it asked for is up, not a whole timeout after the move
 * (gs_request_age_ms). */
Test(handoff, a_moved_long_poll_keeps_its_deadline, .timeout = 30)
{
    const char *argv[] = {"--workers", "1", "/chat={build}/apps/chat.so", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait(&srv, srv.error_log, " ready (generation 1)", 5000));
    int fd = ts_connect(srv.port);
    static const char req[] = "GET /chat/poll?room=late&timeout=3 HTTP/1.1\r\nHost: t\r\n\r\n";
    int64_t t0 = ts_now_ms();
    cr_assert(fd >= 0 && ts_send(fd, req, sizeof(req) - 1) == 0);
    gs_sleep(1500); /* the time the poll has waited when its worker retires */
    ts_signal(&srv, SIGHUP);
    cr_assert(ts_log_wait(&srv, srv.error_log, " (generation 1) stopped", 10000));
    cr_assert(ts_log_wait(&srv, srv.error_log, "handoff: 1 connection(s) handed in all", 1000));
    char buf[1024];
    cr_assert_gt(ts_recv_response(fd, buf, sizeof(buf), false, 10000), 0);
    int64_t took = ts_now_ms() - t0;
    cr_assert_eq(ts_status(buf), 200);
    cr_assert(took >= 2900 && took < 4000, "answered after %lld ms, asked for 3000",
              (long long)took);
    close(fd);
    ts_stop(&srv, 5000);
}

/* A request whose handler runs when its worker retires finishes there;
 * then its connection, idle, moves: the next request on it is served by
 * the new generation. */
Test(handoff, a_running_request_finishes_then_its_connection_moves, .timeout = 30)
{
    const char *argv[] = {"--workers", "1", "/slow={build}/tests/plugins/slow.so",
                          "/pid={build}/tests/plugins/pid.so", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait(&srv, srv.error_log, " ready (generation 1)", 5000));
    pid_t old;
    cr_assert_eq(ts_generation_pids(&srv, "1", &old, 1), 1);
    int fd = ts_connect(srv.port);
    static const char slow[] = "GET /slow?800 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert(fd >= 0 && ts_send(fd, slow, sizeof(slow) - 1) == 0);
    cr_assert(ts_log_wait(&srv, srv.output, "slow: sleeping", 5000));
    ts_signal(&srv, SIGHUP);
    char buf[1024], v[16];
    cr_assert_gt(ts_recv_response(fd, buf, sizeof(buf), false, 5000), 0);
    cr_assert_eq(ts_status(buf), 200);
    cr_assert_str_eq(ts_body(buf), "slept 800 ms\n");
    cr_assert_not(ts_header(buf, "Connection", v, sizeof(v)), "told to close: %s", buf);
    cr_assert(ts_log_wait(&srv, srv.error_log, " (generation 1) stopped", 10000));
    cr_assert(ts_log_wait(&srv, srv.error_log, "handoff: 1 connection(s) handed in all", 1000));
    static const char pid[] = "GET /pid HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert(ts_send(fd, pid, sizeof(pid) - 1) == 0);
    cr_assert_gt(ts_recv_response(fd, buf, sizeof(buf), false, 5000), 0);
    cr_assert_eq(ts_status(buf), 200);
    int served_by = atoi(ts_body(buf) + 4);
    cr_assert(served_by > 0 && served_by != old, "served by %d, the old worker %d", served_by,
              (int)old);
    close(fd);
    ts_stop(&srv, 5000);
}

/* ---- spread ---- */

#define SPREAD_POLLS 100

/* The parked chat polls of workers want[0..1], asked over new connections
 * until both have answered with sum polls between them. Their counts in
 * n[0..1]; false if that did not come within 5 s. first_two: want[] are
 * the first two workers of generation gen to be ready, as they come. */
static bool polls_of(pid_t want[2], const char *first_two, int sum, int n[2])
{
    int64_t end = ts_now_ms() + 5000;
    while (ts_now_ms() < end) {
        if (!first_two || ts_generation_pids(&srv, first_two, want, 2) == 2) {
            n[0] = n[1] = -1;
            for (int tries = 0; tries < 40 && (n[0] < 0 || n[1] < 0); tries++) {
                int pid, polls = chat_polls(srv.port, &pid);
                for (int k = 0; polls >= 0 && k < 2; k++)
                    if (pid == want[k])
                        n[k] = polls;
            }
            if (n[0] >= 0 && n[1] >= 0 && n[0] + n[1] == sum)
                return true;
        }
        gs_sleep(50);
    }
    return false;
}

static bool polls_by_worker(const char *gen, int sum, int n[2])
{
    pid_t want[2];
    return polls_of(want, gen, sum, n);
}

/* Two retiring workers start handing their batches at different new
 * workers: had both started at the first, a reload of few connections
 * (one batch each) would put all of them on one. */
Test(handoff, a_reload_spreads_connections_over_the_new_workers, .timeout = 30)
{
    const char *argv[] = {"--workers", "2", "/chat={build}/apps/chat.so", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    int fds[SPREAD_POLLS], n[2];
    static const char req[] = "GET /chat/poll?room=spread&timeout=60 HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < SPREAD_POLLS; i++) {
        fds[i] = ts_connect(srv.port);
        cr_assert(fds[i] >= 0 && ts_send(fds[i], req, sizeof(req) - 1) == 0);
    }
    cr_assert(polls_by_worker("1", SPREAD_POLLS, n), "the polls did not all park");
    ts_signal(&srv, SIGHUP);
    cr_assert(polls_by_worker("2", SPREAD_POLLS, n), "the polls did not all move");
    cr_log_info("after the reload: %d and %d polls", n[0], n[1]);
    for (int k = 0; k < 2; k++)
        cr_assert_geq(n[k], SPREAD_POLLS / 5, "a new worker got %d of %d polls", n[k],
                      SPREAD_POLLS);
    for (int i = 0; i < SPREAD_POLLS; i++)
        close(fds[i]);
    ts_stop(&srv, 5000);
}

/* A recycled worker's clients go to the least loaded worker, its fresh
 * replacement, rather than half of them to the sibling already holding
 * its share: the two come out even, or as near as the recycled worker's
 * clients allow. */
Test(handoff, a_recycle_hands_to_the_least_loaded_worker, .timeout = 30)
{
    const char *argv[] = {"--workers",
                          "2",
                          "--max-memory",
                          MAX_MEMORY_MB,
                          "/chat={build}/apps/chat.so",
                          "/hog={build}/tests/plugins/hog.so",
                          NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    enum { POLLS = 2 * SPREAD_POLLS };
    int fds[POLLS], n[2];
    static const char req[] = "GET /chat/poll?room=least&timeout=60 HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < POLLS; i++) {
        fds[i] = ts_connect(srv.port);
        cr_assert(fds[i] >= 0 && ts_send(fds[i], req, sizeof(req) - 1) == 0);
    }
    pid_t first[2];
    cr_assert(polls_of(first, "1", POLLS, n), "the polls did not all park");
    deadline = gs_now_ms() + 20000;
    pid_t hogged = hog_a_worker();
    cr_assert(hogged == first[0] || hogged == first[1], "the hog went to %d", (int)hogged);
    int k = hogged == first[1];
    int moving = n[k], staying = n[!k];
    char line[64];
    snprintf(line, sizeof(line), "worker %d (generation 1) stopped", (int)hogged);
    cr_assert(ts_log_wait(&srv, srv.error_log, line, 15000), "the hogged worker did not stop");
    pid_t all[3], now[2];
    cr_assert_eq(ts_generation_pids(&srv, "1", all, 3), 3, "no replacement was ready");
    now[0] = first[!k];
    now[1] = all[2];
    cr_assert(polls_of(now, NULL, POLLS, n), "the polls did not all move");
    cr_log_info("%d and %d polls; the recycled worker's %d went: %d to its sibling, %d to its "
                "replacement",
                staying, moving, moving, n[0] - staying, n[1]);
    /* Even, less a batch's slack (batches are of 8 or more). */
    int even = moving < (staying + moving) / 2 ? moving : (staying + moving) / 2;
    cr_assert_geq(n[1], even - 16, "the replacement got %d of the %d moved (%d stayed)", n[1],
                  moving, staying);
    for (int i = 0; i < POLLS; i++)
        close(fds[i]);
    ts_stop(&srv, 5000);
}
