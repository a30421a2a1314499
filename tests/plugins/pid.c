/* Fixture: answers "pid N" with the pid of the worker that served it, so a
 * test can tell the workers of a master apart. */
#include <greenserve.h>
#include <stdio.h>
#include <unistd.h>

static int handle(gs_request *r, void *state)
{
    (void)state;
    char body[32], len[16];
    int n = snprintf(body, sizeof(body), "pid %d\n", (int)getpid());
    snprintf(len, sizeof(len), "%d", n);
    const char *headers[] = {"Content-Type", "text/plain", "Content-Length", len, NULL};
    gs_start_response(r, 200, headers);
    return gs_write(r, body, (size_t)n) < 0 ? -1 : 0;
}

GS_APP(.name = "pid", .handle = handle);
