/*
 * handoff.c -- passing connections between sibling workers. See
 * handoff.h for the protocol.
 */
#include "server/handoff.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/log.h"
#include "server/kin.h"

/* A record's state: its head plus a request head and unparsed input; a
 * bigger one is not handed (the connection falls back to a drain). */
#define STATE_MAX (256 * 1024)
#define SNDBUF    (4 * 1024 * 1024)
/* A receiver that reads a record later than this after it was sent
 * refuses it: the sender gives up waiting ACK_MARGIN_MS after that. */
#define REC_TTL_MS    2000
#define ACK_MARGIN_MS 1000

/* The layout of both ends must match: one executable, or a refusal. */
#define MAGIC (0x47480000u | (uint32_t)sizeof(http_handoff) << 8 | 1u)

typedef struct rec_head {
    uint32_t magic;
    uint16_t seq, count; /* this record's place in its batch, the batch's size */
    uint32_t size;       /* the state: sizeof(http_handoff) + its len */
    int64_t deadline_ms; /* srv_clock_ms() past which the record is refused */
} rec_head;

typedef struct ack {
    uint32_t magic;
    uint32_t count;
    uint64_t taken; /* bit i: record i of the batch was taken */
} ack;

_Static_assert(SRV_HANDOFF_BATCH <= 64, "a batch's answer is one 64-bit mask");

/* ---- who ---- */

/* The process at the other end of sock, if it is a child of our master. */
static pid_t sibling(int sock)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return -1;
    return cr.pid != getpid() && srv_kin_parent(cr.pid) == getppid() ? cr.pid : -1;
}

size_t srv_handoff_targets(const srv_slot *slots, const srv_slot *self, pid_t *pids, size_t max)
{
    unsigned newest = 0;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (const srv_slot *s = slots; s < slots + SRV_SLOTS; s++) {
            if (s == self || s->pid <= 0 || atomic_load(&s->state) != SRV_SLOT_READY)
                continue;
            if (pass == 0 && s->generation > newest)
                newest = s->generation;
            else if (pass == 1 && s->generation == newest && n < max)
                pids[n++] = s->pid;
        }
    }
    return n;
}

/* ---- sending ---- */

/* Wait for what on sock until deadline (srv_clock_ms). ppoll, not poll:
 * --green-libc would make poll park the green thread, letting the hub run
 * a connection that is in flight. 0 or -ETIMEDOUT / -errno. */
static int await(int sock, short what, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - srv_clock_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = sock, .events = what};
        struct timespec ts = {left / 1000, (left % 1000) * 1000000};
        int r = ppoll(&p, 1, &ts, NULL);
        if (r > 0)
            return (p.revents & (POLLERR | POLLNVAL)) ? -EPIPE : 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

int srv_handoff_connect(pid_t pid)
{
    int fd = srv_kin_connect("handoff", pid, SOCK_SEQPACKET);
    if (fd < 0)
        return fd;
    if (sibling(fd) != pid) {
        close(fd);
        return -EPERM; /* someone else holds the name */
    }
    int size = SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)); /* capped: fine */
    return fd;
}

static int send_one(int sock, int fd, const rec_head *h, const http_handoff *state)
{
    union {
        struct cmsghdr c;
        char room[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov[2] = {{(void *)h, sizeof(*h)}, {(void *)state, h->size}};
    struct msghdr m = {
        .msg_iov = iov, .msg_iovlen = 2, .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    for (;;) {
        if (sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int e = await(sock, POLLOUT, h->deadline_ms);
        if (e < 0)
            return e;
    }
}

static int await_ack(int sock, size_t n, int64_t deadline, bool *taken)
{
    ack a;
    for (;;) {
        ssize_t got = recv(sock, &a, sizeof(a), MSG_DONTWAIT);
        if (got == (ssize_t)sizeof(a))
            break;
        if (got >= 0)
            return -EPROTO; /* EOF or a short answer: the peer is gone */
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int e = await(sock, POLLIN, deadline);
        if (e < 0)
            return e;
    }
    if (a.magic != MAGIC || a.count != n)
        return -EPROTO;
    int count = 0;
    for (size_t i = 0; i < n; i++)
        count += taken[i] = (a.taken >> i) & 1;
    return count;
}

int srv_handoff_send(int sock, const int *fds, http_handoff *const *states, size_t n,
                     int64_t timeout_ms, bool *taken)
{
    if (n == 0 || n > SRV_HANDOFF_BATCH)
        return -EINVAL;
    memset(taken, 0, n * sizeof(*taken));
    int64_t ttl = timeout_ms < REC_TTL_MS ? timeout_ms : REC_TTL_MS;
    rec_head h = {.magic = MAGIC, .count = (uint16_t)n, .deadline_ms = srv_clock_ms() + ttl};
    for (size_t i = 0; i < n; i++) {
        h.seq = (uint16_t)i;
        h.size = (uint32_t)(sizeof(http_handoff) + states[i]->len);
        int e = h.size > STATE_MAX ? -EMSGSIZE : send_one(sock, fds[i], &h, states[i]);
        if (e < 0)
            return e; /* the batch is incomplete: the receiver takes none of it */
    }
    return await_ack(sock, n, h.deadline_ms + ACK_MARGIN_MS, taken);
}

/* ---- receiving ---- */

typedef struct peer {
    srv_handoff_server *srv;
    int sock;
    pid_t pid;
    char *buf; /* one record */
    int fds[SRV_HANDOFF_BATCH];
    http_handoff *states[SRV_HANDOFF_BATCH];
    size_t have; /* records of the current batch received */
} peer;

static void drop_batch(peer *p)
{
    for (size_t i = 0; i < p->have; i++) {
        close(p->fds[i]);
        free(p->states[i]);
    }
    p->have = 0;
}

/* The batch is whole: take it (if still in time) and answer. */
static void commit(peer *p, int64_t deadline)
{
    ack a = {.magic = MAGIC, .count = (uint32_t)p->have};
    bool in_time = srv_clock_ms() < deadline;
    for (size_t i = 0; i < p->have; i++) {
        if (in_time && p->srv->take(p->srv->arg, p->fds[i], p->states[i])) {
            a.taken |= 1ull << i;
            continue;
        }
        close(p->fds[i]);
        free(p->states[i]);
    }
    p->have = 0;
    /* No switch between the deadline check and this send: the sender is
     * still waiting for it (ACK_MARGIN_MS). A full socket cannot be: the
     * sender reads each answer before sending more. */
    send(p->sock, &a, sizeof(a), MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int received_fd(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int fd;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        for (size_t i = 1; i < n; i++) { /* one per record: more is a broken peer */
            int extra;
            memcpy(&extra, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            close(extra);
        }
        return n ? fd : -1;
    }
    return -1;
}

/* Check a record and keep it in the batch. -EPROTO: a broken peer. */
static int keep(peer *p, const rec_head *h, ssize_t got, int fd)
{
    http_handoff *st = NULL;
    if (got < (ssize_t)sizeof(*h) || h->magic != MAGIC || h->size < sizeof(http_handoff) ||
        (size_t)got != sizeof(*h) + h->size || h->count == 0 || h->count > SRV_HANDOFF_BATCH ||
        h->seq != p->have || fd < 0 || !(st = malloc(h->size))) {
        if (fd >= 0)
            close(fd);
        return -EPROTO;
    }
    memcpy(st, p->buf + sizeof(*h), h->size);
    if (sizeof(http_handoff) + st->len != h->size) {
        close(fd);
        free(st);
        return -EPROTO;
    }
    p->fds[p->have] = fd;
    p->states[p->have++] = st;
    if (p->have == h->count)
        commit(p, h->deadline_ms);
    return 0;
}

/* One record, or -EAGAIN, or the end of the peer (0 / -errno). */
static int receive(peer *p)
{
    union {
        struct cmsghdr c;
        char room[CMSG_SPACE(sizeof(int) * 4)];
    } ctl;
    struct iovec iov = {p->buf, sizeof(rec_head) + STATE_MAX};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
    ssize_t got = recvmsg(p->sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got <= 0)
        return got == 0 ? 0 : -errno;
    int fd = received_fd(&m);
    if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        if (fd >= 0)
            close(fd);
        /* A descriptor dropped on the way in: we have no room for more. */
        return m.msg_flags & MSG_CTRUNC ? -EMFILE : -EPROTO;
    }
    rec_head h;
    memcpy(&h, p->buf, got < (ssize_t)sizeof(h) ? 0 : sizeof(h));
    return keep(p, &h, got, fd) < 0 ? -EPROTO : 1;
}

static void *serve_peer(void *arg)
{
    peer *p = arg;
    int r;
    while ((r = receive(p)) != 0) {
        if (r == -EAGAIN && gs_wait_fd(p->sock, GS_READ, GS_FOREVER) < 0)
            break; /* killed */
        if (r == -EPROTO || r == -EMFILE)
            rt_log("handoff: worker %d: %s: dropping its connection (it keeps what it sent)",
                   (int)p->pid, r == -EPROTO ? "a bad record" : "no descriptor left here");
        if (r < 0 && r != -EAGAIN && r != -EINTR)
            break;
    }
    drop_batch(p); /* an incomplete batch stays the sender's */
    gs_close(p->sock);
    free(p->buf);
    free(p);
    return NULL;
}

static void start_peer(srv_handoff_server *srv, int sock)
{
    pid_t pid = sibling(sock);
    peer *p = pid > 0 ? calloc(1, sizeof(*p)) : NULL;
    if (p)
        *p = (peer){
            .srv = srv, .sock = sock, .pid = pid, .buf = malloc(sizeof(rec_head) + STATE_MAX)};
    if (!p || !p->buf || gs_spawn_n(serve_peer, p) < 0) {
        if (p)
            free(p->buf);
        free(p);
        close(sock);
    }
}

int srv_handoff_listen(void)
{
    return srv_kin_listen("handoff", SOCK_SEQPACKET, 64);
}

void *srv_handoff_serve(void *arg)
{
    srv_handoff_server *srv = arg;
    for (;;) {
        int sock = gs_accept(srv->lfd, NULL, NULL, GS_FOREVER);
        if (sock == -ECANCELED)
            break;
        if (sock >= 0)
            start_peer(srv, sock);
        else
            gs_sleep(100); /* out of descriptors: the sender falls back meanwhile */
    }
    gs_close(srv->lfd);
    return NULL;
}
