/*
 * client.h -- a raw-socket HTTP client for tests: send exact bytes, read
 * responses back with a timeout, look at their status and headers.
 */
#ifndef TS_CLIENT_H
#define TS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The monotonic clock in milliseconds. */
int64_t ts_now_ms(void);

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int ts_connect(int port);

/* Send all n bytes. 0 or -1. */
int ts_send(int fd, const void *buf, size_t n);

/* Read one whole response (head, then a Content-Length or chunked body;
 * to EOF when it has neither; no body when head_only) into buf,
 * NUL-terminated. Returns its length, 0 when the connection closed
 * before a byte arrived, -1 on timeout. Bytes past it (the next
 * pipelined response) stay in the socket for the next call. */
ssize_t ts_recv_response(int fd, char *buf, size_t cap, bool head_only, int timeout_ms);

/* Read until the peer closes or timeout: bytes read, -1 on timeout. */
ssize_t ts_recv_all(int fd, char *buf, size_t cap, int timeout_ms);

/* Whether the peer closes the connection within timeout_ms (reading and
 * discarding anything it sends first). */
bool ts_closed_within(int fd, int timeout_ms);

/* Connect, send req, read one response, close. Length or -1. */
ssize_t ts_request(int port, const char *req, char *buf, size_t cap, int timeout_ms);

/* "HTTP/1.1 404 ..." -> 404; -1 if buf is not a status line. */
int ts_status(const char *resp);

/* The value of header name in the response head (copied into val),
 * case-insensitively; false if absent. */
bool ts_header(const char *resp, const char *name, char *val, size_t cap);

/* The body: what follows the blank line; "" if none. */
const char *ts_body(const char *resp);

#endif
