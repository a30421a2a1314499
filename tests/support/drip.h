/*
 * drip.h -- slowloris clients for tests and benchmarks: many connections
 * held by one OS thread (epoll), each sending a first part at once and
 * then one byte a second, for as long as the server keeps it open. Each
 * records when the server closed it and the status it answered, if any.
 */
#ifndef TS_DRIP_H
#define TS_DRIP_H

#include <stdint.h>

typedef struct ts_drip ts_drip;

typedef struct ts_drip_result {
    unsigned clients;   /* connected */
    unsigned closed;    /* closed by the server (EOF or reset) */
    unsigned answered;  /* closed after a response whose status is `status` */
    unsigned others;    /* closed after any other status */
    int64_t min_age_ms; /* the closed ones: shortest and longest time from */
    int64_t max_age_ms; /* connect to close */
} ts_drip_result;

/* Connect n clients to 127.0.0.1:port. Each sends `head` at once, then the
 * bytes of `drip` one a second (starting over at its end; NULL or "":
 * nothing more, the client just waits), and expects a response with
 * `status`. The caller needs n free descriptors. NULL when
 * the thread could not start (connections that fail are not counted). */
ts_drip *ts_drip_start(int port, unsigned n, const char *head, const char *drip, int status);

/* How many are connected and not closed yet. */
unsigned ts_drip_open(ts_drip *d);

/* Stop (closing what is still open) and count. */
ts_drip_result ts_drip_stop(ts_drip *d);

#endif
