/*
 * thread.c -- handlers on OS threads (--threads).
 *
 * The connection's green thread hands its request to a thread of the
 * handler pool (runtime/offload.c) and parks until the handler returns,
 * so the hub goes on accepting, parsing and running green apps while the
 * handler blocks its own thread as much as it likes.
 *
 * While the request is lent, only the handler thread touches the
 * connection: the hub's edge callback for the fd is off, since it writes
 * to the connection. The thread waits on the fd with a hub of its own,
 * which gs_read, gs_write and gs_wait_disconnect register the fd with the
 * first time they have to wait (an fd may be in two epoll sets), and which
 * forgets it when the handler returns, so that no stale entry stays behind
 * for the number. The hub saw edges meanwhile without recording them: the
 * input is no longer known to be drained when the connection comes back.
 * The pool's queue and completion lock order the two threads' accesses.
 */
#include "http/thread.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "http/route.h"
#include "runtime/io.h"
#include "runtime/offload.h"

bool http_thread_wanted(const http_conn *c)
{
    return c->site->threads > 0 && !(c->req.mount->app->flags & GS_APP_GREEN);
}

/* On the handler thread. Deferred calls run here too: they undo what the
 * handler did, with this thread's hub (events, queues, green threads). */
static void *run_lent(void *arg)
{
    http_conn *c = arg;
    intptr_t ret = http_run_handler(&c->req);
    http_request_run_defers(&c->req);
    if (c->watched)
        rt_io_forget(c->fd);
    c->watched = false;
    return (void *)ret;
}

int http_thread_call(http_conn *c)
{
    /* The handler may block for long before it writes: earlier pipelined
     * answers go now (a failure shows as c->dead, which gs_write reports). */
    if (c->out_len > 0)
        http_conn_flush(c, NULL, 0);
    http_conn_notify(c, false);
    c->on_thread = c->in_handler = true;
    void *ret = NULL;
    int e = rt_offload_handler(c->site->threads, run_lent, c, &ret);
    c->on_thread = c->in_handler = false;
    c->drained = false;
    http_conn_notify(c, true);
    if (e < 0) {
        http_conn_log(c, "app %s: no handler thread: %s", c->req.mount->app->name, strerror(-e));
        return e;
    }
    return (int)(intptr_t)ret;
}
