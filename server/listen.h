/*
 * listen.h -- listening sockets: TCP (IPv4, IPv6) and unix, non-blocking,
 * close-on-exec, backlog 4096. Bound before the workers start, so a master
 * can hand the same sockets to every worker it forks.
 */
#ifndef SRV_LISTEN_H
#define SRV_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "config/options.h"

#define SRV_BACKLOG 4096

typedef struct srv_listener {
    int fd; /* -1 once closed */
    bool is_unix;
    bool reuse_port;      /* SO_REUSEPORT: one of a group, each with its own backlog */
    int port;             /* TCP: the port bound (the one chosen for port 0) */
    const cfg_bind *bind; /* what it was made from (borrowed) */
    char path[108];       /* the unix socket's path, to unlink at close */
    char url[128];        /* the address actually bound: "http://127.0.0.1:40123/",
                             "http://[::1]:8080/", "unix:/run/gs.sock" */
} srv_listener;

/* Create, bind and listen on b. A unix socket path left by a dead server
 * (nothing accepts on it) is unlinked first; a live one is refused. TCP
 * sockets get SO_REUSEADDR, IPv6 ones IPV6_V6ONLY. Port 0 binds a free port;
 * l->url names the one chosen. Returns 0, or -errno with err naming the
 * address and the reason. Blocking (name resolution): call it at start-up. */
int srv_listen(srv_listener *l, const cfg_bind *b, char *err, size_t errlen);

/* srv_listen in two steps, for --reuse-port: bind (with SO_REUSEPORT when
 * reuse_port is set, for TCP), then listen. A socket bound but not yet
 * listening takes no connections, yet holds its port: the master keeps one
 * so that every worker can bind its own to the same port, and a worker
 * listens only once its apps are ready. port > 0 replaces b's port. */
int srv_listen_bind(srv_listener *l, const cfg_bind *b, bool reuse_port, int port, char *err,
                    size_t errlen);
int srv_listen_start(srv_listener *l, char *err, size_t errlen);

/* Close l; with unlink_path (the process that created it), remove a unix
 * socket's file too. Safe on a closed listener, and a listener closed
 * without unlink_path may be closed again with it to remove the file. */
void srv_listen_close(srv_listener *l, bool unlink_path);

#endif
