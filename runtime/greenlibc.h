/*
 * greenlibc.h -- --green-libc: the executable defines read, write,
 * connect, poll, sleep, getaddrinfo... so that blocking C code (a plugin,
 * or a library it loads, e.g. hiredis' synchronous API) parks its green
 * thread instead of blocking the hub. Off, each hook is libc's call
 * behind one branch; on, only calls made on a green thread change.
 */
#ifndef RT_GREENLIBC_H
#define RT_GREENLIBC_H

#include <stdbool.h>

/* Turn the hooks on or off for the whole process (before serving). */
void rt_greenlibc_enable(bool on);
bool rt_greenlibc_enabled(void);

/* fd is one of the runtime's own log files, written from the hub on
 * purpose: its calls go straight to libc, and are not logged as blocking.
 * A few are kept (the error and access logs); fd < 0 is ignored. */
void rt_greenlibc_quiet(int fd);

#endif
