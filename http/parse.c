/*
 * parse.c -- llhttp callbacks, and the request checks llhttp 8.1 does not
 * make in its default (non-lenient) mode.
 *
 * Verified against llhttp 8.1.0 (see tests/http/test_parse.c):
 *   - rejected by llhttp itself: Content-Length with Transfer-Encoding,
 *     duplicate Content-Length (even equal ones), malformed or overflowing
 *     Content-Length, malformed chunk sizes and chunk lines, bare CR, a
 *     bare LF after a header value, control characters in header values,
 *     a Transfer-Encoding where chunked is not last (-> 501 here);
 *   - accepted by llhttp, refused here: a bare LF ending the request line
 *     or the header block, obs-fold (a header line starting with SP/HTAB),
 *     whitespace between a field name and its colon ("Host : x"), an empty
 *     field name, an empty Transfer-Encoding (llhttp then reads no body,
 *     so the body would become the next request), codings other than
 *     chunked (llhttp passes "gzip, chunked" through: 501 here),
 *     Transfer-Encoding in an HTTP/1.0 request, versions other than 1.x
 *     (llhttp takes 0.9 and 2.0: 505 here), control characters, spaces
 *     and '#' in the request-target, and a bare LF or obs-fold among the
 *     chunk trailers.
 */
#include "http/parse.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "http/fasthead.h"

/* ---- callbacks ---- */

static http_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static uint32_t offset(http_conn *c, const char *at)
{
    return (uint32_t)(at - (c->in + c->req_start));
}

/* Stop the parser with `status` to answer. */
static int fail(gs_request *r, int status, const char *reason)
{
    r->fail_status = status;
    r->fail_reason = reason;
    return HPE_USER;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = conn_of(p);
    gs_request *r = &c->req;
    uint32_t off = offset(c, at);
    if (!r->got_url) {
        r->url = off;
        r->got_url = true;
        r->method = p->method;
    }
    r->url_len = off + (uint32_t)n - r->url;
    if (r->url_len > c->lim->max_uri)
        return fail(r, 414, "request-target too long");
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = conn_of(p);
    gs_request *r = &c->req;
    if (r->head_done)
        return 0; /* chunk trailers: checked for framing, otherwise dropped */
    uint32_t off = offset(c, at);
    if (off + n >= HTTP_HEAD_MAX)
        return fail(r, 431, "header block past 64 KiB");
    if (r->nhdrs == 0 || r->name_done) {
        if (r->nhdrs >= c->lim->max_headers)
            return fail(r, 431, "too many header fields");
        if (r->nhdrs == r->hcap && !http_request_grow_hdrs(r))
            return fail(r, 500, "out of memory for header fields");
        r->hdrs[r->nhdrs++] = (http_hdr){.name = (uint16_t)off};
        r->name_done = false;
        r->value_started = false;
    }
    http_hdr *h = &r->hdrs[r->nhdrs - 1];
    h->name_len = (uint16_t)(off + n - h->name);
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    conn_of(p)->req.name_done = true;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = conn_of(p);
    gs_request *r = &c->req;
    /* llhttp reports an empty value as an empty span at the next line's
     * start: taken as the value, its NUL would land on the next name. */
    if (r->head_done || r->nhdrs == 0 || n == 0)
        return 0;
    http_hdr *h = &r->hdrs[r->nhdrs - 1];
    uint32_t off = offset(c, at);
    if (off + n >= HTTP_HEAD_MAX)
        return fail(r, 431, "header block past 64 KiB");
    if (!r->value_started) {
        h->value = (uint16_t)off;
        r->value_started = true;
    }
    h->value_len = (uint16_t)(off + n - h->value);
    return 0;
}

/* With a body (or a Transfer-Encoding llhttp would refuse before we can
 * say 501), pause so the head is checked and the handler called before
 * any body byte is parsed. Without one, run on to the end of the message:
 * it pauses there, and a GET costs one parser call. */
static int on_headers_complete(llhttp_t *p)
{
    gs_request *r = &conn_of(p)->req;
    r->head_done = true;
    r->major = p->http_major;
    r->minor = p->http_minor;
    r->method = p->method;
    r->head_method = p->method == HTTP_HEAD;
    r->keep_alive = llhttp_should_keep_alive(p);
    r->chunked = (p->flags & F_CHUNKED) != 0;
    r->body_left = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : 0;
    bool body = (p->flags & (F_CHUNKED | F_TRANSFER_ENCODING)) || r->body_left > 0;
    return body ? HPE_PAUSED : 0;
}

/* Framing bytes of a chunked body (everything but the data): llhttp
 * accepts a bare LF ending a trailer line or the trailer block, and
 * obs-fold in trailers; and it bounds neither extensions nor trailers. */
static int check_framing(http_conn *c, const char *from, const char *to)
{
    gs_request *r = &c->req;
    for (const char *q = from; q < to; q++) {
        if (*q == '\n' && !r->prev_cr)
            return fail(r, 400, "bare LF in chunked framing");
        if (r->prev_lf && (*q == ' ' || *q == '\t'))
            return fail(r, 400, "obs-fold in chunk trailers");
        r->prev_cr = *q == '\r';
        r->prev_lf = *q == '\n';
    }
    r->framing_run += (size_t)(to - from);
    if (r->framing_run > c->lim->max_header_bytes)
        return fail(r, 431, "chunk extensions or trailers too large");
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    http_conn *c = conn_of(p);
    gs_request *r = &c->req;
    if (r->chunked) {
        int e = check_framing(c, r->src + r->scan, at);
        if (e)
            return e;
        r->scan = (size_t)(at + n - r->src);
        r->framing_run = 0;
        r->prev_cr = r->prev_lf = false;
    } else {
        r->body_left -= (int64_t)n;
    }
    r->body_total += (int64_t)n;
    if (r->body_total > c->lim->max_body)
        return fail(r, 413, "request body too large");
    if (r->dst)
        memmove(r->dst + r->dst_len, at, n); /* may overlap: see gs_read */
    r->dst_len += n;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn_of(p)->req.body_done = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_parse_init(http_conn *c)
{
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
}

/* ---- head checks ---- */

/* llhttp 8.1 takes a bare LF ending the request line or the head, and
 * obs-fold; both are smuggling vectors when a proxy reads them otherwise. */
static const char *check_line_ends(const char *p, size_t n)
{
    const char *end = p + n;
    for (const char *q = memchr(p, '\n', n); q; q = memchr(q + 1, '\n', (size_t)(end - q - 1))) {
        if (q == p || q[-1] != '\r')
            return "bare LF in request head";
        if (q + 1 < end && (q[1] == ' ' || q[1] == '\t'))
            return "obs-fold in request head";
    }
    return NULL;
}

/* llhttp accepts tabs and '#' in the target. */
static bool target_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch == 0x7f || ch == '#')
            return false;
    }
    return n > 0;
}

/* What the checks need from the header fields, gathered in one pass. */
typedef struct head_fields {
    bool bad_name; /* empty, or ending in whitespace */
    unsigned hosts;
    unsigned te_fields, chunked;
    bool te_other;          /* a coding other than chunked */
    bool te_after_chunked;  /* a coding after chunked */
    const http_hdr *expect; /* the first Expect */
} head_fields;

static bool name_is(const char *base, const http_hdr *h, const char *name, size_t len)
{
    return h->name_len == len && http_name_eq(base + h->name, name, len);
}

/* llhttp accepts "Host : x" (the name then ends with a space) and ": x". */
static bool name_ok(const char *base, const http_hdr *h)
{
    if (h->name_len == 0)
        return false;
    char last = base[h->name + h->name_len - 1];
    return last != ' ' && last != '\t';
}

/* Values lose trailing whitespace (llhttp keeps it); a value never seen
 * by the parser (empty) points just past the colon. */
static void trim_value(http_hdr *h, const char *base)
{
    if (h->value_len == 0 && h->value == 0)
        h->value = h->name + h->name_len + 1;
    while (h->value_len > 0 &&
           (base[h->value + h->value_len - 1] == ' ' || base[h->value + h->value_len - 1] == '\t'))
        h->value_len--;
}

/* Transfer-Encoding codings, every field in order: they must be exactly
 * "chunked" once, last. Anything else we cannot decode is 501. */
static void scan_te(const char *v, size_t n, head_fields *f)
{
    size_t i = 0;
    f->te_fields++;
    do {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i - s == 7 && strncasecmp(v + s, "chunked", 7) == 0)
            f->chunked++;
        else if (i > s && f->chunked)
            f->te_after_chunked = true;
        else if (i > s)
            f->te_other = true;
    } while (i < n);
}

static void gather(gs_request *r, const char *base, head_fields *f)
{
    *f = (head_fields){0};
    for (unsigned i = 0; i < r->nhdrs; i++) {
        http_hdr *h = &r->hdrs[i];
        f->bad_name |= !name_ok(base, h);
        trim_value(h, base);
        if (name_is(base, h, "host", 4))
            f->hosts++;
        else if (name_is(base, h, "expect", 6) && !f->expect)
            f->expect = h;
        else if (name_is(base, h, "transfer-encoding", 17))
            scan_te(base + h->value, h->value_len, f);
    }
}

static int check_te(gs_request *r, const head_fields *f, const char **why)
{
    if (!f->te_fields)
        return 0;
    *why = "Transfer-Encoding with a coding after chunked";
    if (f->te_after_chunked)
        return 400;
    *why = "unsupported Transfer-Encoding";
    if (f->te_other)
        return 501;
    *why = "malformed Transfer-Encoding";
    return f->chunked != 1 || r->minor == 0 ? 400 : 0;
}

/* The rest of the head's meaning: Host, Expect, method, body size. */
static int check_semantics(http_conn *c, const char *base, const head_fields *f, const char **why)
{
    gs_request *r = &c->req;
    *why = "missing or repeated Host";
    if (f->hosts > 1 || (f->hosts == 0 && r->minor == 1))
        return 400;
    if (f->expect && r->minor >= 1) {
        *why = "unsupported Expect";
        if (f->expect->value_len != 12 ||
            strncasecmp(base + f->expect->value, "100-continue", 12) != 0)
            return 417;
        r->expect_continue = r->chunked || r->body_left > 0;
    }
    *why = "CONNECT is not served";
    if (r->method == HTTP_CONNECT)
        return 405;
    *why = "request body too large";
    if (r->body_left > c->lim->max_body)
        return 413;
    return 0;
}

/* `scan`: the head was read by http_fast_head, whose subset has CRLF line
 * ends, no obs-fold, a clean target, token names and no Transfer-Encoding
 * by construction, and which gathered the rest. */
static int validate(http_conn *c, const char *base, const http_scan *scan, const char **why)
{
    gs_request *r = &c->req;
    *why = "HTTP version not supported";
    if (r->major != 1)
        return 505;
    head_fields f;
    if (scan) {
        f = (head_fields){.hosts = scan->hosts, .expect = scan->expect};
        return check_semantics(c, base, &f, why);
    }
    if ((*why = check_line_ends(base, r->head_len)))
        return 400;
    *why = "malformed request-target";
    if (!target_ok(base + r->url, r->url_len))
        return 400;
    gather(r, base, &f);
    *why = "malformed header field name";
    if (f.bad_name)
        return 400;
    int st = check_te(r, &f, why);
    return st ? st : check_semantics(c, base, &f, why);
}

/* In place: the bytes after the target and after each value are a space,
 * a tab or a CR, none needed any more. */
static void terminate(gs_request *r, char *base)
{
    base[r->url + r->url_len] = '\0';
    for (unsigned i = 0; i < r->nhdrs; i++)
        base[r->hdrs[i].value + r->hdrs[i].value_len] = '\0';
}

static int head_complete(http_conn *c, const http_scan *scan)
{
    gs_request *r = &c->req;
    r->head_len = (uint32_t)(c->pos - c->req_start);
    const char *why = NULL;
    int st = r->head_len > c->lim->max_header_bytes ? 431 : 0;
    why = "request head too large";
    if (!st)
        st = validate(c, c->in + c->req_start, scan, &why);
    if (!st && http_conn_body_room(c) < 0) {
        st = 500;
        why = "out of memory for the request";
    }
    if (st) {
        r->fail_status = st;
        r->fail_reason = why;
        return st;
    }
    terminate(r, c->in + c->req_start);
    return 1;
}

static int parse_error(http_conn *c, llhttp_errno_t e)
{
    gs_request *r = &c->req;
    if (e == HPE_USER)
        return r->fail_status;
    r->fail_reason = llhttp_get_error_reason(&c->parser);
    if (!r->fail_reason)
        r->fail_reason = llhttp_errno_name(e);
    /* HPE_INVALID_VERSION also covers a bad line end after the version. */
    if ((e == HPE_INVALID_VERSION && strcmp(r->fail_reason, "Invalid HTTP version") == 0) ||
        e == HPE_PAUSED_H2_UPGRADE)
        r->fail_status = 505;
    else if (e == HPE_INVALID_TRANSFER_ENCODING)
        r->fail_status = 501;
    else
        r->fail_status = 400;
    return r->fail_status;
}

int http_parse_head(http_conn *c)
{
    http_scan scan;
    if (c->pos == c->req_start && http_fast_head(c, &scan))
        return head_complete(c, &scan);
    for (;;) {
        const char *at = c->in + c->pos;
        llhttp_errno_t e = llhttp_execute(&c->parser, at, c->in_len - c->pos);
        if (e == HPE_OK) {
            c->pos = c->in_len;
            return 0;
        }
        if (e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE)
            return parse_error(c, e);
        c->pos = (size_t)(llhttp_get_error_pos(&c->parser) - c->in);
        if (e == HPE_PAUSED_UPGRADE) {
            /* The previous request asked for an upgrade we never granted:
             * the connection still speaks HTTP/1.1. */
            llhttp_resume_after_upgrade(&c->parser);
            continue;
        }
        llhttp_resume(&c->parser);
        return head_complete(c, NULL);
    }
}

/* ---- body ---- */

ssize_t http_parse_body(http_conn *c, const char *src, size_t n, char *dst, size_t *used)
{
    gs_request *r = &c->req;
    r->dst = dst;
    r->dst_len = 0;
    r->src = src;
    r->scan = 0;
    llhttp_errno_t e = llhttp_execute(&c->parser, src, n);
    size_t took = n;
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        took = (size_t)(llhttp_get_error_pos(&c->parser) - src);
        if (e == HPE_PAUSED)
            llhttp_resume(&c->parser);
        e = HPE_OK;
    }
    if (e == HPE_OK && r->chunked && check_framing(c, src + r->scan, src + took))
        e = HPE_USER;
    *used = took;
    if (e == HPE_OK)
        return (ssize_t)r->dst_len;
    parse_error(c, e);
    return r->fail_status == 413 ? -EMSGSIZE : -EPROTO;
}
