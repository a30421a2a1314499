/*
 * stack.c -- mmap'd green thread stacks with guard pages, and the overflow
 * report.
 */
#include "runtime/stack.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

static size_t page_size(void)
{
    static size_t pg;
    if (!pg)
        pg = (size_t)sysconf(_SC_PAGESIZE);
    return pg;
}

static size_t round_pages(size_t n)
{
    size_t pg = page_size();
    return (n + pg - 1) / pg * pg;
}

void rt_stack_pool_init(rt_stack_pool *p, size_t size)
{
    memset(p, 0, sizeof(*p));
    p->max_free = 1024;
    p->size = round_pages(size < RT_STACK_MIN ? RT_STACK_MIN : size);
}

void rt_stack_pool_resize(rt_stack_pool *p, size_t size)
{
    rt_stack_pool_drain(p);
    p->size = round_pages(size < RT_STACK_MIN ? RT_STACK_MIN : size);
}

void *rt_stack_top(const rt_stack *s)
{
    /* The descriptor sits at the top; the usable stack ends just below it,
     * 16-byte aligned as the ABI wants. */
    return (void *)((uintptr_t)s & ~(uintptr_t)15);
}

void *rt_stack_bottom(const rt_stack *s)
{
    return s->map + page_size();
}

static rt_stack *stack_map(size_t size)
{
    size_t map_size = size + page_size();
    char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        fprintf(stderr, "greenserve: cannot map a %zu KiB green thread stack: %s\n",
                map_size / 1024, strerror(errno));
        return NULL;
    }
    if (mprotect(map, page_size(), PROT_NONE) < 0) {
        /* Each guarded stack is two mappings: past vm.max_map_count the
         * kernel refuses to split one more. */
        fprintf(stderr,
                "greenserve: cannot protect a stack guard page: %s "
                "(too many green threads for vm.max_map_count?)\n",
                strerror(errno));
        munmap(map, map_size);
        return NULL;
    }
    rt_stack *s = (rt_stack *)(map + map_size - sizeof(rt_stack));
    s->map = map;
    s->map_size = map_size;
    s->next = NULL;
    s->valgrind_id = VALGRIND_STACK_REGISTER(rt_stack_bottom(s), rt_stack_top(s));
    return s;
}

static void stack_unmap(rt_stack *s)
{
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
    munmap(s->map, s->map_size);
}

rt_stack *rt_stack_get(rt_stack_pool *p)
{
    rt_stack *s = p->free;
    if (s) {
        p->free = s->next;
        p->nfree--;
        return s;
    }
    return stack_map(p->size);
}

void rt_stack_put(rt_stack_pool *p, rt_stack *s)
{
    if (p->nfree >= p->max_free || s->map_size != p->size + page_size()) {
        stack_unmap(s);
        return;
    }
    s->next = p->free;
    p->free = s;
    p->nfree++;
}

void rt_stack_pool_drain(rt_stack_pool *p)
{
    while (p->free) {
        rt_stack *s = p->free;
        p->free = s->next;
        stack_unmap(s);
    }
    p->nfree = 0;
}

/* ---- stashing ---- */

/* Under AddressSanitizer the frames being copied hold poisoned red zones:
 * copy without instrumentation, and without letting the compiler turn the
 * loop into a (checked) memcpy call. */
#if defined(__SANITIZE_ADDRESS__)
__attribute__((no_sanitize("address"))) static void stack_copy(void *dst, const void *src, size_t n)
{
    volatile char *d = dst;
    const volatile char *s = src;
    while (n--)
        *d++ = *s++;
}
#else
#define stack_copy memcpy
#endif

void *rt_stack_stash(rt_stack *s, const void *sp, size_t *len)
{
    char *map = s->map;
    size_t map_size = s->map_size;
    size_t n = (size_t)(map + map_size - (const char *)sp);
    void *copy = malloc(n);
    if (!copy)
        return NULL;
    stack_copy(copy, sp, n);
    /* Deeper pages, touched by an earlier call or an earlier owner of the
     * stack, go too. */
    if (madvise(map + page_size(), map_size - page_size(), MADV_DONTNEED) < 0) {
        free(copy);
        return NULL;
    }
    *len = n;
    return copy;
}

void rt_stack_unstash(rt_stack *s, void *copy, size_t len)
{
    char *end = (char *)(s + 1); /* the descriptor ends the mapping */
    stack_copy(end - len, copy, len);
    free(copy);
}

/* ---- overflow report ---- */

static __thread const rt_stack *running;
static struct sigaction previous_segv;

void rt_stack_set_running(const rt_stack *s)
{
    running = s;
}

static void write_str(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
    const rt_stack *s = running;
    char *addr = info->si_addr;
    if (s && addr >= s->map && addr < s->map + page_size()) {
        write_str("greenserve: green thread stack overflow: it hit the guard page below its "
                  "stack; give it a larger stack (gs_set_stack_size) or use less of it\n");
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        return;
    }
    /* Not ours: hand the fault to whoever handled it before us (or the
     * default action) by restoring it and returning to re-fault. */
    if (previous_segv.sa_flags & SA_SIGINFO && previous_segv.sa_sigaction) {
        previous_segv.sa_sigaction(sig, info, uctx);
        return;
    }
    sigaction(SIGSEGV, &previous_segv, NULL);
}

int rt_stack_guard_init(void)
{
    static int installed;
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE)) {
        size_t size = SIGSTKSZ < 32768 ? 32768 : SIGSTKSZ;
        ss.ss_sp = malloc(size);
        if (!ss.ss_sp)
            return -ENOMEM;
        ss.ss_size = size;
        ss.ss_flags = 0;
        if (sigaltstack(&ss, NULL) < 0) {
            free(ss.ss_sp);
            return -errno;
        }
    }
    if (__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL))
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, &previous_segv) < 0 ? -errno : 0;
}
