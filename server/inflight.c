/*
 * inflight.c -- the list of running handlers and the crash report.
 */
#include "server/inflight.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/hub.h"
#include "runtime/log.h"

/* initial-exec: read from a signal handler, it must not need the lazy TLS
 * allocation a general-dynamic access may do. */
static __thread srv_inflight *running __attribute__((tls_model("initial-exec")));
static __thread size_t nrunning;

/* ---- formatting without snprintf (cheap per request, usable in a signal
 * handler) ---- */

typedef struct text {
    char *buf;
    size_t len, cap; /* cap keeps one byte for a final '\n' */
} text;

static void put(text *t, const char *s)
{
    while (s && *s && t->len < t->cap)
        t->buf[t->len++] = *s++;
}

static void put_num(text *t, unsigned long v, int width)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    while (n > 0 && t->len < t->cap)
        t->buf[t->len++] = d[--n];
}

/* 'app "hello" request "GET /hello/x"', a long path cut with "...". The
 * gs_env keys read here are fields of the request, no allocation. */
static void put_what(text *t, const srv_inflight *f)
{
    put(t, "app \"");
    put(t, f->app ? f->app : "?");
    put(t, "\" request \"");
    put(t, gs_env(f->r, "REQUEST_METHOD"));
    put(t, " ");
    size_t cap = t->cap;
    t->cap = cap > t->len + 200 ? t->len + 200 : cap;
    put(t, gs_env(f->r, "SCRIPT_NAME"));
    put(t, gs_env(f->r, "PATH_INFO"));
    bool cut = t->len == t->cap;
    t->cap = cap;
    put(t, cut ? "...\"" : "\"");
}

void srv_inflight_begin(srv_inflight *f, const char *app, gs_request *r)
{
    f->app = app;
    f->start_s = time(NULL);
    f->r = r;
    f->thread = gs_self();
    f->prev = NULL;
    f->next = running;
    if (running)
        running->prev = f;
    running = f;
    nrunning++;
}

void srv_inflight_end(srv_inflight *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        running = f->next;
    if (f->next)
        f->next->prev = f->prev;
    nrunning--;
}

size_t srv_inflight_count(void)
{
    return nrunning;
}

size_t srv_inflight_parked(void)
{
    size_t n = 0;
    for (const srv_inflight *f = running; f; f = f->next)
        n += f->thread->state == RT_WAITING && f->thread->interruptible;
    return n;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (gs_thread *const *)a, y = (uintptr_t) * (gs_thread *const *)b;
    return x < y ? -1 : x > y;
}

gs_thread **srv_inflight_snapshot(size_t *n)
{
    *n = nrunning;
    gs_thread **snap = nrunning ? malloc(nrunning * sizeof(*snap)) : NULL;
    if (!snap)
        return NULL;
    size_t i = 0;
    for (srv_inflight *f = running; f; f = f->next)
        snap[i++] = f->thread;
    qsort(snap, i, sizeof(*snap), by_address);
    return snap;
}

bool srv_inflight_contains(gs_thread *const *snap, size_t n, const gs_thread *t)
{
    return n && bsearch(&t, snap, n, sizeof(*snap), by_address);
}

/* ---- the crash report ---- */

static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NFATAL (sizeof(fatal) / sizeof(fatal[0]))
static struct sigaction previous[NFATAL];

static const char *signame(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV (invalid memory access)";
    case SIGBUS:
        return "SIGBUS (bus error)";
    case SIGFPE:
        return "SIGFPE (arithmetic error)";
    case SIGILL:
        return "SIGILL (illegal instruction)";
    case SIGABRT:
        return "SIGABRT (abort)";
    }
    return "a fatal signal";
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil,
 * inverted): gmtime_r is not async-signal-safe. */
static void civil_date(long days, long *y, long *m, long *d)
{
    long z = days + 719468, era = z / 146097, doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/* "2026-11-23T10:00:00Z" from seconds since 1970, without gmtime_r. */
static void put_time(text *t, long secs)
{
    long y, m, d, s = secs % 86400;
    civil_date(secs / 86400, &y, &m, &d);
    const struct {
        const char *before;
        long v;
        int width;
    } parts[] = {{"", y, 4},         {"-", m, 2},           {"-", d, 2},
                 {"T", s / 3600, 2}, {":", s / 60 % 60, 2}, {":", s % 60, 2}};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        put(t, parts[i].before);
        put_num(t, (unsigned long)parts[i].v, parts[i].width);
    }
    put(t, "Z");
}

/* rt_log's "2026-11-23T10:00:00Z [1234] ", from the clock alone. */
static void put_prefix(text *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    put_time(t, ts.tv_sec);
    put(t, " [");
    put_num(t, (unsigned long)getpid(), 1);
    put(t, "] ");
}

static const srv_inflight *find_current(void)
{
    if (!running || !rt_hub_peek())
        return NULL; /* gs_self would create a hub: no malloc in a signal handler */
    gs_thread *self = gs_self();
    for (const srv_inflight *f = running; f; f = f->next)
        if (f->thread == self)
            return f;
    return NULL;
}

void srv_inflight_describe(char *buf, size_t cap)
{
    text t = {buf, 0, cap - 1};
    const srv_inflight *f = find_current();
    if (!f) {
        put(&t, "no request (outside any handler)");
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        put_what(&t, f);
        put(&t, " from ");
        put(&t, gs_env(f->r, "REMOTE_ADDR"));
        put(&t, ":");
        put(&t, gs_env(f->r, "REMOTE_PORT"));
        put(&t, ", started ");
        put_time(&t, f->start_s);
        put(&t, " (");
        put_num(&t, (unsigned long)(now.tv_sec > f->start_s ? now.tv_sec - f->start_s : 0), 1);
        put(&t, " s ago)");
    }
    buf[t.len] = '\0';
}

#define DUMP_FRAMES 48

void srv_inflight_dump(int fd)
{
    char line[600];
    text t = {line, 0, sizeof(line) - 1};
    put_prefix(&t);
    put(&t, "watchdog: the hub is stuck in ");
    size_t at = t.len;
    srv_inflight_describe(line + at, t.cap - at);
    t.len = at + strlen(line + at);
    put(&t, "; backtrace of the running code:");
    line[t.len++] = '\n';
    ssize_t w = write(fd, line, t.len);
    (void)w;
    /* From the signal handler on the interrupted stack: frames 0-1 are
     * this function and the handler, then the signal frame and the code
     * that was running. */
    void *frames[DUMP_FRAMES];
    int n = backtrace(frames, DUMP_FRAMES);
    backtrace_symbols_fd(frames, n, fd);
}

int srv_inflight_dump_ready(void)
{
    void *frame;
    return backtrace(&frame, 1) > 0 ? 0 : -ENOSYS;
}

static void write_report(int sig)
{
    char line[512];
    text t = {line, 0, sizeof(line) - 1};
    put_prefix(&t);
    const srv_inflight *f = find_current();
    put(&t, "crash: ");
    if (f)
        put_what(&t, f);
    else
        put(&t, "outside any request");
    put(&t, ": signal ");
    put(&t, signame(sig));
    line[t.len++] = '\n';
    ssize_t w = write(rt_log_fd(), line, t.len);
    (void)w;
}

static void on_fatal(int sig, siginfo_t *info, void *uctx)
{
    write_report(sig);
    for (size_t i = 0; i < NFATAL; i++) {
        if (fatal[i] != sig)
            continue;
        struct sigaction *p = &previous[i];
        if ((p->sa_flags & SA_SIGINFO) && p->sa_sigaction)
            p->sa_sigaction(sig, info, uctx);
        else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN)
            p->sa_handler(sig);
    }
    /* Still alive (the previous handler returned): die by the signal. */
    signal(sig, SIG_DFL);
    raise(sig);
}

int srv_inflight_catch_crashes(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fatal;
    /* The alternate stack: a stack overflow leaves no room on the green
     * thread's own. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFATAL; i++)
        if (sigaction(fatal[i], &sa, &previous[i]) < 0)
            return -errno;
    return 0;
}
