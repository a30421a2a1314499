/*
 * logs.c -- opening and reopening the logs.
 */
#include "server/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"
#include "runtime/log.h"

static int open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

static int open_one(const char *option, const char *path, int *fd, char *err, size_t n)
{
    if (strcmp(path, "-") == 0) {
        *fd = 1;
        return 0;
    }
    int r = open_file(path);
    if (r < 0) {
        snprintf(err, n, "--%s %s: %s", option, path, strerror(-r));
        return r;
    }
    *fd = r;
    return 0;
}

int srv_logs_open(srv_logs *l, const cfg_settings *s, char *err, size_t errlen)
{
    *l = (srv_logs){
        .error_path = s->error_log, .access_path = s->access_log, .error_fd = 2, .access_fd = -1};
    int r = 0;
    if (l->error_path)
        r = open_one("error-log", l->error_path, &l->error_fd, err, errlen);
    if (r == 0)
        rt_log_set_fd(l->error_fd);
    if (r == 0 && l->access_path)
        r = open_one("access-log", l->access_path, &l->access_fd, err, errlen);
    return r;
}

/* Replace what fd points to with a fresh open of path. */
static int reopen_one(const char *path, int fd, uid_t uid, gid_t gid)
{
    if (!path || strcmp(path, "-") == 0 || fd < 0)
        return 0;
    int nfd = open_file(path);
    int r = nfd < 0 ? nfd : 0;
    if (r == 0 && uid != (uid_t)-1 && fchown(nfd, uid, gid) < 0)
        r = -errno;
    if (r == 0 && dup3(nfd, fd, O_CLOEXEC) < 0)
        r = -errno;
    if (nfd >= 0)
        close(nfd);
    if (r < 0)
        rt_log("reopening %s: %s; still writing to the old file", path, strerror(-r));
    return r;
}

int srv_logs_reopen(const srv_logs *l, uid_t uid, gid_t gid)
{
    http_access_log_flush();
    int a = reopen_one(l->access_path, l->access_fd, uid, gid);
    int e = reopen_one(l->error_path, l->error_fd, uid, gid);
    return a < 0 ? a : e;
}

void srv_logs_close(srv_logs *l)
{
    if (l->access_fd > 2)
        close(l->access_fd);
    if (l->error_fd > 2)
        close(l->error_fd);
    l->access_fd = -1;
    l->error_fd = 2;
}
