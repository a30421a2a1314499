/*
 * log.h -- the error log: one line per call, written with one write(2) so
 * lines from several processes sharing the file never interleave.
 *   2026-11-23T10:00:00Z [1234] message
 */
#ifndef RT_LOG_H
#define RT_LOG_H

/* Log a printf-style line (a trailing newline is added). Never switches. */
void rt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Send the log to fd from now on (default 2, stderr). */
void rt_log_set_fd(int fd);
int rt_log_fd(void);

#endif
