/* --green-libc with the real executable and tests/plugins/blocking_libc.so,
 * whose handler makes only blocking libc calls (usleep, getaddrinfo,
 * connect, send, recv): with the option they park their green thread, so
 * concurrent requests run side by side on one hub; without it they are
 * served one after another. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/redis.h"
#include "support/client.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 16];
static char out[1 << 16];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

TestSuite(greenlibc, .fini = stop_server, .timeout = 20);

static void start(bool green)
{
    const char *args[] = {"--workers",
                          "0",
                          "--threads",
                          "0",
                          "/b={build}/tests/plugins/blocking_libc.so",
                          "/r={build}/tests/plugins/hiredis_blpop.so",
                          "/hello={build}/apps/hello.so",
                          green ? "--green-libc" : NULL,
                          NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

static int send_get(const char *target)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    int fd = ts_connect(srv.port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    return fd;
}

/* n clients at once on target; ms until the last has its answer. */
static int64_t together(int n, const char *target, const char *body)
{
    int fds[64];
    int64_t t0 = ts_now_ms();
    for (int i = 0; i < n; i++)
        fds[i] = send_get(target);
    for (int i = 0; i < n; i++) {
        cr_assert_gt(ts_recv_response(fds[i], resp, sizeof(resp), false, 15000), 0);
        cr_assert_str_eq(ts_body(resp), body);
        close(fds[i]);
    }
    return ts_now_ms() - t0;
}

Test(greenlibc, with_it_50_usleeps_of_1s_take_about_1s)
{
    start(true);
    int64_t took = together(50, "/b/?sleep", "slept\n");
    cr_assert_geq(took, 990);
    cr_assert_lt(took, 3000, "50 x 1 s took %lld ms", (long long)took);
    /* The server's own log writes are not the plugin's blocking calls. */
    cr_assert_eq(ts_log_count(srv.error_log, 0, "green-libc:"), 0u, "%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

Test(greenlibc, without_it_5_usleeps_are_serialised)
{
    start(false);
    int64_t took = together(5, "/b/?sleep", "slept\n");
    cr_assert_geq(took, 4500, "5 x 1 s on one hub took only %lld ms", (long long)took);
}

/* A local echo server on its own OS thread: each client gets back what it
 * sent, after 300 ms, so that handlers really wait in recv. */
static void *echo_serve(void *arg)
{
    int ls = (int)(intptr_t)arg;
    for (int c; (c = accept(ls, NULL, NULL)) >= 0;) {
        char buf[4];
        ssize_t n = recv(c, buf, sizeof buf, MSG_WAITALL);
        usleep(300 * 1000);
        if (n > 0)
            send(c, buf, (size_t)n, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static int echo_start(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(ls, 64), 0);
    cr_assert_eq(getsockname(ls, (struct sockaddr *)&a, &len), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, echo_serve, (void *)(intptr_t)ls), 0);
    pthread_detach(t);
    return ntohs(a.sin_port);
}

Test(greenlibc, getaddrinfo_connect_send_recv_park_the_green_thread)
{
    int port = echo_start();
    start(true);
    char target[64];
    snprintf(target, sizeof target, "/b/?echo=%d", port);
    /* The echo server answers one client at a time, 300 ms each: what is
     * measured is that the hub kept serving the sleeps meanwhile. */
    int e = send_get(target);
    int64_t took = together(10, "/b/?sleep", "slept\n");
    cr_assert_lt(took, 2500, "sleeps took %lld ms next to a blocked recv", (long long)took);
    cr_assert_gt(ts_recv_response(e, resp, sizeof(resp), false, 5000), 0);
    cr_assert_str_eq(ts_body(resp), "ping");
    close(e);
}

/* ---- hiredis' synchronous API against a real redis-server ---- */

static pid_t redis_pid;

static void redis_stop(void)
{
    ts_redis_stop(redis_pid);
    redis_pid = 0;
}

/* redis-server on a free loopback port; a hiredis context to it. */
static redisContext *redis_start(int port)
{
    redis_pid = ts_redis_start(port, 5000);
    cr_assert_gt(redis_pid, 0, "redis-server did not start");
    redisContext *c = redisConnect("127.0.0.1", port);
    cr_assert(c && !c->err, "cannot connect to redis-server");
    return c;
}

static long long redis_int(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "%s: no integer", cmd);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* How many clients redis has blocked (INFO clients). */
static long blocked_clients(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO clients");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    const char *b = strstr(r->str, "blocked_clients:");
    long n = b ? atol(b + strlen("blocked_clients:")) : -1;
    freeReplyObject(r);
    return n;
}

Test(greenlibc, hiredis_blpop_handlers_park_and_each_wakes_on_its_push, .fini = redis_stop)
{
    int rport = ts_free_port();
    redisContext *rc = redis_start(rport);
    start(true);
    enum { N = 20 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        char target[64];
        snprintf(target, sizeof target, "/r/?%d&k%d", rport, i);
        fds[i] = send_get(target);
    }
    int64_t t0 = ts_now_ms();
    while (blocked_clients(rc) < N && ts_now_ms() - t0 < 5000)
        usleep(10000); /* redis offers no event for it: poll its count */
    cr_assert_eq(blocked_clients(rc), N, "the handlers are not all in BLPOP");

    t0 = ts_now_ms();
    cr_assert_gt(
        ts_request(srv.port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", resp, sizeof resp, 2000), 0);
    cr_assert_lt(ts_now_ms() - t0, 500, "hello waited behind the BLPOPs");
    cr_assert_str_eq(ts_body(resp), "Hello, World!");

    for (int i = N - 1; i >= 0; i--) { /* in reverse: each wakes on its own key */
        char cmd[64];
        snprintf(cmd, sizeof cmd, "RPUSH k%d v%d", i, i);
        cr_assert_eq(redis_int(rc, cmd), 1);
        cr_assert_gt(ts_recv_response(fds[i], resp, sizeof(resp), false, 5000), 0);
        char want[16];
        snprintf(want, sizeof want, "v%d", i);
        cr_assert_str_eq(ts_body(resp), want);
        close(fds[i]);
    }
    redisFree(rc);
}
