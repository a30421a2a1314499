/*
 * conn.h -- one client connection: its socket, its input and output
 * buffers, its parser and its current request. On the heap, owned by the
 * green thread that runs http_serve.
 *
 * Input: [req_start, pos) is parsed, [pos, in_len) is not. While a head is
 * incomplete the buffer may be compacted or grown; once it is complete it
 * stays put until the request ends, because gs_env hands out pointers into
 * it. Output: responses accumulate in `out` and leave in one writev when
 * the connection is about to wait, or when a streaming write asks for it.
 */
#ifndef HTTP_CONN_H
#define HTTP_CONN_H

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <llhttp.h>
#include <stdbool.h>
#include <sys/uio.h>

#include "http/http.h"
#include "http/request.h"

/* Pooled buffers: what a connection allocates for output, and first for
 * input. The input one is small because a long-poll keeps it (gs_env
 * points into the head) for as long as it waits: 1 KiB holds a usual
 * head, and a bigger one grows it before anything points into it. */
#define HTTP_BUF_SIZE 4096
#define HTTP_IN_SIZE  1024

struct http_conn {
    /* What every request touches comes first, in as few cache lines as
     * they fit: with many connections taking turns, each line of a
     * connection is a cache miss per request. */
    http_site *site;
    const http_limits *lim;
    int fd;
    bool drained;  /* the last read came back short */
    bool readable; /* a read edge came since the last read */
    bool dead;     /* a write failed: nothing more can be sent */
    bool hup;      /* the peer closed or reset */
    bool close;    /* close once this response is out */
    bool flushing; /* out is in flight: only the flusher touches it */
    bool fresh;    /* no request seen yet */
    bool in_handler;
    bool on_thread;  /* lent to a handler thread (thread.c) */
    bool watched;    /* on_thread, and the fd is in that thread's hub */
    bool late_armed; /* see arm_late_flush in conn.c */
    /* Hand-off (see http.h): between requests with nothing of the next
     * one read (`between`); gone to another worker (`handed`); a resumed
     * connection's first request still to resume (`resume_pending`); the
     * current request resumed (`resumed`) and its cursors. */
    bool between;
    bool handed;
    bool resume_pending;
    bool resume_head; /* its handler will start its response again: drop that head */
    bool resumed;
    bool has_cursor;
    bool local_known;
    char *in;
    size_t in_cap, in_len, pos, req_start;
    char *out;
    size_t out_cap, out_len;
    gs_thread *thread; /* the connection's green thread */
    int64_t req_ms;    /* gs_now_ms() when the request's head was complete (before a hand-off) */
    /* The rest less often. */
    gs_thread *hup_waiter;    /* parked in http_wait on a handler thread */
    struct event *late_flush; /* see arm_late_flush in conn.c */
    uint64_t cursor;          /* gs_set_cursor's */
    llhttp_t parser;
    char peer[INET6_ADDRSTRLEN];
    char peer_port[8];
    char local[INET6_ADDRSTRLEN];
    char local_port[8];
    http_handoff resume;
    gs_request req;
};

/* A time limit that starts with the first wait under it: what runs before
 * is CPU only, so nothing is lost, and a request that never waits never
 * reads the clock. */
typedef struct http_deadline {
    int64_t timeout_ms; /* GS_FOREVER: none */
    int64_t at;         /* gs_now_ms() deadline; 0 until the first wait */
} http_deadline;

static inline http_deadline http_deadline_in(int64_t timeout_ms)
{
    return (http_deadline){timeout_ms, 0};
}

/* When d ends as a gs_now_ms() time (starting it if need be), 0 for none:
 * for rt_io_wait_until. */
int64_t http_deadline_at(http_deadline *d);

/* Read more input into c->in, parking (with output flushed first) until
 * there is some or the deadline passes. Returns bytes read, 0 at EOF,
 * -ETIMEDOUT, -ECANCELED or -errno. */
ssize_t http_conn_read(http_conn *c, http_deadline *d);

/* As http_conn_read, into dst (at most n bytes) instead of c->in. */
ssize_t http_conn_recv(http_conn *c, char *dst, size_t n, http_deadline *d);

/* Make room at the end of c->in for a read; see conn.h's top comment for
 * what may move when. 0, -EMSGSIZE (a head past max_header_bytes) or
 * -ENOMEM. */
int http_conn_in_room(http_conn *c);

/* Once the head is complete and before anything points into it: leave
 * room after it for body reads (moving or growing the buffer). 0 or
 * -ENOMEM. */
int http_conn_body_room(http_conn *c);

/* n more bytes at the end of c->out, growing it if needed; never switches.
 * Returns where to write them, or NULL when out of memory. The caller
 * adds n to c->out_len. */
char *http_conn_out_reserve(http_conn *c, size_t n);

/* Send c->out and then iov[0..n) in one writev (or several, when the
 * socket is full), bounded by the write timeout. Returns 0, or -EPIPE /
 * -ETIMEDOUT / -ECANCELED, after which the connection is dead. */
int http_conn_flush(http_conn *c, const struct iovec *iov, int n);

/* Before a long wait inside a handler: give the output buffer back to the
 * pool if nothing is in it. (The input buffer holds the head, which
 * gs_env's pointers point into: it stays.) Never switches. */
void http_conn_park_light(http_conn *c);

/* Turn the connection's edge callback on or off in the calling thread's
 * hub: off while the connection is lent to a handler thread, since the
 * callback writes to it. Never switches. */
void http_conn_notify(http_conn *c, bool on);

/* On a handler thread, before its first wait on the connection's fd:
 * register the fd with that thread's hub, with the edge callback on, so
 * that edges seen while other green threads run are not lost (park_read
 * in conn.c). No-op on the hub or once done. Never switches. */
void http_conn_watch(http_conn *c);

/* Fill c->local / c->local_port from getsockname, once. */
void http_conn_local(http_conn *c);

/* Log an error line about c's current request:
 *   <message>; client 127.0.0.1:5000; request "GET / HTTP/1.1"        */
void http_conn_log(http_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
