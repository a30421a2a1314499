/* Fixture: a plugin that forgot GS_APP: it exports an app under another
 * name, so the loader finds no `greenserve_app`. */
#include <greenserve.h>

static int handle(gs_request *r, void *state)
{
    (void)r, (void)state;
    return 0;
}

__attribute__((visibility("default"))) const gs_app my_app = {
    .abi = GS_ABI_VERSION,
    .name = "no_symbol",
    .handle = handle,
};
