/*
 * bench_greenlibc.c -- what --green-libc costs on the fast path: a 1-byte
 * write then read on a socket pair (and a pipe) with the data ready, so
 * nothing parks. Figures, in one run, ns per write+read pair in the
 * thread's CPU time:
 *   raw        libc's read/write reached through dlsym(RTLD_NEXT)
 *   off        the executable's hooks, --green-libc off
 *   on-root    hooks on, called from the root (not a green thread)
 *   on-green   hooks on, called from a green thread (socket: MSG_DONTWAIT)
 *   pipe-*     the same on a pipe (green: readiness checked first)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "greenserve.h"
#include "runtime/greenlibc.h"

enum { N = 200000 };

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);

static read_fn raw_read;
static write_fn raw_write;
static int fds[2];
static double result;

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double pairs(read_fn rd, write_fn wr)
{
    char c = 'x';
    double t0 = cpu_ns();
    for (int i = 0; i < N; i++)
        if (wr(fds[1], &c, 1) != 1 || rd(fds[0], &c, 1) != 1)
            abort();
    return (cpu_ns() - t0) / N;
}

static void *in_green(void *arg)
{
    (void)arg;
    result = pairs(read, write);
    return NULL;
}

static double green_pairs(void)
{
    gs_join(gs_spawn(in_green, NULL), NULL, GS_FOREVER);
    return result;
}

static void figures(const char *kind)
{
    printf("%s-raw      %6.0f ns\n", kind, pairs(raw_read, raw_write));
    rt_greenlibc_enable(false);
    printf("%s-off      %6.0f ns\n", kind, pairs(read, write));
    rt_greenlibc_enable(true);
    printf("%s-on-root  %6.0f ns\n", kind, pairs(read, write));
    printf("%s-on-green %6.0f ns\n", kind, green_pairs());
    rt_greenlibc_enable(false);
}

int main(void)
{
    raw_read = (read_fn)dlsym(RTLD_NEXT, "read");
    raw_write = (write_fn)dlsym(RTLD_NEXT, "write");
    printf("1-byte write + read, data ready, %d pairs, ns per pair (thread CPU time)\n", N);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        return 1;
    figures("socket");
    close(fds[0]);
    close(fds[1]);
    if (pipe(fds) < 0)
        return 1;
    figures("pipe");
    return 0;
}
