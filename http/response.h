/*
 * response.h -- status line and headers, body framing (Content-Length,
 * chunked, close-delimited, none), and the server's own answers (errors,
 * 404, 503). Responses are built in the connection's output buffer.
 */
#ifndef HTTP_RESPONSE_H
#define HTTP_RESPONSE_H

#include <stdbool.h>

#include "http/conn.h"

/* The reason phrase of a status ("Not Found"); "Unknown" when we have none. */
const char *http_reason(int status);

/* Finish r's response once its handler returned `ret`: a 200 with no body
 * if nothing was started, a 500 if the handler failed before starting
 * (the closing status of a body error: 400, 408, 413), the chunked
 * terminator, a closed connection for a failure after starting or a body
 * short of its Content-Length. Never switches: output stays buffered. */
void http_response_finish(gs_request *r, int ret);

/* Answer `status` ourselves: a short text/plain body, and with `close`
 * (or whenever the connection cannot be kept) "Connection: close", after
 * which the connection closes. Never switches. */
void http_response_error(http_conn *c, int status, bool close);

#endif
