/* Fair spread with the real executable: 800 long-poll clients connecting
 * at once to 4 workers sharing one listening socket (the default) end up
 * between 15% and 35% on each worker, counted by the sockets each worker
 * process holds. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/client.h"
#include "support/drip.h"
#include "support/gclient.h"
#include "support/server.h"

#define WORKERS 4
#define CLIENTS 800

static ts_server srv;
static char out[1 << 18];

static void stop_server(void)
{
    ts_stop(&srv, 5000);
}

static void room_for_descriptors(void)
{
    tg_raise_nofile();
}

TestSuite(fairness, .init = room_for_descriptors, .fini = stop_server, .timeout = 30);

/* The master's children (its workers), up to max. */
static size_t workers_of(pid_t master, pid_t *pids, size_t max)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && n < max && (e = readdir(d));) {
        char path[64], stat[512];
        int pid = atoi(e->d_name);
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (ts_read_file(path, stat, sizeof(stat)) == 0)
            continue;
        const char *rp = strrchr(stat, ')'); /* the name may hold spaces */
        int ppid = 0;
        if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == master)
            pids[n++] = pid;
    }
    if (d)
        closedir(d);
    return n;
}

static unsigned sockets_of(pid_t pid)
{
    char path[64], link[64];
    unsigned n = 0;
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        char fd[340];
        snprintf(fd, sizeof(fd), "%s/%s", path, e->d_name);
        ssize_t k = readlink(fd, link, sizeof(link) - 1);
        n += k > 7 && strncmp(link, "socket:", 7) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

Test(fairness, connections_spread_evenly_over_workers_by_default)
{
    const char *args[] = {"--workers", "4", "/lp={build}/tests/plugins/longpoll.so", NULL};
    cr_assert_eq(ts_start(&srv, args), 0, "greenserve did not start:\n%s",
                 (ts_read_file(srv.error_log, out, sizeof(out)), out));
    cr_assert(ts_log_wait_count(&srv, srv.error_log, 0, " ready (generation", WORKERS, 5000));
    pid_t pids[WORKERS + 1];
    cr_assert_eq(workers_of(srv.pid, pids, WORKERS + 1), WORKERS);
    unsigned base[WORKERS], held[WORKERS], total = 0;
    for (int i = 0; i < WORKERS; i++)
        base[i] = sockets_of(pids[i]);

    ts_drip *d =
        ts_drip_start(srv.port, CLIENTS, "GET /lp?60000 HTTP/1.1\r\nHost: t\r\n\r\n", NULL, 200);
    cr_assert_not_null(d);
    for (int64_t end = ts_now_ms() + 10000; total < CLIENTS && ts_now_ms() < end;
         usleep(50 * 1000)) {
        total = 0;
        for (int i = 0; i < WORKERS; i++)
            total += held[i] = sockets_of(pids[i]) - base[i];
    }
    ts_drip_result r = ts_drip_stop(d);
    cr_assert_eq(r.clients, CLIENTS);
    cr_assert_eq(total, CLIENTS, "the workers hold %u of %u connections", total, CLIENTS);
    for (int i = 0; i < WORKERS; i++)
        cr_assert(held[i] >= CLIENTS * 15 / 100 && held[i] <= CLIENTS * 35 / 100,
                  "worker %d holds %u of %u: %u %u %u %u", (int)pids[i], held[i], CLIENTS, held[0],
                  held[1], held[2], held[3]);
}
