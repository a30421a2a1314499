/*
 * load.h -- clients that keep sending one request, each on a connection
 * of its own, from OS threads of the test process, counting the answers
 * that are not a 200: what "no failed request" is measured with while a
 * server reloads or recycles its workers.
 */
#ifndef TS_LOAD_H
#define TS_LOAD_H

#include <stddef.h>

typedef struct ts_load ts_load;

typedef struct ts_load_result {
    unsigned long ok;     /* 200s */
    unsigned long failed; /* anything else: refused, reset, closed, timed out */
    char first_failure[256];
} ts_load_result;

/* Start nclients threads sending req to 127.0.0.1:port (each response
 * must come within 5 s). NULL if a thread could not start. */
ts_load *ts_load_start(int port, const char *req, unsigned nclients);

/* How many answers so far (to wait for the load to be under way). */
unsigned long ts_load_done(ts_load *l);

/* Stop the clients (each finishes its request) and count. */
ts_load_result ts_load_stop(ts_load *l);

#endif
