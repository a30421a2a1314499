/*
 * body.h -- the request body as the handler reads it (gs_read), the
 * interim "100 Continue", and what happens to a body nobody read.
 */
#ifndef HTTP_BODY_H
#define HTTP_BODY_H

#include <stdbool.h>

#include "http/request.h"

/* Most bytes read and dropped to keep a connection whose handler left its
 * body unread; past it the connection is closed instead. */
#define HTTP_DRAIN_MAX (64 * 1024)

/* Whether what is left of r's body could be drained (as far as is known
 * now): false when the client still waits for a 100 Continue, or more
 * than HTTP_DRAIN_MAX bytes of Content-Length are left. Never switches. */
bool http_body_drainable(const gs_request *r);

/* After the handler: read and drop the rest of the body so the next
 * request can be parsed. Returns false when the connection must be
 * closed instead. Switches. */
bool http_body_drain(gs_request *r);

#endif
