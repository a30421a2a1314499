/* Handlers on OS threads (http_site.threads, --threads): they may block
 * their thread (usleep) while the hub goes on serving; gs_read, gs_write,
 * gs_sleep, events, queues, spawn and offload work there by blocking the
 * thread; GS_APP_GREEN apps stay on the hub; keep-alive and pipelining go
 * on after a threaded handler; a disconnect is seen from the thread; a
 * failing handler gets its 500. */
#include <stdatomic.h>
#include <sys/socket.h>

#include "http/harness.h"

/* ---- the app: one handler, what it does chosen by PATH_INFO ---- */

static int respond(gs_request *r, const char *body)
{
    char len[32];
    snprintf(len, sizeof(len), "%zu", strlen(body));
    gs_start_response(r, 200, (const char *[]){"Content-Length", len, NULL});
    return gs_write(r, body, strlen(body)) < 0 ? -1 : 0;
}

static int respond_num(gs_request *r, long v)
{
    char body[32];
    snprintf(body, sizeof(body), "%ld", v);
    return respond(r, body);
}

static int query_int(gs_request *r, int dflt)
{
    const char *q = gs_env(r, "QUERY_STRING");
    return *q ? atoi(q) : dflt;
}

/* /block?ms: plain usleep, then the handler's OS thread id. */
static int do_block(gs_request *r)
{
    usleep((useconds_t)query_int(r, 300) * 1000);
    return respond_num(r, gettid());
}

static void *send_later(void *arg)
{
    gs_sleep(20);
    gs_event_send(arg, "sent");
    return NULL;
}

static void *put_three(void *arg)
{
    for (intptr_t i = 1; i <= 3; i++) {
        gs_sleep(5);
        gs_queue_put(arg, (void *)i, GS_FOREVER);
    }
    return NULL;
}

static void *tid_of_caller(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)gettid();
}

/* What the thread's own hub offers, each check a word of the answer. */
static void runtime_checks(char *out, size_t n)
{
    int64_t t0 = gs_now_ms();
    int slept = gs_sleep(50);
    bool sleep_ok = slept == 0 && gs_now_ms() - t0 >= 45;
    gs_event *ev = gs_event_new();
    gs_thread *t = gs_spawn(send_later, ev);
    void *v = NULL;
    bool event_ok = gs_event_wait(ev, &v, 1000) == 0 && v && strcmp(v, "sent") == 0;
    gs_join(t, NULL, GS_FOREVER);
    gs_event_free(ev);
    gs_queue *q = gs_queue_new(1);
    t = gs_spawn(put_three, q);
    intptr_t sum = 0;
    for (int i = 0; i < 3; i++) {
        void *item = NULL;
        if (gs_queue_get(q, &item, 1000) == 0)
            sum = sum * 10 + (intptr_t)item;
    }
    gs_join(t, NULL, GS_FOREVER);
    gs_queue_free(q);
    void *tid = NULL;
    bool offload_inline = gs_offload(tid_of_caller, NULL, &tid) == 0 && (intptr_t)tid == gettid();
    snprintf(out, n, "sleep %s event %s queue %ld offload %s", sleep_ok ? "ok" : "bad",
             event_ok ? "ok" : "bad", (long)sum, offload_inline ? "inline" : "elsewhere");
}

static int do_runtime(gs_request *r)
{
    char body[128];
    runtime_checks(body, sizeof(body));
    return respond(r, body);
}

/* /big?kib: a chunked body of that many KiB in 64 KiB writes. */
static int do_big(gs_request *r)
{
    static char block[64 * 1024];
    memset(block, 'b', sizeof(block));
    gs_start_response(r, 200, NULL);
    for (int left = query_int(r, 1024) * 1024; left > 0; left -= (int)sizeof(block)) {
        size_t n = left < (int)sizeof(block) ? (size_t)left : sizeof(block);
        if (gs_write(r, block, n) != (ssize_t)n)
            return -1;
    }
    return 0;
}

/* /echo: the body back, read in small pieces, with Content-Length. */
static int do_echo(gs_request *r)
{
    static char body[1 << 20];
    size_t n = 0;
    ssize_t got;
    while ((got = gs_read(r, body + n, n + 1000 < sizeof(body) ? 1000 : sizeof(body) - n)) > 0)
        n += (size_t)got;
    if (got < 0)
        return (int)got;
    char len[32];
    snprintf(len, sizeof(len), "%zu", n);
    gs_start_response(r, 200, (const char *[]){"Content-Length", len, NULL});
    return gs_write(r, body, n) == (ssize_t)n ? 0 : -1;
}

/* Set by /poll and /spin once they are done, read by the test after the
 * connection has ended on the hub (which the handler's return precedes). */
static int wait_result;
static bool disconnected_after;
static int64_t waited_ms;

/* /poll: stream a line, then wait for the client to leave. */
static int do_poll(gs_request *r)
{
    gs_start_response(r, 200, NULL);
    gs_write(r, "waiting\n", 8);
    int64_t t0 = gs_now_ms();
    wait_result = gs_wait_disconnect(r, 5000);
    waited_ms = gs_now_ms() - t0;
    disconnected_after = gs_disconnected(r);
    return 0;
}

/* /spin: stream a line, then poll gs_disconnected between blocking
 * sleeps, as a handler that knows nothing of green threads would. */
static int do_spin(gs_request *r)
{
    gs_start_response(r, 200, NULL);
    gs_write(r, "spinning\n", 9);
    int64_t t0 = gs_now_ms();
    while (!gs_disconnected(r) && gs_now_ms() - t0 < 5000)
        usleep(5000);
    waited_ms = gs_now_ms() - t0;
    disconnected_after = gs_disconnected(r);
    return 0;
}

/* /spawn leaves a green thread behind that sets the flag 50 ms later;
 * /flag answers the flag. */
static atomic_int left_behind;

static void *set_flag_later(void *arg)
{
    (void)arg;
    gs_sleep(50);
    atomic_store(&left_behind, 1);
    return NULL;
}

/* /defer: a deferred call notes the OS thread it ran on. */
static pid_t handler_tid, defer_tid;

static void note_tid(void *arg)
{
    *(pid_t *)arg = gettid();
}

static int do_defer(gs_request *r)
{
    handler_tid = gettid();
    char *p = gs_alloc(r, 5000);
    if (!p || gs_defer(r, note_tid, &defer_tid) < 0)
        return -ENOMEM;
    strcpy(p, "deferred");
    return respond(r, p);
}

static int dispatch(gs_request *r, void *state)
{
    (void)state;
    const char *p = gs_env(r, "PATH_INFO");
    if (strcmp(p, "/block") == 0)
        return do_block(r);
    if (strcmp(p, "/runtime") == 0)
        return do_runtime(r);
    if (strcmp(p, "/big") == 0)
        return do_big(r);
    if (strcmp(p, "/echo") == 0)
        return do_echo(r);
    if (strcmp(p, "/poll") == 0)
        return do_poll(r);
    if (strcmp(p, "/spin") == 0)
        return do_spin(r);
    if (strcmp(p, "/spawn") == 0)
        return gs_spawn_n(set_flag_later, NULL) == 0 ? respond(r, "spawned") : -1;
    if (strcmp(p, "/flag") == 0)
        return respond_num(r, atomic_load(&left_behind));
    if (strcmp(p, "/defer") == 0)
        return do_defer(r);
    if (strcmp(p, "/fail") == 0)
        return -EIO;
    if (strcmp(p, "/fail-late") == 0) {
        gs_start_response(r, 200, NULL);
        gs_write(r, "partial", 7);
        return -EIO;
    }
    if (strcmp(p, "/tid") == 0)
        return respond_num(r, gettid());
    if (strcmp(p, "/offload") == 0) {
        void *tid = NULL;
        return gs_offload(tid_of_caller, NULL, &tid) == 0 ? respond_num(r, (intptr_t)tid) : -1;
    }
    return respond(r, p);
}

static const gs_app thread_app = {.abi = GS_ABI_VERSION, .name = "threaded", .handle = dispatch};
static const gs_app green_app = {
    .abi = GS_ABI_VERSION, .name = "green", .flags = GS_APP_GREEN, .handle = dispatch};

/* "/" runs on threads, "/green" on the hub. */
static void start(hs *s, unsigned threads, void (*tweak)(http_limits *))
{
    hs_start(s, (const char *[]){"/", "/green"}, (const gs_app *[]){&thread_app, &green_app}, 2,
             tweak);
    s->site.threads = threads;
}

static const char *get(hc *c, const char *target)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    hc_send(c, req);
    return hc_recv(c, false);
}

/* ---- blocking ---- */

/* n clients each ask for /block?ms at once; the time until all answered. */
static int64_t block_together(hs *s, int n, int ms, long *tids)
{
    hc *c[8];
    char req[64];
    snprintf(req, sizeof(req), "GET /block?%d HTTP/1.1\r\nHost: x\r\n\r\n", ms);
    int64_t t0 = gs_now_ms();
    for (int i = 0; i < n; i++) {
        c[i] = hc_open(s);
        hc_send(c[i], req);
    }
    for (int i = 0; i < n; i++) {
        const char *resp = hc_recv(c[i], false);
        cr_assert_eq(hs_status(resp), 200, "%s", resp);
        tids[i] = atol(hs_body(resp));
        hc_close(c[i]);
    }
    return gs_now_ms() - t0;
}

Test(threads, blocking_handlers_run_side_by_side, .timeout = 10)
{
    hs s;
    start(&s, 4, NULL);
    long tids[4];
    int64_t took = block_together(&s, 4, 300, tids);
    cr_assert_geq(took, 290);
    cr_assert_lt(took, 900, "4 x 300 ms on 4 threads took %lld ms", (long long)took);
    for (int i = 0; i < 4; i++) {
        cr_assert_neq(tids[i], gettid(), "a handler ran on the hub's thread");
        for (int j = 0; j < i; j++)
            cr_assert_neq(tids[i], tids[j], "two handlers shared a thread");
    }
    hs_stop(&s);
}

Test(threads, without_threads_blocking_handlers_stall_the_hub, .timeout = 10)
{
    hs s;
    start(&s, 0, NULL);
    long tids[3];
    int64_t took = block_together(&s, 3, 150, tids);
    cr_assert_geq(took, 440, "3 x 150 ms on the hub took only %lld ms", (long long)took);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tids[i], gettid());
    hs_stop(&s);
}

Test(threads, more_requests_than_threads_queue_for_them, .timeout = 10)
{
    hs s;
    start(&s, 2, NULL);
    long tids[4];
    int64_t took = block_together(&s, 4, 150, tids);
    cr_assert_geq(took, 290, "4 x 150 ms on 2 threads took only %lld ms", (long long)took);
    cr_assert_lt(took, 560);
    hs_stop(&s);
}

Test(threads, green_apps_stay_on_the_hub, .timeout = 10)
{
    hs s;
    start(&s, 2, NULL);
    hc *c = hc_open(&s);
    cr_assert_eq(atol(hs_body(get(c, "/green/tid"))), gettid());
    cr_assert_neq(atol(hs_body(get(c, "/tid"))), gettid());
    hc_close(c);
    hs_stop(&s);
}

Test(threads, the_hub_answers_while_threads_block, .timeout = 10)
{
    hs s;
    start(&s, 2, NULL);
    hc *slow = hc_open(&s);
    hc_send(slow, "GET /block?600 HTTP/1.1\r\nHost: x\r\n\r\n");
    gs_sleep(50); /* let it reach its thread: the point is that it blocks it */
    hc *fast = hc_open(&s);
    int64_t t0 = gs_now_ms();
    cr_assert_str_eq(hs_body(get(fast, "/green/hi")), "/hi");
    cr_assert_str_eq(hs_body(get(fast, "/hi")), "/hi"); /* the second thread */
    cr_assert_lt(gs_now_ms() - t0, 300);
    bool eof;
    cr_assert_null(hc_recv_try(slow, false, 10, &eof), "the blocked handler answered early");
    cr_assert_eq(hs_status(hc_recv(slow, false)), 200);
    hc_close(fast);
    hc_close(slow);
    hs_stop(&s);
}

Test(threads, blocked_handler_threads_leave_gs_offload_free, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    gs_offload_threads(1);
    hc *slow = hc_open(&s);
    hc_send(slow, "GET /block?600 HTTP/1.1\r\nHost: x\r\n\r\n");
    gs_sleep(50);
    hc *c = hc_open(&s);
    int64_t t0 = gs_now_ms();
    long tid = atol(hs_body(get(c, "/green/offload")));
    cr_assert_lt(gs_now_ms() - t0, 300, "gs_offload waited for the handler pool");
    cr_assert(tid != 0 && tid != gettid());
    cr_assert_eq(hs_status(hc_recv(slow, false)), 200);
    hc_close(c);
    hc_close(slow);
    hs_stop(&s);
}

/* ---- the runtime on a handler thread ---- */

Test(threads, sleep_event_queue_and_offload_work_on_a_thread, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    cr_assert_str_eq(hs_body(get(c, "/runtime")), "sleep ok event ok queue 123 offload inline");
    /* And the same checks on the hub, for comparison. */
    const char *green = hs_body(get(c, "/green/runtime"));
    cr_assert_str_eq(green, "sleep ok event ok queue 123 offload elsewhere");
    hc_close(c);
    hs_stop(&s);
}

Test(threads, green_threads_a_handler_leaves_finish_on_its_thread, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    cr_assert_str_eq(hs_body(get(c, "/spawn")), "spawned");
    /* One thread: the next request waits until the spawned one is done. */
    cr_assert_str_eq(hs_body(get(c, "/flag")), "1");
    hc_close(c);
    hs_stop(&s);
}

Test(threads, alloc_and_defer_work_and_defers_run_on_the_thread, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    cr_assert_str_eq(hs_body(get(c, "/defer")), "deferred");
    cr_assert_neq(handler_tid, gettid());
    cr_assert_eq(defer_tid, handler_tid);
    hc_close(c);
    hs_stop(&s);
}

/* ---- reading and writing from a thread ---- */

Test(threads, a_body_arriving_slowly_is_read_on_the_thread, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    static char body[200 * 1000];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    char head[128];
    snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             sizeof(body));
    hc_send(c, head);
    for (size_t off = 0; off < sizeof(body); off += 50 * 1000) {
        gs_sleep(20); /* the handler drains the socket and parks meanwhile */
        hc_sendn(c, body + off, 50 * 1000);
    }
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_eq(strlen(hs_body(resp)), sizeof(body));
    cr_assert_eq(memcmp(hs_body(resp), body, sizeof(body)), 0);
    cr_assert_str_eq(hs_body(get(c, "/after")), "/after");
    hc_close(c);
    hs_stop(&s);
}

/* Connection after connection on one thread, each waiting there for its
 * body: the thread's hub must not keep a stale entry for a reused fd. */
Test(threads, one_thread_waits_on_connection_after_connection, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    for (int i = 0; i < 4; i++) {
        hc *c = hc_open(&s);
        hc_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc");
        gs_sleep(20);
        hc_send(c, "def");
        cr_assert_str_eq(hs_body(hc_recv(c, false)), "abcdef");
        hc_close(c);
        cr_assert(hs_wait_done(&s, (unsigned)i + 1, 1000));
    }
    hs_stop(&s);
}

Test(threads, chunked_body_and_100_continue_on_a_thread, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               "Transfer-Encoding: chunked\r\n\r\n");
    cr_assert_eq(hs_status(hc_recv(c, false)), 100);
    hc_send(c, "5\r\nhello\r\n");
    gs_sleep(10);
    hc_send(c, "6\r\n world\r\n0\r\n\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_body(resp), "hello world");
    hc_close(c);
    hs_stop(&s);
}

/* 8 MiB is more than the socket buffers hold: the handler's writes wait
 * for the client on the thread's hub. */
Test(threads, a_big_response_waits_for_the_client_on_the_thread, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /big?8192 HTTP/1.1\r\nHost: x\r\n\r\n");
    gs_sleep(100); /* the handler fills the socket and parks */
    size_t total = 0;
    char buf[65536];
    while (total < 8u * 1024 * 1024) {
        ssize_t n = gs_fd_read(c->fd, buf, sizeof(buf), HS_TIMEOUT);
        cr_assert_gt(n, 0);
        for (ssize_t i = 0; i < n; i++)
            total += buf[i] == 'b';
    }
    cr_assert_eq(total, 8u * 1024 * 1024);
    hc_close(c);
    hs_stop(&s);
}

static void short_body_timeout(http_limits *l)
{
    l->body_timeout_ms = 100;
}

Test(threads, a_body_timeout_on_a_thread_is_a_408, .timeout = 10)
{
    hs s;
    start(&s, 1, short_body_timeout);
    hc *c = hc_open(&s);
    hc_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    int64_t t0 = gs_now_ms();
    cr_assert_eq(hs_status(hc_recv(c, false)), 408);
    cr_assert_lt(gs_now_ms() - t0, 1000);
    cr_assert(hc_closed(c, 1000));
    hc_close(c);
    hs_stop(&s);
}

/* ---- the connection after a threaded handler ---- */

Test(threads, pipelined_requests_mix_threads_and_the_hub_in_order, .timeout = 10)
{
    hs s;
    start(&s, 2, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /green/b HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /block?20 HTTP/1.1\r\nHost: x\r\n\r\n"
               "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nunrd."
               "GET /d HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/a");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/b");
    cr_assert_neq(atol(hs_body(hc_recv(c, false))), 0);
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/c");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/d");
    /* Keep-alive: the connection reads on after an idle pause. */
    gs_sleep(20);
    cr_assert_str_eq(hs_body(get(c, "/e")), "/e");
    cr_assert_str_eq(hs_body(get(c, "/green/f")), "/f");
    hc_close(c);
    cr_assert(hs_wait_done(&s, 1, 1000));
    cr_assert_eq(s.site.requests, 7);
    hs_stop(&s);
}

/* A request sent while the previous handler blocks its thread: the hub
 * saw its edge with the connection lent, and must still read it. */
Test(threads, a_request_sent_during_a_threaded_handler_is_read, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /block?100 HTTP/1.1\r\nHost: x\r\n\r\n");
    gs_sleep(30);
    hc_send(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(hs_status(hc_recv(c, false)), 200);
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/next");
    hc_close(c);
    hs_stop(&s);
}

Test(threads, a_failing_handler_on_a_thread_gets_a_500, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    const char *resp = get(c, "/fail");
    cr_assert_eq(hs_status(resp), 500);
    cr_assert_str_eq(hs_body(resp), "500 Internal Server Error\n");
    cr_assert_str_eq(hs_body(get(c, "/still")), "/still");
    hc_close(c);
    cr_assert(strstr(hs_error_log(&s), "app threaded: handler failed (-5)"), "%s",
              hs_error_log(&s));
    hs_stop(&s);
}

Test(threads, a_handler_failing_after_its_start_closes_the_connection, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /fail-late HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert(hc_closed(c, 1000));
    hc_close(c);
    cr_assert(strstr(hs_error_log(&s), "after starting its response"));
    hs_stop(&s);
}

/* ---- disconnects seen from a thread ---- */

static void leave_while_streaming(hs *s, const char *req, bool reset)
{
    hc *c = hc_open(s);
    hc_send(c, req);
    char buf[64];
    cr_assert_gt(gs_fd_read(c->fd, buf, sizeof(buf), HS_TIMEOUT), 0);
    gs_sleep(50); /* the handler is waiting by now */
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    hc_close(c);
    cr_assert(hs_wait_done(s, 1, 2000), "the handler did not notice");
}

Test(threads, wait_disconnect_on_a_thread_ends_when_the_client_closes, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    leave_while_streaming(&s, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n", false);
    cr_assert_eq(wait_result, -EPIPE);
    cr_assert(disconnected_after);
    cr_assert_lt(waited_ms, 1000);
    hs_stop(&s);
}

Test(threads, wait_disconnect_on_a_thread_ends_when_the_client_resets, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    leave_while_streaming(&s, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n", true);
    cr_assert_eq(wait_result, -EPIPE);
    cr_assert_lt(waited_ms, 1000);
    hs_stop(&s);
}

Test(threads, wait_disconnect_on_a_thread_waits_while_the_client_stays, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
    /* 5 s is the handler's bound: well before it, the client is there. */
    bool eof;
    cr_assert_null(hc_recv_try(c, false, 300, &eof));
    cr_assert_not(eof);
    hc_close(c);
    cr_assert(hs_wait_done(&s, 1, 2000));
    cr_assert_eq(wait_result, -EPIPE);
    cr_assert_geq(waited_ms, 250);
    hs_stop(&s);
}

Test(threads, gs_disconnected_polled_from_a_blocking_handler, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    leave_while_streaming(&s, "GET /spin HTTP/1.1\r\nHost: x\r\n\r\n", false);
    cr_assert(disconnected_after);
    cr_assert_lt(waited_ms, 1000);
    hs_stop(&s);
}

/* ---- stopping ---- */

Test(threads, a_killed_connection_waits_for_its_handler_thread, .timeout = 10)
{
    hs s;
    start(&s, 1, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /block?200 HTTP/1.1\r\nHost: x\r\n\r\n");
    gs_sleep(50);
    int64_t t0 = gs_now_ms();
    hs_stop(&s); /* kills and joins the connection's green thread */
    cr_assert_geq(gs_now_ms() - t0, 100, "the kill did not wait for the handler");
    hc_close(c);
}
