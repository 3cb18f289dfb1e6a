/*  Log lines from outside (VM logs through the Lambda, CloudWatch or the
    agent) made safe to store and show: ANSI escape sequences and control
    characters removed, split into lines, blank lines dropped, every line
    capped (a cut line ends with a marker saying how many bytes went), and
    the CloudWatch Logs subscription payload (base64 of gzip of JSON)
    decoded with hard caps so a gzip bomb costs no more than the cap. */
#ifndef LL_LOGLINE_H
#define LL_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/textbuf.h"

//  Decompressed CloudWatch payloads larger than this are refused (the
//  service sends at most 1 MiB of events per delivery).
#define LL_CWLOGS_MAX (2 * 1024 * 1024)

//  The marker ending a cut line: " [cut N bytes]".
#define LL_LOGLINE_CUT_MARK " [cut "

//  Clean one message of len bytes and append its lines to out, each ended
//  by '\n'. line_max caps the bytes kept of one line (at a UTF-8 character
//  boundary). Returns the number of lines appended; *cut (may be NULL) is
//  increased by the number of lines cut.
size_t ll_logline_clean (const char *message,
                         size_t len,
                         size_t line_max,
                         ll_textbuf_t *out,
                         size_t *cut);

//  True when text is valid UTF-8 without NUL bytes (what PostgreSQL's text
//  accepts).
bool ll_utf8_valid (const char *text, size_t len);

//  Decode base64(gzip(text)) of len bytes into a new buffer (*out, NUL-
//  terminated, *out_len bytes, caller frees). At most max_out bytes are
//  ever produced. Returns 0, or -1 with *why set to a static reason:
//  "malformed base64", "not gzip data", "truncated gzip data",
//  "decompressed payload too large".
int ll_cwlogs_decode (const char *b64,
                      size_t len,
                      size_t max_out,
                      char **out,
                      size_t *out_len,
                      const char **why);

#endif
