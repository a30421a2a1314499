/*
 * blocking.c -- a handler written the way most C libraries are: plain
 * blocking calls that know nothing of green threads. It shows what
 * --threads is for.
 *
 *     greenserve --threads 8 /blocking=build/apps/blocking.so
 *     curl 'http://127.0.0.1:8080/blocking/sleep?ms=300'
 *     curl 'http://127.0.0.1:8080/blocking/read?ms=300'
 *
 *   /sleep?ms=N  usleep(3) for N ms (default 300).
 *   /read?ms=N   a blocking read(2) of 16 bytes from /dev/urandom, then a
 *                blocking recv(2) on a loopback TCP connection that waits N
 *                ms for bytes that come only after it gives up; then the
 *                random bytes go through that connection and back.
 *
 * Each answers with what it did, how long it took, and the OS thread it
 * ran on. With --threads 0 every such call stalls the whole worker: no
 * other client of that process is served until it returns. With
 * --threads M the handler runs on one of M OS threads and blocks only
 * that thread; the worker goes on serving everyone else.
 */
#define _GNU_SOURCE /* gettid, accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <greenserve.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define DEFAULT_MS 300
#define MAX_MS     60000

static int query_ms(gs_request *r)
{
    const char *q = gs_env(r, "QUERY_STRING");
    const char *v = strstr(q, "ms=");
    int ms = v ? atoi(v + 3) : DEFAULT_MS;
    return ms < 0 ? 0 : ms > MAX_MS ? MAX_MS : ms;
}

static int respond(gs_request *r, int status, const char *body)
{
    char len[24];
    snprintf(len, sizeof(len), "%zu", strlen(body));
    const char *headers[] = {"Content-Type", "text/plain", "Content-Length", len, NULL};
    gs_start_response(r, status, headers);
    ssize_t n = gs_write(r, body, strlen(body));
    return n < 0 ? (int)n : 0;
}

/* A blocking (not O_NONBLOCK) connected pair over 127.0.0.1, or -errno. */
static int loopback_pair(int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        return -errno;
    fds[0] = fds[1] = -1;
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
        getsockname(l, (struct sockaddr *)&a, &len) == 0) {
        fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[0] >= 0 && connect(fds[0], (struct sockaddr *)&a, sizeof(a)) == 0)
            fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    }
    int err = fds[1] < 0 ? -errno : 0;
    close(l);
    if (err < 0 && fds[0] >= 0)
        close(fds[0]);
    return err;
}

static int random_bytes(unsigned char *buf, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t got = read(fd, buf, n);
    close(fd);
    return got == (ssize_t)n ? 0 : -EIO;
}

/* Wait ms for bytes nobody has sent yet (SO_RCVTIMEO bounds the blocking
 * recv), then send the random bytes and read them back. 0 or -errno. */
static int loopback_round_trip(int fds[2], int ms, const unsigned char *out, size_t n)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    unsigned char in[64];
    if (ms > 0) {
        setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (recv(fds[1], in, sizeof(in), 0) >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return -EPROTO; /* nothing was sent: only the timeout ends it */
        tv = (struct timeval){.tv_sec = 5};
        setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    if (send(fds[0], out, n, MSG_NOSIGNAL) != (ssize_t)n)
        return -errno;
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv(fds[1], in + got, n - got, 0);
        if (k <= 0)
            return k == 0 ? -ECONNRESET : -errno;
        got += (size_t)k;
    }
    return memcmp(in, out, n) == 0 ? 0 : -EPROTO;
}

static int do_read(int ms, char *what, size_t n)
{
    unsigned char token[16];
    int fds[2] = {-1, -1};
    int err = random_bytes(token, sizeof(token));
    if (err == 0)
        err = loopback_pair(fds);
    if (err < 0)
        return err;
    err = loopback_round_trip(fds, ms, token, sizeof(token));
    close(fds[0]);
    close(fds[1]);
    snprintf(what, n, "read: waited %d ms on a blocking recv, then echoed %zu random bytes", ms,
             sizeof(token));
    return err;
}

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *path = gs_env(r, "PATH_INFO");
    int ms = query_ms(r);
    char what[160];
    int64_t t0 = gs_now_ms();
    if (strcmp(path, "/sleep") == 0) {
        usleep((useconds_t)ms * 1000);
        snprintf(what, sizeof(what), "sleep: usleep(%d ms)", ms);
    } else if (strcmp(path, "/read") == 0) {
        int err = do_read(ms, what, sizeof(what));
        if (err < 0)
            return err;
    } else {
        return respond(r, 404, "try /sleep?ms=300 or /read?ms=300\n");
    }
    char body[256];
    snprintf(body, sizeof(body), "%s; took %lld ms; pid %d thread %d\n", what,
             (long long)(gs_now_ms() - t0), (int)getpid(), (int)gettid());
    return respond(r, 200, body);
}

/* No GS_APP_GREEN: with --threads the handler runs on an OS thread. */
GS_APP(.name = "blocking", .handle = handle);
