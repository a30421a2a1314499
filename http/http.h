/*
 * http.h -- what the HTTP layer needs from the process that runs it: the
 * mounted apps, the limits and the access log (an `http_site`), and the one
 * entry point that serves a connection on the calling green thread.
 * server/ fills an http_site per worker; http/ knows nothing of processes.
 */
#ifndef HTTP_HTTP_H
#define HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "greenserve.h"

typedef struct http_limits {
    size_t max_uri;               /* request-target bytes; past it 414 */
    size_t max_header_bytes;      /* request line + header block; past it 431 */
    unsigned max_headers;         /* header fields; past it 431 */
    int64_t max_body;             /* body bytes; past it 413 */
    int64_t header_timeout_ms;    /* whole request head; past it 408 */
    int64_t body_timeout_ms;      /* each body read; past it 408 / -ETIMEDOUT */
    int64_t keepalive_timeout_ms; /* idle between requests: close silently */
    int64_t write_timeout_ms;     /* each response write */
    /* A handler running longer is cancelled (504); 0 or GS_FOREVER: none.
     * Long waits are exempt (http/route.c). */
    int64_t request_timeout_ms;
    unsigned max_conns; /* open connections per worker; past it 503 */
} http_limits;

typedef struct http_mount {
    const char *prefix; /* "/" or "/chat": no trailing slash except the root */
    size_t prefix_len;
    const gs_app *app;
    void *state; /* what app->init returned */
    /* This app's handler time limit: 0 = the site's, GS_FOREVER = none. */
    int64_t request_timeout_ms;
} http_mount;

typedef struct http_site {
    http_mount *mounts; /* any order: the longest matching prefix wins */
    size_t nmounts;
    http_limits limits;
    int access_log_fd; /* -1: no access log */
    /* OS threads that run the handlers of apps without GS_APP_GREEN
     * (--threads); 0 runs every handler in green threads on the hub. */
    unsigned threads;
    /* Counters kept by http/ for supervision and status. */
    unsigned active_conns;
    uint64_t requests;
} http_site;

/* The defaults every flag starts from. */
void http_limits_default(http_limits *l);

/* Serve one accepted, non-blocking connection until it closes, on the
 * calling green thread, then gs_close(fd). Switches. */
void http_serve(http_site *site, int fd, const struct sockaddr *peer, socklen_t peerlen);

/* ---- hand-off: a retiring worker passes its connections on ----
 *
 * What crosses to the other worker with the socket (server/handoff.c
 * carries both): plain bytes, valid between processes of one executable.
 * `len` bytes follow the struct in the same block (http_handoff_bytes): for a parked request,
 * its head again (rebuilt from the parsed fields: the parser terminated
 * the values in place) and then any input not parsed yet. */
typedef struct http_handoff {
    uint8_t parked;     /* a handler was parked in a long wait: run its request again */
    uint8_t fresh;      /* no request seen yet on the connection */
    uint8_t started;    /* parked: the response's head, maybe some body, went out */
    uint8_t frame;      /* started: its http_frame (chunked or close-delimited) */
    uint8_t close;      /* started: the connection closes after the response */
    uint8_t has_cursor; /* parked: the handler set a cursor (gs_set_cursor) */
    uint16_t status;    /* started */
    uint64_t cursor;
    uint64_t body_sent; /* started */
    uint32_t age_ms;    /* parked: how long the request had been served */
    uint32_t len;
} http_handoff;

static inline char *http_handoff_bytes(const http_handoff *h)
{
    return (char *)(h + 1);
}

typedef struct http_conn http_conn;

/* As http_serve, and also: *self (if self is not NULL) points at the
 * connection while it is served and is NULL again once it has ended, so
 * that the process can hand it off (http_conn_capture); resume (if not
 * NULL) is a connection handed over by another worker: its input and, for
 * a parked request, the response state the request resumes with (see
 * gs_resumed). resume is borrowed for the call's first steps only. */
void http_serve_ex(http_site *site, int fd, const struct sockaddr *peer, socklen_t peerlen,
                   const http_handoff *resume, http_conn **self);

/* If c can be handed off now, its state as a new block (the caller frees
 * it), else NULL. It can when its thread is parked either between
 * requests with nothing of the next one read, or in a long wait (a
 * channel wait or gs_wait_disconnect) of a request without a body whose
 * app has GS_APP_HANDOFF, with no output held back and a response that
 * is either not started or a stream (chunked or close-delimited) whose
 * head has gone out. Never switches. */
http_handoff *http_conn_capture(http_conn *c);

/* Whether closing c now loses nothing: its thread is parked waiting for
 * a next request of which no byte has come, and nothing of an earlier
 * response is waiting to go. For a graceful stop, which closes idle
 * connections. One recv (a peek). Never switches. */
bool http_conn_idle(const http_conn *c);

/* c's socket now belongs to another worker: nothing more is read from or
 * written to it here, and its end closes the descriptor without a
 * shutdown, a reset or an access log line. The caller then kills c's
 * thread (gs_kill), which unwinds as from a cancelled wait. */
void http_conn_handed(http_conn *c);

/* Refuse a connection because the worker is full: 503 with Retry-After,
 * a log line, and close. For the accept loop, when active_conns has
 * reached limits.max_conns. Never blocks for long (one write attempt). */
void http_refuse_busy(http_site *site, int fd);

/* Write the calling thread's buffered access log lines now (they are
 * otherwise written every few KiB, at least once a second, and when the
 * worker's last connection closes). For shutdown and log reopening.
 * Never switches. */
void http_access_log_flush(void);

#endif
