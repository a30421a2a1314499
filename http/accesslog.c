/*
 * accesslog.c -- Combined Log Format lines, buffered per hub.
 *
 * Request data is client-controlled: bytes outside printable ASCII, '"'
 * and '\' are written as \xHH so a line can neither be split nor forged.
 */
#include "http/accesslog.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/date.h"
#include "http/http.h"
#include "runtime/hub.h"

/* Written once it passes FLUSH_AT; a line never exceeds MAX_LINE (fields
 * are cut), so the buffer always has room for the next one. */
#define FLUSH_AT  4096
#define MAX_FIELD 512
#define MAX_LINE  (12 * MAX_FIELD + 256)
#define BUF_SIZE  (FLUSH_AT + MAX_LINE)

typedef struct alog {
    char buf[BUF_SIZE];
    size_t len;
    int fd; /* the file the buffered lines belong to */
    struct event timer;
    bool timer_ready;
    bool timer_armed;
} alog;

static __thread alog *tls_log;

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a full disk or a closed pipe loses lines, not the worker */
        p += w;
        n -= (size_t)w;
    }
}

static void disarm(alog *l)
{
    if (!l->timer_armed)
        return;
    event_del(&l->timer);
    l->timer_armed = false;
    rt_hub_internal_events(rt_hub_get(), -1);
}

static void flush_log(alog *l)
{
    if (l->len > 0)
        write_all(l->fd, l->buf, l->len);
    l->len = 0;
    disarm(l);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    alog *l = arg;
    l->timer_armed = false;
    rt_hub_internal_events(rt_hub_get(), -1);
    flush_log(l);
}

/* The once-a-second flush is the runtime's own event: it must not keep
 * gs_hub_run alive, hence the internal-event accounting. */
static void arm(alog *l)
{
    if (l->timer_armed)
        return;
    rt_hub *h = rt_hub_get();
    if (!l->timer_ready) {
        evtimer_assign(&l->timer, rt_hub_base(h), on_timer, l);
        l->timer_ready = true;
    }
    struct timeval second = {1, 0};
    if (evtimer_add(&l->timer, &second) == 0) {
        l->timer_armed = true;
        rt_hub_internal_events(h, 1);
    }
}

static alog *get_log(void)
{
    if (!tls_log)
        tls_log = calloc(1, sizeof(*tls_log));
    return tls_log;
}

/* ---- formatting ---- */

typedef struct out {
    char *p, *end;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (n > (size_t)(o->end - o->p))
        n = (size_t)(o->end - o->p);
    memcpy(o->p, s, n);
    o->p += n;
}

static void puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* At most MAX_FIELD input bytes, escaped (up to 4 output bytes each). */
static void put_escaped(out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n > MAX_FIELD)
        n = MAX_FIELD;
    for (size_t i = 0; i < n && o->end - o->p >= 4; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            *o->p++ = (char)ch;
            continue;
        }
        char e[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
        put(o, e, 4);
    }
}

static void put_quoted(out *o, const char *s)
{
    put(o, "\"", 1);
    if (s)
        put_escaped(o, s, strlen(s));
    else
        put(o, "-", 1);
    put(o, "\"", 1);
}

static void put_request_line(out *o, const http_alog_entry *e)
{
    put(o, "\"", 1);
    if (e->method) {
        puts_(o, e->method);
        put(o, " ", 1);
        put_escaped(o, e->target, e->target_len);
        put(o, " ", 1);
        puts_(o, e->protocol);
    } else {
        put(o, "-", 1);
    }
    put(o, "\"", 1);
}

static void format_line(out *o, const http_alog_entry *e)
{
    size_t tlen;
    const char *t = http_clf_time(&tlen);
    puts_(o, e->client);
    put(o, " - - [", 6);
    put(o, t, tlen);
    put(o, "] ", 2);
    put_request_line(o, e);
    char num[64];
    int n = e->bytes
                ? snprintf(num, sizeof(num), " %d %llu ", e->status, (unsigned long long)e->bytes)
                : snprintf(num, sizeof(num), " %d - ", e->status);
    put(o, num, (size_t)n);
    put_quoted(o, e->referer);
    put(o, " ", 1);
    put_quoted(o, e->agent);
    n = snprintf(num, sizeof(num), " %lld\n", (long long)e->usec);
    put(o, num, (size_t)n);
}

void http_alog_add(int fd, const http_alog_entry *e)
{
    alog *l = get_log();
    if (!l || fd < 0)
        return;
    if (l->len > 0 && l->fd != fd)
        flush_log(l); /* the log was reopened, or another site's */
    l->fd = fd;
    out o = {l->buf + l->len, l->buf + sizeof(l->buf)};
    format_line(&o, e);
    l->len = (size_t)(o.p - l->buf);
    if (l->len >= FLUSH_AT)
        flush_log(l);
    else
        arm(l);
}

void http_access_log_flush(void)
{
    if (tls_log)
        flush_log(tls_log);
}
