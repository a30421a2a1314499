/*
 * privs.c -- looking up and assuming the workers' identity.
 */
#include "server/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* A decimal id, or -1. */
static long numeric(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return *s && !*end && !errno && v >= 0 ? v : -1;
}

static int lookup_user(srv_identity *id, const char *name, char *err, size_t n)
{
    struct passwd *pw = getpwnam(name);
    long num = numeric(name);
    if (!pw && num >= 0)
        pw = getpwuid((uid_t)num);
    if (!pw && num < 0) {
        snprintf(err, n, "--user %s: no such user", name);
        return -ENOENT;
    }
    id->uid = pw ? pw->pw_uid : (uid_t)num;
    id->gid = pw ? pw->pw_gid : (gid_t)-1;
    snprintf(id->user, sizeof(id->user), "%s", pw ? pw->pw_name : "");
    return 0;
}

static int lookup_group(srv_identity *id, const char *name, char *err, size_t n)
{
    struct group *gr = getgrnam(name);
    long num = numeric(name);
    if (!gr && num < 0) {
        snprintf(err, n, "--group %s: no such group", name);
        return -ENOENT;
    }
    id->gid = gr ? gr->gr_gid : (gid_t)num;
    return 0;
}

int srv_identity_resolve(srv_identity *id, const cfg_settings *s, char *err, size_t errlen)
{
    *id = (srv_identity){.change = s->user || s->group, .uid = (uid_t)-1, .gid = (gid_t)-1};
    int r = 0;
    if (s->user)
        r = lookup_user(id, s->user, err, errlen);
    if (r == 0 && s->group)
        r = lookup_group(id, s->group, err, errlen);
    if (r == 0 && id->change && geteuid() != 0 &&
        ((id->uid != (uid_t)-1 && id->uid != geteuid()) ||
         (id->gid != (gid_t)-1 && id->gid != getegid()))) {
        snprintf(err, errlen, "--user/--group: changing identity needs root (running as uid %d)",
                 (int)geteuid());
        r = -EPERM;
    }
    return r;
}

static int groups(const srv_identity *id)
{
    if (id->user[0])
        return initgroups(id->user, id->gid);
    return setgroups(1, &id->gid);
}

int srv_identity_assume(const srv_identity *id, char *err, size_t errlen)
{
    if (!id->change || geteuid() != 0)
        return 0; /* nothing to do, or (checked at start-up) already that user */
    const char *step = NULL;
    if (id->gid != (gid_t)-1 && groups(id) < 0)
        step = "setgroups";
    else if (id->gid != (gid_t)-1 && setresgid(id->gid, id->gid, id->gid) < 0)
        step = "setgid";
    else if (id->uid != (uid_t)-1 && setresuid(id->uid, id->uid, id->uid) < 0)
        step = "setuid";
    if (step) {
        int e = errno;
        snprintf(err, errlen, "dropping privileges: %s: %s", step, strerror(e));
        return -e;
    }
    prctl(PR_SET_DUMPABLE, 1);
    return 0;
}
