/*
 * chat.c -- chat rooms for browsers, over the channels: long-poll and
 * Server-Sent Events, and the page that uses them (apps/chat.html,
 * compiled in).
 *
 *     greenserve /chat=build/apps/chat.so
 *     open http://127.0.0.1:8080/chat/           (?transport=poll: long-poll only)
 *     curl -N 'http://127.0.0.1:8080/chat/events?room=lobby'
 *     curl --data-binary 'hi there' 'http://127.0.0.1:8080/chat/send?room=lobby'
 *
 *   POST /send?room=R         publish the body as it is (UTF-8 or not);
 *                             answers {"id":N}; 413 past max_message.
 *   GET  /poll?room=R&after=ID&timeout=S
 *                             the messages after ID, waiting up to S seconds
 *                             (default 30) for one: {"messages":[{"id":N,
 *                             "data":"..."}],"last":N}, plus "dropped":true
 *                             when some after ID are gone (resync). Come
 *                             back with after=last.
 *   GET  /events?room=R       text/event-stream, one event per message
 *                             (id: and data: lines), from Last-Event-ID or
 *                             ?after=ID; a comment line every `heartbeat`
 *                             ms of silence.
 *   GET  /stats               this worker's counters, JSON.
 *
 * Without after / Last-Event-ID a client first gets what the room still
 * holds (the channel's history). ARGS, comma-separated NAME=VALUE (times
 * in ms, sizes in bytes):
 *   heartbeat=15000    idle time before a stream gets a ": heartbeat" line
 *   queue=262144       message bytes a room may receive while one of its
 *                      streams is stuck writing; past that the stream is
 *                      cut (and logged), and its client reconnects from
 *                      its last id
 *   max_message=65536  bigger sends are refused with 413
 *   max_timeout=60000  cap of ?timeout
 *   retry=1000         reconnect delay told to EventSource (retry:)
 *   history=N          messages a room keeps (gs_chan_limits, which
 *                      bounds every channel of the worker; the runtime's
 *                      default is 1024)
 *
 * A message is stored once by the channel and every waiter gets a
 * reference to it; a stream copies it only into its socket write. A
 * worker that retires while others stay (reload, recycle) hands its
 * waiting streams and long-polls to them (GS_APP_HANDOFF: a stream's
 * cursor is the last id it wrote); one that stops ends its streams with a
 * retry: hint and answers its long-polls at once.
 */
#include <greenserve.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* apps/chat.html as `static const char chat_html[]`, made by the build. */
#include "chat_html.h"

#define CHAN_PREFIX  "chat:"
#define MAX_ROOM     200 /* bytes of a room's name; a channel name takes 255 */
#define DEFAULT_ROOM "lobby"
#define POLL_DEFAULT 30000
#define STAGE_BYTES  16384 /* a stream's batch goes out in writes this large */
#define BUCKETS_MIN  16

typedef struct settings {
    int64_t heartbeat_ms, max_timeout_ms, retry_ms;
    size_t queue, max_message, history;
} settings;

typedef struct stream stream;

/* A room some stream of this worker is on: the bytes it has received,
 * and its streams parked in a write, which a new message may cut. */
typedef struct room {
    struct room *next; /* hash chain */
    unsigned streams;  /* the room lives while it has some */
    uint64_t newest;   /* the newest id this worker's app has seen */
    uint64_t total;    /* payload bytes up to it */
    stream *writers;
    char chan[];
} room;

/* An event stream, on its handler's stack. */
struct stream {
    gs_request *r;
    gs_thread *thread;
    room *room;
    uint64_t sent; /* the last id written whole */
    uint64_t mark; /* room->total when it collected what it writes */
    stream *prev, *next;
    bool writing, cut;
};

/* Per worker (init runs after fork); every handler runs on its hub. */
typedef struct chat {
    settings cfg;
    room **buckets;
    size_t nbuckets, nrooms;
    unsigned polls, streams, writers;
    unsigned long cuts;
} chat;

/* ---- settings ---- */

static const struct {
    const char *name;
    size_t offset;
    bool ms;
} knobs[] = {
    {"heartbeat", offsetof(settings, heartbeat_ms), true},
    {"max_timeout", offsetof(settings, max_timeout_ms), true},
    {"retry", offsetof(settings, retry_ms), true},
    {"queue", offsetof(settings, queue), false},
    {"max_message", offsetof(settings, max_message), false},
    {"history", offsetof(settings, history), false},
};

/* One NAME=VALUE of n bytes. */
static int set_knob(settings *s, const char *p, size_t n)
{
    const char *eq = memchr(p, '=', n);
    for (size_t i = 0; eq && i < sizeof(knobs) / sizeof(knobs[0]); i++) {
        if (strlen(knobs[i].name) != (size_t)(eq - p) || memcmp(p, knobs[i].name, eq - p) != 0)
            continue;
        char *end;
        unsigned long long v = strtoull(eq + 1, &end, 10);
        if (end != p + n || end == eq + 1 || v == 0 || v > INT64_MAX)
            break;
        if (knobs[i].ms)
            *(int64_t *)((char *)s + knobs[i].offset) = (int64_t)v;
        else
            *(size_t *)((char *)s + knobs[i].offset) = (size_t)v;
        return 0;
    }
    gs_log(NULL,
           "chat: bad mount argument \"%.*s\" (want heartbeat, queue, max_message, "
           "max_timeout, retry or history = a positive number)",
           (int)n, p);
    return -EINVAL;
}

static int init(const char *args, void **state)
{
    chat *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->cfg = (settings){.heartbeat_ms = 15000,
                        .max_timeout_ms = 60000,
                        .retry_ms = 1000,
                        .queue = 256 * 1024,
                        .max_message = 64 * 1024};
    for (const char *p = args; *p;) {
        size_t n = strcspn(p, ",");
        if (n && set_knob(&c->cfg, p, n) < 0) {
            free(c);
            return -EINVAL;
        }
        p += n + (p[n] == ',');
    }
    /* The runtime's age and byte bounds, with our count. */
    if (c->cfg.history)
        gs_chan_limits(c->cfg.history, 5 * 60 * 1000, 1024 * 1024);
    *state = c;
    return 0;
}

static void fini(void *state)
{
    chat *c = state;
    free(c->buckets); /* empty: every stream has left its room */
    free(c);
}

/* ---- the request: query parameters, small answers ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decode n bytes ('+' is a space) into dst, which has room for
 * cap bytes with the NUL. False if it does not fit or holds a NUL. */
static bool url_decode(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++, o++) {
        int hi, lo;
        if (o + 1 >= cap)
            return false;
        dst[o] = s[i] == '+' ? ' ' : s[i];
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            dst[o] = (char)(hi << 4 | lo);
            i += 2;
        }
        if (dst[o] == '\0')
            return false;
    }
    dst[o] = '\0';
    return true;
}

/* The query parameter `name`, decoded into buf; NULL when absent, and ""
 * when it does not decode into cap bytes (no such room, no such id). */
static const char *param(gs_request *r, const char *name, char *buf, size_t cap)
{
    const char *q = gs_env(r, "QUERY_STRING");
    size_t len = strlen(name);
    for (const char *p = q ? q : ""; *p;) {
        size_t n = strcspn(p, "&");
        if (n > len && p[len] == '=' && memcmp(p, name, len) == 0) {
            if (!url_decode(buf, cap, p + len + 1, n - len - 1))
                buf[0] = '\0';
            return buf;
        }
        p += n + (p[n] == '&');
    }
    return NULL;
}

static bool is_head(gs_request *r)
{
    return strcmp(gs_env(r, "REQUEST_METHOD"), "HEAD") == 0;
}

/* A whole answer with a Content-Length: one write, kept alive. */
static int answer(gs_request *r, int status, const char *type, const char *body, size_t n)
{
    char len[24];
    snprintf(len, sizeof(len), "%zu", n);
    const char *const headers[] = {"Content-Type", type, "Content-Length", len, "Cache-Control",
                                   "no-store",     NULL};
    gs_start_response(r, status, headers);
    ssize_t w = gs_write(r, body, n);
    return w < 0 ? (int)w : 0;
}

static int answer_text(gs_request *r, int status, const char *text)
{
    return answer(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* The channel of ?room= ("chat:lobby" by default) into chan; false (and
 * a 400 sent) for a name that is empty, too long or has control bytes. */
static bool room_param(gs_request *r, char chan[sizeof(CHAN_PREFIX) + MAX_ROOM])
{
    char name[MAX_ROOM + 1];
    const char *v = param(r, "room", name, sizeof(name));
    if (!v)
        v = DEFAULT_ROOM;
    bool ok = *v != '\0';
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        ok = ok && *p >= 0x20 && *p != 0x7f;
    memcpy(chan, CHAN_PREFIX, sizeof(CHAN_PREFIX) - 1);
    if (ok)
        memcpy(chan + sizeof(CHAN_PREFIX) - 1, v, strlen(v) + 1);
    else
        answer_text(r, 400, "room: 1 to 200 bytes, no control characters\n");
    return ok;
}

/* A message id in decimal; false for anything else. */
static bool parse_id(const char *s, uint64_t *id)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return false;
    *id = v;
    return true;
}

/* v in decimal at dst (room for 20 digits); the end. Once per event per
 * stream: cheaper than snprintf. */
static char *put_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    while (n > 0)
        *dst++ = tmp[--n];
    return dst;
}

/* ---- JSON strings ---- */

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 if it is
 * not one: overlong forms, surrogates and code points past U+10FFFF are
 * refused, as JSON parsers would refuse or mangle them. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80   ? 1
                 : s[0] < 0xc2 ? 0 /* a continuation byte, or overlong */
                 : s[0] < 0xe0 ? 2
                 : s[0] < 0xf0 ? 3
                 : s[0] < 0xf5 ? 4
                               : 0;
    if (len <= 1)
        return len;
    if (n < len)
        return 0;
    uint32_t cp = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static void emit(char *dst, size_t *o, const char *p, size_t n)
{
    if (dst)
        memcpy(dst + *o, p, n);
    *o += n;
}

/* Escape n bytes as the inside of a JSON string into dst (at most 6n
 * bytes), or only count them when dst is NULL. Quotes, backslashes and
 * control characters are escaped; a byte that is not valid UTF-8 becomes
 * U+FFFD, so the answer always parses. Returns the length. */
static size_t json_escape(char *dst, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    static const char *const named[0x20] = {
        ['\b'] = "\\b", ['\t'] = "\\t", ['\n'] = "\\n", ['\f'] = "\\f", ['\r'] = "\\r"};
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char ch = s[i];
        size_t k = utf8_len(s + i, n - i);
        if (k == 0) {
            emit(dst, &o, "\\ufffd", 6);
            k = 1;
        } else if (ch == '"' || ch == '\\') {
            emit(dst, &o, ch == '"' ? "\\\"" : "\\\\", 2);
        } else if (ch < 0x20 && named[ch]) {
            emit(dst, &o, named[ch], 2);
        } else if (ch < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            emit(dst, &o, u, 6);
        } else {
            emit(dst, &o, (const char *)s + i, k);
        }
        i += k;
    }
    return o;
}

/* {"messages":[...],"last":N[,"dropped":true]} into dst, or its length. */
static size_t poll_json(char *dst, const gs_chan_batch *b)
{
    char num[48];
    size_t o = 0;
    emit(dst, &o, "{\"messages\":[", 13);
    for (size_t i = 0; i < b->count; i++) {
        int n = snprintf(num, sizeof(num), "%s{\"id\":%llu,\"data\":\"", i ? "," : "",
                         (unsigned long long)b->msgs[i]->id);
        emit(dst, &o, num, (size_t)n);
        o += json_escape(dst ? dst + o : NULL, b->msgs[i]->data, b->msgs[i]->len);
        emit(dst, &o, "\"}", 2);
    }
    int n = snprintf(num, sizeof(num), "],\"last\":%llu%s}\n", (unsigned long long)b->next,
                     b->dropped ? ",\"dropped\":true" : "");
    emit(dst, &o, num, (size_t)n);
    return o;
}

/* ---- the page ---- */

static int page(gs_request *r, chat *c)
{
    (void)c;
    return answer(r, 200, "text/html; charset=utf-8", chat_html, sizeof(chat_html) - 1);
}

/* "/chat" -> "/chat/": the page's relative URLs need the slash. */
static int to_slash(gs_request *r)
{
    const char *q = gs_env(r, "QUERY_STRING");
    char *where = gs_alloc(r, strlen(gs_env(r, "SCRIPT_NAME")) + strlen(q ? q : "") + 3);
    if (!where)
        return -ENOMEM;
    sprintf(where, "%s/%s%s", gs_env(r, "SCRIPT_NAME"), q && *q ? "?" : "", q ? q : "");
    const char *const headers[] = {"Location", where, "Content-Length", "0", NULL};
    gs_start_response(r, 301, headers);
    return 0;
}

/* ---- rooms with streams, and cutting the stalled ones ---- */

static size_t room_hash(const char *s)
{
    size_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static room **room_slot(chat *c, const char *chan)
{
    room **p = &c->buckets[room_hash(chan) & (c->nbuckets - 1)];
    while (*p && strcmp((*p)->chan, chan) != 0)
        p = &(*p)->next;
    return p;
}

static room *room_find(chat *c, const char *chan)
{
    return c->nbuckets ? *room_slot(c, chan) : NULL;
}

/* Rehash into nb buckets; on failure the table keeps its size. */
static void rooms_resize(chat *c, size_t nb)
{
    room **old = c->buckets;
    size_t onb = c->nbuckets;
    room **fresh = calloc(nb, sizeof(*fresh));
    if (!fresh)
        return;
    c->buckets = fresh;
    c->nbuckets = nb;
    for (size_t i = 0; i < onb; i++) {
        for (room *m = old[i], *next; m; m = next) {
            next = m->next;
            room **p = room_slot(c, m->chan);
            m->next = *p;
            *p = m;
        }
    }
    free(old);
}

static room *room_join(chat *c, const char *chan)
{
    if (c->nrooms >= c->nbuckets)
        rooms_resize(c, c->nbuckets ? c->nbuckets * 2 : BUCKETS_MIN);
    if (!c->nbuckets)
        return NULL;
    room **p = room_slot(c, chan);
    if (!*p) {
        if (!(*p = calloc(1, sizeof(room) + strlen(chan) + 1)))
            return NULL;
        strcpy((*p)->chan, chan);
        c->nrooms++;
    }
    (*p)->streams++;
    return *p;
}

static void room_leave(chat *c, room *m)
{
    if (--m->streams > 0)
        return;
    room **p = room_slot(c, m->chan);
    *p = m->next;
    free(m);
    if (--c->nrooms == 0) {
        free(c->buckets);
        c->buckets = NULL;
        c->nbuckets = 0;
    }
}

static void writer_unlink(chat *c, stream *s)
{
    if (!s->writing)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->room->writers = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->writing = false;
    c->writers--;
}

static void writer_link(chat *c, stream *s)
{
    s->prev = NULL;
    s->next = s->room->writers;
    if (s->next)
        s->next->prev = s;
    s->room->writers = s;
    s->writing = true;
    c->writers++;
}

/* The room received bytes: a stream still stuck in a write since before
 * more than `queue` of them came in cannot keep up. It is killed (its
 * write returns -ECANCELED; it logs) rather than left to pin the messages
 * and the socket buffers of everything it has not taken. Only streams
 * parked in a write are looked at, and only by the first thread to see
 * each new message. */
static void room_check(chat *c, room *m)
{
    for (stream *w = m->writers, *next; w; w = next) {
        next = w->next;
        if (m->total - w->mark <= c->cfg.queue)
            continue;
        writer_unlink(c, w);
        w->cut = true;
        c->cuts++;
        gs_kill(w->thread);
    }
}

/* Count a message the room has not seen yet; whether it had not. */
static bool room_saw(room *m, uint64_t id, size_t len)
{
    if (id <= m->newest)
        return false;
    m->newest = id;
    m->total += len;
    return true;
}

/* Account for what a stream's wait brought. Whoever sees a message first
 * (this, or the send that published it) checks the room's writers. */
static void room_advance(chat *c, room *m, const gs_chan_batch *b)
{
    bool news = false;
    for (size_t i = 0; i < b->count; i++)
        news |= room_saw(m, b->msgs[i]->id, b->msgs[i]->len);
    if (news)
        room_check(c, m);
}

/* ---- POST /send ---- */

/* The body, in request memory (*body). Its length, -EMSGSIZE past max
 * bytes, -ENOMEM, or gs_read's error (the server answers it: 408...). */
static ssize_t read_body(gs_request *r, size_t max, char **body)
{
    const char *cl = gs_env(r, "CONTENT_LENGTH");
    unsigned long long want = cl ? strtoull(cl, NULL, 10) : max;
    if (want > max)
        return -EMSGSIZE; /* said before it is all sent */
    /* One byte more than it may hold: a chunked body past max shows. */
    char *buf = *body = gs_alloc(r, want + 1);
    if (!buf)
        return -ENOMEM;
    size_t got = 0;
    for (;;) {
        ssize_t n = gs_read(r, buf + got, want + 1 - got);
        if (n <= 0)
            return n < 0 ? n : (ssize_t)got;
        if ((got += (size_t)n) > max)
            return -EMSGSIZE;
    }
}

static int send_message(gs_request *r, chat *c)
{
    char chan[sizeof(CHAN_PREFIX) + MAX_ROOM];
    if (!room_param(r, chan))
        return 0;
    char *body;
    ssize_t n = read_body(r, c->cfg.max_message, &body);
    if (n == -EMSGSIZE) {
        char why[64];
        snprintf(why, sizeof(why), "a message is at most %zu bytes\n", c->cfg.max_message);
        return answer_text(r, 413, why);
    }
    if (n < 0)
        return (int)n;
    int64_t id = gs_chan_publish(chan, body, (size_t)n);
    if (id < 0)
        return id == -ETIMEDOUT ? answer_text(r, 503, "the bus did not answer\n") : (int)id;
    room *m = room_find(c, chan);
    if (m && room_saw(m, (uint64_t)id, (size_t)n))
        room_check(c, m);
    char json[40];
    int len = snprintf(json, sizeof(json), "{\"id\":%lld}\n", (long long)id);
    return answer(r, 200, "application/json", json, (size_t)len);
}

/* ---- GET /poll ---- */

/* ?timeout= in seconds (fractions allowed), default 30, capped; less the
 * time already waited on a worker that handed the poll over. */
static int64_t poll_timeout(gs_request *r, chat *c)
{
    char buf[32];
    const char *v = param(r, "timeout", buf, sizeof(buf));
    double ms = v ? strtod(v, NULL) * 1000 : POLL_DEFAULT;
    if (!(ms > 0)) /* and NaN */
        return 0;
    int64_t t = ms < (double)c->cfg.max_timeout_ms ? (int64_t)ms : c->cfg.max_timeout_ms;
    int64_t left = t - gs_request_age_ms(r);
    return left > 0 ? left : 0;
}

static int poll_answer(gs_request *r, const gs_chan_batch *b, bool draining)
{
    size_t n = poll_json(NULL, b);
    char *json = gs_alloc(r, n);
    if (!json)
        return -ENOMEM;
    poll_json(json, b);
    char len[24];
    snprintf(len, sizeof(len), "%zu", n);
    /* A draining worker's client should come back on a new connection,
     * which only a live worker accepts. */
    const char *headers[] = {
        "Content-Type", "application/json", "Content-Length", len, "Cache-Control",
        "no-store",     "Connection",       "close",          NULL};
    if (!draining) /* the list ends before Connection */
        headers[6] = NULL;
    gs_start_response(r, 200, headers);
    ssize_t w = gs_write(r, json, n);
    return w < 0 ? (int)w : 0;
}

static int poll(gs_request *r, chat *c)
{
    char chan[sizeof(CHAN_PREFIX) + MAX_ROOM], buf[32];
    if (!room_param(r, chan))
        return 0;
    const char *after = param(r, "after", buf, sizeof(buf));
    uint64_t cursor = GS_CHAN_ALL;
    if (after && !parse_id(after, &cursor))
        return answer_text(r, 400, "after: a message id\n");
    if (is_head(r))
        return answer(r, 200, "application/json", "", 0);
    gs_chan_batch b;
    c->polls++;
    int n = gs_chan_wait(chan, cursor, poll_timeout(r, c), &b);
    c->polls--;
    int ret = 0;
    /* -ESHUTDOWN: answer now with what there is (nothing), so the client
     * comes back to a live worker. -EPIPE, -ECANCELED: nobody to answer. */
    if (n >= 0 || n == -ETIMEDOUT || n == -ESHUTDOWN)
        ret = poll_answer(r, &b, n == -ESHUTDOWN);
    else if (n != -EPIPE && n != -ECANCELED)
        ret = n;
    gs_chan_release(&b);
    return ret;
}

/* ---- GET /events ---- */

/* Write through the room's list of writers, so that a new message can
 * find this stream if the client has stopped reading. */
static int stream_write(chat *c, stream *s, const char *p, size_t n)
{
    writer_link(c, s);
    ssize_t w = gs_write(s->r, p, n);
    writer_unlink(c, s);
    if (!s->cut)
        return w < 0 ? (int)w : 0;
    gs_log(s->r,
           "room \"%s\": cut the event stream, stalled while more than %zu bytes came in "
           "(queue); it may reconnect from id %llu",
           s->room->chan + sizeof(CHAN_PREFIX) - 1, c->cfg.queue, (unsigned long long)s->sent);
    return -ECANCELED;
}

/* What a stream writes, gathered into one write as far as it fits. */
typedef struct stage {
    chat *c;
    stream *s;
    char *buf;
    size_t len, cap;
    int err;
} stage;

static void stage_flush(stage *st)
{
    if (st->len && !st->err)
        st->err = stream_write(st->c, st->s, st->buf, st->len);
    st->len = 0;
}

/* Big pieces go out from the message itself: no copy but the socket's. */
static void stage_put(stage *st, const char *p, size_t n)
{
    if (n > st->cap - st->len)
        stage_flush(st);
    if (st->err)
        return;
    if (n > st->cap / 2) {
        stage_flush(st);
        if (!st->err)
            st->err = stream_write(st->c, st->s, p, n);
        return;
    }
    memcpy(st->buf + st->len, p, n);
    st->len += n;
}

#define STAGE_LIT(st, lit) stage_put((st), (lit), sizeof(lit) - 1)

static size_t line_len(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && *q != '\r' && *q != '\n')
        q++;
    return (size_t)(q - p);
}

/* "id: N", then a data: line per line of the message (any of CR LF,
 * CR, LF ends one in SSE, so each starts a new data: line; the browser
 * joins them with LF), then the blank line that ends the event. */
static void stage_event(stage *st, const gs_chan_msg *m)
{
    char id[32] = "id: ";
    char *id_end = put_u64(id + 4, m->id);
    *id_end++ = '\n';
    stage_put(st, id, (size_t)(id_end - id));
    const char *p = m->data, *end = m->data + m->len;
    for (;;) {
        size_t n = line_len(p, end);
        STAGE_LIT(st, "data: ");
        stage_put(st, p, n);
        STAGE_LIT(st, "\n");
        if (p + n >= end)
            break;
        p += n + (p[n] == '\r' && p + n + 1 < end && p[n + 1] == '\n' ? 2 : 1);
    }
    STAGE_LIT(st, "\n");
}

static int stream_batch(chat *c, stream *s, const gs_chan_batch *b)
{
    size_t cap = STAGE_BYTES;
    stage st = {.c = c, .s = s, .buf = malloc(cap), .cap = cap};
    if (!st.buf)
        return -ENOMEM;
    if (b->dropped) /* a named event: the page tells its reader */
        STAGE_LIT(&st, "event: dropped\ndata: some messages were lost\n\n");
    for (size_t i = 0; i < b->count && !st.err; i++)
        stage_event(&st, b->msgs[i]);
    stage_flush(&st);
    free(st.buf);
    if (!st.err)
        s->sent = b->next;
    return st.err;
}

/* The worker is retiring: end the stream and tell EventSource to come
 * back soon, with its Last-Event-ID, to a worker that is not. */
static int stream_drained(chat *c, stream *s)
{
    char hint[64];
    int n = snprintf(hint, sizeof(hint), ": server restarting\nretry: %lld\n\n",
                     (long long)c->cfg.retry_ms);
    stream_write(c, s, hint, (size_t)n);
    return -ESHUTDOWN;
}

static int stream_step(chat *c, stream *s, uint64_t *cursor)
{
    gs_chan_batch b;
    gs_set_cursor(s->r, *cursor); /* all up to it is written: a hand-off goes on from there */
    int n = gs_chan_wait(s->room->chan, *cursor, c->cfg.heartbeat_ms, &b);
    room_advance(c, s->room, &b);
    s->mark = s->room->total;
    *cursor = b.next;
    int err = n;
    if (n > 0 || b.dropped)
        err = stream_batch(c, s, &b);
    else if (n == -ETIMEDOUT)
        err = stream_write(c, s, ": heartbeat\n\n", 13);
    else if (n == -ESHUTDOWN)
        err = stream_drained(c, s);
    gs_chan_release(&b);
    return err;
}

/* Where a stream starts: where it was (handed over by a retiring
 * worker), Last-Event-ID (EventSource sets it when it reconnects),
 * ?after= for clients that cannot set headers, or whatever the room
 * holds. False (and a 400 sent) for a bad id. */
static bool stream_cursor(gs_request *r, uint64_t *cursor)
{
    if (gs_resumed(r, cursor))
        return true;
    char buf[32];
    const char *id = gs_env(r, "HTTP_LAST_EVENT_ID");
    if (!id || !*id)
        id = param(r, "after", buf, sizeof(buf));
    *cursor = GS_CHAN_ALL;
    if (!id || parse_id(id, cursor))
        return true;
    answer_text(r, 400, "Last-Event-ID or after: a message id\n");
    return false;
}

static int events(gs_request *r, chat *c)
{
    char chan[sizeof(CHAN_PREFIX) + MAX_ROOM];
    uint64_t cursor;
    if (!room_param(r, chan) || !stream_cursor(r, &cursor))
        return 0;
    static const char *const headers[] = {"Content-Type",
                                          "text/event-stream; charset=utf-8",
                                          "Cache-Control",
                                          "no-store",
                                          "X-Accel-Buffering",
                                          "no",
                                          NULL};
    gs_start_response(r, 200, headers);
    if (is_head(r))
        return 0;
    stream s = {.r = r, .thread = gs_self(), .sent = cursor, .room = room_join(c, chan)};
    if (!s.room)
        return -ENOMEM;
    s.mark = s.room->total;
    c->streams++;
    char hello[32] = "retry: ";
    char *end = put_u64(hello + 7, (uint64_t)c->cfg.retry_ms);
    memcpy(end, "\n\n", 2);
    int err = gs_resumed(r, NULL) ? 0 : stream_write(c, &s, hello, (size_t)(end + 2 - hello));
    while (err >= 0)
        err = stream_step(c, &s, &cursor);
    c->streams--;
    room_leave(c, s.room);
    /* A client that left, a drain, a cut: how streams end, not errors. */
    return 0;
}

/* ---- GET /stats ---- */

static int stats(gs_request *r, chat *c)
{
    char json[256];
    int n = snprintf(json, sizeof(json),
                     "{\"pid\":%d,\"polls\":%u,\"streams\":%u,\"writers\":%u,\"rooms\":%zu,"
                     "\"cut\":%lu}\n",
                     (int)getpid(), c->polls, c->streams, c->writers, c->nrooms, c->cuts);
    return answer(r, 200, "application/json", json, (size_t)n);
}

/* ---- routing ---- */

static const struct route {
    const char *path, *method;
    int (*fn)(gs_request *r, chat *c);
} routes[] = {
    {"/", "GET", page},         {"/send", "POST", send_message}, {"/poll", "GET", poll},
    {"/events", "GET", events}, {"/stats", "GET", stats},
};

static int handle(gs_request *r, void *state)
{
    const char *path = gs_env(r, "PATH_INFO"), *method = gs_env(r, "REQUEST_METHOD");
    if (!*path)
        return to_slash(r);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *rt = &routes[i];
        if (strcmp(path, rt->path) != 0)
            continue;
        bool get = strcmp(rt->method, "GET") == 0;
        if (strcmp(method, rt->method) == 0 || (get && strcmp(method, "HEAD") == 0))
            return rt->fn(r, state);
        const char *const headers[] = {"Allow", get ? "GET, HEAD" : "POST", "Content-Length", "19",
                                       NULL};
        gs_start_response(r, 405, headers);
        return gs_write(r, "method not allowed\n", 19) < 0 ? -EPIPE : 0;
    }
    return answer_text(r, 404, "no such page: try /, /send, /poll, /events or /stats\n");
}

/* GREEN: channels belong to the hub, so even with --threads the handlers
 * must run there. HANDOFF: a long-poll run again is the same request; a
 * stream goes on from its cursor. */
GS_APP(.name = "chat", .flags = GS_APP_GREEN | GS_APP_HANDOFF, .init = init, .handle = handle,
       .fini = fini);
