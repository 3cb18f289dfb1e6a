#include "runtime/crd.h"

#include <stdbool.h>
#include <string.h>

static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'
           || c == '\f';
}

static bool
s_code_char (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '_' || c == '/' || c == '-';
}

//  Validate one raw value (quotes still on) into code. 0 or -1.
static int
s_accept_value (const char *value, size_t len, char *code, size_t size)
{
    if (len >= 2 && (value[0] == '"' || value[0] == '\'')
        && value[len - 1] == value[0]) {
        value++;
        len -= 2;
    }
    if (len == 0 || len >= size || len > LL_CRD_CODE_MAX)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!s_code_char (value[i]))
            return -1;
    memcpy (code, value, len);
    code[len] = '\0';
    return 0;
}

int
ll_crd_extract_code (const char *command, char *code, size_t size)
{
    if (!code || size == 0)
        return -1;
    code[0] = '\0';
    if (!command || strlen (command) > LL_CRD_COMMAND_MAX)
        return -1;
    const char *found = NULL;
    size_t found_len = 0;
    int values = 0;
    bool take_next = false;
    const char *p = command;
    while (*p) {
        while (*p && s_is_space (*p))
            p++;
        if (!*p)
            break;
        const char *token = p;
        while (*p && !s_is_space (*p))
            p++;
        size_t len = (size_t) (p - token);
        if (take_next) {
            found = token;
            found_len = len;
            values++;
            take_next = false;
        }
        else if (len == 6 && strncmp (token, "--code", 6) == 0)
            take_next = true;
        else if (len >= 7 && strncmp (token, "--code=", 7) == 0) {
            found = token + 7;
            found_len = len - 7;
            values++;
        }
    }
    if (take_next)  //  "--code" with nothing after it
        return -1;
    if (values != 1)
        return -1;
    if (s_accept_value (found, found_len, code, size) != 0) {
        code[0] = '\0';
        return -1;
    }
    return 0;
}
