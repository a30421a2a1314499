/*
 * fcontext.h -- the C declaration of boost.context's context switch
 * (libboost_context.so exports these as C symbols; no C++ involved).
 *
 * make_fcontext prepares a context at the top of a stack (sp is the high
 * end; the stack grows down). jump_fcontext saves the caller's registers
 * on its own stack, switches to `to`, and returns in the caller, once
 * someone jumps back, the context that jumped here plus its data pointer.
 */
#ifndef RT_FCONTEXT_H
#define RT_FCONTEXT_H

#include <stddef.h>

typedef void *rt_fctx;

typedef struct rt_transfer {
    rt_fctx fctx; /* the context that jumped to us: store it to return there */
    void *data;   /* the pointer it passed */
} rt_transfer;

rt_fctx make_fcontext(void *sp, size_t size, void (*fn)(rt_transfer));
rt_transfer jump_fcontext(rt_fctx const to, void *data);

/* The switch the hub uses: boost's frame, a cheaper exit (fcontext.S). */
#if defined(__x86_64__) && defined(__ELF__)
rt_transfer rt_jump_fcontext(rt_fctx const to, void *data);
#else
static inline rt_transfer rt_jump_fcontext(rt_fctx const to, void *data)
{
    return jump_fcontext(to, data);
}
#endif

#endif
