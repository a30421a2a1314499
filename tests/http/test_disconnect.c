/* A handler learns that its client left: gs_disconnected,
 * gs_wait_disconnect (-EPIPE on a close or a reset), gs_write (-EPIPE);
 * gs_alloc and gs_defer end with the request, also then. Pipelined
 * answers are not held back by a handler that parks. */
#include <sys/socket.h>

#include "http/harness.h"

static gs_event *waiting; /* sent by the handler once it waits */
static gs_event *ended;   /* sent by its deferred clean-up */
static gs_event *go;      /* sent by the test to let /wait finish */
static int wait_result;
static bool disconnected_after;
static char order[64];

static void note(void *arg)
{
    strcat(order, arg);
}

static void cleanup(void *arg)
{
    (void)arg;
    strcat(order, "end;");
    gs_event_send(ended, NULL);
}

static int respond(gs_request *r, const char *body)
{
    char len[32];
    snprintf(len, sizeof(len), "%zu", strlen(body));
    gs_start_response(r, 200, (const char *[]){"Content-Length", len, NULL});
    return gs_write(r, body, strlen(body)) < 0 ? -1 : 0;
}

/* /poll?ms: wait for the client to leave (or ms); /stream: write until
 * the client is gone; /wait: park on the test's event; else answer. */
static int poll_handle(gs_request *r, void *state)
{
    (void)state;
    const char *path = gs_env(r, "PATH_INFO");
    if (strcmp(path, "/poll") == 0) {
        gs_defer(r, cleanup, NULL);
        gs_event_send(waiting, NULL);
        wait_result = gs_wait_disconnect(r, atoi(gs_env(r, "QUERY_STRING")));
        disconnected_after = gs_disconnected(r);
        return wait_result == -ETIMEDOUT ? respond(r, "timeout") : 0;
    }
    if (strcmp(path, "/stream") == 0) {
        gs_defer(r, cleanup, NULL);
        gs_start_response(r, 200, NULL);
        gs_event_send(waiting, NULL);
        for (int i = 0; i < 1000; i++) {
            ssize_t w = gs_write(r, "tick\n", 5);
            if (w < 0) {
                wait_result = (int)w;
                return 0;
            }
            gs_sleep(2);
        }
        return 0;
    }
    if (strcmp(path, "/chan") == 0) {
        gs_defer(r, cleanup, NULL);
        gs_event_send(waiting, NULL);
        gs_chan_batch b;
        wait_result = gs_chan_wait("test:disconnect", GS_CHAN_NEW, 5000, &b);
        gs_chan_release(&b);
        return 0;
    }
    if (strcmp(path, "/wait") == 0) {
        gs_event_wait(go, NULL, HS_TIMEOUT);
        return respond(r, "waited");
    }
    return respond(r, path);
}

static const gs_app poll_app = {.abi = GS_ABI_VERSION, .name = "poll", .handle = poll_handle};

static void setup(hs *s)
{
    waiting = gs_event_new();
    ended = gs_event_new();
    go = gs_event_new();
    wait_result = 0;
    order[0] = '\0';
    hs_start1(s, &poll_app, NULL);
}

static void teardown(hs *s)
{
    hs_stop(s);
    gs_event_free(waiting);
    gs_event_free(ended);
    gs_event_free(go);
}

Test(disconnect, wait_ends_when_the_client_closes, .timeout = 10)
{
    hs s;
    setup(&s);
    hc *c = hc_open(&s);
    hc_send(c, "GET /poll?5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(gs_event_wait(waiting, NULL, HS_TIMEOUT), 0);
    int64_t t0 = gs_now_ms();
    hc_close(c);
    cr_assert_eq(gs_event_wait(ended, NULL, HS_TIMEOUT), 0, "the defer did not run");
    cr_assert_lt(gs_now_ms() - t0, 1000);
    cr_assert_eq(wait_result, -EPIPE);
    cr_assert(disconnected_after);
    cr_assert(hs_wait_done(&s, 1, 1000));
    teardown(&s);
}

Test(disconnect, wait_ends_when_the_client_resets, .timeout = 10)
{
    hs s;
    setup(&s);
    hc *c = hc_open(&s);
    hc_send(c, "GET /poll?5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(gs_event_wait(waiting, NULL, HS_TIMEOUT), 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* close sends RST */
    hc_close(c);
    cr_assert_eq(gs_event_wait(ended, NULL, HS_TIMEOUT), 0, "the defer did not run");
    cr_assert_eq(wait_result, -EPIPE);
    cr_assert(hs_wait_done(&s, 1, 1000));
    teardown(&s);
}

Test(disconnect, wait_times_out_while_the_client_stays, .timeout = 10)
{
    hs s;
    setup(&s);
    hc *c = hc_open(&s);
    hc_send(c, "GET /poll?50 HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "timeout");
    cr_assert_eq(wait_result, -ETIMEDOUT);
    cr_assert_not(disconnected_after);
    cr_assert_str_eq(order, "end;");
    hc_send(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/next");
    hc_close(c);
    teardown(&s);
}

Test(disconnect, streaming_write_fails_once_the_client_is_gone, .timeout = 10)
{
    hs s;
    setup(&s);
    hc *c = hc_open(&s);
    hc_send(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(gs_event_wait(waiting, NULL, HS_TIMEOUT), 0);
    char buf[256];
    cr_assert_gt(gs_fd_read(c->fd, buf, sizeof(buf), HS_TIMEOUT), 0);
    hc_close(c);
    cr_assert_eq(gs_event_wait(ended, NULL, HS_TIMEOUT), 0, "the defer did not run");
    cr_assert_eq(wait_result, -EPIPE);
    teardown(&s);
}

/* /wait parks on an event, not on one of ours: the answer to /a, before
 * it in the pipeline, must still come while it waits. */
Test(disconnect, pipelined_answers_are_not_held_by_a_parked_handler, .timeout = 10)
{
    hs s;
    setup(&s);
    hc *c = hc_open(&s);
    hc_send(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/a");
    gs_event_send(go, NULL);
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "waited");
    hc_close(c);
    teardown(&s);
}

static int arena_handle(gs_request *r, void *state)
{
    (void)state;
    char *small = gs_alloc(r, 10);
    char *big = gs_alloc(r, 100000);
    char *more = gs_alloc(r, 3000);
    if (!small || !big || !more || ((uintptr_t)small & 15) || ((uintptr_t)more & 15))
        return -ENOMEM;
    memset(big, 'x', 100000);
    memset(more, 'y', 3000);
    strcpy(small, "ok");
    gs_defer(r, note, "1;");
    gs_defer(r, note, "2;");
    gs_defer(r, note, "3;");
    return respond(r, small);
}

static const gs_app arena_app = {.abi = GS_ABI_VERSION, .name = "arena", .handle = arena_handle};

Test(disconnect, alloc_and_defer_end_with_the_request, .timeout = 10)
{
    hs s;
    order[0] = '\0';
    hs_start1(&s, &arena_app, NULL);
    hc *c = hc_open(&s);
    for (int i = 0; i < 2; i++) {
        hc_send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        cr_assert_str_eq(hs_body(hc_recv(c, false)), "ok");
    }
    cr_assert_str_eq(order, "3;2;1;3;2;1;");
    hc_close(c);
    hs_stop(&s);
}

/* A long-poll parked on a channel is not left until its timeout: the
 * client's close ends the wait with -EPIPE. */
Test(disconnect, channel_wait_ends_with_epipe_when_the_client_closes, .timeout = 10)
{
    hs s;
    setup(&s);
    hc *c = hc_open(&s);
    hc_send(c, "GET /chan HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(gs_event_wait(waiting, NULL, HS_TIMEOUT), 0);
    gs_sleep(20); /* let the handler park in gs_chan_wait */
    int64_t t0 = gs_now_ms();
    hc_close(c);
    cr_assert_eq(gs_event_wait(ended, NULL, HS_TIMEOUT), 0, "the handler did not end");
    cr_assert_eq(wait_result, -EPIPE);
    cr_assert_lt(gs_now_ms() - t0, 1000);
    teardown(&s);
}
