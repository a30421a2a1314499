/* http/accesslog: Combined Log Format plus microseconds, escaped, buffered
 * (no write per request), flushed by size, by the second, and when the last
 * connection closes. */
#include <regex.h>

#include "http/harness.h"

#define GET11 "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
    cr_assert_eq(regexec(&re, text, 0, NULL, 0), 0, "/%s/ does not match:\n%s", pattern, text);
    regfree(&re);
}

Test(accesslog, combined_format_with_microseconds, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /x?y=1 HTTP/1.1\r\nHost: x\r\nReferer: http://ref/\r\n"
               "User-Agent: agent/1.0\r\n\r\n");
    hc_recv(c, false);
    hc_send(c, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    hc_recv(c, true);
    hc_close(c);
    cr_assert(hs_wait_done(&s, 1, 1000));
    const char *log = hs_access_log(&s);
    assert_matches(log, "^127\\.0\\.0\\.1 - - \\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:"
                        "[0-9]{2} \\+0000\\] \"GET /x\\?y=1 HTTP/1\\.1\" 200 6 \"http://ref/\" "
                        "\"agent/1\\.0\" [0-9]+$");
    assert_matches(log, "\"HEAD /h HTTP/1\\.1\" 200 - \"-\" \"-\" [0-9]+$");
    hs_stop(&s);
}

Test(accesslog, client_data_is_escaped, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hs_request(&s, "GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\nUser-Agent: a\"b\\c\t\r\n\r\n");
    cr_assert(hs_wait_done(&s, 1, 1000));
    const char *log = hs_access_log(&s);
    cr_assert(strstr(log, "\"GET /\\xc3\\xa9 HTTP/1.1\""), "%s", log);
    cr_assert(strstr(log, "\"a\\x22b\\x5cc\" "), "%s", log); /* trailing tab trimmed */
    hs_stop(&s);
}

Test(accesslog, errors_are_logged, .timeout = 10)
{
    hs s;
    hs_start(&s, (const char *[]){"/app"}, (const gs_app *[]){&hs_hello_app}, 1, NULL);
    hs_request(&s, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    hs_request(&s, "\x01garbage\r\n\r\n");
    cr_assert(hs_wait_done(&s, 2, 1000));
    const char *log = hs_access_log(&s);
    assert_matches(log, "\"GET /missing HTTP/1\\.1\" 404 14 \"-\" \"-\" [0-9]+$");
    assert_matches(log, "\\] \"-\" 400 16 \"-\" \"-\" [0-9]+$");
    cr_assert_eq(s.site.requests, 2);
    hs_stop(&s);
}

static int lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* A request is not a write(2): lines wait in the buffer while the
 * connection is open, and are written within about a second. */
Test(accesslog, buffered_then_flushed_within_a_second, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    hc_send(c, GET11);
    hc_recv(c, false);
    int64_t t0 = gs_now_ms();
    cr_assert_str_eq(hs_access_log(&s), "");
    while (lines(hs_access_log(&s)) == 0 && gs_now_ms() - t0 < 3000)
        gs_sleep(50);
    int64_t took = gs_now_ms() - t0;
    cr_assert_eq(lines(hs_access_log(&s)), 1);
    cr_assert(took >= 500 && took <= 1600, "flushed after %lld ms", (long long)took);
    hc_close(c);
    hs_stop(&s);
}

/* Past a few KiB the buffer is written at once. */
Test(accesslog, flushed_when_the_buffer_fills, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, NULL);
    hc *c = hc_open(&s);
    char req[512];
    snprintf(req, sizeof(req), "GET /%0200d HTTP/1.1\r\nHost: x\r\n\r\n", 7);
    for (int i = 0; i < 35; i++) {
        hc_send(c, req);
        hc_recv(c, false);
    }
    int n = lines(hs_access_log(&s));
    cr_assert(n >= 10 && n < 35, "%d lines written", n);
    hc_close(c);
    cr_assert(hs_wait_done(&s, 1, 1000));
    cr_assert_eq(lines(hs_access_log(&s)), 35);
    hs_stop(&s);
}

static void no_access_log(http_limits *l)
{
    (void)l;
}

Test(accesslog, disabled, .timeout = 10)
{
    hs s;
    hs_start1(&s, &hs_hello_app, no_access_log);
    int fd = s.site.access_log_fd;
    s.site.access_log_fd = -1;
    cr_assert_eq(hs_status(hs_request(&s, GET11)), 200);
    cr_assert(hs_wait_done(&s, 1, 1000));
    cr_assert_str_eq(hs_access_log(&s), "");
    s.site.access_log_fd = fd;
    hs_stop(&s);
}
