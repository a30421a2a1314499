/* Fixture: answers "slept N ms" after sleeping N ms (the query string,
 * default 1000), or "cancelled" when the server cancels the wait. It says
 * "slow: sleeping" on stderr first, so a test knows the request is in. */
#include <errno.h>
#include <greenserve.h>
#include <stdio.h>
#include <stdlib.h>

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *q = gs_env(r, "QUERY_STRING");
    long ms = q && *q ? atol(q) : 1000;
    fprintf(stderr, "slow: sleeping %ld ms\n", ms);
    int w = gs_sleep(ms);
    char body[64];
    int n = w == 0 ? snprintf(body, sizeof(body), "slept %ld ms\n", ms)
                   : snprintf(body, sizeof(body), "cancelled\n");
    char len[16];
    snprintf(len, sizeof(len), "%d", n);
    const char *headers[] = {"Content-Type", "text/plain", "Content-Length", len, NULL};
    gs_start_response(r, 200, headers);
    return gs_write(r, body, (size_t)n) < 0 ? -EPIPE : 0;
}

GS_APP(.name = "slow", .handle = handle);
