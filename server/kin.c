/*
 * kin.c -- abstract socket names and parents of the greenserve family.
 */
#include "server/kin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The abstract address "greenserve-<what>-<pid>" into *sa and *len. */
static void address(const char *what, pid_t pid, struct sockaddr_un *sa, socklen_t *len)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    int n =
        snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "greenserve-%s-%d", what, (int)pid);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* A socket at pid's address, bound (and listening) or connected. */
static int kin_socket(const char *what, pid_t pid, int type, int backlog, bool bound)
{
    struct sockaddr_un sa;
    socklen_t len;
    address(what, pid, &sa, &len);
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = bound ? bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, backlog) < 0
                  : connect(fd, (struct sockaddr *)&sa, len) < 0;
    if (r) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int srv_kin_listen(const char *what, int type, int backlog)
{
    return kin_socket(what, getpid(), type, backlog, true);
}

int srv_kin_connect(const char *what, pid_t pid, int type)
{
    return kin_socket(what, pid, type, 0, false);
}

pid_t srv_kin_parent(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* the command may hold spaces */
    int ppid = -1;
    return end && sscanf(end + 1, " %*c %d", &ppid) == 1 ? ppid : -1;
}
