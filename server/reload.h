/*
 * reload.h -- --reload (development): watch the mounted plugins and the
 * config file with inotify, so the master reloads when one changes.
 *
 * The directories are watched, not the files: a rebuild usually writes a
 * new file and renames it (or unlinks and recreates it), which a watch on
 * the old inode would never report.
 */
#ifndef SRV_RELOAD_H
#define SRV_RELOAD_H

#include <stdbool.h>

#include "config/options.h"

typedef struct srv_watch srv_watch;

/* Watch the files s names (plugins, config file). NULL with errno set. */
srv_watch *srv_watch_new(const cfg_settings *s);

/* The inotify descriptor: readable when something happened. */
int srv_watch_fd(const srv_watch *w);

/* Read what happened: whether one of the watched files was written,
 * replaced or removed (logging the first one's name). Never blocks. */
bool srv_watch_changed(srv_watch *w);

void srv_watch_free(srv_watch *w);

#endif
