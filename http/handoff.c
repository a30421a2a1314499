/*
 * handoff.c -- the HTTP side of handing a connection to another worker:
 * whether a connection can go now and what it takes along
 * (http_conn_capture), letting go of it (http_conn_handed), and resuming
 * its request on the worker it went to (gs_resumed). server/handoff.c
 * carries the state and the socket.
 */
#include "http/handoff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "runtime/hub.h"

/* Parked, as far as the worker can tell from outside: nothing of it can
 * run before the hand-off is over (the worker does it without switching). */
static bool thread_parked(const http_conn *c, bool long_wait)
{
    const gs_thread *t = c->thread;
    return t && t->state == RT_WAITING && (!long_wait || t->interruptible);
}

static bool quiet(const http_conn *c)
{
    return !c->dead && !c->hup && !c->handed && !c->on_thread && !c->flushing && c->out_len == 0;
}

/* A stream whose head went out can go on from another worker; one with a
 * Content-Length, or a head still in the buffer, cannot. */
static bool response_resumable(const gs_request *r)
{
    if (!r->started)
        return true;
    return r->flushed && (r->frame == HTTP_FRAME_CHUNKED || r->frame == HTTP_FRAME_CLOSE);
}

static bool parked_resumable(const http_conn *c)
{
    const gs_request *r = &c->req;
    return c->in_handler && r->mount && (r->mount->app->flags & GS_APP_HANDOFF) && r->head_done &&
           r->body_done && r->body_total == 0 && !r->chunked && response_resumable(r) &&
           thread_parked(c, true);
}

static void put_bytes(char *dst, size_t *o, const char *p, size_t n)
{
    if (dst)
        memcpy(dst + *o, p, n);
    *o += n;
}

/* The request head again, from its parsed fields, into dst (or only its
 * length with dst NULL): the parser wrote NULs over the bytes that ended
 * the target and each value. */
static size_t head_again(const http_conn *c, char *dst)
{
    const gs_request *r = &c->req;
    const char *base = c->in + c->req_start;
    const char *method = llhttp_method_name(r->method);
    size_t o = 0;
    put_bytes(dst, &o, method, strlen(method));
    put_bytes(dst, &o, " ", 1);
    put_bytes(dst, &o, base + r->url, r->url_len);
    put_bytes(dst, &o, r->minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
    for (unsigned i = 0; i < r->nhdrs; i++) {
        const http_hdr *h = &r->hdrs[i];
        put_bytes(dst, &o, base + h->name, h->name_len);
        put_bytes(dst, &o, ": ", 2);
        put_bytes(dst, &o, base + h->value, h->value_len);
        put_bytes(dst, &o, "\r\n", 2);
    }
    put_bytes(dst, &o, "\r\n", 2);
    return o;
}

static http_handoff *capture_parked(http_conn *c)
{
    const gs_request *r = &c->req;
    size_t head = head_again(c, NULL), rest = c->in_len - c->pos;
    http_handoff *h = malloc(sizeof(*h) + head + rest);
    if (!h)
        return NULL;
    *h = (http_handoff){.parked = 1,
                        .started = r->started,
                        .frame = (uint8_t)r->frame,
                        .close = c->close,
                        .has_cursor = c->has_cursor,
                        .status = (uint16_t)r->status,
                        .cursor = c->cursor,
                        .body_sent = r->body_sent,
                        .age_ms = (uint32_t)(gs_now_ms() - c->req_ms),
                        .len = (uint32_t)(head + rest)};
    head_again(c, http_handoff_bytes(h));
    memcpy(http_handoff_bytes(h) + head, c->in + c->pos, rest);
    return h;
}

/* Parked in the wait for a next request of which nothing is read. */
static bool waiting_between(const http_conn *c)
{
    return quiet(c) && c->between && c->in_len == c->req_start && thread_parked(c, false);
}

bool http_conn_idle(const http_conn *c)
{
    if (!waiting_between(c))
        return false;
    /* Bytes the loop has not told the thread of yet: a request. */
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n <= 0 && !(n < 0 && errno == EINTR);
}

http_handoff *http_conn_capture(http_conn *c)
{
    if (c->resume_head) /* a resumed stream's head may wait in the buffer: it goes now */
        http_resume_head(c, false);
    if (!quiet(c))
        return NULL;
    if (waiting_between(c)) {
        http_handoff *h = malloc(sizeof(*h));
        if (h)
            *h = (http_handoff){.fresh = c->fresh};
        return h;
    }
    return parked_resumable(c) ? capture_parked(c) : NULL;
}

void http_conn_handed(http_conn *c)
{
    c->handed = c->dead = true;
    c->hup = true; /* nothing to linger for */
}

/* The first request of a handed-over connection: its handler runs again,
 * told so by gs_resumed; a response whose head went out goes on. An app
 * that does not take hand-offs (the mounts changed) cannot go on with a
 * stream another app began: end it (false: no handler). */
bool http_resume_request(http_conn *c)
{
    gs_request *r = &c->req;
    const http_handoff *h = &c->resume;
    c->resume_pending = false;
    bool ours = r->mount && (r->mount->app->flags & GS_APP_HANDOFF);
    c->resumed = ours;
    c->has_cursor = ours && h->has_cursor;
    c->cursor = h->cursor;
    c->req_ms -= h->age_ms;
    c->resume_head = ours && h->started;
    if (!h->started || ours)
        return true;
    /* Another app's stream: end it as it began, without a handler. */
    r->status = h->status;
    r->frame = (http_frame)h->frame;
    r->started = r->flushed = true;
    r->body_sent = h->body_sent;
    r->resp_len = -1;
    r->out_start = c->out_len;
    c->close = true;
    return false;
}

/* Drop the head the handler just made (at out_start, up to its blank
 * line) and count the body from where the other worker left it. */
static void drop_head(http_conn *c)
{
    gs_request *r = &c->req;
    char *head = c->out + r->out_start;
    size_t have = c->out_len - r->out_start;
    const char *end = memmem(head, have, "\r\n\r\n", 4);
    size_t n = end ? (size_t)(end + 4 - head) : have;
    memmove(head, head + n, have - n);
    c->out_len -= n;
    r->flushed = true;
    r->body_sent += c->resume.body_sent;
}

void http_resume_head(http_conn *c, bool end)
{
    gs_request *r = &c->req;
    const http_handoff *h = &c->resume;
    if (!r->started && !end)
        return;
    c->resume_head = false;
    if (r->started && r->status == h->status && r->frame == (http_frame)h->frame) {
        drop_head(c);
        return;
    }
    http_conn_log(c,
                  "app %s: a resumed stream answered %d%s, not %d as before its hand-off: "
                  "closing it",
                  r->mount ? r->mount->app->name : "-", r->started ? r->status : 0,
                  r->started ? " or framed otherwise" : " (nothing)", h->status);
    c->dead = c->close = true; /* what it would send does not fit what the client has */
}

void http_resume_end(http_conn *c)
{
    if (c->resume_head)
        http_resume_head(c, true);
    else if (c->resume_pending && c->resume.started)
        c->dead = c->close = true; /* its stream's app is gone: no handler ran */
    c->resume_pending = false;
}

void gs_set_cursor(gs_request *r, uint64_t id)
{
    r->c->cursor = id;
    r->c->has_cursor = true;
}

int64_t gs_request_age_ms(gs_request *r)
{
    return gs_now_ms() - r->c->req_ms;
}

bool gs_resumed(gs_request *r, uint64_t *cursor)
{
    http_conn *c = r->c;
    if (cursor)
        *cursor = c->resumed && c->resume.has_cursor ? c->resume.cursor : 0;
    return c->resumed;
}
