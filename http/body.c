/*
 * body.c -- gs_read: the request body, de-chunked, streamed from the
 * connection's input buffer (or, for a Content-Length body with nothing
 * buffered, read straight into the caller's buffer).
 *
 * The parser is fed at most as many raw bytes as the caller has room for:
 * de-chunking only ever shrinks, so the body bytes it produces always fit,
 * and nothing needs to be kept back between calls.
 */
#include "http/body.h"

#include <errno.h>
#include <string.h>

#include "http/conn.h"
#include "http/parse.h"

/* Reads at least this big go straight into the caller's buffer. */
#define DIRECT_MIN 2048

/* --body-timeout bounds the time spent waiting for body bytes in all, not
 * each wait: a client dripping a byte a second (slowloris) is cut at the
 * timeout. Each KiB received adds a second, so a large upload that
 * averages at least 1 KiB/s is never cut. Time the handler spends on
 * other things does not count. */
#define BODY_MIN_RATE 1024 /* bytes a second */

static http_deadline body_deadline(const gs_request *r)
{
    int64_t t = r->c->lim->body_timeout_ms;
    if (t < 0)
        return http_deadline_in(GS_FOREVER);
    int64_t left = t + r->body_total * 1000 / BODY_MIN_RATE - r->body_waited_ms;
    return http_deadline_in(left > 0 ? left : 0);
}

/* A deadline that was started (d->at set) saw a wait: count it. */
static void body_waited(gs_request *r, const http_deadline *d)
{
    if (d->at && d->timeout_ms >= 0)
        r->body_waited_ms += gs_now_ms() - (d->at - d->timeout_ms);
}

bool http_body_drainable(const gs_request *r)
{
    if (r->body_done)
        return true;
    if (r->expect_continue && !r->continue_sent)
        return false; /* the client may never send it */
    return r->chunked || r->body_left <= HTTP_DRAIN_MAX;
}

/* A failure of the body is final: remember it, log it once, close after. */
static ssize_t body_fail(gs_request *r, ssize_t err)
{
    http_conn *c = r->c;
    r->body_err = (int)err;
    c->close = true;
    if (err == -ETIMEDOUT) {
        r->fail_status = 408;
        http_conn_log(c,
                      "408 Request Timeout: no body bytes for %lld ms (--body-timeout, the "
                      "waits for the body in all; %lld bytes came)",
                      (long long)c->lim->body_timeout_ms, (long long)r->body_total);
    } else if (err == -EMSGSIZE || err == -EPROTO) {
        http_conn_log(c, "%d %s: %s", r->fail_status,
                      r->fail_status == 413 ? "Content Too Large" : "Bad Request", r->fail_reason);
    } else if (err == 0) {
        r->body_err = -ECONNRESET; /* the client closed mid-body */
    }
    return r->body_err;
}

static int send_continue(gs_request *r)
{
    http_conn *c = r->c;
    r->continue_sent = true;
    if (r->started)
        return 0; /* the final answer is on its way: nothing to continue */
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    char *p = http_conn_out_reserve(c, sizeof(line) - 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, line, sizeof(line) - 1);
    c->out_len += sizeof(line) - 1;
    return http_conn_flush(c, NULL, 0);
}

/* Parse what is buffered, up to n raw bytes. */
static ssize_t feed_buffered(gs_request *r, char *dst, size_t n)
{
    http_conn *c = r->c;
    size_t avail = c->in_len - c->pos, used;
    ssize_t got = http_parse_body(c, c->in + c->pos, n < avail ? n : avail, dst, &used);
    c->pos += used;
    return got;
}

/* Read Content-Length bytes straight into buf, then let the parser count
 * them where they are (its copy to buf is then a no-op move). */
static ssize_t read_direct(gs_request *r, char *buf, size_t n)
{
    http_conn *c = r->c;
    if ((int64_t)n > r->body_left)
        n = (size_t)r->body_left;
    http_deadline d = body_deadline(r);
    ssize_t got = http_conn_recv(c, buf, n, &d);
    body_waited(r, &d);
    if (got <= 0)
        return got == 0 ? -ECONNRESET : got;
    size_t used;
    return http_parse_body(c, buf, (size_t)got, buf, &used);
}

static ssize_t read_more(gs_request *r)
{
    http_conn *c = r->c;
    int e = http_conn_in_room(c);
    if (e < 0)
        return e;
    http_deadline d = body_deadline(r);
    ssize_t got = http_conn_read(c, &d);
    body_waited(r, &d);
    return got == 0 ? -ECONNRESET : got;
}

ssize_t gs_read(gs_request *r, void *buf, size_t n)
{
    if (r->body_err)
        return r->body_err;
    if (r->body_done || n == 0)
        return 0;
    if (r->expect_continue && !r->continue_sent && send_continue(r) < 0)
        return body_fail(r, -ECONNRESET);
    http_conn *c = r->c;
    for (;;) {
        ssize_t got = feed_buffered(r, buf, n);
        if (got != 0 || r->body_done)
            return got < 0 ? body_fail(r, got) : got;
        if (c->pos < c->in_len)
            continue; /* that was chunk framing, and more is buffered */
        if (!r->chunked && c->pos == c->in_len && n >= DIRECT_MIN) {
            got = read_direct(r, buf, n);
            if (got != 0 || r->body_done)
                return got < 0 ? body_fail(r, got) : got;
            continue;
        }
        got = read_more(r);
        if (got < 0)
            return body_fail(r, got);
    }
}

bool http_body_drain(gs_request *r)
{
    http_conn *c = r->c;
    size_t dropped = 0;
    if (r->body_done)
        return true;
    if (r->body_err || !http_body_drainable(r))
        return false;
    for (;;) {
        size_t before = c->pos;
        if (feed_buffered(r, NULL, SIZE_MAX) < 0) {
            http_conn_log(c, "closing: %s in a body the handler left unread", r->fail_reason);
            return false;
        }
        dropped += c->pos - before;
        if (r->body_done)
            return true;
        if (dropped > HTTP_DRAIN_MAX || read_more(r) < 0)
            return false;
    }
}
