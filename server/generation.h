/*
 * generation.h -- one generation of workers' configuration: the settings
 * read from the command line and the config file, and the plugins loaded
 * for them. The master keeps the one its workers run and, during a reload,
 * the next one, until every worker of the next is ready.
 */
#ifndef SRV_GENERATION_H
#define SRV_GENERATION_H

#include <stdbool.h>
#include <stddef.h>

#include "config/options.h"
#include "server/plugin.h"

typedef struct srv_gen {
    unsigned id; /* 1, 2, ... */
    cfg_settings settings;
    srv_plugin *plugins; /* one per settings.mounts[i], loaded */
    size_t nplugins;     /* loaded so far */
} srv_gen;

/* Read argv (and the --config file it names) into a new generation. NULL
 * with err set on a refusal; *action tells --help / --version apart. */
srv_gen *srv_gen_configure(unsigned id, int argc, char **argv, int *action, char *err,
                           size_t errlen);

/* dlopen and check every plugin (see srv_plugin_load; `fresh` on a
 * reload). On a failure, the ones loaded are unloaded again. 0 or -errno
 * with err naming the file. */
int srv_gen_load(srv_gen *g, bool fresh, char *err, size_t errlen);

/* Unload the plugins (dlclose: master only) and free the settings. */
void srv_gen_free(srv_gen *g);

#endif
