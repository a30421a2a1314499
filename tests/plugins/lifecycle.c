/* Fixture for the lifecycle tests (request timeout, drain notice,
 * watchdog). Paths (PATH_INFO), with a number of ms in the query string:
 *   /stream?MS  a chunked 200: "first\n", then a sleep of MS, then "second\n"
 *   /block?MS   blocks its OS thread MS (usleep: for --threads), then
 *               writes "late\n"; a 200 "late" only when that write works
 *   /sse        an event stream parked on gs_wait_disconnect; when the wait
 *               ends with -ESHUTDOWN (the worker drains) it writes
 *               "retry: 1000" and an end event naming gs_draining(), and
 *               returns
 *   /spin       spins forever in lifecycle_spin_forever, never yielding
 * It says "lifecycle: PATH" on stderr when a handler is in. */
#include <errno.h>
#include <greenserve.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile unsigned long turns;

static long query_ms(gs_request *r, long dflt)
{
    const char *q = gs_env(r, "QUERY_STRING");
    return q && *q ? atol(q) : dflt;
}

static int put(gs_request *r, const char *s)
{
    return gs_write(r, s, strlen(s)) < 0 ? -EPIPE : 0;
}

static int stream(gs_request *r)
{
    gs_start_response(r, 200, (const char *[]){"Content-Type", "text/plain", NULL});
    if (put(r, "first\n") < 0)
        return -EPIPE;
    int e = gs_sleep(query_ms(r, 1000));
    if (e < 0)
        return e;
    return put(r, "second\n");
}

static int block(gs_request *r)
{
    usleep((useconds_t)query_ms(r, 1000) * 1000);
    gs_start_response(r, 200, (const char *[]){"Content-Length", "5", NULL});
    ssize_t w = gs_write(r, "late\n", 5);
    fprintf(stderr, "lifecycle: block wrote %zd\n", w);
    return w < 0 ? (int)w : 0;
}

static int sse(gs_request *r)
{
    gs_start_response(r, 200, (const char *[]){"Content-Type", "text/event-stream", NULL});
    if (put(r, "event: hello\ndata: in\n\n") < 0)
        return -EPIPE;
    int w = gs_wait_disconnect(r, GS_FOREVER);
    if (w != -ESHUTDOWN)
        return w == -EPIPE ? 0 : w;
    char end[96];
    snprintf(end, sizeof(end), "retry: 1000\n\nevent: end\ndata: draining=%d\n\n", gs_draining());
    return put(r, end);
}

/* Not static: its name must show in the watchdog's backtrace. */
__attribute__((noinline)) void lifecycle_spin_forever(void)
{
    for (;;)
        turns++;
}

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *path = gs_env(r, "PATH_INFO");
    fprintf(stderr, "lifecycle: %s\n", path);
    if (strcmp(path, "/stream") == 0)
        return stream(r);
    if (strcmp(path, "/block") == 0)
        return block(r);
    if (strcmp(path, "/sse") == 0)
        return sse(r);
    if (strcmp(path, "/spin") == 0)
        lifecycle_spin_forever();
    gs_start_response(r, 200, (const char *[]){"Content-Length", "3", NULL});
    return put(r, "ok\n");
}

GS_APP(.name = "lifecycle", .handle = handle);
