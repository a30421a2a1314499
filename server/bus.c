/*
 * bus.c -- the master's relay between its workers, and each worker's
 * end of it. See bus.h for the protocol.
 */
#include "server/bus.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/chan.h"
#include "runtime/hub.h"
#include "runtime/log.h"
#include "server/kin.h"
#include "server/redis_bus.h"

#define BUS_HISTORY   1024               /* per channel: runtime/chan.c's default ring */
#define BUS_HIST_MAX  (1024 * 1024)      /* payload bytes kept per channel */
#define BUS_OUT_LIMIT (8 * 1024 * 1024)  /* queued for one worker past its replay */
#define BUS_FRAME_MAX (16 * 1024 * 1024) /* a longer frame is a broken peer */
#define HEAD_LEN      (4 + 1 + 8 + 8 + 2)
#define NAME_MAX_LEN  255
#define BUCKETS       4096
#define RECONNECT_MS  200

/* ---- frames ---- */

typedef struct frame {
    char type;
    uint64_t a, b;
    const char *name; /* NUL-terminated copy in the caller's buffer */
    const char *data;
    size_t nlen, len;
} frame;

static int frame_add(struct evbuffer *out, char type, uint64_t a, uint64_t b, const char *name,
                     size_t nlen, const void *data, size_t len)
{
    char head[HEAD_LEN];
    uint32_t total = (uint32_t)(HEAD_LEN - 4 + nlen + len);
    uint16_t n16 = (uint16_t)nlen;
    memcpy(head, &total, 4);
    head[4] = type;
    memcpy(head + 5, &a, 8);
    memcpy(head + 13, &b, 8);
    memcpy(head + 21, &n16, 2);
    if (evbuffer_add(out, head, sizeof(head)) < 0 || evbuffer_add(out, name, nlen) < 0 ||
        evbuffer_add(out, data, len) < 0)
        return -ENOMEM;
    return 0;
}

/* The next whole frame of in into f (pointing into in, valid until the
 * caller drains *used bytes): 1, 0 when incomplete, -EPROTO. */
static int frame_next(struct evbuffer *in, frame *f, size_t *used, char *name)
{
    uint32_t total;
    size_t have = evbuffer_get_length(in);
    if (have < 4)
        return 0;
    evbuffer_copyout(in, &total, 4);
    if (total < HEAD_LEN - 4 || total > BUS_FRAME_MAX)
        return -EPROTO;
    if (have < 4 + (size_t)total)
        return 0;
    const char *p = (const char *)evbuffer_pullup(in, 4 + (ssize_t)total);
    uint16_t n16;
    f->type = p[4];
    memcpy(&f->a, p + 5, 8);
    memcpy(&f->b, p + 13, 8);
    memcpy(&n16, p + 21, 2);
    if (n16 > NAME_MAX_LEN || n16 > total - (HEAD_LEN - 4))
        return -EPROTO;
    memcpy(name, p + HEAD_LEN, n16);
    name[n16] = '\0';
    f->name = name;
    f->nlen = n16;
    f->data = p + HEAD_LEN + n16;
    f->len = total - (HEAD_LEN - 4) - n16;
    *used = 4 + (size_t)total;
    return 1;
}

/* ======================= the master ======================= */

typedef struct hmsg {
    uint64_t id;
    size_t len;
    char data[];
} hmsg;

typedef struct bchan {
    struct bchan *next;
    uint64_t last; /* the newest id given */
    hmsg *ring[BUS_HISTORY];
    size_t head, len, bytes;
    size_t nlen;
    char name[];
} bchan;

typedef struct peer {
    struct peer *prev, *next;
    int fd; /* -1 once closed */
    pid_t pid;
    struct evbuffer *in, *out;
    size_t limit;  /* BUS_OUT_LIMIT past what the replay queued */
    bool want_out; /* EPOLLOUT registered */
} peer;

struct srv_bus {
    int lfd, epfd;
    peer *peers;
    peer *dead; /* closed during this srv_bus_run: freed at its end */
    bchan *buckets[BUCKETS];
    uint64_t last_id; /* the highest id given by this master */
    srv_redis *redis; /* NULL: embedded */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bchan *chan_get(srv_bus *b, const char *name, size_t n)
{
    bchan **slot = &b->buckets[hash_name(name, n) % BUCKETS];
    for (bchan *c = *slot; c; c = c->next)
        if (c->nlen == n && memcmp(c->name, name, n) == 0)
            return c;
    bchan *c = calloc(1, sizeof(*c) + n + 1);
    if (!c)
        return NULL;
    memcpy(c->name, name, n);
    c->nlen = n;
    c->next = *slot;
    *slot = c;
    return c;
}

/* The same rule as runtime/chan.c: a channel starts at the clock. */
static uint64_t next_id(srv_bus *b, bchan *c)
{
    uint64_t id = c->last ? c->last + 1 : now_us();
    if (!c->last && id <= b->last_id)
        id = b->last_id + 1;
    return id;
}

static void hist_drop_oldest(bchan *c)
{
    hmsg *m = c->ring[c->head];
    c->bytes -= m->len;
    free(m);
    c->head = (c->head + 1) % BUS_HISTORY;
    c->len--;
}

static void hist_add(bchan *c, uint64_t id, const char *data, size_t len)
{
    hmsg *m = malloc(sizeof(*m) + len);
    if (!m)
        return; /* history is a courtesy: the message still goes out */
    m->id = id;
    m->len = len;
    memcpy(m->data, data, len);
    if (c->len == BUS_HISTORY)
        hist_drop_oldest(c);
    c->ring[(c->head + c->len) % BUS_HISTORY] = m;
    c->len++;
    c->bytes += len;
    while (c->len > 1 && c->bytes > BUS_HIST_MAX)
        hist_drop_oldest(c);
}

/* ---- peers ---- */

/* Closed and unlinked now, freed only by reap: a caller up the stack
 * may still hold p, the publish being delivered (in p->in), or an epoll
 * event of this round naming p, when a delivery drops a worker that
 * stopped reading (the publisher itself, maybe). */
static void peer_close(srv_bus *b, peer *p)
{
    epoll_ctl(b->epfd, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    p->fd = -1;
    if (p->prev)
        p->prev->next = p->next;
    else
        b->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = b->dead;
    b->dead = p;
}

static void reap(srv_bus *b)
{
    while (b->dead) {
        peer *p = b->dead;
        b->dead = p->next;
        if (p->in)
            evbuffer_free(p->in);
        if (p->out)
            evbuffer_free(p->out);
        free(p);
    }
}

static void peer_want_out(srv_bus *b, peer *p, bool want)
{
    if (p->want_out == want)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = p};
    epoll_ctl(b->epfd, EPOLL_CTL_MOD, p->fd, &ev);
    p->want_out = want;
}

/* Write what fits. -1 when the peer is gone (closed). */
static int peer_flush(srv_bus *b, peer *p)
{
    while (evbuffer_get_length(p->out)) {
        int n = evbuffer_write(p->out, p->fd);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        peer_close(b, p);
        return -1;
    }
    peer_want_out(b, p, evbuffer_get_length(p->out) > 0);
    return 0;
}

/* Queue a message for p, dropping p when it stopped reading. */
static void peer_send_msg(srv_bus *b, peer *p, const char *name, size_t nlen, uint64_t id,
                          const char *data, size_t len)
{
    if (evbuffer_get_length(p->out) > p->limit) {
        rt_log("bus: worker %d is not reading (%zu bytes queued): dropping its connection",
               (int)p->pid, evbuffer_get_length(p->out));
        peer_close(b, p);
        return;
    }
    frame_add(p->out, 'M', id, 0, name, nlen, data, len);
}

static void replay(srv_bus *b, peer *p)
{
    for (size_t i = 0; i < BUCKETS; i++)
        for (bchan *c = b->buckets[i]; c; c = c->next)
            for (size_t k = 0; k < c->len; k++) {
                hmsg *m = c->ring[(c->head + k) % BUS_HISTORY];
                frame_add(p->out, 'M', m->id, 0, c->name, c->nlen, m->data, m->len);
            }
    p->limit = evbuffer_get_length(p->out) + BUS_OUT_LIMIT;
}

static void accept_peer(srv_bus *b)
{
    int fd;
    while ((fd = accept4(b->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        /* Only the master's own children may publish: the abstract socket
         * is reachable by anyone on the host. */
        struct ucred cr;
        socklen_t cl = sizeof(cr);
        peer *p = calloc(1, sizeof(*p));
        if (!p || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
            srv_kin_parent(cr.pid) != getpid()) {
            free(p);
            close(fd);
            continue;
        }
        *p = (peer){.fd = fd, .pid = cr.pid, .in = evbuffer_new(), .out = evbuffer_new()};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
        p->next = b->peers;
        if (b->peers)
            b->peers->prev = p;
        b->peers = p;
        if (!p->in || !p->out || epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            peer_close(b, p);
            continue;
        }
        replay(b, p);
        peer_flush(b, p);
    }
}

/* ---- messages ---- */

void srv_bus_deliver(srv_bus *b, const char *name, uint64_t id, const char *data, size_t len)
{
    size_t nlen = strlen(name);
    bchan *c = chan_get(b, name, nlen);
    if (!c || id <= c->last)
        return; /* a duplicate (Redis replay after a reconnect) */
    c->last = id;
    if (id > b->last_id)
        b->last_id = id;
    hist_add(c, id, data, len);
    for (peer *p = b->peers, *next; p; p = next) {
        next = p->next;
        peer_send_msg(b, p, c->name, c->nlen, id, data, len);
    }
}

/* Find the peer still connected as fd/pid (it may have gone). */
static peer *peer_find(srv_bus *b, int fd, pid_t pid)
{
    for (peer *p = b->peers; p; p = p->next)
        if (p->fd == fd && p->pid == pid)
            return p;
    return NULL;
}

void srv_bus_answer(srv_bus *b, int fd, pid_t pid, uint64_t token, int64_t id_or_err)
{
    peer *p = peer_find(b, fd, pid);
    if (p && token)
        frame_add(p->out, 'A', token, (uint64_t)id_or_err, NULL, 0, NULL, 0);
}

static void on_publish(srv_bus *b, peer *p, const frame *f)
{
    if (b->redis) {
        int r = srv_redis_publish(b->redis, f->name, f->data, f->len, p->fd, p->pid, f->a);
        if (r < 0)
            srv_bus_answer(b, p->fd, p->pid, f->a, r);
        return;
    }
    bchan *c = f->nlen ? chan_get(b, f->name, f->nlen) : NULL;
    if (!c) {
        srv_bus_answer(b, p->fd, p->pid, f->a, f->nlen ? -ENOMEM : -EINVAL);
        return;
    }
    uint64_t id = next_id(b, c);
    int fd = p->fd;
    pid_t pid = p->pid;
    srv_bus_deliver(b, f->name, id, f->data, f->len); /* may drop p */
    srv_bus_answer(b, fd, pid, f->a, (int64_t)id);
}

/* Read and handle p's frames. -1 when p is gone. */
static int peer_read(srv_bus *b, peer *p)
{
    for (;;) {
        int n = evbuffer_read(p->in, p->fd, 65536);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            peer_close(b, p);
            return -1;
        }
        if (n < 0)
            break;
    }
    frame f;
    size_t used;
    char name[NAME_MAX_LEN + 1];
    int fd = p->fd;
    pid_t pid = p->pid;
    int r;
    while ((r = frame_next(p->in, &f, &used, name)) > 0) {
        if (f.type == 'P')
            on_publish(b, p, &f);
        if (!(p = peer_find(b, fd, pid)))
            return -1;
        evbuffer_drain(p->in, used);
    }
    if (r < 0) {
        rt_log("bus: worker %d sent a bad frame: dropping its connection", (int)pid);
        peer_close(b, p);
        return -1;
    }
    return 0;
}

static void flush_all(srv_bus *b)
{
    for (peer *p = b->peers, *next; p; p = next) {
        next = p->next;
        if (evbuffer_get_length(p->out))
            peer_flush(b, p);
    }
}

void srv_bus_run(srv_bus *b)
{
    if (!b)
        return;
    struct epoll_event ev[64];
    int n = epoll_wait(b->epfd, ev, 64, 0);
    for (int i = 0; i < n; i++) {
        void *tag = ev[i].data.ptr;
        if (tag == b)
            accept_peer(b);
        else if (b->redis && srv_redis_io(b->redis, tag, ev[i].events))
            continue;
        else if (((peer *)tag)->fd >= 0 && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            peer_read(b, tag); /* EPOLLOUT is served by flush_all */
    }
    if (b->redis)
        srv_redis_tick(b->redis);
    flush_all(b);
    reap(b);
}

void srv_bus_each_channel(srv_bus *b, void (*fn)(void *arg, const char *name), void *arg)
{
    for (size_t i = 0; i < BUCKETS; i++)
        for (bchan *c = b->buckets[i]; c; c = c->next)
            fn(arg, c->name);
}

int srv_bus_fd(const srv_bus *b)
{
    return b ? b->epfd : -1;
}

int srv_bus_epoll(const srv_bus *b)
{
    return b->epfd;
}

const char *srv_bus_kind(const srv_bus *b)
{
    return b && b->redis ? "redis" : "embedded";
}

const char *srv_bus_state(const srv_bus *b)
{
    if (!b)
        return "off";
    return b->redis ? srv_redis_state(b->redis) : "connected";
}

unsigned srv_bus_workers(const srv_bus *b)
{
    unsigned n = 0;
    for (const peer *p = b ? b->peers : NULL; p; p = p->next)
        n++;
    return n;
}

static int listen_bus(srv_bus *b)
{
    int fd = srv_kin_listen("bus", SOCK_STREAM, 512);
    if (fd < 0)
        return fd;
    b->lfd = fd;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = b};
    if (b->epfd < 0 || epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->lfd, &ev) < 0)
        return -errno;
    return 0;
}

srv_bus *srv_bus_open(const char *url)
{
    srv_bus *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->lfd = b->epfd = -1;
    int err = listen_bus(b);
    if (!err && url && strcmp(url, "embedded") != 0 && !(b->redis = srv_redis_open(b, url)))
        err = -errno;
    if (err) {
        srv_bus_close(b);
        errno = -err;
        return NULL;
    }
    return b;
}

void srv_bus_close(srv_bus *b)
{
    if (!b)
        return;
    srv_redis_close(b->redis);
    while (b->peers)
        peer_close(b, b->peers);
    reap(b);
    for (size_t i = 0; i < BUCKETS; i++)
        for (bchan *c = b->buckets[i], *next; c; c = next) {
            next = c->next;
            while (c->len)
                hist_drop_oldest(c);
            free(c);
        }
    if (b->lfd >= 0)
        close(b->lfd);
    if (b->epfd >= 0)
        close(b->epfd);
    free(b);
}

/* ======================= a worker ======================= */

/* One per worker process, on its hub: a worker has one master. */
static struct wside {
    pid_t master;
    int fd;
    struct event *rd, *wr, *retry;
    struct evbuffer *in, *out;
    bool up;
} ws = {.fd = -1};

static int ws_publish(void *ctx, uint64_t token, const char *name, const void *data, size_t len);
static const rt_chan_bus ws_ops = {.publish = ws_publish};

int srv_bus_child_connect(pid_t master)
{
    ws.master = master;
    ws.fd = srv_kin_connect("bus", master, SOCK_STREAM);
    return ws.fd;
}

int srv_bus_child_fd(void)
{
    return ws.fd;
}

static void ws_down(const char *why)
{
    if (!ws.up)
        return;
    rt_log("bus: lost the master (%s): reconnecting", why);
    event_del(ws.rd);
    event_del(ws.wr);
    close(ws.fd);
    ws.fd = -1;
    ws.up = false;
    evbuffer_drain(ws.in, evbuffer_get_length(ws.in));
    evbuffer_drain(ws.out, evbuffer_get_length(ws.out));
    rt_chan_set_bus(&ws_ops, NULL); /* publishes waiting for an id end */
    struct timeval tv = {0, RECONNECT_MS * 1000};
    evtimer_add(ws.retry, &tv);
}

static void ws_flush(void)
{
    while (ws.up && evbuffer_get_length(ws.out)) {
        int n = evbuffer_write(ws.out, ws.fd);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            event_add(ws.wr, NULL);
            return;
        }
        ws_down("write failed");
        return;
    }
}

static void ws_frame(const frame *f)
{
    if (f->type == 'M')
        rt_chan_deliver(f->name, f->a, f->data, f->len);
    else if (f->type == 'A')
        rt_chan_published(f->a, (int64_t)f->b);
}

static void on_ws_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what, (void)arg;
    int n;
    while ((n = evbuffer_read(ws.in, fd, 65536)) > 0)
        ;
    frame f;
    size_t used;
    char name[NAME_MAX_LEN + 1];
    int r;
    while ((r = frame_next(ws.in, &f, &used, name)) > 0) {
        ws_frame(&f);
        evbuffer_drain(ws.in, used);
    }
    if (r < 0)
        ws_down("bad frame");
    else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        ws_down("connection closed");
}

static void on_ws_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    ws_flush();
}

static int ws_up(void)
{
    event_assign(ws.rd, gs_hub_base(), ws.fd, EV_READ | EV_PERSIST, on_ws_read, NULL);
    event_assign(ws.wr, gs_hub_base(), ws.fd, EV_WRITE, on_ws_write, NULL);
    if (event_add(ws.rd, NULL) < 0)
        return -ENOMEM;
    ws.up = true;
    return 0;
}

static void on_ws_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    ws.fd = srv_kin_connect("bus", ws.master, SOCK_STREAM);
    if (ws.fd >= 0 && ws_up() == 0) {
        rt_log("bus: connected to the master again");
        return;
    }
    if (ws.fd >= 0)
        close(ws.fd), ws.fd = -1;
    struct timeval tv = {0, RECONNECT_MS * 1000};
    evtimer_add(ws.retry, &tv);
}

static int ws_publish(void *ctx, uint64_t token, const char *name, const void *data, size_t len)
{
    (void)ctx;
    if (!ws.up)
        return -ENOTCONN;
    if (frame_add(ws.out, 'P', token, 0, name, strlen(name), data, len) < 0)
        return -ENOMEM;
    ws_flush();
    return ws.up ? 0 : -ENOTCONN;
}

int srv_bus_worker_start(void)
{
    if (ws.fd < 0)
        return 0;
    rt_hub *h = rt_hub_get();
    ws.rd = event_new(gs_hub_base(), -1, 0, on_ws_read, NULL);
    ws.wr = event_new(gs_hub_base(), -1, 0, on_ws_write, NULL);
    ws.retry = evtimer_new(gs_hub_base(), on_ws_retry, NULL);
    ws.in = evbuffer_new();
    ws.out = evbuffer_new();
    if (!h || !ws.rd || !ws.wr || !ws.retry || !ws.in || !ws.out || ws_up() < 0)
        return -ENOMEM;
    /* The reader (or the retry timer) is always there: it must not keep
     * gs_hub_run from returning. */
    rt_hub_internal_events(h, 1);
    rt_chan_set_bus(&ws_ops, NULL);
    return 0;
}

void srv_bus_worker_stop(void)
{
    if (!ws.rd)
        return;
    rt_chan_set_bus(NULL, NULL);
    rt_hub_internal_events(rt_hub_get(), -1);
    event_free(ws.rd);
    event_free(ws.wr);
    event_free(ws.retry);
    evbuffer_free(ws.in);
    evbuffer_free(ws.out);
    if (ws.fd >= 0)
        close(ws.fd);
    ws = (struct wside){.fd = -1};
}
