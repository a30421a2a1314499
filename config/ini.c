/*
 * ini.c -- the config file (--config): INI read with libinih, each option
 * through cfg_set, the same setter as the command line.
 *
 *     workers = 4                ; any long option, without "--"
 *     bind = 0.0.0.0:80          ; repeatable, as on the command line
 *     [app:hello]
 *     mount = /hello
 *     path = /usr/lib/greenserve/apps/hello.so
 *     args = greeting=hi
 *     flags = green
 *
 * Every refusal names the file and the line. libinih does not tell its
 * handler the line number, so the reader we give it counts lines. Its
 * line buffer is fixed when the library is built (200 bytes on Debian):
 * a longer line is refused rather than read in pieces.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/options.h"

typedef struct reading {
    cfg_settings *s;
    const char *path;
    FILE *f;
    unsigned line;         /* of the text the handler is given */
    unsigned section_line; /* of the last [section] header read */
    char section[128];     /* the current section, "" before any */
    bool in_app;           /* an [app:NAME] section is being gathered */
    unsigned app_line;     /* where its first key was */
    cfg_mount app;         /* its keys, strings owned here */
    char *err;
    size_t errlen;
    int rc;
} reading;

/* "FILE:LINE: why" */
static int fail(reading *rd, unsigned line, const char *why)
{
    snprintf(rd->err, rd->errlen, "%s:%u: %s", rd->path, line, why);
    rd->rc = -EINVAL;
    return 0; /* to libinih: stop here */
}

/* One line for libinih; NULL ends its parse (at the end, or on a line
 * too long for its buffer, which it would split into two). */
static char *read_line(char *str, int num, void *stream)
{
    reading *rd = stream;
    char *got = rd->rc == 0 ? fgets(str, num, rd->f) : NULL;
    if (!got)
        return NULL;
    rd->line++;
    if (got[strspn(got, " \t")] == '[')
        rd->section_line = rd->line;
    size_t len = strlen(got);
    if ((int)len == num - 1 && got[len - 1] != '\n' && !feof(rd->f)) {
        char why[64];
        snprintf(why, sizeof(why), "line longer than %d bytes", num - 2);
        fail(rd, rd->line, why);
        return NULL;
    }
    return got;
}

static void drop_app(reading *rd)
{
    free(rd->app.prefix), free(rd->app.path), free(rd->app.args), free(rd->app.name);
    memset(&rd->app, 0, sizeof(rd->app));
    rd->in_app = false;
}

/* The end of an [app:NAME] section: it becomes a mount. */
static int finish_app(reading *rd)
{
    if (!rd->in_app)
        return 1;
    char why[512];
    int r = cfg_add_app(rd->s, &rd->app, why, sizeof(why));
    drop_app(rd);
    return r < 0 ? fail(rd, rd->app_line, why) : 1;
}

static int enter_section(reading *rd, const char *section)
{
    if (!finish_app(rd))
        return 0;
    snprintf(rd->section, sizeof(rd->section), "%s", section);
    if (strncmp(section, "app:", 4) == 0 && section[4]) {
        rd->in_app = true;
        rd->app_line = rd->section_line;
        rd->app.name = strdup(section + 4);
        rd->app.from_file = true;
        return 1;
    }
    if (section[0] && strcmp(section, "greenserve") != 0) {
        char why[200];
        snprintf(why, sizeof(why), "unknown section [%.150s]: expected [app:NAME]", section);
        return fail(rd, rd->section_line, why);
    }
    return 1;
}

/* flags = green[, ...] */
static int parse_flags(reading *rd, const char *value)
{
    char words[256];
    snprintf(words, sizeof(words), "%s", value);
    char *save = NULL;
    for (char *w = strtok_r(words, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
        if (strcasecmp(w, "green") != 0) {
            char why[300];
            snprintf(why, sizeof(why), "flags: unknown flag \"%.100s\" (known: green)", w);
            return fail(rd, rd->line, why);
        }
        rd->app.flags |= GS_APP_GREEN;
    }
    return 1;
}

static int app_key(reading *rd, const char *name, const char *value)
{
    char **slot = strcmp(name, "mount") == 0  ? &rd->app.prefix
                  : strcmp(name, "path") == 0 ? &rd->app.path
                  : strcmp(name, "args") == 0 ? &rd->app.args
                                              : NULL;
    if (strcmp(name, "flags") == 0)
        return parse_flags(rd, value);
    if (!slot) {
        char why[300];
        snprintf(why, sizeof(why),
                 "unknown key %.100s in [%.60s] (known: mount, path, args, flags)", name,
                 rd->section);
        return fail(rd, rd->line, why);
    }
    free(*slot);
    *slot = strdup(value);
    return *slot ? 1 : fail(rd, rd->line, "out of memory");
}

/* Keys are the long options' names; INI habit writes green_libc for
 * green-libc, so '_' is read as '-'. */
static int option_key(reading *rd, const char *name, const char *value)
{
    const char *kept = cfg_keep(rd->s, value);
    char why[512], key[64];
    if (!kept)
        return fail(rd, rd->line, "out of memory");
    snprintf(key, sizeof(key), "%s", name);
    for (char *p = key; *p; p++)
        if (*p == '_')
            *p = '-';
    if (cfg_set(rd->s, key, kept, why, sizeof(why)) < 0)
        return fail(rd, rd->line, why);
    return 1;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    reading *rd = user;
    if (strcmp(section, rd->section) != 0 && !enter_section(rd, section))
        return 0;
    return rd->in_app ? app_key(rd, name, value) : option_key(rd, name, value);
}

int cfg_load_file(cfg_settings *s, const char *path, char *err, size_t errlen)
{
    reading rd = {.s = s, .path = path, .err = err, .errlen = errlen};
    rd.f = fopen(path, "re");
    if (!rd.f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    /* A run-time switch of libinih (process-wide; we are its only user). */
    ini_stop_on_first_error = 1;
    int line = ini_parse_stream(read_line, &rd, on_key, &rd);
    fclose(rd.f);
    if (rd.rc == 0 && line > 0)
        fail(&rd, (unsigned)line, "expected NAME = VALUE or [section]");
    else if (rd.rc == 0 && line < 0)
        snprintf(err, errlen, "%s: out of memory", path), rd.rc = -ENOMEM;
    if (rd.rc == 0)
        finish_app(&rd);
    drop_app(&rd);
    return rd.rc;
}
