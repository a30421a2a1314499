/* http/parse: every malformed shape, smuggling vector and limit is answered
 * with its status and a log line naming the client and the request, the
 * connection is closed, and the next client is served. Shapes llhttp 8.1
 * accepts in its default mode are marked (ours). */
#include "http/harness.h"

#define HOST "Host: x\r\n"

/* One test per shape: `request` (n bytes; 0: strlen) must get `status`,
 * with "<status> <reason>: <why>" in the log line. */
static void refused(const char *name, const char *request, size_t n, int status, const char *why);

#define BAD(name, ...)                                                                             \
    Test(parse, name, .timeout = 10)                                                               \
    {                                                                                              \
        refused(#name, __VA_ARGS__);                                                               \
    }

BAD(garbage, "\x01\x02\x03\r\n\r\n", 0, 400, "Invalid method")
BAD(unknown_method, "FOO / HTTP/1.1\r\n" HOST "\r\n", 0, 400, "Invalid method")
BAD(lowercase_method, "get / HTTP/1.1\r\n" HOST "\r\n", 0, 400, "Invalid method")
BAD(space_in_target, "GET /a b HTTP/1.1\r\n" HOST "\r\n", 0, 400, "Expected HTTP/")
BAD(tab_in_target, "GET /a\tb HTTP/1.1\r\n" HOST "\r\n", 0, 400, "malformed request-target")
BAD(fragment_in_target, "GET /a#b HTTP/1.1\r\n" HOST "\r\n", 0, 400, "malformed request-target")
BAD(encoded_nul_in_path, "GET /a%00b HTTP/1.1\r\n" HOST "\r\n", 0, 400, "unusable request-target")
BAD(unknown_scheme, "GET ftp://x/a HTTP/1.1\r\n" HOST "\r\n", 0, 400, "unusable request-target")
/* smuggling: framing */
BAD(cl_and_te,
    "POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    "0\r\n\r\n",
    0, 400, "Content-Length can't be present with Transfer-Encoding")
BAD(te_and_cl,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
    "0\r\n\r\n",
    0, 400, "Content-Length can't be present with Transfer-Encoding")
BAD(cl_differing, "POST / HTTP/1.1\r\n" HOST "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    0, 400, "Duplicate Content-Length")
BAD(cl_repeated_same,
    "POST / HTTP/1.1\r\n" HOST "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0, 400,
    "Duplicate Content-Length")
BAD(cl_list, "POST / HTTP/1.1\r\n" HOST "Content-Length: 3, 3\r\n\r\nabc", 0, 400,
    "Invalid character in Content-Length")
BAD(cl_sign, "POST / HTTP/1.1\r\n" HOST "Content-Length: +3\r\n\r\nabc", 0, 400,
    "Invalid character in Content-Length")
BAD(cl_overflow, "POST / HTTP/1.1\r\n" HOST "Content-Length: 99999999999999999999999\r\n\r\n", 0,
    400, "Content-Length overflow")
BAD(chunk_size_bad,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 0, 400,
    "Invalid character in chunk size")
BAD(chunk_size_negative,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n"
    "0\r\n\r\n",
    0, 400, "Invalid character in chunk size")
BAD(chunk_size_overflow,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
    "fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
    0, 400, "Chunk size overflow")
BAD(chunk_size_bare_lf,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n"
    "0\r\n\r\n",
    0, 400, "chunk size")
BAD(chunk_data_bare_lf,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n"
    "0\r\n\r\n",
    0, 400, "chunk size")
BAD(chunk_too_long,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n"
    "0\r\n\r\n",
    0, 400, "chunk size")
/* (ours) */
BAD(trailer_bare_lf_end,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\n"
    "T: x\r\n\n",
    0, 400, "bare LF in chunked framing")
BAD(last_chunk_bare_lf_end, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\n\n",
    0, 400, "bare LF in chunked framing")
BAD(trailer_obs_fold,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\n"
    "T: x\r\n y\r\n\r\n",
    0, 400, "obs-fold in chunk trailers")
/* smuggling: line ends and folding */
BAD(bare_lf_request_line, "GET / HTTP/1.1\n" HOST "\r\n", 0, 400, "bare LF in request head")
BAD(bare_lf_head_end, "GET / HTTP/1.1\r\n" HOST "\n", 0, 400, "bare LF in request head")
BAD(bare_lf_only, "GET / HTTP/1.1\n\n", 0, 400, "bare LF in request head")
BAD(bare_lf_header, "GET / HTTP/1.1\r\n" HOST "X: a\n\r\n", 0, 400, "Invalid header value char")
BAD(bare_cr, "GET / HTTP/1.1\r" HOST "\r\n", 0, 400, "Expected CRLF after version")
BAD(bare_cr_value, "GET / HTTP/1.1\r\n" HOST "X: a\rb\r\n\r\n", 0, 400, "Missing expected LF")
BAD(obs_fold, "GET / HTTP/1.1\r\n" HOST "X: a\r\n b\r\n\r\n", 0, 400, "obs-fold in request head")
BAD(obs_fold_tab, "GET / HTTP/1.1\r\n" HOST "X: a\r\n\tb\r\n\r\n", 0, 400,
    "obs-fold in request head")
BAD(space_before_colon, "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0, 400, "malformed header field name")
BAD(empty_name, "GET / HTTP/1.1\r\n" HOST ": x\r\n\r\n", 0, 400, "malformed header field name")
BAD(space_before_first_header, "GET / HTTP/1.1\r\n " HOST "\r\n", 0, 400,
    "Unexpected space after start line")
BAD(nul_in_value, "GET / HTTP/1.1\r\n" HOST "X: a\0b\r\n\r\n", 30, 400, "Invalid header value char")
BAD(ctl_in_value,
    "GET / HTTP/1.1\r\n" HOST "X: a\x01"
    "b\r\n\r\n",
    0, 400, "Invalid header value char")
/* Transfer-Encoding values */
BAD(te_empty, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: \r\n\r\n0\r\n\r\n", 0, 400,
    "malformed Transfer-Encoding")
BAD(te_http10, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 400,
    "malformed Transfer-Encoding")
BAD(te_gzip, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\nabc", 0, 501,
    "unsupported Transfer-Encoding")
BAD(te_identity, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: identity\r\n\r\nabc", 0, 501,
    "unsupported Transfer-Encoding")
BAD(te_gzip_chunked, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    0, 501, "unsupported Transfer-Encoding")
BAD(te_two_fields,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    0, 501, "unsupported Transfer-Encoding")
BAD(te_chunked_gzip, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    0, 501, "Invalid `Transfer-Encoding` header value")
BAD(te_chunked_param, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
    0, 501, "unsupported Transfer-Encoding")
/* versions */
BAD(http_1_2, "GET / HTTP/1.2\r\n" HOST "\r\n", 0, 505, "Invalid HTTP version")
BAD(http_2_0, "GET / HTTP/2.0\r\n" HOST "\r\n", 0, 505, "HTTP version not supported")
BAD(http_0_9, "GET /\r\n\r\n", 0, 505, "HTTP version not supported")
BAD(h2_preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, 505, "")
/* meaning */
BAD(no_host_11, "GET / HTTP/1.1\r\n\r\n", 0, 400, "missing or repeated Host")
BAD(two_hosts, "GET / HTTP/1.1\r\n" HOST HOST "\r\n", 0, 400, "missing or repeated Host")
BAD(expect_other, "POST / HTTP/1.1\r\n" HOST "Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 0, 417,
    "unsupported Expect")
BAD(connect, "CONNECT h:443 HTTP/1.1\r\n" HOST "\r\n", 0, 405, "CONNECT is not served")
/* limits (see tight()) */
BAD(uri_too_long,
    "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n" HOST "\r\n",
    0, 414, "request-target too long")
BAD(too_many_headers,
    "GET / HTTP/1.1\r\n" HOST "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n\r\n", 0, 431,
    "too many header fields")
BAD(head_too_large,
    "GET / HTTP/1.1\r\n" HOST "X: 0123456789012345678901234567890123456789012345"
    "6789012345678901234567890123456789012345678901234567890123456789012345"
    "6789012345678901234567890123456789012345678901234567890123456789\r\n\r\n",
    0, 431, "request head too large")
BAD(body_too_large, "POST / HTTP/1.1\r\n" HOST "Content-Length: 101\r\n\r\n", 0, 413,
    "request body too large")
BAD(chunked_body_too_large,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
    "40\r\n0123456789012345678901234567890123456789012345678901234567890123"
    "\r\n40\r\n012345678901234567890123456789012345678901234567890123456789"
    "0123\r\n0\r\n\r\n",
    0, 413, "request body too large")
BAD(chunk_extensions_too_large,
    "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
    "1;a=0123456789012345678901234567890123456789012345678901234567"
    "89012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123"
    "456789012345678901234567890123456789\r\nx\r\n0\r\n\r\n",
    0, 431, "chunk extensions or trailers too large")

static void tight(http_limits *l)
{
    l->max_uri = 100;
    l->max_header_bytes = 200;
    l->max_headers = 6;
    l->max_body = 100;
}

static void refused(const char *name, const char *request, size_t n, int status, const char *why)
{
    hs s;
    hs_start1(&s, &hs_echo_app, tight);
    hc *c = hc_open(&s);
    hc_sendn(c, request, n ? n : strlen(request));
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), status, "%s: got %.40s", name, resp);
    cr_assert_str_eq(hs_header(resp, "Connection"), "close", "%s", name);
    cr_assert(hc_closed(c, 2000), "%s: still open", name);
    hc_close(c);
    char want[16];
    snprintf(want, sizeof(want), "%d ", status);
    const char *log = hs_error_log(&s);
    const char *line = strstr(log, want);
    cr_assert_not_null(line, "%s: no log line in %s", name, log);
    cr_assert(strstr(line, why), "%s: log line lacks \"%s\": %s", name, why, line);
    cr_assert(strstr(line, "; client 127.0.0.1:"), "%s: %s", name, line);
    /* The next client is served. */
    resp = hs_request(&s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(hs_status(resp), 200, "%s: next client: %.40s", name, resp);
    hs_stop(&s);
}

/* The request line is in the log line when it was read. */
Test(parse, log_line_names_the_request, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, tight);
    const char *resp = hs_request(&s, "GET /x?y=1 HTTP/1.1\r\n" HOST "X: a\r\n b\r\n\r\n");
    cr_assert_eq(hs_status(resp), 400);
    const char *log = hs_error_log(&s);
    cr_assert(strstr(log, "400 Bad Request: obs-fold in request head; client 127.0.0.1:"), "%s",
              log);
    cr_assert(strstr(log, "; request \"GET /x?y=1 HTTP/1.1\"\n"), "%s", log);
    hs_stop(&s);
}

/* An empty Transfer-Encoding makes llhttp read no body: the body would
 * have been a second request. Only the 400 comes back. */
Test(parse, smuggled_request_is_not_served, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: \r\nContent-Length: 0\r\n\r\n"
               "GET /smuggled HTTP/1.1\r\n" HOST "\r\n");
    cr_assert_eq(hs_status(hc_recv(c, false)), 400);
    cr_assert(hc_closed(c, 2000));
    hc_close(c);
    cr_assert_eq(s.site.requests, 1);
    hs_stop(&s);
}

Test(parse, bare_lf_byte_by_byte, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    hc *c = hc_open(&s);
    hc_send_slowly(c, "GET / HTTP/1.1\r\n" HOST "\n");
    cr_assert_eq(hs_status(hc_recv(c, false)), 400);
    hc_close(c);
    hs_stop(&s);
}

/* What is allowed: an empty line before the request, obs-text in values,
 * trailing whitespace, an empty value, absolute-form, 1.0 without Host. */
Test(parse, accepted_shapes, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, NULL);
    const char *ok[] = {
        "\r\nGET / HTTP/1.1\r\n" HOST "\r\n",
        "GET / HTTP/1.1\r\n" HOST "X: caf\xc3\xa9\r\n\r\n",
        "GET / HTTP/1.1\r\n" HOST "X: a  \t\r\nY:\r\n\r\n",
        "GET http://example.com/a?b HTTP/1.1\r\n" HOST "\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\n" HOST "Content-Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert_eq(hs_status(hs_request(&s, ok[i])), 200, "case %zu", i);
    hs_stop(&s);
}

/* Header offsets are 16 bits: a head near 64 KiB is read whole and right,
 * one past it is refused with a 431 even when --max-header-bytes allows
 * more. */
static void roomy(http_limits *l)
{
    l->max_header_bytes = 1024 * 1024;
    l->max_headers = 1000;
}

static char *big_head(int nfields)
{
    char *req = malloc((size_t)nfields * 1010 + 256), *p = req;
    p += sprintf(p, "GET / HTTP/1.1\r\n" HOST);
    for (int i = 0; i < nfields; i++) {
        p += sprintf(p, "X-F%03d: ", i);
        memset(p, 'a' + i % 26, 990);
        p += 990;
        p += sprintf(p, "\r\n");
    }
    sprintf(p, "X-Last: end-%d\r\n\r\n", nfields);
    return req;
}

/* Answers with the last field's value and the length of the one before. */
static int last_fields(gs_request *r, void *state)
{
    (void)state;
    const char *last = gs_env(r, "HTTP_X_LAST"), *before = gs_env(r, "HTTP_X_F062");
    char body[64];
    int n = snprintf(body, sizeof(body), "%s %zu", last ? last : "-", before ? strlen(before) : 0);
    gs_start_response(r, 200, NULL);
    gs_write(r, body, (size_t)n);
    return 0;
}

static const gs_app last_fields_app = {
    .abi = GS_ABI_VERSION, .name = "last", .handle = last_fields};

Test(parse, head_near_64_kib_is_read_right, .timeout = 10)
{
    hs s;
    hs_start1(&s, &last_fields_app, roomy);
    char *req = big_head(63); /* ~63.5 KB */
    const char *resp = hs_request(&s, req);
    cr_assert_eq(hs_status(resp), 200, "%.60s", resp);
    cr_assert(strstr(resp, "end-63 990"), "the last fields survive: %s", resp);
    free(req);
    hs_stop(&s);
}

Test(parse, head_past_64_kib_is_431, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_echo_app, roomy);
    char *req = big_head(70);
    const char *resp = hs_request(&s, req);
    cr_assert_eq(hs_status(resp), 431, "%.60s", resp);
    cr_assert(strstr(hs_error_log(&s), "header block past 64 KiB"), "%s", hs_error_log(&s));
    free(req);
    cr_assert_eq(hs_status(hs_request(&s, "GET / HTTP/1.1\r\n" HOST "\r\n")), 200);
    hs_stop(&s);
}
