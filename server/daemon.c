/*
 * daemon.c -- detaching and the pid file.
 */
#include "server/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The original process: exit with the status the daemon reports. */
static void wait_for_daemon(int fd)
{
    unsigned char status = 1;
    ssize_t n;
    while ((n = read(fd, &status, 1)) < 0 && errno == EINTR)
        ;
    _exit(n == 1 ? status : 1);
}

static void to_null(int fd)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0 && null != fd) {
        dup2(null, fd);
        close(null);
    }
}

int srv_daemonize(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]), close(p[1]);
        return -e;
    }
    if (pid > 0) {
        close(p[1]);
        wait_for_daemon(p[0]);
    }
    close(p[0]);
    setsid();
    for (int fd = 0; fd < 3; fd++)
        to_null(fd);
    return p[1];
}

void srv_daemon_ready(int fd, int status)
{
    if (fd < 0)
        return;
    unsigned char b = (unsigned char)status;
    ssize_t w = write(fd, &b, 1);
    (void)w;
    close(fd);
}

int srv_pidfile_write(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    fprintf(f, "%d\n", (int)getpid());
    return fclose(f) == 0 ? 0 : -errno;
}

void srv_pidfile_remove(const char *path)
{
    char buf[32] = "";
    FILE *f = path ? fopen(path, "re") : NULL;
    if (!f)
        return;
    bool ours = fgets(buf, sizeof(buf), f) && atoi(buf) == (int)getpid();
    fclose(f);
    if (ours)
        unlink(path);
}

void srv_notify_ready(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = path ? strlen(path) : 0;
    if (!len || len >= sizeof(a.sun_path) || (path[0] != '/' && path[0] != '@'))
        return;
    memcpy(a.sun_path, path, len);
    if (a.sun_path[0] == '@') /* the abstract namespace */
        a.sun_path[0] = '\0';
    char msg[48];
    int n = snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%d", (int)getpid());
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&a,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}
