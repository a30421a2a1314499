/*
 * handoff.h -- the HTTP side of a hand-off that conn.c calls into (http.h
 * has what server/ calls).
 */
#ifndef HTTP_HANDOFF_H
#define HTTP_HANDOFF_H

#include <stdbool.h>

#include "http/conn.h"

/* The first request of a connection handed over (c->resume_pending),
 * once routed and before its handler runs: the request is marked resumed
 * (gs_resumed) and a response whose head went out goes on. False when no
 * handler must run: a stream begun by an app that does not take hand-offs
 * (the mounts changed) is ended instead. Never switches. */
bool http_resume_request(http_conn *c);

/* A resumed stream's handler runs from the start, so it starts its
 * response again (c->resume_head): the client has that head already.
 * Called before output leaves (every flush) and with `end` once the
 * request is over: once the response has started, its head is dropped
 * from the output if it is the same response as before (status and
 * framing), else the connection is marked dead and closes (a handler
 * that does not restart the same way, or none). Never switches. */
void http_resume_head(http_conn *c, bool end);

/* The end of a resumed request (its handler ran or not): settle the head
 * as above. Never switches. */
void http_resume_end(http_conn *c);

#endif
