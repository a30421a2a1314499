/*
 * greenserve.h -- the one public header of greenserve.
 *
 * Two halves:
 *   1. The runtime: green threads on a per-OS-thread hub (libevent), their
 *      synchronisation primitives, green I/O, the thread pool and the bridge
 *      to callback-style libevent code.
 *   2. The handler contract: what a plugin exports (`greenserve_app`) and
 *      the calls a handler makes on its request (the C counterpart of WSGI).
 *
 * Conventions, valid for every call below:
 *   - Errors are returned as a negative errno (-ETIMEDOUT, -ECANCELED, ...);
 *     nothing sets or relies on `errno` across a call that may switch.
 *   - "Switches" means the call may park the calling green thread and run
 *     others before it returns. Calls that never switch say so.
 *   - Timeouts are in milliseconds: GS_FOREVER (-1) waits without bound, 0
 *     does not wait (the call returns -ETIMEDOUT if it would have to).
 *     An enclosing deadline (gs_deadline_begin) also bounds every wait.
 *   - A green thread that has been killed (gs_kill) gets -ECANCELED from
 *     its current and every later blocking call; it unwinds by returning.
 *   - Memory: the caller owns what it passes in; what a function returns
 *     that the caller must free says so.
 */
#ifndef GREENSERVE_H
#define GREENSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ABI version of the handler contract, checked by the loader before it
 * touches anything else in a plugin. Bump it whenever `gs_app` changes
 * layout or meaning, or any call a plugin may make changes signature or
 * semantics; adding a new call does not require a bump.
 */
#define GS_ABI_VERSION 1

#define GS_FOREVER ((int64_t)-1)

/* ------------------------------------------------------------------------
 * Hub
 * One hub per OS thread, created on first use. It owns an event_base, the
 * run queue and the timers. The OS thread's own stack is itself a green
 * thread (the "root"): when it blocks, the hub runs the others.
 * ---------------------------------------------------------------------- */

struct event_base;

/* The calling thread's event_base (created with its hub on first use).
 * Callback-style libevent code may register events on it and they run
 * alongside the green threads. Never switches. NULL only if out of memory. */
struct event_base *gs_hub_base(void);

/* Run the hub until gs_hub_stop() is called or nothing is left to do (no
 * other green thread alive and no event registered on the base). Call it
 * from the root context (main, or any OS thread's own stack). Switches.
 * Returns 0, or -EINVAL when called from a green thread. */
int gs_hub_run(void);

/* Make gs_hub_run() return at the next turn of the loop. Never switches. */
void gs_hub_stop(void);

/* Monotonic clock in milliseconds. Never switches. */
int64_t gs_now_ms(void);

/* Stack size for green threads spawned from now on by this OS thread
 * (rounded up to whole pages; default 64 KiB, minimum 16 KiB). Stacks are
 * mmap'd with a guard page below them and committed lazily, so only the
 * pages a thread touches cost memory. Overflowing into the guard page
 * prints "greenserve: green thread stack overflow" and aborts. */
void gs_set_stack_size(size_t bytes);

/* Stash the stack of a green thread that has stayed this long in a long
 * wait (gs_chan_wait, gs_wait_disconnect): the bytes its frames use go to
 * the heap and its pages back to the kernel until it runs again, so a
 * parked long-poll costs ~1 KiB of stack instead of a 4 KiB page, at the
 * price of a page fault when it wakes. ms <= 0: never. Default 1000;
 * applies to every hub of the process, from their next wait on. */
void gs_set_stash_after(int64_t ms);

/* ------------------------------------------------------------------------
 * Green threads
 * ---------------------------------------------------------------------- */

typedef struct gs_thread gs_thread;
typedef void *(*gs_fn)(void *arg);

/* Start fn(arg) in a new joinable green thread; it first runs when the
 * caller next blocks or yields. Never switches. Returns the handle, which
 * gs_join releases, or NULL when out of memory. */
gs_thread *gs_spawn(gs_fn fn, void *arg);

/* As gs_spawn, but detached: no handle, the result is discarded.
 * Returns 0 or -ENOMEM. Never switches. */
int gs_spawn_n(gs_fn fn, void *arg);

/* Wait until t has exited, store its return value in *result (if result
 * is not NULL) and release the handle. Switches. Returns 0; -ETIMEDOUT or
 * -ECANCELED (the handle is then still valid and may be joined again);
 * -EDEADLK when t is the caller. A handle may be joined by one caller. */
int gs_join(gs_thread *t, void **result, int64_t timeout_ms);

/* Cooperative cancellation: t's current blocking call (or its next one)
 * returns -ECANCELED, and so does every later one, until t returns. Killing
 * a thread that has exited is a no-op. Never switches. Returns 0, or
 * -EINVAL for a NULL handle. */
int gs_kill(gs_thread *t);

/* Sleep ms milliseconds, running other green threads. Switches. Returns 0,
 * -ECANCELED, or -ETIMEDOUT when an enclosing deadline expires first. */
int gs_sleep(int64_t ms);

/* gs_sleep(0): run every other runnable green thread, then come back. */
int gs_yield(void);

/* Call cb(t, result, arg) when t exits (at once, from the caller, if it
 * already has), on t's own stack just before it dies. Several links may be
 * set; they run in the order they were set. Returns 0 or -ENOMEM. */
int gs_link(gs_thread *t, void (*cb)(gs_thread *t, void *result, void *arg), void *arg);

/* The calling green thread, or the root thread's handle. Never switches. */
gs_thread *gs_self(void);

/* Whether the calling green thread has been killed. Never switches. */
bool gs_cancelled(void);

/* ------------------------------------------------------------------------
 * Deadlines (eventlet's Timeout): bound every blocking call made by this
 * green thread between begin and end. A wait cut short by the deadline
 * returns -ETIMEDOUT. Deadlines nest; the nearest one wins. Neither call
 * switches.
 * ---------------------------------------------------------------------- */

typedef struct gs_deadline {
    int64_t prev; /* the enclosing deadline, restored by gs_deadline_end */
} gs_deadline;

void gs_deadline_begin(gs_deadline *d, int64_t ms);
void gs_deadline_end(gs_deadline *d);

/* ------------------------------------------------------------------------
 * Synchronisation. Objects belong to the hub (OS thread) that created them.
 * Releasing calls (send, put to a waiting getter, release) never switch:
 * they hand the value, item or unit straight to the longest waiter, which
 * keeps it even if it is killed or its timeout falls due before it runs
 * again (only its next wait returns -ECANCELED). A call that need not wait
 * succeeds even in a killed thread. A wait made from a libevent callback,
 * which cannot park, returns -EDEADLK; so does one by the root thread when
 * nothing is left that could end it. Freeing an object wakes any thread
 * still parked on it with -EIDRM (a bug in the caller, but not a crash).
 * ---------------------------------------------------------------------- */

/* Event: one sender, many waiters, one use; carries a value or an error.
 * It is also the future that callback-style libevent code resolves and a
 * green thread blocks on (the seeds' block_on): gs_event_send never
 * switches, so it may be called from a libevent callback. */
typedef struct gs_event gs_event;

gs_event *gs_event_new(void); /* NULL if out of memory */
/* No waiter may remain; an event may be freed as soon as it is sent, even
 * before the waiters it woke have run. */
void gs_event_free(gs_event *ev);
int gs_event_send(gs_event *ev, void *value);   /* 0, or -EALREADY if sent */
int gs_event_send_error(gs_event *ev, int err); /* err < 0 (else -EINVAL); 0 or -EALREADY */
/* Wait for the send. Returns 0 and the value, the error sent, -ETIMEDOUT
 * or -ECANCELED. Switches unless already sent. */
int gs_event_wait(gs_event *ev, void **value, int64_t timeout_ms);
bool gs_event_ready(const gs_event *ev);
/* Non-blocking wait: as gs_event_wait, -EAGAIN if not sent yet. */
int gs_event_poll(const gs_event *ev, void **value);

/* Queue: FIFO of pointers, bounded (capacity > 0) or not (0); many senders
 * and waiters, served in arrival order. */
typedef struct gs_queue gs_queue;

gs_queue *gs_queue_new(size_t capacity); /* NULL if out of memory */
void gs_queue_free(gs_queue *q);         /* items left are not freed */
/* Append item, waiting while a bounded queue is full; with a getter
 * waiting, hand the item to it instead. 0, -ETIMEDOUT, -ECANCELED,
 * -ENOMEM. Switches only when full. */
int gs_queue_put(gs_queue *q, void *item, int64_t timeout_ms);
/* Take the oldest item, waiting while empty. 0, -ETIMEDOUT, -ECANCELED.
 * Switches only when empty. item may be NULL to drop it. */
int gs_queue_get(gs_queue *q, void **item, int64_t timeout_ms);
/* Items held in the queue (not those of putters still waiting). */
size_t gs_queue_len(const gs_queue *q);

/* Counting semaphore. */
typedef struct gs_sem gs_sem;

gs_sem *gs_sem_new(unsigned value); /* NULL if out of memory */
void gs_sem_free(gs_sem *s);
int gs_sem_acquire(gs_sem *s, int64_t timeout_ms); /* 0, -ETIMEDOUT, -ECANCELED */
void gs_sem_release(gs_sem *s);                    /* never switches */

/* Green pool: at most `size` tasks run at once; spawning into a full pool
 * waits for a place. A task fails when it returns a negative value. */
typedef struct gs_pool gs_pool;

gs_pool *gs_pool_new(unsigned size); /* NULL if out of memory or size is 0 */
/* Frees the pool; tasks still running keep running but must not touch it:
 * call gs_pool_waitall first. */
void gs_pool_free(gs_pool *p);
/* Start fn(arg) once the pool has room. 0, -ETIMEDOUT, -ECANCELED, -ENOMEM.
 * Never switches when there is room: the task first runs when the caller
 * next blocks or yields. */
int gs_pool_spawn(gs_pool *p, int (*fn)(void *arg), void *arg, int64_t timeout_ms);
/* Wait until every task has finished. Returns the number of tasks that
 * failed since the last waitall (>= 0), -ETIMEDOUT or -ECANCELED. */
int gs_pool_waitall(gs_pool *p, int64_t timeout_ms);
/* Places taken: tasks running or about to start. */
unsigned gs_pool_running(const gs_pool *p);

/* ------------------------------------------------------------------------
 * Channels: named, ordered message streams, for COMET. A publish is
 * stored once and every waiter on the channel is woken with a reference
 * to it; each worker keeps a bounded history ring per channel, so a
 * long-poll client that comes back with the last id it saw gets exactly
 * what it missed, or learns that some of it is gone (`dropped`), never
 * silently less. With several workers the server's bus numbers messages,
 * so an id means the same message in every worker (and host).
 *
 * Ids are > 0, below 2^53 (exact in JSON), and consecutive along a
 * channel except where messages were lost. They are not counted from 1:
 * a channel's first id is the wall clock in microseconds, so no id a
 * client has seen is given to another message after a restart, or after
 * the channel was forgotten (a channel with no message held and nobody
 * waiting costs nothing); such a client's cursor reads as `dropped` at
 * the next message. Channels, messages and batches belong to the hub (OS
 * thread) that made them: use them from its green threads (apps that run
 * with --threads should be GS_APP_GREEN).
 * ---------------------------------------------------------------------- */

/* A message: immutable, shared by every batch holding it. */
typedef struct gs_chan_msg {
    uint64_t id;
    size_t len;
    const char *data; /* len bytes, followed by a NUL (not counted) */
} gs_chan_msg;

/* Cursors for gs_chan_wait besides a message id: */
#define GS_CHAN_ALL ((uint64_t)0) /* everything the ring holds */
#define GS_CHAN_NEW UINT64_MAX    /* only messages published from now on */

#define GS_CHAN_BATCH_INLINE 8

/* What a wait returns: references to messages, oldest first. A batch may
 * point into itself: pass it around by pointer, never copy it. */
typedef struct gs_chan_batch {
    const gs_chan_msg **msgs; /* count messages, ids increasing */
    size_t count;
    /* Messages after the cursor are lost (evicted by the limits, or
     * skipped by the bus) before msgs[0] (or before the next message when
     * count is 0): tell the client to resync. Never set for GS_CHAN_ALL. */
    bool dropped;
    uint64_t oldest; /* the oldest id the ring holds, 0 when empty */
    uint64_t next;   /* the cursor to wait with next time */
    /* Private: the room small batches take their msgs from. */
    const gs_chan_msg *inl[GS_CHAN_BATCH_INLINE];
} gs_chan_batch;

/* Publish len bytes (any bytes; copied) on the channel `name` (1 to 255 bytes, NUL-
 * terminated), creating it if need be, and wake its waiters. Returns the
 * message's id (> 0), -EINVAL, -ENAMETOOLONG or -ENOMEM. Never switches in
 * a single-process server. With a bus (several workers) it switches while
 * the bus numbers the message, and may also return -ECANCELED (the thread
 * was killed: nothing was sent), -ETIMEDOUT (no id from the bus within 10
 * s or the deadline; the message may still be published), -ECONNABORTED
 * or the bus's error; from a libevent callback it sends without waiting
 * and returns -EINPROGRESS. */
int64_t gs_chan_publish(const char *name, const void *data, size_t len);

/* Every message of channel `name` newer than after_id: at once when the
 * ring holds some (or when some are lost: `dropped`), otherwise after
 * parking until one arrives. after_id is the id of the last message the
 * client saw (batch->next of its previous wait), GS_CHAN_ALL for whatever
 * the ring holds (waiting if it is empty) or GS_CHAN_NEW for the next
 * message published. An id newer than the channel's newest (a client that
 * saw it through another worker first) waits for what follows it.
 * Returns the number of messages in *batch (0 only with dropped set),
 * -ETIMEDOUT, -ECANCELED (killed), -EPIPE (the request's client has gone,
 * when called from a handler), -ESHUTDOWN (the worker is draining; see
 * gs_draining), -EDEADLK (as for the synchronisation objects), -EINVAL,
 * -ENAMETOOLONG or -ENOMEM. Whatever it returns, *batch is filled (empty
 * on errors) and must be given to gs_chan_release; its `next` is the
 * cursor to come back with, after a timeout too. Switches when it waits. */
int gs_chan_wait(const char *name, uint64_t after_id, int64_t timeout_ms, gs_chan_batch *batch);

/* Drop the batch's references (the messages stay valid until then, even
 * once evicted from the ring) and empty it; releasing it twice is fine.
 * Never switches. */
void gs_chan_release(gs_chan_batch *batch);

/* Bounds of every channel's ring on this hub: at most max_messages (>= 1)
 * messages and max_bytes payload bytes (the newest message always stays,
 * whatever its size), none older than max_age_ms. 0 means no bound on
 * bytes or age. Defaults: 1024 messages, 5 minutes, 1 MiB. Applies at
 * once to what is held. Returns 0 or -EINVAL. Never switches. */
int gs_chan_limits(size_t max_messages, int64_t max_age_ms, size_t max_bytes);

/* Whether this worker is draining (retiring gracefully: a reload, a
 * recycle, a stop, one worker fewer): its channel waits and
 * gs_wait_disconnect end with -ESHUTDOWN, at once and from then on, so a
 * streaming handler should finish its response and return while its
 * client is still connected -- for an event stream, "retry: 1000" and a
 * last event, so that the browser reconnects (to a worker still
 * accepting) within a second. Handlers still running past
 * --graceful-timeout are cancelled. Never switches. */
bool gs_draining(void);

/* ------------------------------------------------------------------------
 * Green I/O on non-blocking descriptors. Each call tries the syscall first
 * and parks the green thread only when it would block. Descriptors waited
 * on are registered with the hub once and stay registered: close them with
 * gs_close, not close(2).
 * ---------------------------------------------------------------------- */

enum { GS_READ = 1, GS_WRITE = 2 };

/* Park until fd is readable and/or writable (the "trampoline"). Returns the
 * ready subset of `what` (> 0), -ETIMEDOUT, -ECANCELED or -EBADF. A
 * descriptor that is already ready returns at once (its level is checked
 * with one poll(2) when no fresh edge is recorded); as with poll, the
 * following read or write may still find EAGAIN. */
int gs_wait_fd(int fd, int what, int64_t timeout_ms);

/* Forget fd in the hub and close it. Wakes any green thread waiting on it
 * with -EBADF. Returns close(2)'s result as 0 or -errno. */
int gs_close(int fd);

/* Set O_NONBLOCK (and FD_CLOEXEC). 0 or -errno. Never switches. */
int gs_set_nonblock(int fd);

/* Accept a connection on a listening socket; the new fd is non-blocking
 * and close-on-exec. Returns it, or -errno (-ETIMEDOUT, -ECANCELED, ...). */
int gs_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen, int64_t timeout_ms);

/* Connect a non-blocking socket. 0 or -errno (-ECONNREFUSED, ...). */
int gs_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t timeout_ms);

/* Read up to n bytes: > 0 read, 0 at end of file, or -errno. */
ssize_t gs_fd_read(int fd, void *buf, size_t n, int64_t timeout_ms);

/* Write all n bytes (the timeout bounds the whole call). Returns n or
 * -errno; on error some bytes may have been written. */
ssize_t gs_fd_write(int fd, const void *buf, size_t n, int64_t timeout_ms);

/* Send n bytes of file `in` from *offset (advanced) to socket `out`.
 * Returns bytes sent (n unless the file ended) or -errno. */
ssize_t gs_sendfile(int out, int in, off_t *offset, size_t n, int64_t timeout_ms);

/* Buffered reader over a non-blocking fd (does not own the fd). Once a
 * read has returned end of file, the reader reports it without reading
 * again. Timeouts bound the whole call. */
typedef struct gs_reader gs_reader;

/* bufsize 0 means 4096. NULL if out of memory. Never switches. */
gs_reader *gs_reader_new(int fd, size_t bufsize);
void gs_reader_free(gs_reader *rd);
/* Read up to n bytes, from the buffer first (returning only what it holds,
 * if anything); a read of at least bufsize bytes bypasses the buffer.
 * > 0, 0 at EOF, or -errno. Switches only when it has to read. */
ssize_t gs_reader_read(gs_reader *rd, void *buf, size_t n, int64_t timeout_ms);
/* Read one line, '\n' included, into buf (NUL-terminated). Returns its
 * length, 0 at EOF, -EMSGSIZE if it does not fit in n - 1 bytes (the line
 * stays buffered), -EINVAL if n is 0, or -errno. A last line without '\n'
 * is returned at EOF. The reader's buffer grows to n bytes when a line
 * needs it. Switches only when it has to read. */
ssize_t gs_reader_readline(gs_reader *rd, char *buf, size_t n, int64_t timeout_ms);

struct addrinfo;

/* getaddrinfo(3) on the thread pool: only the calling green thread waits.
 * Returns 0 or an EAI_* code exactly as getaddrinfo does (EAI_AGAIN on
 * timeout, EAI_CANCELED when killed, EAI_MEMORY, EAI_SYSTEM with errno
 * set); *res is NULL on failure; free it with freeaddrinfo. A lookup given
 * up on (timeout, kill) finishes on its pool thread, which frees its
 * result; one still queued is dropped. Switches. From an OS thread without
 * a hub it is plain getaddrinfo (no timeout). */
int gs_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res, int64_t timeout_ms);

/* ------------------------------------------------------------------------
 * Thread pool: run blocking code on an OS thread while only the calling
 * green thread waits (the seeds' block_on(callInThread(...))).
 * ---------------------------------------------------------------------- */

/* Run fn(arg) on a pool thread and wait for it; *result (if not NULL) gets
 * its return value. Switches. fn cannot be interrupted: a kill during the
 * call is reported as -ECANCELED once fn has returned (result still set),
 * and a deadline does not cut the wait short. A thread already killed
 * gets -ECANCELED without fn being run. Returns 0, -ECANCELED, or -ENOMEM
 * (or another -errno) when the pool cannot be set up. fn may use the
 * caller's memory: the caller cannot leave before fn returns. Where the
 * caller cannot park, it simply calls fn itself: on an OS thread without a
 * hub (that never used the runtime), on a pool thread or a handler thread
 * (--threads), which may block anyway, and in a libevent callback. One
 * pool serves the whole process (handler threads are a pool of their
 * own); threads start on demand and block asynchronous signals. */
int gs_offload(void *(*fn)(void *arg), void *arg, void **result);

/* Maximum number of pool threads (default 4; 0 means 1). Threads start one
 * by one as jobs queue up, so raising it takes effect at once; lowering it
 * does not stop threads already started. Never switches. */
void gs_offload_threads(unsigned n);

/* ------------------------------------------------------------------------
 * libevent bridge (the seeds' twisted bridge). Futures: see gs_event.
 * ---------------------------------------------------------------------- */

/* From callback code on the hub's thread: run fn(arg) in a new green
 * thread and, when it returns, call done(result, done_arg) from that
 * thread (done may be NULL), so done may block too. fn first runs once the
 * callback has returned to the loop. Never switches. 0 or -ENOMEM. */
int gs_call_green(gs_fn fn, void *arg, void (*done)(void *result, void *done_arg), void *done_arg);

struct bufferevent;

/* A green stream over an existing bufferevent of this hub's event_base:
 * reads and writes park the green thread instead of taking callbacks. The
 * stream takes over the bufferevent's callbacks (gs_bstream_free gives the
 * previous ones back); it does not own or free the bufferevent. The first
 * read that waits enables reading and leaves it on: set a read high-
 * watermark on the bufferevent to bound what is buffered ahead. Timeouts set with
 * bufferevent_set_timeouts end the waits they bound with -ETIMEDOUT. */
typedef struct gs_bstream gs_bstream;

/* NULL if out of memory. Never switches. */
gs_bstream *gs_bstream_new(struct bufferevent *bev);
/* Threads still parked on s get -EBADF. Never switches. */
void gs_bstream_free(gs_bstream *s);
/* > 0 read, 0 at EOF, or -errno (-ECONNRESET once the bufferevent has
 * reported an error; sticky). Buffered bytes come before EOF or error. */
ssize_t gs_bstream_read(gs_bstream *s, void *buf, size_t n, int64_t timeout_ms);
/* As gs_reader_readline. */
ssize_t gs_bstream_readline(gs_bstream *s, char *buf, size_t n, int64_t timeout_ms);
/* Queue n bytes and wait until the output buffer has drained (n = 0 only
 * waits: a flush). n or -errno; on -ETIMEDOUT or -ECANCELED the bytes stay
 * queued and still go out. */
ssize_t gs_bstream_write(gs_bstream *s, const void *buf, size_t n, int64_t timeout_ms);

/* ------------------------------------------------------------------------
 * The handler contract
 * ---------------------------------------------------------------------- */

typedef struct gs_request gs_request;

/*
 * Where handlers run. With --threads 0 (the default) every handler runs in
 * a green thread on the worker's hub, so a handler that blocks its OS
 * thread (sleep(3), a blocking socket, a library that knows nothing of
 * green threads) stalls every other client of that worker until it
 * returns: give such work to gs_offload, or run the worker with
 * --threads M. Then the handlers of apps without GS_APP_GREEN run on one
 * of M OS threads per worker and may block freely; accepting, parsing and
 * GS_APP_GREEN apps stay on the hub. On such a thread the request calls
 * below, gs_sleep, events, queues, gs_spawn and the green I/O work
 * unchanged by blocking the thread (its own hub, made on first use;
 * green threads a handler spawns finish there before the thread takes
 * another request); gs_offload just calls fn. Objects made on a handler
 * thread belong to that thread: sharing one event, queue or channel
 * between it and green threads of the worker's hub is not supported. A
 * handler on a thread cannot be cancelled: a kill of its connection (a
 * stop past --graceful-timeout) waits for it to return. gs_defer's calls
 * run on the handler's thread, right after handle returns.
 */
enum {
    /* Always run this app's handlers on the hub, even when the worker has
     * handler threads (--threads): the app never blocks its OS thread. */
    GS_APP_GREEN = 1u << 0,
    /* This app's requests may move to another worker while they wait
     * (hand-off; see gs_resumed): when a worker retires gracefully (a
     * reload, a recycle, one worker fewer), a request parked in a channel
     * wait or gs_wait_disconnect moves with its socket to a worker that
     * stays, and its handler runs there again from the start. */
    GS_APP_HANDOFF = 1u << 1,
};

typedef struct gs_app {
    unsigned abi;     /* GS_ABI_VERSION, filled in by GS_APP */
    const char *name; /* for logs */
    unsigned flags;   /* GS_APP_* */
    /* Once per worker, after fork. `args` is the text after ':' in the
     * mount (or ""), borrowed for the call. Store per-worker state in
     * *state. Return 0, or < 0 to stop start-up. Optional. */
    int (*init)(const char *args, void **state);
    /* One request. Return 0 when done; < 0 is an error: a 500 when no
     * response was started, otherwise the connection is closed. Under
     * --request-timeout a handler running longer is cancelled: its
     * current and later waits (and gs_write) return -ECANCELED, and once
     * it returns the client gets 504 if none of the response had left,
     * else the connection closes. On a handler thread (--threads) the
     * handler cannot be interrupted while it blocks its thread: it learns
     * at its next wait or gs_write. A handler that never waits at all is
     * the watchdog's (--timeout). */
    int (*handle)(gs_request *r, void *state);
    /* Once per worker at exit. Optional. */
    void (*fini)(void *state);
} gs_app;

/* Defines the one symbol a plugin exports, with the ABI version filled in:
 *     GS_APP(.name = "hello", .handle = handle);                         */
#define GS_APP(...)                                                                                \
    __attribute__((visibility("default")))                                                         \
    const gs_app greenserve_app = {.abi = GS_ABI_VERSION, __VA_ARGS__}

/* A WSGI environ value: REQUEST_METHOD, SCRIPT_NAME, PATH_INFO,
 * QUERY_STRING, SERVER_PROTOCOL, SERVER_NAME, SERVER_PORT, REMOTE_ADDR,
 * REMOTE_PORT, CONTENT_TYPE, CONTENT_LENGTH and HTTP_<NAME> for each
 * request header (upper case, '-' as '_', repeated headers joined with
 * ", "). NULL when absent. Borrowed until handle returns. Never switches. */
const char *gs_env(gs_request *r, const char *key);

/* Write one line to the error log (printf format): time, worker pid, the
 * app, then the message, then the client and the request line. r may be
 * NULL (from init or a thread of the app's own): the line then names no
 * request. A line longer than ~500 bytes is cut. Never switches. */
void gs_log(gs_request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read up to n bytes of the request body (de-chunked). Answers
 * "Expect: 100-continue" on first call. Returns > 0, 0 at the end of the
 * body, or -errno (-ETIMEDOUT, -ECONNRESET, -EMSGSIZE past the body
 * limit). Switches. */
ssize_t gs_read(gs_request *r, void *buf, size_t n);

/* Start the response: status and a NULL-terminated list of name, value
 * strings (copied). Nothing is sent yet. Returns 0, -EALREADY if already
 * started, -EINVAL for a header containing CR, LF or NUL (logged; the
 * request then fails with a 500). Never switches.
 * A list that cannot change -- `static const char *const h[]` of string
 * literals, in read-only memory -- is checked and formatted once per
 * thread and copied after: the cheapest headers there are. */
int gs_start_response(gs_request *r, int status, const char *const *headers);

/* Write body bytes (starts a 200 response if none was started). With a
 * Content-Length header the bytes are held until the response is complete
 * or the handler returns, so a small response leaves in one syscall;
 * otherwise they go out at once (chunked on HTTP/1.1, close-delimited on
 * 1.0). Returns n or -errno (-EPIPE when the client has gone). Switches. */
ssize_t gs_write(gs_request *r, const void *buf, size_t n);

/* Memory that lives until the request ends (also when its client vanishes
 * mid-wait). NULL if out of memory. Never switches. */
void *gs_alloc(gs_request *r, size_t n);

/* Run fn(arg) when the request ends, last registered first. 0 or -ENOMEM. */
int gs_defer(gs_request *r, void (*fn)(void *arg), void *arg);

/* Whether the client has closed its side or reset the connection. Never
 * switches. Long-poll waits also end with -EPIPE when it happens. */
bool gs_disconnected(gs_request *r);

/* Park until the client disconnects, the timeout passes, the thread is
 * killed or the worker starts draining: -EPIPE, -ETIMEDOUT, -ECANCELED,
 * -ESHUTDOWN. Switches.
 * Long waits and --request-timeout: a handler found parked in this wait or
 * in gs_chan_wait when its request timeout falls due is taken for a
 * long-poll or a stream and is exempt from the timeout from then on; its
 * waits are bounded by their own timeout, the client's disconnect and the
 * drain. Any other wait past the timeout returns -ECANCELED (see gs_app). */
int gs_wait_disconnect(gs_request *r, int64_t timeout_ms);

/* ------------------------------------------------------------------------
 * Hand-off (apps with GS_APP_HANDOFF)
 *
 * When its worker retires gracefully (SIGHUP reload, --max-requests,
 * --max-memory or --max-age recycle, SIGTTOU) while a request of such an
 * app is parked in a long wait (gs_chan_wait, gs_wait_disconnect) with
 * nothing held back unsent, the request moves to a worker that stays:
 * the socket itself, the request as received, the state of its response
 * and its cursor. Its client notices nothing. On the retiring worker the
 * wait returns -ECANCELED and every later write -EPIPE: the handler just
 * returns, and its gs_defer clean-ups run there. On the new worker the
 * handler is called again with the same request (gs_env, gs_read: a
 * request with a body is never moved), and:
 *   - gs_resumed(r, &cursor) is true, with the cursor the handler last
 *     set with gs_set_cursor on the old worker (0 if it set none);
 *   - a response that had not started starts as usual (a long-poll: wait
 *     what is left of its timeout, see gs_request_age_ms);
 *   - a stream (chunked, or close-delimited on HTTP/1.0) whose head went
 *     out goes on: the handler starts its response as it did the first
 *     time (gs_start_response returns 0 but its head is not sent again)
 *     and gs_write continues the body where the old worker left it. A
 *     response that differs (another status, or a Content-Length where
 *     the stream had none) cannot continue what the client has: the
 *     connection is closed (logged).
 * So the handler must be restartable from the start, and its cursor must
 * say exactly where its client is: the id of the last message the client
 * has been sent in full (for a stream), or the id the client asked to
 * wait after (for a long-poll), so that waiting after it again on the new
 * worker gives no duplicate and no gap. Whatever else the handler did
 * before its wait (a "joined" notice...) it does again. A request whose
 * app has no GS_APP_HANDOFF, or that is not parked when its worker
 * retires (its handler running), finishes on the old worker as before:
 * its waits end with -ESHUTDOWN. Idle keep-alive connections move too.
 * When no worker can take them (a stop, not a reload), nothing moves.
 * ---------------------------------------------------------------------- */

/* Record the request's cursor (see above): what a hand-off resumes from.
 * Call it before each wait, or whenever the client has been sent more.
 * Never switches. */
void gs_set_cursor(gs_request *r, uint64_t id);

/* Milliseconds since the request arrived, counted from when the worker
 * that first served it had its head (a hand-off does not restart it): a
 * long-poll that waits `timeout - gs_request_age_ms(r)` answers its client
 * in time even when it moved. Never switches. */
int64_t gs_request_age_ms(gs_request *r);

/* Whether this request was handed over by a retiring worker (and its
 * handler runs again here); *cursor (if cursor is not NULL) gets the
 * cursor set there, 0 when none was or the request is not resumed. Never
 * switches. */
bool gs_resumed(gs_request *r, uint64_t *cursor);

#ifdef __cplusplus
}
#endif

#endif /* GREENSERVE_H */
