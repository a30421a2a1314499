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
    unsigned max_conns;           /* open connections per worker; past it 503 */
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
