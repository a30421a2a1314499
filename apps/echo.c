/*
 * echo.c -- answers with what it was sent: the request line, the WSGI
 * environ keys, some headers, then the body, streamed back as it arrives.
 *
 *     greenserve /echo=build/apps/echo.so:X-Request-Id,Cookie
 *     curl -d 'hi there' 'http://127.0.0.1:8080/echo/a/b?x=1'
 *
 * gs_env looks keys up one at a time, so the headers echoed are a fixed
 * list plus the ones named in the mount's ARGS (comma-separated).
 */
#include <greenserve.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "HTTP_HOST",
    "HTTP_USER_AGENT",
    "HTTP_ACCEPT",
    "HTTP_TRANSFER_ENCODING",
    "HTTP_CONNECTION",
    "HTTP_EXPECT",
    NULL,
};

/* Per-worker state made by init from ARGS: "X-Request-Id,Cookie" becomes
 * "HTTP_X_REQUEST_ID\0HTTP_COOKIE\0\0", the environ keys of those headers. */
static int init(const char *args, void **state)
{
    size_t n = strlen(args);
    char *extra = calloc(1, n * 2 + 16), *out = extra;
    if (!extra)
        return -ENOMEM;
    for (const char *p = args; *p;) {
        size_t len = strcspn(p, ",");
        out += sprintf(out, "HTTP_");
        for (size_t i = 0; i < len; i++)
            *out++ = p[i] == '-' ? '_' : (char)toupper((unsigned char)p[i]);
        *out++ = '\0';
        p += len + (p[len] == ',');
    }
    *state = extra;
    return 0;
}

static void fini(void *state)
{
    free(state);
}

/* Absent keys (QUERY_STRING of "/echo") read as "". */
static const char *env(gs_request *r, const char *key)
{
    const char *v = gs_env(r, key);
    return v ? v : "";
}

/* Append "KEY: value\n" when the key is present. */
static size_t put_env(gs_request *r, const char *key, char *buf, size_t used, size_t cap)
{
    const char *v = gs_env(r, key);
    if (!v || used >= cap)
        return used;
    int n = snprintf(buf + used, cap - used, "%s: %s\n", key, v);
    return n < 0 ? used : used + (size_t)n < cap ? used + (size_t)n : cap - 1;
}

static int handle(gs_request *r, void *state)
{
    /* Request memory: freed when the request ends, whatever happens. */
    size_t cap = 16384;
    char *buf = gs_alloc(r, cap);
    if (!buf)
        return -ENOMEM;
    const char *query = env(r, "QUERY_STRING");
    size_t used = (size_t)snprintf(buf, cap, "%s %s%s%s%s %s\n", env(r, "REQUEST_METHOD"),
                                   env(r, "SCRIPT_NAME"), env(r, "PATH_INFO"), *query ? "?" : "",
                                   query, env(r, "SERVER_PROTOCOL"));
    for (const char *const *k = keys; *k; k++)
        used = put_env(r, *k, buf, used, cap);
    for (const char *k = state; *k; k += strlen(k) + 1)
        used = put_env(r, k, buf, used, cap);
    buf[used++] = '\n';

    /* No Content-Length: the response is streamed (chunked on HTTP/1.1),
     * each gs_write going out as it is made. */
    static const char *const headers[] = {"Content-Type", "text/plain", NULL};
    gs_start_response(r, 200, headers);
    ssize_t n = gs_write(r, buf, used);

    /* Then the body, de-chunked by the server, back as it arrives. gs_read
     * parks this green thread, not the process, while the client sends. */
    while (n >= 0 && (n = gs_read(r, buf, cap)) > 0)
        n = gs_write(r, buf, (size_t)n);
    return n < 0 ? (int)n : 0;
}

GS_APP(.name = "echo", .flags = GS_APP_GREEN, .init = init, .handle = handle, .fini = fini);
