/*
 * gclient.h -- HTTP/1.1 client connections on green threads of the test
 * process's own hub, for tests that hold thousands of connections at once
 * (an OS thread each would not do): keep-alive requests, Content-Length
 * and chunked answers, read chunk by chunk for streams.
 */
#ifndef TS_GCLIENT_H
#define TS_GCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tg_conn {
    int fd; /* -1 when closed */
    struct gs_reader *rd;
} tg_conn;

typedef struct tg_head {
    int status;
    bool close;       /* Connection: close */
    bool chunked;     /* Transfer-Encoding: chunked */
    long long length; /* Content-Length, -1 without */
} tg_head;

/* Raise RLIMIT_NOFILE to its hard limit (servers started after inherit
 * it). Returns the limit now. */
long tg_raise_nofile(void);

/* Connect to 127.0.0.1:port. 0 or -errno (c->fd is then -1). */
int tg_open(tg_conn *c, int port, int64_t timeout_ms);
void tg_close(tg_conn *c);

/* Send all n bytes. 0 or -errno. */
int tg_send(tg_conn *c, const char *req, size_t n, int64_t timeout_ms);

/* Read a response head. 0; -ECONNRESET when the connection ended (EOF or
 * reset) before a whole head; -ETIMEDOUT, -EPROTO. */
int tg_read_head(tg_conn *c, tg_head *h, int64_t timeout_ms);

/* The Content-Length body after h, into *body (malloc'd, NUL-terminated;
 * the caller frees it). 0, -ECONNRESET when it ended early, -errno. */
int tg_read_body(tg_conn *c, const tg_head *h, char **body, int64_t timeout_ms);

/* The next chunk of a chunked body into buf (at most cap - 1 bytes, then
 * a NUL): its length, 0 for the last chunk, -ECONNRESET when the
 * connection ended, -EMSGSIZE, -EPROTO, -ETIMEDOUT. */
ssize_t tg_read_chunk(tg_conn *c, char *buf, size_t cap, int64_t timeout_ms);

#endif
