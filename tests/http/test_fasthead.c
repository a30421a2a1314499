/* http/fasthead: a head the scanner reads means exactly what it means to
 * llhttp and parse.c's checks. Each head is parsed twice: whole (the
 * scanner gets the first try) and with its first byte fed alone (llhttp
 * has then started it, so it reads all of it), and both readings must
 * agree: status, reason, request line, every header, keep-alive, framing,
 * where the next request starts. Typical heads, heads the scanner must
 * leave to llhttp, and ~300,000 random mutations of them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reading.h"

static bool agree(const char *buf, size_t n, reading *whole)
{
    reading split;
    parse(buf, n, false, whole);
    parse(buf, n, true, &split);
    bool same = whole->status == split.status && strcmp(whole->text, split.text) == 0;
    if (!same)
        cr_log_error("readings differ for %zu bytes [%.*s]:\n  whole: %d %s\n  split: %d %s", n,
                     (int)n, buf, whole->status, whole->text, split.status, split.text);
    return same;
}

#define H "Host: example.com\r\n"

/* Heads the scanner reads: each must be read right, and not by llhttp. */
static const char *const typical[] = {
    "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
    "GET /index.html HTTP/1.1\r\n" H "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    "HEAD /a/b/c?x=1&y=%20z HTTP/1.1\r\n" H "\r\n",
    "GET /~user/p;param=a,b@c:d!$'()*+=.-_ HTTP/1.1\r\n" H "\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "Connection: close\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "Connection: CLOSE  \r\n\r\n",
    "GET / HTTP/1.1\r\n" H "Connection: keep-alive\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "X-Empty:\r\nX-Blank:   \t\r\nX-Trail: v  \r\n\r\n",
    "GET / HTTP/1.1\r\n" H "X-Tab:\tv\tw\t\r\nX-Ws:  a b  \r\n\r\n",
    "POST /form HTTP/1.1\r\n" H "\r\n",
    "DELETE /item/7 HTTP/1.1\r\n" H "\r\n",
    "OPTIONS /x HTTP/1.1\r\n" H "\r\n",
    "PUT /x HTTP/1.1\r\n" H "\r\n",
    "PATCH /x HTTP/1.1\r\n" H "\r\n",
    "GET / HTTP/1.1\r\n" H "Expect: 100-continue\r\n\r\n",
    "GET /chat/poll?since=42 HTTP/1.1\r\n" H
    "Accept: text/event-stream\r\nCache-Control: no-cache\r\nCookie: a=b; c=d\r\n"
    "Accept-Language: en-US,en;q=0.9\r\nReferer: http://example.com/chat\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "\r\nGET /next HTTP/1.1\r\n" H "\r\n", /* pipelined */
    "GET /a%00b HTTP/1.1\r\n" H "\r\n", /* well formed: routing refuses it */
};

/* Heads the scanner must leave to llhttp (still read alike, if valid). */
static const char *const others[] = {
    "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\nabc",
    "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "Connection: keep-alive, close\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "Connection: close\t\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "Connection:\tclose\r\n\r\n",
    "GET / HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n",
    "GET http://example.com/ HTTP/1.1\r\n" H "\r\n", "OPTIONS * HTTP/1.1\r\n" H "\r\n",
    "CONNECT example.com:443 HTTP/1.1\r\n" H "\r\n", "GET /a\"b HTTP/1.1\r\n" H "\r\n",
    "GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n", "GET / HTTP/1.1\r\n" H "X-Obs: \xe9t\xe9\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "X-Fold: a\r\n b\r\n\r\n", "GET / HTTP/1.1\n" H "\r\n",
    "GET / HTTP/1.1\r\n" H "\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "GET / HTTP/1.1\r\n: x\r\n" H "\r\n", "GET / HTTP/2.0\r\n" H "\r\n", "GET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\n" H H "\r\n", "GET / HTTP/1.1\r\n" H "Expect: nothing\r\n\r\n",
    "GET  / HTTP/1.1\r\n" H "\r\n",
    /* Control bytes next to SP, where the 16-byte value scan looks. */
    "GET / HTTP/1.1\r\n" H "X-Us:\x1fvalue\r\nX-Next: 0123456789abcdef\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "X-Us: a\x1f\r\nX-Next: 0123456789abcdef\r\n\r\n",
    "GET / HTTP/1.1\r\n" H "X-Del: 0123456789\x7f\r\nX-Next: 0123456789abcdef\r\n\r\n",
    "GET / HTTP/1.1\r\n" H, /* incomplete */
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(fasthead, typical_heads_are_read_by_the_scanner_alike)
{
    for (size_t i = 0; i < N(typical); i++) {
        reading w;
        cr_assert(agree(typical[i], strlen(typical[i]), &w), "head %zu", i);
        cr_assert_eq(w.status, 1, "head %zu: %s", i, w.text);
        cr_assert(!w.llhttp_used, "head %zu went to llhttp: %s", i, typical[i]);
    }
}

Test(fasthead, other_heads_go_to_llhttp_alike)
{
    for (size_t i = 0; i < N(others); i++) {
        reading w;
        cr_assert(agree(others[i], strlen(others[i]), &w), "head %zu", i);
        cr_assert(w.llhttp_used || w.status != 1, "head %zu was read by the scanner: %s", i,
                  others[i]);
    }
}

/* Bytes that move a scanner's decisions. */
static const char alphabet[] = "\r\n \t:/?%#,;=\"\\\x00\x01\x1f\x7f\x80\xff"
                               "aAzZ09-_.~HTP";

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned next(unsigned bound)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % bound);
}

static size_t mutate(char *buf, size_t n, size_t cap)
{
    for (int ops = 1 + (int)next(3); ops > 0; ops--) {
        char ch = alphabet[next(sizeof(alphabet) - 1)];
        size_t at = next((unsigned)n + 1);
        switch (next(3)) {
        case 0: /* replace */
            if (at < n)
                buf[at] = ch;
            break;
        case 1: /* insert */
            if (n < cap) {
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = ch;
                n++;
            }
            break;
        default: /* delete */
            if (at < n) {
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
            }
        }
    }
    return n;
}

Test(fasthead, mutated_heads_are_read_alike, .timeout = 60)
{
    char buf[1024];
    unsigned scanned = 0, total = 0;
    for (int round = 0; round < 5000; round++) {
        for (size_t i = 0; i < N(typical) + N(others); i++) {
            const char *seed = i < N(typical) ? typical[i] : others[i - N(typical)];
            size_t n = strlen(seed);
            memcpy(buf, seed, n);
            n = mutate(buf, n, sizeof(buf));
            reading w;
            cr_assert(agree(buf, n, &w));
            scanned += w.status == 1 && !w.llhttp_used;
            total++;
        }
    }
    /* The mutations must keep the scanner busy, or they test nothing. */
    cr_assert_gt(scanned, total / 10, "only %u of %u mutated heads were scanned", scanned, total);
}
