/* Green I/O: gs_wait_fd, accept, connect, read, write, sendfile, close, the
 * buffered reader, and an echo server holding 1,000 connections at once. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "greenserve.h"

static void ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

TestSuite(io, .init = ignore_sigpipe);

/* ---- helpers ---- */

static void nb_pipe(int p[2])
{
    cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void nb_socketpair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    return fd;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

static int bound_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* A socket bound to an ephemeral port of 127.0.0.1; listening if backlog >= 0. */
static int tcp_bound(int backlog, int *port)
{
    int fd = tcp_socket();
    struct sockaddr_in sin = loopback(0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    if (backlog >= 0)
        cr_assert_eq(listen(fd, backlog), 0);
    *port = bound_port(fd);
    return fd;
}

static int tcp_connect(int port, int64_t timeout_ms, int *rc)
{
    int fd = tcp_socket();
    struct sockaddr_in sin = loopback(port);
    *rc = gs_connect(fd, (struct sockaddr *)&sin, sizeof(sin), timeout_ms);
    return fd;
}

/* A connected pair of TCP sockets over loopback. */
static void tcp_pair(int sv[2])
{
    int port, rc;
    int l = tcp_bound(1, &port);
    sv[0] = tcp_connect(port, 1000, &rc);
    cr_assert_eq(rc, 0);
    sv[1] = gs_accept(l, NULL, NULL, 1000);
    cr_assert_geq(sv[1], 0);
    gs_close(l);
}

static unsigned char pattern(size_t i, unsigned seed)
{
    return (unsigned char)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

static char *patterned(size_t n, unsigned seed)
{
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)pattern(i, seed);
    return b;
}

/* ---- gs_wait_fd ---- */

Test(io, wait_fd_times_out_on_empty_pipe, .timeout = 5)
{
    int p[2];
    nb_pipe(p);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_wait_fd(p[0], GS_READ, 30), -ETIMEDOUT);
    cr_assert_geq(gs_now_ms() - t0, 25);
    cr_assert_lt(gs_now_ms() - t0, 1000);
    cr_assert_eq(gs_wait_fd(p[0], GS_READ, 0), -ETIMEDOUT);
    cr_assert_eq(gs_wait_fd(p[0], 0, 0), -EINVAL);
}

static void *write_later(void *arg)
{
    int fd = *(int *)arg;
    gs_sleep(20);
    return (void *)(long)write(fd, "x", 1);
}

Test(io, wait_fd_wakes_when_pipe_gets_data, .timeout = 5)
{
    int p[2];
    nb_pipe(p);
    gs_thread *w = gs_spawn(write_later, &p[1]);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_wait_fd(p[0], GS_READ, 2000), GS_READ);
    cr_assert_geq(gs_now_ms() - t0, 15);
    gs_join(w, NULL, GS_FOREVER);
}

/* Threads that keep socket pairs busy: each round of the loop finds
 * edges in the descriptor set, which the loop then polls alone. */
enum { PAIRS = 4 };
static volatile bool ping_stop;

typedef struct pinger {
    int fd;
    long exchanges;
    bool ended;
} pinger;

static void *ping(void *arg)
{
    pinger *p = arg;
    char c = 'p';
    while (!ping_stop) {
        if (gs_fd_write(p->fd, &c, 1, 5000) != 1 || gs_fd_read(p->fd, &c, 1, 5000) != 1)
            break;
        p->exchanges++;
    }
    p->ended = true;
    return NULL;
}

static void *pong(void *arg)
{
    int fd = *(int *)arg;
    char c;
    while (gs_fd_read(fd, &c, 1, 5000) == 1 && gs_fd_write(fd, &c, 1, 5000) == 1)
        ;
    return NULL;
}

/* ... and libevent still gets its turn: a timer is not starved. */
Test(io, busy_descriptors_do_not_starve_timers, .timeout = 20)
{
    int sv[PAIRS][2];
    pinger p[PAIRS];
    gs_thread *pings[PAIRS], *pongs[PAIRS];
    ping_stop = false;
    for (int i = 0; i < PAIRS; i++) {
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
        p[i] = (pinger){.fd = sv[i][0]};
        pings[i] = gs_spawn(ping, &p[i]);
        pongs[i] = gs_spawn(pong, &sv[i][1]);
    }
    for (int i = 0; i < PAIRS; i++) /* all going (a yield needs no timer) */
        while (p[i].exchanges < 3)
            gs_yield();
    cr_assert_eq(gs_sleep(30), 0);
    /* The timer fired while every pair was still going. */
    for (int i = 0; i < PAIRS; i++)
        cr_assert_not(p[i].ended, "pair %d stopped during the sleep", i);
    ping_stop = true;
    for (int i = 0; i < PAIRS; i++) {
        cr_assert_eq(gs_join(pings[i], NULL, GS_FOREVER), 0);
        gs_close(sv[i][0]);
        cr_assert_eq(gs_join(pongs[i], NULL, GS_FOREVER), 0);
        gs_close(sv[i][1]);
    }
}

/* The trampoline reports a level, not only an edge: a second wait on a
 * descriptor that is still ready returns at once. */
Test(io, wait_fd_sees_readiness_a_previous_wait_left, .timeout = 5)
{
    int sv[2];
    nb_socketpair(sv);
    cr_assert_eq(gs_wait_fd(sv[0], GS_WRITE, 1000), GS_WRITE);
    cr_assert_eq(gs_wait_fd(sv[0], GS_WRITE, 1000), GS_WRITE);
    cr_assert_eq(gs_wait_fd(sv[0], GS_READ | GS_WRITE, 1000), GS_WRITE);
    cr_assert_eq(write(sv[1], "ab", 2), 2);
    cr_assert_eq(gs_wait_fd(sv[0], GS_READ, 1000), GS_READ);
    char c;
    cr_assert_eq(read(sv[0], &c, 1), 1); /* one byte of two: still readable */
    cr_assert_eq(gs_wait_fd(sv[0], GS_READ, 1000), GS_READ);
    cr_assert_eq(gs_wait_fd(sv[0], GS_READ | GS_WRITE, 1000), GS_READ | GS_WRITE);
    gs_close(sv[0]);
    gs_close(sv[1]);
}

static void *wait_read_forever(void *arg)
{
    return (void *)(long)gs_wait_fd(*(int *)arg, GS_READ, GS_FOREVER);
}

Test(io, wait_fd_killed_returns_ecanceled, .timeout = 5)
{
    int sv[2];
    nb_socketpair(sv);
    gs_thread *t = gs_spawn(wait_read_forever, &sv[0]);
    gs_sleep(5);
    gs_kill(t);
    void *r;
    gs_join(t, &r, GS_FOREVER);
    cr_assert_eq((long)r, -ECANCELED);
}

static void quiet(int severity, const char *msg)
{
    (void)severity, (void)msg;
}

Test(io, wait_fd_on_closed_descriptor_is_ebadf)
{
    event_set_log_callback(quiet); /* libevent warns of the failed epoll_ctl */
    int p[2];
    nb_pipe(p);
    close(p[0]);
    close(p[1]);
    cr_assert_eq(gs_wait_fd(p[0], GS_READ, 100), -EBADF);
    cr_assert_eq(gs_wait_fd(-1, GS_READ, 100), -EBADF);
}

static void *read_forever(void *arg)
{
    char c;
    return (void *)(long)gs_fd_read(*(int *)arg, &c, 1, GS_FOREVER);
}

Test(io, close_wakes_waiters_with_ebadf, .timeout = 5)
{
    int p[2], q[2];
    nb_pipe(p);
    nb_pipe(q);
    gs_thread *waiter = gs_spawn(wait_read_forever, &p[0]);
    gs_thread *reader = gs_spawn(read_forever, &q[0]);
    gs_sleep(5);
    int fd0 = p[0], fd1 = q[0];
    cr_assert_eq(gs_close(fd0), 0);
    cr_assert_eq(gs_close(fd1), 0);
    void *r1, *r2;
    gs_join(waiter, &r1, GS_FOREVER);
    gs_join(reader, &r2, GS_FOREVER);
    cr_assert_eq((long)r1, -EBADF);
    cr_assert_eq((long)r2, -EBADF);
    cr_assert_eq(gs_close(fd0), -EBADF);
}

/* ---- accept and connect ---- */

Test(io, accept_times_out, .timeout = 5)
{
    int port;
    int l = tcp_bound(8, &port);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_accept(l, NULL, NULL, 30), -ETIMEDOUT);
    cr_assert_geq(gs_now_ms() - t0, 25);
}

static void *accept_one(void *arg)
{
    return (void *)(long)gs_accept(*(int *)arg, NULL, NULL, 2000);
}

Test(io, accept_and_connect, .timeout = 5)
{
    int port, rc;
    int l = tcp_bound(8, &port);
    gs_thread *a = gs_spawn(accept_one, &l);
    int c = tcp_connect(port, 2000, &rc);
    cr_assert_eq(rc, 0);
    void *r;
    gs_join(a, &r, GS_FOREVER);
    int s = (int)(long)r;
    cr_assert_geq(s, 0);
    cr_assert(fcntl(s, F_GETFL) & O_NONBLOCK);
    cr_assert(fcntl(s, F_GETFD) & FD_CLOEXEC);
    cr_assert_eq(gs_fd_write(c, "hi", 2, 1000), 2);
    char buf[4];
    cr_assert_eq(gs_fd_read(s, buf, sizeof(buf), 1000), 2);
    cr_assert_eq(memcmp(buf, "hi", 2), 0);
}

Test(io, accept_killed_returns_ecanceled, .timeout = 5)
{
    int port;
    int l = tcp_bound(8, &port);
    gs_thread *a = gs_spawn(accept_one, &l);
    gs_sleep(5);
    gs_kill(a);
    void *r;
    gs_join(a, &r, GS_FOREVER);
    cr_assert_eq((long)r, -ECANCELED);
}

Test(io, connect_refused, .timeout = 5)
{
    int port, rc;
    int bound = tcp_bound(-1, &port); /* holds the port, never listens */
    int c = tcp_connect(port, 2000, &rc);
    cr_assert_eq(rc, -ECONNREFUSED);
    gs_close(c);
    gs_close(bound);
}

/* A listener whose accept queue is full drops new SYNs, so a connect to
 * it stays in progress: fill the queue, then one connect must time out. */
Test(io, connect_times_out, .timeout = 10)
{
    int port, rc = 0;
    int l = tcp_bound(0, &port);
    int64_t took = 0;
    for (int i = 0; i < 16 && rc == 0; i++) {
        int64_t t0 = gs_now_ms();
        tcp_connect(port, 100, &rc);
        took = gs_now_ms() - t0;
    }
    cr_assert_eq(rc, -ETIMEDOUT);
    cr_assert_geq(took, 95);
    cr_assert_lt(took, 1000);
    gs_close(l);
}

/* ---- read and write ---- */

struct transfer {
    int fd;
    size_t n;
    char *buf;
    ssize_t rc;
    bool done;
};

static void *write_all(void *arg)
{
    struct transfer *x = arg;
    x->rc = gs_fd_write(x->fd, x->buf, x->n, 10000);
    x->done = true;
    return NULL;
}

/* Reads until n bytes or EOF, in odd-sized chunks, pausing now and then
 * so the writer finds the socket buffer full. */
static void *read_all(void *arg)
{
    struct transfer *x = arg;
    size_t got = 0;
    while (got < x->n) {
        size_t want = x->n - got < 7777 ? x->n - got : 7777;
        ssize_t r = gs_fd_read(x->fd, x->buf + got, want, 10000);
        if (r <= 0) {
            x->rc = r;
            return NULL;
        }
        got += (size_t)r;
        if (got % 5 == 0)
            gs_sleep(1);
    }
    x->rc = (ssize_t)got;
    x->done = true;
    return NULL;
}

Test(io, large_write_fills_the_socket_buffer_and_completes, .timeout = 10)
{
    enum { N = 8 << 20 };
    int sv[2];
    tcp_pair(sv);
    struct transfer w = {.fd = sv[0], .n = N, .buf = patterned(N, 1)};
    struct transfer r = {.fd = sv[1], .n = N, .buf = malloc(N)};
    gs_thread *tw = gs_spawn(write_all, &w);
    gs_sleep(20);
    cr_assert_not(w.done, "8 MiB fit in the socket buffers: the writer never parked");
    gs_thread *tr = gs_spawn(read_all, &r);
    gs_join(tw, NULL, GS_FOREVER);
    gs_join(tr, NULL, GS_FOREVER);
    cr_assert_eq(w.rc, N);
    cr_assert_eq(r.rc, N);
    cr_assert_eq(memcmp(w.buf, r.buf, N), 0);
    free(w.buf);
    free(r.buf);
}

Test(io, write_times_out_when_peer_does_not_read, .timeout = 5)
{
    enum { N = 32 << 20 };
    int sv[2];
    tcp_pair(sv);
    char *buf = calloc(1, N);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_fd_write(sv[0], buf, N, 50), -ETIMEDOUT);
    cr_assert_geq(gs_now_ms() - t0, 45);
    cr_assert_lt(gs_now_ms() - t0, 1000);
    free(buf);
}

Test(io, read_times_out_then_sees_eof, .timeout = 5)
{
    int sv[2];
    tcp_pair(sv);
    char buf[16];
    cr_assert_eq(gs_fd_read(sv[0], buf, sizeof(buf), 20), -ETIMEDOUT);
    cr_assert_eq(gs_fd_write(sv[1], "abc", 3, 1000), 3);
    cr_assert_eq(gs_fd_read(sv[0], buf, sizeof(buf), 1000), 3);
    gs_close(sv[1]);
    cr_assert_eq(gs_fd_read(sv[0], buf, sizeof(buf), 1000), 0);
}

/* ---- sendfile ---- */

static int temp_file(const char *data, size_t n)
{
    char path[] = "/tmp/gs-test-sendfile-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    return fd;
}

struct sendfile_job {
    int out, in;
    off_t offset;
    size_t n;
    ssize_t rc;
};

static void *send_file(void *arg)
{
    struct sendfile_job *j = arg;
    j->rc = gs_sendfile(j->out, j->in, &j->offset, j->n, 10000);
    return NULL;
}

Test(io, sendfile_of_a_temp_file, .timeout = 10)
{
    enum { N = (3 << 20) + 123, FROM = 1000 };
    char *data = patterned(N, 2);
    int file = temp_file(data, N);
    int sv[2];
    tcp_pair(sv);
    /* Ask for more than is left: the file's end ends the call. */
    struct sendfile_job j = {.out = sv[0], .in = file, .offset = FROM, .n = N};
    struct transfer r = {.fd = sv[1], .n = N - FROM, .buf = malloc(N)};
    gs_thread *ts = gs_spawn(send_file, &j);
    gs_thread *tr = gs_spawn(read_all, &r);
    gs_join(ts, NULL, GS_FOREVER);
    gs_join(tr, NULL, GS_FOREVER);
    cr_assert_eq(j.rc, N - FROM);
    cr_assert_eq(j.offset, N);
    cr_assert_eq(r.rc, N - FROM);
    cr_assert_eq(memcmp(r.buf, data + FROM, N - FROM), 0);
    free(data);
    free(r.buf);
    close(file);
}

/* ---- the buffered reader ---- */

struct writes {
    int fd;
    const char *const *parts; /* NULL-terminated; written 10 ms apart */
    bool close_after;
};

static void *write_parts(void *arg)
{
    struct writes *w = arg;
    for (const char *const *p = w->parts; *p; p++) {
        gs_fd_write(w->fd, *p, strlen(*p), 1000);
        gs_sleep(10);
    }
    if (w->close_after)
        gs_close(w->fd);
    return NULL;
}

Test(io, readline_across_partial_writes, .timeout = 5)
{
    int sv[2];
    nb_socketpair(sv);
    static const char *const parts[] = {"one\ntw", "o\nthr", "ee\n", NULL};
    struct writes w = {.fd = sv[1], .parts = parts};
    gs_thread *t = gs_spawn(write_parts, &w);
    gs_reader *rd = gs_reader_new(sv[0], 64);
    char line[32];
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 4);
    cr_assert_str_eq(line, "one\n");
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 4);
    cr_assert_str_eq(line, "two\n");
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 6);
    cr_assert_str_eq(line, "three\n");
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 20), -ETIMEDOUT);
    gs_join(t, NULL, GS_FOREVER);
    gs_reader_free(rd);
}

Test(io, readline_too_long_stays_buffered, .timeout = 5)
{
    int sv[2];
    nb_socketpair(sv);
    const char *text = "0123456789\nabc\n";
    cr_assert_eq(write(sv[1], text, strlen(text)), (ssize_t)strlen(text));
    gs_reader *rd = gs_reader_new(sv[0], 64);
    char line[32];
    cr_assert_eq(gs_reader_readline(rd, line, 8, 1000), -EMSGSIZE);
    cr_assert_eq(gs_reader_readline(rd, line, 11, 1000), -EMSGSIZE); /* 11 bytes need 12 */
    cr_assert_eq(gs_reader_readline(rd, line, 12, 1000), 11);
    cr_assert_str_eq(line, "0123456789\n");
    cr_assert_eq(gs_reader_readline(rd, line, 5, 1000), 4); /* exactly n - 1 */
    cr_assert_str_eq(line, "abc\n");
    gs_reader_free(rd);
}

/* Without a '\n' in sight, the line is too long as soon as n bytes are in. */
Test(io, readline_too_long_without_newline_yet, .timeout = 5)
{
    int sv[2];
    nb_socketpair(sv);
    cr_assert_eq(write(sv[1], "abcdefgh", 8), 8);
    gs_reader *rd = gs_reader_new(sv[0], 64);
    char line[32];
    cr_assert_eq(gs_reader_readline(rd, line, 4, 1000), -EMSGSIZE);
    cr_assert_eq(gs_reader_read(rd, line, sizeof(line), 1000), 8, "the bytes stayed buffered");
    gs_reader_free(rd);
}

Test(io, readline_returns_last_line_without_newline_at_eof, .timeout = 5)
{
    int sv[2];
    nb_socketpair(sv);
    static const char *const parts[] = {"first\nla", "st", NULL};
    struct writes w = {.fd = sv[1], .parts = parts, .close_after = true};
    gs_thread *t = gs_spawn(write_parts, &w);
    gs_reader *rd = gs_reader_new(sv[0], 64);
    char line[32];
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 6);
    cr_assert_str_eq(line, "first\n");
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 4);
    cr_assert_str_eq(line, "last");
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 0);
    cr_assert_eq(gs_reader_read(rd, line, sizeof(line), 1000), 0);
    gs_join(t, NULL, GS_FOREVER);
    gs_reader_free(rd);
}

/* A line longer than the reader's buffer still fits the caller's. */
Test(io, readline_longer_than_reader_buffer, .timeout = 5)
{
    int sv[2];
    nb_socketpair(sv);
    char text[302];
    memset(text, 'x', 300);
    text[300] = '\n';
    text[301] = 0;
    cr_assert_eq(write(sv[1], text, 301), 301);
    cr_assert_eq(write(sv[1], "y\n", 2), 2);
    gs_reader *rd = gs_reader_new(sv[0], 16);
    char line[400];
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 301);
    cr_assert_str_eq(line, text);
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 2);
    cr_assert_str_eq(line, "y\n");
    gs_reader_free(rd);
}

Test(io, reader_read_mixes_with_readline, .timeout = 5)
{
    int sv[2];
    nb_socketpair(sv);
    cr_assert_eq(write(sv[1], "head\nbody-bytes", 15), 15);
    gs_reader *rd = gs_reader_new(sv[0], 64);
    char line[32], buf[64];
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 5);
    cr_assert_eq(gs_reader_read(rd, buf, 4, 1000), 4);
    cr_assert_eq(memcmp(buf, "body", 4), 0);
    cr_assert_eq(gs_reader_read(rd, buf, sizeof(buf), 1000), 6, "the rest of the buffer");
    cr_assert_eq(memcmp(buf, "-bytes", 6), 0);
    cr_assert_eq(gs_reader_read(rd, buf, sizeof(buf), 20), -ETIMEDOUT);
    cr_assert_eq(gs_reader_read(rd, buf, 0, 20), 0);
    gs_reader_free(rd);
}

/* Reads as large as the buffer bypass it; order is kept. */
Test(io, reader_large_reads_pass_through, .timeout = 5)
{
    enum { N = 100000 };
    int sv[2];
    tcp_pair(sv);
    char *data = patterned(N, 3);
    struct transfer w = {.fd = sv[1], .n = N, .buf = data};
    gs_thread *tw = gs_spawn(write_all, &w);
    gs_reader *rd = gs_reader_new(sv[0], 256);
    char *got = malloc(N);
    char line[8];
    size_t have = 0;
    cr_assert_eq(gs_reader_read(rd, got, 10, 1000), 10); /* small: fills the buffer */
    have = 10;
    while (have < N) {
        ssize_t r = gs_reader_read(rd, got + have, N - have, 1000);
        cr_assert_gt(r, 0);
        have += (size_t)r;
    }
    cr_assert_eq(memcmp(got, data, N), 0);
    gs_join(tw, NULL, GS_FOREVER);
    gs_close(sv[1]);
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 0);
    gs_reader_free(rd);
    free(got);
    free(data);
}

Test(io, reader_over_a_regular_file, .timeout = 5)
{
    const char *text = "alpha\nbeta\ngamma";
    int fd = temp_file(text, strlen(text));
    lseek(fd, 0, SEEK_SET);
    gs_reader *rd = gs_reader_new(fd, 4);
    char line[32];
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 6);
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 5);
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 5);
    cr_assert_str_eq(line, "gamma");
    cr_assert_eq(gs_reader_readline(rd, line, sizeof(line), 1000), 0);
    gs_reader_free(rd);
    close(fd);
}

/* ---- an echo server (eventlet's echo example) with 1,000 clients ---- */

enum { CLIENTS = 1000, LINES = 6 };

/* One green thread per connection: echo each line until EOF. */
static void *echo_conn(void *arg)
{
    int fd = (int)(long)arg;
    gs_reader *rd = gs_reader_new(fd, 512);
    char line[1024];
    ssize_t n;
    while (rd && (n = gs_reader_readline(rd, line, sizeof(line), GS_FOREVER)) > 0)
        if (gs_fd_write(fd, line, (size_t)n, GS_FOREVER) != n)
            break;
    gs_reader_free(rd);
    gs_close(fd);
    return NULL;
}

static void *echo_server(void *arg)
{
    int l = *(int *)arg;
    int fd;
    while ((fd = gs_accept(l, NULL, NULL, GS_FOREVER)) >= 0)
        gs_spawn_n(echo_conn, (void *)(long)fd);
    return (void *)(long)fd;
}

/* Lines of varied length, distinct for every client. */
static size_t client_script(unsigned id, char *out)
{
    size_t n = 0;
    for (unsigned i = 0; i < LINES; i++) {
        size_t len = 20 + (id * 37 + i * 101) % 400;
        for (size_t k = 0; k < len; k++)
            out[n++] = (char)('!' + pattern(k, id * LINES + i) % 90);
        out[n++] = '\n';
    }
    return n;
}

/* Send every line, half-close, read the echo until EOF and compare. */
static void *echo_client(void *arg)
{
    unsigned id = (unsigned)(long)arg;
    char sent[LINES * 512], got[LINES * 512 + 1];
    int port = id >> 16, rc;
    id &= 0xffff;
    size_t n = client_script(id, sent);
    int fd = tcp_connect(port, GS_FOREVER, &rc);
    if (rc < 0 || gs_fd_write(fd, sent, n, GS_FOREVER) != (ssize_t)n)
        return (void *)1L;
    shutdown(fd, SHUT_WR);
    size_t have = 0;
    ssize_t r;
    while ((r = gs_fd_read(fd, got + have, sizeof(got) - have, GS_FOREVER)) > 0)
        have += (size_t)r;
    gs_close(fd);
    return (void *)(long)(r < 0 ? 2 : have != n ? 3 : memcmp(got, sent, n) ? 4 : 0);
}

Test(io, echo_server_with_1000_concurrent_clients, .timeout = 20)
{
    int port;
    int l = tcp_bound(4096, &port);
    gs_thread *server = gs_spawn(echo_server, &l);
    gs_thread *clients[CLIENTS];
    for (long i = 0; i < CLIENTS; i++)
        clients[i] = gs_spawn(echo_client, (void *)(((long)port << 16) | i));
    int failures[5] = {0};
    for (int i = 0; i < CLIENTS; i++) {
        void *r;
        cr_assert_eq(gs_join(clients[i], &r, GS_FOREVER), 0);
        failures[(long)r]++;
    }
    cr_assert_eq(failures[0], CLIENTS, "connect/write %d, read %d, length %d, content %d",
                 failures[1], failures[2], failures[3], failures[4]);
    gs_kill(server);
    void *r;
    gs_join(server, &r, GS_FOREVER);
    cr_assert_eq((long)r, -ECANCELED);
    gs_close(l);
}
