/*
 * longpoll.c -- see longpoll.h.
 */
#include "server/longpoll.h"

#include <errno.h>

#include "http/conn.h"
#include "runtime/hub.h"

/* A handler lent to an OS thread (--threads) parks on that thread's own
 * hub: only a waiter of the calling hub may be woken from here. */
static gs_thread *parked(gs_request *r)
{
    gs_thread *t = r->c->hup_waiter;
    return t && t->hub == rt_hub_peek() && t->state == RT_WAITING ? t : NULL;
}

int srv_longpoll_fd(gs_request *r)
{
    return r->c->fd;
}

bool srv_longpoll_parked(gs_request *r)
{
    return parked(r) != NULL;
}

bool srv_longpoll_wake(gs_request *r)
{
    gs_thread *t = parked(r);
    if (t)
        rt_wake(t, -ETIMEDOUT);
    return t != NULL;
}
