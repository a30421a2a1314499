/*
 * route.c -- request-target -> mount, SCRIPT_NAME / PATH_INFO / QUERY_STRING.
 */
#include "http/route.h"

#include <string.h>
#include <strings.h>

#include "http/conn.h"

const http_mount *http_route_match(const http_site *site, const char *path)
{
    const http_mount *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < site->nmounts; i++) {
        const http_mount *m = &site->mounts[i];
        size_t n = m->prefix_len;
        if (n == 1 && m->prefix[0] == '/')
            n = 0; /* the root: matches everything, loses to any other */
        else if (strncmp(path, m->prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
            continue;
        if (!best || n > best_len) {
            best = m;
            best_len = n;
        }
    }
    return best;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decode n bytes into dst (room for n + 1). A '%' not followed by
 * two hex digits stays as it is. Returns false for an encoded NUL, which a
 * C string cannot carry. */
static bool decode(char *dst, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            *dst = (char)(hi << 4 | lo);
            if (*dst++ == '\0')
                return false;
            i += 2;
            continue;
        }
        *dst++ = s[i];
    }
    *dst = '\0';
    return true;
}

/* The path part of an origin-form or absolute-form target (n bytes), or
 * NULL: "/a/b?q" -> "/a/b?q", "http://host/a?q" -> "/a?q",
 * "http://host" -> "" (meaning "/"). */
static const char *path_start(const char *t, size_t n, size_t *skip)
{
    *skip = 0;
    if (n > 0 && t[0] == '/')
        return t;
    const char *sep = memchr(t, ':', n);
    if (!sep || (size_t)(sep - t) + 3 > n || sep[1] != '/' || sep[2] != '/')
        return NULL;
    if (!((sep - t == 4 && strncasecmp(t, "http", 4) == 0) ||
          (sep - t == 5 && strncasecmp(t, "https", 5) == 0)))
        return NULL;
    const char *p = memchr(sep + 3, '/', n - (size_t)(sep + 3 - t));
    if (!p)
        p = memchr(sep + 3, '?', n - (size_t)(sep + 3 - t));
    *skip = p ? (size_t)(p - t) : n;
    return t + *skip;
}

int http_route(gs_request *r)
{
    const char *target = r->c->in + r->c->req_start + r->url;
    size_t skip, n;
    const char *path = path_start(target, r->url_len, &skip);
    if (!path)
        return r->url_len == 1 && target[0] == '*' ? 404 : 400;
    n = r->url_len - skip;
    const char *q = memchr(path, '?', n);
    if (q) {
        r->query = q + 1; /* NUL-terminated with the target */
        n = (size_t)(q - path);
    }
    bool empty = n == 0; /* "http://host?q": the path is "/" */
    char *dst = n + 2 <= sizeof(r->path_inline) ? r->path_inline : gs_alloc(r, n + 2);
    if (!dst)
        return 500;
    if (!decode(dst, empty ? "/" : path, empty ? 1 : n))
        return 400;
    r->mount = http_route_match(r->c->site, dst);
    if (!r->mount)
        return 404;
    r->path_info = r->mount->prefix_len == 1 ? dst : dst + r->mount->prefix_len;
    return 0;
}

int http_run_handler(gs_request *r)
{
    return r->mount->app->handle(r, r->mount->state);
}
