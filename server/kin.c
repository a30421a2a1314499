/*
 * kin.c -- abstract socket names and parents of the greenserve family.
 */
#include "server/kin.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void srv_kin_address(const char *what, pid_t pid, struct sockaddr_un *sa, socklen_t *len)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    int n =
        snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "greenserve-%s-%d", what, (int)pid);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
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
