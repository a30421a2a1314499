/*
 * thread.h -- handlers on OS threads (--threads): a connection lends its
 * request to a thread of the handler pool for the length of the handler.
 */
#ifndef HTTP_THREAD_H
#define HTTP_THREAD_H

#include <stdbool.h>

#include "http/conn.h"

/* Whether c's routed request runs on a handler thread: the site has
 * threads and the app is not GS_APP_GREEN. Never switches. */
bool http_thread_wanted(const http_conn *c);

/* Run c's handler on a handler thread, its defer list too, and wait for it
 * (the connection's green thread parks; kills wait for the handler's end).
 * Returns what the handler returned, or -ENOMEM / -errno (logged) when no
 * thread could be started. Switches. */
int http_thread_call(http_conn *c);

#endif
