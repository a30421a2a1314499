/*
 * readonly.h -- whether memory stays read-only for as long as it is
 * mapped: a loaded object's read-only segments (code, constants) and its
 * RELRO part, which the dynamic linker write-protects once relocated (a
 * `static const char *const []` of string literals in a plugin lies
 * there). What is worked out from such bytes can be kept.
 */
#ifndef RT_READONLY_H
#define RT_READONLY_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the n bytes at p lie in one such range. The objects are listed
 * at the first call, and again after a dlclose; one loaded since the
 * listing counts as writable. Any thread. */
bool rt_readonly(const void *p, size_t n);

/* Changes at every dlclose: a kept result is good while this is what it
 * was when the result was worked out (the object its bytes lay in may
 * have gone, and another come in its place). */
unsigned rt_readonly_gen(void);

#endif
