/*
 * conninfo.h -- what server/ needs to know of a request that the public
 * API does not say: the descriptor of its connection, by which the worker
 * finds its own record of the connection from inside a handler (which may
 * run on a handler thread, --threads). The one place in server/ that
 * looks inside http/'s connection.
 */
#ifndef SRV_CONNINFO_H
#define SRV_CONNINFO_H

#include "greenserve.h"

/* r's connection's descriptor. Never switches. */
int srv_request_fd(gs_request *r);

#endif
