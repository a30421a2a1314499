/*
 * request.h -- one request on a connection: its head (spans into the
 * connection's input buffer), its body state, its response state and what
 * lives exactly as long as it (arena, defer list). `gs_request` is what a
 * handler gets; one is embedded in each connection and reused.
 */
#ifndef HTTP_REQUEST_H
#define HTTP_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "greenserve.h"
#include "http/http.h"
#include "runtime/hub.h"

typedef struct http_conn http_conn;

/* A header field, as offsets from the request's first byte in the input
 * buffer. Once the head is complete the value is NUL-terminated in place. */
/* Offsets from the head's start: a head is shorter than HTTP_HEAD_MAX, so
 * 16 bits each, and the inline array of a parked request stays small. */
typedef struct http_hdr {
    uint16_t name, name_len;
    uint16_t value, value_len;
} http_hdr;

#define HTTP_HEAD_MAX UINT16_MAX

/* How the response body is delimited. */
typedef enum http_frame {
    HTTP_FRAME_NONE,    /* no body: HEAD, 204, 304 */
    HTTP_FRAME_LENGTH,  /* the handler's Content-Length */
    HTTP_FRAME_CHUNKED, /* HTTP/1.1 streaming */
    HTTP_FRAME_CLOSE,   /* HTTP/1.0 streaming: the close ends it */
} http_frame;

typedef struct http_chunk http_chunk;
typedef struct http_defer http_defer;
typedef struct http_joined http_joined;

#define HTTP_INLINE_HDRS 24

struct gs_request {
    http_conn *c;

    /* Head. Offsets are from c->in + c->req_start, so the buffer may be
     * compacted or grown while the head is incomplete. */
    uint32_t url, url_len;
    uint32_t head_len; /* request line + headers + CRLF, once complete */
    http_hdr *hdrs;    /* inl, or a heap array past HTTP_INLINE_HDRS */
    unsigned nhdrs, hcap;
    bool got_url, name_done, value_started;
    bool head_done;
    bool keep_alive; /* llhttp's verdict from version and Connection */
    uint8_t major, minor, method;

    /* Routing, set before the handler runs. */
    const http_mount *mount;
    const char *path_info; /* percent-decoded, NUL-terminated */
    const char *query;     /* raw, NUL-terminated; "" when absent */

    /* Body. */
    bool chunked, body_done;
    bool expect_continue, continue_sent;
    int64_t body_left;      /* Content-Length bytes not yet parsed */
    int64_t body_total;     /* body bytes parsed (de-chunked) */
    int64_t body_waited_ms; /* spent waiting for body bytes (--body-timeout) */
    int body_err;           /* sticky gs_read error */
    char *dst;              /* where the parser copies body bytes; NULL drops */
    size_t dst_len;
    const char *src;    /* the bytes being fed, for the framing check */
    size_t scan;        /* framing checked up to src + scan */
    size_t framing_run; /* framing bytes since the last body bytes */
    bool prev_cr, prev_lf;

    /* An error found while parsing: the status it answers and why. */
    int fail_status;
    const char *fail_reason;

    /* Response. */
    int status;
    http_frame frame;
    bool started; /* status line and headers are in c->out */
    bool refused; /* gs_start_response refused a header: 500 */
    bool flushed; /* some of this response has been sent */
    bool head_method;
    int64_t resp_len; /* the handler's Content-Length, -1 when none */
    uint64_t body_sent;
    size_t out_start; /* this response's first byte in c->out, until flushed */

    /* Lifetime. */
    http_chunk *arena;
    http_defer *defers;
    http_joined *joined;
    int64_t t0_us; /* when its first byte was read */

    /* The request timeout (http/route.c). */
    int64_t due_ms;    /* gs_now_ms() when the handler's time is up; 0 = none */
    bool timed_out;    /* its time ran out: answered 504, or closed */
    bool cancelled;    /* and its thread was killed for it */
    bool long_request; /* found in a long wait when due: exempt from then on */
    bool in_long_wait; /* parked in http_wait (on a handler thread too) */

    http_hdr inl[HTTP_INLINE_HDRS];
    char path_inline[128];
};

/* Reset r for the next request on its connection (keeps the header array). */
void http_request_begin(gs_request *r);

/* End of a request: run the defer list, release the arena. */
void http_request_end(gs_request *r);

/* Run the defer list now (last registered first); http_request_end runs
 * what is left. For a handler thread, whose defers run there. */
void http_request_run_defers(gs_request *r);

/* Release what the request keeps across requests (a grown header array). */
void http_request_free(gs_request *r);

/* The value of the first header named `name` (any case), NUL-terminated,
 * or NULL. Valid once the head is complete. Never switches. */
const char *http_header(gs_request *r, const char *name);

/* Room for one more header; false when out of memory. */
bool http_request_grow_hdrs(gs_request *r);

/* Park like rt_wait(q, timeout_ms), but the client's disconnect also ends
 * the wait, with -EPIPE. Output held back (pipelined responses, a
 * Content-Length body being built) is flushed first. This is the hook for
 * every wait that should notice a vanished client: gs_wait_disconnect is
 * http_wait(r, NULL, timeout); channel waits use it with their own queue.
 * Returns what the waker passed to rt_wake, -EPIPE, -ETIMEDOUT or
 * -ECANCELED. Switches. */
int http_wait(gs_request *r, rt_waitq *q, int64_t timeout_ms);

/* The clock the request time is measured with, in microseconds. */
int64_t http_now_us(void);

#endif
