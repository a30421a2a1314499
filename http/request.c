/*
 * request.c -- the handler's view of a request: gs_env, gs_alloc,
 * gs_defer, disconnect detection, and the request's lifetime.
 */
#include "http/request.h"

#include <errno.h>
#include <poll.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/conn.h"
#include "runtime/io.h"

/* gs_alloc memory: chunks of ARENA_CHUNK, or one chunk per large block. */
#define ARENA_CHUNK 4000

struct http_chunk {
    http_chunk *next;
    size_t used, cap;
    alignas(16) unsigned char data[];
};

struct http_defer {
    void (*fn)(void *arg);
    void *arg;
    http_defer *next;
};

/* A repeated header's values joined with ", ", computed once. */
struct http_joined {
    const http_hdr *first;
    const char *value;
    http_joined *next;
};

int64_t http_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- lifetime ---- */

void http_request_begin(gs_request *r)
{
    http_conn *c = r->c;
    http_hdr *hdrs = r->hdrs ? r->hdrs : r->inl;
    unsigned hcap = r->hdrs ? r->hcap : HTTP_INLINE_HDRS;
    /* Everything up to the inline arrays; those are reused as they are. */
    memset(r, 0, offsetof(gs_request, inl));
    r->c = c;
    r->hdrs = hdrs;
    r->hcap = hcap;
    r->resp_len = -1;
    r->query = "";
}

void http_request_run_defers(gs_request *r)
{
    while (r->defers) {
        http_defer *d = r->defers;
        r->defers = d->next; /* a deferred call may defer more */
        d->fn(d->arg);
    }
}

void http_request_end(gs_request *r)
{
    http_request_run_defers(r);
    while (r->arena) {
        http_chunk *k = r->arena;
        r->arena = k->next;
        free(k);
    }
    r->joined = NULL;
}

void http_request_free(gs_request *r)
{
    if (r->hdrs && r->hdrs != r->inl)
        free(r->hdrs);
    r->hdrs = NULL;
}

bool http_request_grow_hdrs(gs_request *r)
{
    unsigned cap = r->hcap * 2;
    http_hdr *h = malloc(cap * sizeof(*h));
    if (!h)
        return false;
    memcpy(h, r->hdrs, r->nhdrs * sizeof(*h));
    if (r->hdrs != r->inl)
        free(r->hdrs);
    r->hdrs = h;
    r->hcap = cap;
    return true;
}

/* ---- arena and defer ---- */

static http_chunk *new_chunk(size_t cap)
{
    http_chunk *k = malloc(sizeof(*k) + cap);
    if (k) {
        k->used = 0;
        k->cap = cap;
    }
    return k;
}

void *gs_alloc(gs_request *r, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = n ? (n + 15) & ~(size_t)15 : 16;
    http_chunk *k = r->arena;
    if (k && k->cap - k->used >= n) {
        k->used += n;
        return k->data + k->used - n;
    }
    /* A large block gets its own chunk, under the current one, so the
     * current one's free space still serves the small ones. */
    bool large = n > ARENA_CHUNK / 4;
    http_chunk *fresh = new_chunk(large ? n : ARENA_CHUNK);
    if (!fresh)
        return NULL;
    fresh->used = n;
    if (large && k) {
        fresh->next = k->next;
        k->next = fresh;
    } else {
        fresh->next = k;
        r->arena = fresh;
    }
    return fresh->data;
}

int gs_defer(gs_request *r, void (*fn)(void *arg), void *arg)
{
    http_defer *d = gs_alloc(r, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->fn = fn;
    d->arg = arg;
    d->next = r->defers;
    r->defers = d;
    return 0;
}

/* ---- headers and environ ---- */

static const char *base_of(gs_request *r)
{
    return r->c->in + r->c->req_start;
}

const char *http_header(gs_request *r, const char *name)
{
    const char *base = base_of(r);
    size_t len = strlen(name);
    for (unsigned i = 0; i < r->nhdrs; i++) {
        const http_hdr *h = &r->hdrs[i];
        if (h->name_len == len && strncasecmp(base + h->name, name, len) == 0)
            return base + h->value;
    }
    return NULL;
}

/* Whether header h is what the CGI key suffix (after "HTTP_") names:
 * upper case, '-' as '_'. A name with a '_' of its own matches nothing,
 * or "X_User" could pass for "X-User". */
static bool cgi_name_is(const char *name, size_t len, const char *key)
{
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (ch == '_')
            return false;
        char want = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        if (key[i] != want)
            return false;
    }
    return key[len] == '\0';
}

static const char *join(gs_request *r, const http_hdr *first, const char *key)
{
    for (http_joined *j = r->joined; j; j = j->next)
        if (j->first == first)
            return j->value;
    const char *base = base_of(r);
    size_t total = 0;
    for (const http_hdr *h = first; h < r->hdrs + r->nhdrs; h++)
        if (cgi_name_is(base + h->name, h->name_len, key))
            total += h->value_len + 2;
    http_joined *j = gs_alloc(r, sizeof(*j));
    char *v = gs_alloc(r, total);
    if (!j || !v)
        return base + first->value; /* out of memory: the first value */
    char *p = v;
    for (const http_hdr *h = first; h < r->hdrs + r->nhdrs; h++) {
        if (!cgi_name_is(base + h->name, h->name_len, key))
            continue;
        if (p > v)
            p = (char *)memcpy(p, ", ", 2) + 2;
        p = (char *)memcpy(p, base + h->value, h->value_len) + h->value_len;
    }
    *p = '\0';
    *j = (http_joined){first, v, r->joined};
    r->joined = j;
    return v;
}

static const char *env_header(gs_request *r, const char *key)
{
    /* CGI: these two have their own keys. */
    if (strcmp(key, "CONTENT_TYPE") == 0 || strcmp(key, "CONTENT_LENGTH") == 0)
        return NULL;
    const char *base = base_of(r);
    const http_hdr *first = NULL;
    for (unsigned i = 0; i < r->nhdrs; i++) {
        const http_hdr *h = &r->hdrs[i];
        if (!cgi_name_is(base + h->name, h->name_len, key))
            continue;
        if (first)
            return join(r, first, key);
        first = h;
    }
    return first ? base + first->value : NULL;
}

static const char *env_request(gs_request *r, const char *key)
{
    if (strcmp(key, "REQUEST_METHOD") == 0)
        return llhttp_method_name(r->method);
    if (strcmp(key, "REMOTE_ADDR") == 0)
        return r->c->peer;
    if (strcmp(key, "REMOTE_PORT") == 0)
        return r->c->peer_port;
    return NULL;
}

static const char *env_server(gs_request *r, const char *key)
{
    if (strcmp(key, "SCRIPT_NAME") == 0)
        return r->mount ? (r->mount->prefix_len == 1 ? "" : r->mount->prefix) : "";
    if (strcmp(key, "SERVER_PROTOCOL") == 0)
        return r->minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
    bool name = strcmp(key, "SERVER_NAME") == 0;
    if (!name && strcmp(key, "SERVER_PORT") != 0)
        return NULL;
    http_conn_local(r->c);
    return name ? r->c->local : r->c->local_port;
}

const char *gs_env(gs_request *r, const char *key)
{
    if (!r || !key || !r->head_done)
        return NULL;
    switch (key[0]) {
    case 'H':
        return strncmp(key, "HTTP_", 5) == 0 ? env_header(r, key + 5) : NULL;
    case 'P':
        return strcmp(key, "PATH_INFO") == 0 ? r->path_info : NULL;
    case 'Q':
        return strcmp(key, "QUERY_STRING") == 0 ? r->query : NULL;
    case 'C':
        if (strcmp(key, "CONTENT_TYPE") == 0)
            return http_header(r, "content-type");
        return strcmp(key, "CONTENT_LENGTH") == 0 ? http_header(r, "content-length") : NULL;
    case 'R':
        return env_request(r, key);
    case 'S':
        return env_server(r, key);
    default:
        return NULL;
    }
}

/* ---- the client going away ---- */

/* From a handler thread, which has no record of the socket's edges (its
 * hub may never have waited on it): ask the kernel. */
static bool peer_gone(http_conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
        c->hup = true;
    return c->hup;
}

bool gs_disconnected(gs_request *r)
{
    http_conn *c = r->c;
    if (c->hup || c->dead)
        return true;
    return c->on_thread ? peer_gone(c) : rt_io_hup(c->fd);
}

int http_wait(gs_request *r, rt_waitq *q, int64_t timeout_ms)
{
    http_conn *c = r->c;
    if (c->out_len > 0 && !c->flushing)
        http_conn_flush(c, NULL, 0); /* a failure shows as dead, just below */
    if (gs_disconnected(r))
        return -EPIPE;
    http_conn_park_light(c);
    http_conn_watch(c); /* on a handler thread: its hub sees the close */
    rt_hub *h = rt_hub_get();
    if (c->on_thread)
        c->hup_waiter = gs_self();
    /* The wake comes from the fd's notify callback, an event the hub does
     * not count as ours: say a wait is pending. On the connection's own
     * thread the callback interrupts the wait (rt_interrupt), as a drain
     * does with -ESHUTDOWN. */
    rt_hub_pending(h, 1);
    r->in_long_wait = true; /* exempt from the request timeout (route.c) */
    int ret = c->on_thread ? rt_wait(q, timeout_ms) : rt_wait_interruptible(q, timeout_ms);
    r->in_long_wait = false;
    rt_hub_pending(h, -1);
    c->hup_waiter = NULL;
    return ret;
}

int gs_wait_disconnect(gs_request *r, int64_t timeout_ms)
{
    return http_wait(r, NULL, timeout_ms);
}
