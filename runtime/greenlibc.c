/*
 * greenlibc.c -- --green-libc: blocking libc calls made on a green thread
 * park it instead of blocking the hub.
 *
 * The executable is linked -rdynamic, so the read, write, connect... it
 * defines here are the ones every plugin and every library loaded after
 * it resolves to; libc's own are reached through dlsym(RTLD_NEXT). Off (the
 * default), a hook is libc's call behind one predictable branch. On, a
 * call changes only on a green thread: the root, the loop (libevent's own
 * reads), pool threads and --threads handlers keep libc's behaviour.
 *
 * Sockets are tried with MSG_DONTWAIT (the fd's flags stay as they are);
 * on EAGAIN the thread parks for the next edge unless the program made
 * the descriptor non-blocking, which then gets EAGAIN as from libc, and
 * SO_RCVTIMEO / SO_SNDTIMEO bound the park (EAGAIN, as libc). connect and
 * accept need the fd non-blocking for the one call. Pipes, ttys and other
 * pollable descriptors wait for readiness first. Regular files cannot be
 * waited on: the call goes to libc, and that it blocked is logged once.
 */
#include "runtime/greenlibc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "runtime/hub.h"
#include "runtime/io.h"
#include "runtime/log.h"

/* Process-wide by nature (the hooks are): set once at worker start before
 * any green thread runs, only read afterwards. */
static bool enabled;

static struct {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, __SOCKADDR_ARG, socklen_t *);
    ssize_t (*sendto)(int, const void *, size_t, int, __CONST_SOCKADDR_ARG, socklen_t);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*connect)(int, __CONST_SOCKADDR_ARG, socklen_t);
    int (*accept)(int, __SOCKADDR_ARG, socklen_t *);
    int (*accept4)(int, __SOCKADDR_ARG, socklen_t *, int);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    unsigned (*sleep)(unsigned);
    int (*usleep)(useconds_t);
    int (*nanosleep)(const struct timespec *, struct timespec *);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    int (*close)(int);
} real;

#define RESOLVE(f) real.f = dlsym(RTLD_NEXT, #f)

static void resolve(void)
{
    RESOLVE(read), RESOLVE(write), RESOLVE(readv), RESOLVE(writev);
    RESOLVE(recv), RESOLVE(send), RESOLVE(recvfrom), RESOLVE(sendto);
    RESOLVE(recvmsg), RESOLVE(sendmsg), RESOLVE(connect), RESOLVE(accept);
    RESOLVE(accept4), RESOLVE(poll), RESOLVE(select), RESOLVE(sleep);
    RESOLVE(usleep), RESOLVE(nanosleep), RESOLVE(getaddrinfo), RESOLVE(close);
}

/* Early, before main; a call made even earlier resolves on the spot. */
__attribute__((constructor(101))) static void resolve_at_start(void)
{
    resolve();
}

#define REAL(f) (__builtin_expect(real.f != NULL, 1) ? real.f : (resolve(), real.f))

void rt_greenlibc_enable(bool on)
{
    enabled = on;
}

bool rt_greenlibc_enabled(void)
{
    return enabled;
}

/* Set with `enabled`, at worker start. */
static int quiet_fds[4] = {-1, -1, -1, -1};

void rt_greenlibc_quiet(int fd)
{
    for (size_t i = 0; fd >= 0 && i < sizeof quiet_fds / sizeof quiet_fds[0]; i++)
        if (quiet_fds[i] < 0 || quiet_fds[i] == fd) {
            quiet_fds[i] = fd;
            return;
        }
}

static bool is_quiet(int fd)
{
    for (size_t i = 0; i < sizeof quiet_fds / sizeof quiet_fds[0]; i++)
        if (quiet_fds[i] == fd)
            return true;
    return false;
}

/* On a green thread: not the root, not the loop, and a hub exists (pool
 * and handler threads run their calls on the root or have no hub). */
static bool on_green_thread(void)
{
    if (!rt_hub_peek())
        return false;
    gs_thread *t = rt_current();
    return t && t->stack && t->fn;
}

#define GREEN() (__builtin_expect(enabled, 0) && on_green_thread())

/* ---- what could not be made green ---- */

enum kind { K_READ, K_WRITE, K_READV, K_WRITEV, K_POLL, K_NKINDS };
static const char *const kind_name[K_NKINDS] = {"read", "write", "readv", "writev", "poll"};

/* One line per kind of call: enough to tell a library is not covered. */
static atomic_bool logged[K_NKINDS];

static void blocks_hub(enum kind k, int fd, const char *what)
{
    if (!atomic_exchange(&logged[k], true))
        rt_log("green-libc: %s on fd %d (%s) blocks the hub", kind_name[k], fd, what);
}

static bool again(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK;
}

static bool nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* fd's SO_RCVTIMEO (GS_READ) or SO_SNDTIMEO in ms; GS_FOREVER if none. */
static int64_t sock_timeout(int fd, int what)
{
    struct timeval tv = {0};
    socklen_t len = sizeof tv;
    int opt = what == GS_READ ? SO_RCVTIMEO : SO_SNDTIMEO;
    if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0))
        return GS_FOREVER;
    return (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
}

/* A socket call got EAGAIN: park until the next edge. *deadline is 0 on
 * the first call of an operation. Returns 0 to retry, or the errno libc
 * would have set (EAGAIN: non-blocking fd or SO_*TIMEO expired). */
static int sock_wait(int fd, int what, int64_t *deadline)
{
    if (nonblocking(fd))
        return EAGAIN;
    if (*deadline == 0) {
        int64_t to = sock_timeout(fd, what);
        *deadline = to == GS_FOREVER ? -1 : gs_now_ms() + to;
    }
    int64_t left = *deadline < 0 ? GS_FOREVER : *deadline - gs_now_ms();
    if (*deadline >= 0 && left <= 0)
        return EAGAIN;
    int r = rt_io_wait(fd, what, left);
    if (r == -ETIMEDOUT)
        return EAGAIN;
    if (r == -ECANCELED)
        return EINTR;
    return r < 0 ? -r : 0;
}

/* After a first attempt failed with EAGAIN: park and retry `call` until
 * it is done or fails otherwise. Returns from the enclosing hook. */
#define PARK_RETRY(fd, what, call)                                                                 \
    for (int64_t dl_ = 0;;) {                                                                      \
        int e_ = sock_wait((fd), (what), &dl_);                                                    \
        if (e_) {                                                                                  \
            errno = e_;                                                                            \
            return -1;                                                                             \
        }                                                                                          \
        ssize_t r_ = (call);                                                                       \
        if (r_ >= 0 || !again(errno))                                                              \
            return r_;                                                                             \
    }

/* Whether a first try with MSG_DONTWAIT is the answer to give. */
static bool done(ssize_t r, int flags)
{
    return r >= 0 || !again(errno) || (flags & MSG_DONTWAIT);
}

/* Regular files, directories and block devices are always "ready" but
 * block anyway: say so, once per kind of call. */
static void check_file(enum kind k, int fd)
{
    struct stat st;
    if (atomic_load_explicit(&logged[k], memory_order_relaxed) || fstat(fd, &st) < 0)
        return;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))
        blocks_hub(k, fd, S_ISREG(st.st_mode) ? "a regular file" : "a file");
}

/* A descriptor that is not a socket, before a blocking call: wait until
 * it is ready if it can be waited on. Ready already is the fast path (one
 * poll). Returns 0 to make the call, -1 with errno EINTR when the thread
 * was killed. */
static int file_wait(enum kind k, int fd, int what)
{
    if (is_quiet(fd))
        return 0;
    struct pollfd p = {.fd = fd, .events = what == GS_READ ? POLLIN : POLLOUT};
    int ready = REAL(poll)(&p, 1, 0);
    check_file(k, fd);
    if (ready != 0 || nonblocking(fd))
        return 0; /* libc's call will not block, or reports the error */
    int r = gs_wait_fd(fd, what, GS_FOREVER);
    if (r == -ECANCELED) {
        errno = EINTR;
        return -1;
    }
    if (r < 0)
        blocks_hub(k, fd, "not pollable");
    return 0;
}

/* ---- read and write ---- */

ssize_t read(int fd, void *buf, size_t n)
{
    if (!GREEN())
        return REAL(read)(fd, buf, n);
    ssize_t r = REAL(recv)(fd, buf, n, MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK)
        return file_wait(K_READ, fd, GS_READ) < 0 ? -1 : REAL(read)(fd, buf, n);
    if (done(r, 0))
        return r;
    PARK_RETRY(fd, GS_READ, REAL(recv)(fd, buf, n, MSG_DONTWAIT));
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (!GREEN())
        return REAL(write)(fd, buf, n);
    ssize_t r = REAL(send)(fd, buf, n, MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK)
        return file_wait(K_WRITE, fd, GS_WRITE) < 0 ? -1 : REAL(write)(fd, buf, n);
    if (done(r, 0))
        return r;
    PARK_RETRY(fd, GS_WRITE, REAL(send)(fd, buf, n, MSG_DONTWAIT));
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
    if (!GREEN())
        return REAL(readv)(fd, iov, n);
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t r = n < 0 ? (errno = EINVAL, -1) : REAL(recvmsg)(fd, &m, MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK)
        return file_wait(K_READV, fd, GS_READ) < 0 ? -1 : REAL(readv)(fd, iov, n);
    if (done(r, 0))
        return r;
    PARK_RETRY(fd, GS_READ, REAL(recvmsg)(fd, &m, MSG_DONTWAIT));
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    if (!GREEN())
        return REAL(writev)(fd, iov, n);
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t r = n < 0 ? (errno = EINVAL, -1) : REAL(sendmsg)(fd, &m, MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK)
        return file_wait(K_WRITEV, fd, GS_WRITE) < 0 ? -1 : REAL(writev)(fd, iov, n);
    if (done(r, 0))
        return r;
    PARK_RETRY(fd, GS_WRITE, REAL(sendmsg)(fd, &m, MSG_DONTWAIT));
}

/* ---- socket calls ---- */

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    if (!GREEN())
        return REAL(recv)(fd, buf, n, flags);
    ssize_t r = REAL(recv)(fd, buf, n, flags | MSG_DONTWAIT);
    if (done(r, flags))
        return r;
    PARK_RETRY(fd, GS_READ, REAL(recv)(fd, buf, n, flags | MSG_DONTWAIT));
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    if (!GREEN())
        return REAL(send)(fd, buf, n, flags);
    ssize_t r = REAL(send)(fd, buf, n, flags | MSG_DONTWAIT);
    if (done(r, flags))
        return r;
    PARK_RETRY(fd, GS_WRITE, REAL(send)(fd, buf, n, flags | MSG_DONTWAIT));
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, __SOCKADDR_ARG a, socklen_t *alen)
{
    if (!GREEN())
        return REAL(recvfrom)(fd, buf, n, flags, a, alen);
    ssize_t r = REAL(recvfrom)(fd, buf, n, flags | MSG_DONTWAIT, a, alen);
    if (done(r, flags))
        return r;
    PARK_RETRY(fd, GS_READ, REAL(recvfrom)(fd, buf, n, flags | MSG_DONTWAIT, a, alen));
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, __CONST_SOCKADDR_ARG a, socklen_t alen)
{
    if (!GREEN())
        return REAL(sendto)(fd, buf, n, flags, a, alen);
    ssize_t r = REAL(sendto)(fd, buf, n, flags | MSG_DONTWAIT, a, alen);
    if (done(r, flags))
        return r;
    PARK_RETRY(fd, GS_WRITE, REAL(sendto)(fd, buf, n, flags | MSG_DONTWAIT, a, alen));
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    if (!GREEN())
        return REAL(recvmsg)(fd, m, flags);
    ssize_t r = REAL(recvmsg)(fd, m, flags | MSG_DONTWAIT);
    if (done(r, flags))
        return r;
    PARK_RETRY(fd, GS_READ, REAL(recvmsg)(fd, m, flags | MSG_DONTWAIT));
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    if (!GREEN())
        return REAL(sendmsg)(fd, m, flags);
    ssize_t r = REAL(sendmsg)(fd, m, flags | MSG_DONTWAIT);
    if (done(r, flags))
        return r;
    PARK_RETRY(fd, GS_WRITE, REAL(sendmsg)(fd, m, flags | MSG_DONTWAIT));
}

/* connect on a blocking socket: non-blocking for the call, then wait for
 * the outcome. As libc, SO_SNDTIMEO expiring gives EINPROGRESS. */
static int green_connect(int fd, __CONST_SOCKADDR_ARG a, socklen_t alen, int fl)
{
    if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return REAL(connect)(fd, a, alen);
    int r = REAL(connect)(fd, a, alen), e = errno;
    fcntl(fd, F_SETFL, fl);
    if (r == 0 || e != EINPROGRESS) {
        errno = e;
        return r;
    }
    int w = rt_io_wait(fd, GS_WRITE, sock_timeout(fd, GS_WRITE));
    int err = w == -ETIMEDOUT ? EINPROGRESS : w == -ECANCELED ? EINTR : w < 0 ? -w : 0;
    socklen_t len = sizeof err;
    if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    errno = err;
    return err ? -1 : 0;
}

int connect(int fd, __CONST_SOCKADDR_ARG a, socklen_t alen)
{
    if (!GREEN())
        return REAL(connect)(fd, a, alen);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK))
        return REAL(connect)(fd, a, alen);
    return green_connect(fd, a, alen, fl);
}

/* One accept4 with the listener non-blocking just for the call. */
static int accept_once(int fd, __SOCKADDR_ARG a, socklen_t *alen, int flags, int fl)
{
    if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return REAL(accept4)(fd, a, alen, flags);
    int r = REAL(accept4)(fd, a, alen, flags), e = errno;
    fcntl(fd, F_SETFL, fl);
    errno = e;
    return r;
}

int accept4(int fd, __SOCKADDR_ARG a, socklen_t *alen, int flags)
{
    if (!GREEN())
        return REAL(accept4)(fd, a, alen, flags);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK))
        return REAL(accept4)(fd, a, alen, flags);
    int r = accept_once(fd, a, alen, flags, fl);
    if (r >= 0 || !again(errno))
        return r;
    PARK_RETRY(fd, GS_READ, accept_once(fd, a, alen, flags, fl));
}

int accept(int fd, __SOCKADDR_ARG a, socklen_t *alen)
{
    if (!GREEN())
        return REAL(accept)(fd, a, alen);
    return accept4(fd, a, alen, 0);
}

/* ---- poll and select ---- */

/* An epoll set of fds, level-triggered: readable once any of them is
 * ready, so one gs_wait_fd waits for them all. -1 if one cannot join. */
static int epoll_of(const struct pollfd *fds, nfds_t n)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (nfds_t i = 0; ep >= 0 && i < n; i++) {
        if (fds[i].fd < 0)
            continue;
        /* POLL* and EPOLL* bits have the same values. */
        struct epoll_event ev = {.events = (uint32_t)fds[i].events, .data.fd = fds[i].fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &ev) < 0 && errno != EEXIST) {
            REAL(close)(ep);
            ep = -1;
        }
    }
    return ep;
}

static int64_t ms_left(int64_t deadline)
{
    if (deadline < 0)
        return GS_FOREVER;
    int64_t left = deadline - gs_now_ms();
    return left > 0 ? left : 0;
}

/* poll once nothing was ready: park on an epoll set of the fds. */
static int green_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    int64_t deadline = timeout < 0 ? -1 : gs_now_ms() + timeout;
    int ep = epoll_of(fds, n);
    if (ep < 0) {
        blocks_hub(K_POLL, fds[0].fd, "not pollable by epoll");
        return REAL(poll)(fds, n, timeout < 0 ? -1 : (int)ms_left(deadline));
    }
    int r;
    for (;;) {
        int64_t left = ms_left(deadline);
        int w = left == 0 ? -ETIMEDOUT : gs_wait_fd(ep, GS_READ, left);
        if (w == -ETIMEDOUT || w == -ECANCELED || w == -EBADF) {
            r = w == -ETIMEDOUT ? 0 : (errno = EINTR, -1);
            break;
        }
        r = REAL(poll)(fds, n, 0);
        if (r != 0)
            break;
    }
    int e = errno;
    rt_io_forget(ep);
    REAL(close)(ep);
    errno = e;
    return r;
}

/* poll of no descriptor: a sleep. */
static int poll_nothing(int timeout)
{
    if (gs_sleep(timeout) != -ECANCELED)
        return 0;
    errno = EINTR;
    return -1;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (!GREEN() || timeout == 0 || (n == 0 && timeout < 0))
        return REAL(poll)(fds, n, timeout);
    if (n == 0)
        return poll_nothing(timeout);
    int r = REAL(poll)(fds, n, 0);
    return r != 0 ? r : green_poll(fds, n, timeout);
}

/* The fds of select's sets as a poll array of n entries; NULL if none. */
static struct pollfd *pollfds_of(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, nfds_t *n)
{
    struct pollfd *p = calloc((size_t)nfds + 1, sizeof *p);
    *n = 0;
    for (int fd = 0; p && fd < nfds; fd++) {
        short ev =
            (short)((rd && FD_ISSET(fd, rd) ? POLLIN : 0) | (wr && FD_ISSET(fd, wr) ? POLLOUT : 0) |
                    (ex && FD_ISSET(fd, ex) ? POLLPRI : 0));
        if (ev)
            p[(*n)++] = (struct pollfd){.fd = fd, .events = ev};
    }
    return p;
}

int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    if (!GREEN() || (tv && tv->tv_sec == 0 && tv->tv_usec == 0) || nfds <= 0 || nfds > FD_SETSIZE)
        return REAL(select)(nfds, rd, wr, ex, tv);
    int64_t start = gs_now_ms();
    int timeout = tv ? (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000) : -1;
    nfds_t n;
    struct pollfd *p = pollfds_of(nfds, rd, wr, ex, &n);
    if (!p)
        return REAL(select)(nfds, rd, wr, ex, tv);
    int r = poll(p, n, timeout);
    free(p);
    if (r < 0)
        return -1;
    struct timeval zero = {0};
    r = REAL(select)(nfds, rd, wr, ex, &zero);
    if (tv) { /* Linux leaves the time not slept */
        int64_t left = timeout - (gs_now_ms() - start);
        left = left > 0 ? left : 0;
        *tv = (struct timeval){.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
    }
    return r;
}

/* ---- sleeping ---- */

/* Sleep ns on the hub; *left_ns gets what was not slept. 0 or EINTR. */
static int green_sleep(int64_t ns, int64_t *left_ns)
{
    int64_t start = gs_now_ms(), ms = (ns + 999999) / 1000000;
    int r = gs_sleep(ms);
    int64_t left = ms - (gs_now_ms() - start);
    *left_ns = r == -ECANCELED && left > 0 ? left * 1000000 : 0;
    return r == -ECANCELED ? EINTR : 0;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (!GREEN())
        return REAL(nanosleep)(req, rem);
    if (req->tv_nsec < 0 || req->tv_nsec > 999999999 || req->tv_sec < 0) {
        errno = EINVAL;
        return -1;
    }
    int64_t left;
    int e = green_sleep((int64_t)req->tv_sec * 1000000000 + req->tv_nsec, &left);
    if (!e)
        return 0;
    if (rem)
        *rem = (struct timespec){.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
    errno = e;
    return -1;
}

int usleep(useconds_t us)
{
    if (!GREEN())
        return REAL(usleep)(us);
    int64_t left;
    int e = green_sleep((int64_t)us * 1000, &left);
    if (e)
        errno = e;
    return e ? -1 : 0;
}

unsigned sleep(unsigned s)
{
    if (!GREEN())
        return REAL(sleep)(s);
    int64_t left;
    green_sleep((int64_t)s * 1000000000, &left);
    return (unsigned)((left + 999999999) / 1000000000);
}

/* ---- name resolution, on the thread pool ---- */

typedef struct gai_job {
    const char *node, *service;
    const struct addrinfo *hints;
    struct addrinfo **res;
    int ret, err;
} gai_job;

static void *gai_run(void *arg)
{
    gai_job *j = arg;
    j->ret = REAL(getaddrinfo)(j->node, j->service, j->hints, j->res);
    j->err = errno;
    return NULL;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    if (!GREEN())
        return REAL(getaddrinfo)(node, service, hints, res);
    gai_job j = {node, service, hints, res, 0, 0};
    int r = gs_offload(gai_run, &j, NULL);
    if (r < 0 && r != -ECANCELED)
        return REAL(getaddrinfo)(node, service, hints, res);
    errno = j.err;
    return j.ret;
}

/* ---- close ---- */

/* A descriptor a hook waited on is in this hub's table: forget it, so a
 * later descriptor with the same number is not taken for it. */
int close(int fd)
{
    if (__builtin_expect(enabled, 0) && rt_hub_peek())
        rt_io_forget(fd);
    return REAL(close)(fd);
}
