/*
 * stack.h -- green thread stacks: mmap'd with a PROT_NONE guard page at the
 * low end, committed lazily by the kernel (only touched pages cost memory),
 * pooled per hub and reused. The descriptor lives at the top of its own
 * mapping, on the page every running thread touches anyway.
 */
#ifndef RT_STACK_H
#define RT_STACK_H

#include <stddef.h>

typedef struct rt_stack {
    char *map; /* the mapping; its first page is the guard */
    size_t map_size;
    struct rt_stack *next; /* free list link while pooled */
    unsigned valgrind_id;
} rt_stack;

typedef struct rt_stack_pool {
    rt_stack *free;
    size_t nfree;
    size_t max_free; /* stacks kept for reuse; more are unmapped */
    size_t size;     /* usable size of the stacks handed out */
} rt_stack_pool;

#define RT_STACK_DEFAULT (64 * 1024)
#define RT_STACK_MIN     (16 * 1024)

void rt_stack_pool_init(rt_stack_pool *p, size_t size);
/* Change the size of stacks handed out from now on; pooled ones are freed. */
void rt_stack_pool_resize(rt_stack_pool *p, size_t size);
/* A stack of p->size usable bytes, or NULL (ENOMEM; see the log). */
rt_stack *rt_stack_get(rt_stack_pool *p);
void rt_stack_put(rt_stack_pool *p, rt_stack *s);
void rt_stack_pool_drain(rt_stack_pool *p);

/* The stack's usable range: [bottom, top), growing down from top. */
void *rt_stack_top(const rt_stack *s);
void *rt_stack_bottom(const rt_stack *s);

/* Stash the stack of a parked thread whose saved context is at sp: copy
 * [sp, end of the mapping), frames and descriptor, to the heap and give
 * every page back to the kernel. Returns the copy (its length in *len), or
 * NULL (out of memory: the stack stays as it was). Until rt_stack_unstash,
 * nothing may read or write the stack, descriptor included. */
void *rt_stack_stash(rt_stack *s, const void *sp, size_t *len);
/* Put a stashed stack back where it was and free the copy. */
void rt_stack_unstash(rt_stack *s, void *copy, size_t len);

/* Per OS thread: an alternate signal stack, and (once per process) the
 * SIGSEGV handler that reports a hit on a green thread's guard page. */
int rt_stack_guard_init(void);
/* Tell the handler which stack is running on this OS thread (NULL: none). */
void rt_stack_set_running(const rt_stack *s);

#endif
