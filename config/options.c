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
    K_TIMEOUT,  /* int64_t ms, > 0 or "off" (GS_FOREVER) */
    K_DURATION, /* int64_t ms, >= 0 */
    K_LOG,      /* const char *: path, "-" or "off" (NULL) */
    K_PATH,     /* const char *: path */
};

typedef struct option_row {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *metavar;
    const char *help;
    const char *shown_default; /* for --help when the value is not telling */
} option_row;

#define AT(field) offsetof(cfg_settings, field)

/* Every option but --help and --version, in --help order. */
static const option_row rows[] = {
    {"bind", K_BIND, 0, "ADDR", "host:port, [v6]:port or unix:/path; repeatable"},
    {"workers", K_COUNT0, AT(workers), "N", "worker processes; 0 = one process, no master",
     "the number of CPUs"},
    {"threads", K_COUNT0, AT(threads), "M", "OS threads per worker for apps not GS_APP_GREEN"},
    {"max-uri", K_SIZE, AT(limits.max_uri), "BYTES", "longest request-target; past it 414"},
    {"max-header-bytes", K_SIZE, AT(limits.max_header_bytes), "BYTES",
     "request line and headers; past it 431"},
    {"max-headers", K_COUNT, AT(limits.max_headers), "N", "header fields; past it 431"},
    {"max-body", K_SIZE64, AT(limits.max_body), "BYTES", "request body; past it 413"},
    {"header-timeout", K_TIMEOUT, AT(limits.header_timeout_ms), "TIME",
     "to receive a request head; past it 408"},
    {"body-timeout", K_TIMEOUT, AT(limits.body_timeout_ms), "TIME",
     "each read of a request body; then 408"},
    {"keepalive-timeout", K_TIMEOUT, AT(limits.keepalive_timeout_ms), "TIME",
     "idle time before a kept-alive connection closes"},
    {"write-timeout", K_TIMEOUT, AT(limits.write_timeout_ms), "TIME", "each write of a response"},
    {"max-conns", K_COUNT, AT(limits.max_conns), "N", "connections per worker; past it 503"},
    {"access-log", K_LOG, AT(access_log), "FILE|-|off", "access log; '-' is stdout"},
    {"error-log", K_PATH, AT(error_log), "FILE", "error log, appended to"},
    {"graceful-timeout", K_DURATION, AT(graceful_timeout_ms), "TIME",
     "time requests get to finish on SIGTERM"},
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

static const char *(*const setters[])(void *f, const char *v) = {
    [K_SIZE] = set_size,     [K_SIZE64] = set_size64,   [K_COUNT] = set_count,
    [K_COUNT0] = set_count0, [K_TIMEOUT] = set_timeout, [K_DURATION] = set_duration,
    [K_LOG] = set_log,       [K_PATH] = set_path,
};

static int set_row(cfg_settings *s, const option_row *r, const char *v, char *err, size_t n)
{
    if (r->kind == K_BIND)
        return add_bind(s, v, err, n);
    const char *why = setters[r->kind](field(s, r), v);
    return why ? bad_value(err, n, r->name, v, why) : 0;
}

int cfg_set(cfg_settings *s, const char *name, const char *value, char *err, size_t errlen)
{
    for (size_t i = 0; i < NROWS; i++)
        if (strcmp(rows[i].name, name) == 0)
            return set_row(s, &rows[i], value, err, errlen);
    snprintf(err, errlen, "unknown option %s", name);
    return -EINVAL;
}

void cfg_defaults(cfg_settings *s)
{
    memset(s, 0, sizeof(*s));
    http_limits_default(&s->limits);
    s->graceful_timeout_ms = 30000;
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
    cfg_mount *grown = realloc(s->mounts, (s->nmounts + 1) * sizeof(*grown));
    if (!grown || !m.prefix || !m.path || !m.args) {
        free(m.prefix), free(m.path), free(m.args);
        snprintf(err, errlen, "mount %s: out of memory", spec);
        return -ENOMEM;
    }
    s->mounts = grown;
    s->mounts[s->nmounts++] = m;
    return 0;
}

/* ---- the whole ---- */

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
        o[i] = (struct option){rows[i].name, required_argument, NULL, OPT_ROW + (int)i};
    o[NROWS] = (struct option){"help", no_argument, NULL, OPT_HELP};
    o[NROWS + 1] = (struct option){"version", no_argument, NULL, OPT_VERSION};
    o[NROWS + 2] = (struct option){0};
}

int cfg_parse_args(cfg_settings *s, int argc, char **argv, char *err, size_t errlen)
{
    struct option opts[NROWS + 3];
    long_options(opts);
    cfg_defaults(s);
    opterr = 0; /* we word the errors ourselves */
    optind = 0; /* and start afresh each call */
    int c, r = 0;
    while (r == 0 && (c = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
        if (c == OPT_HELP)
            return CFG_HELP;
        if (c == OPT_VERSION)
            return CFG_VERSION_SHOWN;
        if (c >= OPT_ROW)
            r = set_row(s, &rows[c - OPT_ROW], optarg, err, errlen);
        else
            r = bad_option(argv[optind - 1], c == ':' ? "needs a value" : "unknown option", err,
                           errlen);
    }
    for (int i = optind; r == 0 && i < argc; i++)
        r = cfg_add_mount(s, argv[i], err, errlen);
    return r < 0 ? r : validate(s, err, errlen);
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
    case K_TIMEOUT:
    case K_DURATION:
        show_ms(buf, n, *(int64_t *)f);
        break;
    case K_LOG:
        snprintf(buf, n, "off");
        break;
    case K_PATH:
        snprintf(buf, n, "stderr");
        break;
    }
}

void cfg_usage(FILE *out, const char *prog)
{
    cfg_settings d;
    cfg_defaults(&d);
    fprintf(out,
            "usage: %s [options] PREFIX=PATH.so[:ARGS] ...\n\n"
            "Serve HTTP/1.1 with the apps given, each mounted at a path prefix (the\n"
            "longest matching prefix wins; \"/\" catches the rest). ARGS goes to the\n"
            "app's init. SCRIPT_NAME is the prefix, PATH_INFO the rest of the path.\n"
            "Port 0 binds any free port (the log names it). Sizes take k, m, g\n"
            "suffixes; times are seconds (2.5, 2s) or 500ms.\n\n"
            "options:\n",
            prog);
    for (size_t i = 0; i < NROWS; i++) {
        char opt[64], def[64];
        snprintf(opt, sizeof(opt), "--%s %s", rows[i].name, rows[i].metavar);
        show_default(&d, &rows[i], def, sizeof(def));
        /* Keep within 80 columns: the default goes below a long help. */
        bool fits = 2 + 25 + 1 + strlen(rows[i].help) + 11 + strlen(def) <= 80;
        fprintf(out, "  %-25s %s%s(default %s)\n", opt, rows[i].help,
                fits ? " " : "\n                            ", def);
    }
    fprintf(out, "  %-25s %s\n  %-25s %s\n\n", "-h, --help", "show this help and exit",
            "-V, --version", "show the version and exit");
    fprintf(out, "Exit status: 0 after a clean stop, 2 when the command line, a log file,\n"
                 "an address or a plugin is refused at start-up.\n");
}

void cfg_free(cfg_settings *s)
{
    for (size_t i = 0; i < s->nmounts; i++) {
        free(s->mounts[i].prefix);
        free(s->mounts[i].path);
        free(s->mounts[i].args);
    }
    free(s->mounts);
    free(s->binds);
    s->mounts = NULL;
    s->binds = NULL;
    s->nmounts = s->nbinds = 0;
}
