/*
 * fcontext.S -- the context switch, x86-64 System V (ELF).
 *
 * The same frame as boost.context 1.74's jump_fcontext, so contexts made by
 * its make_fcontext resume here unchanged: six callee-saved registers, the
 * MXCSR and x87 control words, then the return address. The one difference
 * is the way out: boost ends with `jmp *%r8`, which leaves the CPU's return
 * stack one entry off, so every frame the resumed thread returns through
 * mispredicts (~9 ns each here); ending with `ret` keeps it in step. See
 * bench/RESULTS.md for the measured switch costs of both.
 */
#if defined(__x86_64__) && defined(__ELF__)
    .text
    .globl  rt_jump_fcontext
    .hidden rt_jump_fcontext
    .type   rt_jump_fcontext, @function
    .align  16
rt_jump_fcontext:
    leaq    -0x38(%rsp), %rsp
    stmxcsr (%rsp)
    fnstcw  0x4(%rsp)
    movq    %r12, 0x8(%rsp)
    movq    %r13, 0x10(%rsp)
    movq    %r14, 0x18(%rsp)
    movq    %r15, 0x20(%rsp)
    movq    %rbx, 0x28(%rsp)
    movq    %rbp, 0x30(%rsp)
    movq    %rsp, %rax          /* our context, handed to whoever resumes */
    movq    %rdi, %rsp          /* the target's saved frame */
    ldmxcsr (%rsp)
    fldcw   0x4(%rsp)
    movq    0x8(%rsp), %r12
    movq    0x10(%rsp), %r13
    movq    0x18(%rsp), %r14
    movq    0x20(%rsp), %r15
    movq    0x28(%rsp), %rbx
    movq    0x30(%rsp), %rbp
    leaq    0x38(%rsp), %rsp
    movq    %rsi, %rdx          /* transfer.data when returning from a jump */
    movq    %rax, %rdi          /* transfer.fctx when entering a new context */
    ret                         /* rsi still holds data for a new context */
    .size   rt_jump_fcontext, .-rt_jump_fcontext
#endif
    .section .note.GNU-stack, "", %progbits
