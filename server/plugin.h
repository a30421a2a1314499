/*
 * plugin.h -- loading handler plugins. Loading (dlopen and the checks)
 * happens once, before workers fork; init and fini run in each worker.
 */
#ifndef SRV_PLUGIN_H
#define SRV_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "config/options.h"
#include "greenserve.h"

typedef struct srv_plugin {
    const cfg_mount *mount; /* borrowed from the settings */
    void *dl;               /* dlopen handle */
    int copy_fd;            /* a reload's private copy (see srv_plugin_load), else -1 */
    const gs_app *app;
    void *state;      /* what init stored */
    bool initialised; /* init succeeded: fini is due */
} srv_plugin;

/* dlopen(RTLD_NOW | RTLD_LOCAL) m->path, find `greenserve_app` and check
 * its ABI version before reading anything else of it, then that it has a
 * handle. Returns 0, or -ENOENT / -EINVAL with err naming the file and the
 * reason (dlerror's text, the missing symbol, both ABI versions).
 *
 * With `fresh` (a reload), the file is loaded from a private copy: the
 * dynamic loader hands back the library already loaded under a name (or
 * from the same file), so a rebuilt .so would otherwise never be read
 * again, and the previous generation's code stays loaded until the new
 * one is known to be good. */
int srv_plugin_load(srv_plugin *p, const cfg_mount *m, bool fresh, char *err, size_t errlen);

/* dlclose: only in the master, which never runs plugin code (workers
 * still running it are separate processes). */
void srv_plugin_unload(srv_plugin *p);

/* Call the app's init with the mount's args. 0, or the init's negative
 * result with err naming the app and its file. */
int srv_plugin_init(srv_plugin *p, char *err, size_t errlen);

/* Call fini if init succeeded. The code stays mapped: green threads of a
 * stopping worker may still be parked in it (never dlclose under them). */
void srv_plugin_fini(srv_plugin *p);

#endif
