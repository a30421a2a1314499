/*
 * io.h -- the hub's descriptor table. Every descriptor a green thread
 * waits on is registered once, edge-triggered, for read, write and peer
 * close; the callbacks only record readiness and wake waiters, so a wait
 * costs no epoll_ctl.
 */
#ifndef RT_IO_H
#define RT_IO_H

#include <stdbool.h>
#include <stdint.h>

/* Seen in addition to GS_READ / GS_WRITE: the peer closed or reset. */
#define RT_IO_HUP 4

/* Park until a new readiness edge for `what` on fd, ignoring any edge
 * recorded earlier: for callers that just got EAGAIN or a short read and
 * so know the descriptor is drained. Returns the ready subset of `what`
 * (plus RT_IO_HUP), -ETIMEDOUT, -ECANCELED or -EBADF. Switches. */
int rt_io_wait(int fd, int what, int64_t timeout_ms);

/* As rt_io_wait, until `at`, a gs_now_ms() time (0: no end). */
int rt_io_wait_until(int fd, int what, int64_t at);

/* Whether the peer's close or reset has been seen on fd. Never switches. */
bool rt_io_hup(int fd);

/* Call cb(fd, events, arg) from the loop on each edge on fd (after
 * waking its waiters), until cleared with cb = NULL. One per fd. */
int rt_io_notify(int fd, void (*cb)(int fd, int events, void *arg), void *arg);

/* Take the edges waiting in this thread's set, without blocking, and
 * wake their waiters: for the hub's loop, which polls the set itself
 * while it is busy (runtime/hub.c). Returns how many were taken. */
int rt_io_poll(void);

/* How many the last poll took, rt_io_poll's or the loop's. */
int rt_io_last_poll(void);

/* Unregister fd from this thread's hub without closing it: waiters get
 * -EBADF and recorded edges are dropped. For a descriptor another thread
 * goes on using (a connection lent to a handler thread and given back),
 * so this hub keeps no stale entry for the number once it is reused.
 * Never switches. */
void rt_io_forget(int fd);

#endif
