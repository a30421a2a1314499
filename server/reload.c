/*
 * reload.c -- the inotify watch behind --reload.
 */
#include "server/reload.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "runtime/log.h"

typedef struct watched {
    int wd;     /* of its directory */
    char *dir;  /* "build/apps" */
    char *name; /* "hello.so" */
} watched;

struct srv_watch {
    int fd;
    watched *files;
    size_t n;
};

/* Rewritten in place, renamed over, created anew, or removed. */
#define EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB)

static int add(srv_watch *w, const char *path)
{
    const char *slash = strrchr(path, '/');
    watched f = {.dir =
                     slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup("."),
                 .name = strdup(slash ? slash + 1 : path)};
    watched *grown = realloc(w->files, (w->n + 1) * sizeof(*grown));
    if (!f.dir || !f.name || !grown) {
        free(f.dir), free(f.name);
        if (grown)
            w->files = grown;
        return -ENOMEM;
    }
    w->files = grown;
    f.wd = inotify_add_watch(w->fd, f.dir, EVENTS);
    if (f.wd < 0)
        rt_log("--reload: cannot watch %s: %s", f.dir, strerror(errno));
    w->files[w->n++] = f;
    return 0;
}

srv_watch *srv_watch_new(const cfg_settings *s)
{
    srv_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    int r = w->fd < 0 ? -errno : 0;
    for (size_t i = 0; r == 0 && i < s->nmounts; i++)
        r = add(w, s->mounts[i].path);
    if (r == 0 && s->config)
        r = add(w, s->config);
    if (r < 0) {
        srv_watch_free(w);
        errno = -r;
        return NULL;
    }
    return w;
}

int srv_watch_fd(const srv_watch *w)
{
    return w->fd;
}

static const watched *match(const srv_watch *w, const struct inotify_event *ev)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->files[i].wd == ev->wd && ev->len && strcmp(w->files[i].name, ev->name) == 0)
            return &w->files[i];
    return NULL;
}

bool srv_watch_changed(srv_watch *w)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool changed = false;
    ssize_t n;
    while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            const watched *f = match(w, ev);
            if (f && !changed)
                rt_log("--reload: %s/%s changed", f->dir, f->name);
            changed |= f != NULL;
            p += sizeof(*ev) + ev->len;
        }
    }
    return changed;
}

void srv_watch_free(srv_watch *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->files[i].dir), free(w->files[i].name);
    free(w->files);
    if (w->fd >= 0)
        close(w->fd);
    free(w);
}
