/*
 * send_floor.c -- what a fan-out costs the kernel alone: N established
 * loopback TCP connections, one send() of a long-poll answer's size on
 * each, back to back from one thread, while another thread reads them on
 * epoll as a client would. No HTTP, no scheduling: the floor under any
 * server's fan-out on this machine.
 *
 *   send_floor [-n CONNS] [-s BYTES] [-p PORT]
 *
 * Prints: floor sends=N bytes=B send_ms=.. us_per_send=.. all_read_ms=..
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct floor_run {
    int n, ep;
    int *client, *server;
    atomic_int read;
} floor_run;

static void die(const char *what)
{
    fprintf(stderr, "send_floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int listener(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0)
        die("listen");
    return fd;
}

/* Client i binds 127.0.0.(2 + i % 8) first: more than one port range. */
static void connect_pair(floor_run *f, int lfd, int port, int i)
{
    int c = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)(i % 8));
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c < 0 || bind(c, (struct sockaddr *)&src, sizeof(src)) < 0 ||
        connect(c, (struct sockaddr *)&dst, sizeof(dst)) < 0)
        die("connect");
    int s = accept(lfd, NULL, NULL);
    if (s < 0)
        die("accept");
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
    if (epoll_ctl(f->ep, EPOLL_CTL_ADD, c, &ev) < 0)
        die("epoll_ctl");
    f->client[i] = c;
    f->server[i] = s;
}

static void *reader(void *arg)
{
    floor_run *f = arg;
    struct epoll_event evs[512];
    char buf[4096];
    while (atomic_load(&f->read) < f->n) {
        int k = epoll_wait(f->ep, evs, 512, 1000);
        for (int i = 0; i < k; i++)
            if (read(evs[i].data.fd, buf, sizeof(buf)) > 0)
                atomic_fetch_add(&f->read, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int n = 10000, size = 180, port = 18399, opt;
    while ((opt = getopt(argc, argv, "n:s:p:")) != -1) {
        if (opt == 'n')
            n = atoi(optarg);
        else if (opt == 's')
            size = atoi(optarg);
        else if (opt == 'p')
            port = atoi(optarg);
        else
            return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max < (rlim_t)(2 * n + 16)) {
        fprintf(stderr, "send_floor: %d connections need %d descriptors (hard limit %llu)\n", n,
                2 * n + 16, (unsigned long long)rl.rlim_max);
        return 2;
    }
    floor_run f = {.n = n, .ep = epoll_create1(0)};
    f.client = calloc((size_t)n, sizeof(int));
    f.server = calloc((size_t)n, sizeof(int));
    char *msg = malloc((size_t)size);
    if (f.ep < 0 || !f.client || !f.server || !msg)
        die("setup");
    memset(msg, 'x', (size_t)size);
    int lfd = listener(port);
    for (int i = 0; i < n; i++)
        connect_pair(&f, lfd, port, i);
    pthread_t th;
    pthread_create(&th, NULL, reader, &f);
    usleep(200 * 1000);
    double t0 = now_ms();
    for (int i = 0; i < n; i++)
        if (send(f.server[i], msg, (size_t)size, 0) != size)
            die("send");
    double t1 = now_ms();
    pthread_join(th, NULL);
    double t2 = now_ms();
    printf("floor sends=%d bytes=%d send_ms=%.1f us_per_send=%.2f all_read_ms=%.1f\n", n, size,
           t1 - t0, (t1 - t0) * 1e3 / n, t2 - t0);
    return 0;
}
