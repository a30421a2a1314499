/* Fixture: answers its VERSION, a string fixed when it is built (-D
 * VERSION='"two"'): a test rebuilds it with another and reloads. */
#include <greenserve.h>
#include <stdio.h>
#include <string.h>

#ifndef VERSION
#define VERSION "one"
#endif

static int handle(gs_request *r, void *state)
{
    (void)state;
    const char *body = VERSION "\n";
    char len[16];
    snprintf(len, sizeof(len), "%zu", strlen(body));
    gs_start_response(r, 200, (const char *[]){"Content-Length", len, NULL});
    return gs_write(r, body, strlen(body)) < 0 ? -1 : 0;
}

GS_APP(.name = "version", .handle = handle);
