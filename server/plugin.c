/*
 * plugin.c -- dlopen, symbol and ABI checks, init and fini.
 */
#include "server/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SYMBOL "greenserve_app"

int srv_plugin_load(srv_plugin *p, const cfg_mount *m, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->mount = m;
    struct stat st;
    if (stat(m->path, &st) < 0) {
        /* dlerror would say the same less plainly. */
        snprintf(err, errlen, "plugin %s: %s", m->path, strerror(errno));
        return -ENOENT;
    }
    p->dl = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        snprintf(err, errlen, "plugin %s: %s", m->path, dlerror());
        return -EINVAL;
    }
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

void srv_plugin_fini(srv_plugin *p)
{
    if (p->initialised && p->app->fini)
        p->app->fini(p->state);
    p->initialised = false;
}
