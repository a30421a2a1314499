/* Fixture: a long-poll that never gets news: it waits for its client to
 * leave for as long as the query string says (ms, default 60000), and
 * answers when the wait ends without the client leaving -- as a long-poll
 * answers "nothing new, come back": "timeout", or "stopped" when the
 * worker drains (-ESHUTDOWN). It says "longpoll: waiting" on stderr
 * first, so a test knows it is in. */
#include <errno.h>
#include <greenserve.h>
#include <stdio.h>
#include <stdlib.h>

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *q = gs_env(r, "QUERY_STRING");
    long ms = q && *q ? atol(q) : 60000;
    fprintf(stderr, "longpoll: waiting\n");
    int w = gs_wait_disconnect(r, ms);
    if (w == -EPIPE)
        return 0; /* nobody to answer */
    static const char *const headers[] = {"Content-Length", "8", NULL};
    gs_start_response(r, 200, headers);
    return gs_write(r, w == -ETIMEDOUT ? "timeout\n" : "stopped\n", 8) < 0 ? -1 : 0;
}

GS_APP(.name = "longpoll", .flags = GS_APP_GREEN, .handle = handle);
