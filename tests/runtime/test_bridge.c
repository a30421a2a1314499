/* The libevent bridge: plain callback-style libevent code and green threads
 * sharing one event_base (gs_hub_base): callback servers with green
 * clients, green servers on bufferevents accepted by callback code,
 * gs_call_green from timers, gs_bstream timeouts, EOF, errors and
 * cancellation, and gs_event as the future callback code resolves. */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "greenserve.h"

/* ---- helpers ---- */

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    *(bool *)arg = true;
    gs_hub_stop();
}

/* gs_hub_run until the test's callbacks stop it, or fail after ms. A hub
 * kept busy by a listener never returns by itself, and Criterion's
 * .timeout cannot be relied on to end it: under --jobs 2 the runner's
 * timeout thread sometimes loses a test's record (the race described
 * above), and that test then runs forever. */
static void run_hub_until_stopped(int64_t ms)
{
    bool fired = false;
    struct event *dog = evtimer_new(gs_hub_base(), on_watchdog, &fired);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000};
    evtimer_add(dog, &tv);
    cr_assert_eq(gs_hub_run(), 0);
    event_free(dog);
    cr_assert_not(fired, "the hub was not stopped within %lld ms", (long long)ms);
}

static struct evconnlistener *listen_local(evconnlistener_cb cb, void *arg, int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct evconnlistener *l =
        evconnlistener_new_bind(gs_hub_base(), cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                16, (struct sockaddr *)&sin, sizeof(sin));
    cr_assert_not_null(l);
    socklen_t len = sizeof(sin);
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &len);
    *port = ntohs(sin.sin_port);
    return l;
}

/* A green client: a connected non-blocking socket to 127.0.0.1:port. */
static int green_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(gs_set_nonblock(fd), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(gs_connect(fd, (struct sockaddr *)&sin, sizeof(sin), 2000), 0);
    return fd;
}

static ssize_t read_exactly(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = gs_fd_read(fd, buf + got, n - got, 5000);
        if (r <= 0)
            return r < 0 ? r : (ssize_t)got;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* One end of a socket pair driven by a bufferevent, the other left raw
 * for the test to write, read, close. */
static struct bufferevent *bev_pair(int *raw)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(gs_set_nonblock(sv[0]), 0);
    cr_assert_eq(gs_set_nonblock(sv[1]), 0);
    *raw = sv[1];
    struct bufferevent *bev = bufferevent_socket_new(gs_hub_base(), sv[0], BEV_OPT_CLOSE_ON_FREE);
    cr_assert_not_null(bev);
    return bev;
}

static void write_raw(int fd, const char *s)
{
    cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* ---- callback-style echo server, green client ---- */

static int echo_closed;

static void echo_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

static void echo_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(bev);
        echo_closed++;
        gs_hub_stop();
    }
}

static void echo_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                        int socklen, void *arg)
{
    (void)l, (void)sa, (void)socklen, (void)arg;
    struct bufferevent *bev = bufferevent_socket_new(gs_hub_base(), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, echo_read, NULL, echo_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

#define BIG (512 * 1024)

static void *write_big(void *arg)
{
    int fd = *(int *)arg;
    char *buf = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        buf[i] = (char)(i * 7 + i / 4096);
    ssize_t r = gs_fd_write(fd, buf, BIG, 5000);
    free(buf);
    return (void *)r;
}

/* The writer and the reader are separate green threads, so the echo has
 * to flow both ways at once through the callback server. */
Test(bridge, callback_echo_server_green_client, .timeout = 10)
{
    int port;
    struct evconnlistener *l = listen_local(echo_accept, NULL, &port);
    int fd = green_connect(port);
    gs_thread *w = gs_spawn(write_big, &fd);
    char *back = malloc(BIG);
    cr_assert_eq(read_exactly(fd, back, BIG), BIG);
    void *wr;
    cr_assert_eq(gs_join(w, &wr, GS_FOREVER), 0);
    cr_assert_eq((ssize_t)wr, BIG);
    for (size_t i = 0; i < BIG; i++)
        cr_assert_eq(back[i], (char)(i * 7 + i / 4096), "byte %zu", i);
    free(back);

    cr_assert_eq(echo_closed, 0);
    gs_close(fd);
    run_hub_until_stopped(5000); /* the server's EOF callback stops it */
    cr_assert_eq(echo_closed, 1);
    evconnlistener_free(l);
}

/* ---- green server on bufferevents accepted by callback code ---- */

typedef struct served {
    int connections;
    long lines;
    int want;
} served;

/* Answers each line with "<n>:<line>" until EOF; returns the line count. */
static void *green_session(void *arg)
{
    struct bufferevent *bev = arg;
    gs_bstream *s = gs_bstream_new(bev);
    char line[128], out[160];
    long n = 0;
    ssize_t r;
    while ((r = gs_bstream_readline(s, line, sizeof(line), 5000)) > 0) {
        int len = snprintf(out, sizeof(out), "%ld:%s", ++n, line);
        if (gs_bstream_write(s, out, (size_t)len, 5000) != len)
            break;
    }
    gs_bstream_free(s);
    bufferevent_free(bev); /* the stream never frees it: its owner does */
    return (void *)(r == 0 ? n : (long)r);
}

static void session_done(void *result, void *arg)
{
    served *sv = arg;
    sv->lines += (long)result;
    if (++sv->connections == sv->want)
        gs_hub_stop();
}

static void green_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int socklen, void *arg)
{
    (void)l, (void)sa, (void)socklen;
    struct bufferevent *bev = bufferevent_socket_new(gs_hub_base(), fd, BEV_OPT_CLOSE_ON_FREE);
    cr_assert_eq(gs_call_green(green_session, bev, session_done, arg), 0);
}

static void *line_client(void *arg)
{
    int fd = green_connect(*(int *)arg);
    const char *req = "alpha\nbeta\ngamma\n";
    const char *want = "1:alpha\n2:beta\n3:gamma\n";
    cr_assert_eq(gs_fd_write(fd, req, strlen(req), 2000), (ssize_t)strlen(req));
    char got[64] = {0};
    cr_assert_eq(read_exactly(fd, got, strlen(want)), (ssize_t)strlen(want));
    cr_assert_str_eq(got, want);
    shutdown(fd, SHUT_WR); /* the session sees EOF and ends */
    cr_assert_eq(gs_fd_read(fd, got, sizeof(got), 2000), 0);
    gs_close(fd);
    return NULL;
}

Test(bridge, green_server_on_accepted_bufferevents, .timeout = 10)
{
    served sv = {.want = 3};
    int port;
    struct evconnlistener *l = listen_local(green_accept, &sv, &port);
    for (int i = 0; i < sv.want; i++)
        gs_spawn_n(line_client, &port);
    run_hub_until_stopped(5000);
    cr_assert_eq(sv.connections, 3);
    cr_assert_eq(sv.lines, 9);
    evconnlistener_free(l);
}

/* ---- gs_call_green from an evtimer ---- */

typedef struct timed_call {
    gs_thread *ran_on;
    gs_thread *done_on;
    long result;
    int64_t started, finished;
} timed_call;

static void *slow_double(void *arg)
{
    timed_call *tc = arg;
    tc->ran_on = gs_self();
    tc->started = gs_now_ms();
    cr_assert_eq(gs_sleep(20), 0); /* a green thread may block */
    return (void *)21L;
}

static void record_done(void *result, void *arg)
{
    timed_call *tc = arg;
    tc->done_on = gs_self();
    tc->result = (long)result * 2;
    tc->finished = gs_now_ms();
    gs_hub_stop();
}

static void on_timer_call(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    /* Callback land: this cannot block, but it can start green code. */
    cr_assert_eq(gs_sleep(1), -EDEADLK);
    cr_assert_eq(gs_call_green(slow_double, arg, record_done, arg), 0);
}

Test(bridge, call_green_from_timer_reports_through_done, .timeout = 5)
{
    timed_call tc = {0};
    struct event *ev = evtimer_new(gs_hub_base(), on_timer_call, &tc);
    struct timeval tv = {0, 5000};
    evtimer_add(ev, &tv);
    gs_thread *root = gs_self();
    run_hub_until_stopped(5000);
    cr_assert_eq(tc.result, 42);
    cr_assert_not_null(tc.ran_on);
    cr_assert_neq(tc.ran_on, root);
    cr_assert_eq(tc.done_on, tc.ran_on, "done runs on the green thread, as it returns");
    cr_assert_geq(tc.finished - tc.started, 18);
    event_free(ev);
}

static void *count_up(void *arg)
{
    (*(int *)arg)++;
    return NULL;
}

Test(bridge, call_green_without_done, .timeout = 5)
{
    int n = 0;
    cr_assert_eq(gs_call_green(count_up, &n, NULL, NULL), 0);
    cr_assert_eq(gs_call_green(count_up, &n, NULL, NULL), 0);
    cr_assert_eq(n, 0, "never switches: the calls only start threads");
    cr_assert_eq(gs_hub_run(), 0);
    cr_assert_eq(n, 2);
}

/* ---- gs_bstream: reads, lines, timeouts, EOF, errors ---- */

Test(bridge, bstream_read_timeout_then_data, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    gs_bstream *s = gs_bstream_new(bev);
    char buf[16];
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_bstream_read(s, buf, sizeof(buf), 30), -ETIMEDOUT);
    cr_assert_geq(gs_now_ms() - t0, 25);
    cr_assert_eq(gs_bstream_read(s, buf, sizeof(buf), 0), -ETIMEDOUT);
    write_raw(raw, "hello");
    cr_assert_eq(gs_bstream_read(s, buf, 3, 1000), 3);
    cr_assert_eq(memcmp(buf, "hel", 3), 0);
    cr_assert_eq(gs_bstream_read(s, buf, sizeof(buf), 0), 2, "buffered: no wait needed");
    cr_assert_eq(memcmp(buf, "lo", 2), 0);
    gs_bstream_free(s);
    bufferevent_free(bev);
    close(raw);
}

Test(bridge, bstream_readline_partial_then_eof, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    gs_bstream *s = gs_bstream_new(bev);
    char line[32];
    write_raw(raw, "one\ntw");
    cr_assert_eq(gs_bstream_readline(s, line, sizeof(line), 1000), 4);
    cr_assert_str_eq(line, "one\n");
    cr_assert_eq(gs_bstream_readline(s, line, sizeof(line), 30), -ETIMEDOUT, "half a line");
    write_raw(raw, "o\nthree");
    cr_assert_eq(gs_bstream_readline(s, line, sizeof(line), 1000), 4);
    cr_assert_str_eq(line, "two\n");
    close(raw);
    cr_assert_eq(gs_bstream_readline(s, line, sizeof(line), 1000), 5, "last line at EOF");
    cr_assert_str_eq(line, "three");
    cr_assert_eq(gs_bstream_readline(s, line, sizeof(line), 1000), 0);
    cr_assert_eq(gs_bstream_read(s, line, sizeof(line), 1000), 0);
    gs_bstream_free(s);
    bufferevent_free(bev);
}

Test(bridge, bstream_readline_too_long_stays_buffered, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    gs_bstream *s = gs_bstream_new(bev);
    char small[6], big[32];
    write_raw(raw, "abcdefgh\n");
    cr_assert_eq(gs_bstream_readline(s, small, sizeof(small), 1000), -EMSGSIZE);
    cr_assert_eq(gs_bstream_readline(s, big, sizeof(big), 1000), 9);
    cr_assert_str_eq(big, "abcdefgh\n");
    write_raw(raw, "abcde"); /* 5 bytes, no '\n': cannot fit in 6 with one */
    cr_assert_eq(gs_bstream_readline(s, small, sizeof(small), 1000), -EMSGSIZE);
    write_raw(raw, "\n");
    cr_assert_eq(gs_bstream_readline(s, big, sizeof(big), 1000), 6);
    gs_bstream_free(s);
    bufferevent_free(bev);
    close(raw);
}

Test(bridge, bstream_eof_returns_buffered_data_first, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    gs_bstream *s = gs_bstream_new(bev);
    write_raw(raw, "tail");
    close(raw);
    char buf[16];
    cr_assert_eq(gs_bstream_read(s, buf, sizeof(buf), 1000), 4);
    cr_assert_eq(gs_bstream_read(s, buf, sizeof(buf), 1000), 0);
    cr_assert_eq(gs_bstream_read(s, buf, sizeof(buf), 1000), 0, "EOF is sticky");
    gs_bstream_free(s);
    bufferevent_free(bev);
}

/* Timeouts callback code set on the bufferevent still apply to the stream
 * (libevent then disables reading; the next read turns it back on). */
Test(bridge, bstream_honours_bufferevent_timeouts, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    struct timeval tv = {0, 30000};
    bufferevent_set_timeouts(bev, &tv, NULL);
    gs_bstream *s = gs_bstream_new(bev);
    char buf[8];
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_bstream_read(s, buf, sizeof(buf), GS_FOREVER), -ETIMEDOUT);
    cr_assert_geq(gs_now_ms() - t0, 25);
    write_raw(raw, "late");
    cr_assert_eq(gs_bstream_read(s, buf, sizeof(buf), 1000), 4);
    gs_bstream_free(s);
    bufferevent_free(bev);
    close(raw);
}

typedef struct waiter_arg {
    gs_bstream *s;
    ssize_t r;
} waiter_arg;

static void *parked_reader(void *arg)
{
    waiter_arg *w = arg;
    char buf[8];
    w->r = gs_bstream_read(w->s, buf, sizeof(buf), 5000);
    return NULL;
}

/* A reset peer: unread data in the closing end's queue makes the kernel
 * report ECONNRESET to the other end. */
Test(bridge, bstream_error_wakes_parked_reader_with_econnreset, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    gs_bstream *s = gs_bstream_new(bev);
    waiter_arg w = {.s = s, .r = 1};
    gs_thread *t = gs_spawn(parked_reader, &w);
    cr_assert_eq(gs_bstream_write(s, "unread", 6, 1000), 6);
    gs_yield();
    cr_assert_eq(w.r, 1, "still parked");
    close(raw);
    cr_assert_eq(gs_join(t, NULL, GS_FOREVER), 0);
    cr_assert_eq(w.r, -ECONNRESET);
    cr_assert_eq(gs_bstream_write(s, "x", 1, 1000), -ECONNRESET, "the error is sticky");
    gs_bstream_free(s);
    bufferevent_free(bev);
}

Test(bridge, bstream_kill_and_free_wake_parked_readers, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    gs_bstream *s = gs_bstream_new(bev);
    waiter_arg a = {.s = s, .r = 1}, b = {.s = s, .r = 1};
    gs_thread *ta = gs_spawn(parked_reader, &a);
    gs_thread *tb = gs_spawn(parked_reader, &b);
    gs_yield();
    gs_kill(ta);
    cr_assert_eq(gs_join(ta, NULL, GS_FOREVER), 0);
    cr_assert_eq(a.r, -ECANCELED);
    gs_bstream_free(s);
    cr_assert_eq(gs_join(tb, NULL, GS_FOREVER), 0);
    cr_assert_eq(b.r, -EBADF);
    bufferevent_free(bev);
    close(raw);
}

static void *drain_slowly(void *arg)
{
    int raw = *(int *)arg;
    static char buf[65536];
    gs_sleep(20);
    ssize_t r;
    long total = 0;
    while ((r = gs_fd_read(raw, buf, sizeof(buf), 2000)) > 0)
        total += r;
    return (void *)total;
}

/* The write returns only once every byte has left the output buffer. */
Test(bridge, bstream_write_waits_for_drain, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    gs_bstream *s = gs_bstream_new(bev);
    size_t n = 4 << 20; /* far more than the socket buffers hold */
    char *buf = calloc(1, n);
    gs_thread *t = gs_spawn(drain_slowly, &raw);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_bstream_write(s, buf, n, 5000), (ssize_t)n);
    cr_assert_geq(gs_now_ms() - t0, 15, "it had to wait for the reader");
    cr_assert_eq(evbuffer_get_length(bufferevent_get_output(bev)), 0);
    cr_assert_eq(gs_bstream_write(s, NULL, 0, 0), 0, "nothing left to flush");
    gs_bstream_free(s);
    bufferevent_free(bev); /* the reader sees EOF */
    void *total;
    gs_join(t, &total, GS_FOREVER);
    cr_assert_eq((long)total, (long)n);
    free(buf);
    close(raw);
}

Test(bridge, bstream_write_timeout_when_peer_does_not_read, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    gs_bstream *s = gs_bstream_new(bev);
    size_t n = 4 << 20;
    char *buf = calloc(1, n);
    int64_t t0 = gs_now_ms();
    cr_assert_eq(gs_bstream_write(s, buf, n, 40), -ETIMEDOUT);
    cr_assert_geq(gs_now_ms() - t0, 35);
    cr_assert_gt(evbuffer_get_length(bufferevent_get_output(bev)), 0, "bytes stay queued");
    cr_assert_eq(gs_bstream_write(s, NULL, 0, 30), -ETIMEDOUT, "a flush waits for them too");
    gs_bstream_free(s);
    bufferevent_free(bev);
    free(buf);
    close(raw);
}

/* ---- handing a bufferevent back to callback code ---- */

static int cb_reads;

static void counting_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    cb_reads++;
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    gs_hub_stop();
}

Test(bridge, bstream_free_gives_callbacks_back, .timeout = 5)
{
    int raw;
    struct bufferevent *bev = bev_pair(&raw);
    bufferevent_setcb(bev, counting_read, NULL, NULL, NULL);
    bufferevent_enable(bev, EV_READ);
    gs_bstream *s = gs_bstream_new(bev);
    write_raw(raw, "green\n");
    char line[16];
    cr_assert_eq(gs_bstream_readline(s, line, sizeof(line), 1000), 6);
    cr_assert_eq(cb_reads, 0, "the stream had the callbacks");
    gs_bstream_free(s);
    write_raw(raw, "callback\n");
    run_hub_until_stopped(5000);
    cr_assert_eq(cb_reads, 1);
    bufferevent_free(bev);
    close(raw);
}

/* ---- gs_event: the future callback code resolves ---- */

static void resolve_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    cr_assert_eq(gs_event_send(arg, (void *)99L), 0);
    cr_assert_eq(gs_event_send(arg, (void *)1L), -EALREADY);
}

static void *block_on(void *arg)
{
    void *v = NULL;
    int r = gs_event_wait(arg, &v, 2000);
    return (void *)(r < 0 ? (long)r : (long)v);
}

Test(bridge, timer_callback_resolves_event_green_thread_waits, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    struct event *tm = evtimer_new(gs_hub_base(), resolve_later, ev);
    struct timeval tv = {0, 10000};
    evtimer_add(tm, &tv);
    gs_thread *a = gs_spawn(block_on, ev);
    gs_thread *b = gs_spawn(block_on, ev);
    void *ra, *rb;
    cr_assert_eq(gs_join(a, &ra, GS_FOREVER), 0);
    cr_assert_eq(gs_join(b, &rb, GS_FOREVER), 0);
    cr_assert_eq((long)ra, 99);
    cr_assert_eq((long)rb, 99);
    event_free(tm);
    gs_event_free(ev);
}

static void fail_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    gs_event_send_error(arg, -ECONNREFUSED);
}

Test(bridge, timer_callback_fails_the_future, .timeout = 5)
{
    gs_event *ev = gs_event_new();
    struct event *tm = evtimer_new(gs_hub_base(), fail_later, ev);
    struct timeval tv = {0, 5000};
    evtimer_add(tm, &tv);
    void *v;
    cr_assert_eq(gs_event_wait(ev, &v, 2000), -ECONNREFUSED);
    event_free(tm);
    gs_event_free(ev);
}
