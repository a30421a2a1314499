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

#endif
