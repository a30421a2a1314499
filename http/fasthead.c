/*
 * fasthead.c -- the common request head read without llhttp.
 *
 * Most requests are a GET or HEAD with a plain path and a few ordinary
 * headers; running them through llhttp's state machine and its dozen
 * callbacks cost more than the rest of the server's work on a keep-alive
 * request. So a head is first scanned here against a strict subset of
 * what llhttp (strict mode) and the checks in parse.c accept:
 *
 *   - the method one of GET HEAD POST PUT DELETE OPTIONS PATCH, one SP;
 *   - an origin-form target of RFC 3986 path and query characters
 *     (unreserved, sub-delims, ":@/?%"), one SP, then HTTP/1.0 or 1.1;
 *   - header names of token characters followed straight by ':', values
 *     of visible ASCII, SP and HTAB, every line ending in CRLF, no
 *     obs-fold;
 *   - no header llhttp gives meaning to (Content-Length, Transfer-Encoding,
 *     Upgrade, Proxy-Connection), and Connection only as exactly "close"
 *     or "keep-alive": no body, no framing to decode;
 *   - within the limits (request-target, header count, 64 KiB).
 *
 * Such a head means the same to both: the scanner fills the request as
 * llhttp's callbacks would, and the whole message is the head. Anything
 * else -- an incomplete head too -- is left to llhttp from its first
 * byte, so what is refused, and how, is llhttp's and parse.c's alone.
 * tests/http/test_fasthead.c checks both readings agree.
 */
#include "http/fasthead.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* RFC 9110 token characters (GNU range designators). */
const bool http_tchar[256] = {
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true, ['!'] = true,  ['#'] = true,
    ['$'] = true,         ['%'] = true,         ['&'] = true,         ['\''] = true, ['*'] = true,
    ['+'] = true,         ['-'] = true,         ['.'] = true,         ['^'] = true,  ['_'] = true,
    ['`'] = true,         ['|'] = true,         ['~'] = true,
};

/* Path and query characters: unreserved, sub-delims, ':', '@', '/', '?',
 * and '%' (decoding, and refusing what decodes badly, is routing's). */
static const bool target_char[256] = {
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true, ['-'] = true, ['.'] = true,
    ['_'] = true,         ['~'] = true,         ['!'] = true,         ['$'] = true, ['&'] = true,
    ['\''] = true,        ['('] = true,         [')'] = true,         ['*'] = true, ['+'] = true,
    [','] = true,         [';'] = true,         ['='] = true,         [':'] = true, ['@'] = true,
    ['/'] = true,         ['?'] = true,         ['%'] = true,
};

/* Header value characters: visible ASCII, SP and HTAB. */
static const bool value_char[256] = {[' ' ... '~'] = true, ['\t'] = true};

/* The first byte at or after p that is not a value character. Values are
 * most of a head's bytes: 16 at a time where SSE2 is, HTAB (rare) and the
 * last few bytes one by one. */
static const char *value_end(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(' '), del = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* Signed: bytes from 0x80 on are negative, below SP too. */
        __m128i bad = _mm_or_si128(_mm_cmpgt_epi8(sp, v), _mm_cmpeq_epi8(v, del));
        unsigned mask = (unsigned)_mm_movemask_epi8(bad);
        if (!mask) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(mask);
        if (*p != '\t')
            return p;
        p++;
    }
#endif
    while (p < end && value_char[(unsigned char)*p])
        p++;
    return p;
}

/* The method at *p and its SP, as llhttp numbers it; -1 for any other. */
static int method(const char **p, const char *end)
{
    static const struct {
        char name[9];
        unsigned char len;
        unsigned char id;
    } known[] = {
        {"GET ", 4, HTTP_GET},     {"HEAD ", 5, HTTP_HEAD},     {"POST ", 5, HTTP_POST},
        {"PUT ", 4, HTTP_PUT},     {"DELETE ", 7, HTTP_DELETE}, {"OPTIONS ", 8, HTTP_OPTIONS},
        {"PATCH ", 6, HTTP_PATCH},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        size_t n = known[i].len;
        if ((size_t)(end - *p) > n && memcmp(*p, known[i].name, n) == 0) {
            *p += n;
            return known[i].id;
        }
    }
    return -1;
}

/* Connection's meaning to llhttp, as flags, from its raw value (after the
 * colon, CR excluded); -1 when only llhttp can tell: a list, "upgrade",
 * any other token, or HTAB around one (llhttp takes "close\t" for another
 * token). */
static int connection_flags(const char *v, size_t n)
{
    while (n > 0 && *v == ' ')
        v++, n--;
    while (n > 0 && v[n - 1] == ' ')
        n--;
    if (n == 5 && http_name_eq(v, "close", 5))
        return F_CONNECTION_CLOSE;
    if (n == 10 && http_name_eq(v, "keep-alive", 10))
        return F_CONNECTION_KEEP_ALIVE;
    return -1;
}

enum { PLAIN, CONNECTION, HOST, EXPECT, LLHTTPS = -1 };

/* What a name is to us: Connection, Host and Expect are read here; the
 * other names llhttp gives meaning to are LLHTTPS (not ours to read). */
static int special(const char *name, size_t n)
{
    switch (n) {
    case 4:
        return http_name_eq(name, "host", 4) ? HOST : PLAIN;
    case 6:
        return http_name_eq(name, "expect", 6) ? EXPECT : PLAIN;
    case 7:
        return http_name_eq(name, "upgrade", 7) ? LLHTTPS : PLAIN;
    case 10:
        return http_name_eq(name, "connection", 10) ? CONNECTION : PLAIN;
    case 14:
        return http_name_eq(name, "content-length", 14) ? LLHTTPS : PLAIN;
    case 16:
        return http_name_eq(name, "proxy-connection", 16) ? LLHTTPS : PLAIN;
    case 17:
        return http_name_eq(name, "transfer-encoding", 17) ? LLHTTPS : PLAIN;
    }
    return PLAIN;
}

int http_fast_head(http_conn *c, http_scan *scan)
{
    gs_request *r = &c->req;
    const char *base = c->in + c->req_start, *p = base, *end = c->in + c->in_len;
    if (end - base >= HTTP_HEAD_MAX) /* offsets are 16 bits */
        end = base + HTTP_HEAD_MAX - 1;
    int m = method(&p, end);
    if (m < 0 || *p != '/')
        return 0;
    const char *url = p;
    while (p < end && target_char[(unsigned char)*p])
        p++;
    size_t url_len = (size_t)(p - url);
    if (url_len > c->lim->max_uri || end - p < 11 || memcmp(p, " HTTP/1.", 8) != 0 ||
        (p[8] != '0' && p[8] != '1') || p[9] != '\r' || p[10] != '\n')
        return 0;
    int minor = p[8] - '0';
    p += 11;

    unsigned n = 0, hosts = 0, expect = 0;
    int flags = 0;
    for (;;) {
        if (end - p < 2)
            return 0;
        if (p[0] == '\r') {
            if (p[1] != '\n')
                return 0;
            p += 2;
            break;
        }
        const char *name = p;
        while (p < end && http_tchar[(unsigned char)*p])
            p++;
        size_t name_len = (size_t)(p - name);
        if (name_len == 0 || p == end || *p != ':')
            return 0;
        const char *raw = ++p;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        p = value_end(p, end);
        size_t value_len = (size_t)(p - value);
        /* The line's CRLF, and no obs-fold after it. */
        if (end - p < 3 || p[0] != '\r' || p[1] != '\n' || p[2] == ' ' || p[2] == '\t')
            return 0;
        p += 2;
        int kind = special(name, name_len);
        if (kind == LLHTTPS)
            return 0;
        if (kind == CONNECTION) {
            int f = connection_flags(raw, (size_t)(p - 2 - raw));
            if (f < 0)
                return 0;
            flags |= f;
        }
        if (n >= c->lim->max_headers || n >= r->hcap)
            return 0;
        hosts += kind == HOST;
        if (kind == EXPECT && !expect)
            expect = n + 1;
        while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
            value_len--;
        if (value_len == 0)
            value = raw; /* where parse.c puts an empty value */
        r->hdrs[n++] = (http_hdr){
            .name = (uint16_t)(name - base),
            .name_len = (uint16_t)name_len,
            .value = (uint16_t)(value - base),
            .value_len = (uint16_t)value_len,
        };
    }
    if ((size_t)(p - base) > c->lim->max_header_bytes)
        return 0;

    r->url = (uint32_t)(url - base);
    r->url_len = (uint32_t)url_len;
    r->got_url = true;
    r->nhdrs = n;
    r->head_done = true;
    r->major = 1;
    r->minor = (uint8_t)minor;
    r->method = (uint8_t)m;
    r->head_method = m == HTTP_HEAD;
    r->keep_alive = minor ? !(flags & F_CONNECTION_CLOSE) : (flags & F_CONNECTION_KEEP_ALIVE) != 0;
    r->body_done = true; /* no framing header: the message ends here */
    c->pos = (size_t)(p - c->in);
    scan->hosts = hosts;
    scan->expect = expect ? &r->hdrs[expect - 1] : NULL;
    return 1;
}
