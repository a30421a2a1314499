/*
 * generation.c -- settings and plugins of one generation.
 */
#include "server/generation.h"

#include <errno.h>
#include <stdlib.h>

srv_gen *srv_gen_configure(unsigned id, int argc, char **argv, int *action, char *err,
                           size_t errlen)
{
    srv_gen *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "out of memory");
        *action = -ENOMEM;
        return NULL;
    }
    g->id = id;
    *action = cfg_parse_args(&g->settings, argc, argv, err, errlen);
    if (*action == CFG_RUN)
        return g;
    srv_gen_free(g);
    return NULL;
}

static void unload(srv_gen *g)
{
    while (g->nplugins > 0)
        srv_plugin_unload(&g->plugins[--g->nplugins]);
}

int srv_gen_load(srv_gen *g, bool fresh, char *err, size_t errlen)
{
    const cfg_settings *s = &g->settings;
    g->plugins = calloc(s->nmounts, sizeof(*g->plugins));
    if (!g->plugins) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->nmounts; i++) {
        int r = srv_plugin_load(&g->plugins[i], &s->mounts[i], fresh, err, errlen);
        g->nplugins++; /* a failed load may still hold a handle */
        if (r < 0) {
            unload(g);
            return r;
        }
    }
    return 0;
}

void srv_gen_free(srv_gen *g)
{
    if (!g)
        return;
    unload(g);
    free(g->plugins);
    cfg_free(&g->settings);
    free(g);
}
