/*
 * test_nothing_lost.c -- the long-poll guarantee across workers and a
 * graceful reload: 50 long-poll clients and 10 publishers on two workers,
 * 5,000 messages, SIGHUP in the middle; every client receives every
 * message exactly once, in order, and never sees `dropped`.
 *
 * The clients and publishers are green threads of this test process (its
 * own hub), each on keep-alive connections as a browser would hold them:
 * a client whose connection is closed reconnects and asks again with the
 * same cursor. chat.so opts in to hand-off, so a reload moves every
 * connection to the new generation and none has to.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <greenserve.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/client.h"
#include "support/server.h"

#define CLIENTS    50
#define PUBLISHERS 10
#define PER_PUB    500
#define TOTAL      (PUBLISHERS * PER_PUB)
#define ROOM       "nl"
#define BODY_CAP   (512 * 1024)
#define IO_MS      10000 /* any one answer */
#define RUN_MS     30000 /* the whole exchange */
#define PACE_MS    10    /* between a publisher's sends: ~5 s in all */

static ts_server srv;
static int64_t deadline;
static unsigned sent; /* publishes answered, all publishers */

/* ---- one keep-alive HTTP connection, green ---- */

typedef struct conn {
    int fd;
    gs_reader *rd;
    bool reused; /* a request already went through it */
} conn;

typedef struct answer {
    int status;
    bool close; /* Connection: close */
    size_t len;
    char *body; /* NUL-terminated */
} answer;

static void conn_close(conn *c)
{
    if (c->rd)
        gs_reader_free(c->rd);
    if (c->fd >= 0)
        gs_close(c->fd);
    *c = (conn){.fd = -1};
}

static int conn_open(conn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)srv.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    int err = gs_connect(c->fd, (struct sockaddr *)&a, sizeof(a), IO_MS);
    if (err == 0 && !(c->rd = gs_reader_new(c->fd, 16384)))
        err = -ENOMEM;
    if (err)
        conn_close(c);
    return err;
}

/* The head of an answer: status, Content-Length, Connection. */
static int read_head(conn *c, answer *a)
{
    char line[1024];
    ssize_t n = gs_reader_readline(c->rd, line, sizeof(line), IO_MS);
    if (n <= 0)
        return n == 0 ? -ECONNRESET : (int)n;
    a->status = ts_status(line);
    a->len = 0;
    a->close = false;
    while ((n = gs_reader_readline(c->rd, line, sizeof(line), IO_MS)) > 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            a->len = strtoul(line + 15, NULL, 10);
        else if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line, "close"))
            a->close = true;
    }
    return n <= 0 ? -EPROTO : 0;
}

static int read_body(conn *c, answer *a)
{
    if (a->len >= BODY_CAP)
        return -EMSGSIZE;
    for (size_t got = 0; got < a->len;) {
        ssize_t n = gs_reader_read(c->rd, a->body + got, a->len - got, IO_MS);
        if (n <= 0)
            return n == 0 ? -ECONNRESET : (int)n;
        got += (size_t)n;
    }
    a->body[a->len] = '\0';
    return 0;
}

/* One request and its answer on c (opened if need be). -EAGAIN when a
 * reused connection was closed before any answer: the server had closed
 * it idle (a retiring worker), so the request was not handled and may be
 * sent again; other failures are -errno. */
static int exchange(conn *c, const char *req, size_t n, answer *a)
{
    int err = c->fd < 0 ? conn_open(c) : 0;
    if (err)
        return err;
    bool reused = c->reused;
    ssize_t w = gs_fd_write(c->fd, req, n, IO_MS);
    err = w < 0 ? (int)w : read_head(c, a);
    if (!err)
        err = read_body(c, a);
    c->reused = true;
    if (err || a->close)
        conn_close(c);
    if (reused && (err == -ECONNRESET || err == -EPIPE))
        return -EAGAIN;
    return err;
}

/* ---- publishers ---- */

typedef struct publisher {
    int k;
    char failure[256];
} publisher;

static void *publish_all(void *arg)
{
    publisher *p = arg;
    conn c = {.fd = -1};
    char body[64], req[256];
    answer a = {.body = malloc(BODY_CAP)};
    for (int i = 0; i < PER_PUB && !p->failure[0]; i++) {
        int blen = snprintf(body, sizeof(body), "p%d-%d", p->k, i);
        int n = snprintf(req, sizeof(req),
                         "POST /chat/send?room=" ROOM " HTTP/1.1\r\nHost: t\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                         blen, body);
        int err;
        while ((err = exchange(&c, req, (size_t)n, &a)) == -EAGAIN && gs_now_ms() < deadline)
            ;
        if (err || a.status != 200)
            snprintf(p->failure, sizeof(p->failure), "publisher %d, message %d: %s (status %d) %s",
                     p->k, i, strerror(-err), err ? 0 : a.status, err ? "" : a.body);
        else
            sent++;
        /* Paced, so that the reload (~1 s) happens while messages flow. */
        gs_sleep(PACE_MS);
    }
    conn_close(&c);
    free(a.body);
    return NULL;
}

/* ---- long-poll clients ---- */

typedef struct client {
    int n;
    uint64_t cursor;
    unsigned got, reconnects;
    unsigned conns;       /* connections opened */
    int next[PUBLISHERS]; /* the index each publisher's next message must have */
    bool dropped;
    char failure[256];
} client;

static void client_fail(client *cl, const char *fmt, const char *arg)
{
    if (!cl->failure[0])
        snprintf(cl->failure, sizeof(cl->failure), fmt, cl->n, arg);
}

/* Check and count the messages of one answer; its "last" into cursor. */
static void client_take(client *cl, const char *body)
{
    const char *p = body;
    while ((p = strstr(p, "{\"id\":"))) {
        unsigned long long id;
        int k, i;
        if (sscanf(p, "{\"id\":%llu,\"data\":\"p%d-%d\"", &id, &k, &i) != 3 || k < 0 ||
            k >= PUBLISHERS) {
            client_fail(cl, "client %d: a message I cannot read in %.200s", p);
            return;
        }
        if (id <= cl->cursor) {
            client_fail(cl, "client %d: an id not after my cursor (duplicate?) in %.200s", p);
            return;
        }
        if (i != cl->next[k]) {
            client_fail(cl, "client %d: a publisher's message out of order at %.200s", p);
            return;
        }
        cl->next[k]++;
        cl->cursor = id;
        cl->got++;
        p++;
    }
    const char *last = strstr(body, "\"last\":");
    if (!last || strtoull(last + 7, NULL, 10) != cl->cursor)
        client_fail(cl, "client %d: \"last\" is not the last id given: %.200s", body);
    cl->dropped |= strstr(body, "\"dropped\":true") != NULL;
}

static void *follow(void *arg)
{
    client *cl = arg;
    conn c = {.fd = -1};
    answer a = {.body = malloc(BODY_CAP)};
    char req[256];
    while (cl->got < TOTAL && !cl->failure[0] && !cl->dropped && gs_now_ms() < deadline) {
        int n = snprintf(req, sizeof(req),
                         "GET /chat/poll?room=" ROOM "&after=%llu&timeout=5 HTTP/1.1\r\n"
                         "Host: t\r\n\r\n",
                         (unsigned long long)cl->cursor);
        cl->conns += c.fd < 0;
        int err = exchange(&c, req, (size_t)n, &a);
        if (err == -EAGAIN || err == -ECONNRESET || err == -ECONNREFUSED) {
            cl->reconnects++; /* as a browser would: the same cursor again */
            continue;
        }
        if (err || a.status != 200)
            client_fail(cl, "client %d: a poll failed: %s", err ? strerror(-err) : a.body);
        else
            client_take(cl, a.body);
    }
    conn_close(&c);
    free(a.body);
    return NULL;
}

/* ---- the reload ---- */

/* What the server said of failed handlers and its bus, for a failure
 * that the client side cannot explain. */
static void show_server_errors(void)
{
    static char log[1 << 20];
    ts_read_file(srv.error_log, log, sizeof(log));
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, "failed") || strstr(line, "bus:") || strstr(line, "refused"))
            cr_log_error("server: %s", line);
}

/* Halfway through the publishes, reload; note how many were sent once
 * both old workers had stopped (polling the log: this OS thread runs the
 * clients too, so it must not block on it). */
static void *reload_midway(void *arg)
{
    unsigned *sent_when_retired = arg;
    while (sent < TOTAL / 2 && gs_now_ms() < deadline)
        gs_sleep(2);
    size_t from = ts_file_size(srv.error_log);
    ts_signal(&srv, SIGHUP);
    while (ts_log_count(srv.error_log, from, " (generation 1) stopped") < 2 &&
           gs_now_ms() < deadline)
        gs_sleep(10);
    *sent_when_retired = sent;
    return NULL;
}

Test(nothing_lost, long_polls_get_every_message_once_in_order_across_a_reload, .timeout = 45)
{
    const char *argv[] = {"--workers", "2", "/chat={build}/apps/chat.so:history=8192", NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start");
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, " ready (generation 1)", 2, 5000));
    pid_t old[2];
    cr_assert_eq(ts_generation_pids(&srv, "1", old, 2), 2);

    deadline = gs_now_ms() + RUN_MS;
    static client clients[CLIENTS];
    static publisher pubs[PUBLISHERS];
    gs_thread *t[CLIENTS + PUBLISHERS + 1];
    /* The room is new: from after=0 a client gets all the ring holds,
     * i.e. everything from the first message on. */
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (client){.n = i};
        t[i] = gs_spawn(follow, &clients[i]);
    }
    gs_sleep(200); /* the polls parked: not needed for correctness, but the test's point */
    for (int k = 0; k < PUBLISHERS; k++) {
        pubs[k] = (publisher){.k = k};
        t[CLIENTS + k] = gs_spawn(publish_all, &pubs[k]);
    }
    unsigned sent_when_retired = 0;
    t[CLIENTS + PUBLISHERS] = gs_spawn(reload_midway, &sent_when_retired);
    for (int i = 0; i < CLIENTS + PUBLISHERS + 1; i++)
        cr_assert_eq(gs_join(t[i], NULL, RUN_MS + IO_MS), 0);

    /* The premise: the reload came after half the messages, and some
     * were still to come once the old generation had gone. (A hand-off
     * retires it within milliseconds, when no publish may have ended.) */
    cr_assert(sent_when_retired >= TOTAL / 2 && sent_when_retired < TOTAL,
              "%u messages sent when generation 1 had stopped", sent_when_retired);
    bool failed = false;
    for (int k = 0; k < PUBLISHERS; k++)
        failed |= pubs[k].failure[0] != '\0';
    if (failed)
        show_server_errors();
    for (int k = 0; k < PUBLISHERS; k++)
        cr_assert_eq(pubs[k].failure[0], '\0', "%s", pubs[k].failure);
    cr_assert_eq(sent, TOTAL);
    unsigned reconnects = 0;
    for (int i = 0; i < CLIENTS; i++) {
        client *cl = &clients[i];
        cr_assert_eq(cl->failure[0], '\0', "%s", cl->failure);
        cr_assert_not(cl->dropped, "client %d saw \"dropped\" after %u messages", i, cl->got);
        cr_assert_eq(cl->got, TOTAL, "client %d got %u messages", i, cl->got);
        for (int k = 0; k < PUBLISHERS; k++)
            cr_assert_eq(cl->next[k], PER_PUB);
        /* Its connection was handed to generation 2 (chat.so opts in to
         * hand-off): it never had to reconnect. */
        cr_assert_eq(cl->conns, 1, "client %d had to reconnect", i);
        reconnects += cl->reconnects;
    }
    cr_log_info("clients reconnected %u times over the reload; %u messages sent when generation "
                "1 had stopped",
                reconnects, sent_when_retired);

    cr_assert(ts_log_wait(&srv, srv.error_log, "generation 2 ready", 1000));
    for (int i = 0; i < 2; i++)
        cr_assert(kill(old[i], 0) < 0 && errno == ESRCH, "worker %d of generation 1 is alive",
                  (int)old[i]);
    ts_stop(&srv, 5000);
}
