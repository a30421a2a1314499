/*
 * status.c -- the master's status endpoint: a few non-blocking clients at
 * a time, each read until its request head is in, answered, closed.
 */
#include "server/status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/bus.h"
#include "server/listen.h"

#define MAX_CLIENTS 16
#define CLIENT_MS   5000 /* to send the request and take the answer */

typedef struct client {
    int fd; /* -1: free */
    int64_t deadline;
    char in[1024];
    size_t in_len;
    char *out; /* the whole answer once the request is in */
    size_t out_len, out_off;
} client;

struct srv_status {
    srv_listener l;
    client clients[MAX_CLIENTS];
};

srv_status *srv_status_open(const cfg_bind *b, char *err, size_t errlen)
{
    srv_status *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err, errlen, "--status: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        st->clients[i].fd = -1;
    char why[512];
    if (srv_listen(&st->l, b, why, sizeof(why)) < 0) {
        /* srv_listen names it --bind: this is --status. */
        snprintf(err, errlen, "--status%s", strncmp(why, "--bind", 6) == 0 ? why + 6 : why);
        free(st);
        return NULL;
    }
    return st;
}

const char *srv_status_url(const srv_status *st)
{
    return st->l.url;
}

size_t srv_status_fds(const srv_status *st, int *fds, size_t max)
{
    size_t n = 0;
    if (st->l.fd >= 0 && n < max)
        fds[n++] = st->l.fd;
    for (size_t i = 0; i < MAX_CLIENTS && n < max; i++)
        if (st->clients[i].fd >= 0)
            fds[n++] = st->clients[i].fd;
    return n;
}

size_t srv_status_poll(srv_status *st, struct pollfd *p, size_t max)
{
    size_t n = 0;
    if (n < max)
        p[n++] = (struct pollfd){.fd = st->l.fd, .events = POLLIN};
    for (size_t i = 0; i < MAX_CLIENTS && n < max; i++) {
        client *c = &st->clients[i];
        if (c->fd >= 0)
            p[n++] = (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
    }
    return n;
}

static void drop(client *c)
{
    close(c->fd);
    free(c->out);
    c->fd = -1;
    c->out = NULL;
    c->in_len = c->out_len = c->out_off = 0;
}

/* ---- rendering ---- */

static const char *state_name(int state)
{
    static const char *const names[] = {"free", "starting", "ready", "stopping"};
    return state >= 0 && state <= SRV_SLOT_STOPPING ? names[state] : "?";
}

typedef struct figures {
    pid_t pid;
    unsigned gen;
    const char *state;
    double uptime_s;
    uint64_t requests, rss;
    unsigned conns, threads, waiting;
    int64_t heartbeat_age_ms;
} figures;

/* Slot i's figures; false for a free slot (or one not yet forked). */
static bool read_slot(const srv_status_info *info, size_t i, int64_t now, figures *f)
{
    const srv_slot *s = &info->slots[i];
    int state = atomic_load_explicit(&s->state, memory_order_relaxed);
    if (state == SRV_SLOT_FREE || s->pid <= 0)
        return false;
    *f = (figures){
        .pid = s->pid,
        .gen = s->generation,
        .state = state_name(state),
        .uptime_s = (double)(now - s->started_ms) / 1000,
        .requests = atomic_load_explicit(&s->requests, memory_order_relaxed),
        .rss = atomic_load_explicit(&s->rss_bytes, memory_order_relaxed),
        .conns = atomic_load_explicit(&s->active_conns, memory_order_relaxed),
        .threads = atomic_load_explicit(&s->green_threads, memory_order_relaxed),
        .waiting = atomic_load_explicit(&s->waiting, memory_order_relaxed),
        .heartbeat_age_ms = now - atomic_load_explicit(&s->heartbeat_ms, memory_order_relaxed),
    };
    return true;
}

/* Close an open_memstream: its buffer, or NULL if it ran out of memory. */
static char *finish(FILE *f, char **buf)
{
    if (fclose(f) != 0) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

char *srv_status_json(const srv_status_info *info, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    int64_t now = srv_clock_ms();
    fprintf(f,
            "{\"pid\":%d,\"generation\":%u,\"uptime\":%.1f,\"workers_wanted\":%u,"
            "\"workers\":[",
            (int)info->pid, info->generation, (double)(now - info->started_ms) / 1000,
            info->workers);
    const char *sep = "";
    figures w;
    for (size_t i = 0; i < SRV_SLOTS; i++) {
        if (!read_slot(info, i, now, &w))
            continue;
        fprintf(f,
                "%s\n{\"pid\":%d,\"generation\":%u,\"state\":\"%s\",\"uptime\":%.1f,"
                "\"requests\":%llu,\"active_connections\":%u,\"green_threads\":%u,"
                "\"waiting\":%u,\"rss_bytes\":%llu,\"heartbeat_age_ms\":%lld}",
                sep, (int)w.pid, w.gen, w.state, w.uptime_s, (unsigned long long)w.requests,
                w.conns, w.threads, w.waiting, (unsigned long long)w.rss,
                (long long)w.heartbeat_age_ms);
        sep = ",";
    }
    fprintf(f, "],\n\"bus\":{\"kind\":\"%s\",\"state\":\"%s\",\"workers\":%u}}\n",
            srv_bus_kind(info->bus), srv_bus_state(info->bus), srv_bus_workers(info->bus));
    return finish(f, &buf);
}

/* One metric family: its help, type and a line per worker. */
typedef struct family {
    const char *name, *type, *help;
} family;

static const family families[] = {
    {"greenserve_worker_requests_total", "counter", "Requests served by the worker."},
    {"greenserve_worker_active_connections", "gauge", "Open client connections."},
    {"greenserve_worker_green_threads", "gauge", "Green threads of connections and acceptors."},
    {"greenserve_worker_waiting", "gauge", "Handlers parked in a long-poll wait."},
    {"greenserve_worker_rss_bytes", "gauge", "Resident memory of the worker."},
    {"greenserve_worker_uptime_seconds", "gauge", "Seconds since the worker was started."},
};

static double figure(const figures *w, size_t k)
{
    switch (k) {
    case 0:
        return (double)w->requests;
    case 1:
        return w->conns;
    case 2:
        return w->threads;
    case 3:
        return w->waiting;
    case 4:
        return (double)w->rss;
    default:
        return w->uptime_s;
    }
}

char *srv_status_metrics(const srv_status_info *info, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    int64_t now = srv_clock_ms();
    size_t nworkers = 0;
    figures w;
    for (size_t i = 0; i < SRV_SLOTS; i++)
        nworkers += read_slot(info, i, now, &w);
    fprintf(f,
            "# HELP greenserve_workers Worker processes running.\n"
            "# TYPE greenserve_workers gauge\ngreenserve_workers %zu\n"
            "# HELP greenserve_workers_wanted Worker processes the master keeps.\n"
            "# TYPE greenserve_workers_wanted gauge\ngreenserve_workers_wanted %u\n"
            "# HELP greenserve_generation The generation of workers serving.\n"
            "# TYPE greenserve_generation gauge\ngreenserve_generation %u\n",
            nworkers, info->workers, info->generation);
    fprintf(f,
            "# HELP greenserve_bus_connected Whether the bus between the workers is up.\n"
            "# TYPE greenserve_bus_connected gauge\ngreenserve_bus_connected{kind=\"%s\"} %d\n"
            "# HELP greenserve_bus_workers Workers connected to the bus.\n"
            "# TYPE greenserve_bus_workers gauge\ngreenserve_bus_workers %u\n",
            srv_bus_kind(info->bus), strcmp(srv_bus_state(info->bus), "connected") == 0,
            srv_bus_workers(info->bus));
    for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
        const family *fam = &families[k];
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, fam->type);
        for (size_t i = 0; i < SRV_SLOTS; i++)
            if (read_slot(info, i, now, &w))
                fprintf(f, "%s{pid=\"%d\",generation=\"%u\",state=\"%s\"} %.15g\n", fam->name,
                        (int)w.pid, w.gen, w.state, figure(&w, k));
    }
    return finish(f, &buf);
}

/* ---- clients ---- */

/* What a request for path gets: a status line, and the body (malloc'd)
 * with its type, or NULL for a short text of the status. */
typedef struct page {
    const char *status, *type;
    char *body;
    size_t len;
} page;

static page route(const char *method, const char *path, const srv_status_info *info)
{
    page p = {"404 Not Found", "text/plain; charset=utf-8", NULL, 0};
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        p.status = "405 Method Not Allowed";
    else if (strcmp(path, "/") == 0 || strcmp(path, "/status") == 0)
        p.body = srv_status_json(info, &p.len), p.type = "application/json";
    else if (strcmp(path, "/metrics") == 0)
        p.body = srv_status_metrics(info, &p.len),
        p.type = "text/plain; version=0.0.4; charset=utf-8";
    if (p.body)
        p.status = "200 OK";
    return p;
}

static void answer(client *c, const srv_status_info *info)
{
    char method[8] = "", path[64] = "";
    sscanf(c->in, "%7s %63s", method, path);
    path[strcspn(path, "?")] = '\0';
    page p = route(method, path, info);
    FILE *f = open_memstream(&c->out, &c->out_len);
    if (f) {
        fprintf(f,
                "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
                p.status, p.type, p.body ? p.len : strlen(p.status) + 1);
        if (strcmp(method, "HEAD") != 0 && p.body)
            fwrite(p.body, 1, p.len, f);
        else if (strcmp(method, "HEAD") != 0)
            fprintf(f, "%s\n", p.status);
        fclose(f);
    }
    free(p.body);
}

static void on_readable(client *c, const srv_status_info *info)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, 0);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            drop(c);
        return;
    }
    c->in_len += (size_t)n;
    c->in[c->in_len] = '\0';
    if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n") || c->in_len == sizeof(c->in) - 1)
        answer(c, info);
    if (c->out == NULL && c->in_len == sizeof(c->in) - 1)
        drop(c);
}

static void on_writable(client *c)
{
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n > 0)
        c->out_off += (size_t)n;
    if ((n < 0 && errno != EAGAIN && errno != EINTR) || c->out_off == c->out_len)
        drop(c);
}

static void accept_clients(srv_status *st)
{
    for (;;) {
        int fd = accept4(st->l.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        client *c = NULL;
        for (size_t i = 0; i < MAX_CLIENTS && !c; i++)
            if (st->clients[i].fd < 0)
                c = &st->clients[i];
        if (!c) {
            close(fd); /* busy: the next scrape will do */
            continue;
        }
        c->fd = fd;
        c->deadline = srv_clock_ms() + CLIENT_MS;
    }
}

static client *client_of(srv_status *st, int fd)
{
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (st->clients[i].fd == fd)
            return &st->clients[i];
    return NULL;
}

void srv_status_serve(srv_status *st, const struct pollfd *p, size_t n, const srv_status_info *info)
{
    for (size_t i = 0; i < n; i++) {
        if (!p[i].revents)
            continue;
        client *c = p[i].fd == st->l.fd ? NULL : client_of(st, p[i].fd);
        if (p[i].fd == st->l.fd)
            accept_clients(st);
        else if (c && c->out)
            on_writable(c);
        else if (c)
            on_readable(c, info);
    }
    int64_t now = srv_clock_ms();
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (st->clients[i].fd >= 0 && now > st->clients[i].deadline)
            drop(&st->clients[i]);
}

void srv_status_close(srv_status *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (st->clients[i].fd >= 0)
            drop(&st->clients[i]);
    srv_listen_close(&st->l, true);
    free(st);
}
