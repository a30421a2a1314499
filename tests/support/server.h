/*
 * server.h -- run the real greenserve executable from a test.
 *
 * ts_start runs $GS_BUILD/greenserve (default build/) on 127.0.0.1:0 with
 * its error and access logs in a fresh directory, and learns the port
 * from its "listening on" log line. The child dies with the test process
 * (PR_SET_PDEATHSIG), so a test that times out leaves nothing behind;
 * otherwise stop exactly the server you started with ts_stop.
 */
#ifndef TS_SERVER_H
#define TS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ts_server {
    pid_t pid;    /* 0 once reaped */
    int pidfd;    /* readable when it exits */
    int port;     /* of the first --bind, from the log */
    int status;   /* wait status, once reaped */
    char dir[64]; /* temporary: the files below */
    char error_log[96];
    char access_log[96];
    char output[96]; /* its stdout and stderr */
} ts_server;

/* The build directory: $GS_BUILD, or "build". */
const char *ts_build_dir(void);

/* Start greenserve with args (NULL-terminated; "{build}" in an argument
 * is replaced by the build directory), after "--bind 127.0.0.1:0
 * --error-log DIR/error.log --access-log DIR/access.log". Returns 0 once it
 * listens, -1 if it exited first (s->status; its error log says why) or
 * did not listen within 5 s. */
int ts_start(ts_server *s, const char *const *args);

/* SIGTERM, then wait up to timeout_ms (SIGKILL past it). Returns the
 * wait status. Removes the log directory. Harmless if never started. */
int ts_stop(ts_server *s, int timeout_ms);

/* Wait up to timeout_ms for the server to exit by itself: its wait
 * status, or -1. */
int ts_wait_exit(ts_server *s, int timeout_ms);

/* Send sig to the server (and to nothing else). */
void ts_signal(ts_server *s, int sig);

/* Wait until file contains needle, watching it with inotify (and giving
 * up early if the server exits without writing it). */
bool ts_log_wait(ts_server *s, const char *file, const char *needle, int timeout_ms);

/* The same, looking only past the first `from` bytes (a size taken with
 * ts_file_size before the event that should log). */
bool ts_log_wait_from(ts_server *s, const char *file, size_t from, const char *needle,
                      int timeout_ms);

/* How many times needle is in file (past its first `from` bytes). */
size_t ts_log_count(const char *file, size_t from, const char *needle);

/* Wait until needle is in file at least n times past `from` (watching it
 * with inotify, giving up early if the server exits first). */
bool ts_log_wait_count(ts_server *s, const char *file, size_t from, const char *needle, size_t n,
                       int timeout_ms);

/* The size of a file now (0 if absent). */
size_t ts_file_size(const char *path);

/* The whole file, NUL-terminated, truncated to cap - 1. Returns length. */
size_t ts_read_file(const char *path, char *buf, size_t cap);

/* The pids (at most max) of the workers the error log says were ready in
 * generation gen ("1", "2"...). Returns how many. */
int ts_generation_pids(ts_server *s, const char *gen, pid_t *pids, int max);

/* Run a shell command, capture stdout and stderr (NUL-terminated,
 * truncated to cap - 1) and return its exit status (-1: not run). */
int ts_sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
