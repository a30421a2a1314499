/*
 * newapp.h -- `greenserve new-app NAME`: a plugin to start from.
 */
#ifndef SRV_NEWAPP_H
#define SRV_NEWAPP_H

#include <stdbool.h>

/* Whether argv is the new-app command (argv[1] == "new-app"). */
bool srv_newapp_wanted(int argc, char **argv);

/* Write NAME.c and a Makefile into the current directory, refusing to
 * overwrite either. Returns the exit status: 0, or 2 (a message on
 * stderr says why). */
int srv_newapp_run(int argc, char **argv);

#endif
