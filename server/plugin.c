/*
 * plugin.c -- dlopen, symbol and ABI checks, init and fini.
 */
#include "server/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYMBOL "greenserve_app"

/* Copy all of in to out. 0 or -errno. */
static int copy_all(int in, int out)
{
    struct stat st;
    if (fstat(in, &st) < 0)
        return -errno;
    for (off_t done = 0; done < st.st_size;) {
        ssize_t w = sendfile(out, in, NULL, (size_t)(st.st_size - done));
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO; /* shrank meanwhile */
        done += w;
    }
    return 0;
}

/* The loader first matches a name against the libraries loaded: the
 * descriptor's number must not be in the name of one still loaded (a
 * copy closed after a dlclose that could not unload it). Move it until
 * its name is free. */
static int free_name(int fd, char *name, size_t n)
{
    for (int tries = 0; tries < 64; tries++) {
        snprintf(name, n, "/proc/self/fd/%d", fd);
        void *other = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
        if (!other)
            return fd;
        dlclose(other);
        int moved = fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
        close(fd);
        if (moved < 0)
            return -errno;
        fd = moved;
    }
    close(fd);
    return -EMFILE;
}

/* A copy of the file in memory, as a descriptor dlopen can take through
 * /proc/self/fd: a new inode each time, so never one already loaded. It
 * stays open while the library is loaded, so that its name stays unique.
 * Returns the descriptor, or -errno with err set. */
static int private_copy(const char *path, char *name, size_t n, char *err, size_t errlen)
{
    const char *base = strrchr(path, '/');
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -errno : memfd_create(base ? base + 1 : path, MFD_CLOEXEC);
    int r = out < 0 ? (in < 0 ? out : -errno) : copy_all(in, out);
    if (in >= 0)
        close(in);
    if (r < 0) {
        if (out >= 0)
            close(out);
        snprintf(err, errlen, "plugin %s: copying it for a reload: %s", path, strerror(-r));
        return r;
    }
    out = free_name(out, name, n);
    if (out < 0)
        snprintf(err, errlen, "plugin %s: copying it for a reload: %s", path, strerror(-out));
    return out;
}

static int open_library(srv_plugin *p, const cfg_mount *m, bool fresh, char *err, size_t errlen)
{
    char copy[64];
    int fd = fresh ? private_copy(m->path, copy, sizeof(copy), err, errlen) : -1;
    if (fresh && fd < 0)
        return -EINVAL;
    p->dl = dlopen(fresh ? copy : m->path, RTLD_NOW | RTLD_LOCAL);
    p->copy_fd = fd;
    if (!p->dl) {
        snprintf(err, errlen, "plugin %s: %s", m->path, dlerror());
        return -EINVAL;
    }
    return 0;
}

int srv_plugin_load(srv_plugin *p, const cfg_mount *m, bool fresh, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->mount = m;
    p->copy_fd = -1;
    struct stat st;
    if (stat(m->path, &st) < 0) {
        /* dlerror would say the same less plainly. */
        snprintf(err, errlen, "plugin %s: %s", m->path, strerror(errno));
        return -ENOENT;
    }
    if (open_library(p, m, fresh, err, errlen) < 0)
        return -EINVAL;
    const gs_app *app = dlsym(p->dl, SYMBOL);
    if (!app) {
        snprintf(err, errlen,
                 "plugin %s: no `" SYMBOL "` symbol (define it with GS_APP(...) from "
                 "greenserve.h)",
                 m->path);
        return -EINVAL;
    }
    /* The version first: a plugin of another ABI may lay gs_app out
     * differently, so nothing past `abi` can be trusted until it matches. */
    if (app->abi != GS_ABI_VERSION) {
        snprintf(err, errlen,
                 "plugin %s: built for greenserve ABI version %u, this greenserve has ABI "
                 "version %u: rebuild it against this greenserve.h",
                 m->path, app->abi, (unsigned)GS_ABI_VERSION);
        return -EINVAL;
    }
    if (!app->handle) {
        snprintf(err, errlen, "plugin %s: `" SYMBOL "` has no handle function", m->path);
        return -EINVAL;
    }
    p->app = app;
    return 0;
}

static const char *app_name(const srv_plugin *p)
{
    return p->app->name ? p->app->name : "(unnamed)";
}

int srv_plugin_init(srv_plugin *p, char *err, size_t errlen)
{
    if (p->app->init) {
        int r = p->app->init(p->mount->args, &p->state);
        if (r < 0) {
            snprintf(err, errlen, "app \"%s\" (%s, mounted at %s): init failed: %s", app_name(p),
                     p->mount->path, p->mount->prefix, strerror(-r));
            return r;
        }
    }
    p->initialised = true;
    return 0;
}

void srv_plugin_unload(srv_plugin *p)
{
    if (p->dl)
        dlclose(p->dl);
    if (p->copy_fd >= 0)
        close(p->copy_fd);
    p->dl = NULL;
    p->app = NULL;
    p->copy_fd = -1;
}

void srv_plugin_fini(srv_plugin *p)
{
    if (p->initialised && p->app->fini)
        p->app->fini(p->state);
    p->initialised = false;
}
