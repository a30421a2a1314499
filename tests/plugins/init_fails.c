/* Fixture: an app whose init refuses to start (as one would when a file it
 * needs is missing): start-up must stop, naming it. */
#include <errno.h>
#include <greenserve.h>

static int init(const char *args, void **state)
{
    (void)args, (void)state;
    return -ENOENT;
}

static int handle(gs_request *r, void *state)
{
    (void)r, (void)state;
    return 0;
}

GS_APP(.name = "init_fails", .init = init, .handle = handle);
