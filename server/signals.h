/*
 * signals.h -- the master's signals, read from a signalfd in its poll
 * loop instead of handled asynchronously: TERM, INT, QUIT, HUP, TTIN,
 * TTOU, USR1, USR2 and CHLD. A forked worker starts with all of them back to
 * their defaults and unblocked, before it sets its own.
 */
#ifndef SRV_SIGNALS_H
#define SRV_SIGNALS_H

/* Block the master's signals and return a signalfd for them (non-
 * blocking, close-on-exec), or -errno. */
int srv_signals_open(void);

/* The next pending signal, 0 when none. */
int srv_signals_next(int fd);

/* In a forked child: default dispositions and an empty signal mask. */
void srv_signals_reset(void);

/* "SIGTERM" (valid until the next call from the thread). */
const char *srv_signal_name(int sig);

#endif
