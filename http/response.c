/*
 * response.c -- gs_start_response, gs_write, the end of a response, and
 * the server's own error answers.
 *
 * Headers are formatted straight into the connection's output buffer when
 * the response starts (nothing is sent yet). A Content-Length body is held
 * there too, so a small response leaves in one syscall, together with any
 * pipelined responses before it; chunked and close-delimited writes go
 * out at once, since streaming is their point.
 */
#include "http/response.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/body.h"
#include "http/date.h"
#include "http/fasthead.h"
#include "http/route.h"
#include "runtime/io.h"
#include "runtime/log.h"
#include "runtime/readonly.h"

/* Chunks up to this size are copied next to their size line: one buffer,
 * one send. Bigger ones go out from the caller's memory (writev). */
#define SMALL_WRITE 1024

/* The status line of each status we know, whole, and its reason phrase. */
typedef struct status_text {
    const char *reason;
    const char *line; /* "HTTP/1.1 200 OK\r\n" */
    size_t len;
} status_text;

#define STATUS(code, text)                                                                         \
    [code] = {text, "HTTP/1.1 " #code " " text "\r\n",                                             \
              sizeof("HTTP/1.1 " #code " " text "\r\n") - 1}

/* Indexed by status, so one load finds the line of every response (most
 * of the 506 entries are empty: 12 KB of read-only data instead of a
 * search). */
static const status_text statuses[] = {
    STATUS(100, "Continue"),
    STATUS(200, "OK"),
    STATUS(201, "Created"),
    STATUS(202, "Accepted"),
    STATUS(204, "No Content"),
    STATUS(206, "Partial Content"),
    STATUS(301, "Moved Permanently"),
    STATUS(302, "Found"),
    STATUS(303, "See Other"),
    STATUS(304, "Not Modified"),
    STATUS(307, "Temporary Redirect"),
    STATUS(308, "Permanent Redirect"),
    STATUS(400, "Bad Request"),
    STATUS(401, "Unauthorized"),
    STATUS(403, "Forbidden"),
    STATUS(404, "Not Found"),
    STATUS(405, "Method Not Allowed"),
    STATUS(408, "Request Timeout"),
    STATUS(409, "Conflict"),
    STATUS(410, "Gone"),
    STATUS(411, "Length Required"),
    STATUS(413, "Content Too Large"),
    STATUS(414, "URI Too Long"),
    STATUS(415, "Unsupported Media Type"),
    STATUS(417, "Expectation Failed"),
    STATUS(429, "Too Many Requests"),
    STATUS(431, "Request Header Fields Too Large"),
    STATUS(500, "Internal Server Error"),
    STATUS(501, "Not Implemented"),
    STATUS(502, "Bad Gateway"),
    STATUS(503, "Service Unavailable"),
    STATUS(504, "Gateway Timeout"),
    STATUS(505, "HTTP Version Not Supported"),
};

/* The entry for status, NULL when we have none. */
static const status_text *status_find(int status)
{
    if (status < 0 || (size_t)status >= sizeof(statuses) / sizeof(statuses[0]))
        return NULL;
    return statuses[status].line ? &statuses[status] : NULL;
}

const char *http_reason(int status)
{
    const status_text *st = status_find(status);
    return st ? st->reason : "Unknown";
}

/* ---- building blocks ---- */

typedef struct wbuf {
    char *p;
} wbuf;

static void put(wbuf *w, const char *s, size_t n)
{
    memcpy(w->p, s, n);
    w->p += n;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_status_line(wbuf *w, int status)
{
    const status_text *st = status_find(status);
    if (st) {
        put(w, st->line, st->len);
        return;
    }
    char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), ' '};
    PUT_LIT(w, "HTTP/1.1 ");
    put(w, code, 4);
    PUT_LIT(w, "Unknown\r\n");
}

/* Server and Date. */
static void put_date_lines(wbuf *w)
{
    size_t n;
    const char *lines = http_date_lines(&n);
    put(w, lines, n);
}

/* Room for a status line, Server, Date, framing and Connection headers. */
#define FIXED_HEAD 256

/* ---- gs_start_response ---- */

/* What the handler's headers say to us. */
typedef struct head_meta {
    int64_t length;    /* the handler's Content-Length, -1 when none */
    bool date, server; /* set by the handler */
    bool close;        /* the handler said "Connection: close" */
    const char *bad;   /* the offending name, when refused */
} head_meta;

typedef enum name_kind {
    NAME_BAD,
    NAME_OTHER,
    NAME_DATE,
    NAME_SERVER,
    NAME_CONNECTION,
    NAME_LENGTH,
    NAME_TE,
} name_kind;

static bool is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!http_tchar[(unsigned char)s[i]])
            return false;
    return n > 0;
}

/* kind when s is `name` (n bytes) in any case, NAME_OTHER when it is
 * another token, NAME_BAD when it is none. Called with a literal, so the
 * first comparison is a few word compares: a name spelled the usual way
 * is a token without a look at each character. */
static inline name_kind name_as(const char *s, const char *name, size_t n, name_kind kind)
{
    if (memcmp(s, name, n) == 0)
        return kind;
    if (!is_token(s, n))
        return NAME_BAD;
    return strncasecmp(s, name, n) == 0 ? kind : NAME_OTHER;
}

#define NAME_AS(s, lit, kind) name_as((s), (lit), sizeof(lit) - 1, (kind))

/* What the name s (n bytes) is to us. The names we act on differ in
 * length, so the length picks the one to compare with; Content-Type is
 * there as the commonest of the others. */
static name_kind name_kind_of(const char *s, size_t n)
{
    switch (n) {
    case 4:
        return NAME_AS(s, "Date", NAME_DATE);
    case 6:
        return NAME_AS(s, "Server", NAME_SERVER);
    case 10:
        return NAME_AS(s, "Connection", NAME_CONNECTION);
    case 12:
        return NAME_AS(s, "Content-Type", NAME_OTHER);
    case 14:
        return NAME_AS(s, "Content-Length", NAME_LENGTH);
    case 17:
        return NAME_AS(s, "Transfer-Encoding", NAME_TE);
    }
    return is_token(s, n) ? NAME_OTHER : NAME_BAD;
}

/* Bytes a value must not hold: CR and LF would let it end the header
 * (response splitting); the other controls and DEL are just as invalid. */
static const bool not_in_value[256] = {[0 ... 8] = true, [10 ... 31] = true, [127] = true};

static bool bytes_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (not_in_value[(unsigned char)s[i]])
            return false;
    return true;
}

#define ONES  0x0101010101010101ull
#define HIGHS (ONES * 0x80)

/* Whether any of the 8 bytes at s is below 0x20 or DEL: the "has less
 * than" and "has zero" word tests (Bit Twiddling Hacks), exact as a yes
 * or no. A yes may be a tab, which bytes_ok then tells. */
static bool word_suspect(const char *s)
{
    uint64_t x, del;
    memcpy(&x, s, 8);
    del = x ^ (ONES * 0x7f);
    return (((x - ONES * 0x20) & ~x) | ((del - ONES) & ~del)) & HIGHS;
}

/* bytes_ok, 8 bytes at a time: every value of every response goes
 * through here. The last word overlaps the one before rather than read
 * past the end. */
static bool value_ok(const char *s, size_t n)
{
    if (n < 8)
        return bytes_ok(s, n);
    for (size_t i = 0; i + 8 < n; i += 8)
        if (word_suspect(s + i) && !bytes_ok(s + i, 8))
            return false;
    return !word_suspect(s + n - 8) || bytes_ok(s + n - 8, 8);
}

static bool parse_length(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned digit = (unsigned char)s[i] - (unsigned)'0';
        if (digit > 9 || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

static bool has_close_token(const char *v)
{
    for (const char *p = v; (p = strcasestr(p, "close")); p += 5) {
        bool starts = p == v || p[-1] == ',' || p[-1] == ' ' || p[-1] == '\t';
        bool ends = p[5] == '\0' || p[5] == ',' || p[5] == ' ' || p[5] == '\t';
        if (starts && ends)
            return true;
    }
    return false;
}

/* Check a name/value pair (n and vn bytes) and note what it means to us:
 * -1 refuses the response, 0 leaves it out (Connection is ours to write;
 * only "close" is taken from it), 1 copies it. */
static int check_pair(const char *name, size_t n, const char *value, size_t vn, head_meta *m)
{
    name_kind kind = name_kind_of(name, n);
    if (kind == NAME_BAD || kind == NAME_TE || !value_ok(value, vn))
        return -1;
    switch (kind) {
    case NAME_DATE:
        m->date = true;
        break;
    case NAME_SERVER:
        m->server = true;
        break;
    case NAME_CONNECTION:
        m->close = m->close || has_close_token(value);
        return 0;
    case NAME_LENGTH:
        if (!parse_length(value, vn, &m->length))
            return -1;
        break;
    default:
        break;
    }
    return 1;
}

/* The bytes a head may still need after the handler's headers: framing,
 * Connection and the blank line. */
#define HEAD_TAIL 64

/* Check the handler's pairs and copy them after what w holds: the head
 * being built at *base (c->out + c->out_len, not counted in out_len yet),
 * which moves if the buffer must grow. One pass over each string; -EINVAL
 * (m->bad names the pair), -ENOMEM, or 0. */
static int put_pairs(http_conn *c, wbuf *w, char **base, const char *const *h, head_meta *m)
{
    for (; h && *h; h += 2) {
        m->bad = h[0];
        if (!h[1])
            return -EINVAL;
        size_t n = strlen(h[0]), vn = strlen(h[1]);
        int use = check_pair(h[0], n, h[1], vn, m);
        if (use < 0)
            return -EINVAL;
        if (use == 0)
            continue;
        size_t used = (size_t)(w->p - *base);
        if (c->out_cap - c->out_len - used < n + vn + 4 + HEAD_TAIL) {
            /* Growing keeps what out_len covers: cover this head for it. */
            c->out_len += used;
            char *p = http_conn_out_reserve(c, n + vn + 4 + HEAD_TAIL);
            c->out_len -= used;
            if (!p)
                return -ENOMEM;
            *base = p - used;
            w->p = p;
        }
        put(w, h[0], n);
        PUT_LIT(w, ": ");
        put(w, h[1], vn);
        PUT_LIT(w, "\r\n");
    }
    return 0;
}

/* ---- header arrays kept formatted ---- */

/* A handler's header array that lies, with every string it points to, in
 * memory that stays read-only (rt_readonly: a `static const char *const
 * []` of literals, as hello.c's) reads the same at every call: its lines
 * and what they say to us are worked out once, per thread, and copied
 * after. Each array has one slot, picked by its address. */
#define MEMO_SLOTS 8
#define MEMO_TEXT  240

typedef struct head_memo {
    const char *const *headers; /* NULL: an empty slot */
    unsigned gen;               /* rt_readonly_gen when kept */
    unsigned len;
    head_meta meta;
    char text[MEMO_TEXT];
} head_memo;

static __thread head_memo memos[MEMO_SLOTS];

static head_memo *memo_slot(const char *const *h)
{
    return &memos[((uintptr_t)h / sizeof(*h)) % MEMO_SLOTS];
}

static bool string_readonly(const char *s)
{
    return rt_readonly(s, strlen(s) + 1);
}

/* Whether h and its strings stay as they are: read-only pointers up to
 * the NULL name, each to a read-only string. */
static bool array_readonly(const char *const *h)
{
    for (;; h += 2) {
        if (!rt_readonly(h, sizeof(*h)))
            return false;
        if (!h[0])
            return true;
        if (!rt_readonly(h + 1, sizeof(*h)) || !h[1] || !string_readonly(h[0]) ||
            !string_readonly(h[1]))
            return false;
    }
}

/* The handler's headers after what w holds (see put_pairs), copied from
 * the memo when there is one, else checked and formatted, and kept when
 * the array is read-only. */
static int put_headers(http_conn *c, wbuf *w, char **base, const char *const *h, head_meta *m)
{
    head_memo *memo = memo_slot(h);
    unsigned gen = rt_readonly_gen();
    size_t used = (size_t)(w->p - *base);
    if (h && memo->headers == h && memo->gen == gen &&
        c->out_cap - c->out_len - used >= memo->len + HEAD_TAIL) {
        put(w, memo->text, memo->len);
        *m = memo->meta;
        return 0;
    }
    int err = put_pairs(c, w, base, h, m);
    size_t len = (size_t)(w->p - *base) - used;
    if (err == 0 && h && len <= MEMO_TEXT && array_readonly(h)) {
        *memo = (head_memo){.headers = h, .gen = gen, .len = (unsigned)len, .meta = *m};
        memcpy(memo->text, *base + used, len);
    }
    return err;
}

/* Take out our Server and Date lines (from `at` to `end`) where the
 * handler gave its own: rare, so ours go in first and leave again. */
static void drop_ours(wbuf *w, char *at, char *end, const head_meta *m)
{
    char *from = m->server ? at : at + HTTP_SERVER_LINE_LEN;
    char *to = m->date ? end : at + HTTP_SERVER_LINE_LEN;
    memmove(from, to, (size_t)(w->p - to));
    w->p -= to - from;
}

static http_frame choose_frame(gs_request *r, int status, const head_meta *m)
{
    if (r->head_method || status == 204 || status == 304)
        return HTTP_FRAME_NONE;
    if (m->length >= 0)
        return HTTP_FRAME_LENGTH;
    return r->minor >= 1 ? HTTP_FRAME_CHUNKED : HTTP_FRAME_CLOSE;
}

/* Whether the connection survives this response, known now: the client's
 * wish, the handler's, the framing's, and what is left of the body. */
static bool must_close(gs_request *r, const head_meta *m)
{
    return r->c->close || !r->keep_alive || m->close || r->frame == HTTP_FRAME_CLOSE ||
           (!r->body_done && !http_body_drainable(r));
}

static void put_connection(wbuf *w, gs_request *r)
{
    if (r->c->close)
        PUT_LIT(w, "Connection: close\r\n");
    else if (r->minor == 0)
        PUT_LIT(w, "Connection: keep-alive\r\n");
}

static int refuse(gs_request *r, const char *name)
{
    r->refused = true;
    char shown[64];
    size_t i = 0;
    for (; name && name[i] && i < sizeof(shown) - 1; i++)
        shown[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    shown[i] = '\0';
    http_conn_log(r->c,
                  "app %s: response header \"%s\" refused (control character, CR/LF, "
                  "bad name, or Transfer-Encoding)",
                  r->mount ? r->mount->app->name : "-", shown);
    return -EINVAL;
}

static int start(gs_request *r, int status, const char *const *headers)
{
    http_conn *c = r->c;
    char *base = http_conn_out_reserve(c, FIXED_HEAD);
    if (!base)
        return -ENOMEM;
    wbuf w = {base};
    put_status_line(&w, status);
    size_t ours_at = (size_t)(w.p - base);
    put_date_lines(&w);
    size_t ours_end = (size_t)(w.p - base);
    head_meta m = {.length = -1};
    int err = put_headers(c, &w, &base, headers, &m);
    if (err == -EINVAL)
        return refuse(r, m.bad);
    if (err < 0)
        return err;
    if (m.server || m.date)
        drop_ours(&w, base + ours_at, base + ours_end, &m);
    r->status = status;
    r->resp_len = m.length;
    r->frame = choose_frame(r, status, &m);
    c->close = must_close(r, &m);
    if (r->frame == HTTP_FRAME_CHUNKED)
        PUT_LIT(&w, "Transfer-Encoding: chunked\r\n");
    put_connection(&w, r);
    PUT_LIT(&w, "\r\n");
    r->out_start = c->out_len;
    c->out_len += (size_t)(w.p - base);
    r->started = true;
    return 0;
}

int gs_start_response(gs_request *r, int status, const char *const *headers)
{
    if (r->started)
        return -EALREADY;
    if (r->refused)
        return -EINVAL;
    if (status < 200 || status > 999) {
        http_conn_log(r->c, "app %s: status %d refused", r->mount ? r->mount->app->name : "-",
                      status);
        r->refused = true;
        return -EINVAL;
    }
    return start(r, status, headers);
}

/* ---- gs_write ---- */

static ssize_t flushed(gs_request *r, int err, size_t n)
{
    if (err < 0)
        return err == -ETIMEDOUT || err == -ECANCELED ? err : -EPIPE;
    r->body_sent += n;
    return (ssize_t)n;
}

/* Copy when it fits in the buffer (held for Content-Length, sent at once
 * otherwise), or send the buffer and the caller's bytes in one writev. The
 * buffer never grows for body bytes. */
static ssize_t write_plain(gs_request *r, const char *buf, size_t n, bool hold)
{
    http_conn *c = r->c;
    if (!c->out)
        http_conn_out_reserve(c, 0);
    if (c->out && c->out_cap - c->out_len >= n) {
        memcpy(c->out + c->out_len, buf, n);
        c->out_len += n;
        return flushed(r, hold ? 0 : http_conn_flush(c, NULL, 0), n);
    }
    struct iovec iov = {(void *)buf, n};
    return flushed(r, http_conn_flush(c, &iov, 1), n);
}

static ssize_t write_chunk(gs_request *r, const char *buf, size_t n)
{
    http_conn *c = r->c;
    if (!c->out)
        http_conn_out_reserve(c, 0);
    bool small = n <= SMALL_WRITE && c->out && c->out_cap - c->out_len >= n + 26;
    char *p = http_conn_out_reserve(c, 24 + (small ? n + 2 : 0));
    if (!p)
        return -ENOMEM;
    int len = snprintf(p, 24, "%zx\r\n", n);
    c->out_len += (size_t)len;
    if (small) {
        memcpy(p + len, buf, n);
        memcpy(p + len + n, "\r\n", 2);
        c->out_len += n + 2;
        return flushed(r, http_conn_flush(c, NULL, 0), n);
    }
    struct iovec iov[2] = {{(void *)buf, n}, {"\r\n", 2}};
    return flushed(r, http_conn_flush(c, iov, 2), n);
}

static ssize_t too_long(gs_request *r)
{
    http_conn_log(r->c, "app %s: wrote past its Content-Length of %lld",
                  r->mount ? r->mount->app->name : "-", (long long)r->resp_len);
    r->c->close = true;
    return -EMSGSIZE;
}

/* Past the request timeout: a handler the timer could not reach (one
 * that blocked its handler thread, or computed) learns it here. */
static bool out_of_time(gs_request *r)
{
    if (r->due_ms && !r->timed_out && !r->long_request && gs_now_ms() >= r->due_ms)
        http_request_cancel(r, gs_self());
    return r->timed_out;
}

ssize_t gs_write(gs_request *r, const void *buf, size_t n)
{
    if (r->due_ms && out_of_time(r))
        return -ECANCELED;
    if (!r->started) {
        int e = r->refused ? -EINVAL : gs_start_response(r, 200, NULL);
        if (e < 0)
            return e;
    }
    if (r->c->dead)
        return -EPIPE;
    if (n == 0)
        return 0;
    switch (r->frame) {
    case HTTP_FRAME_NONE:
        return (ssize_t)n; /* HEAD, 204, 304: the body is not sent */
    case HTTP_FRAME_LENGTH:
        if (r->body_sent + n > (uint64_t)r->resp_len)
            return too_long(r);
        return write_plain(r, buf, n, true);
    case HTTP_FRAME_CHUNKED:
        return write_chunk(r, buf, n);
    case HTTP_FRAME_CLOSE:
        return write_plain(r, buf, n, false);
    }
    return -EINVAL;
}

/* ---- the end of a response ---- */

static const char *app_name(gs_request *r)
{
    return r->mount ? r->mount->app->name : "-";
}

/* The handler failed after starting: replace its response with a 500 (a
 * 504 past its request timeout, which route.c logged) if none of it has
 * left, and close either way. */
static void failed_after_start(gs_request *r, int ret)
{
    http_conn *c = r->c;
    if (!r->timed_out)
        http_conn_log(c, "app %s: handler failed (%d) after starting its response", app_name(r),
                      ret);
    c->close = true;
    if (r->flushed)
        return;
    c->out_len = r->out_start;
    r->started = false;
    http_response_error(c, r->fail_status == 504 ? 504 : 500, true);
}

static void finish_started(gs_request *r)
{
    http_conn *c = r->c;
    if (r->frame == HTTP_FRAME_CHUNKED) {
        char *p = http_conn_out_reserve(c, 5);
        if (p) {
            memcpy(p, "0\r\n\r\n", 5);
            c->out_len += 5;
        } else {
            c->close = true;
        }
    } else if (r->frame == HTTP_FRAME_LENGTH && r->body_sent < (uint64_t)r->resp_len) {
        http_conn_log(c, "app %s: wrote %llu of its Content-Length of %lld", app_name(r),
                      (unsigned long long)r->body_sent, (long long)r->resp_len);
        c->close = true;
    } else if (r->frame == HTTP_FRAME_CLOSE) {
        c->close = true;
    }
}

void http_response_finish(gs_request *r, int ret)
{
    http_conn *c = r->c;
    if (r->refused) {
        http_response_error(c, 500, false);
    } else if (ret < 0 && !r->started) {
        /* A body error (logged when found) explains the failure best. */
        if (!r->fail_status)
            http_conn_log(c, "app %s: handler failed (%d)", app_name(r), ret);
        http_response_error(c, r->fail_status ? r->fail_status : 500, r->fail_status != 0);
    } else if (ret < 0) {
        failed_after_start(r, ret);
    } else if (!r->started) {
        if (start(r, 200, (const char *const[]){"Content-Length", "0", NULL}) < 0)
            c->close = true;
    } else {
        finish_started(r);
    }
}

/* ---- the server's own answers ---- */

static size_t error_body(char *buf, size_t size, int status)
{
    int n = snprintf(buf, size, "%d %s\n", status, http_reason(status));
    return n > 0 ? (size_t)n : 0;
}

void http_response_error(http_conn *c, int status, bool close)
{
    gs_request *r = &c->req;
    char body[64];
    size_t blen = error_body(body, sizeof(body), status);
    r->status = status;
    r->started = true;
    r->frame = HTTP_FRAME_LENGTH;
    c->close = c->close || close || !r->head_done || !r->keep_alive ||
               (!r->body_done && !http_body_drainable(r));
    char *p = http_conn_out_reserve(c, FIXED_HEAD + 64 + blen);
    if (!p) {
        c->close = true;
        return;
    }
    wbuf w = {p};
    put_status_line(&w, status);
    put_date_lines(&w);
    PUT_LIT(&w, "Content-Type: text/plain\r\n");
    char len[40];
    put(&w, len, (size_t)snprintf(len, sizeof(len), "Content-Length: %zu\r\n", blen));
    if (status == 503)
        PUT_LIT(&w, "Retry-After: 1\r\n");
    if (status == 405)
        PUT_LIT(&w, "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n");
    put_connection(&w, r);
    PUT_LIT(&w, "\r\n");
    if (!r->head_method) {
        put(&w, body, blen);
        r->body_sent = blen;
    }
    r->out_start = c->out_len;
    c->out_len += (size_t)(w.p - p);
}

/* ---- 503 at the door ---- */

/* One line a second at most: under overload, a line per refused
 * connection would add to the load. */
static void log_busy(http_site *site, int fd)
{
    static __thread int64_t last_ms;
    static __thread unsigned quiet;
    int64_t now = gs_now_ms();
    if (last_ms && now - last_ms < 1000) {
        quiet++;
        return;
    }
    char addr[INET6_ADDRSTRLEN] = "-";
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
    }
    rt_log("503 Service Unavailable: %u connections open, limit %u; client %s "
           "(%u more refused since the last line)",
           site->active_conns, site->limits.max_conns, addr, quiet);
    last_ms = now;
    quiet = 0;
}

void http_refuse_busy(http_site *site, int fd)
{
    char junk[2048];
    /* Unread input at close turns the close into a reset, which would
     * discard our answer on the client's side: take what has arrived. */
    ssize_t got = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
    (void)got;
    log_busy(site, fd);
    char msg[512];
    size_t dl;
    const char *dates = http_date_lines(&dl);
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 503 Service Unavailable\r\n%.*sContent-Type: text/plain\r\n"
                     "Content-Length: 24\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
                     "503 Service Unavailable\n",
                     (int)dl, dates);
    ssize_t w = send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
    shutdown(fd, SHUT_WR);
    gs_close(fd);
}
