/*  The Chrome Remote Desktop command grammar shared by the allocator (which
    validates what students paste) and the agent (which re-checks what it is
    told to run). Reference 2.6: split on whitespace; collect the values of
    every `--code=<v>` token and `--code <v>` pair; exactly one value; strip
    one pair of matching surrounding quotes; the rest must be non-empty and
    match [A-Za-z0-9_/-]+. Nothing else from the command is ever used. */
#ifndef LL_CRD_H
#define LL_CRD_H

#include <stddef.h>

#define LL_CRD_COMMAND_MAX 4096  //  longer commands are rejected
#define LL_CRD_CODE_MAX    512   //  longest code accepted

//  Extract the code from command into code (size bytes). 0 on success,
//  -1 when the command is not acceptable (code is then empty).
int ll_crd_extract_code (const char *command, char *code, size_t size);

//  The fixed redirect URL passed to start-host.
#define LL_CRD_REDIRECT_URL "https://remotedesktop.google.com/_/oauthredirect"

#endif
