/*
 * floor.h -- what http_floor.c and uring_floor.c share: greenserve's
 * hello.so answer, byte for byte in length, and the request-head counter.
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <stddef.h>

static const char floor_answer[] = "HTTP/1.1 200 OK\r\n"
                                   "Server: greenserve\r\n"
                                   "Date: Mon, 23 Nov 2026 04:40:20 GMT\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Length: 13\r\n"
                                   "\r\n"
                                   "Hello, World!";

/* How many request heads ("\r\n\r\n") end in p[0, n); *tail carries how
 * much of one the bytes before ended with. */
static inline int floor_heads(unsigned char *tail, const char *p, size_t n)
{
    static const char end[] = "\r\n\r\n";
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == end[*tail])
            ++*tail;
        else
            *tail = p[i] == '\r';
        if (*tail == 4) {
            k++;
            *tail = 0;
        }
    }
    return k;
}

#endif
