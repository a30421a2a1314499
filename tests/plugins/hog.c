/* Fixture: GET ?MB makes its worker hold MB more megabytes (touched, so
 * they count in its RSS) until it exits, and answers the worker's pid:
 * how a test crosses --max-memory when it chooses, in the worker it
 * knows. */
#include <greenserve.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *held[64];
static size_t nheld;

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *q = gs_env(r, "QUERY_STRING");
    size_t mb = q && *q ? strtoul(q, NULL, 10) : 0;
    if (mb && nheld < sizeof(held) / sizeof(held[0]) && (held[nheld] = malloc(mb << 20))) {
        /* Volatile: stores nobody reads back would be optimised away. */
        volatile char *p = held[nheld++];
        for (size_t i = 0; i < mb << 20; i += 4096)
            p[i] = 1;
    }
    char pid[24], len[8];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    snprintf(len, sizeof(len), "%d", n);
    gs_start_response(r, 200, (const char *const[]){"Content-Length", len, NULL});
    return gs_write(r, pid, (size_t)n) < 0 ? -1 : 0;
}

static void fini(void *state)
{
    (void)state;
    while (nheld > 0)
        free(held[--nheld]);
}

GS_APP(.name = "hog", .flags = GS_APP_GREEN, .handle = handle, .fini = fini);
