/* Listening sockets: port 0, IPv6, unix sockets (stale ones replaced,
 * live ones and other files left alone), errors naming the address. */
#include <criterion/criterion.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/listen.h"

static srv_listener l, l2;
static char err[512];
static char path[108];

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/gs-listen-%d.sock", (int)getpid());
    unlink(path);
}

static void teardown(void)
{
    srv_listen_close(&l, true);
    srv_listen_close(&l2, true);
    unlink(path);
}

TestSuite(listen, .init = setup, .fini = teardown);

static cfg_bind tcp(const char *host, const char *port)
{
    cfg_bind b = {.text = "test"};
    snprintf(b.host, sizeof(b.host), "%s", host);
    snprintf(b.port, sizeof(b.port), "%s", port);
    return b;
}

static cfg_bind unix_bind(void)
{
    cfg_bind b = {.text = path, .is_unix = true};
    snprintf(b.path, sizeof(b.path), "%s", path);
    return b;
}

Test(listen, port_0_names_the_port_chosen)
{
    cfg_bind b = tcp("127.0.0.1", "0");
    cr_assert_eq(srv_listen(&l, &b, err, sizeof(err)), 0, "%s", err);
    int port = 0;
    cr_assert_eq(sscanf(l.url, "http://127.0.0.1:%d/", &port), 1, "%s", l.url);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    getsockname(l.fd, (struct sockaddr *)&a, &len);
    cr_assert_eq(port, ntohs(a.sin_port));
    cr_assert_gt(port, 0);
    cr_assert(fcntl(l.fd, F_GETFL) & O_NONBLOCK);
    cr_assert(fcntl(l.fd, F_GETFD) & FD_CLOEXEC);
    int on = 0;
    len = sizeof(on);
    getsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &on, &len);
    cr_assert(on);
}

Test(listen, ipv6)
{
    cfg_bind b = tcp("::1", "0");
    cr_assert_eq(srv_listen(&l, &b, err, sizeof(err)), 0, "%s", err);
    cr_assert(strncmp(l.url, "http://[::1]:", 13) == 0, "%s", l.url);
}

Test(listen, address_in_use_is_named)
{
    cfg_bind b = tcp("127.0.0.1", "0");
    cr_assert_eq(srv_listen(&l, &b, err, sizeof(err)), 0, "%s", err);
    cfg_bind again = tcp("127.0.0.1", strrchr(l.url, ':') + 1);
    again.port[strcspn(again.port, "/")] = '\0';
    again.text = "127.0.0.1:taken";
    cr_assert_eq(srv_listen(&l2, &again, err, sizeof(err)), -EADDRINUSE);
    cr_assert(strstr(err, "--bind 127.0.0.1:taken") && strstr(err, "in use"), "%s", err);
    cr_assert_eq(l2.fd, -1);
}

Test(listen, unknown_host_is_refused)
{
    cfg_bind b = tcp("no.such.host.invalid", "80");
    cr_assert_lt(srv_listen(&l, &b, err, sizeof(err)), 0);
    cr_assert(strstr(err, "--bind test"), "%s", err);
}

Test(listen, unix_socket_and_its_removal)
{
    cfg_bind b = unix_bind();
    cr_assert_eq(srv_listen(&l, &b, err, sizeof(err)), 0, "%s", err);
    char want[160];
    snprintf(want, sizeof(want), "unix:%s", path);
    cr_assert_str_eq(l.url, want);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    srv_listen_close(&l, true);
    cr_assert_neq(access(path, F_OK), 0, "socket file left behind");
}

Test(listen, stale_unix_socket_is_replaced)
{
    /* A socket file whose server is gone. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
    cfg_bind b = unix_bind();
    cr_assert_eq(srv_listen(&l, &b, err, sizeof(err)), 0, "%s", err);
}

Test(listen, live_unix_socket_is_left_alone)
{
    cfg_bind b = unix_bind();
    cr_assert_eq(srv_listen(&l, &b, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(srv_listen(&l2, &b, err, sizeof(err)), -EADDRINUSE);
    cr_assert(strstr(err, "a server is listening there"), "%s", err);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "the live server's socket was removed");
}

Test(listen, other_files_are_not_removed)
{
    close(open(path, O_CREAT | O_WRONLY, 0644));
    cfg_bind b = unix_bind();
    cr_assert_lt(srv_listen(&l, &b, err, sizeof(err)), 0);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
}
