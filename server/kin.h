/*
 * kin.h -- how a master and its workers find and recognise each other on
 * the host: abstract Unix socket names (nothing to unlink, gone with their
 * process) and a process's parent, for checking that a peer reaching such
 * a socket is one of the family (anyone on the host can connect to it).
 */
#ifndef SRV_KIN_H
#define SRV_KIN_H

#include <sys/socket.h>
#include <sys/types.h>

/* A non-blocking socket of `type` (SOCK_STREAM, SOCK_SEQPACKET) listening
 * on the calling process's abstract address for `what`
 * ("greenserve-<what>-<pid>"), or one connected to pid's.
 * The descriptor, or -errno. */
int srv_kin_listen(const char *what, int type, int backlog);
int srv_kin_connect(const char *what, pid_t pid, int type);

/* pid's parent, from /proc; -1 if pid is gone or unreadable. */
pid_t srv_kin_parent(pid_t pid);

#endif
