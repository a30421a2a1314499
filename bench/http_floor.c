/*
 * http_floor.c -- what a keep-alive "Hello, World!" costs the kernel
 * alone: one epoll thread, edge-triggered, that answers every request
 * head ("\r\n\r\n") on a connection with the same 135 bytes greenserve's
 * hello.so sends. One recv per readiness (a short read drained the
 * socket), one send per batch of answers, no parsing, no timers, no
 * allocation. Not a server: the floor under any server that reads and
 * writes each request with plain syscalls, run beside nginx and
 * greenserve by bench/bench-http.sh.
 *
 *   http_floor PORT
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor.h"

#define MAX_EVENTS 512
#define IN_SIZE    4096
#define MAX_BATCH  64

typedef struct conn {
    int fd;
    unsigned char tail; /* how much of "\r\n\r\n" the last read ended with */
} conn;

static void die(const char *what)
{
    fprintf(stderr, "http_floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void serve(conn *c)
{
    static char in[IN_SIZE], out[MAX_BATCH * sizeof(floor_answer)];
    for (;;) {
        ssize_t got = recv(c->fd, in, sizeof(in), 0);
        if (got < 0 && errno == EAGAIN)
            return;
        if (got <= 0) {
            close(c->fd);
            free(c);
            return;
        }
        int k = floor_heads(&c->tail, in, (size_t)got);
        while (k > 0) {
            int batch = k < MAX_BATCH ? k : MAX_BATCH;
            for (int i = 0; i < batch; i++)
                memcpy(out + (size_t)i * (sizeof(floor_answer) - 1), floor_answer,
                       sizeof(floor_answer) - 1);
            /* A client that does not read gets less: fine for a floor. */
            (void)send(c->fd, out, (size_t)batch * (sizeof(floor_answer) - 1), MSG_NOSIGNAL);
            k -= batch;
        }
        if ((size_t)got < sizeof(in))
            return;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return fprintf(stderr, "usage: http_floor PORT\n"), 2;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0)
        die("listen");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
        die("epoll");
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c) {
                serve(c);
                continue;
            }
            int fd;
            while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                c = calloc(1, sizeof(*c));
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
                if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                    close(fd);
                    free(c);
                    continue;
                }
                c->fd = fd;
            }
        }
    }
}
