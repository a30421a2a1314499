/*
 * drip.c -- slowloris clients on one epoll thread (see drip.h).
 *
 * Connects are made blocking before the thread starts (127.0.0.1 answers
 * at once, from the listen backlog); the thread then only reads (to learn
 * the status and the close) and sends each client's next byte when its
 * second is up. Sends are spread over the second by connection order.
 */
#include "support/drip.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/client.h"

typedef struct drip_conn {
    int fd; /* -1 once closed */
    int64_t connected_ms, next_ms, closed_ms;
    size_t pos; /* in the drip */
    char first[16];
    size_t got;
} drip_conn;

struct ts_drip {
    drip_conn *conns;
    unsigned n;
    const char *drip;
    size_t drip_len;
    int status;
    int ep;
    pthread_t thread;
    atomic_bool stop;
    atomic_uint open;
};

static void drip_closed(ts_drip *d, drip_conn *c)
{
    epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->closed_ms = ts_now_ms();
    atomic_fetch_sub(&d->open, 1);
}

/* Keep the first bytes (the status line); EOF or an error closes. */
static void drip_read(ts_drip *d, drip_conn *c)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            size_t keep = sizeof(c->first) - 1 - c->got;
            keep = (size_t)n < keep ? (size_t)n : keep;
            memcpy(c->first + c->got, buf, keep);
            c->got += keep;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        drip_closed(d, c);
        return;
    }
}

static void drip_send(ts_drip *d, drip_conn *c, int64_t now)
{
    char b = d->drip[c->pos++ % d->drip_len];
    c->next_ms += 1000;
    if (c->next_ms < now)
        c->next_ms = now + 1000;
    if (send(c->fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
        drip_closed(d, c);
}

static void *drip_main(void *arg)
{
    ts_drip *d = arg;
    struct epoll_event ev[256];
    while (!atomic_load(&d->stop)) {
        int k = epoll_wait(d->ep, ev, 256, 10);
        for (int i = 0; i < k; i++) {
            drip_conn *c = ev[i].data.ptr;
            if (c->fd >= 0)
                drip_read(d, c);
        }
        int64_t now = ts_now_ms();
        for (unsigned i = 0; i < d->n; i++)
            if (d->conns[i].fd >= 0 && d->conns[i].next_ms <= now)
                drip_send(d, &d->conns[i], now);
    }
    return NULL;
}

static bool drip_connect(ts_drip *d, drip_conn *c, int port, const char *head, int64_t offset)
{
    c->fd = ts_connect(port);
    if (c->fd < 0)
        return false;
    if (ts_send(c->fd, head, strlen(head)) < 0) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    c->connected_ms = ts_now_ms();
    c->next_ms = d->drip_len ? c->connected_ms + 1000 + offset : INT64_MAX;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(d->ep, EPOLL_CTL_ADD, c->fd, &ev);
    atomic_fetch_add(&d->open, 1);
    return true;
}

ts_drip *ts_drip_start(int port, unsigned n, const char *head, const char *drip, int status)
{
    ts_drip *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->conns = calloc(n ? n : 1, sizeof(*d->conns));
    d->drip = drip;
    d->drip_len = drip ? strlen(drip) : 0;
    d->status = status;
    d->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!d->conns || d->ep < 0) {
        free(d->conns);
        free(d);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++)
        if (drip_connect(d, &d->conns[d->n], port, head, (int64_t)i * 1000 / n))
            d->n++;
    if (pthread_create(&d->thread, NULL, drip_main, d) != 0) {
        atomic_store(&d->stop, true);
        ts_drip_stop(d);
        return NULL;
    }
    return d;
}

unsigned ts_drip_open(ts_drip *d)
{
    return atomic_load(&d->open);
}

static void drip_count(const ts_drip *d, const drip_conn *c, ts_drip_result *r)
{
    if (c->fd >= 0 || !c->closed_ms)
        return;
    int64_t age = c->closed_ms - c->connected_ms;
    if (r->closed == 0 || age < r->min_age_ms)
        r->min_age_ms = age;
    if (age > r->max_age_ms)
        r->max_age_ms = age;
    r->closed++;
    if (c->got >= 12 && ts_status(c->first) == d->status)
        r->answered++;
    else if (c->got > 0)
        r->others++;
}

ts_drip_result ts_drip_stop(ts_drip *d)
{
    ts_drip_result r = {.clients = d->n};
    if (!atomic_exchange(&d->stop, true))
        pthread_join(d->thread, NULL);
    for (unsigned i = 0; i < d->n; i++) {
        drip_count(d, &d->conns[i], &r);
        if (d->conns[i].fd >= 0)
            close(d->conns[i].fd);
    }
    close(d->ep);
    free(d->conns);
    free(d);
    return r;
}
