/* Fixture: a handler written with only blocking libc calls, as a library
 * that knows nothing of greenserve would be. "?sleep" sleeps 1 s with
 * usleep; "?echo=PORT" resolves localhost with getaddrinfo, connects to an
 * echo server on PORT, sends "ping" and answers with what came back. */
#include <errno.h>
#include <greenserve.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int echo(const char *port, char *out, size_t cap)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo("localhost", port, &hints, &ai) != 0)
        return snprintf(out, cap, "getaddrinfo failed\n");
    int fd = socket(ai->ai_family, ai->ai_socktype, 0);
    int ok =
        fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 && send(fd, "ping", 4, 0) == 4;
    freeaddrinfo(ai);
    ssize_t got = 0, n;
    while (ok && got < 4 && (n = recv(fd, out + got, cap - 1 - (size_t)got, 0)) > 0)
        got += n;
    if (fd >= 0)
        close(fd);
    return ok && got == 4 ? (int)got : snprintf(out, cap, "echo failed: %s\n", strerror(errno));
}

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *q = gs_env(r, "QUERY_STRING");
    char body[128];
    int n;
    if (q && strncmp(q, "echo=", 5) == 0)
        n = echo(q + 5, body, sizeof(body));
    else
        n = usleep(1000000) == 0 ? snprintf(body, sizeof(body), "slept\n")
                                 : snprintf(body, sizeof(body), "usleep failed\n");
    char len[16];
    snprintf(len, sizeof(len), "%d", n);
    const char *headers[] = {"Content-Type", "text/plain", "Content-Length", len, NULL};
    gs_start_response(r, 200, headers);
    return gs_write(r, body, (size_t)n) < 0 ? -EPIPE : 0;
}

GS_APP(.name = "blocking_libc", .handle = handle);
