/*
 * signals.c -- the master's signalfd.
 */
#include "server/signals.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static const int handled[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP, SIGTTIN,
                              SIGTTOU, SIGUSR1, SIGUSR2, SIGCHLD};
#define NHANDLED (sizeof(handled) / sizeof(handled[0]))

static void handled_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < NHANDLED; i++)
        sigaddset(set, handled[i]);
}

int srv_signals_open(void)
{
    sigset_t set;
    handled_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int srv_signals_next(int fd)
{
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof(si));
    return n == (ssize_t)sizeof(si) ? (int)si.ssi_signo : 0;
}

void srv_signals_reset(void)
{
    for (size_t i = 0; i < NHANDLED; i++)
        signal(handled[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

const char *srv_signal_name(int sig)
{
    static __thread char name[24];
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(name, sizeof(name), "SIG%s", abbrev);
    else
        snprintf(name, sizeof(name), "signal %d", sig);
    return name;
}
