/* Fixture: an app whose init fails (-EAGAIN) while the file named by its
 * args exists: a test starts it fine, creates the file, and every worker
 * started from then on fails at start-up, until the file goes. */
#include <errno.h>
#include <greenserve.h>
#include <unistd.h>

static int init(const char *args, void **state)
{
    (void)state;
    return args[0] && access(args, F_OK) == 0 ? -EAGAIN : 0;
}

static int handle(gs_request *r, void *state)
{
    (void)state;
    static const char *const headers[] = {"Content-Length", "6", NULL};
    gs_start_response(r, 200, headers);
    return gs_write(r, "fine!\n", 6) < 0 ? -1 : 0;
}

GS_APP(.name = "flaky_init", .init = init, .handle = handle);
