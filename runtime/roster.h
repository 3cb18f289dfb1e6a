/*  The optional class roster (issue 15 section 1), off by default:

      claim.access_code      a code the instructor says aloud; compared
                             (trimmed, case ignored) in constant time
      claim.allowed_emails   a list, or the absolute path of a file with
                             one address per line (# comments, blank lines)
      claim.allowed_domains  email domains whose addresses may claim

    A claim passes when the access code (if set) is right and, if either
    list is set, the email is listed or its domain is. The access code is
    checked first, so without it nobody learns anything about the roster.
    The file is read again when its size or modification time changes (an
    instructor adds a late student without a restart). */
#ifndef LL_ROSTER_H
#define LL_ROSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/config.h"

#define LL_ROSTER_FILE_MAX (8 * 1024 * 1024)  //  bytes of the email file

typedef enum {
    LL_ROSTER_OK = 0,  //  may claim
    LL_ROSTER_CODE,    //  access code missing or wrong
    LL_ROSTER_EMAIL,   //  not on the roster (allowed_emails is set)
    LL_ROSTER_DOMAIN   //  domain not allowed (only allowed_domains is set)
} ll_roster_verdict_t;

typedef struct ll_roster ll_roster_t;

//  The roster of config (which it must outlive). NULL with the reason in
//  error when the email file cannot be read.
ll_roster_t *
ll_roster_new (const ll_config_t *config, char *error, size_t errsize);

void ll_roster_destroy (ll_roster_t **self_p);

//  Read the email file again when it changed: 1 reloaded, 0 unchanged (or
//  no file), -1 with the reason in error (the previous roster stays).
int ll_roster_refresh (ll_roster_t *self, char *error, size_t errsize);

//  The verdict for a claim by email (lower-case) with access_code (what
//  the student typed, or NULL).
ll_roster_verdict_t ll_roster_check (const ll_roster_t *self,
                                     const char *email,
                                     const char *access_code);

//  Addresses on the roster (file or list).
size_t ll_roster_size (const ll_roster_t *self);

//  The word naming a verdict in the assigner's reply: "code", "email",
//  "domain" ("" for LL_ROSTER_OK).
const char *ll_roster_rule (ll_roster_verdict_t verdict);

#endif
