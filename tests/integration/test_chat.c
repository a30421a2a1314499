/* apps/chat.so in the real executable: long-poll (buffered messages at
 * once, a wait woken by a send, the timeout, `dropped`, JSON escaping,
 * the size limit), Server-Sent Events (ids, multi-line data, resuming
 * from Last-Event-ID, heartbeats, a stalled reader cut while the others
 * go on), clients leaving, and a draining worker. One process
 * (--workers 0) unless a test says otherwise. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/client.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 20];
static char out[1 << 16];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

TestSuite(chat, .fini = stop_server, .timeout = 20);

/* One process, chat.so at /chat with the mount arguments given. */
static void start_with(const char *workers, const char *args)
{
    char mount[256];
    snprintf(mount, sizeof(mount), "/chat={build}/apps/chat.so%s%s", *args ? ":" : "", args);
    const char *argv[] = {"--workers", workers, mount, NULL};
    cr_assert_eq(ts_start(&srv, argv), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

static void start(const char *args)
{
    start_with("0", args);
}

/* ---- HTTP by hand ---- */

/* req on a connection of its own; the response is in resp. */
static int request(const char *req)
{
    resp[0] = '\0';
    cr_assert_gt(ts_request(srv.port, req, resp, sizeof(resp), 10000), 0, "no answer to %s", req);
    return ts_status(resp);
}

static int get(const char *target)
{
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    return request(req);
}

/* Head and body in one send: two would meet Nagle and a delayed ACK. */
static int post_on(int fd, const char *room, const void *body, size_t n)
{
    static char req[1 << 17];
    int len = snprintf(req, sizeof(req),
                       "POST /chat/send?room=%s HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
                       room, n);
    cr_assert_lt((size_t)len + n, sizeof(req));
    memcpy(req + len, body, n);
    cr_assert_eq(ts_send(fd, req, (size_t)len + n), 0);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0, "no answer to a send");
    return ts_status(resp);
}

/* The number after "key": in s, or -1. */
static long long json_num(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(s, k);
    return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

/* Publish body on room; its id. */
static long long send_msg(const char *room, const void *body, size_t n)
{
    int fd = ts_connect(srv.port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(post_on(fd, room, body, n), 200, "%s", resp);
    close(fd);
    long long id = json_num(ts_body(resp), "id");
    cr_assert_gt(id, 0, "%s", resp);
    return id;
}

static long long send_str(const char *room, const char *s)
{
    return send_msg(room, s, strlen(s));
}

/* A counter of the worker's /chat/stats. */
static long long counter(const char *key)
{
    cr_assert_eq(get("/chat/stats"), 200, "%s", resp);
    return json_num(ts_body(resp), key);
}

/* Wait (asking /chat/stats) until key has the value. */
static bool stat_becomes(const char *key, long long value, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    while (counter(key) != value)
        if (ts_now_ms() > deadline || usleep(10 * 1000) < 0)
            return false;
    return true;
}

static int send_get(const char *target)
{
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    int fd = ts_connect(srv.port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    return fd;
}

/* ---- event streams ---- */

typedef struct sse {
    int fd;
    char *buf;
    size_t len, cap;
} sse;

/* An event stream over HTTP/1.0, so that the body is the events as they
 * are (close-delimited, no chunk framing); extra is more header lines. */
static void sse_open(sse *s, const char *target, const char *extra)
{
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: t\r\n%s\r\n", target, extra);
    *s = (sse){.fd = ts_connect(srv.port), .cap = 8 << 20};
    s->buf = calloc(1, s->cap);
    cr_assert(s->fd >= 0 && s->buf);
    cr_assert_eq(ts_send(s->fd, req, strlen(req)), 0);
}

static void sse_close(sse *s)
{
    close(s->fd);
    free(s->buf);
}

/* Read what has come within wait_ms. False at EOF. */
static bool sse_read(sse *s, int wait_ms)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    while (poll(&p, 1, wait_ms) > 0) {
        ssize_t n = recv(s->fd, s->buf + s->len, s->cap - 1 - s->len, MSG_DONTWAIT);
        if (n <= 0)
            return false;
        s->buf[s->len += (size_t)n] = '\0';
        wait_ms = 0;
    }
    return true;
}

/* Read until the stream holds needle (true), or EOF / timeout. */
static bool sse_until(sse *s, const char *needle, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    while (!strstr(s->buf, needle)) {
        int64_t left = deadline - ts_now_ms();
        if (left <= 0 || !sse_read(s, (int)(left < 50 ? left : 50)))
            return strstr(s->buf, needle) != NULL;
    }
    return true;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* ---- long-poll ---- */

Test(chat, poll_returns_buffered_messages_at_once)
{
    start("");
    long long a = send_str("r", "first"), b = send_str("r", "second");
    cr_assert_eq(b, a + 1, "ids are consecutive along a room");
    int64_t t0 = ts_now_ms();
    char target[128];
    snprintf(target, sizeof(target), "/chat/poll?room=r&after=%lld&timeout=10", a - 1);
    cr_assert_eq(get(target), 200, "%s", resp);
    cr_assert_lt(ts_now_ms() - t0, 2000, "it waited though messages were there");
    char want[256];
    snprintf(want, sizeof(want),
             "{\"messages\":[{\"id\":%lld,\"data\":\"first\"},{\"id\":%lld,\"data\":\"second\"}],"
             "\"last\":%lld}\n",
             a, b, b);
    cr_assert_str_eq(ts_body(resp), want);
    /* after=last: only what came since. */
    snprintf(target, sizeof(target), "/chat/poll?room=r&after=%lld&timeout=10", a);
    cr_assert_eq(get(target), 200);
    cr_assert_eq(count(ts_body(resp), "\"id\":"), 1, "%s", resp);
    /* No after: whatever the room holds. */
    cr_assert_eq(get("/chat/poll?room=r"), 200);
    cr_assert_eq(count(ts_body(resp), "\"id\":"), 2, "%s", resp);
    cr_assert(strstr(resp, "Content-Type: application/json\r\n"), "%s", resp);
}

Test(chat, poll_waits_and_a_send_wakes_it)
{
    start("");
    long long a = send_str("w", "before");
    char target[128];
    snprintf(target, sizeof(target), "/chat/poll?room=w&after=%lld&timeout=15", a);
    int fd = send_get(target);
    cr_assert(stat_becomes("polls", 1, 3000), "the poll is not waiting");
    int64_t t0 = ts_now_ms();
    long long b = send_str("w", "news");
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0);
    cr_assert_lt(ts_now_ms() - t0, 1000, "the send did not wake the poll");
    close(fd);
    char want[128];
    snprintf(want, sizeof(want), "{\"messages\":[{\"id\":%lld,\"data\":\"news\"}],\"last\":%lld}\n",
             b, b);
    cr_assert_str_eq(ts_body(resp), want);
    cr_assert_eq(counter("polls"), 0);
}

Test(chat, poll_timeout_answers_empty_with_last_unchanged)
{
    start("");
    long long a = send_str("t", "only");
    char target[128];
    snprintf(target, sizeof(target), "/chat/poll?room=t&after=%lld&timeout=0.3", a);
    int64_t t0 = ts_now_ms();
    cr_assert_eq(get(target), 200, "%s", resp);
    int64_t took = ts_now_ms() - t0;
    cr_assert(took >= 250 && took < 2000, "a 300 ms timeout took %lld ms", (long long)took);
    char want[64];
    snprintf(want, sizeof(want), "{\"messages\":[],\"last\":%lld}\n", a);
    cr_assert_str_eq(ts_body(resp), want);
}

Test(chat, poll_timeout_is_capped)
{
    start("max_timeout=300");
    int64_t t0 = ts_now_ms();
    cr_assert_eq(get("/chat/poll?room=c&after=1&timeout=3600"), 200, "%s", resp);
    cr_assert_lt(ts_now_ms() - t0, 2000, "an hour was not capped to 300 ms");
    cr_assert_str_eq(ts_body(resp), "{\"messages\":[],\"last\":1}\n");
}

Test(chat, poll_reports_dropped_when_after_is_too_old)
{
    start("history=4");
    long long first = 0, last = 0;
    for (int i = 0; i < 10; i++) {
        char m[16];
        snprintf(m, sizeof(m), "m%d", i);
        last = send_str("d", m);
        first = first ? first : last;
    }
    char target[128];
    snprintf(target, sizeof(target), "/chat/poll?room=d&after=%lld&timeout=5", first);
    cr_assert_eq(get(target), 200, "%s", resp);
    const char *body = ts_body(resp);
    cr_assert(strstr(body, "\"dropped\":true"), "%s", body);
    cr_assert_eq(json_num(body, "last"), last, "%s", body);
    cr_assert_eq(count(body, "\"id\":"), 4, "the ring keeps 4: %s", body);
    cr_assert(strstr(body, "\"data\":\"m6\"") && strstr(body, "\"data\":\"m9\""), "%s", body);
    /* Coming back with last: in step again. */
    snprintf(target, sizeof(target), "/chat/poll?room=d&after=%lld&timeout=0.1", last);
    cr_assert_eq(get(target), 200);
    cr_assert_null(strstr(ts_body(resp), "dropped"), "%s", resp);
}

Test(chat, json_escaping_round_trip)
{
    start("");
    /* Quotes, backslash, the named and the other control characters,
     * DEL, two- and four-byte UTF-8, and bytes that are not UTF-8: a
     * stray 0xff, a truncated sequence, a surrogate, past U+10FFFF,
     * an overlong '/'. */
    static const char sent[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f "
                               "\xc3\xa9\xf0\x9f\x98\x80 \xff \xc3( \xed\xa0\x80 \xf4\x90\x80\x80 "
                               "\xe0\x80\xaf.";
    static const char want[] = "q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f "
                               "\xc3\xa9\xf0\x9f\x98\x80 \\ufffd \\ufffd( "
                               "\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\\ufffd "
                               "\\ufffd\\ufffd\\ufffd.";
    long long id = send_msg("j", sent, sizeof(sent) - 1);
    char target[128];
    snprintf(target, sizeof(target), "/chat/poll?room=j&after=%lld", id - 1);
    cr_assert_eq(get(target), 200, "%s", resp);
    const char *data = strstr(ts_body(resp), "\"data\":\"");
    cr_assert(data, "%s", resp);
    data += 8;
    cr_assert_eq(strncmp(data, want, sizeof(want) - 1), 0, "got %s", data);
    cr_assert_eq(strncmp(data + sizeof(want) - 1, "\"}],\"last\":", 11), 0, "%s", data);
}

Test(chat, json_is_what_a_parser_reads_back)
{
    start("");
    /* What Python's json decodes must be the message (valid UTF-8
     * here), newlines and quotes included. */
    static const char sent[] = "line 1\nline \"2\"\t\\ end \xe2\x82\xac \xf0\x9f\x98\x80\r\n\x02";
    long long id = send_msg("p", sent, sizeof(sent) - 1);
    char file[128];
    snprintf(file, sizeof(file), "%s/sent", srv.dir);
    FILE *f = fopen(file, "wb");
    cr_assert(f && fwrite(sent, 1, sizeof(sent) - 1, f) == sizeof(sent) - 1);
    fclose(f);
    cr_assert_eq(ts_sh(out, sizeof(out),
                       "curl -sS 'http://127.0.0.1:%d/chat/poll?room=p&after=%lld' | python3 -c '"
                       "import json, sys\n"
                       "m = json.load(sys.stdin)[\"messages\"][0][\"data\"]\n"
                       "want = open(\"%s\", \"rb\").read().decode()\n"
                       "print(\"same\" if m == want else \"differs: %%r %%r\" %% (m, want))'",
                       srv.port, id - 1, file),
                 0, "%s", out);
    unlink(file);
    cr_assert_str_eq(out, "same\n");
}

Test(chat, send_over_the_limit_is_413)
{
    start("max_message=1024");
    static char big[1025];
    memset(big, 'x', sizeof(big));
    int fd = ts_connect(srv.port);
    cr_assert_eq(post_on(fd, "l", big, 1024), 200, "exactly the limit: %s", resp);
    close(fd);
    fd = ts_connect(srv.port);
    cr_assert_eq(post_on(fd, "l", big, 1025), 413, "%s", resp);
    close(fd);
    /* Chunked, so the size is known only from the body. */
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "POST /chat/send?room=l HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                     "\r\n\r\n200\r\n%.512s\r\n201\r\n%.513s\r\n0\r\n\r\n",
                     big, big);
    cr_assert_lt(n, (int)sizeof(req));
    cr_assert_eq(request(req), 413, "%s", resp);
    /* Nothing of them was published. */
    cr_assert_eq(get("/chat/poll?room=l&timeout=0.1"), 200);
    cr_assert_eq(count(ts_body(resp), "\"id\":"), 1, "%s", resp);
}

Test(chat, bad_requests)
{
    start("");
    cr_assert_eq(get("/chat/send?room=x"), 405, "%s", resp);
    char allow[32];
    cr_assert(ts_header(resp, "Allow", allow, sizeof(allow)) && strcmp(allow, "POST") == 0, "%s",
              resp);
    cr_assert_eq(get("/chat/poll?room=a%01b"), 400, "a control character in a room: %s", resp);
    cr_assert_eq(get("/chat/poll?room="), 400, "an empty room: %s", resp);
    cr_assert_eq(get("/chat/poll?room=x&after=12abc"), 400, "%s", resp);
    cr_assert_eq(get("/chat/nothing"), 404, "%s", resp);
}

Test(chat, client_leaving_a_poll_ends_its_handler)
{
    start("");
    int fd = send_get("/chat/poll?room=gone&after=1&timeout=30");
    cr_assert(stat_becomes("polls", 1, 3000), "the poll is not waiting");
    close(fd);
    cr_assert(stat_becomes("polls", 0, 3000), "the handler waits on for a client that left");
    cr_assert(ts_log_wait(&srv, srv.access_log, "GET /chat/poll?room=gone", 3000),
              "the request did not end");
}

/* ---- the page ---- */

Test(chat, page_and_the_slash)
{
    start("");
    cr_assert_eq(get("/chat/"), 200, "%s", resp);
    char type[64];
    cr_assert(ts_header(resp, "Content-Type", type, sizeof(type)));
    cr_assert_str_eq(type, "text/html; charset=utf-8");
    cr_assert(strstr(ts_body(resp), "new EventSource(") && strstr(ts_body(resp), "transport"),
              "%.300s", ts_body(resp));
    cr_assert_eq(get("/chat?room=x"), 301, "%s", resp);
    char where[64];
    cr_assert(ts_header(resp, "Location", where, sizeof(where)));
    cr_assert_str_eq(where, "/chat/?room=x");
}

/* ---- Server-Sent Events ---- */

Test(chat, events_arrive_with_ids_and_lines)
{
    start("");
    sse s;
    sse_open(&s, "/chat/events?room=e", "");
    cr_assert(sse_until(&s, "retry: ", 3000), "%s", s.buf);
    cr_assert(strstr(s.buf, "Content-Type: text/event-stream"), "%s", s.buf);
    cr_assert(stat_becomes("streams", 1, 3000));
    long long a = send_str("e", "hello");
    long long b = send_str("e", "one\ntwo\r\nthree\rfour\n");
    char want[256];
    snprintf(want, sizeof(want),
             "id: %lld\ndata: hello\n\nid: %lld\ndata: one\ndata: two\ndata: three\n"
             "data: four\ndata: \n\n",
             a, b);
    cr_assert(sse_until(&s, want, 3000), "want:\n%s\ngot:\n%s", want, s.buf);
    sse_close(&s);
    cr_assert(stat_becomes("streams", 0, 3000), "the stream outlived its client");
}

Test(chat, events_over_http11_are_chunked)
{
    start("");
    long long a = send_str("c", "x");
    char target[64];
    snprintf(target, sizeof(target), "/chat/events?room=c&after=%lld", a - 1);
    int fd = send_get(target);
    sse s = {.fd = fd, .cap = 1 << 16};
    s.buf = calloc(1, s.cap);
    char want[64];
    snprintf(want, sizeof(want), "id: %lld\ndata: x\n\n", a);
    cr_assert(sse_until(&s, want, 3000), "%s", s.buf);
    cr_assert(strstr(s.buf, "Transfer-Encoding: chunked\r\n"), "%s", s.buf);
    sse_close(&s);
}

Test(chat, last_event_id_resumes_without_gap_or_duplicate)
{
    start("");
    long long id[3];
    for (int i = 0; i < 3; i++)
        id[i] = send_str("le", i == 0 ? "m0" : i == 1 ? "m1" : "m2");
    char hdr[64], want[128];
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld\r\n", id[0]);
    sse s;
    sse_open(&s, "/chat/events?room=le", hdr);
    cr_assert(sse_until(&s, "data: m2\n\n", 3000), "%s", s.buf);
    long long more = send_str("le", "m3");
    snprintf(want, sizeof(want),
             "id: %lld\ndata: m1\n\nid: %lld\ndata: m2\n\nid: %lld\ndata: m3\n\n", id[1], id[2],
             more);
    cr_assert(sse_until(&s, want, 3000), "want:\n%s\ngot:\n%s", want, s.buf);
    cr_assert_eq(count(s.buf, "id: "), 3, "a duplicate or a stray: %s", s.buf);
    sse_close(&s);

    /* ?after= does the same for clients that cannot set headers. */
    char target[96];
    snprintf(target, sizeof(target), "/chat/events?room=le&after=%lld", id[2]);
    sse_open(&s, target, "");
    snprintf(want, sizeof(want), "id: %lld\ndata: m3\n\n", more);
    cr_assert(sse_until(&s, want, 3000), "%s", s.buf);
    cr_assert_eq(count(s.buf, "id: "), 1, "%s", s.buf);
    sse_close(&s);
}

Test(chat, events_tell_a_client_that_lost_messages)
{
    start("history=2");
    long long id[5];
    for (int i = 0; i < 5; i++)
        id[i] = send_str("ld", i < 3 ? "old" : i == 3 ? "m3" : "m4");
    char hdr[64], want[160];
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld\r\n", id[0]);
    sse s;
    sse_open(&s, "/chat/events?room=ld", hdr);
    snprintf(want, sizeof(want),
             "event: dropped\ndata: some messages were lost\n\n"
             "id: %lld\ndata: m3\n\nid: %lld\ndata: m4\n\n",
             id[3], id[4]);
    cr_assert(sse_until(&s, want, 3000), "want:\n%s\ngot:\n%s", want, s.buf);
    sse_close(&s);
}

Test(chat, heartbeat_comment_on_a_quiet_stream)
{
    start("heartbeat=200");
    sse s;
    sse_open(&s, "/chat/events?room=hb", "");
    int64_t t0 = ts_now_ms();
    cr_assert(sse_until(&s, ": heartbeat\n\n", 3000), "%s", s.buf);
    cr_assert(sse_until(&s, ": heartbeat\n\n: heartbeat\n\n", 3000), "%s", s.buf);
    int64_t took = ts_now_ms() - t0;
    cr_assert(took >= 300, "two heartbeats 200 ms apart came in %lld ms", (long long)took);
    sse_close(&s);
}

/* A client with a tiny receive buffer that never reads: once the room
 * has received more than `queue` bytes while its stream was stuck in a
 * write, the stream is cut with a log line; another client of the room
 * gets every message meanwhile. */
Test(chat, stalled_reader_is_cut_and_the_others_go_on)
{
    start("queue=16384");
    int stuck = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 2048;
    setsockopt(stuck, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)srv.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(stuck, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *req = "GET /chat/events?room=s HTTP/1.0\r\n\r\n";
    cr_assert_eq(ts_send(stuck, req, strlen(req)), 0);
    sse ok;
    sse_open(&ok, "/chat/events?room=s", "");
    cr_assert(stat_becomes("streams", 2, 3000));

    static char body[1000];
    memset(body, 'z', sizeof(body));
    int fd = ts_connect(srv.port);
    long long first = 0, last = 0;
    for (int i = 0; i < 4000 && (i % 50 || counter("cut") == 0); i++) {
        cr_assert_eq(post_on(fd, "s", body, sizeof(body)), 200, "%s", resp);
        last = json_num(ts_body(resp), "id");
        first = first ? first : last;
        cr_assert(sse_read(&ok, 0), "the healthy stream ended");
    }
    close(fd);
    cr_assert(ts_log_wait(&srv, srv.error_log, "app chat: room \"s\": cut the event stream", 3000),
              "no log line for the cut stream");
    cr_assert(ts_closed_within(stuck, 5000), "the stalled stream is still open");
    close(stuck);

    char want[64];
    snprintf(want, sizeof(want), "id: %lld\n", last);
    cr_assert(sse_until(&ok, want, 5000), "the healthy client lost messages");
    cr_assert_eq((long long)count(ok.buf, "id: "), last - first + 1, "every message, once");
    sse_close(&ok);
    cr_assert(stat_becomes("streams", 0, 3000));
    cr_assert_eq(counter("cut"), 1);
    cr_assert_eq(counter("writers"), 0);
}

/* ---- a draining worker ---- */

Test(chat, drain_ends_streams_with_a_retry_hint)
{
    start("retry=250");
    long long a = send_str("dr", "before");
    sse s;
    sse_open(&s, "/chat/events?room=dr", "");
    char want[64];
    snprintf(want, sizeof(want), "id: %lld\n", a);
    cr_assert(sse_until(&s, want, 3000), "%s", s.buf);
    int64_t t0 = ts_now_ms();
    ts_signal(&srv, SIGTERM);
    cr_assert(sse_until(&s, ": server restarting\nretry: 250\n\n", 3000), "%s", s.buf);
    while (sse_read(&s, 3000) && ts_now_ms() - t0 < 3000)
        ;
    cr_assert_lt(ts_now_ms() - t0, 3000, "the stream did not end");
    int st = ts_wait_exit(&srv, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_lt(ts_now_ms() - t0, 5000, "the stop waited on the stream");
    sse_close(&s);
}

Test(chat, drain_answers_a_waiting_poll_at_once)
{
    start("");
    long long a = send_str("dp", "x");
    char target[128];
    snprintf(target, sizeof(target), "/chat/poll?room=dp&after=%lld&timeout=30", a);
    int fd = send_get(target);
    cr_assert(stat_becomes("polls", 1, 3000));
    int64_t t0 = ts_now_ms();
    ts_signal(&srv, SIGTERM);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0);
    cr_assert_lt(ts_now_ms() - t0, 2000, "the poll was not answered at once");
    close(fd);
    char want[64];
    snprintf(want, sizeof(want), "{\"messages\":[],\"last\":%lld}\n", a);
    cr_assert_str_eq(ts_body(resp), want);
    cr_assert(strstr(resp, "Connection: close\r\n"), "%s", resp);
}

/* ---- several workers ---- */

/* A connection to some worker, and that worker's pid (asked on it). */
static int worker_conn(long long *pid)
{
    int fd = ts_connect(srv.port);
    const char *req = "GET /chat/stats HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0);
    *pid = json_num(ts_body(resp), "pid");
    return fd;
}

/* Through the master's bus: a poll and then a stream on one worker get
 * what sends on another published, with the same ids. */
Test(chat, a_send_on_one_worker_reaches_clients_of_another, .timeout = 15)
{
    start_with("2", "");
    /* Both accept: the port answering says only that one does. */
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, " ready (generation 1)", 2, 5000));
    long long pa, pb = 0;
    int fa = worker_conn(&pa), fb = -1;
    for (int i = 0; i < 200 && (fb < 0 || pb == pa); i++) {
        if (fb >= 0)
            close(fb);
        fb = worker_conn(&pb);
    }
    cr_assert_neq(pa, pb, "every connection went to worker %lld", pa);
    const char *poll_req = "GET /chat/poll?room=x&timeout=10 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fa, poll_req, strlen(poll_req)), 0);
    cr_assert_eq(post_on(fb, "x", "across", 6), 200, "%s", resp);
    long long id = json_num(ts_body(resp), "id");
    cr_assert_gt(ts_recv_response(fa, resp, sizeof(resp), false, 5000), 0, "no answer");
    char want[128];
    snprintf(want, sizeof(want),
             "{\"messages\":[{\"id\":%lld,\"data\":\"across\"}],\"last\":%lld}\n", id, id);
    cr_assert_str_eq(ts_body(resp), want);

    const char *events_req = "GET /chat/events?room=x&after=1 HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fa, events_req, strlen(events_req)), 0);
    sse s = {.fd = fa, .cap = 1 << 16};
    s.buf = calloc(1, s.cap);
    snprintf(want, sizeof(want), "id: %lld\ndata: across\n\n", id);
    cr_assert(sse_until(&s, want, 3000), "%s", s.buf); /* from the ring */
    cr_assert_eq(post_on(fb, "x", "and more", 8), 200, "%s", resp);
    snprintf(want, sizeof(want), "id: %lld\ndata: and more\n\n", id + 1);
    cr_assert(sse_until(&s, want, 3000), "%s", s.buf);
    sse_close(&s);
    close(fb);
}
