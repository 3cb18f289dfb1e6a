#include "runtime/schedule.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

//  Days since 1970-01-01 of a civil date (proleptic Gregorian): no timegm,
//  no TZ variable, no locale.
static int64_t
s_days_from_civil (int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
s_digits (const char **p, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit ((unsigned char) (*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += count;
    *value = v;
    return 0;
}

static bool
s_leap (int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
ll_time_parse_iso (const char *text, bool zone_required, int64_t *epoch)
{
    if (!text || strlen (text) > 64)
        return -1;
    const char *p = text;
    int y, mo, d, h, mi, s = 0;
    if (s_digits (&p, 4, &y) || *p++ != '-' || s_digits (&p, 2, &mo)
        || *p++ != '-' || s_digits (&p, 2, &d)
        || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (s_digits (&p, 2, &h) || *p++ != ':' || s_digits (&p, 2, &mi))
        return -1;
    if (*p == ':') {
        p++;
        if (s_digits (&p, 2, &s))
            return -1;
        if (*p == '.' || *p == ',') {
            p++;
            if (!isdigit ((unsigned char) *p))
                return -1;
            while (isdigit ((unsigned char) *p))
                p++;
        }
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1
        || d > mdays[mo - 1] + (mo == 2 && s_leap (y)) || h > 23 || mi > 59
        || s > 59)
        return -1;
    int offset = 0;  //  seconds east of UTC
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (s_digits (&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (isdigit ((unsigned char) *p) && s_digits (&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    }
    else if (zone_required)
        return -1;
    if (*p)
        return -1;
    *epoch =
        s_days_from_civil (y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
    return 0;
}

int
ll_time_format_iso (int64_t epoch, char *out, size_t size)
{
    time_t t = (time_t) epoch;
    struct tm tm;
    if (!gmtime_r (&t, &tm) || size < 21)
        return -1;
    return strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) ? 0 : -1;
}

//  --- RRULE -----------------------------------------------------------------

static int
s_fail (char *error, size_t errsize, const char *why, const char *part)
{
    if (error && errsize)
        snprintf (error, errsize, "%s%s%.40s", why, part ? ": " : "",
                  part ? part : "");
    return -1;
}

//  A number 0..max written with 1 or 2 digits, the whole text.
static int
s_small (const char *text, int max)
{
    size_t n = strlen (text);
    if (n < 1 || n > 2 || !isdigit ((unsigned char) text[0])
        || (n == 2 && !isdigit ((unsigned char) text[1])))
        return -1;
    int v = text[0] - '0';
    if (n == 2)
        v = v * 10 + text[1] - '0';
    return v <= max ? v : -1;
}

int
ll_rrule_parse (const char *text, ll_rrule_t *out, char *error, size_t errsize)
{
    memset (out, 0, sizeof *out);
    out->hour = out->minute = -1;
    if (!text || !*text)
        return s_fail (error, errsize, "empty recurrence rule", NULL);
    if (strlen (text) > 200)
        return s_fail (error, errsize, "recurrence rule too long", NULL);
    char copy[256];
    snprintf (copy, sizeof copy, "%s", text);
    char *p = copy;
    if (strncmp (p, "RRULE:", 6) == 0)
        p += 6;
    bool have_freq = false;
    char *save = NULL;
    for (char *part = strtok_r (p, ";", &save); part;
         part = strtok_r (NULL, ";", &save)) {
        char *eq = strchr (part, '=');
        if (!eq)
            return s_fail (error, errsize, "expected NAME=VALUE", part);
        *eq = '\0';
        const char *value = eq + 1;
        if (strcmp (part, "FREQ") == 0) {
            if (strcmp (value, "DAILY") == 0)
                out->weekly = false;
            else if (strcmp (value, "WEEKLY") == 0)
                out->weekly = true;
            else
                return s_fail (error, errsize, "only FREQ=DAILY or FREQ=WEEKLY",
                               value);
            have_freq = true;
        }
        else if (strcmp (part, "BYDAY") == 0) {
            static const char *names[] = {"SU", "MO", "TU", "WE",
                                          "TH", "FR", "SA"};
            for (const char *d = value; *d;) {
                int found = -1;
                for (int i = 0; i < 7; i++)
                    if (strncmp (d, names[i], 2) == 0)
                        found = i;
                if (found < 0 || (d[2] && d[2] != ',')
                    || (d[2] == ',' && !d[3]))
                    return s_fail (error, errsize, "unknown BYDAY", value);
                out->days |= 1 << found;
                d += d[2] ? 3 : 2;
            }
            if (!out->days)
                return s_fail (error, errsize, "empty BYDAY", NULL);
        }
        else if (strcmp (part, "BYHOUR") == 0) {
            if ((out->hour = s_small (value, 23)) < 0)
                return s_fail (error, errsize, "BYHOUR must be 0..23", value);
        }
        else if (strcmp (part, "BYMINUTE") == 0) {
            if ((out->minute = s_small (value, 59)) < 0)
                return s_fail (error, errsize, "BYMINUTE must be 0..59", value);
        }
        else
            return s_fail (error, errsize, "unsupported rule part", part);
    }
    if (!have_freq)
        return s_fail (error, errsize, "FREQ is required", NULL);
    if (out->days && !out->weekly)
        return s_fail (error, errsize, "BYDAY needs FREQ=WEEKLY", NULL);
    return 0;
}

int64_t
ll_rrule_next (const ll_rrule_t *rule, int64_t first, int64_t after)
{
    int64_t first_day = first >= 0 ? first / 86400 : (first - 86399) / 86400;
    int64_t tod = first - first_day * 86400;
    int hour = rule->hour >= 0 ? rule->hour : (int) (tod / 3600);
    int minute = rule->minute >= 0 ? rule->minute : (int) (tod % 3600 / 60);
    int second = rule->hour >= 0 || rule->minute >= 0 ? 0 : (int) (tod % 60);
    //  1970-01-01 was a Thursday (weekday 4)
    int days = rule->days ? rule->days : 1 << (int) ((first_day + 4) % 7);
    int64_t day = after >= 0 ? after / 86400 : (after - 86399) / 86400;
    for (int i = 0; i < 9; i++, day++) {
        int64_t at = day * 86400 + hour * 3600 + minute * 60 + second;
        int weekday = (int) (((day + 4) % 7 + 7) % 7);
        if (at > after && (!rule->weekly || (days & (1 << weekday))))
            return at;
    }
    return -1;  //  not reached: every week has a day of the rule
}

//  --- budget -----------------------------------------------------------------

double
ll_class_budget_used (const ll_class_budget_t *b)
{
    double used = 0;
    if (b->max_vm_hours > 0)
        used = b->vm_hours / b->max_vm_hours;
    if (b->max_usd > 0 && b->hourly_usd > 0) {
        double by_usd = b->vm_hours * b->hourly_usd / b->max_usd;
        if (by_usd > used)
            used = by_usd;
    }
    return used;
}

int
ll_class_budget_allows (const ll_class_budget_t *b,
                        int adding,
                        double hours_left,
                        char *message,
                        size_t size)
{
    double used = ll_class_budget_used (b);
    if (used >= 1.0) {
        snprintf (message, size,
                  "The budget is used up (%.0f %% of the limit): no new VMs "
                  "until it is raised or the fleet is destroyed.",
                  used * 100.0);
        return -1;
    }
    if (hours_left <= 0)
        hours_left = 1;
    double projected = b->vm_hours + (b->vms + adding) * hours_left;
    if (b->max_vm_hours > 0 && projected > b->max_vm_hours) {
        snprintf (message, size,
                  "The launch would exceed the budget: about %.1f VM-hours by "
                  "%s, over the limit of %.1f (budget.max_vm_hours).",
                  projected,
                  hours_left == 1 ? "an hour from now" : "the scheduled end",
                  b->max_vm_hours);
        return -1;
    }
    if (b->max_usd > 0 && b->hourly_usd > 0
        && projected * b->hourly_usd > b->max_usd) {
        snprintf (message, size,
                  "The launch would exceed the budget: about %.2f USD "
                  "(estimated) by %s, over the limit of %.2f USD "
                  "(budget.max_usd).",
                  projected * b->hourly_usd,
                  hours_left == 1 ? "an hour from now" : "the scheduled end",
                  b->max_usd);
        return -1;
    }
    return 0;
}
