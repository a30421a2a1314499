/* Fixture: a plugin built for another ABI version. Its other fields are
 * deliberately unusable, so a loader that reads past `abi` before checking
 * it fails differently from the expected refusal. */
#include <greenserve.h>

__attribute__((visibility("default"))) const gs_app greenserve_app = {
    .abi = 99,
    .name = NULL,
    .handle = NULL,
};
