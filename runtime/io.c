/*
 * io.c -- green I/O: the per-hub descriptor table and the calls built on
 * it (gs_wait_fd, accept, connect, read, write, sendfile, close).
 */
#include "runtime/io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/hub.h"

typedef struct rt_fd {
    int fd;
    unsigned ready; /* edges recorded and not consumed by a wait */
    rt_waitq readers, writers, both;
    void (*notify)(int fd, int events, void *arg);
    void *notify_arg;
} rt_fd;

/* Indexed by descriptor, one table per OS thread (= per hub). */
static __thread rt_fd **tab;
static __thread size_t tab_len;

/* The descriptors of the table are watched by an epoll set of the hub's
 * own, edge-triggered, which libevent watches as one descriptor: a
 * connection's edge then costs a table lookup and a wake, not libevent's
 * per-event bookkeeping (its map, its active queue, its callback). While
 * it is busy, the loop polls the set alone (rt_io_poll), so a round costs
 * one epoll_wait, not libevent's and then the set's. */
static __thread int epfd = -1;
static __thread struct event epev;

#define EP_BATCH 256

static void edge(rt_fd *f, uint32_t events)
{
    unsigned got = 0;
    /* An error or a reset is read + write; the peer's shutdown (a reset
     * too) is a read and a hang-up. */
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        got |= GS_READ;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        got |= GS_WRITE;
    if (events & EPOLLRDHUP)
        got |= GS_READ | RT_IO_HUP;
    f->ready |= got;
    if ((got & GS_READ) && !rt_waitq_empty(&f->readers))
        rt_wake_all(&f->readers, 0);
    if ((got & GS_WRITE) && !rt_waitq_empty(&f->writers))
        rt_wake_all(&f->writers, 0);
    if (!rt_waitq_empty(&f->both))
        rt_wake_all(&f->both, 0);
    if (f->notify)
        f->notify(f->fd, (int)got, f->notify_arg);
}

/* Edges the last poll of the set took. */
static __thread int last_polled;

/* Take what is in the set (a full batch leaves the rest for the next
 * round, the set being level-triggered to its watchers). */
int rt_io_poll(void)
{
    if (epfd < 0)
        return 0;
    struct epoll_event ev[EP_BATCH];
    int n = epoll_wait(epfd, ev, EP_BATCH, 0);
    last_polled = n > 0 ? n : 0;
    for (int i = 0; i < n; i++) {
        /* By number, not pointer: an entry forgotten earlier in this
         * batch is gone from the table, not freed under us. */
        int k = ev[i].data.fd;
        if ((size_t)k < tab_len && tab[k])
            edge(tab[k], ev[i].events);
    }
    return last_polled;
}

int rt_io_last_poll(void)
{
    return last_polled;
}

/* libevent found the set ready. */
static void on_epoll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    rt_io_poll();
}

static int poller_open(rt_hub *h)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -errno;
    event_assign(&epev, rt_hub_base(h), epfd, EV_READ | EV_PERSIST, on_epoll, NULL);
    if (event_add(&epev, NULL) < 0) {
        close(epfd);
        epfd = -1;
        return -ENOMEM;
    }
    rt_hub_internal_events(h, 1); /* the set alone keeps no hub running */
    return 0;
}

static rt_fd *fd_get(int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd < tab_len && tab[fd])
        return tab[fd];
    rt_hub *h = rt_hub_get();
    if (!h || (epfd < 0 && poller_open(h) < 0))
        return NULL;
    if ((size_t)fd >= tab_len) {
        size_t n = tab_len ? tab_len : 64;
        while (n <= (size_t)fd)
            n *= 2;
        rt_fd **t = realloc(tab, n * sizeof(*t));
        if (!t)
            return NULL;
        memset(t + tab_len, 0, (n - tab_len) * sizeof(*t));
        tab = t;
        tab_len = n;
    }
    rt_fd *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(f);
        return NULL;
    }
    tab[fd] = f;
    return f;
}

/* Park for `what` until timeout_ms from now or, with `absolute`, until
 * the gs_now_ms() time timeout_ms (0: none). */
static int park(rt_fd *f, int what, int64_t timeout_ms, bool absolute)
{
    rt_waitq *q = what == GS_READ ? &f->readers : what == GS_WRITE ? &f->writers : &f->both;
    rt_hub *h = rt_hub_get();
    rt_hub_pending(h, 1);
    int r = absolute ? rt_wait_until(q, timeout_ms) : rt_wait(q, timeout_ms);
    rt_hub_pending(h, -1);
    if (r < 0)
        return r;
    /* A wake is an edge: take the readiness it brought. */
    unsigned got = f->ready & ((unsigned)what | RT_IO_HUP);
    f->ready &= ~(unsigned)what;
    return got ? (int)got : what;
}

static int wait_edge(int fd, int what, int64_t timeout_ms, bool absolute)
{
    rt_fd *f = fd_get(fd);
    if (!f)
        return -EBADF;
    f->ready &= ~(unsigned)what;
    return park(f, what, timeout_ms, absolute);
}

int rt_io_wait(int fd, int what, int64_t timeout_ms)
{
    return wait_edge(fd, what, timeout_ms, false);
}

int rt_io_wait_until(int fd, int what, int64_t at)
{
    return wait_edge(fd, what, at, true);
}

/* The ready subset of `what` as the kernel sees it now, or -EBADF. */
static int level(int fd, int what)
{
    struct pollfd p = {.fd = fd};
    p.events = (short)((what & GS_READ ? POLLIN : 0) | (what & GS_WRITE ? POLLOUT : 0));
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & POLLNVAL)
        return -EBADF;
    int got = 0;
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
        got |= GS_READ;
    if (p.revents & (POLLOUT | POLLHUP | POLLERR))
        got |= GS_WRITE;
    return got & what;
}

int gs_wait_fd(int fd, int what, int64_t timeout_ms)
{
    what &= GS_READ | GS_WRITE;
    if (!what)
        return -EINVAL;
    rt_fd *f = fd_get(fd);
    if (!f)
        return -EBADF;
    unsigned got = f->ready & (unsigned)what;
    if (got) {
        f->ready &= ~got;
        return (int)got;
    }
    /* An earlier wait may have consumed the edge while the level stayed
     * up (the caller read part of the data, or wrote a little): with no
     * fresh edge recorded, ask the kernel before parking for the next. */
    int now = level(fd, what);
    if (now != 0)
        return now;
    int r = park(f, what, timeout_ms, false);
    return r < 0 ? r : (r & what ? r & what : what);
}

bool rt_io_hup(int fd)
{
    return fd >= 0 && (size_t)fd < tab_len && tab[fd] && (tab[fd]->ready & RT_IO_HUP);
}

int rt_io_notify(int fd, void (*cb)(int, int, void *), void *arg)
{
    rt_fd *f = fd_get(fd);
    if (!f)
        return -EBADF;
    f->notify = cb;
    f->notify_arg = arg;
    return 0;
}

void rt_io_forget(int fd)
{
    if (fd < 0 || (size_t)fd >= tab_len || !tab[fd])
        return;
    rt_fd *f = tab[fd];
    tab[fd] = NULL;
    /* Fails for a descriptor already closed, whose entry went with it. */
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    rt_wake_all(&f->readers, -EBADF);
    rt_wake_all(&f->writers, -EBADF);
    rt_wake_all(&f->both, -EBADF);
    free(f);
}

int gs_close(int fd)
{
    rt_io_forget(fd);
    return close(fd) < 0 ? -errno : 0;
}

int gs_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

/* The time left of a call-wide timeout that started at `start`. */
static int64_t left(int64_t timeout_ms, int64_t start)
{
    if (timeout_ms < 0)
        return GS_FOREVER;
    int64_t l = timeout_ms - (gs_now_ms() - start);
    return l > 0 ? l : 0;
}

int gs_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen, int64_t timeout_ms)
{
    for (;;) {
        int fd = accept4(lfd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int r = rt_io_wait(lfd, GS_READ, timeout_ms);
        if (r < 0)
            return r;
    }
}

int gs_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t timeout_ms)
{
    if (connect(fd, addr, addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    int r = rt_io_wait(fd, GS_WRITE, timeout_ms);
    if (r < 0)
        return r;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

ssize_t gs_fd_read(int fd, void *buf, size_t n, int64_t timeout_ms)
{
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int w = rt_io_wait(fd, GS_READ, timeout_ms);
        if (w < 0)
            return w;
    }
}

ssize_t gs_fd_write(int fd, const void *buf, size_t n, int64_t timeout_ms)
{
    int64_t start = gs_now_ms();
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != EAGAIN)
            return -errno;
        int w = rt_io_wait(fd, GS_WRITE, left(timeout_ms, start));
        if (w < 0)
            return w;
    }
    return (ssize_t)n;
}

ssize_t gs_sendfile(int out, int in, off_t *offset, size_t n, int64_t timeout_ms)
{
    int64_t start = gs_now_ms();
    size_t done = 0;
    while (done < n) {
        ssize_t r = sendfile(out, in, offset, n - done);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0)
            break; /* the file ended */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int w = rt_io_wait(out, GS_WRITE, left(timeout_ms, start));
        if (w < 0)
            return w;
    }
    return (ssize_t)done;
}
