/*
 * fasthead.h -- the common request head (a plain GET or HEAD, ordinary
 * headers, no body) read without llhttp; everything else goes to llhttp.
 */
#ifndef HTTP_FASTHEAD_H
#define HTTP_FASTHEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "http/conn.h"

/* RFC 9110 token characters: the bytes a header name may hold. */
extern const bool http_tchar[256];

/* s[0, n) equals lit, a lower-case name, ignoring case. Only for token
 * and value characters: the one other byte that folds onto a letter or
 * '-' under | 0x20 is CR, which neither holds. */
static inline bool http_name_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lit[i])
            return false;
    return true;
}

/* What parse.c's checks need from a scanned head's fields. */
typedef struct http_scan {
    unsigned hosts;         /* Host fields */
    const http_hdr *expect; /* the first Expect, or NULL */
} http_scan;

/* Read the head at c->in + c->req_start, of which nothing has been fed to
 * llhttp, if it is complete and within the subset fasthead.c lists: fill
 * c->req as llhttp's callbacks would, with body_done set, move c->pos past
 * the head, fill *scan and return 1; values come trimmed, an empty one
 * pointing just past its colon, as parse.c leaves llhttp's. Otherwise
 * return 0 with c->pos and the request's counts untouched, for llhttp to
 * read it. The head is not yet checked as a whole (Host, Expect...): that
 * is the caller's. */
int http_fast_head(http_conn *c, http_scan *scan);

#endif
