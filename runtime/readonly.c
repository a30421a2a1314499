/*
 * readonly.c -- read-only ranges of the loaded objects, for rt_readonly.
 *
 * The list is made with dl_iterate_phdr: each object's PT_LOAD segments
 * mapped without write permission, and its PT_GNU_RELRO range less the
 * partial page at its end (ld.so protects whole pages only). A list,
 * once made, never changes: it is replaced whole, and what it replaces
 * stays allocated (a reader on another thread may still hold it).
 */
#include "runtime/readonly.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Past this many ranges, the rest count as writable. */
#define MAX_RANGES 1024

typedef struct range {
    uintptr_t lo, hi;
} range;

typedef struct table {
    struct table *older; /* replaced lists, kept (see above) */
    unsigned gen;        /* rt_readonly_gen when made */
    size_t n;
    range r[]; /* sorted by lo */
} table;

static _Atomic unsigned gen;
static _Atomic(table *) current;
static pthread_mutex_t making = PTHREAD_MUTEX_INITIALIZER;

typedef struct collect {
    uintptr_t page;
    size_t n;
    range r[MAX_RANGES];
} collect;

static void add(collect *c, uintptr_t lo, uintptr_t hi)
{
    if (lo < hi && c->n < MAX_RANGES)
        c->r[c->n++] = (range){lo, hi};
}

static int add_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    collect *c = arg;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_LOAD && !(ph->p_flags & PF_W))
            add(c, lo, hi);
        else if (ph->p_type == PT_GNU_RELRO)
            add(c, lo & ~(c->page - 1), hi & ~(c->page - 1));
    }
    return 0;
}

static int by_lo(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static table *make(unsigned g, table *older)
{
    collect *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    c->page = (uintptr_t)sysconf(_SC_PAGESIZE);
    c->n = 0;
    dl_iterate_phdr(add_object, c);
    qsort(c->r, c->n, sizeof(c->r[0]), by_lo);
    table *t = malloc(sizeof(*t) + c->n * sizeof(c->r[0]));
    if (t) {
        *t = (table){.older = older, .gen = g, .n = c->n};
        memcpy(t->r, c->r, c->n * sizeof(c->r[0]));
    }
    free(c);
    return t;
}

/* The list for the objects loaded now; NULL when out of memory. */
static const table *list(void)
{
    unsigned g = atomic_load(&gen);
    table *t = atomic_load(&current);
    if (t && t->gen == g)
        return t;
    pthread_mutex_lock(&making);
    t = atomic_load(&current);
    if (!t || t->gen != g) {
        table *fresh = make(g, t);
        if (fresh)
            atomic_store(&current, fresh);
        t = fresh;
    }
    pthread_mutex_unlock(&making);
    return t;
}

bool rt_readonly(const void *p, size_t n)
{
    const table *t = list();
    if (!t)
        return false;
    uintptr_t a = (uintptr_t)p;
    size_t lo = 0, hi = t->n; /* the last range starting at or before a */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->r[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && a < t->r[lo - 1].hi && n <= t->r[lo - 1].hi - a;
}

unsigned rt_readonly_gen(void)
{
    return atomic_load_explicit(&gen, memory_order_relaxed);
}

/* Every dlclose in the process, the plugins' as much as the server's,
 * resolves here first (the executable exports its symbols). Counted on
 * both sides of the real one: a result worked out while it runs is not
 * kept past it. */
int dlclose(void *handle)
{
    int (*real)(void *) = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    atomic_fetch_add(&gen, 1);
    int r = real ? real(handle) : -1;
    atomic_fetch_add(&gen, 1);
    return r;
}
