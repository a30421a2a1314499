/*
 * test_bus.c -- channels across workers (the master's bus) and across
 * instances (--bus redis://), with the real binary and apps/chat.so.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/redis.h"
#include "support/client.h"
#include "support/server.h"

static char resp[1 << 16];

static void start_chat(ts_server *s, const char *workers, const char *bus)
{
    char mount[256];
    snprintf(mount, sizeof(mount), "/chat={build}/apps/chat.so");
    const char *argv[] = {"--workers", workers, "--bus", bus, mount, NULL};
    cr_assert_eq(ts_start(s, argv), 0, "greenserve did not start");
}

static long long json_num(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(s, k);
    return p ? atoll(p + strlen(k)) : -1;
}

/* A send on a connection of its own: the status; the id in *id. */
static int send_msg(int port, const char *room, const char *text, long long *id)
{
    char req[512];
    snprintf(req, sizeof(req),
             "POST /chat/send?room=%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             room, strlen(text), text);
    cr_assert_gt(ts_request(port, req, resp, sizeof(resp), 5000), 0, "no answer to a send");
    *id = json_num(ts_body(resp), "id");
    return ts_status(resp);
}

/* A long-poll sent now; its answer read later with ts_recv_response. */
static int start_poll(int port, const char *room, long long after)
{
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET /chat/poll?room=%s&after=%lld&timeout=20 HTTP/1.1\r\n"
                     "Host: t\r\n\r\n",
                     room, after);
    int fd = ts_connect(port);
    cr_assert_eq(ts_send(fd, req, (size_t)n), 0);
    return fd;
}

/* ---- the embedded bus ---- */

Test(bus, ids_continue_across_workers_and_a_new_one, .timeout = 20)
{
    ts_server s = {0};
    start_chat(&s, "2", "embedded");
    long long prev, id;
    cr_assert_eq(send_msg(s.port, "n", "first", &prev), 200);
    /* Connections land on either worker: each send must continue the one
     * numbering. */
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(send_msg(s.port, "n", "m", &id), 200, "%s", resp);
        cr_assert_eq(id, prev + 1, "ids %lld then %lld", prev, id);
        prev = id;
    }
    size_t from = ts_file_size(s.error_log);
    ts_signal(&s, SIGTTIN);
    cr_assert(ts_log_wait_from(&s, s.error_log, from, "ready", 5000), "no third worker");
    for (int i = 0; i < 30; i++) {
        cr_assert_eq(send_msg(s.port, "n", "m", &id), 200, "%s", resp);
        cr_assert_eq(id, prev + 1, "after TTIN: ids %lld then %lld", prev, id);
        prev = id;
    }
    /* A poll from the start sees the whole history, on whichever worker. */
    int fd = start_poll(s.port, "n", 0);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0);
    cr_assert_eq(json_num(ts_body(resp), "last"), prev, "%s", ts_body(resp));
    close(fd);
    ts_stop(&s, 5000);
}

/* ---- Redis ---- */

Test(bus, redis_carries_messages_between_instances_and_survives_a_restart, .timeout = 30)
{
    int rport = ts_free_port();
    pid_t redis = ts_redis_start(rport, 2000);
    cr_assert_gt(redis, 0, "redis-server did not start");
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rport);
    ts_server a = {0}, b = {0};
    start_chat(&a, "1", url);
    start_chat(&b, "2", url);
    cr_assert(ts_log_wait(&a, a.error_log, "bus: connected", 5000));
    cr_assert(ts_log_wait(&b, b.error_log, "bus: connected", 5000));

    long long id, first;
    cr_assert_eq(send_msg(a.port, "r", "one", &first), 200, "%s", resp);
    int fd = start_poll(b.port, "r", first - 1);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0);
    char want[160];
    snprintf(want, sizeof(want), "{\"messages\":[{\"id\":%lld,\"data\":\"one\"}],\"last\":%lld}\n",
             first, first);
    cr_assert_str_eq(ts_body(resp), want);
    close(fd);

    /* Redis away: a send fails, a poll keeps waiting. */
    size_t from = ts_file_size(a.error_log);
    ts_redis_stop(redis);
    cr_assert(ts_log_wait_from(&a, a.error_log, from, "unreachable", 5000));
    cr_assert_neq(send_msg(a.port, "r", "lost", &id), 200, "a send succeeded without Redis");
    fd = start_poll(b.port, "r", first);
    cr_assert_eq(ts_recv_response(fd, resp, sizeof(resp), false, 500), -1, "the poll ended");

    /* Back: the bus reconnects by itself and the poll gets the next one. */
    redis = ts_redis_start(rport, 2000);
    cr_assert_gt(redis, 0, "redis-server did not restart");
    cr_assert(ts_log_wait_from(&a, a.error_log, from, "bus: connected", 5000));
    cr_assert(ts_log_wait_from(&b, b.error_log, 0, "unreachable", 5000));
    for (int i = 0; i < 50 && send_msg(a.port, "r", "two", &id) != 200; i++)
        usleep(100000); /* b's subscription may lag a's reconnect by a backoff */
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0, "no delivery");
    cr_assert(strstr(ts_body(resp), "\"data\":\"two\""), "%s", ts_body(resp));
    close(fd);
    ts_stop(&a, 5000);
    ts_stop(&b, 5000);
    ts_redis_stop(redis);
}
