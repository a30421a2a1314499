/*
 * options.c -- the option table, value parsers, argv and --help.
 */
#include "config/options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* How a value is parsed and where it lands. */
enum kind {
    K_BIND,     /* append a cfg_bind */
    K_SIZE,     /* size_t bytes, k/m/g suffixes */
    K_SIZE64,   /* int64_t bytes */
    K_COUNT,    /* unsigned, > 0 */
    K_COUNT0,   /* unsigned, >= 0 */
    K_LIMIT,    /* unsigned, > 0, or 0 / "off" for none */
    K_TIMEOUT,  /* int64_t ms, > 0 or "off" (GS_FOREVER) */
    K_DURATION, /* int64_t ms, >= 0 */
    K_LOG,      /* const char *: path, "-" or "off" (NULL) */
    K_PATH,     /* const char *: path */
    K_NAME,     /* const char *: a user or group name (or number) */
    K_FLAG,     /* bool: no value on the command line; yes/no in a file */
    K_STATUS,   /* cfg_bind: an address, or "off" */
    K_BUS,      /* const char *: NULL for "embedded", or redis://host:port */
    K_REQUEST,  /* TIME for every app, or PREFIX=TIME for one */
};

typedef struct option_row {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *metavar;
    const char *help;
    const char *shown_default; /* for --help when the value is not telling */
    bool cli_only;             /* refused in a config file */
} option_row;

#define AT(field) offsetof(cfg_settings, field)

/* Every option but --help and --version, in --help order. */
static const option_row rows[] = {
    {"bind", K_BIND, 0, "ADDR", "host:port, [v6]:port or unix:/path; repeatable"},
    {"config", K_PATH, AT(config), "FILE", "read options and [app:NAME] sections (INI)", "none",
     true},
    {"check-config", K_FLAG, AT(check_config), NULL,
     "check the options, load the plugins, then exit", "", true},
    {"workers", K_COUNT0, AT(workers), "N", "worker processes; 0 = one process, no master",
     "the number of CPUs"},
    {"threads", K_COUNT0, AT(threads), "M", "OS threads per worker for apps not GS_APP_GREEN"},
    {"green-libc", K_FLAG, AT(green_libc), NULL, "blocking libc calls park the green thread"},
    {"reuse-port", K_FLAG, AT(reuse_port), NULL, "a SO_REUSEPORT socket per worker (TCP)"},
    {"timeout", K_TIMEOUT, AT(timeout_ms), "TIME", "kill a worker whose hub stalls this long"},
    {"stash-after", K_TIMEOUT, AT(stash_after_ms), "TIME",
     "stash the stack of a thread parked in a long wait this long"},
    {"graceful-timeout", K_DURATION, AT(graceful_timeout_ms), "TIME",
     "time requests get to finish on stop/reload/recycle"},
    {"max-requests", K_LIMIT, AT(max_requests), "N",
     "replace a worker after N requests (+0-10% jitter)"},
    {"max-memory", K_LIMIT, AT(max_memory_mb), "MB", "replace a worker whose RSS passes MB"},
    {"max-age", K_TIMEOUT, AT(max_age_ms), "TIME", "replace a worker this old"},
    {"user", K_NAME, AT(user), "NAME", "workers run as this user (start as root)", "unchanged"},
    {"group", K_NAME, AT(group), "NAME", "workers run with this group", "the user's"},
    {"pidfile", K_PATH, AT(pidfile), "FILE", "write the master's pid there", "none"},
    {"daemon", K_FLAG, AT(daemon), NULL, "detach from the terminal once serving"},
    {"reload", K_FLAG, AT(reload), NULL, "reload when a plugin or the config file changes"},
    {"status", K_STATUS, AT(status), "ADDR", "serve JSON status at /, Prometheus at /metrics"},
    {"bus", K_BUS, AT(bus), "embedded|redis://HOST:PORT",
     "carry channels between workers (the master), or hosts (Redis)", "embedded"},
    {"max-uri", K_SIZE, AT(limits.max_uri), "BYTES", "longest request-target; past it 414"},
    {"max-header-bytes", K_SIZE, AT(limits.max_header_bytes), "BYTES",
     "request line and headers; past it 431"},
    {"max-headers", K_COUNT, AT(limits.max_headers), "N", "header fields; past it 431"},
    {"max-body", K_SIZE64, AT(limits.max_body), "BYTES", "request body; past it 413"},
    {"header-timeout", K_TIMEOUT, AT(limits.header_timeout_ms), "TIME",
     "to receive a whole request head; past it 408"},
    {"body-timeout", K_TIMEOUT, AT(limits.body_timeout_ms), "TIME",
     "waiting for a request body, in all (+1 s a KiB); then 408"},
    {"keepalive-timeout", K_TIMEOUT, AT(limits.keepalive_timeout_ms), "TIME",
     "idle time before a kept-alive connection closes"},
    {"write-timeout", K_TIMEOUT, AT(limits.write_timeout_ms), "TIME", "each write of a response"},
    {"request-timeout", K_REQUEST, AT(limits.request_timeout_ms), "[PREFIX=]TIME",
     "cancel a handler running longer (504); long waits exempt; repeatable", "off"},
    {"max-conns", K_COUNT, AT(limits.max_conns), "N", "connections per worker; past it 503"},
    {"access-log", K_LOG, AT(access_log), "FILE|-|off", "access log; '-' is stdout"},
    {"error-log", K_PATH, AT(error_log), "FILE", "error log, appended to", "stderr"},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void *field(cfg_settings *s, const option_row *r)
{
    return (char *)s + r->offset;
}

/* "--max-body 1x: expected ..." */
static int bad_value(char *err, size_t n, const char *name, const char *value, const char *why)
{
    snprintf(err, n, "--%s %s: %s", name, value, why);
    return -EINVAL;
}

/* ---- value parsers: 0 and the value, or -EINVAL ---- */

static int parse_count(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end || *v == '-' || errno || n < min || n > max)
        return -EINVAL;
    *out = n;
    return 0;
}

static int parse_size(const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *v == '-' || errno)
        return -EINVAL;
    unsigned shift = 0;
    if (*end && strchr("kK", *end))
        shift = 10;
    else if (*end && strchr("mM", *end))
        shift = 20;
    else if (*end && strchr("gG", *end))
        shift = 30;
    if (shift)
        end++;
    if (*end || n > (max >> shift))
        return -EINVAL;
    *out = (uint64_t)n << shift;
    return 0;
}

/* "30", "1.5", "2s" are seconds, "500ms" milliseconds. */
static int parse_duration(const char *v, int64_t *ms)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || !isfinite(d) || d < 0)
        return -EINVAL;
    if (strcmp(end, "ms") == 0)
        d /= 1000;
    else if (*end && strcmp(end, "s") != 0)
        return -EINVAL;
    if (d > 1e9)
        return -EINVAL;
    *ms = (int64_t)llround(d * 1000);
    return 0;
}

/* ---- binds ---- */

static int parse_port(const char *p, cfg_bind *b)
{
    char *end;
    errno = 0;
    long n = strtol(p, &end, 10);
    if (end == p || *end || errno || n < 0 || n > 65535)
        return -EINVAL;
    snprintf(b->port, sizeof(b->port), "%ld", n);
    return 0;
}

static int copy_host(cfg_bind *b, const char *host, size_t len)
{
    if (len >= sizeof(b->host))
        return -EINVAL;
    memcpy(b->host, host, len);
    b->host[len] = '\0';
    if (strcmp(b->host, "*") == 0)
        b->host[0] = '\0';
    return 0;
}

static int parse_bind(const char *v, cfg_bind *b, const char **why)
{
    memset(b, 0, sizeof(*b));
    b->text = v;
    if (strncmp(v, "unix:", 5) == 0) {
        b->is_unix = true;
        size_t len = strlen(v + 5);
        *why = len == 0 ? "no socket path after unix:" : "socket path too long";
        if (len == 0 || len >= sizeof(b->path))
            return -EINVAL;
        memcpy(b->path, v + 5, len + 1);
        return 0;
    }
    const char *colon;
    *why = "expected host:port, [v6]:port or unix:/path";
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':' || copy_host(b, v + 1, (size_t)(close - v - 1)) < 0)
            return -EINVAL;
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon || memchr(v, ':', (size_t)(colon - v)))
            return -EINVAL; /* none, or a bare IPv6 address */
        if (copy_host(b, v, (size_t)(colon - v)) < 0)
            return -EINVAL;
    }
    *why = "the port must be a number from 0 to 65535";
    return parse_port(colon + 1, b);
}

static int add_bind(cfg_settings *s, const char *v, char *err, size_t n)
{
    cfg_bind b;
    const char *why;
    if (parse_bind(v, &b, &why) < 0)
        return bad_value(err, n, "bind", v, why);
    cfg_bind *grown = realloc(s->binds, (s->nbinds + 1) * sizeof(*grown));
    if (!grown)
        return bad_value(err, n, "bind", v, "out of memory");
    s->binds = grown;
    s->binds[s->nbinds++] = b;
    return 0;
}

/* ---- setting one option ---- */

/* Setters: parse v into the field f; NULL, or why v is refused. */

static const char *set_size(void *f, const char *v)
{
    uint64_t u;
    if (parse_size(v, SIZE_MAX, &u) < 0)
        return "expected a byte count such as 8192, 64k or 10m";
    *(size_t *)f = (size_t)u;
    return NULL;
}

static const char *set_size64(void *f, const char *v)
{
    uint64_t u;
    if (parse_size(v, INT64_MAX, &u) < 0)
        return "expected a byte count such as 8192, 64k or 10m";
    *(int64_t *)f = (int64_t)u;
    return NULL;
}

static const char *set_count(void *f, const char *v)
{
    uint64_t u;
    if (parse_count(v, 1, UINT32_MAX, &u) < 0)
        return "expected a number > 0";
    *(unsigned *)f = (unsigned)u;
    return NULL;
}

static const char *set_count0(void *f, const char *v)
{
    uint64_t u;
    if (parse_count(v, 0, UINT32_MAX, &u) < 0)
        return "expected a number >= 0";
    *(unsigned *)f = (unsigned)u;
    return NULL;
}

static const char *set_limit(void *f, const char *v)
{
    uint64_t u = 0;
    if (strcmp(v, "off") != 0 && parse_count(v, 0, UINT32_MAX, &u) < 0)
        return "expected a number, 0 or off for no limit";
    *(unsigned *)f = (unsigned)u;
    return NULL;
}

static const char *set_timeout(void *f, const char *v)
{
    int64_t ms = GS_FOREVER;
    if (strcmp(v, "off") != 0 && (parse_duration(v, &ms) < 0 || ms == 0))
        return "expected a time > 0 such as 30, 2.5s or 500ms, or off";
    *(int64_t *)f = ms;
    return NULL;
}

static const char *set_duration(void *f, const char *v)
{
    if (parse_duration(v, f) < 0)
        return "expected a time such as 30, 2.5s or 500ms";
    return NULL;
}

static const char *set_log(void *f, const char *v)
{
    *(const char **)f = strcmp(v, "off") == 0 ? NULL : v;
    return NULL;
}

static const char *set_path(void *f, const char *v)
{
    if (!*v)
        return "empty path";
    *(const char **)f = v;
    return NULL;
}

static const char *set_name(void *f, const char *v)
{
    if (!*v)
        return "empty name";
    *(const char **)f = v;
    return NULL;
}

/* The command line passes "yes" for a flag given. */
static const char *set_flag(void *f, const char *v)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
                                                                                "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
            *(bool *)f = strcasecmp(v, yes[i]) == 0;
            return NULL;
        }
    }
    return "expected yes or no";
}

static const char *set_status(void *f, const char *v)
{
    cfg_bind *b = f;
    const char *why;
    if (strcmp(v, "off") == 0)
        memset(b, 0, sizeof(*b));
    else if (parse_bind(v, b, &why) < 0)
        return why;
    return NULL;
}

/* "embedded" (NULL), or redis://HOST:PORT with a port in range. */
static const char *set_bus(void *f, const char *v)
{
    if (strcmp(v, "embedded") == 0) {
        *(const char **)f = NULL;
        return NULL;
    }
    const char *host = strncmp(v, "redis://", 8) == 0 ? v + 8 : NULL;
    const char *colon = host ? strrchr(host, ':') : NULL;
    uint64_t port;
    if (!colon || colon == host || parse_count(colon + 1, 1, 65535, &port) < 0)
        return "expected embedded or redis://host:port";
    *(const char **)f = v;
    return NULL;
}

static const char *(*const setters[])(void *f, const char *v) = {
    [K_SIZE] = set_size,         [K_SIZE64] = set_size64, [K_COUNT] = set_count,
    [K_COUNT0] = set_count0,     [K_LIMIT] = set_limit,   [K_NAME] = set_name,
    [K_FLAG] = set_flag,         [K_STATUS] = set_status, [K_TIMEOUT] = set_timeout,
    [K_DURATION] = set_duration, [K_LOG] = set_log,       [K_PATH] = set_path,
    [K_BUS] = set_bus,
};

/* "30s" sets the global limit; "/api=5s" (or "/api=off") one app's, kept
 * as given until validate() finds its mount (which may come later). */
static int set_request_timeout(cfg_settings *s, const option_row *r, const char *v, char *err,
                               size_t n)
{
    const char *eq = strchr(v, '=');
    int64_t ms;
    const char *why = set_timeout(&ms, eq ? eq + 1 : v);
    if (!why && eq && v[0] != '/')
        why = "expected TIME, or PREFIX=TIME with PREFIX starting with '/'";
    if (why)
        return bad_value(err, n, r->name, v, why);
    if (!eq) {
        *(int64_t *)field(s, r) = ms;
        return 0;
    }
    const char **grown = realloc(s->app_timeouts, (s->napp_timeouts + 1) * sizeof(*grown));
    if (!grown)
        return bad_value(err, n, r->name, v, "out of memory");
    s->app_timeouts = grown;
    s->app_timeouts[s->napp_timeouts++] = v;
    return 0;
}

static int set_row(cfg_settings *s, const option_row *r, const char *v, char *err, size_t n)
{
    if (r->kind == K_BIND)
        return add_bind(s, v, err, n);
    if (r->kind == K_REQUEST)
        return set_request_timeout(s, r, v, err, n);
    const char *why = setters[r->kind](field(s, r), v);
    return why ? bad_value(err, n, r->name, v, why) : 0;
}

int cfg_set(cfg_settings *s, const char *name, const char *value, char *err, size_t errlen)
{
    for (size_t i = 0; i < NROWS; i++) {
        if (strcmp(rows[i].name, name) != 0)
            continue;
        if (rows[i].cli_only) {
            snprintf(err, errlen, "%s: only on the command line (--%s)", name, name);
            return -EINVAL;
        }
        return set_row(s, &rows[i], value, err, errlen);
    }
    snprintf(err, errlen, "unknown option %s", name);
    return -EINVAL;
}

const char *cfg_keep(cfg_settings *s, const char *v)
{
    char **grown = realloc(s->owned, (s->nowned + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    s->owned = grown;
    return s->owned[s->nowned] = strdup(v), s->owned[s->nowned++];
}

void cfg_defaults(cfg_settings *s)
{
    memset(s, 0, sizeof(*s));
    http_limits_default(&s->limits);
    s->graceful_timeout_ms = 30000;
    s->timeout_ms = 30000;
    s->stash_after_ms = 1000;
    s->max_age_ms = GS_FOREVER;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->workers = cpus > 0 ? (unsigned)cpus : 1;
}

/* ---- mounts ---- */

/* "/" stays; "/a/b/" becomes "/a/b". */
static char *normalise_prefix(const char *p, size_t len)
{
    while (len > 1 && p[len - 1] == '/')
        len--;
    return strndup(p, len);
}

/* PATH.so[:ARGS]: the args start at the first ':' after ".so", so a path
 * may itself contain ':' as long as it ends in ".so". */
static void split_path_args(const char *spec, char **path, char **args)
{
    const char *so = strstr(spec, ".so:");
    size_t plen = so ? (size_t)(so + 3 - spec) : strlen(spec);
    bool bare = !memchr(spec, '/', plen);
    *path = malloc(plen + (bare ? 3 : 1));
    if (*path)
        snprintf(*path, plen + (bare ? 3 : 1), "%s%.*s", bare ? "./" : "", (int)plen, spec);
    *args = strdup(so ? so + 4 : "");
}

static void free_mount(cfg_mount *m)
{
    free(m->prefix), free(m->path), free(m->args), free(m->name);
}

/* Append m (taking its strings), or replace the app from a config file
 * mounted at the same prefix: the command line wins. */
static int put_mount(cfg_settings *s, cfg_mount *m)
{
    for (size_t i = 0; i < s->nmounts; i++) {
        if (s->mounts[i].from_file && !m->from_file &&
            strcmp(s->mounts[i].prefix, m->prefix) == 0) {
            free_mount(&s->mounts[i]);
            s->mounts[i] = *m;
            return 0;
        }
    }
    cfg_mount *grown = realloc(s->mounts, (s->nmounts + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    s->mounts = grown;
    s->mounts[s->nmounts++] = *m;
    return 0;
}

int cfg_add_mount(cfg_settings *s, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (!eq || spec[0] != '/' || !eq[1]) {
        snprintf(err, errlen, "mount %s: expected PREFIX=PATH.so[:ARGS], PREFIX starting with '/'",
                 spec);
        return -EINVAL;
    }
    cfg_mount m = {.prefix = normalise_prefix(spec, (size_t)(eq - spec))};
    split_path_args(eq + 1, &m.path, &m.args);
    if (!m.prefix || !m.path || !m.args || put_mount(s, &m) < 0) {
        free_mount(&m);
        snprintf(err, errlen, "mount %s: out of memory", spec);
        return -ENOMEM;
    }
    return 0;
}

int cfg_add_app(cfg_settings *s, const cfg_mount *app, char *err, size_t errlen)
{
    if (!app->prefix || app->prefix[0] != '/' || !app->path || !app->path[0]) {
        snprintf(err, errlen, "app %s: needs mount = /PREFIX and path = FILE.so",
                 app->name ? app->name : "?");
        return -EINVAL;
    }
    bool bare = !strchr(app->path, '/');
    cfg_mount m = {.prefix = normalise_prefix(app->prefix, strlen(app->prefix)),
                   .args = strdup(app->args ? app->args : ""),
                   .name = app->name ? strdup(app->name) : NULL,
                   .flags = app->flags,
                   .from_file = app->from_file};
    if (asprintf(&m.path, "%s%s", bare ? "./" : "", app->path) < 0)
        m.path = NULL;
    if (!m.prefix || !m.path || !m.args || (app->name && !m.name) || put_mount(s, &m) < 0) {
        free_mount(&m);
        snprintf(err, errlen, "app %s: out of memory", app->name ? app->name : "?");
        return -ENOMEM;
    }
    return 0;
}

/* ---- the whole ---- */

/* Each --request-timeout PREFIX=TIME onto the app mounted there. */
static int apply_app_timeouts(cfg_settings *s, char *err, size_t n)
{
    for (size_t i = 0; i < s->napp_timeouts; i++) {
        const char *v = s->app_timeouts[i], *eq = strchr(v, '=');
        char *prefix = normalise_prefix(v, (size_t)(eq - v));
        cfg_mount *m = NULL;
        for (size_t j = 0; prefix && j < s->nmounts && !m; j++)
            if (strcmp(s->mounts[j].prefix, prefix) == 0)
                m = &s->mounts[j];
        free(prefix);
        if (!m)
            return bad_value(err, n, "request-timeout", v, "no app is mounted there");
        set_timeout(&m->request_timeout_ms, eq + 1);
    }
    return 0;
}

static int validate(cfg_settings *s, char *err, size_t n)
{
    if (s->nmounts == 0) {
        snprintf(err, n, "no app mounted: give at least one PREFIX=PATH.so");
        return -EINVAL;
    }
    for (size_t i = 0; i < s->nmounts; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->mounts[i].prefix, s->mounts[j].prefix) == 0) {
                snprintf(err, n, "two apps mounted at %s", s->mounts[i].prefix);
                return -EINVAL;
            }
    if (apply_app_timeouts(s, err, n) < 0)
        return -EINVAL;
    if (s->nbinds == 0)
        return add_bind(s, CFG_DEFAULT_BIND, err, n);
    return 0;
}

static int bad_option(const char *arg, const char *why, char *err, size_t n)
{
    snprintf(err, n, "%s: %s", arg, why);
    return -EINVAL;
}

enum { OPT_HELP = 'h', OPT_VERSION = 'V', OPT_ROW = 256 };

static void long_options(struct option *o)
{
    for (size_t i = 0; i < NROWS; i++)
        o[i] =
            (struct option){rows[i].name, rows[i].kind == K_FLAG ? no_argument : required_argument,
                            NULL, OPT_ROW + (int)i};
    o[NROWS] = (struct option){"help", no_argument, NULL, OPT_HELP};
    o[NROWS + 1] = (struct option){"version", no_argument, NULL, OPT_VERSION};
    o[NROWS + 2] = (struct option){0};
}

/* One pass of getopt over argv. Rows are applied only when apply is set;
 * the first pass only finds --config, --help, --version and the options
 * that do not exist, so they are reported before the file is read. */
static int getopt_pass(cfg_settings *s, int argc, char **argv, bool apply, char *err, size_t n)
{
    struct option opts[NROWS + 3];
    long_options(opts);
    opterr = 0; /* we word the errors ourselves */
    optind = 0; /* and start afresh each call */
    int c, r = 0;
    bool cli_binds = false;
    while (r == 0 && (c = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
        if (c == OPT_HELP)
            return CFG_HELP;
        if (c == OPT_VERSION)
            return CFG_VERSION_SHOWN;
        if (c < OPT_ROW) {
            r = bad_option(argv[optind - 1], c == ':' ? "needs a value" : "unknown option", err, n);
            continue;
        }
        const option_row *row = &rows[c - OPT_ROW];
        if (!apply && row->offset == AT(config))
            r = set_row(s, row, optarg, err, n);
        if (!apply)
            continue;
        if (row->kind == K_BIND && !cli_binds) /* the command line's list replaces the file's */
            s->nbinds = 0, cli_binds = true;
        r = set_row(s, row, row->kind == K_FLAG ? "yes" : optarg, err, n);
    }
    for (int i = optind; apply && r == 0 && i < argc; i++)
        r = cfg_add_mount(s, argv[i], err, n);
    return r;
}

int cfg_parse_args(cfg_settings *s, int argc, char **argv, char *err, size_t errlen)
{
    cfg_defaults(s);
    int r = getopt_pass(s, argc, argv, false, err, errlen);
    if (r == 0 && s->config)
        r = cfg_load_file(s, s->config, err, errlen);
    if (r == 0)
        r = getopt_pass(s, argc, argv, true, err, errlen);
    return r != 0 ? r : validate(s, err, errlen);
}

/* ---- --help ---- */

static void show_bytes(char *buf, size_t n, uint64_t v)
{
    const char *unit[] = {"", "k", "m", "g"};
    int u = 0;
    while (u < 3 && v && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    snprintf(buf, n, "%llu%s", (unsigned long long)v, unit[u]);
}

static void show_ms(char *buf, size_t n, int64_t ms)
{
    if (ms == GS_FOREVER)
        snprintf(buf, n, "off");
    else if (ms % 1000 == 0)
        snprintf(buf, n, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, n, "%lldms", (long long)ms);
}

static void show_default(cfg_settings *d, const option_row *r, char *buf, size_t n)
{
    void *f = field(d, r);
    if (r->shown_default) {
        snprintf(buf, n, "%s", r->shown_default);
        return;
    }
    switch (r->kind) {
    case K_BIND:
        snprintf(buf, n, "%s", CFG_DEFAULT_BIND);
        break;
    case K_SIZE:
        show_bytes(buf, n, *(size_t *)f);
        break;
    case K_SIZE64:
        show_bytes(buf, n, (uint64_t) * (int64_t *)f);
        break;
    case K_COUNT:
    case K_COUNT0:
        snprintf(buf, n, "%u", *(unsigned *)f);
        break;
    case K_LIMIT:
        if (*(unsigned *)f == 0)
            snprintf(buf, n, "off");
        else
            snprintf(buf, n, "%u", *(unsigned *)f);
        break;
    case K_FLAG:
        snprintf(buf, n, "%s", *(bool *)f ? "on" : "off");
        break;
    case K_STATUS:
    case K_NAME:
    case K_REQUEST:
        snprintf(buf, n, "off");
        break;
    case K_TIMEOUT:
    case K_DURATION:
        show_ms(buf, n, *(int64_t *)f);
        break;
    case K_LOG:
    case K_PATH:
    case K_BUS:
        snprintf(buf, n, "off");
        break;
    }
}

void cfg_usage(FILE *out, const char *prog)
{
    cfg_settings d;
    cfg_defaults(&d);
    fprintf(out,
            "usage: %s [options] PREFIX=PATH.so[:ARGS] ...\n"
            "       %s new-app NAME   (write NAME.c and a Makefile to start an app)\n\n"
            "Serve HTTP/1.1 with the apps given, each mounted at a path prefix (the\n"
            "longest matching prefix wins; \"/\" catches the rest). ARGS goes to the\n"
            "app's init. SCRIPT_NAME is the prefix, PATH_INFO the rest of the path.\n"
            "Port 0 binds any free port (the log names it). Sizes take k, m, g\n"
            "suffixes; times are seconds (2.5, 2s) or 500ms.\n\n"
            "options:\n",
            prog, prog);
    for (size_t i = 0; i < NROWS; i++) {
        char opt[64], def[64];
        snprintf(opt, sizeof(opt), "--%s%s%s", rows[i].name, rows[i].metavar ? " " : "",
                 rows[i].metavar ? rows[i].metavar : "");
        show_default(&d, &rows[i], def, sizeof(def));
        if (!def[0]) { /* an action: no default to show */
            fprintf(out, "  %-25s %s\n", opt, rows[i].help);
            continue;
        }
        /* Keep within 80 columns: the default goes below a long help. */
        bool fits = 2 + 25 + 1 + strlen(rows[i].help) + 11 + strlen(def) <= 80;
        fprintf(out, "  %-25s %s%s(default %s)\n", opt, rows[i].help,
                fits ? " " : "\n                            ", def);
    }
    fprintf(out, "  %-25s %s\n  %-25s %s\n\n", "-h, --help", "show this help and exit",
            "-V, --version", "show the version and exit");
    fprintf(out, "A config file (--config) takes every option above as NAME = VALUE, and\n"
                 "[app:NAME] sections with mount = PREFIX, path = FILE.so, args and flags;\n"
                 "the command line wins over it.\n\n"
                 "Signals to the master: TERM or INT stop gracefully (a second one: at once),\n"
                 "QUIT stops at once, HUP reloads the config file and the plugins into a new\n"
                 "generation of workers, TTIN / TTOU add / retire a worker, USR1 reopens the\n"
                 "log files, USR2 runs the greenserve binary anew on the same sockets (the\n"
                 "old master retires once the new one serves).\n\n"
                 "Exit status: 0 after a clean stop, 2 when the command line, the config\n"
                 "file, a log file, an address or a plugin is refused at start-up.\n");
}

void cfg_free(cfg_settings *s)
{
    for (size_t i = 0; i < s->nmounts; i++)
        free_mount(&s->mounts[i]);
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->mounts);
    free(s->binds);
    free(s->owned);
    free(s->app_timeouts);
    s->app_timeouts = NULL;
    s->napp_timeouts = 0;
    s->mounts = NULL;
    s->binds = NULL;
    s->owned = NULL;
    s->nmounts = s->nbinds = s->nowned = 0;
}
