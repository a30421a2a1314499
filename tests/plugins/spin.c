/* Fixture: GET .../spin loops forever without ever yielding to the hub
 * (what the watchdog is for); anything else answers "ok". It says
 * "spin: spinning" on stderr first, so a test knows it is in. */
#include <greenserve.h>
#include <stdio.h>
#include <string.h>

static volatile unsigned long turns;

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *path = gs_env(r, "PATH_INFO");
    if (path && strcmp(path, "/spin") == 0) {
        fprintf(stderr, "spin: spinning\n");
        for (;;)
            turns++;
    }
    static const char *const headers[] = {"Content-Length", "3", NULL};
    gs_start_response(r, 200, headers);
    return gs_write(r, "ok\n", 3) < 0 ? -1 : 0;
}

GS_APP(.name = "spin", .handle = handle);
