/* Fixture: a handler that crashes the way PATH_INFO says: /segv, /abort,
 * /fpe, /overflow (runs off its green thread's stack); anything else
 * answers "alive". */
#include <greenserve.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile int zero;

/* Far deeper than any green thread stack. */
static int recurse(volatile char *prev, long depth)
{
    volatile char frame[1024];
    frame[0] = prev ? prev[0] : 1;
    return depth > 0 ? recurse(frame, depth - 1) + frame[1] : 0;
}

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *how = gs_env(r, "PATH_INFO");
    if (strcmp(how, "/segv") == 0)
        *(volatile int *)(size_t)zero = 1;
    else if (strcmp(how, "/abort") == 0)
        abort();
    else if (strcmp(how, "/fpe") == 0)
        zero = 7 / zero; /* not 1 / x: compilers turn that into a compare */
    else if (strcmp(how, "/overflow") == 0)
        recurse(NULL, 1L << 30);
    static const char *const headers[] = {"Content-Length", "6", NULL};
    gs_start_response(r, 200, headers);
    gs_write(r, "alive\n", 6);
    return 0;
}

GS_APP(.name = "crash", .handle = handle);
