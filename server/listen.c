/*
 * listen.c -- binding the listening sockets.
 */
#include "server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "greenserve.h"

static int fail(const cfg_bind *b, int err, const char *what, char *buf, size_t n)
{
    snprintf(buf, n, "--bind %s: %s: %s", b->text, what, strerror(err));
    return -err;
}

static int new_socket(int family)
{
    return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* What getsockname says, so "port 0" shows the port the kernel chose. */
static void describe_tcp(srv_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(l->fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(l->url, sizeof(l->url), "http://[%s]:%d/", host, port);
        l->port = port;
        return;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
    snprintf(l->url, sizeof(l->url), "http://%s:%d/", host, port);
    l->port = port;
}

static int bind_tcp(srv_listener *l, const cfg_bind *b, int port, char *err, size_t n)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    int gai = getaddrinfo(b->host[0] ? b->host : NULL, port > 0 ? service : b->port, &hints, &res);
    if (gai != 0) {
        snprintf(err, n, "--bind %s: %s", b->text, gai_strerror(gai));
        return -EINVAL;
    }
    int r = 0, one = 1;
    l->fd = new_socket(res->ai_family);
    if (l->fd < 0)
        r = fail(b, errno, "socket", err, n);
    else if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        r = fail(b, errno, "SO_REUSEADDR", err, n);
    else if (l->reuse_port && setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        r = fail(b, errno, "SO_REUSEPORT", err, n);
    else if (res->ai_family == AF_INET6 &&
             setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        r = fail(b, errno, "IPV6_V6ONLY", err, n);
    else if (bind(l->fd, res->ai_addr, res->ai_addrlen) < 0)
        r = fail(b, errno, "bind", err, n);
    freeaddrinfo(res);
    if (r == 0)
        describe_tcp(l);
    return r;
}

/* A socket file nobody accepts on is left over from a server that died:
 * remove it. One that answers belongs to a live server: keep it. */
static int clear_stale(const cfg_bind *b, const struct sockaddr_un *sun, char *err, size_t n)
{
    struct stat st;
    if (lstat(b->path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return 0; /* absent, or not a socket: bind reports it */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(b, errno, "socket", err, n);
    int live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
    int why = errno;
    close(fd);
    if (live)
        return fail(b, EADDRINUSE, "a server is listening there", err, n);
    if (why == ECONNREFUSED && unlink(b->path) < 0)
        return fail(b, errno, "unlink stale socket", err, n);
    return 0;
}

static int bind_unix(srv_listener *l, const cfg_bind *b, char *err, size_t n)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, b->path, strlen(b->path) + 1);
    int r = clear_stale(b, &sun, err, n);
    if (r < 0)
        return r;
    l->fd = new_socket(AF_UNIX);
    if (l->fd < 0)
        return fail(b, errno, "socket", err, n);
    if (bind(l->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        return fail(b, errno, "bind", err, n);
    l->is_unix = true;
    memcpy(l->path, b->path, sizeof(l->path));
    snprintf(l->url, sizeof(l->url), "unix:%s", b->path);
    return 0;
}

int srv_listen_bind(srv_listener *l, const cfg_bind *b, bool reuse_port, int port, char *err,
                    size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->bind = b;
    l->reuse_port = reuse_port && !b->is_unix; /* unix sockets do not balance */
    int r = b->is_unix ? bind_unix(l, b, err, errlen) : bind_tcp(l, b, port, err, errlen);
    if (r < 0)
        srv_listen_close(l, false);
    return r;
}

int srv_listen_start(srv_listener *l, char *err, size_t errlen)
{
    if (listen(l->fd, SRV_BACKLOG) == 0)
        return 0;
    int r = fail(l->bind, errno, "listen", err, errlen);
    srv_listen_close(l, false);
    return r;
}

int srv_listen(srv_listener *l, const cfg_bind *b, char *err, size_t errlen)
{
    int r = srv_listen_bind(l, b, false, 0, err, errlen);
    return r < 0 ? r : srv_listen_start(l, err, errlen);
}

void srv_listen_close(srv_listener *l, bool unlink_path)
{
    if (l->fd >= 0)
        gs_close(l->fd); /* the hub may have it registered (accept waits) */
    l->fd = -1;
    if (unlink_path && l->is_unix) {
        unlink(l->path);
        l->is_unix = false; /* once: a later server may own the path by then */
    }
}
