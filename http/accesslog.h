/*
 * accesslog.h -- the access log: Combined Log Format plus the request time
 * in microseconds, buffered per hub.
 *
 *   127.0.0.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 6 "-" "curl/7.88.1" 57
 *
 * A write(2) per request would cost as much as the request itself, so lines
 * collect in a per-hub buffer that is written when it passes a few KiB, at
 * least once a second (a timer on the hub), when a worker's last connection
 * closes, and on http_access_log_flush() (http.h).
 */
#ifndef HTTP_ACCESSLOG_H
#define HTTP_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct http_alog_entry {
    const char *client; /* REMOTE_ADDR */
    const char *method; /* NULL when the request line was never read */
    const char *target; /* raw request-target, target_len bytes */
    size_t target_len;
    const char *protocol; /* "HTTP/1.1" */
    int status;
    uint64_t bytes;      /* body bytes sent */
    const char *referer; /* NULL: "-" */
    const char *agent;   /* NULL: "-" */
    int64_t usec;        /* from the request's first byte to its end */
} http_alog_entry;

/* Buffer one line for fd (>= 0). Never switches. */
void http_alog_add(int fd, const http_alog_entry *e);

#endif
