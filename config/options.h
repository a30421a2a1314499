/*
 * options.h -- the command line turned into one validated settings struct.
 *
 * Every option is a row of one table (name, kind, where it lands in the
 * struct, help text), so the command line, --help and a config file all go
 * through the same setter: cfg_set(settings, "max-body", "10m", ...). A new
 * option (--workers, --threads) is a new field and a new row; a config file
 * (--config, INI) is a loop calling cfg_set for each key.
 *
 * Strings in the settings point into argv (or into what the caller passed
 * to cfg_set) and are borrowed: keep them alive as long as the settings.
 */
#ifndef CFG_OPTIONS_H
#define CFG_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "http/http.h"

#define CFG_VERSION      "0.1.0"
#define CFG_DEFAULT_BIND "127.0.0.1:8080"

/* Exit status for a usage, config or plugin error (0 = clean stop). */
#define CFG_EXIT_USAGE 2

/* A listening address as written on the command line. */
typedef struct cfg_bind {
    const char *text; /* as given: "127.0.0.1:8080", "[::1]:80", "unix:/run/gs.sock" */
    bool is_unix;
    char host[256]; /* numeric address or name; "" = every address */
    char port[8];   /* decimal, "0" = any free port */
    char path[108]; /* unix socket path (sizeof sun_path) */
} cfg_bind;

/* An app: PREFIX=PATH.so[:ARGS] on the command line, or an [app:NAME]
 * section of a config file. */
typedef struct cfg_mount {
    char *prefix;   /* "/" or "/chat": normalised, no trailing slash */
    char *path;     /* the .so; "./" added when it has no '/' */
    char *args;     /* text after "PATH.so:", "" when absent */
    char *name;     /* the section's NAME, NULL from the command line */
    unsigned flags; /* GS_APP_* added to the app's own (flags = green) */
    /* --request-timeout PREFIX=TIME: 0 = the global one, GS_FOREVER = off */
    int64_t request_timeout_ms;
    bool from_file; /* a command-line mount at the same prefix replaces it */
} cfg_mount;

typedef struct cfg_settings {
    cfg_bind *binds;
    size_t nbinds;
    cfg_mount *mounts;
    size_t nmounts;
    http_limits limits;
    const char *access_log;      /* path, "-" for stdout, NULL when off */
    const char *error_log;       /* path, NULL for stderr */
    int64_t graceful_timeout_ms; /* how long a stop or a retirement waits */
    unsigned workers;            /* worker processes; 0 = one process, no master */
    unsigned threads;            /* OS threads per worker for non-green apps; 0 = none */
    bool green_libc;             /* blocking libc calls on green threads park them */
    bool reuse_port;             /* a SO_REUSEPORT socket per worker (TCP) */
    int64_t timeout_ms;          /* watchdog: a hub silent this long is killed */
    int64_t stash_after_ms;      /* gs_set_stash_after; GS_FOREVER = off */
    unsigned max_requests;       /* recycle a worker past this (+ jitter); 0 = off */
    unsigned max_memory_mb;      /* recycle a worker past this RSS; 0 = off */
    int64_t max_age_ms;          /* recycle a worker this old; GS_FOREVER = off */
    const char *user, *group;    /* the workers' identity; NULL = unchanged */
    const char *pidfile;         /* the master's pid, NULL = none */
    bool daemon;                 /* detach once serving */
    bool reload;                 /* reload when a plugin or the config file changes */
    cfg_bind status;             /* the status endpoint; status.text NULL = off */
    const char *bus;             /* channels across workers/hosts: NULL = embedded,
                                    else "redis://host:port" */
    const char *config;          /* the config file read, NULL = none */
    bool check_config;           /* validate, load the plugins, exit */
    const char **app_timeouts;   /* --request-timeout PREFIX=TIME, as given */
    size_t napp_timeouts;
    char **owned; /* strings copied from a config file */
    size_t nowned;
} cfg_settings;

enum cfg_action { CFG_RUN, CFG_HELP, CFG_VERSION_SHOWN };

/* The defaults of every option (binds and mounts empty). */
void cfg_defaults(cfg_settings *s);

/* Set one option by its long name (without "--") from its text value, as
 * the command line and a config file do. Returns 0, or -EINVAL with a
 * message naming the option in err. */
int cfg_set(cfg_settings *s, const char *name, const char *value, char *err, size_t errlen);

/* Add a mount from its PREFIX=PATH.so[:ARGS] text. One at the prefix of
 * an app from the config file replaces it. 0 or -EINVAL (err). */
int cfg_add_mount(cfg_settings *s, const char *spec, char *err, size_t errlen);

/* Add an app from its parts (copied), as a config file's [app:NAME]
 * section gives them. 0, -EINVAL or -ENOMEM (err). */
int cfg_add_app(cfg_settings *s, const cfg_mount *m, char *err, size_t errlen);

/* Keep a copy of v for as long as s (the settings borrow strings); NULL
 * when out of memory. */
const char *cfg_keep(cfg_settings *s, const char *v);

/* Read an INI file into s: keys before any section (or in [greenserve])
 * are options by their long name; [app:NAME] sections hold mount, path,
 * args and flags. Returns 0, or -errno with err naming the file, the line
 * and the reason. config/ini.c. */
int cfg_load_file(cfg_settings *s, const char *path, char *err, size_t errlen);

/* Fill s from cfg_defaults, then the --config file if one is given, then
 * argv (the command line wins: its --bind list replaces the file's, its
 * mounts replace the file's apps at the same prefix), then validate it as
 * a whole. Returns CFG_RUN, CFG_HELP / CFG_VERSION_SHOWN (the caller prints
 * cfg_usage / the version and exits 0), or -EINVAL with a message in err.
 * Uses getopt_long (resetting it): not thread-safe. */
int cfg_parse_args(cfg_settings *s, int argc, char **argv, char *err, size_t errlen);

/* Print the usage with every option and its default. */
void cfg_usage(FILE *out, const char *prog);

/* Free what cfg_parse_args / cfg_set / cfg_add_mount allocated. */
void cfg_free(cfg_settings *s);

#endif
