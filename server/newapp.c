/*
 * newapp.c -- `greenserve new-app NAME` writes NAME.c, a hello-world
 * handler with comments, and a Makefile that builds it with the flags of
 * `pkg-config --cflags greenserve` and serves it (`make run`). Both files
 * are created with O_EXCL: whatever is there already is never touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/options.h"
#include "server/newapp.h"

/* "@NAME@" in these is replaced by the app's name. */
static const char app_template[] =
    "/*\n"
    " * @NAME@.c -- a greenserve app.\n"
    " *\n"
    " *     make && make run\n"
    " *     curl http://127.0.0.1:8080/anything\n"
    " *\n"
    " * The handler runs in a green thread: calls that wait (gs_read, gs_write,\n"
    " * gs_sleep, gs_wait_disconnect, the gs_fd_* I/O) park it and let the\n"
    " * worker serve other clients meanwhile. A call that blocks the OS thread\n"
    " * (sleep(3), a blocking driver) stalls them all: hand it to gs_offload,\n"
    " * or drop GS_APP_GREEN below and run greenserve with --threads N.\n"
    " * The API: greenserve.h; the server: man greenserve.\n"
    " */\n"
    "#include <greenserve.h>\n"
    "#include <stdio.h>\n"
    "\n"
    "/* Once per worker process, after fork: args is the text after ':' in the\n"
    " * mount (/=./@NAME@.so:ARGS). Whatever goes into *state is handed to\n"
    " * every request. Return < 0 to stop start-up. */\n"
    "static int init(const char *args, void **state)\n"
    "{\n"
    "    (void)args;\n"
    "    *state = NULL;\n"
    "    return 0;\n"
    "}\n"
    "\n"
    "static int handle(gs_request *r, void *state)\n"
    "{\n"
    "    (void)state;\n"
    "    /* The request as a WSGI environ: PATH_INFO is the path below the\n"
    "     * mount prefix, HTTP_<NAME> each request header. */\n"
    "    const char *path = gs_env(r, \"PATH_INFO\");\n"
    "    char body[256], length[16];\n"
    "    int n = snprintf(body, sizeof(body), \"Hello from @NAME@! You asked for %s\\n\",\n"
    "                     path && *path ? path : \"/\");\n"
    "    if (n < 0 || (size_t)n >= sizeof(body))\n"
    "        n = (int)sizeof(body) - 1;\n"
    "    snprintf(length, sizeof(length), \"%d\", n);\n"
    "    /* With a Content-Length the response leaves in one write and the\n"
    "     * connection stays open for the client's next request. */\n"
    "    const char *const headers[] = {\n"
    "        \"Content-Type\", \"text/plain; charset=utf-8\", \"Content-Length\", length, NULL,\n"
    "    };\n"
    "    int err = gs_start_response(r, 200, headers);\n"
    "    if (err < 0)\n"
    "        return err;\n"
    "    ssize_t w = gs_write(r, body, (size_t)n);\n"
    "    return w < 0 ? (int)w : 0; /* < 0: the server logs it and closes */\n"
    "}\n"
    "\n"
    "/* Once per worker at exit: free what init made. */\n"
    "static void fini(void *state)\n"
    "{\n"
    "    (void)state;\n"
    "}\n"
    "\n"
    "/* The one symbol a plugin exports. GS_APP_GREEN: this handler never\n"
    " * blocks its OS thread, so it always runs on the hub. */\n"
    "GS_APP(.name = \"@NAME@\", .flags = GS_APP_GREEN, .init = init, .handle = handle,\n"
    "       .fini = fini);\n";

static const char makefile_template[] =
    "# Builds @NAME@.so, a greenserve plugin. Plugins link nothing: the gs_*\n"
    "# calls resolve against the greenserve executable that loads them.\n"
    "#   make          build @NAME@.so\n"
    "#   make run      serve it at http://127.0.0.1:$(PORT)/ (Ctrl-C stops)\n"
    "\n"
    "CC         ?= cc\n"
    "CFLAGS     ?= -O2 -g -Wall -Wextra\n"
    "GREENSERVE ?= greenserve\n"
    "PORT       ?= 8080\n"
    "\n"
    "ifneq ($(shell pkg-config --exists greenserve && echo yes),yes)\n"
    "$(error pkg-config finds no greenserve.pc: install greenserve, or set PKG_CONFIG_PATH)\n"
    "endif\n"
    "GS_CFLAGS := $(shell pkg-config --cflags greenserve)\n"
    "\n"
    "all: @NAME@.so\n"
    "\n"
    "@NAME@.so: @NAME@.c\n"
    "\t$(CC) $(CFLAGS) -fPIC -shared $(GS_CFLAGS) $< -o $@\n"
    "\n"
    "run: @NAME@.so\n"
    "\t$(GREENSERVE) --workers 1 --bind 127.0.0.1:$(PORT) --access-log - /=./@NAME@.so\n"
    "\n"
    "clean:\n"
    "\trm -f @NAME@.so\n"
    "\n"
    ".PHONY: all run clean\n";

bool srv_newapp_wanted(int argc, char **argv)
{
    return argc >= 2 && strcmp(argv[1], "new-app") == 0;
}

/* A C identifier: it names the files, the make targets and the app. */
static bool valid_name(const char *name)
{
    if (!*name || strlen(name) > 64 || (*name >= '0' && *name <= '9'))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

static int put_template(FILE *f, const char *tmpl, const char *name)
{
    for (const char *p = tmpl, *at; *p; p = at + 6) {
        at = strstr(p, "@NAME@");
        if (!at)
            return fputs(p, f) < 0 ? -EIO : 0;
        if (fwrite(p, 1, (size_t)(at - p), f) != (size_t)(at - p) || fputs(name, f) < 0)
            return -EIO;
    }
    return 0;
}

/* Create path (never replacing a file) with the template filled in. */
static int write_new(const char *path, const char *tmpl, const char *name)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int err = -errno;
        close(fd);
        unlink(path);
        return err;
    }
    int err = put_template(f, tmpl, name);
    if (fclose(f) != 0 && err == 0)
        err = -EIO;
    if (err < 0)
        unlink(path);
    return err;
}

static int fail(const char *path, int err)
{
    fprintf(stderr, "greenserve new-app: %s: %s%s\n", path, strerror(-err),
            err == -EEXIST ? " (not overwritten)" : "");
    return CFG_EXIT_USAGE;
}

int srv_newapp_run(int argc, char **argv)
{
    if (argc != 3 || !valid_name(argv[2])) {
        fprintf(stderr, "usage: greenserve new-app NAME  (NAME: letters, digits, '_')\n");
        return CFG_EXIT_USAGE;
    }
    const char *name = argv[2];
    char source[80];
    snprintf(source, sizeof(source), "%s.c", name);
    /* Both checked first, so a refusal leaves nothing half-written. */
    if (access(source, F_OK) == 0)
        return fail(source, -EEXIST);
    if (access("Makefile", F_OK) == 0)
        return fail("Makefile", -EEXIST);
    int err = write_new(source, app_template, name);
    if (err < 0)
        return fail(source, err);
    err = write_new("Makefile", makefile_template, name);
    if (err < 0) {
        unlink(source);
        return fail("Makefile", err);
    }
    printf("greenserve: wrote %s and Makefile: `make run`, then curl http://127.0.0.1:8080/\n",
           source);
    return 0;
}
