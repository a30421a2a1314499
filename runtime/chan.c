/*
 * chan.c -- named channels: ordered message streams with a bounded
 * history ring per channel, per hub.
 *
 * A message is copied once, into one allocation, and then only referenced:
 * by its channel's ring and by every batch handed out, each holding a
 * reference. A waiter is a green thread parked on its channel's wait
 * queue with its cursor in its wait_data (not on its stack, which may be
 * stashed while it waits), so a publish walks only that
 * channel's waiters, and a timeout is the thread's own libevent timer.
 *
 * A woken waiter is not handed the message: it collects, when it runs,
 * whatever the ring then holds past its cursor. So a waiter that was woken
 * and then overrun by a burst learns that it lost messages instead of
 * silently skipping them, and nothing is owed to a thread that is killed
 * before it runs.
 *
 * Every held message is also on one hub-wide list in arrival order; since
 * a channel's ring is in arrival order too, the list's head is the oldest
 * message of its channel, and one timer evicts by age without scanning.
 */
#include "runtime/chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/hub.h"

#define NAME_MAX_LEN         255
#define DEFAULT_MAX_MESSAGES 1024
#define DEFAULT_MAX_AGE_MS   (5 * 60 * 1000)
#define DEFAULT_MAX_BYTES    (1024 * 1024)
#define BUS_TIMEOUT_MS       10000
#define RING_MIN             8
#define BUCKETS_MIN          16

_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "a cursor fits in wait_data");

typedef struct chan chan;

typedef struct msg {
    gs_chan_msg pub;                 /* what batches hand out */
    unsigned refs;                   /* the ring's, and one per batch */
    int64_t born;                    /* gs_now_ms() when it was received */
    struct msg *age_prev, *age_next; /* held messages, oldest first */
    chan *chan;                      /* while held */
    char data[];
} msg;

struct chan {
    chan *hnext; /* hash chain */
    uint64_t hash;
    msg **ring; /* cap slots, a power of two; ring[head] is the oldest */
    size_t cap, head, len;
    size_t bytes;
    uint64_t newest; /* the highest id ever received; 0 = none */
    rt_waitq waiters;
    unsigned users; /* gs_chan_wait calls in progress: keep it alive */
    char name[];
};

/* A publish waiting for the id the bus gives it. */
typedef struct pending {
    uint64_t token;
    gs_thread *t;
    int64_t result; /* 0 until answered */
    struct pending *prev, *next;
} pending;

typedef struct chan_hub {
    bool ready;
    chan **buckets;
    size_t nbuckets;
    size_t nchan, nwaiters, nmsgs, nbytes;
    size_t nalive; /* messages not yet freed */
    uint64_t lost;
    size_t max_messages; /* >= 1 */
    size_t max_bytes;    /* 0: no limit */
    int64_t max_age_ms;  /* 0: no limit */
    msg *age_head, *age_tail;
    struct event age_timer;
    bool age_armed;
    const rt_chan_bus *bus;
    void *bus_ctx;
    pending *pend;
    uint64_t next_token;
    uint64_t last_id; /* the highest id numbered here */
} chan_hub;

static __thread chan_hub tls;

static void on_age(evutil_socket_t fd, short what, void *arg);

static chan_hub *hub_state(void)
{
    if (tls.ready)
        return &tls;
    rt_hub *h = rt_hub_get();
    if (!h)
        return NULL;
    tls.max_messages = DEFAULT_MAX_MESSAGES;
    tls.max_bytes = DEFAULT_MAX_BYTES;
    tls.max_age_ms = DEFAULT_MAX_AGE_MS;
    evtimer_assign(&tls.age_timer, rt_hub_base(h), on_age, &tls);
    tls.ready = true;
    return &tls;
}

/* ---- messages ---- */

static msg *msg_new(uint64_t id, const void *data, size_t len)
{
    if (len > SIZE_MAX - sizeof(msg) - 1)
        return NULL;
    msg *m = malloc(sizeof(*m) + len + 1);
    if (!m)
        return NULL;
    if (len)
        memcpy(m->data, data, len);
    m->data[len] = '\0';
    m->pub = (gs_chan_msg){.id = id, .len = len, .data = m->data};
    m->refs = 1;
    m->chan = NULL;
    tls.nalive++;
    return m;
}

static msg *msg_of(const gs_chan_msg *p)
{
    return (msg *)((char *)p - offsetof(msg, pub));
}

static void msg_free(msg *m)
{
    tls.nalive--;
    free(m);
}

static void msg_unref(msg *m)
{
    if (--m->refs == 0)
        msg_free(m);
}

/* ---- the channel table ---- */

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int check_name(const char *name, size_t *n)
{
    if (!name || !*name)
        return -EINVAL;
    *n = strnlen(name, NAME_MAX_LEN + 1);
    return *n > NAME_MAX_LEN ? -ENAMETOOLONG : 0;
}

static chan **bucket_of(chan_hub *ch, uint64_t hash)
{
    return &ch->buckets[hash & (ch->nbuckets - 1)];
}

/* Rehash into nb buckets; on failure the table keeps its size. */
static void table_resize(chan_hub *ch, size_t nb)
{
    chan **old = ch->buckets;
    size_t onb = ch->nbuckets;
    chan **nbk = calloc(nb, sizeof(*nbk));
    if (!nbk)
        return;
    ch->buckets = nbk;
    ch->nbuckets = nb;
    for (size_t i = 0; i < onb; i++) {
        for (chan *c = old[i], *next; c; c = next) {
            next = c->hnext;
            chan **b = bucket_of(ch, c->hash);
            c->hnext = *b;
            *b = c;
        }
    }
    free(old);
}

static chan *chan_find(chan_hub *ch, const char *name, size_t n, uint64_t hash)
{
    if (!ch->buckets)
        return NULL;
    for (chan *c = *bucket_of(ch, hash); c; c = c->hnext)
        if (c->hash == hash && memcmp(c->name, name, n + 1) == 0)
            return c;
    return NULL;
}

static chan *chan_new(chan_hub *ch, const char *name, size_t n, uint64_t hash)
{
    if (!ch->buckets)
        table_resize(ch, BUCKETS_MIN);
    else if (ch->nchan >= ch->nbuckets)
        table_resize(ch, ch->nbuckets * 2);
    chan *c = ch->buckets ? calloc(1, sizeof(*c) + n + 1) : NULL;
    if (!c)
        return NULL;
    memcpy(c->name, name, n + 1);
    c->hash = hash;
    chan **b = bucket_of(ch, hash);
    c->hnext = *b;
    *b = c;
    ch->nchan++;
    return c;
}

/* The channel called name, created if need be; NULL with *err set. */
static chan *chan_get(chan_hub *ch, const char *name, int *err)
{
    size_t n;
    *err = check_name(name, &n);
    if (*err)
        return NULL;
    uint64_t hash = hash_name(name, n);
    chan *c = chan_find(ch, name, n, hash);
    if (!c && !(c = chan_new(ch, name, n, hash)))
        *err = -ENOMEM;
    return c;
}

/* A channel with no message and nobody waiting is forgotten, so channel
 * names cost nothing once unused. */
static void chan_release_if_idle(chan_hub *ch, chan *c)
{
    if (c->len || c->users || !rt_waitq_empty(&c->waiters))
        return;
    chan **p = bucket_of(ch, c->hash);
    while (*p != c)
        p = &(*p)->hnext;
    *p = c->hnext;
    free(c->ring);
    free(c);
    ch->nchan--;
    if (ch->nbuckets > BUCKETS_MIN && ch->nchan < ch->nbuckets / 8)
        table_resize(ch, ch->nbuckets / 2);
}

/* ---- the ring ---- */

static msg *ring_at(const chan *c, size_t i)
{
    return c->ring[(c->head + i) & (c->cap - 1)];
}

static int ring_resize(chan *c, size_t cap)
{
    msg **r = malloc(cap * sizeof(*r));
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < c->len; i++)
        r[i] = ring_at(c, i);
    free(c->ring);
    c->ring = r;
    c->cap = cap;
    c->head = 0;
    return 0;
}

/* Index of the first message with an id above after (ids increase along
 * the ring), c->len if none. */
static size_t ring_first_after(const chan *c, uint64_t after)
{
    size_t lo = 0, hi = c->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(c, mid)->pub.id <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- holding and evicting ---- */

static void age_append(chan_hub *ch, msg *m)
{
    m->age_next = NULL;
    m->age_prev = ch->age_tail;
    if (ch->age_tail)
        ch->age_tail->age_next = m;
    else
        ch->age_head = m;
    ch->age_tail = m;
}

static void age_unlink(chan_hub *ch, msg *m)
{
    if (m->age_prev)
        m->age_prev->age_next = m->age_next;
    else
        ch->age_head = m->age_next;
    if (m->age_next)
        m->age_next->age_prev = m->age_prev;
    else
        ch->age_tail = m->age_prev;
}

static void evict_oldest(chan_hub *ch, chan *c)
{
    msg *m = ring_at(c, 0);
    c->head = (c->head + 1) & (c->cap - 1);
    c->len--;
    c->bytes -= m->pub.len;
    ch->nmsgs--;
    ch->nbytes -= m->pub.len;
    age_unlink(ch, m);
    m->chan = NULL;
    msg_unref(m);
    if (c->cap > RING_MIN && c->len < c->cap / 4)
        ring_resize(c, c->cap / 2); /* on failure the ring stays larger */
}

/* Size limits; the newest message always stays, whatever its size. */
static void trim(chan_hub *ch, chan *c)
{
    while (c->len > 1 && (c->len > ch->max_messages || (ch->max_bytes && c->bytes > ch->max_bytes)))
        evict_oldest(ch, c);
}

static int hold(chan_hub *ch, chan *c, msg *m)
{
    if (c->len >= ch->max_messages)
        evict_oldest(ch, c); /* before the ring would need to grow */
    if (c->len == c->cap && ring_resize(c, c->cap ? c->cap * 2 : RING_MIN) < 0)
        return -ENOMEM;
    c->ring[(c->head + c->len) & (c->cap - 1)] = m;
    c->len++;
    c->bytes += m->pub.len;
    ch->nmsgs++;
    ch->nbytes += m->pub.len;
    m->chan = c;
    m->born = gs_now_ms();
    age_append(ch, m);
    return 0;
}

/* ---- eviction by age ---- */

static void age_arm(chan_hub *ch)
{
    if (ch->age_armed || !ch->max_age_ms || !ch->age_head)
        return;
    /* One ms late rather than early: the timer and gs_now_ms round apart,
     * and a timer that finds nothing old enough would only fire again. */
    int64_t ms = ch->age_head->born + ch->max_age_ms - gs_now_ms() + 1;
    if (ms < 0)
        ms = 0;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(&ch->age_timer, &tv);
    rt_hub_internal_events(rt_hub_get(), 1); /* must not keep gs_hub_run alive */
    ch->age_armed = true;
}

static void age_disarm(chan_hub *ch)
{
    if (!ch->age_armed)
        return;
    event_del(&ch->age_timer);
    rt_hub_internal_events(rt_hub_get(), -1);
    ch->age_armed = false;
}

static void evict_aged(chan_hub *ch)
{
    int64_t now = gs_now_ms();
    while (ch->age_head && now - ch->age_head->born >= ch->max_age_ms) {
        chan *c = ch->age_head->chan;
        evict_oldest(ch, c);
        chan_release_if_idle(ch, c);
    }
}

static void on_age(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    chan_hub *ch = arg;
    rt_hub_internal_events(rt_hub_get(), -1);
    ch->age_armed = false;
    evict_aged(ch);
    age_arm(ch);
}

/* ---- receiving a message ---- */

/* Wake the waiters whose cursor is below id; those with a cursor from
 * the future (a client that saw it through another worker first) stay. */
static void wake_newer(chan *c, uint64_t id)
{
    gs_thread *t = c->waiters.head;
    while (t) {
        gs_thread *next = t->wq_next;
        if (id > (uint64_t)(uintptr_t)t->wait_data)
            rt_wake(t, 0);
        t = next;
    }
}

/* Copy the message in as c's newest (id > c->newest) and wake its
 * waiters. 0 or -ENOMEM (c is then released if idle). */
static int receive(chan_hub *ch, chan *c, uint64_t id, const void *data, size_t len)
{
    msg *m = msg_new(id, data, len);
    if (!m || hold(ch, c, m) < 0) {
        if (m)
            msg_free(m);
        chan_release_if_idle(ch, c);
        return -ENOMEM;
    }
    c->newest = id;
    trim(ch, c);
    age_arm(ch);
    wake_newer(c, id);
    return 0;
}

/* ---- publishing ---- */

/* A channel's first id comes from the wall clock, in microseconds (safe
 * as a JavaScript number until the year 2255): a channel forgotten while
 * idle, or a restarted worker, never numbers a message with an id that a
 * client's cursor has seen, so such a cursor reads as `dropped`. */
static uint64_t first_id(chan_hub *ch)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    return us > ch->last_id ? us : ch->last_id + 1;
}

static int64_t publish_local(chan_hub *ch, const char *name, const void *data, size_t len)
{
    int err;
    chan *c = chan_get(ch, name, &err);
    if (!c)
        return err;
    uint64_t id = c->newest ? c->newest + 1 : first_id(ch);
    err = receive(ch, c, id, data, len);
    if (err < 0)
        return err;
    if (id > ch->last_id)
        ch->last_id = id;
    return (int64_t)id;
}

static void pend_link(chan_hub *ch, pending *p)
{
    p->prev = NULL;
    p->next = ch->pend;
    if (ch->pend)
        ch->pend->prev = p;
    ch->pend = p;
}

static void pend_unlink(chan_hub *ch, pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        ch->pend = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

/* Park until rt_chan_published answers p (perhaps already done by the
 * bus from within its publish call). */
static int64_t await_id(pending *p)
{
    rt_hub *h = rt_hub_get();
    int r = 0;
    if (!p->result) {
        /* The answer comes from the bus's own events: say a wait is
         * pending so that the root thread is not taken as deadlocked. */
        rt_hub_pending(h, 1);
        r = rt_wait(NULL, BUS_TIMEOUT_MS);
        rt_hub_pending(h, -1);
    }
    if (p->result)
        return p->result;
    return r < 0 ? r : -EIO;
}

static int64_t publish_bus(chan_hub *ch, const char *name, const void *data, size_t len)
{
    size_t n;
    int err = check_name(name, &n);
    if (err)
        return err;
    if (gs_cancelled())
        return -ECANCELED;
    if (rt_wait(NULL, 0) == -EDEADLK) {
        /* A libevent callback cannot park for the id: send it anyway. */
        err = ch->bus->publish(ch->bus_ctx, 0, name, data, len);
        return err < 0 ? err : -EINPROGRESS;
    }
    pending p = {.token = ++ch->next_token, .t = rt_current()};
    pend_link(ch, &p);
    int64_t r = ch->bus->publish(ch->bus_ctx, p.token, name, data, len);
    if (r == 0)
        r = await_id(&p);
    pend_unlink(ch, &p);
    return r;
}

int64_t gs_chan_publish(const char *name, const void *data, size_t len)
{
    chan_hub *ch = hub_state();
    if (!ch)
        return -ENOMEM;
    if (!data && len)
        return -EINVAL;
    if (ch->bus)
        return publish_bus(ch, name, data, len);
    return publish_local(ch, name, data, len);
}

/* ---- waiting ---- */

/* Whether messages after the cursor are gone: the one that should follow
 * it is not the first one held past it. */
static bool lost_after(const chan *c, uint64_t after, size_t first)
{
    if (after == GS_CHAN_ALL || after >= c->newest)
        return false;
    return first == c->len || ring_at(c, first)->pub.id != after + 1;
}

/* Fill b with a reference to every held message past after. Returns the
 * count or -ENOMEM. */
static int collect(const chan *c, uint64_t after, gs_chan_batch *b)
{
    size_t first = ring_first_after(c, after);
    size_t n = c->len - first;
    b->dropped = lost_after(c, after, first);
    b->oldest = c->len ? ring_at(c, 0)->pub.id : 0;
    b->next = b->dropped ? c->newest : after;
    if (n == 0)
        return 0;
    b->msgs = b->inl;
    if (n > GS_CHAN_BATCH_INLINE && !(b->msgs = malloc(n * sizeof(*b->msgs))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        msg *m = ring_at(c, first + i);
        m->refs++;
        b->msgs[i] = &m->pub;
    }
    b->count = n;
    b->next = b->msgs[n - 1]->id;
    return (int)n;
}

static int park(chan_hub *ch, chan *c, uint64_t after, int64_t timeout_ms, gs_chan_batch *b)
{
    /* Long-polls mostly share one timeout: keep their timers in a FIFO. */
    rt_hub_common_timeout(timeout_ms);
    rt_current()->wait_data = (void *)(uintptr_t)after; /* read by wake_newer */
    ch->nwaiters++;
    int r = rt_wait_interruptible(&c->waiters, timeout_ms);
    ch->nwaiters--;
    if (r != 0 && r != -ETIMEDOUT)
        return r;
    /* Collect even on a timeout: a message may have come in its tick. */
    int n = collect(c, after, b);
    return n != 0 || b->dropped ? n : r;
}

int gs_chan_wait(const char *name, uint64_t after_id, int64_t timeout_ms, gs_chan_batch *b)
{
    if (!b)
        return -EINVAL;
    *b = (gs_chan_batch){.next = after_id};
    chan_hub *ch = hub_state();
    if (!ch)
        return -ENOMEM;
    int r;
    chan *c = chan_get(ch, name, &r);
    if (!c)
        return r;
    uint64_t after = after_id == GS_CHAN_NEW ? c->newest : after_id;
    c->users++;
    r = collect(c, after, b);
    if (r == 0 && !b->dropped)
        r = park(ch, c, after, timeout_ms, b);
    c->users--;
    chan_release_if_idle(ch, c);
    return r;
}

void gs_chan_release(gs_chan_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->count; i++)
        msg_unref(msg_of(b->msgs[i]));
    if (b->count > GS_CHAN_BATCH_INLINE) /* see collect */
        free(b->msgs);
    b->msgs = NULL;
    b->count = 0;
}

/* ---- limits ---- */

int gs_chan_limits(size_t max_messages, int64_t max_age_ms, size_t max_bytes)
{
    if (max_messages == 0 || max_age_ms < 0)
        return -EINVAL;
    chan_hub *ch = hub_state();
    if (!ch)
        return -ENOMEM;
    ch->max_messages = max_messages;
    ch->max_age_ms = max_age_ms;
    ch->max_bytes = max_bytes;
    for (size_t i = 0; i < ch->nbuckets; i++)
        for (chan *c = ch->buckets[i]; c; c = c->hnext)
            trim(ch, c); /* frees no channel: the newest message stays */
    age_disarm(ch);
    if (max_age_ms)
        evict_aged(ch);
    age_arm(ch);
    return 0;
}

/* ---- the bus ---- */

void rt_chan_set_bus(const rt_chan_bus *ops, void *ctx)
{
    chan_hub *ch = hub_state();
    if (!ch)
        return;
    ch->bus = ops;
    ch->bus_ctx = ctx;
    for (pending *p = ch->pend; p; p = p->next) {
        p->result = -ECONNABORTED;
        rt_wake(p->t, 0);
    }
}

void rt_chan_published(uint64_t token, int64_t id_or_err)
{
    chan_hub *ch = hub_state();
    if (!ch || !token)
        return;
    for (pending *p = ch->pend; p; p = p->next) {
        if (p->token != token)
            continue;
        p->result = id_or_err ? id_or_err : -EIO;
        rt_wake(p->t, 0); /* a no-op if it has not parked yet */
        return;
    }
}

int rt_chan_deliver(const char *name, uint64_t id, const void *data, size_t len)
{
    if (id == 0 || id > INT64_MAX || (!data && len))
        return -EINVAL;
    chan_hub *ch = hub_state();
    if (!ch)
        return -ENOMEM;
    int err;
    chan *c = chan_get(ch, name, &err);
    if (!c)
        return err;
    if (id <= c->newest) {
        chan_release_if_idle(ch, c);
        return 0;
    }
    if (c->newest && id > c->newest + 1)
        ch->lost += id - c->newest - 1;
    err = receive(ch, c, id, data, len);
    return err < 0 ? err : 1;
}

void rt_chan_stats_get(rt_chan_stats *s)
{
    *s = (rt_chan_stats){0};
    if (!tls.ready)
        return;
    s->channels = tls.nchan;
    s->waiters = tls.nwaiters;
    s->messages = tls.nmsgs;
    s->bytes = tls.nbytes;
    s->alive = tls.nalive;
    s->lost = tls.lost;
}
