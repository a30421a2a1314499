/*
 * redis_bus.c -- the Redis relay (see redis_bus.h).
 *
 * The master has no event_base (its loop is poll(2)), so hiredis' async
 * context is driven through a small adapter on the bus's epoll set
 * instead of <hiredis/adapters/libevent.h>: hiredis says which of read
 * and write it wants, the bus's loop calls back here when they are ready.
 */
#include "server/redis_bus.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "runtime/log.h"
#include "server/scoreboard.h"

#define FEED        "gs:bus"
#define BACKOFF_MIN 100
#define BACKOFF_MAX 2000

/* KEYS: the counter, the stream. ARGV: name, data, the clock in us (a
 * new channel's counter starts there, the embedded bus's rule). */
static const char SCRIPT[] =
    "redis.call('SETNX', KEYS[1], ARGV[3])\n"
    "local id = redis.call('INCR', KEYS[1])\n"
    "local sid = string.format('%d', id)\n"
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1024, '*', 'id', sid, 'd', ARGV[2])\n"
    "redis.call('PUBLISH', '" FEED "', sid .. '|' .. #ARGV[1] .. '|' .. ARGV[1] .. ARGV[2])\n"
    "return id\n";

typedef struct link {
    struct srv_redis *r;
    redisAsyncContext *ac; /* NULL while down */
    int fd;
    bool rd, wr, in_epoll, up;
} link;

struct srv_redis {
    srv_bus *bus;
    char host[256];
    int port;
    link cmd, sub;
    int64_t retry_at, backoff;
    bool was_up, logged_down;
};

typedef struct answer_to {
    int fd;
    pid_t pid;
    uint64_t token;
} answer_to;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- the adapter ---- */

static void link_epoll(link *l)
{
    struct epoll_event ev = {.events = (l->rd ? EPOLLIN : 0) | (l->wr ? EPOLLOUT : 0),
                             .data.ptr = l};
    int ep = srv_bus_epoll(l->r->bus);
    epoll_ctl(ep, l->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, l->fd, &ev);
    l->in_epoll = true;
}

static void add_read(void *p)
{
    ((link *)p)->rd = true, link_epoll(p);
}
static void del_read(void *p)
{
    ((link *)p)->rd = false, link_epoll(p);
}
static void add_write(void *p)
{
    ((link *)p)->wr = true, link_epoll(p);
}
static void del_write(void *p)
{
    ((link *)p)->wr = false, link_epoll(p);
}

static void cleanup(void *p)
{
    link *l = p;
    if (l->in_epoll)
        epoll_ctl(srv_bus_epoll(l->r->bus), EPOLL_CTL_DEL, l->fd, NULL);
    l->in_epoll = l->rd = l->wr = false;
}

/* ---- state ---- */

static bool is_up(const srv_redis *r)
{
    return r->cmd.up && r->sub.up;
}

static void note_up(srv_redis *r)
{
    if (!is_up(r) || r->was_up)
        return;
    rt_log("bus: connected to redis://%s:%d", r->host, r->port);
    r->was_up = true;
    r->logged_down = false;
    r->backoff = BACKOFF_MIN;
}

static void note_down(srv_redis *r)
{
    r->was_up = false;
    if (r->logged_down)
        return;
    rt_log("bus: redis://%s:%d unreachable: publishes fail until it is back; reconnecting", r->host,
           r->port);
    r->logged_down = true;
}

static link *link_of(const redisAsyncContext *ac)
{
    return ac->data;
}

static void link_lost(link *l)
{
    l->ac = NULL; /* hiredis frees it after this callback */
    l->up = false;
    srv_redis *r = l->r;
    if (!r->retry_at) {
        r->retry_at = srv_clock_ms() + r->backoff;
        r->backoff = r->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : r->backoff * 2;
    }
    note_down(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    link_lost(link_of(ac));
}

/* ---- delivery ---- */

/* "id|namelen|name data" */
static void on_feed(srv_redis *r, const char *s, size_t len)
{
    char *end;
    unsigned long long id = strtoull(s, &end, 10);
    if (*end != '|')
        return;
    size_t nlen = strtoul(end + 1, &end, 10);
    if (*end != '|' || nlen == 0 || nlen > 255 || (size_t)(end + 1 - s) + nlen > len)
        return;
    char name[256];
    memcpy(name, end + 1, nlen);
    name[nlen] = '\0';
    const char *data = end + 1 + nlen;
    srv_bus_deliver(r->bus, name, id, data, len - (size_t)(data - s));
}

static void on_sub(redisAsyncContext *ac, void *reply, void *arg)
{
    (void)ac;
    redisReply *m = reply;
    if (!m || m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(m->element[0]->str, "message") == 0 && m->element[2]->type == REDIS_REPLY_STRING)
        on_feed(arg, m->element[2]->str, m->element[2]->len);
}

/* XRANGE's entries: [stream id, ["id", id, "d", data]]. */
static void on_range(redisAsyncContext *ac, void *reply, void *arg)
{
    link *l = link_of(ac);
    redisReply *rep = reply;
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        goto out;
    for (size_t i = 0; i < rep->elements; i++) {
        redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 4)
            continue;
        redisReply **f = e->element[1]->element;
        if (f[1]->type != REDIS_REPLY_STRING || f[3]->type != REDIS_REPLY_STRING)
            continue; /* not one of ours */
        srv_bus_deliver(l->r->bus, arg, strtoull(f[1]->str, NULL, 10), f[3]->str, f[3]->len);
    }
out:
    free(arg);
}

static void refill(void *arg, const char *name)
{
    link *l = arg;
    char *copy = strdup(name);
    if (copy && redisAsyncCommand(l->ac, on_range, copy, "XRANGE gs:s:%s - +", name) != REDIS_OK)
        free(copy);
}

/* ---- connecting ---- */

static void on_connect(const redisAsyncContext *ac, int status)
{
    link *l = link_of(ac);
    if (status != REDIS_OK) {
        link_lost(l);
        return;
    }
    l->up = true;
    srv_redis *r = l->r;
    if (l == &r->sub)
        redisAsyncCommand(l->ac, on_sub, r, "SUBSCRIBE " FEED);
    else /* what was published while away, for the channels seen */
        srv_bus_each_channel(r->bus, refill, l);
    note_up(r);
}

static int link_open(srv_redis *r, link *l)
{
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac)
        return -ENOMEM;
    if (ac->err) {
        redisAsyncFree(ac);
        return -ECONNREFUSED;
    }
    *l = (link){.r = r, .ac = ac, .fd = ac->c.fd};
    ac->data = l;
    ac->ev.data = l;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    add_write(l); /* the connect completes on writability */
    return 0;
}

static void connect_all(srv_redis *r)
{
    r->retry_at = 0;
    if (!r->cmd.ac && link_open(r, &r->cmd) < 0)
        link_lost(&r->cmd);
    if (!r->sub.ac && link_open(r, &r->sub) < 0)
        link_lost(&r->sub);
}

void srv_redis_tick(srv_redis *r)
{
    if (r->retry_at && srv_clock_ms() >= r->retry_at)
        connect_all(r);
}

bool srv_redis_io(srv_redis *r, void *tag, uint32_t events)
{
    link *l = tag;
    if (l != &r->cmd && l != &r->sub)
        return false;
    if (l->ac && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        redisAsyncHandleRead(l->ac);
    if (l->ac && (events & (EPOLLOUT | EPOLLERR)))
        redisAsyncHandleWrite(l->ac);
    return true;
}

/* ---- publishing ---- */

static void on_published(redisAsyncContext *ac, void *reply, void *arg)
{
    link *l = link_of(ac);
    answer_to *a = arg;
    redisReply *rep = reply;
    int64_t r = !rep ? -ENOTCONN : rep->type == REDIS_REPLY_INTEGER ? rep->integer : -EIO;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        rt_log("bus: redis: %s", rep->str);
    srv_bus_answer(l->r->bus, a->fd, a->pid, a->token, r);
    free(a);
}

int srv_redis_publish(srv_redis *r, const char *name, const void *data, size_t len, int fd,
                      pid_t pid, uint64_t token)
{
    if (!r->cmd.up)
        return -ENOTCONN;
    answer_to *a = malloc(sizeof(*a));
    if (!a)
        return -ENOMEM;
    *a = (answer_to){.fd = fd, .pid = pid, .token = token};
    char clock[24];
    snprintf(clock, sizeof(clock), "%llu", (unsigned long long)now_us());
    if (redisAsyncCommand(r->cmd.ac, on_published, a, "EVAL %s 2 gs:n:%s gs:s:%s %s %b %s", SCRIPT,
                          name, name, name, data, len, clock) != REDIS_OK) {
        free(a);
        return -ENOTCONN;
    }
    return 0;
}

const char *srv_redis_state(const srv_redis *r)
{
    return is_up(r) ? "connected" : "reconnecting";
}

srv_redis *srv_redis_open(srv_bus *b, const char *url)
{
    srv_redis *r = calloc(1, sizeof(*r));
    const char *host = url + strlen("redis://"), *colon = strrchr(host, ':');
    if (!r || !colon || (size_t)(colon - host) >= sizeof(r->host)) {
        errno = r ? EINVAL : ENOMEM; /* before free: r is not to be read after it */
        free(r);
        return NULL;
    }
    memcpy(r->host, host, (size_t)(colon - host));
    r->port = atoi(colon + 1);
    r->bus = b;
    r->backoff = BACKOFF_MIN;
    r->cmd.r = r->sub.r = r;
    connect_all(r);
    return r;
}

void srv_redis_close(srv_redis *r)
{
    if (!r)
        return;
    r->logged_down = true; /* the links end here: not "unreachable" */
    if (r->cmd.ac)
        redisAsyncFree(r->cmd.ac); /* calls back with no reply: answers go nowhere now */
    if (r->sub.ac)
        redisAsyncFree(r->sub.ac);
    free(r);
}
