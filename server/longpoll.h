/*
 * longpoll.h -- handlers parked in a long-poll wait (gs_wait_disconnect,
 * http_wait), as a graceful stop and the status counters see them, and
 * which connection a request came on.
 *
 * The one place in server/ that looks inside http/'s connection: http/
 * records the green thread parked in http_wait on the connection, and
 * nothing public says so. A stop wakes that thread as if its timeout had
 * passed, so the handler answers ("nothing new, come back") and its client
 * reconnects to a worker that is still accepting.
 */
#ifndef SRV_LONGPOLL_H
#define SRV_LONGPOLL_H

#include <stdbool.h>

#include "greenserve.h"

/* The connection's descriptor. Never switches. */
int srv_longpoll_fd(gs_request *r);

/* Whether r's handler is parked in http_wait on the calling hub. Never
 * switches. */
bool srv_longpoll_parked(gs_request *r);

/* End that wait with -ETIMEDOUT (its next waits are unaffected). Returns
 * whether a wait was ended. Never switches. */
bool srv_longpoll_wake(gs_request *r);

#endif
