/* The green-libc hooks keep libc's behaviour wherever they cannot or must
 * not park: off, on the root, on a descriptor the program made
 * non-blocking, and SO_RCVTIMEO still ends a wait with EAGAIN. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "greenserve.h"
#include "config/options.h"
#include "runtime/greenlibc.h"
#include "runtime/log.h"

static void on(void)
{
    rt_greenlibc_enable(true);
}

static void off(void)
{
    rt_greenlibc_enable(false);
}

TestSuite(greenlibc, .init = on, .fini = off, .timeout = 10);

typedef ssize_t (*read_fn)(int, void *, size_t);

Test(greenlibc, root_read_on_a_nonblocking_socket_is_libcs)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    read_fn libc_read = (read_fn)dlsym(RTLD_NEXT, "read");
    char b[4];
    errno = 0;
    cr_assert_eq(read(sv[0], b, 4), -1);
    int e = errno;
    cr_assert_eq(libc_read(sv[0], b, 4), -1);
    cr_assert_eq(e, errno);
    cr_assert_eq(e, EAGAIN);
}

static void *green_read_nonblocking(void *arg)
{
    int *sv = arg;
    char b[4];
    errno = 0;
    ssize_t r = read(sv[0], b, 4);
    return (void *)(intptr_t)(r < 0 ? errno : 0);
}

Test(greenlibc, green_read_on_a_nonblocking_socket_gets_eagain)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    gs_thread *t = gs_spawn(green_read_nonblocking, sv);
    void *res;
    cr_assert_eq(gs_join(t, &res, GS_FOREVER), 0);
    cr_assert_eq((intptr_t)res, EAGAIN);
}

static void *green_recv_timeo(void *arg)
{
    int *sv = arg;
    struct timeval tv = {.tv_usec = 200000};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b[4];
    int64_t t0 = gs_now_ms();
    ssize_t r = recv(sv[0], b, 4, 0);
    int64_t took = gs_now_ms() - t0;
    return (void *)(intptr_t)(r < 0 && errno == EAGAIN && took >= 190 ? 1 : 0);
}

static void *tick(void *arg)
{
    int *ticks = arg;
    for (int i = 0; i < 5; i++, (*ticks)++)
        gs_sleep(20);
    return NULL;
}

Test(greenlibc, green_recv_with_rcvtimeo_parks_then_gets_eagain)
{
    int sv[2], ticks = 0;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    gs_thread *t = gs_spawn(green_recv_timeo, sv);
    gs_thread *k = gs_spawn(tick, &ticks);
    void *res;
    cr_assert_eq(gs_join(t, &res, GS_FOREVER), 0);
    cr_assert_eq(gs_join(k, NULL, GS_FOREVER), 0);
    cr_assert_eq((intptr_t)res, 1, "no EAGAIN after SO_RCVTIMEO");
    cr_assert_eq(ticks, 5, "the hub was blocked during recv");
}

static void *green_usleep(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)usleep(100000);
}

Test(greenlibc, green_usleeps_overlap)
{
    int64_t t0 = gs_now_ms();
    gs_thread *a = gs_spawn(green_usleep, NULL), *b = gs_spawn(green_usleep, NULL);
    cr_assert_eq(gs_join(a, NULL, GS_FOREVER), 0);
    cr_assert_eq(gs_join(b, NULL, GS_FOREVER), 0);
    int64_t took = gs_now_ms() - t0;
    cr_assert_lt(took, 190, "two 100 ms usleeps took %lld ms", (long long)took);
}

static void *green_pipe_read(void *arg)
{
    int *p = arg;
    char b[8] = {0};
    ssize_t n = read(p[0], b, sizeof b - 1);
    return (void *)(intptr_t)(n == 5 && strcmp(b, "hello") == 0);
}

static void *green_pipe_write(void *arg)
{
    int *p = arg;
    gs_sleep(50);
    return (void *)(intptr_t)(write(p[1], "hello", 5) == 5);
}

Test(greenlibc, green_read_on_a_blocking_pipe_parks_until_written)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    gs_thread *r = gs_spawn(green_pipe_read, p), *w = gs_spawn(green_pipe_write, p);
    void *got, *wrote;
    cr_assert_eq(gs_join(r, &got, 2000), 0, "the reader blocked the hub");
    cr_assert_eq(gs_join(w, &wrote, 2000), 0);
    cr_assert_eq((intptr_t)wrote, 1);
    cr_assert_eq((intptr_t)got, 1);
    close(p[0]);
    close(p[1]);
}

static void *green_file_read(void *arg)
{
    int fd = *(int *)arg;
    char b[4];
    read(fd, b, sizeof b);
    read(fd, b, sizeof b);
    return NULL;
}

Test(greenlibc, a_green_read_of_a_regular_file_is_logged_once)
{
    char logpath[] = "/tmp/gl-log-XXXXXX", datapath[] = "/tmp/gl-data-XXXXXX";
    int log = mkstemp(logpath), data = mkstemp(datapath);
    cr_assert(log >= 0 && data >= 0);
    unlink(logpath);
    unlink(datapath);
    int was = rt_log_fd();
    rt_log_set_fd(log);
    gs_join(gs_spawn(green_file_read, &data), NULL, GS_FOREVER);
    rt_log_set_fd(was);
    char buf[512] = {0};
    pread(log, buf, sizeof buf - 1, 0);
    char want[96];
    snprintf(want, sizeof want, "green-libc: read on fd %d (a regular file) blocks the hub", data);
    cr_assert(strstr(buf, want), "log: %s", buf);
    cr_assert_null(strstr(strstr(buf, want) + 1, "green-libc"), "logged twice: %s", buf);
    close(log);
    close(data);
}

Test(greenlibc, the_option_turns_it_on, .init = off)
{
    cfg_settings s;
    cfg_defaults(&s);
    cr_assert_not(s.green_libc, "on by default");
    char err[256];
    cr_assert_eq(cfg_set(&s, "green-libc", "on", err, sizeof err), 0, "%s", err);
    cr_assert(s.green_libc);
}

typedef ssize_t (*recv_fn)(int, void *, size_t, int);

Test(greenlibc, root_recv_with_rcvtimeo_is_libcs)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct timeval tv = {.tv_usec = 50000};
    cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    recv_fn libc_recv = (recv_fn)dlsym(RTLD_NEXT, "recv");
    char b[4];
    int64_t t0 = gs_now_ms();
    cr_assert_eq(recv(sv[0], b, 4, 0), -1);
    int e = errno;
    int64_t hooked = gs_now_ms() - t0;
    cr_assert_eq(libc_recv(sv[0], b, 4, 0), -1);
    cr_assert_eq(e, errno);
    cr_assert_eq(e, EAGAIN);
    cr_assert_geq(hooked, 45, "the root did not wait as libc does");
}

static void *green_connect_refused(void *arg)
{
    struct sockaddr_in *a = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int r = connect(fd, (struct sockaddr *)a, sizeof *a), e = errno;
    int fl = fcntl(fd, F_GETFL);
    close(fd);
    return (void *)(intptr_t)(r == -1 && e == ECONNREFUSED && !(fl & O_NONBLOCK));
}

Test(greenlibc, green_connect_reports_refusal_and_leaves_the_flags)
{
    /* A port nobody listens on: bound, never listened. */
    int hold = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(hold, (struct sockaddr *)&a, len), 0);
    cr_assert_eq(getsockname(hold, (struct sockaddr *)&a, &len), 0);
    void *ok;
    cr_assert_eq(gs_join(gs_spawn(green_connect_refused, &a), &ok, 2000), 0);
    cr_assert_eq((intptr_t)ok, 1, "not ECONNREFUSED on a blocking socket");
    close(hold);
}
