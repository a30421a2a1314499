/*
 * clock.c -- a streaming response: the time, one line a second, for as
 * long as the client listens. Each waiting client costs a parked green
 * thread, not an OS thread.
 *
 *     greenserve /clock=build/apps/clock.so
 *     curl -N http://127.0.0.1:8080/clock
 */
#include <greenserve.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

static int handle(gs_request *r, void *state)
{
    (void)state;
    /* No Content-Length: chunked on HTTP/1.1, so every line is sent as
     * soon as it is written. */
    static const char *const headers[] = {
        "Content-Type", "text/plain", "Cache-Control", "no-cache", NULL,
    };
    gs_start_response(r, 200, headers);
    for (unsigned tick = 1; !gs_disconnected(r); tick++) {
        char line[64];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ", &tm);
        n += (size_t)snprintf(line + n, sizeof(line) - n, " tick %u\n", tick);
        if (gs_write(r, line, n) < 0)
            break; /* -EPIPE: the client has gone */
        /* Sleep a second, but wake at once if the client leaves (-EPIPE)
         * or the server stops (-ECANCELED). */
        int w = gs_wait_disconnect(r, 1000);
        if (w != -ETIMEDOUT)
            break;
    }
    /* A client leaving is how this response ends: not an error. */
    return 0;
}

GS_APP(.name = "clock", .flags = GS_APP_GREEN, .handle = handle);
