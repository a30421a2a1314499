/* The real executable, end to end: ordinary clients (curl, Python's
 * http.client), then raw bytes for every limit and malformed shape, each
 * answered with its status and an error-log line while the server goes on
 * serving; streaming, mounts, graceful stop. A master and its workers (as
 * many as CPUs) serve, as by default; where a test counts on one process
 * it says --workers 1 (one worker) or --workers 0 (no master). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/client.h"
#include "support/server.h"

static ts_server srv;
static char resp[1 << 16];
static char out[1 << 18];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

TestSuite(server, .fini = stop_server, .timeout = 20);

#define MOUNTS                                                                                     \
    "/hello={build}/apps/hello.so", "/echo={build}/apps/echo.so:X-Test",                           \
        "/echo/deep={build}/apps/echo.so", "/clock={build}/apps/clock.so",                         \
        "/slow={build}/tests/plugins/slow.so", "/sink={build}/tests/plugins/sink.so",              \
        "/={build}/apps/hello.so"

static const char *const mounts[] = {MOUNTS, NULL};

/* Start with the options given (NULL-terminated, or NULL), then the
 * standard mounts. */
static void start(const char *const *opts)
{
    const char *args[64];
    size_t n = 0;
    for (size_t i = 0; opts && opts[i]; i++)
        args[n++] = opts[i];
    for (size_t i = 0; mounts[i]; i++)
        args[n++] = mounts[i];
    args[n] = NULL;
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* One request on its own connection; the response is in resp. */
static int request(const char *req)
{
    resp[0] = '\0';
    cr_assert_gt(ts_request(srv.port, req, resp, sizeof(resp), 5000), 0, "no response to %s", req);
    return ts_status(resp);
}

static void still_serves(void)
{
    cr_assert_eq(request("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 200, "%s", resp);
    cr_assert_str_eq(ts_body(resp), "Hello, World!");
}

static void logged(const char *needle)
{
    cr_assert(ts_log_wait(&srv, srv.error_log, needle, 3000), "no \"%s\" in the error log:\n%s",
              needle, (ts_read_file(srv.error_log, out, sizeof(out)), out));
}

/* Send req, expect status, then an error-log line that has `why` (the
 * status and reason) and `what` (the request as far as it was read), and
 * service as usual for the next client. */
static void refused(const char *req, int status, const char *why, const char *what)
{
    size_t from = ts_file_size(srv.error_log);
    cr_assert_eq(request(req), status, "for %s got:\n%s", req, resp);
    cr_assert(ts_log_wait_from(&srv, srv.error_log, from, why, 3000), "no \"%s\" logged", why);
    ts_read_file(srv.error_log, out, sizeof(out));
    char *line = strstr(out + from, why);
    line[strcspn(line, "\n")] = '\0';
    cr_assert(strstr(line, what), "\"%s\" not in the log line: %s", what, line);
    cr_assert(strstr(line, "client 127.0.0.1:"), "no client in the log line: %s", line);
    still_serves();
}

/* ---- ordinary clients ---- */

Test(server, curl_get)
{
    start(NULL);
    cr_assert_eq(ts_sh(out, sizeof(out), "curl -sS -i http://127.0.0.1:%d/hello", srv.port), 0,
                 "%s", out);
    cr_assert_eq(ts_status(out), 200, "%s", out);
    cr_assert(strstr(out, "Content-Length: 13\r\n"), "%s", out);
    cr_assert_str_eq(ts_body(out), "Hello, World!");
}

Test(server, curl_post_is_echoed)
{
    start(NULL);
    cr_assert_eq(ts_sh(out, sizeof(out),
                       "curl -sS --data-binary 'a=1&b=2' "
                       "-H 'X-Test: yes' http://127.0.0.1:%d/echo/form?q=z",
                       srv.port),
                 0, "%s", out);
    cr_assert(strstr(out, "POST /echo/form?q=z HTTP/1.1\n"), "%s", out);
    cr_assert(strstr(out, "CONTENT_LENGTH: 7\n"), "%s", out);
    cr_assert(strstr(out, "HTTP_X_TEST: yes\n"), "the mount's ARGS name it: %s", out);
    const char *body = strstr(out, "\n\n");
    cr_assert(body && strcmp(body + 2, "a=1&b=2") == 0, "%s", out);
}

Test(server, curl_chunked_upload_is_streamed_back)
{
    static char sent[1 << 20], back[1 << 20];
    start(OPTS("--max-body", "4m"));
    char file[128];
    snprintf(file, sizeof(file), "%s/upload", srv.dir);
    cr_assert_eq(ts_sh(out, sizeof(out), "head -c 200000 /dev/urandom | base64 > %s", file), 0);
    cr_assert_eq(ts_sh(out, sizeof(out),
                       "curl -sS -H 'Transfer-Encoding: chunked' --data-binary @%s "
                       "http://127.0.0.1:%d/echo/up -o %s.back",
                       file, srv.port, file),
                 0, "%s", out);
    size_t n = ts_read_file(file, sent, sizeof(sent));
    char path[160];
    snprintf(path, sizeof(path), "%s.back", file);
    ts_read_file(path, back, sizeof(back));
    unlink(file);
    unlink(path);
    cr_assert(strstr(back, "HTTP_TRANSFER_ENCODING: chunked\n"), "%.2000s", back);
    const char *body = strstr(back, "\n\n");
    cr_assert(body, "%.2000s", back);
    cr_assert_eq(strlen(body + 2), n, "sent %zu bytes, got back %zu", n, strlen(body + 2));
    cr_assert(memcmp(body + 2, sent, n) == 0, "the body came back changed");
}

Test(server, head_has_headers_and_no_body)
{
    start(NULL);
    int fd = ts_connect(srv.port);
    const char *req = "HEAD /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert_geq(ts_recv_all(fd, resp, sizeof(resp), 3000), 0, "not closed");
    close(fd);
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    cr_assert(strstr(resp, "Content-Length: 13\r\n"), "%s", resp);
    cr_assert_str_eq(ts_body(resp), "", "a body after HEAD: %s", resp);
}

Test(server, curl_reuses_the_connection)
{
    start(NULL);
    cr_assert_eq(ts_sh(out, sizeof(out),
                       "curl -sS -v http://127.0.0.1:%d/hello http://127.0.0.1:%d/echo/2", srv.port,
                       srv.port),
                 0, "%s", out);
    cr_assert(strstr(out, "Re-using existing connection"), "%s", out);
    cr_assert(strstr(out, "Hello, World!") && strstr(out, "GET /echo/2 HTTP/1.1"), "%s", out);
}

/* http.client reads each response off one buffered stream, so responses
 * to requests sent in one go must come back complete and in order. */
Test(server, python_pipelined_requests_answered_in_order)
{
    start(NULL);
    cr_assert_eq(
        ts_sh(out, sizeof(out),
              "python3 -c '\n"
              "import io, socket, http.client\n"
              "s = socket.create_connection((\"127.0.0.1\", %d))\n"
              "paths = [\"/hello\", \"/echo/a?n=1\", \"/slow?50\", \"/echo/b\", \"/hello\"]\n"
              "s.sendall(b\"\".join(b\"GET %%s HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n\" %% p.encode()"
              " for p in paths))\n"
              "class Keep(io.BufferedReader):\n"
              "    def close(self): pass  # each response would close it\n"
              "f = Keep(socket.SocketIO(s, \"rb\"))\n"
              "class One: makefile = lambda self, *a, **k: f\n"
              "for p in paths:\n"
              "    r = http.client.HTTPResponse(One(), method=\"GET\"); r.begin()\n"
              "    print(r.status, r.read().decode().splitlines()[0])\n'",
              srv.port),
        0, "%s", out);
    cr_assert_str_eq(out, "200 Hello, World!\n"
                          "200 GET /echo/a?n=1 HTTP/1.1\n"
                          "200 slept 50 ms\n"
                          "200 GET /echo/b HTTP/1.1\n"
                          "200 Hello, World!\n");
}

Test(server, python_http10_gets_close_delimited_responses)
{
    start(NULL);
    cr_assert_eq(ts_sh(out, sizeof(out),
                       "python3 -c '\n"
                       "import http.client\n"
                       "http.client.HTTPConnection._http_vsn_str = \"HTTP/1.0\"\n"
                       "for p in [\"/hello\", \"/echo/x\"]:\n"
                       "    c = http.client.HTTPConnection(\"127.0.0.1\", %d, timeout=5)\n"
                       "    c.request(\"GET\", p)\n"
                       "    r = c.getresponse()\n"
                       "    b = r.read().decode()\n"
                       "    print(r.status, r.getheader(\"Transfer-Encoding\"), r.will_close,"
                       " b.splitlines()[0])\n'",
                       srv.port),
                 0, "%s", out);
    cr_assert_str_eq(out, "200 None True Hello, World!\n"
                          "200 None True GET /echo/x HTTP/1.0\n");
}

/* ---- mounts ---- */

Test(server, script_name_and_path_info)
{
    start(NULL);
    cr_assert_eq(request("GET /echo/a/b%20c?x=1&y HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
    const char *b = ts_body(resp);
    cr_assert(strstr(b, "SCRIPT_NAME: /echo\n"), "%s", b);
    cr_assert(strstr(b, "PATH_INFO: /a/b"), "%s", b);
    cr_assert(strstr(b, "QUERY_STRING: x=1&y\n"), "%s", b);
    /* The longest prefix wins. */
    cr_assert_eq(request("GET /echo/deep/er HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
    cr_assert(strstr(ts_body(resp), "SCRIPT_NAME: /echo/deep\n"), "%s", resp);
    cr_assert(strstr(ts_body(resp), "PATH_INFO: /er\n"), "%s", resp);
    /* The prefix itself: PATH_INFO is empty. */
    cr_assert_eq(request("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
    cr_assert(strstr(ts_body(resp), "SCRIPT_NAME: /echo\n"), "%s", resp);
    cr_assert_null(strstr(ts_body(resp), "PATH_INFO: /"), "%s", resp);
}

Test(server, prefixes_match_whole_segments_and_root_takes_the_rest)
{
    start(NULL);
    cr_assert_eq(request("GET /echoes HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
    cr_assert_str_eq(ts_body(resp), "Hello, World!", "/echoes is not under /echo: %s", resp);
    cr_assert_eq(request("GET /anything/else HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
    cr_assert_str_eq(ts_body(resp), "Hello, World!");
}

Test(server, unix_and_ipv6_listeners)
{
    char sock[128], bind_unix[160];
    snprintf(sock, sizeof(sock), "/tmp/gs-test-%d.sock", (int)getpid());
    snprintf(bind_unix, sizeof(bind_unix), "unix:%s", sock);
    start(OPTS("--bind", bind_unix, "--bind", "[::1]:0"));
    char line[256];
    snprintf(line, sizeof(line), "listening on unix:%s", sock);
    logged(line);
    logged("listening on http://[::1]:");
    cr_assert_eq(ts_sh(out, sizeof(out), "curl -sS --unix-socket %s http://x/hello", sock), 0, "%s",
                 out);
    cr_assert_str_eq(out, "Hello, World!");
    cr_assert_eq(ts_sh(out, sizeof(out),
                       "curl -sS \"$(grep -m1 -o 'http://\\[::1\\]:[0-9]*' %s)/hello\"",
                       srv.error_log),
                 0, "%s", out);
    cr_assert_str_eq(out, "Hello, World!");
    ts_stop(&srv, 5000);
    cr_assert_neq(access(sock, F_OK), 0, "the socket file outlived the server");
}

/* ---- streaming ---- */

/* Read from fd until buf holds needle: true, or false at EOF / timeout. */
static bool read_until(int fd, char *buf, size_t cap, const char *needle, int timeout_ms)
{
    size_t have = strlen(buf);
    int64_t deadline = ts_now_ms() + timeout_ms;
    while (!strstr(buf, needle)) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
        if (n == 0 || ts_now_ms() > deadline)
            return false;
        if (n > 0)
            buf[have += (size_t)n] = '\0';
    }
    return true;
}

Test(server, clock_streams_until_the_client_leaves)
{
    start(NULL);
    int fd = ts_connect(srv.port);
    const char *req = "GET /clock HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    resp[0] = '\0';
    cr_assert(read_until(fd, resp, sizeof(resp), "tick 2\n", 4000), "%s", resp);
    cr_assert(strstr(resp, "Transfer-Encoding: chunked\r\n"), "%s", resp);
    cr_assert(strstr(resp, "tick 1\n"), "%s", resp);
    close(fd);
    /* The handler returns only when it notices the client has gone; then
     * the request gets its access-log line. */
    cr_assert(ts_log_wait(&srv, srv.access_log, "\"GET /clock HTTP/1.1\" 200", 3000),
              "the clock did not notice its client leaving");
}

/* ---- limits and malformed requests ---- */

Test(server, malformed_request_line_400)
{
    start(NULL);
    refused("GET\r\n\r\n", 400, "400 Bad Request", "request -");
    refused("GE(T /hello HTTP/1.1\r\nHost: t\r\n\r\n", 400, "400 Bad Request", "request -");
}

Test(server, content_length_with_transfer_encoding_400)
{
    start(NULL);
    refused("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
            "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400, "400 Bad Request: Content-Length can't be present with Transfer-Encoding",
            "request \"POST /sink HTTP/1.1\"");
}

Test(server, differing_duplicate_content_length_400)
{
    start(NULL);
    refused("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400, "400 Bad Request: Duplicate Content-Length", "request \"POST /sink HTTP/1.1\"");
}

Test(server, bad_chunk_size_400)
{
    start(NULL);
    refused("POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
            400, "400 Bad Request: Invalid character in chunk size",
            "request \"POST /sink HTTP/1.1\"");
}

Test(server, bare_lf_400)
{
    start(NULL);
    refused("GET /hello HTTP/1.1\nHost: t\n\n", 400, "400 Bad Request", "GET /hello");
}

Test(server, obs_fold_400)
{
    start(NULL);
    refused("GET /hello HTTP/1.1\r\nHost: t\r\nX-Long: a\r\n folded\r\n\r\n", 400,
            "400 Bad Request: obs-fold", "request \"GET /hello HTTP/1.1\"");
}

Test(server, uri_too_long_414)
{
    start(OPTS("--max-uri", "64"));
    char req[512];
    snprintf(req, sizeof(req), "GET /hello/%0100d HTTP/1.1\r\nHost: t\r\n\r\n", 0);
    refused(req, 414, "414 URI Too Long", "request \"GET /hello/000");
}

Test(server, header_block_too_large_431)
{
    start(OPTS("--max-header-bytes", "1k"));
    char req[4096];
    snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: %02000d\r\n\r\n", 0);
    refused(req, 431, "431 Request Header Fields Too Large", "request \"GET /hello HTTP/1.1\"");
}

Test(server, too_many_headers_431)
{
    start(OPTS("--max-headers", "5"));
    refused(
        "GET /hello HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n\r\n",
        431, "431 Request Header Fields Too Large", "request \"GET /hello HTTP/1.1\"");
}

Test(server, body_too_large_413)
{
    start(OPTS("--max-body", "100"));
    refused("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n", 413,
            "413 Content Too Large", "request \"POST /sink HTTP/1.1\"");
    /* Chunked: only known as the body arrives. */
    char req[1024];
    snprintf(req, sizeof(req),
             "POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "c8\r\n%0200d\r\n0\r\n\r\n",
             0);
    refused(req, 413, "413 Content Too Large", "request \"POST /sink HTTP/1.1\"");
    /* Within the limit it is read whole. */
    cr_assert_eq(request("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
                         "0123456789012345678901234567890123456789012345678901234567890123456789"
                         "012345678901234567890123456789"),
                 200, "%s", resp);
    cr_assert_str_eq(ts_body(resp), "got 100 bytes\n");
}

Test(server, unknown_transfer_encoding_501)
{
    start(NULL);
    refused("POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
            "501 Not Implemented", "request \"POST /sink HTTP/1.1\"");
}

Test(server, unsupported_version_505)
{
    start(NULL);
    refused("GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505, "505 HTTP Version Not Supported",
            "request \"GET /hello");
}

Test(server, slow_request_head_408)
{
    start(OPTS("--header-timeout", "300ms"));
    int fd = ts_connect(srv.port);
    const char *part = "GET /hello HTTP/1.1\r\nHost: t\r\n";
    cr_assert_eq(ts_send(fd, part, strlen(part)), 0);
    int64_t t0 = ts_now_ms();
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 3000), 0);
    cr_assert_eq(ts_status(resp), 408, "%s", resp);
    cr_assert_geq(ts_now_ms() - t0, 250, "408 before the timeout");
    cr_assert(ts_closed_within(fd, 2000), "still open after 408");
    close(fd);
    logged("408 Request Timeout: request head not complete in time; client 127.0.0.1:");
    still_serves();
}

Test(server, idle_keepalive_connection_is_closed)
{
    start(OPTS("--keepalive-timeout", "300ms"));
    int fd = ts_connect(srv.port);
    const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 3000), 0);
    cr_assert_eq(ts_status(resp), 200);
    int64_t t0 = ts_now_ms();
    cr_assert(ts_closed_within(fd, 3000), "idle connection left open");
    cr_assert_geq(ts_now_ms() - t0, 250, "closed before the keep-alive timeout");
    close(fd);
    still_serves();
}

Test(server, past_max_conns_503_with_retry_after)
{
    start(OPTS("--max-conns", "2", "--workers", "1")); /* the limit is per worker */
    int held[2];
    for (int i = 0; i < 2; i++) { /* a full exchange: the server holds them */
        held[i] = ts_connect(srv.port);
        const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
        cr_assert_eq(ts_send(held[i], req, strlen(req)), 0);
        cr_assert_gt(ts_recv_response(held[i], resp, sizeof(resp), false, 3000), 0);
    }
    cr_assert_eq(request("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 503, "%s", resp);
    char v[32];
    cr_assert(ts_header(resp, "Retry-After", v, sizeof(v)), "%s", resp);
    logged("503 Service Unavailable");
    close(held[0]);
    /* Once one leaves, the next client is served. */
    int64_t deadline = ts_now_ms() + 3000;
    while (request("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") == 503 && ts_now_ms() < deadline)
        ;
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    close(held[1]);
}

/* ---- stopping ---- */

static int send_slow(long ms)
{
    char req[128];
    snprintf(req, sizeof(req), "GET /slow?%ld HTTP/1.1\r\nHost: t\r\n\r\n", ms);
    int fd = ts_connect(srv.port);
    cr_assert_eq(ts_send(fd, req, strlen(req)), 0);
    snprintf(req, sizeof(req), "slow: sleeping %ld ms", ms);
    cr_assert(ts_log_wait(&srv, srv.output, req, 3000), "the slow request did not start");
    return fd;
}

Test(server, sigterm_lets_a_request_in_progress_finish)
{
    start(OPTS("--workers", "1")); /* its "stopping: " says all sockets are closed */
    int fd = send_slow(700);
    /* An idle keep-alive connection does not hold the stop up. */
    int idle = ts_connect(srv.port);
    const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    cr_assert_eq(ts_send(idle, req, strlen(req)), 0);
    cr_assert_gt(ts_recv_response(idle, resp, sizeof(resp), false, 3000), 0);
    ts_signal(&srv, SIGTERM);
    logged("stopping: ");
    cr_assert(ts_closed_within(idle, 1000), "idle connection kept open");
    cr_assert_eq(ts_connect(srv.port), -1, "still accepting after SIGTERM");
    cr_assert_gt(ts_recv_response(fd, resp, sizeof(resp), false, 5000), 0);
    cr_assert_eq(ts_status(resp), 200, "%s", resp);
    cr_assert_str_eq(ts_body(resp), "slept 700 ms\n");
    int st = ts_wait_exit(&srv, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    close(fd);
    close(idle);
}

Test(server, graceful_timeout_cancels_what_is_left)
{
    start(OPTS("--graceful-timeout", "200ms"));
    int fd = send_slow(10000);
    int64_t t0 = ts_now_ms();
    ts_signal(&srv, SIGTERM);
    int st = ts_wait_exit(&srv, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    cr_assert_lt(ts_now_ms() - t0, 3000, "the stop waited for the request");
    ts_read_file(srv.error_log, out, sizeof(out));
    cr_assert(strstr(out, "cancelling 1 request"), "%s", out);
    close(fd);
}

Test(server, second_signal_stops_at_once)
{
    start(NULL); /* graceful timeout: 30 s */
    int fd = send_slow(10000);
    int64_t t0 = ts_now_ms();
    ts_signal(&srv, SIGINT);
    logged("stopping");
    ts_signal(&srv, SIGINT);
    int st = ts_wait_exit(&srv, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    cr_assert_lt(ts_now_ms() - t0, 3000);
    close(fd);
}
