/*  Times and recurrence rules of scheduled teardowns (upstream's scheduled
    destruction, reference 2.6): ISO 8601 timestamps and the RRULE subset
    upstream turns into cron triggers (FREQ=DAILY, or FREQ=WEEKLY with
    BYDAY, plus BYHOUR/BYMINUTE). Pure functions, no I/O; all times UTC
    epoch seconds. */
#ifndef LL_SCHEDULE_H
#define LL_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Parse YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]] followed by Z, +HH:MM,
//  +HHMM or +HH (or -). Without a zone the time is UTC, unless
//  zone_required: then it is an error. 0 with *epoch, or -1.
int ll_time_parse_iso (const char *text, bool zone_required, int64_t *epoch);

//  "2026-05-01T17:00:00Z" into out (at least 21 bytes). 0 or -1.
int ll_time_format_iso (int64_t epoch, char *out, size_t size);

//  A recurrence: every day, or on some weekdays, at hour:minute UTC.
typedef struct {
    bool weekly;  //  FREQ=WEEKLY (else DAILY)
    int days;     //  weekly: bit d set = weekday d (0 Sunday .. 6 Saturday)
    int hour;     //  BYHOUR, or -1 = the hour of the first time
    int minute;   //  BYMINUTE, or -1 = the minute of the first time
} ll_rrule_t;

//  Parse an RRULE ("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=17;BYMINUTE=0", an
//  optional "RRULE:" prefix). 0, or -1 with the reason in error.
int
ll_rrule_parse (const char *text, ll_rrule_t *out, char *error, size_t errsize);

//  The first occurrence strictly after `after` of rule, anchored at first
//  (its time of day, and its weekday when a weekly rule names none).
int64_t ll_rrule_next (const ll_rrule_t *rule, int64_t first, int64_t after);

//  --- budget (budget.max_vm_hours, budget.max_usd) --------------------------

typedef struct {
    double vm_hours;      //  used by the current fleet so far
    int vms;              //  VMs in the fleet now
    double hourly_usd;    //  price per VM-hour (machine.hourly_usd), 0 = none
    double max_vm_hours;  //  0 = no limit
    double max_usd;       //  0 = no limit (or no price)
} ll_class_budget_t;

//  How much of the budget is used: the larger of the two ratios, 0 when
//  no limit applies.
double ll_class_budget_used (const ll_class_budget_t *budget);

//  May `adding` VMs be launched? Refused when the budget is used up, or
//  when the fleet after the launch would pass a limit within hours_left
//  (until the scheduled end, or 1 when none is scheduled). 0 = allowed,
//  -1 with the reason (a sentence for the admin) in message.
int ll_class_budget_allows (const ll_class_budget_t *budget,
                            int adding,
                            double hours_left,
                            char *message,
                            size_t size);

#endif
