/*
 * inflight.h -- the requests running in handlers on this hub (OS thread).
 *
 * Each is recorded when its handler starts: a few pointers and the time,
 * nothing formatted (a request costs no more, and a parked long-poll holds
 * no more). A report reads method, path and client from the request when
 * it is written: those are plain fields, so this is safe from a signal
 * handler too, and needs no allocation. A graceful stop asks the same
 * list which connections are inside a handler.
 */
#ifndef SRV_INFLIGHT_H
#define SRV_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

#include "greenserve.h"

typedef struct srv_inflight {
    gs_thread *thread;                /* the green thread running the handler */
    gs_request *r;                    /* its request */
    struct srv_inflight *prev, *next; /* this hub's list */
    const char *app;                  /* its name, for the reports */
    int64_t start_s;                  /* wall clock, for the watchdog's report */
} srv_inflight;

/* Record that the calling green thread starts app's handler for r. f must
 * stay put until srv_inflight_end, and not on the handler's stack: the
 * list is relinked while the handler is parked, when its stack may be
 * stashed (runtime/hub.c). Never switches. */
void srv_inflight_begin(srv_inflight *f, const char *app, gs_request *r);
void srv_inflight_end(srv_inflight *f);

/* How many handlers run on this hub. Never switches. */
size_t srv_inflight_count(void);

/* How many of them are parked in an interruptible wait: long-polls
 * (gs_wait_disconnect, channel waits), which a drain ends at once. Never
 * switches. */
size_t srv_inflight_parked(void);

/* Write what the calling green thread is handling into buf (NUL-
 * terminated): 'app "x" request "GET /x" from 127.0.0.1:40000, started
 * 2026-11-23T10:00:00Z (3 s ago)', or "no request (outside any handler)".
 * Async-signal-safe: for the watchdog's signal, on a stuck hub. */
void srv_inflight_describe(char *buf, size_t cap);

/* The threads running a handler now, as a sorted array the caller frees
 * (NULL with *n = 0 when none; NULL with *n > 0 when out of memory), and
 * whether t is among them. Never switch. */
gs_thread **srv_inflight_snapshot(size_t *n);
bool srv_inflight_contains(gs_thread *const *snap, size_t n, const gs_thread *t);

/* Write to fd (the error log) a line naming what the calling green thread
 * is handling (as srv_inflight_describe) and how long it has run, then a
 * backtrace of the calling stack, one frame a line (backtrace_symbols_fd:
 * "file(function+offset) [address]"; a plugin's non-static functions are
 * named). For the watchdog's signal, on the stuck hub's own stack:
 * async-signal-safe once srv_inflight_dump_ready has run. */
void srv_inflight_dump(int fd);

/* Make backtrace(3) safe to call from a signal handler: its first call
 * loads libgcc's unwinder (dlopen, malloc). Call once at start-up. 0, or
 * -ENOSYS when no frame could be read. */
int srv_inflight_dump_ready(void);

/* On SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT, write one error-log line
 * naming the signal and the request the crashing green thread was
 * handling, then let the signal take its course: the handler that was
 * there before ours (the stack overflow report) runs, and the process
 * dies by that signal. Install after the hub exists. 0 or -errno. */
int srv_inflight_catch_crashes(void);

#endif
