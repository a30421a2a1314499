/*
 * hello.c -- the smallest app: "Hello, World!" as plain text.
 *
 *     greenserve /hello=build/apps/hello.so
 *     curl http://127.0.0.1:8080/hello
 */
#include <greenserve.h>

#define BODY "Hello, World!"

static int handle(gs_request *r, void *state)
{
    (void)state;
    /* With a Content-Length the server holds the body until the handler
     * returns, so headers and body leave in one write and the connection
     * stays open for the client's next request. */
    static const char *const headers[] = {
        "Content-Type", "text/plain", "Content-Length", "13", NULL,
    };
    _Static_assert(sizeof(BODY) - 1 == 13, "Content-Length matches the body");
    gs_start_response(r, 200, headers);
    ssize_t n = gs_write(r, BODY, sizeof(BODY) - 1);
    return n < 0 ? (int)n : 0;
}

/* The one symbol a plugin exports; GS_APP fills in the ABI version. */
GS_APP(.name = "hello", .flags = GS_APP_GREEN, .handle = handle);
