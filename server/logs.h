/*
 * logs.h -- the error log and the access log: opened at start-up,
 * reopened on SIGUSR1 (after logrotate moved them) under the same
 * descriptor numbers, so that everything holding them writes to the new
 * files without being told.
 */
#ifndef SRV_LOGS_H
#define SRV_LOGS_H

#include <stddef.h>
#include <sys/types.h>

#include "config/options.h"

typedef struct srv_logs {
    const char *error_path;  /* NULL: stderr */
    const char *access_path; /* NULL: off; "-": stdout */
    int error_fd;            /* 2 for stderr */
    int access_fd;           /* -1 when off */
} srv_logs;

/* Open both as s says and send rt_log to the error log. 0, or -errno with
 * err naming the option and the file. */
int srv_logs_open(srv_logs *l, const cfg_settings *s, char *err, size_t errlen);

/* Open each file anew (creating it, owned by uid:gid unless they are -1,
 * so that workers that dropped privileges may reopen it too) and put it
 * in place of the old descriptor. The access log's buffered lines of this
 * thread are written first. 0, or the first -errno (logged). Never
 * switches. */
int srv_logs_reopen(const srv_logs *l, uid_t uid, gid_t gid);

void srv_logs_close(srv_logs *l);

#endif
