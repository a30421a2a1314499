/* rt_readonly: read-only segments and RELRO of the loaded objects count,
 * nothing writable does, and an object unloaded with dlclose stops
 * counting (and changes rt_readonly_gen). */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greenserve.h"
#include "runtime/readonly.h"
#include "support/server.h"

static const char *const const_array[] = {"Content-Type", "text/plain", NULL};
static const char *writable_array[] = {"Content-Type", "text/plain", NULL};
static char writable_string[] = "text/plain";

Test(readonly, literals_and_const_arrays_are)
{
    const char *lit = "a string literal";
    cr_assert(rt_readonly(lit, strlen(lit) + 1));
    cr_assert(rt_readonly(const_array, sizeof(const_array)), "a const array of pointers: RELRO");
    cr_assert(rt_readonly(const_array[1], 11));
    cr_assert(rt_readonly((const void *)rt_readonly, 16), "code");
}

Test(readonly, writable_memory_is_not)
{
    char stack[16] = "on the stack";
    char *heap = malloc(16);
    cr_assert_not_null(heap);
    cr_assert_not(rt_readonly(stack, sizeof(stack)));
    cr_assert_not(rt_readonly(heap, 16));
    cr_assert_not(rt_readonly(heap, 0));
    cr_assert_not(rt_readonly(writable_array, sizeof(writable_array)));
    cr_assert_not(rt_readonly(writable_string, sizeof(writable_string)));
    cr_assert_not(rt_readonly(NULL, 1));
    free(heap);
}

/* A range that runs past the end of its segment is not. */
Test(readonly, a_range_must_lie_in_one_segment)
{
    const char *lit = "x";
    cr_assert(rt_readonly(lit, 2));
    cr_assert_not(rt_readonly(lit, (size_t)1 << 40));
}

Test(readonly, an_unloaded_object_no_longer_counts)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/apps/hello.so", ts_build_dir());
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(so, "%s", dlerror());
    const gs_app *app = dlsym(so, "greenserve_app");
    cr_assert_not_null(app);
    /* Had the list been made before the dlopen, a dlclose (here of a
     * second reference: the object stays) makes it again. */
    unsigned gen = rt_readonly_gen();
    dlclose(dlopen(path, RTLD_NOW | RTLD_LOCAL));
    cr_assert_neq(rt_readonly_gen(), gen, "dlclose went by unseen");
    cr_assert(rt_readonly(app, sizeof(*app)), "the app's struct is RELRO");
    cr_assert(rt_readonly(app->name, strlen(app->name) + 1));
    const char *name = app->name;
    gen = rt_readonly_gen();
    cr_assert_eq(dlclose(so), 0);
    cr_assert_neq(rt_readonly_gen(), gen);
    cr_assert_not(rt_readonly(name, 1), "still listed after its dlclose");
}
