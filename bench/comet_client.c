/*
 * comet_client.c -- many idle HTTP clients from one process, for
 * bench/bench-comet.sh: long-poll waiters, or idle keep-alive clients.
 *
 *   comet_client -p PORT -n CONNS [-u PATH] [-k] [-f FIRST] [-a ADDRS]
 *                [-P PUBLISH_PATH] [-t SECONDS]
 *
 * Opens CONNS connections to 127.0.0.1:PORT, each from one of ADDRS
 * source addresses 127.0.0.FIRST.. (bound before connect, so each address
 * has the whole ephemeral port range), and sends each one "GET PATH".
 *   -k   keep-alive mode: each answer comes at once and the connection
 *        then stays idle; ready once every answer is in.
 *   (default) long-poll mode: no answer is expected; ready once every
 *        request is sent.
 * Then it prints one line and holds the connections:
 *   ready conns=N failed=F seconds=S rate=R      (R = N / S, connections/s)
 * On SIGUSR1 (with -P) it publishes: opens one more connection, sends
 * "POST PUBLISH_PATH" with a small body and, taking the time just before
 * that send, times each waiter's first response bytes:
 *   fanout waiters=N answered=A p50_ms=.. p99_ms=.. max_ms=.. msgs_per_s=..
 * then exits. SIGTERM or SIGINT ends it at any time. -t bounds the
 * connecting and the fan-out phase each (default 120 s).
 *
 * One process holds fewer connections than its open-files limit: past the
 * hard limit (ulimit -Hn) it stops before starting and says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define SPARE_FDS   32   /* epoll, signalfd, stdio, the publisher */
#define MAX_PENDING 1000 /* connects in flight at once: the listen backlog */
#define EVENTS      1024

enum state { FREE, CONNECTING, SENT, ANSWERED, FAILED };

typedef struct conn {
    int fd;
    enum state state;
    int64_t got_ns; /* first response bytes after the publish, or 0 */
} conn;

typedef struct opts {
    int port, n, first, addrs, timeout_s;
    bool keepalive;
    const char *path, *publish;
} opts;

typedef struct client {
    opts o;
    conn *c;
    int ep, sig, pub_fd;
    int started, pending, done, failed, answered;
    int64_t t0_ns, pub_ns;
    char req[1024];
    size_t req_len;
} client;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "comet_client: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The limit is per process: more connections than it allows need more
 * client processes, and a silent shortfall would fake the figures. */
static void check_nofile(int conns)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)conns + SPARE_FDS;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr,
                "comet_client: %d connections need %llu open files, but the hard limit "
                "(ulimit -Hn) is %llu: run several client processes with fewer each\n",
                conns, (unsigned long long)need, (unsigned long long)rl.rlim_max);
        exit(2);
    }
    if (rl.rlim_cur < need) {
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            die("setrlimit RLIMIT_NOFILE");
    }
}

static void watch(client *cl, int fd, uint32_t events, uint64_t data, int op)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(cl->ep, op, fd, &ev) < 0)
        die("epoll_ctl");
}

static void fail(client *cl, conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->state == CONNECTING)
        cl->pending--;
    c->state = FAILED;
    cl->failed++;
}

static void start_one(client *cl, int i)
{
    conn *c = &cl->c[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000000u + (uint32_t)(cl->o.first + i % cl->o.addrs));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
        die("bind (source address)");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->o.port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = fd;
    c->state = CONNECTING;
    cl->pending++;
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        fail(cl, c);
        return;
    }
    watch(cl, fd, EPOLLOUT, (uint64_t)i, EPOLL_CTL_ADD);
}

static void start_more(client *cl)
{
    while (cl->started < cl->o.n && cl->pending < MAX_PENDING)
        start_one(cl, cl->started++);
}

static void on_writable(client *cl, conn *c, int i)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err || write(c->fd, cl->req, cl->req_len) != (ssize_t)cl->req_len) {
        fail(cl, c);
        return;
    }
    cl->pending--;
    c->state = SENT;
    if (!cl->o.keepalive)
        cl->done++;
    watch(cl, c->fd, EPOLLIN, (uint64_t)i, EPOLL_CTL_MOD);
}

static void on_readable(client *cl, conn *c)
{
    char buf[4096];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n <= 0) {
        if (c->state == SENT && !cl->o.keepalive)
            cl->done--; /* a waiter lost before its answer */
        fail(cl, c);
        return;
    }
    if (c->state != SENT)
        return; /* the rest of an answer already counted */
    c->state = ANSWERED;
    if (cl->o.keepalive) {
        cl->done++;
    } else if (cl->pub_ns) {
        c->got_ns = now_ns();
        cl->answered++;
    }
}

static void on_event(client *cl, struct epoll_event *ev)
{
    int i = (int)ev->data.u64;
    conn *c = &cl->c[i];
    if (c->state == CONNECTING)
        on_writable(cl, c, i);
    else if (c->state == SENT || c->state == ANSWERED)
        on_readable(cl, c);
}

/* Returns the signal that came (0 for none). */
static int poll_once(client *cl, int timeout_ms)
{
    struct epoll_event evs[EVENTS];
    int n = epoll_wait(cl->ep, evs, EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    int sig = 0;
    for (int k = 0; k < n; k++) {
        if (evs[k].data.u64 == UINT64_MAX) {
            struct signalfd_siginfo si;
            if (read(cl->sig, &si, sizeof(si)) == sizeof(si))
                sig = (int)si.ssi_signo;
        } else if (evs[k].data.u64 == UINT64_MAX - 1) {
            char junk[4096];
            if (read(cl->pub_fd, junk, sizeof(junk)) <= 0)
                watch(cl, cl->pub_fd, 0, UINT64_MAX - 1, EPOLL_CTL_DEL);
        } else {
            on_event(cl, &evs[k]);
        }
    }
    return sig;
}

static void connect_all(client *cl)
{
    int64_t end = now_ns() + (int64_t)cl->o.timeout_s * 1000000000;
    cl->t0_ns = now_ns();
    start_more(cl);
    while (cl->done + cl->failed < cl->o.n && now_ns() < end) {
        if (poll_once(cl, 100) && cl->pub_ns == 0)
            exit(0); /* TERM or INT while connecting */
        start_more(cl);
    }
    double s = (double)(now_ns() - cl->t0_ns) / 1e9;
    printf("ready conns=%d failed=%d seconds=%.3f rate=%.0f\n", cl->done, cl->failed, s,
           cl->done / s);
    fflush(stdout);
}

static int publish(client *cl)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->o.port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
        die("publish: connect");
    char req[1024];
    const char *body = "fan-out";
    int len = snprintf(req, sizeof(req),
                       "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       cl->o.publish, strlen(body), body);
    cl->pub_fd = fd;
    cl->pub_ns = now_ns();
    if (write(fd, req, (size_t)len) != len)
        die("publish: write");
    watch(cl, fd, EPOLLIN, UINT64_MAX - 1, EPOLL_CTL_ADD);
    return fd;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void report_fanout(client *cl, int waiters)
{
    int64_t *lat = malloc(sizeof(*lat) * (size_t)(cl->answered + 1));
    int k = 0;
    int64_t last = cl->pub_ns;
    for (int i = 0; i < cl->o.n; i++) {
        if (!cl->c[i].got_ns)
            continue;
        lat[k++] = cl->c[i].got_ns - cl->pub_ns;
        if (cl->c[i].got_ns > last)
            last = cl->c[i].got_ns;
    }
    qsort(lat, (size_t)k, sizeof(*lat), cmp_i64);
    double p50 = k ? lat[k / 2] / 1e6 : 0, p99 = k ? lat[(k * 99) / 100 - (k >= 100)] / 1e6 : 0;
    double max = k ? lat[k - 1] / 1e6 : 0, span = (double)(last - cl->pub_ns) / 1e9;
    printf("fanout waiters=%d answered=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f msgs_per_s=%.0f\n",
           waiters, k, p50, p99, max, span > 0 ? k / span : 0);
    fflush(stdout);
    free(lat);
}

static void fanout(client *cl)
{
    int waiters = cl->done;
    publish(cl);
    int64_t end = now_ns() + (int64_t)cl->o.timeout_s * 1000000000;
    while (cl->answered < waiters && now_ns() < end)
        if (poll_once(cl, 100))
            break;
    report_fanout(cl, waiters);
}

static void hold(client *cl)
{
    for (;;) {
        int sig = poll_once(cl, -1);
        if (sig == SIGUSR1 && cl->o.publish) {
            fanout(cl);
            return;
        }
        if (sig && sig != SIGUSR1)
            return;
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: comet_client -p PORT -n CONNS [-u PATH] [-k] [-f FIRST_ADDR] "
                    "[-a ADDRS] [-P PUBLISH_PATH] [-t SECONDS]\n");
    exit(2);
}

static opts parse_opts(int argc, char **argv)
{
    opts o = {.first = 2, .addrs = 8, .timeout_s = 120, .path = "/"};
    for (int ch; (ch = getopt(argc, argv, "p:n:u:kf:a:P:t:")) != -1;) {
        switch (ch) {
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'n':
            o.n = atoi(optarg);
            break;
        case 'u':
            o.path = optarg;
            break;
        case 'k':
            o.keepalive = true;
            break;
        case 'f':
            o.first = atoi(optarg);
            break;
        case 'a':
            o.addrs = atoi(optarg);
            break;
        case 'P':
            o.publish = optarg;
            break;
        case 't':
            o.timeout_s = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (o.port <= 0 || o.n <= 0 || o.addrs <= 0 || o.first <= 0 || o.first + o.addrs > 255)
        usage();
    return o;
}

int main(int argc, char **argv)
{
    client cl = {.o = parse_opts(argc, argv), .pub_fd = -1};
    check_nofile(cl.o.n);
    cl.req_len = (size_t)snprintf(cl.req, sizeof(cl.req),
                                  "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", cl.o.path);
    cl.c = calloc((size_t)cl.o.n, sizeof(*cl.c));
    cl.ep = epoll_create1(EPOLL_CLOEXEC);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    cl.sig = signalfd(-1, &set, SFD_CLOEXEC);
    if (!cl.c || cl.ep < 0 || cl.sig < 0)
        die("setup");
    watch(&cl, cl.sig, EPOLLIN, UINT64_MAX, EPOLL_CTL_ADD);
    connect_all(&cl);
    hold(&cl);
    return 0;
}
