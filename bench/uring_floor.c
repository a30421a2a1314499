/*
 * uring_floor.c -- http_floor.c's keep-alive "Hello, World!" on io_uring
 * instead of epoll: does batching the system calls of many connections
 * lower what the kernel takes per request here?
 *
 * One ring (single issuer, deferred task work). Each connection has one
 * multishot recv that stays armed, filling buffers from a provided-buffer
 * ring; every request head found is answered with a send queued behind
 * it (no completion unless it fails). One io_uring_enter per loop submits
 * all the sends of the batch and waits for the next completions: no
 * epoll_wait, no recv or send call per request. Run beside http_floor by
 * bench/bench-http.sh (keepalive).
 *
 *   uring_floor PORT
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor.h"

#define RING_ENTRIES 4096
#define NBUFS        4096 /* provided receive buffers (a power of 2) */
#define BUF_SIZE     2048
#define MAX_FD       65536

#define TAG_ACCEPT 1ull /* user_data: 1 = accept, fd << 1 = recv, fd << 1 | 1 = send */

static struct io_uring ring;
static struct io_uring_buf_ring *bufring;
static char (*bufs)[BUF_SIZE];
static unsigned char tail[MAX_FD]; /* how much of "\r\n\r\n" a read ended with */

static void die(const char *what, int err)
{
    fprintf(stderr, "uring_floor: %s: %s\n", what, strerror(err));
    exit(1);
}

static struct io_uring_sqe *sqe(void)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

static void arm_recv(int fd)
{
    struct io_uring_sqe *s = sqe();
    io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = 0;
    io_uring_sqe_set_data64(s, (uint64_t)fd << 1);
}

static void arm_accept(int lfd)
{
    struct io_uring_sqe *s = sqe();
    io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(s, TAG_ACCEPT);
}

static void give_back(int bid)
{
    io_uring_buf_ring_add(bufring, bufs[bid], BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(NBUFS), 0);
    io_uring_buf_ring_advance(bufring, 1);
}

static void on_data(int fd, const char *p, int n)
{
    for (int k = floor_heads(&tail[fd], p, (size_t)n); k > 0; k--) {
        struct io_uring_sqe *s = sqe();
        io_uring_prep_send(s, fd, floor_answer, sizeof(floor_answer) - 1, MSG_NOSIGNAL);
        s->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(s, (uint64_t)fd << 1 | 1);
    }
}

static void setup_buffers(void)
{
    bufs = malloc((size_t)NBUFS * BUF_SIZE);
    bufring = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (!bufs || bufring == MAP_FAILED)
        die("buffers", ENOMEM);
    io_uring_buf_ring_init(bufring);
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)bufring, .ring_entries = NBUFS, .bgid = 0};
    int e = io_uring_register_buf_ring(&ring, &reg, 0);
    if (e)
        die("io_uring_register_buf_ring", -e);
    for (int i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(bufring, bufs[i], BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(NBUFS), i);
    io_uring_buf_ring_advance(bufring, NBUFS);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return fprintf(stderr, "usage: uring_floor PORT\n"), 2;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0)
        die("listen", errno);
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    int e = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    if (e < 0)
        die("io_uring_queue_init", -e);
    setup_buffers();
    arm_accept(lfd);
    for (;;) {
        e = io_uring_submit_and_wait(&ring, 1);
        if (e < 0 && e != -EINTR)
            die("io_uring_submit_and_wait", -e);
        struct io_uring_cqe *c;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, c)
        {
            seen++;
            uint64_t tag = c->user_data;
            bool more = c->flags & IORING_CQE_F_MORE;
            if (tag == TAG_ACCEPT) {
                if (c->res >= 0 && c->res < MAX_FD) {
                    setsockopt(c->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    tail[c->res] = 0;
                    arm_recv(c->res);
                }
                if (!more)
                    arm_accept(lfd);
                continue;
            }
            int fd = (int)(tag >> 1);
            if (tag & 1)
                continue; /* a failed send: the recv sees the end */
            if (c->flags & IORING_CQE_F_BUFFER) {
                int bid = (int)(c->flags >> IORING_CQE_BUFFER_SHIFT);
                if (c->res > 0)
                    on_data(fd, bufs[bid], c->res);
                give_back(bid);
            }
            if (c->res <= 0 && c->res != -ENOBUFS) {
                close(fd);
                continue;
            }
            if (!more)
                arm_recv(fd);
        }
        io_uring_cq_advance(&ring, seen);
    }
}
