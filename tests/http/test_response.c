/* http/response: headers from handlers (checked, refused, and copied byte
 * for byte), framing, handler failures before and after starting, the Date
 * header. */
#include <regex.h>

#include "http/conn.h"
#include "http/date.h"
#include "http/harness.h"

#define GET11 "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

/* Each app is one behaviour, picked by the test through `mode`. */
static int mode;
static int result; /* what a gs_ call returned, for the test to look at */

static int crlf_handle(gs_request *r, void *state)
{
    (void)state;
    const char *value = mode == 0 ? "a\r\nSet-Cookie: evil=1" : mode == 1 ? "a\nb" : "a\x01";
    result = gs_start_response(r, 200, (const char *[]){"X-Injected", value, NULL});
    ssize_t w = gs_write(r, "never", 5);
    return w < 0 ? 0 : -1; /* even "success" must end as a 500 */
}

static const gs_app crlf_app = {.abi = GS_ABI_VERSION, .name = "crlf", .handle = crlf_handle};

static int fail_handle(gs_request *r, void *state)
{
    (void)state;
    switch (mode) {
    case 0: /* before starting */
        return -EIO;
    case 1: /* after starting, nothing sent yet */
        gs_start_response(r, 200, (const char *[]){"Content-Length", "10", NULL});
        gs_write(r, "part", 4);
        return -EIO;
    default: /* after streaming some */
        gs_start_response(r, 200, NULL);
        gs_write(r, "streamed", 8);
        return -EIO;
    }
}

static const gs_app fail_app = {.abi = GS_ABI_VERSION, .name = "fail", .handle = fail_handle};

static int misc_handle(gs_request *r, void *state)
{
    (void)state;
    switch (mode) {
    case 0: /* returns without a response */
        return 0;
    case 1: /* short of its Content-Length */
        gs_start_response(r, 200, (const char *[]){"Content-Length", "10", NULL});
        gs_write(r, "short", 5);
        return 0;
    case 2: /* past its Content-Length */
        gs_start_response(r, 200, (const char *[]){"Content-Length", "3", NULL});
        result = (int)gs_write(r, "toolong", 7);
        return 0;
    case 3: /* 204 and its own Server and Date */
        result =
            gs_start_response(r, 204, (const char *[]){"Server", "mine", "Date", "then", NULL});
        result |= gs_start_response(r, 200, NULL) == -EALREADY ? 0 : 1;
        gs_write(r, "dropped", 7);
        return 0;
    case 4: /* Connection: close from the handler */
        gs_start_response(r, 200,
                          (const char *[]){"Connection", "close", "Content-Length", "2", NULL});
        gs_write(r, "ok", 2);
        return 0;
    case 5: /* gs_write alone: a 200, chunked */
        gs_write(r, "implicit", 8);
        return 0;
    case 6: /* a status out of range */
        result = gs_start_response(r, 99, NULL);
        return 0;
    case 7: /* Transfer-Encoding is the server's to set */
        result = gs_start_response(r, 200, (const char *[]){"Transfer-Encoding", "chunked", NULL});
        return 0;
    default: /* a big body in small writes, with Content-Length */
        gs_start_response(r, 200, (const char *[]){"Content-Length", "100000", NULL});
        for (int i = 0; i < 1000; i++)
            gs_write(r,
                     "0123456789012345678901234567890123456789012345678901234567890123456789"
                     "012345678901234567890123456789",
                     100);
        return 0;
    }
}

static const gs_app misc_app = {.abi = GS_ABI_VERSION, .name = "misc", .handle = misc_handle};

static void crlf_case(int m)
{
    hs s;
    mode = m;
    hs_start1(&s, &crlf_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, GET11);
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 500);
    cr_assert_eq(result, -EINVAL);
    cr_assert_null(strstr(resp, "X-Injected"), "%s", resp);
    cr_assert_null(strstr(resp, "evil"), "%s", resp);
    cr_assert_null(strstr(resp, "never"), "%s", resp);
    const char *log = hs_error_log(&s);
    cr_assert(strstr(log, "app crlf: response header \"X-Injected\" refused"), "%s", log);
    cr_assert(strstr(log, "request \"GET / HTTP/1.1\""), "%s", log);
    /* The connection survives: the 500 was well formed. */
    hc_send(c, GET11);
    cr_assert_eq(hs_status(hc_recv(c, false)), 500);
    hc_close(c);
    hs_stop(&s);
}

Test(response, header_with_crlf_is_refused, .timeout = 10)
{
    crlf_case(0);
}

Test(response, header_with_lf_is_refused, .timeout = 10)
{
    crlf_case(1);
}

Test(response, header_with_control_is_refused, .timeout = 10)
{
    crlf_case(2);
}

Test(response, failure_before_start_is_500, .timeout = 10)
{
    hs s;
    mode = 0;
    hs_start1(&s, &fail_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, GET11);
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 500);
    cr_assert_str_eq(hs_body(resp), "500 Internal Server Error\n");
    const char *log = hs_error_log(&s);
    cr_assert(strstr(log, "app fail: handler failed (-5); client 127.0.0.1:"), "%s", log);
    hc_send(c, GET11); /* kept alive */
    cr_assert_eq(hs_status(hc_recv(c, false)), 500);
    hc_close(c);
    hs_stop(&s);
}

Test(response, failure_after_start_unsent_becomes_500_and_closes, .timeout = 10)
{
    hs s;
    mode = 1;
    hs_start1(&s, &fail_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, GET11);
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 500);
    cr_assert_null(strstr(resp, "part"));
    cr_assert_str_eq(hs_header(resp, "Connection"), "close");
    cr_assert(hc_closed(c, 1000));
    cr_assert(
        strstr(hs_error_log(&s), "app fail: handler failed (-5) after starting its response"));
    hc_close(c);
    hs_stop(&s);
}

Test(response, failure_after_streaming_closes, .timeout = 10)
{
    hs s;
    mode = 2;
    hs_start1(&s, &fail_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, GET11);
    char buf[4096];
    ssize_t n = 0, got;
    while ((got = gs_fd_read(c->fd, buf + n, sizeof(buf) - 1 - (size_t)n, HS_TIMEOUT)) > 0)
        n += got;
    cr_assert_eq(got, 0, "the connection must close");
    buf[n] = '\0';
    cr_assert_eq(hs_status(buf), 200);
    cr_assert(strstr(buf, "8\r\nstreamed\r\n"));
    cr_assert_null(strstr(buf, "0\r\n\r\n"), "no terminator: the client must see it broken");
    hc_close(c);
    hs_stop(&s);
}

/* One request in `mode` m: the response (static; what came before the
 * close if it is cut short), and whether the connection then closed. */
static const char *misc(hs *s, int m, bool *closed)
{
    static char copy[HC_BUF];
    mode = m;
    result = 0;
    hc *c = hc_open(s);
    hc_send(c, GET11);
    bool eof;
    const char *resp = hc_recv_try(c, false, HS_TIMEOUT, &eof);
    if (!resp) {
        cr_assert(eof, "no response");
        c->buf[c->len] = '\0';
        resp = c->buf;
    }
    snprintf(copy, sizeof(copy), "%s", resp);
    *closed = eof || hc_closed(c, 300);
    hc_close(c);
    return copy;
}

Test(response, nothing_started_is_empty_200, .timeout = 10)
{
    hs s;
    bool closed;
    hs_start1(&s, &misc_app, NULL);
    const char *resp = misc(&s, 0, &closed);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_header(resp, "Content-Length"), "0");
    cr_assert_not(closed);
    hs_stop(&s);
}

Test(response, short_of_content_length_closes, .timeout = 10)
{
    hs s;
    bool closed;
    hs_start1(&s, &misc_app, NULL);
    misc(&s, 1, &closed);
    cr_assert(closed);
    cr_assert(strstr(hs_error_log(&s), "app misc: wrote 5 of its Content-Length of 10"));
    hs_stop(&s);
}

Test(response, past_content_length_is_refused, .timeout = 10)
{
    hs s;
    bool closed;
    hs_start1(&s, &misc_app, NULL);
    const char *resp = misc(&s, 2, &closed);
    cr_assert_eq(result, -EMSGSIZE);
    cr_assert_str_eq(hs_body(resp), "");
    cr_assert(closed);
    cr_assert(strstr(hs_error_log(&s), "app misc: wrote past its Content-Length of 3"));
    hs_stop(&s);
}

Test(response, no_body_statuses_and_own_server_date, .timeout = 10)
{
    hs s;
    bool closed;
    hs_start1(&s, &misc_app, NULL);
    const char *resp = misc(&s, 3, &closed);
    cr_assert_eq(result, 0);
    cr_assert_eq(hs_status(resp), 204);
    cr_assert_str_eq(hs_header(resp, "Server"), "mine");
    cr_assert_str_eq(hs_header(resp, "Date"), "then");
    cr_assert_null(strstr(resp, "greenserve"));
    cr_assert_null(hs_header(resp, "Transfer-Encoding"));
    cr_assert_null(strstr(resp, "dropped"));
    cr_assert_not(closed);
    hs_stop(&s);
}

Test(response, handler_connection_close, .timeout = 10)
{
    hs s;
    bool closed;
    hs_start1(&s, &misc_app, NULL);
    const char *resp = misc(&s, 4, &closed);
    cr_assert_str_eq(hs_body(resp), "ok");
    cr_assert_str_eq(hs_header(resp, "Connection"), "close");
    cr_assert(closed);
    hs_stop(&s);
}

Test(response, write_alone_starts_a_chunked_200, .timeout = 10)
{
    hs s;
    bool closed;
    hs_start1(&s, &misc_app, NULL);
    const char *resp = misc(&s, 5, &closed);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_header(resp, "Transfer-Encoding"), "chunked");
    cr_assert_str_eq(hs_dechunk(resp), "implicit");
    hs_stop(&s);
}

Test(response, bad_status_and_transfer_encoding_are_refused, .timeout = 10)
{
    hs s;
    bool closed;
    hs_start1(&s, &misc_app, NULL);
    cr_assert_eq(hs_status(misc(&s, 6, &closed)), 500);
    cr_assert_eq(result, -EINVAL);
    cr_assert(strstr(hs_error_log(&s), "app misc: status 99 refused"));
    cr_assert_eq(hs_status(misc(&s, 7, &closed)), 500);
    cr_assert_eq(result, -EINVAL);
    hs_stop(&s);
}

Test(response, many_small_writes_with_content_length, .timeout = 10)
{
    hs s;
    bool closed;
    hs_start1(&s, &misc_app, NULL);
    const char *resp = misc(&s, 8, &closed);
    cr_assert_eq(strlen(hs_body(resp)), 100000);
    cr_assert_not(closed);
    hs_stop(&s);
}

Test(response, date_header_format)
{
    size_t n;
    const char *lines = http_date_lines(&n);
    cr_assert_eq(strlen(lines), n);
    regex_t re;
    cr_assert_eq(regcomp(&re,
                         "^Server: greenserve\r\nDate: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                         "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                         "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT\r\n$",
                         REG_EXTENDED),
                 0);
    cr_assert_eq(regexec(&re, lines, 0, NULL, 0), 0, "%s", lines);
    regfree(&re);
    const char *clf = http_clf_time(&n);
    cr_assert_eq(regcomp(&re,
                         "^[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000$",
                         REG_EXTENDED),
                 0);
    cr_assert_eq(regexec(&re, clf, 0, NULL, 0), 0, "%s", clf);
    regfree(&re);
}

/* A streaming handler holds no output buffer between its writes: an event
 * stream parked for news costs no 4 KiB buffer. */
static int stream_handle(gs_request *r, void *state)
{
    (void)state;
    gs_write(r, "a", 1);
    bool released = r->c->out == NULL;
    gs_sleep(20); /* parked, as a stream waiting for news */
    gs_write(r, released ? "-released" : "-kept", released ? 9 : 5);
    return 0;
}

static const gs_app stream_app = {.abi = GS_ABI_VERSION, .name = "stream", .handle = stream_handle};

Test(response, streaming_handler_parks_without_an_output_buffer, .timeout = 10)
{
    hs s;
    hs_start1(&s, &stream_app, NULL);
    const char *resp = hs_request(&s, GET11);
    cr_assert_eq(hs_status(resp), 200);
    cr_assert_str_eq(hs_dechunk(resp), "a-released");
    hs_stop(&s);
}

static int logging_handle(gs_request *r, void *state)
{
    (void)state;
    gs_log(r, "saw %d things", 42);
    gs_log(NULL, "no request here");
    return gs_write(r, "ok", 2) == 2 ? 0 : -1;
}

static const gs_app logging_app = {
    .abi = GS_ABI_VERSION, .name = "logger", .handle = logging_handle};

Test(response, gs_log_names_app_client_and_request, .timeout = 10)
{
    hs s;
    hs_start1(&s, &logging_app, NULL);
    cr_assert_eq(hs_status(hs_request(&s, "GET /p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")), 200);
    const char *log = hs_error_log(&s);
    cr_assert(strstr(log, "app logger: saw 42 things; client 127.0.0.1:"), "%s", log);
    cr_assert(strstr(log, "; request \"GET /p?q=1 HTTP/1.1\"\n"), "%s", log);
    const char *bare = strstr(log, "no request here");
    cr_assert(bare && bare[strlen("no request here")] == '\n', "%s", log);
    hs_stop(&s);
}

/* ---- the head, byte for byte ---- */

/* One response to check: what the handler starts, what it then writes,
 * and the whole response expected, our Date's value shown as "<date>". */
typedef struct head_case {
    int status;
    const char *const *headers;
    const char *body;
    const char *expect;
    bool closes;
} head_case;

static const head_case *head_now;

static int head_handle(gs_request *r, void *state)
{
    (void)state;
    result = gs_start_response(r, head_now->status, head_now->headers);
    if (head_now->body)
        gs_write(r, head_now->body, strlen(head_now->body));
    return 0;
}

static const gs_app head_app = {.abi = GS_ABI_VERSION, .name = "head", .handle = head_handle};

/* resp with our Date's value (the only one ending in " GMT") as "<date>". */
static const char *hide_date(const char *resp)
{
    static char out[HC_BUF];
    const char *d = strstr(resp, "\r\nDate: ");
    const char *eol = d ? strstr(d + 2, "\r\n") : NULL;
    if (!eol || eol - d < 12 || memcmp(eol - 4, " GMT", 4) != 0)
        return resp;
    snprintf(out, sizeof(out), "%.*s<date>%s", (int)(d + 8 - resp), resp, eol);
    return out;
}

static void head_check(hs *s, const head_case *hc_)
{
    bool closed;
    head_now = hc_;
    result = 1;
    const char *resp = hide_date(misc(s, 0, &closed));
    cr_assert_eq(result, 0, "status %d", hc_->status);
    cr_assert_str_eq(resp, hc_->expect);
    cr_assert_eq(closed, hc_->closes, "%s", resp);
}

#define OURS "Server: greenserve\r\nDate: <date>\r\n"

/* Past the first 16 pairs too: a Connection to drop, a Date to keep. */
static const char *const many_pairs[][2] = {
    {"X-A", "1"},
    {"Connection", "keep-alive"},
    {"x-b", "tab\there"},
    {"X-C", ""},
    {"X-Long", "0123456789abcdefghijklmnopqrstuvwxyz"},
    {"X-High", "caf\xc3\xa9 \x80\xff\t"},
    {"Cache-Control", "no-cache"},
    {"X-Tilde", "~!#$%&'*+-.^_`|"},
    {"!#$%&'*+-.^_`|~", "token chars"},
    {"X-9", "9"},
    {"X-10", "ten\tten\tten"},
    {"X-11", "11"},
    {"X-12", "12"},
    {"X-13", "13"},
    {"X-14", "14"},
    {"X-15", "15"},
    {"x-16", "16"},
    {"CONNECTION", "keep-alive, Close"},
    {"date", "yesterday"},
    {"Content-Length", "2"},
    {"X-Last", "last"},
};

#define NMANY (sizeof(many_pairs) / sizeof(many_pairs[0]))

static const char *many[2 * NMANY + 1]; /* many_pairs as a header list */

static const head_case head_cases[] = {
    {200, (const char *[]){"Content-Type", "text/plain", "Content-Length", "2", NULL}, "ok",
     "HTTP/1.1 200 OK\r\n" OURS "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", false},
    {404, (const char *[]){"date", "then", "content-length", "0", NULL}, NULL,
     "HTTP/1.1 404 Not Found\r\nServer: greenserve\r\ndate: then\r\ncontent-length: 0\r\n\r\n",
     false},
    {201, (const char *[]){"SERVER", "mine", "Content-length", "0", NULL}, NULL,
     "HTTP/1.1 201 Created\r\nDate: <date>\r\nSERVER: mine\r\nContent-length: 0\r\n\r\n", false},
    {299, NULL, "x",
     "HTTP/1.1 299 Unknown\r\n" OURS "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
     false},
    {999, (const char *[]){"Content-Length", "0", NULL}, NULL,
     "HTTP/1.1 999 Unknown\r\n" OURS "Content-Length: 0\r\n\r\n", false},
    {505, (const char *[]){"Connection", "close", "Content-Length", "0", NULL}, NULL,
     "HTTP/1.1 505 HTTP Version Not Supported\r\n" OURS "Content-Length: 0\r\n"
     "Connection: close\r\n\r\n",
     true},
    {503, (const char *[]){"Connection", "keep-alive", "Content-Length", "0", NULL}, NULL,
     "HTTP/1.1 503 Service Unavailable\r\n" OURS "Content-Length: 0\r\n\r\n", false},
    {308, (const char *[]){"Location", "/there", "Content-Length", "00", NULL}, NULL,
     "HTTP/1.1 308 Permanent Redirect\r\n" OURS "Location: /there\r\nContent-Length: 00\r\n\r\n",
     false},
    {200, many, "ok",
     "HTTP/1.1 200 OK\r\nServer: greenserve\r\n"
     "X-A: 1\r\nx-b: tab\there\r\nX-C: \r\n"
     "X-Long: 0123456789abcdefghijklmnopqrstuvwxyz\r\n"
     "X-High: caf\xc3\xa9 \x80\xff\t\r\nCache-Control: no-cache\r\n"
     "X-Tilde: ~!#$%&'*+-.^_`|\r\n!#$%&'*+-.^_`|~: token chars\r\nX-9: 9\r\n"
     "X-10: ten\tten\tten\r\nX-11: 11\r\nX-12: 12\r\nX-13: 13\r\nX-14: 14\r\nX-15: 15\r\n"
     "x-16: 16\r\ndate: yesterday\r\nContent-Length: 2\r\nX-Last: last\r\n"
     "Connection: close\r\n\r\nok",
     true},
};

Test(response, head_bytes, .timeout = 10)
{
    for (size_t i = 0; i < NMANY; i++) {
        many[2 * i] = many_pairs[i][0];
        many[2 * i + 1] = many_pairs[i][1];
    }
    hs s;
    hs_start1(&s, &head_app, NULL);
    for (size_t i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++)
        head_check(&s, &head_cases[i]);
    hs_stop(&s);
}

/* A read-only header array is checked and formatted once per thread
 * (response.c's memo); what later responses copy must be the same bytes,
 * with the same meaning (the length, Connection: close, our Server
 * left out). */
static const char *const fixed_plain[] = {"Content-Type", "text/plain", "Content-Length", "2",
                                          NULL};
static const char *const fixed_close[] = {"Connection", "close", "Content-Length", "0", NULL};
static const char *const fixed_server[] = {"Server", "mine", "Content-Length", "2", NULL};

Test(response, read_only_header_arrays_read_the_same_every_time, .timeout = 10)
{
    const head_case cases[] = {
        {200, fixed_plain, "ok",
         "HTTP/1.1 200 OK\r\n" OURS "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
         false},
        {404, fixed_plain, "no",
         "HTTP/1.1 404 Not Found\r\n" OURS
         "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nno",
         false},
        {200, fixed_close, NULL,
         "HTTP/1.1 200 OK\r\n" OURS "Content-Length: 0\r\nConnection: close\r\n\r\n", true},
        {200, fixed_server, "ok",
         "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: mine\r\nContent-Length: 2\r\n\r\nok", false},
    };
    hs s;
    hs_start1(&s, &head_app, NULL);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            head_check(&s, &cases[i]);
    hs_stop(&s);
}

/* One that can change -- its pointers, or a string it points to -- is
 * read anew each time. */
Test(response, writable_header_arrays_are_read_anew, .timeout = 10)
{
    static const char *pairs[] = {"X-Pair", "one", "Content-Length", "0", NULL};
    static char value[] = "aaa";
    static const char *const points_to_writable[] = {"X-Value", value, "Content-Length", "0", NULL};
    hs s;
    hs_start1(&s, &head_app, NULL);
    head_case c = {200, pairs, NULL,
                   "HTTP/1.1 200 OK\r\n" OURS "X-Pair: one\r\nContent-Length: 0\r\n\r\n", false};
    head_check(&s, &c);
    pairs[1] = "two";
    c.expect = "HTTP/1.1 200 OK\r\n" OURS "X-Pair: two\r\nContent-Length: 0\r\n\r\n";
    head_check(&s, &c);
    c = (head_case){200, points_to_writable, NULL,
                    "HTTP/1.1 200 OK\r\n" OURS "X-Value: aaa\r\nContent-Length: 0\r\n\r\n", false};
    head_check(&s, &c);
    memcpy(value, "bbb", 3);
    c.expect = "HTTP/1.1 200 OK\r\n" OURS "X-Value: bbb\r\nContent-Length: 0\r\n\r\n";
    head_check(&s, &c);
    hs_stop(&s);
}

/* A value bigger than the output buffer: the head grows it. */
Test(response, head_bigger_than_the_buffer, .timeout = 10)
{
    static char big[9000], expect[10000];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(expect, sizeof(expect),
             "HTTP/1.1 200 OK\r\n" OURS "X-Big: %s\r\nContent-Length: 2\r\n\r\nok", big);
    head_case big_case = {200, (const char *[]){"X-Big", big, "Content-Length", "2", NULL}, "ok",
                          expect, false};
    hs s;
    hs_start1(&s, &head_app, NULL);
    head_check(&s, &big_case);
    hs_stop(&s);
}

/* Each refused: a 500, -EINVAL, and a log line naming the header. */
static const struct {
    const char *const *headers;
    const char *shown; /* the name in the log line */
} refusals[] = {
    {(const char *[]){"Content Type", "x", NULL}, "Content Type"},
    {(const char *[]){"Content-Typ\x7f", "x", NULL}, "Content-Typ?"},
    {(const char *[]){"Dat\xe9", "x", NULL}, "Dat?"},
    {(const char *[]){"X-Foo:", "x", NULL}, "X-Foo:"},
    {(const char *[]){"", "x", NULL}, ""},
    {(const char *[]){"X-Null", NULL, NULL}, "X-Null"},
    {(const char *[]){"X-Del", "\x7f", NULL}, "X-Del"},
    {(const char *[]){"X-Del2", "0123456789abcdef\x7f", NULL}, "X-Del2"},
    {(const char *[]){"X-Us", "0123456789\x1f", NULL}, "X-Us"},
    {(const char *[]){"X-Lf", "0123\n4567abcdefgh", NULL}, "X-Lf"},
    {(const char *[]){"X-Cr", "\t\t\t\t\t\t\t\r", NULL}, "X-Cr"},
    {(const char *[]){"X-Nul-ish", "\t\x01", NULL}, "X-Nul-ish"},
    {(const char *[]){"transfer-encoding", "identity", NULL}, "transfer-encoding"},
    {(const char *[]){"Content-Length", "1x", NULL}, "Content-Length"},
    {(const char *[]){"content-length", "", NULL}, "content-length"},
    {(const char *[]){"Content-Length", "-1", NULL}, "Content-Length"},
    {(const char *[]){"Content-Length", "99999999999999999999", NULL}, "Content-Length"},
    {(const char *[]){"Content-Length", " 1", NULL}, "Content-Length"},
    {(const char *[]){"X-1",  "1",    "X-2",  "2",    "X-3",  "3",    "X-4",    "4",   "X-5",
                      "5",    "X-6",  "6",    "X-7",  "7",    "X-8",  "8",      "X-9", "9",
                      "X-10", "10",   "X-11", "11",   "X-12", "12",   "X-13",   "13",  "X-14",
                      "14",   "X-15", "15",   "X-16", "16",   "X-17", "a\r\nb", NULL},
     "X-17"},
};

Test(response, bad_headers_are_refused, .timeout = 10)
{
    hs s;
    hs_start1(&s, &head_app, NULL);
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        head_case c = {200, refusals[i].headers, NULL, NULL, false};
        bool closed;
        head_now = &c;
        result = 0;
        const char *resp = misc(&s, 0, &closed);
        cr_assert_eq(hs_status(resp), 500, "case %zu", i);
        cr_assert_eq(result, -EINVAL, "case %zu", i);
        char line[160];
        snprintf(line, sizeof(line),
                 "app head: response header \"%s\" refused (control character, CR/LF, bad name, "
                 "or Transfer-Encoding); client",
                 refusals[i].shown);
        cr_assert(strstr(hs_error_log(&s), line), "case %zu: %s", i, hs_error_log(&s));
    }
    hs_stop(&s);
}
