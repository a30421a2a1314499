/* http/conn: keep-alive (1.0 and 1.1), pipelining, heads arriving byte by
 * byte, Content-Length and chunked bodies, 100-continue, unread bodies,
 * HEAD, streaming (chunked and close-delimited), timeouts, 503. */
#include <sys/socket.h>

#include "http/harness.h"

#define GET11 "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

/* Answers with its PATH_INFO, so pipelined answers show their order. */
static int path_handle(gs_request *r, void *state)
{
    (void)state;
    const char *p = gs_env(r, "PATH_INFO");
    char len[32];
    snprintf(len, sizeof(len), "%zu", strlen(p));
    gs_start_response(r, 200, (const char *[]){"Content-Length", len, NULL});
    gs_write(r, p, strlen(p));
    return 0;
}

static const gs_app path_app = {.abi = GS_ABI_VERSION, .name = "path", .handle = path_handle};

/* Streams "one", then waits for the test's go, then "two". */
static gs_event *go;

static int stream_handle(gs_request *r, void *state)
{
    (void)state;
    gs_start_response(r, 200, (const char *[]){"Content-Type", "text/plain", NULL});
    if (gs_write(r, "one", 3) != 3)
        return -1;
    gs_event_wait(go, NULL, HS_TIMEOUT);
    return gs_write(r, "two", 3) == 3 ? 0 : -1;
}

static const gs_app stream_app = {.abi = GS_ABI_VERSION, .name = "stream", .handle = stream_handle};

Test(conn, keepalive_11, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    for (int i = 0; i < 3; i++) {
        hc_send(c, GET11);
        const char *resp = hc_recv(c, false);
        cr_assert_eq(hs_status(resp), 200);
        cr_assert_str_eq(hs_body(resp), "hello\n");
        cr_assert_str_eq(hs_header(resp, "Content-Length"), "6");
        cr_assert_str_eq(hs_header(resp, "Server"), "greenserve");
        cr_assert_null(hs_header(resp, "Connection"));
    }
    hc_close(c);
    cr_assert(hs_wait_done(&s, 1, 1000));
    cr_assert_eq(s.site.requests, 3);
    cr_assert_eq(s.site.active_conns, 0);
    hs_stop(&s);
}

Test(conn, http10_closes_by_default, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET / HTTP/1.0\r\n\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_header(resp, "Connection"), "close");
    cr_assert(hc_closed(c, 1000));
    hc_close(c);
    hs_stop(&s);
}

Test(conn, http10_keepalive_on_request, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    for (int i = 0; i < 2; i++) {
        hc_send(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        const char *resp = hc_recv(c, false);
        cr_assert_eq(hs_status(resp), 200);
        cr_assert_str_eq(hs_header(resp, "Connection"), "keep-alive");
    }
    hc_close(c);
    hs_stop(&s);
}

Test(conn, http11_connection_close, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_header(resp, "Connection"), "close");
    cr_assert(hc_closed(c, 1000));
    hc_close(c);
    hs_stop(&s);
}

Test(conn, pipelined_answers_in_order, .timeout = 10)
{
    hs s;
    hs_start1(&s, &path_app, NULL);
    hc *c = hc_open(&s);
    char batch[4096] = "";
    for (int i = 0; i < 16; i++) {
        char one[64];
        snprintf(one, sizeof(one), "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        strcat(batch, one);
    }
    hc_send(c, batch);
    for (int i = 0; i < 16; i++) {
        char want[16];
        snprintf(want, sizeof(want), "/%d", i);
        const char *resp = hc_recv(c, false);
        cr_assert_eq(hs_status(resp), 200);
        cr_assert_str_eq(hs_body(resp), want);
    }
    hc_close(c);
    hs_stop(&s);
}

Test(conn, pipelined_with_bodies, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
               "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
               "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nthi\r\n2\r\nrd\r\n0\r\n\r\n"
               "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nlast");
    const char *want[] = {"first", "", "third", "last"};
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(hs_body(hc_recv(c, false)), want[i], "response %d", i);
    hc_close(c);
    hs_stop(&s);
}

Test(conn, head_arriving_byte_by_byte, .timeout = 10)
{
    hs s;
    hs_start1(&s, &path_app, NULL);
    hc *c = hc_open(&s);
    hc_send_slowly(c, "GET /slow?x=1 HTTP/1.1\r\nHost: example\r\nUser-Agent: test\r\n\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_body(resp), "/slow");
    hc_send(c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/after");
    hc_close(c);
    hs_stop(&s);
}

Test(conn, body_content_length, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    const char *resp = hs_request(&s, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                                      "hello world");
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_body(resp), "hello world");
    hs_stop(&s);
}

Test(conn, body_chunked_with_trailers, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "hello 0123456789");
    hc_send(c, GET11);
    cr_assert_eq(hs_status(hc_recv(c, false)), 200);
    hc_close(c);
    hs_stop(&s);
}

Test(conn, body_chunked_byte_by_byte, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    hc *c = hc_open(&s);
    hc_send_slowly(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "abcde");
    hc_close(c);
    hs_stop(&s);
}

/* Reads its body one byte at a time, then echoes it. */
static int byte_echo_handle(gs_request *r, void *state)
{
    (void)state;
    static char body[256];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof(body) && (got = gs_read(r, body + n, 1)) > 0)
        n += (size_t)got;
    char len[32];
    snprintf(len, sizeof(len), "%zu", n);
    gs_start_response(r, 200, (const char *[]){"Content-Length", len, NULL});
    gs_write(r, body, n);
    return 0;
}

static const gs_app byte_echo_app = {
    .abi = GS_ABI_VERSION, .name = "byte-echo", .handle = byte_echo_handle};

Test(conn, body_read_one_byte_at_a_time, .timeout = 10)
{
    hs s;
    hs_start1(&s, &byte_echo_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
               "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "abcde");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "xyz");
    hc_close(c);
    hs_stop(&s);
}

/* Big enough to go through the direct read into the handler's buffer. */
Test(conn, body_large_content_length, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    size_t n = 200 * 1000;
    char *body = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    body[n] = '\0';
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n");
    hc_sendn(c, body, n);
    hc_send(c, GET11); /* pipelined right behind the body */
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_eq(strlen(hs_body(resp)), n);
    cr_assert(memcmp(hs_body(resp), body, n) == 0);
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "");
    free(body);
    hc_close(c);
    hs_stop(&s);
}

Test(conn, expect_100_continue_when_the_handler_reads, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    const char *interim = hc_recv(c, false);
    cr_assert_str_eq(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    hc_send(c, "body");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_body(resp), "body");
    hc_close(c);
    hs_stop(&s);
}

Test(conn, expect_100_not_sent_when_unread, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_header(resp, "Connection"), "close");
    cr_assert(hc_closed(c, 2000));
    hc_close(c);
    hs_stop(&s);
}

Test(conn, unread_body_is_drained, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
    cr_assert_eq(hs_status(hc_recv(c, false)), 200);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "4\r\nabcd\r\n0\r\n\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_null(hs_header(resp, "Connection"));
    hc_send(c, GET11);
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "hello\n");
    hc_close(c);
    hs_stop(&s);
}

Test(conn, unread_body_arriving_late_is_drained, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234");
    cr_assert_eq(hs_status(hc_recv(c, false)), 200);
    hc_send(c, "56789" GET11);
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "hello\n");
    hc_close(c);
    hs_stop(&s);
}

Test(conn, large_unread_body_closes, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nxyz");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_header(resp, "Connection"), "close");
    cr_assert(hc_closed(c, 3000));
    hc_close(c);
    hs_stop(&s);
}

Test(conn, head_sends_no_body, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *resp = hc_recv(c, true);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_header(resp, "Content-Length"), "6");
    cr_assert_str_eq(hs_body(resp), "");
    /* Had a body been sent, it would precede this response. */
    hc_send(c, GET11);
    resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_body(resp), "hello\n");
    hc_close(c);
    hs_stop(&s);
}

Test(conn, chunked_streaming_goes_out_at_once, .timeout = 10)
{
    hs s;
    go = gs_event_new();
    hs_start1(&s, &stream_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, GET11);
    char buf[4096];
    size_t n = 0;
    while (!memmem(buf, n, "3\r\none\r\n", 8)) {
        ssize_t got = gs_fd_read(c->fd, buf + n, sizeof(buf) - n, HS_TIMEOUT);
        cr_assert(got > 0, "the first chunk did not come while the handler waits");
        n += (size_t)got;
    }
    buf[n] = '\0';
    cr_assert_str_eq(hs_header(buf, "Transfer-Encoding"), "chunked");
    cr_assert_null(hs_header(buf, "Content-Length"));
    gs_event_send(go, NULL);
    memcpy(c->buf, buf, n);
    c->len = n;
    const char *resp = hc_recv(c, false);
    cr_assert_str_eq(hs_dechunk(resp), "onetwo");
    hc_send(c, GET11); /* the terminator was right: the connection is fine */
    cr_assert_eq(hs_status(hc_recv(c, false)), 200);
    hc_close(c);
    hs_stop(&s);
    gs_event_free(go);
}

Test(conn, http10_streaming_is_close_delimited, .timeout = 10)
{
    hs s;
    go = gs_event_new();
    gs_event_send(go, NULL);
    hs_start1(&s, &stream_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_null(hs_header(resp, "Transfer-Encoding"));
    cr_assert_null(hs_header(resp, "Content-Length"));
    cr_assert_str_eq(hs_header(resp, "Connection"), "close");
    cr_assert_str_eq(hs_body(resp), "onetwo");
    hc_close(c);
    hs_stop(&s);
    gs_event_free(go);
}

Test(conn, half_closed_client_gets_every_answer, .timeout = 10)
{
    hs s;
    hs_start1(&s, &path_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown(c->fd, SHUT_WR);
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/a");
    cr_assert_str_eq(hs_body(hc_recv(c, false)), "/b");
    cr_assert(hc_closed(c, 1000));
    hc_close(c);
    hs_stop(&s);
}

static void short_timeouts(http_limits *l)
{
    l->keepalive_timeout_ms = 100;
    l->header_timeout_ms = 150;
    l->body_timeout_ms = 150;
}

Test(conn, idle_keepalive_closes_silently, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, short_timeouts);
    hc *c = hc_open(&s);
    hc_send(c, GET11);
    cr_assert_eq(hs_status(hc_recv(c, false)), 200);
    char b;
    cr_assert_eq(gs_fd_read(c->fd, &b, 1, 2000), 0, "expected a silent close");
    cr_assert_null(strstr(hs_error_log(&s), "408"));
    hc_close(c);
    hs_stop(&s);
}

Test(conn, silent_fresh_connection_closes_silently, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, short_timeouts);
    hc *c = hc_open(&s);
    char b;
    cr_assert_eq(gs_fd_read(c->fd, &b, 1, 2000), 0, "expected a silent close");
    hc_close(c);
    hs_stop(&s);
}

Test(conn, head_timeout_is_408, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, short_timeouts);
    hc *c = hc_open(&s);
    hc_send(c, "GET /partial HTTP/1.1\r\nHost: x\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 408);
    cr_assert(hc_closed(c, 1000));
    const char *log = hs_error_log(&s);
    cr_assert(strstr(log, "408 Request Timeout: request head not complete in time"), "%s", log);
    cr_assert(strstr(log, "client 127.0.0.1:"), "%s", log);
    cr_assert(strstr(log, "request \"GET /partial HTTP/1.1\""), "%s", log);
    hc_close(c);
    cr_assert_eq(hs_status(hs_request(&s, GET11)), 200);
    hs_stop(&s);
}

/* A head trickling in forever is still cut at header_timeout_ms. */
Test(conn, head_timeout_counts_from_the_first_byte, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, short_timeouts);
    hc *c = hc_open(&s);
    int64_t t0 = gs_now_ms();
    const char *resp = NULL;
    hc_send(c, "GET /");
    for (int i = 0; i < 100 && !resp; i++) {
        hc_send(c, "a");
        bool eof;
        resp = hc_recv_try(c, false, 20, &eof);
    }
    cr_assert_not_null(resp);
    cr_assert_eq(hs_status(resp), 408);
    cr_assert_lt(gs_now_ms() - t0, 1000);
    hc_close(c);
    hs_stop(&s);
}

Test(conn, body_timeout_is_408, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, short_timeouts);
    hc *c = hc_open(&s);
    hc_send(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 408);
    cr_assert_str_eq(hs_header(resp, "Connection"), "close");
    cr_assert(hc_closed(c, 2000));
    const char *log = hs_error_log(&s);
    cr_assert(strstr(log, "408 Request Timeout: no body bytes for 150 ms"), "%s", log);
    cr_assert(strstr(log, "request \"POST /up HTTP/1.1\""), "%s", log);
    hc_close(c);
    cr_assert_eq(hs_status(hs_request(&s, GET11)), 200);
    hs_stop(&s);
}

static void one_conn(http_limits *l)
{
    l->max_conns = 1;
}

Test(conn, too_many_connections_is_503, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, one_conn);
    hc *a = hc_open(&s);
    hc_send(a, GET11);
    cr_assert_eq(hs_status(hc_recv(a, false)), 200);
    hc *b = hc_open(&s);
    hc_send(b, GET11);
    const char *resp = hc_recv(b, false);
    cr_assert_eq(hs_status(resp), 503);
    cr_assert_str_eq(hs_header(resp, "Retry-After"), "1");
    cr_assert(hc_closed(b, 1000));
    hc_close(b);
    const char *log = hs_error_log(&s);
    cr_assert(strstr(log, "503 Service Unavailable: 1 connections open, limit 1; client 127.0.0.1"),
              "%s", log);
    hc_close(a);
    cr_assert(hs_wait_done(&s, 1, 1000));
    cr_assert_eq(hs_status(hs_request(&s, GET11)), 200);
    hs_stop(&s);
}
