/*
 * conninfo.c -- see conninfo.h.
 */
#include "server/conninfo.h"

#include "http/conn.h"

int srv_request_fd(gs_request *r)
{
    return r->c->fd;
}
