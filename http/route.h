/*
 * route.h -- from request-target to mounted app: SCRIPT_NAME, PATH_INFO
 * and QUERY_STRING as PEP 3333 defines them, and the one call into an
 * app's handler.
 */
#ifndef HTTP_ROUTE_H
#define HTTP_ROUTE_H

#include "http/http.h"
#include "http/request.h"

/* The mount whose prefix is the longest match of path: "/chat" matches
 * "/chat" and "/chat/..." but not "/chatty"; "/" matches everything.
 * NULL when none does. Never switches. */
const http_mount *http_route_match(const http_site *site, const char *path);

/* Split r's target into path and query, percent-decode the path and pick
 * the mount: sets r->mount, r->path_info, r->query. Returns 0, 400 for a
 * target we cannot serve (or "%00"), 404 when no mount matches. */
int http_route(gs_request *r);

/* Call the mounted app's handler: the one place that does, so that a
 * different executor (an OS thread pool) can be swapped in here. Under a
 * request timeout (the mount's, else the site's) a handler running past
 * it is cancelled (see route.c); it then returns -ETIMEDOUT with
 * r->fail_status 504, after a log line naming the request and how long it
 * ran. Switches. */
int http_run_handler(gs_request *r);

/* The handler of r, running on thread t of the calling OS thread, is out
 * of time: mark it timed out and kill t (its waits return -ECANCELED),
 * unless something else killed it first. Never switches. */
void http_request_cancel(gs_request *r, gs_thread *t);

#endif
