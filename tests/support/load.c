/*
 * load.c -- request loops on OS threads.
 */
#include "support/load.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/client.h"

#define MAX_CLIENTS 16

struct ts_load {
    int port;
    const char *req;
    unsigned n;
    pthread_t threads[MAX_CLIENTS];
    atomic_bool stop;
    atomic_ulong ok, failed;
    pthread_mutex_t lock;
    char first_failure[256];
};

static void failure(ts_load *l, const char *why, const char *resp)
{
    atomic_fetch_add(&l->failed, 1);
    pthread_mutex_lock(&l->lock);
    if (!l->first_failure[0])
        snprintf(l->first_failure, sizeof(l->first_failure), "%s: %.200s", why, resp);
    pthread_mutex_unlock(&l->lock);
}

static void one(ts_load *l)
{
    char resp[4096] = "";
    int fd = ts_connect(l->port);
    if (fd < 0) {
        failure(l, "connect refused", "");
        return;
    }
    ssize_t n = ts_send(fd, l->req, strlen(l->req)) == 0
                    ? ts_recv_response(fd, resp, sizeof(resp), false, 5000)
                    : -2;
    close(fd);
    if (n > 0 && ts_status(resp) == 200)
        atomic_fetch_add(&l->ok, 1);
    else
        failure(l,
                n == -2  ? "send failed"
                : n < 0  ? "timed out"
                : n == 0 ? "closed"
                         : "status",
                resp);
}

static void *client(void *arg)
{
    ts_load *l = arg;
    while (!atomic_load(&l->stop))
        one(l);
    return NULL;
}

ts_load *ts_load_start(int port, const char *req, unsigned nclients)
{
    ts_load *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->port = port;
    l->req = req;
    pthread_mutex_init(&l->lock, NULL);
    for (; l->n < nclients && l->n < MAX_CLIENTS; l->n++) {
        if (pthread_create(&l->threads[l->n], NULL, client, l) != 0) {
            ts_load_stop(l);
            return NULL;
        }
    }
    return l;
}

unsigned long ts_load_done(ts_load *l)
{
    return atomic_load(&l->ok) + atomic_load(&l->failed);
}

ts_load_result ts_load_stop(ts_load *l)
{
    ts_load_result r = {0};
    atomic_store(&l->stop, true);
    for (unsigned i = 0; i < l->n; i++)
        pthread_join(l->threads[i], NULL);
    r.ok = atomic_load(&l->ok);
    r.failed = atomic_load(&l->failed);
    memcpy(r.first_failure, l->first_failure, sizeof(r.first_failure));
    pthread_mutex_destroy(&l->lock);
    free(l);
    return r;
}
