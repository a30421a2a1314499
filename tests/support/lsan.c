/*
 * lsan.c -- for every test binary built with AddressSanitizer.
 *
 * Criterion's runner (the parent process, never a test process) sometimes
 * loses a 48-byte timeout record when tests with .timeout overlap under
 * --jobs 2 (a race between BoxFort's timeout threads), and LeakSanitizer
 * then fails the whole binary. Report hooks run in the runner only, on the
 * thread that allocates those records: what it allocates from here on is
 * not leak-checked, while test processes still are.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <sanitizer/lsan_interface.h>

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    __lsan_disable();
}
#else
/* ISO C wants something in a translation unit. */
typedef int ts_lsan_unused;
#endif
