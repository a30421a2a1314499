/*
 * date.h -- the clock strings HTTP needs, formatted at most once a second
 * per hub: the Server and Date response header lines, and the access log's
 * Common Log Format timestamp. Nothing here switches.
 */
#ifndef HTTP_DATE_H
#define HTTP_DATE_H

#include <stddef.h>

/* "Server: greenserve\r\n", the first part of http_date_lines(). */
#define HTTP_SERVER_LINE     "Server: greenserve\r\n"
#define HTTP_SERVER_LINE_LEN (sizeof(HTTP_SERVER_LINE) - 1)

/* "Server: greenserve\r\nDate: Mon, 23 Nov 2026 10:00:00 GMT\r\n" for the
 * current second; *len gets its length. Borrowed until the next call. */
const char *http_date_lines(size_t *len);

/* "23/Nov/2026:10:00:00 +0000" for the current second (UTC), as the Common
 * Log Format writes it between brackets. Borrowed until the next call. */
const char *http_clf_time(size_t *len);

#endif
