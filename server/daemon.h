/*
 * daemon.h -- --daemon and --pidfile.
 *
 * The process started from the shell stays until the master says how
 * start-up went, so its exit status is the server's: 0 once the first
 * workers serve, 2 when they could not start.
 */
#ifndef SRV_DAEMON_H
#define SRV_DAEMON_H

#include <stdbool.h>

/* Detach: fork, new session, stdin, stdout and stderr on /dev/null (the
 * logs should be files). Returns, in the daemon, a descriptor for
 * srv_daemon_ready; the original process waits on it and exits with what
 * it is sent (1 when the daemon dies first). -errno if the fork failed. */
int srv_daemonize(void);

/* Tell the waiting process how start-up went (0, or the exit status) and
 * let it go. Harmless with fd < 0. */
void srv_daemon_ready(int fd, int status);

/* systemd's Type=notify (sd_notify(3) without libsystemd): when
 * NOTIFY_SOCKET is set, say READY=1 and that this process is the main
 * one (MAINPID: after a binary upgrade it is a new pid; the unit needs
 * NotifyAccess=all for that). Nothing otherwise. */
void srv_notify_ready(void);

/* Write our pid to path; remove it at exit only if it still holds ours.
 * 0 or -errno. */
int srv_pidfile_write(const char *path);
void srv_pidfile_remove(const char *path);

#endif
