/*
 * date.c -- per-second cache of the Date header and the log timestamp.
 *
 * time(2) is a vDSO call, so checking the second costs nothing; formatting
 * (gmtime + a few copies) happens once a second per hub. Day and month
 * names come from our own tables: strftime would follow the locale, and
 * HTTP dates are always English.
 */
#include "http/date.h"

#include <stdio.h>
#include <time.h>

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

typedef struct date_cache {
    time_t second;
    char lines[80];
    size_t lines_len;
    char clf[40];
    size_t clf_len;
} date_cache;

static __thread date_cache cache = {.second = -1};

static void refresh(date_cache *d, time_t now)
{
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = snprintf(d->lines, sizeof(d->lines),
                     HTTP_SERVER_LINE "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                     days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
    d->lines_len = (size_t)n;
    n = snprintf(d->clf, sizeof(d->clf), "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday,
                 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    d->clf_len = (size_t)n;
    d->second = now;
}

static date_cache *current(void)
{
    time_t now = time(NULL);
    if (now != cache.second)
        refresh(&cache, now);
    return &cache;
}

const char *http_date_lines(size_t *len)
{
    date_cache *d = current();
    *len = d->lines_len;
    return d->lines;
}

const char *http_clf_time(size_t *len)
{
    date_cache *d = current();
    *len = d->clf_len;
    return d->clf;
}
