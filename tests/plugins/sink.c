/* Fixture: reads the whole request body before answering "got N bytes",
 * so a body error (bad chunk, too large, timeout) comes before any response
 * and the server's own error status is what the client sees. */
#include <greenserve.h>
#include <stdio.h>

static int handle(gs_request *r, void *state)
{
    (void)state;
    char buf[16384];
    long long total = 0;
    ssize_t n;
    while ((n = gs_read(r, buf, sizeof(buf))) > 0)
        total += n;
    if (n < 0)
        return (int)n;
    char body[64], len[16];
    int blen = snprintf(body, sizeof(body), "got %lld bytes\n", total);
    snprintf(len, sizeof(len), "%d", blen);
    const char *headers[] = {"Content-Type", "text/plain", "Content-Length", len, NULL};
    gs_start_response(r, 200, headers);
    return gs_write(r, body, (size_t)blen) < 0 ? -1 : 0;
}

GS_APP(.name = "sink", .handle = handle);
