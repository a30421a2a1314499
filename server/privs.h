/*
 * privs.h -- --user / --group: resolved by the master at start-up (a
 * typo stops it there), assumed by each worker after it has what only
 * root may take (sockets on ports below 1024, already bound).
 */
#ifndef SRV_PRIVS_H
#define SRV_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/options.h"

typedef struct srv_identity {
    bool change; /* --user or --group given */
    uid_t uid;   /* -1: keep */
    gid_t gid;   /* -1: keep */
    char user[64];
} srv_identity;

/* Look the names (or numbers) up; --user alone takes the user's primary
 * group. Changing identity needs root. 0, or -errno with err naming the
 * option and the reason. */
int srv_identity_resolve(srv_identity *id, const cfg_settings *s, char *err, size_t errlen);

/* Become id for good: supplementary groups, group, user. Also keeps the
 * process dumpable (core files, /proc readable by its owner), which a
 * change of user would turn off. 0, or -errno with err set. */
int srv_identity_assume(const srv_identity *id, char *err, size_t errlen);

#endif
