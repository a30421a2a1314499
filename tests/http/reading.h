/*
 * reading.h -- a request head parsed on a bare connection (no socket, no
 * hub) and everything parse.c made of it printed, so that two ways of
 * reading the same bytes can be compared. Shared by test_fasthead.c and
 * tests/fuzz/fuzz_http.c.
 */
#ifndef TESTS_HTTP_READING_H
#define TESTS_HTTP_READING_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"
#include "http/request.h"

typedef struct reading {
    int status;
    char text[4096]; /* everything else, printed */
    bool llhttp_used;
} reading;

static void describe(http_conn *c, int st, reading *out)
{
    gs_request *r = &c->req;
    out->status = st;
    out->llhttp_used = c->parser.http_major != 0;
    char *p = out->text, *end = out->text + sizeof(out->text);
    if (st != 1) {
        snprintf(p, (size_t)(end - p), "fail %d %s", r->fail_status,
                 r->fail_reason ? r->fail_reason : "-");
        return;
    }
    const char *base = c->in + c->req_start;
    p += snprintf(p, (size_t)(end - p),
                  "m=%d v=%d.%d ka=%d head=%d url=[%s] len=%u pos=%zu hl=%u body_done=%d "
                  "chunked=%d left=%lld expect=%d n=%u",
                  r->method, r->major, r->minor, r->keep_alive, r->head_method, base + r->url,
                  r->url_len, c->pos, r->head_len, r->body_done, r->chunked,
                  (long long)r->body_left, r->expect_continue, r->nhdrs);
    for (unsigned i = 0; i < r->nhdrs && p < end - 1; i++) {
        const http_hdr *h = &r->hdrs[i];
        p += snprintf(p, (size_t)(end - p), " [%.*s]=[%s]", (int)h->name_len, base + h->name,
                      base + h->value);
    }
}

/* A fresh connection holding buf[0, n), its head parsed: whole (the
 * scanner gets the first try) or, if split, its first byte fed alone
 * (llhttp has then started it, so it reads all of it). The reading in
 * *out; free with reading_free. */
static http_conn *reading_conn(const char *buf, size_t n, bool split, reading *out)
{
    static http_limits lim;
    http_limits_default(&lim);
    http_conn *c = calloc(1, sizeof(*c));
    c->lim = &lim;
    c->in_cap = n + 2048;
    c->in = malloc(c->in_cap);
    memcpy(c->in, buf, n);
    c->req.c = c;
    http_request_begin(&c->req);
    http_parse_init(c);
    int st = 0;
    if (split && n > 1) {
        c->in_len = 1;
        st = http_parse_head(c);
    }
    if (st == 0) {
        c->in_len = n;
        st = http_parse_head(c);
    }
    describe(c, st, out);
    return c;
}

static void reading_free(http_conn *c)
{
    if (c->req.hdrs != c->req.inl)
        free(c->req.hdrs);
    free(c->in);
    free(c);
}

static void parse(const char *buf, size_t n, bool split, reading *out)
{
    reading_free(reading_conn(buf, n, split, out));
}

#endif
