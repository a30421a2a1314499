/* http/route and gs_env: longest-prefix mounts, SCRIPT_NAME / PATH_INFO /
 * QUERY_STRING as PEP 3333 has them, and every environ key. */
#include "http/harness.h"
#include "http/route.h"

static const char *keys[] = {
    "REQUEST_METHOD",  "SCRIPT_NAME", "PATH_INFO",    "QUERY_STRING", "SERVER_PROTOCOL",
    "SERVER_NAME",     "SERVER_PORT", "REMOTE_ADDR",  "REMOTE_PORT",  "CONTENT_TYPE",
    "CONTENT_LENGTH",  "HTTP_HOST",   "HTTP_X_MULTI", "HTTP_X_UNDER", "HTTP_CONTENT_TYPE",
    "HTTP_USER_AGENT", "NO_SUCH_KEY",
};

/* Answers "KEY=value\n" for every key ("KEY=-" when absent), and the
 * mount's name first. */
static int env_handle(gs_request *r, void *state)
{
    (void)state;
    static char body[8192];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = gs_env(r, keys[i]);
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s=%s\n", keys[i], v ? v : "-");
    }
    /* Asked twice: the joined value is the same string, not a new one. */
    const char *m1 = gs_env(r, "HTTP_X_MULTI"), *m2 = gs_env(r, "HTTP_X_MULTI");
    n += (size_t)snprintf(body + n, sizeof(body) - n, "same=%d\n", m1 == m2);
    char len[32];
    snprintf(len, sizeof(len), "%zu", n);
    gs_start_response(r, 200, (const char *[]){"Content-Length", len, NULL});
    gs_write(r, body, n);
    return 0;
}

static const gs_app root_app = {.abi = GS_ABI_VERSION, .name = "root", .handle = env_handle};
static const gs_app chat_app = {.abi = GS_ABI_VERSION, .name = "chat", .handle = env_handle};
static const gs_app admin_app = {.abi = GS_ABI_VERSION, .name = "admin", .handle = env_handle};

static void start_three(hs *s)
{
    hs_start(s, (const char *[]){"/chat", "/", "/chat/admin"},
             (const gs_app *[]){&chat_app, &root_app, &admin_app}, 3, NULL);
}

/* The value of key in an env_handle body (static). */
static const char *env(const char *resp, const char *key)
{
    static char v[1024];
    char want[64];
    snprintf(want, sizeof(want), "%s=", key);
    const char *p = hs_body(resp);
    while (p && strncmp(p, want, strlen(want)) != 0)
        p = (p = strchr(p, '\n')) ? p + 1 : NULL;
    cr_assert_not_null(p, "%s missing", key);
    p += strlen(want);
    snprintf(v, sizeof(v), "%.*s", (int)strcspn(p, "\n"), p);
    return v;
}

static const char *get(hs *s, const char *target)
{
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: example.org:8080\r\n\r\n", target);
    return hs_request(s, req);
}

Test(route, longest_prefix_wins, .timeout = 10)
{
    hs s;
    start_three(&s);
    const char *r = get(&s, "/chat/room?x=1");
    cr_assert_str_eq(env(r, "SCRIPT_NAME"), "/chat");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/room");
    cr_assert_str_eq(env(r, "QUERY_STRING"), "x=1");
    r = get(&s, "/chat");
    cr_assert_str_eq(env(r, "SCRIPT_NAME"), "/chat");
    cr_assert_str_eq(env(r, "PATH_INFO"), "");
    cr_assert_str_eq(env(r, "QUERY_STRING"), "");
    r = get(&s, "/chat/");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/");
    r = get(&s, "/chat/admin/users");
    cr_assert_str_eq(env(r, "SCRIPT_NAME"), "/chat/admin");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/users");
    r = get(&s, "/chatty");
    cr_assert_str_eq(env(r, "SCRIPT_NAME"), "");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/chatty");
    r = get(&s, "/");
    cr_assert_str_eq(env(r, "SCRIPT_NAME"), "");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/");
    hs_stop(&s);
}

Test(route, path_is_percent_decoded_query_is_raw, .timeout = 10)
{
    hs s;
    start_three(&s);
    const char *r = get(&s, "/ch%61t/a%20b%2Fc%zz%4?q=a%20b&x=%2F");
    cr_assert_str_eq(env(r, "SCRIPT_NAME"), "/chat");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/a b/c%zz%4");
    cr_assert_str_eq(env(r, "QUERY_STRING"), "q=a%20b&x=%2F");
    r = get(&s, "/caf%C3%A9");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/caf\xc3\xa9");
    hs_stop(&s);
}

Test(route, absolute_form_target, .timeout = 10)
{
    hs s;
    start_three(&s);
    const char *r = get(&s, "http://example.org/chat/x?y");
    cr_assert_str_eq(env(r, "SCRIPT_NAME"), "/chat");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/x");
    cr_assert_str_eq(env(r, "QUERY_STRING"), "y");
    r = get(&s, "HTTPS://example.org");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/");
    r = get(&s, "http://example.org?q");
    cr_assert_str_eq(env(r, "PATH_INFO"), "/");
    cr_assert_str_eq(env(r, "QUERY_STRING"), "q");
    hs_stop(&s);
}

Test(route, long_path_is_decoded_too, .timeout = 10)
{
    hs s;
    start_three(&s);
    char target[600] = "/chat/";
    for (int i = 0; i < 100; i++)
        strcat(target, "%41bc");
    const char *r = get(&s, target);
    const char *p = env(r, "PATH_INFO");
    cr_assert_eq(strlen(p), 301);
    cr_assert_eq(strncmp(p, "/AbcAbc", 7), 0);
    hs_stop(&s);
}

Test(route, no_mount_is_404, .timeout = 10)
{
    hs s;
    hs_start(&s, (const char *[]){"/chat"}, (const gs_app *[]){&chat_app}, 1, NULL);
    hc *c = hc_open(&s);
    hc_send(c, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *resp = hc_recv(c, false);
    cr_assert_eq(hs_status(resp), 404);
    cr_assert_null(hs_header(resp, "Connection"));
    hc_send(c, "GET /chat/ok HTTP/1.1\r\nHost: x\r\n\r\n"); /* kept alive */
    cr_assert_eq(hs_status(hc_recv(c, false)), 200);
    hc_send(c, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(hs_status(hc_recv(c, false)), 404);
    hc_close(c);
    hs_stop(&s);
}

Test(route, environ_keys, .timeout = 10)
{
    hs s;
    start_three(&s);
    hc *c = hc_open(&s);
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    getsockname(c->fd, (struct sockaddr *)&me, &len);
    hc_send(c, "POST /chat/x HTTP/1.0\r\nHost: example.org\r\nContent-Type: text/plain\r\n"
               "Content-Length: 2\r\nX-Multi: one\r\nUser-Agent: t/1\r\nx-multi: two\r\n"
               "X_Under: spoof\r\nX-Multi:  three \r\n\r\nhi");
    const char *r = hc_recv(c, false);
    cr_assert_str_eq(env(r, "REQUEST_METHOD"), "POST");
    cr_assert_str_eq(env(r, "SERVER_PROTOCOL"), "HTTP/1.0");
    cr_assert_str_eq(env(r, "SERVER_NAME"), "127.0.0.1");
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    cr_assert_str_eq(env(r, "SERVER_PORT"), port);
    cr_assert_str_eq(env(r, "REMOTE_ADDR"), "127.0.0.1");
    snprintf(port, sizeof(port), "%d", ntohs(me.sin_port));
    cr_assert_str_eq(env(r, "REMOTE_PORT"), port);
    cr_assert_str_eq(env(r, "CONTENT_TYPE"), "text/plain");
    cr_assert_str_eq(env(r, "CONTENT_LENGTH"), "2");
    cr_assert_str_eq(env(r, "HTTP_HOST"), "example.org");
    cr_assert_str_eq(env(r, "HTTP_X_MULTI"), "one, two, three");
    cr_assert_str_eq(env(r, "same"), "1");
    cr_assert_str_eq(env(r, "HTTP_X_UNDER"), "-"); /* X_Under could pass for X-Under */
    cr_assert_str_eq(env(r, "HTTP_CONTENT_TYPE"), "-");
    cr_assert_str_eq(env(r, "HTTP_USER_AGENT"), "t/1");
    cr_assert_str_eq(env(r, "NO_SUCH_KEY"), "-");
    hc_close(c);
    hs_stop(&s);
}

Test(route, match_unit)
{
    static const gs_app a = {.name = "a"};
    http_mount m[] = {
        {"/a/b", 4, &a, NULL},
        {"/", 1, &a, NULL},
        {"/a", 2, &a, NULL},
    };
    http_site site = {.mounts = m, .nmounts = 3};
    cr_assert_eq(http_route_match(&site, "/a/b/c"), &m[0]);
    cr_assert_eq(http_route_match(&site, "/a/b"), &m[0]);
    cr_assert_eq(http_route_match(&site, "/a/bc"), &m[2]);
    cr_assert_eq(http_route_match(&site, "/a"), &m[2]);
    cr_assert_eq(http_route_match(&site, "/ab"), &m[1]);
    cr_assert_eq(http_route_match(&site, "/"), &m[1]);
    site.nmounts = 1;
    cr_assert_null(http_route_match(&site, "/a"));
    cr_assert_null(http_route_match(&site, "/x"));
}
