/*
 * fuzz_http.c -- libFuzzer target for what a client's bytes meet first:
 * the request head (fasthead.c's scanner, else llhttp and parse.c's
 * checks) and the body after it (Content-Length or chunked, de-chunked).
 * Besides what AddressSanitizer and UBSan find, it aborts when two
 * readings of the same bytes differ:
 *   - the head read whole against its first byte fed alone, which leaves
 *     it to llhttp (the scanner must mean what llhttp means);
 *   - the body fed whole against fed a byte at a time: the same bytes
 *     out, the same end (done, malformed, too large, or wanting more).
 *
 *   make fuzz [FUZZ_TIME=seconds]    (tests/fuzz/seeds start the corpus)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/reading.h"

typedef struct body_reading {
    char *out;
    size_t len;
    int end;    /* 1 done, 0 wanting more, or the negative errno */
    int status; /* r->fail_status */
} body_reading;

/* The body after a head that parsed (whole), fed piece bytes at a time
 * (0: all at once). */
static void read_body(const char *buf, size_t n, size_t piece, body_reading *b)
{
    reading head;
    http_conn *c = reading_conn(buf, n, false, &head);
    gs_request *r = &c->req;
    *b = (body_reading){.out = malloc(n + 1)};
    size_t at = c->pos;
    while (!r->body_done && at < n) {
        size_t len = piece && piece < n - at ? piece : n - at, used = 0;
        ssize_t got = http_parse_body(c, c->in + at, len, b->out + b->len, &used);
        if (got < 0) {
            b->end = (int)got;
            break;
        }
        b->len += (size_t)got;
        at += used;
        if (r->body_done)
            b->end = 1;
        else if (used == 0)
            break; /* no progress: would spin */
    }
    b->status = r->fail_status;
    reading_free(c);
}

static void differ(const char *what, const uint8_t *data, size_t size, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_http: %s differ for %zu bytes [%.*s]:\n  %s\n  %s\n", what, size,
            (int)size, (const char *)data, a, b);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    reading whole, split;
    parse(buf, size, false, &whole);
    parse(buf, size, true, &split);
    if (whole.status != split.status || strcmp(whole.text, split.text) != 0)
        differ("head readings", data, size, whole.text, split.text);
    if (whole.status != 1 || strstr(whole.text, "body_done=1"))
        return 0;
    body_reading all, bytes;
    read_body(buf, size, 0, &all);
    read_body(buf, size, 1, &bytes);
    /* A call that fails reports none of what it de-chunked before the
     * fault, so on a failure the bytes fed whole may come out short; and
     * which of two faults is named (its status) may depend on how the
     * bytes came, as llhttp checks each byte as it reads it and parse.c
     * the framing once a call's bytes are read. */
    bool same_out = all.end < 0 ? all.len <= bytes.len : all.len == bytes.len;
    bool same_end = all.end == bytes.end && (all.end < 0 || all.status == bytes.status);
    if (!same_end || !same_out || memcmp(all.out, bytes.out, all.len) != 0) {
        char a[160], b[160];
        snprintf(a, sizeof(a), "whole: end %d, status %d, %zu bytes [%.*s]", all.end, all.status,
                 all.len, (int)(all.len < 60 ? all.len : 60), all.out);
        snprintf(b, sizeof(b), "bytes: end %d, status %d, %zu bytes [%.*s]", bytes.end,
                 bytes.status, bytes.len, (int)(bytes.len < 60 ? bytes.len : 60), bytes.out);
        differ("body readings", data, size, a, b);
    }
    free(all.out);
    free(bytes.out);
    return 0;
}
