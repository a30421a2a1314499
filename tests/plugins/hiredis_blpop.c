/* Fixture: hiredis' synchronous API in a handler, as existing C code uses
 * it: "?PORT&KEY" connects to redis on 127.0.0.1:PORT, waits in
 * BLPOP KEY 0 and answers with the value popped. hiredis resolves from
 * the executable's libraries (it links -lhiredis), and its connect, read
 * and write from the executable's green-libc hooks. */
#include <errno.h>
#include <greenserve.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int blpop(const char *q, char *out, size_t cap)
{
    const char *key = q ? strchr(q, '&') : NULL;
    if (!key)
        return snprintf(out, cap, "usage: ?PORT&KEY\n");
    redisContext *c = redisConnect("127.0.0.1", atoi(q));
    if (!c || c->err) {
        int n = snprintf(out, cap, "connect: %s\n", c ? c->errstr : "out of memory");
        redisFree(c);
        return n;
    }
    redisReply *r = redisCommand(c, "BLPOP %s 0", key + 1);
    int n = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2
                ? snprintf(out, cap, "%s", r->element[1]->str)
                : snprintf(out, cap, "BLPOP failed: %s\n", c->err ? c->errstr : "reply");
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static int handle(gs_request *r, void *state)
{
    (void)state;
    char body[256];
    int n = blpop(gs_env(r, "QUERY_STRING"), body, sizeof(body));
    char len[16];
    snprintf(len, sizeof(len), "%d", n);
    const char *headers[] = {"Content-Type", "text/plain", "Content-Length", len, NULL};
    gs_start_response(r, 200, headers);
    return gs_write(r, body, (size_t)n) < 0 ? -EPIPE : 0;
}

GS_APP(.name = "hiredis_blpop", .handle = handle);
