/*
 * parse.h -- llhttp driven strictly: request heads into spans, bodies
 * de-chunked into the reader's buffer, and the checks llhttp 8.1 leaves to
 * us in its default mode (see parse.c for each).
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <sys/types.h>

#include "http/conn.h"

/* Set up c->parser for a new connection. */
void http_parse_init(http_conn *c);

/* Feed c->in[pos, in_len) until the current request's head is complete.
 * Returns 1 when it is, valid and NUL-terminated in place; 0 when more
 * input is needed; or the status to answer (400, 405, 413, 414, 417, 431,
 * 500, 501, 505) with r->fail_reason set. */
int http_parse_head(http_conn *c);

/* Feed n bytes at src (c->in + c->pos, or the reader's own buffer) as
 * body. Body bytes are copied to dst (NULL: dropped); dst must have room
 * for n. *used gets how many bytes of src were consumed; r->body_done is
 * set at the end of the body. Returns the body bytes produced, or -EPROTO
 * (malformed) / -EMSGSIZE (past max_body), with r->fail_status set. */
ssize_t http_parse_body(http_conn *c, const char *src, size_t n, char *dst, size_t *used);

#endif
