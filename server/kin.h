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
#include <sys/un.h>

/* The abstract address "greenserve-<what>-<pid>" into *sa and *len. */
void srv_kin_address(const char *what, pid_t pid, struct sockaddr_un *sa, socklen_t *len);

/* pid's parent, from /proc; -1 if pid is gone or unreadable. */
pid_t srv_kin_parent(pid_t pid);

#endif
