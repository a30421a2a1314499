/*
 * activation.c -- adopting the listening sockets systemd passes (see
 * activation.h) in place of the --bind addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/activation.h"
#include "server/upgrade.h"

/* A decimal number and nothing else; -1 otherwise. */
static long parse_count(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || *end || v < 0 ? -1 : v;
}

int srv_activation_count(bool *upgrade)
{
    *upgrade = getenv(SRV_UPGRADE_ENV) != NULL;
    long pid = parse_count(getenv("LISTEN_PID"));
    long n = parse_count(getenv("LISTEN_FDS"));
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (pid != (long)getpid() || n <= 0 || n > 1024)
        return 0;
    return (int)n;
}

static int refuse(int fd, const char *why, int err, char *buf, size_t n)
{
    snprintf(buf, n, "socket activation: descriptor %d: %s%s%s", fd, why, err ? ": " : "",
             err ? strerror(err) : "");
    return err ? -err : -EINVAL;
}

static void describe(srv_listener *l, const struct sockaddr_storage *ss, bool owned)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *u = (const struct sockaddr_un *)ss;
        l->is_unix = true; /* without a path, the file is not unlinked */
        if (owned)
            snprintf(l->path, sizeof(l->path), "%s", u->sun_path);
        snprintf(l->url, sizeof(l->url), "unix:%.100s", u->sun_path);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        l->port = ntohs(a->sin6_port);
        snprintf(l->url, sizeof(l->url), "http://[%s]:%d/", host, l->port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        l->port = ntohs(a->sin_port);
        snprintf(l->url, sizeof(l->url), "http://%s:%d/", host, l->port);
    }
}

int srv_activation_adopt(srv_listener *l, int fd, bool owned, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    int type = 0, listening = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return refuse(fd, "not a socket", errno, err, errlen);
    len = sizeof(listening);
    if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
        !listening)
        return refuse(fd, "not a listening stream socket (Accept=no in the .socket unit)", 0, err,
                      errlen);
    struct sockaddr_storage ss = {0};
    len = sizeof(ss);
    int flags = fcntl(fd, F_GETFL);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || flags < 0 ||
        fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return refuse(fd, "cannot adopt", errno, err, errlen);
    l->fd = fd;
    describe(l, &ss, owned);
    return 0;
}
