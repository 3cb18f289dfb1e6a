/*  The ZeroMQ gateway's parse of one agent message (gateway_frame_parse,
    actors/gateway.h: "VERB args", the frames joined by spaces). Text with
    a NUL inside is dropped; a HELLO that passes names a valid VM; a POST
    that passes targets a path under /api/ that cannot climb out of it; a
    RESULT that passes says 1 or 0. */
#include "fuzz_support.h"

#include <ctype.h>

#include "actors/gateway.h"
#include "runtime/token.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = fuzz_text (data, size);
    gateway_frame_t frame;
    if (gateway_frame_parse (text, size, &frame) != 0) {
        FUZZ_CHECK (memchr (data, '\0', size) != NULL);
        free (text);
        return 0;
    }
    FUZZ_CHECK (memchr (data, '\0', size) == NULL);
    switch (frame.verb) {
        case GATEWAY_HELLO:
            if (!frame.error) {
                FUZZ_CHECK (frame.host && frame.token);
                FUZZ_CHECK (ll_token_scope_valid (frame.host));
                FUZZ_CHECK (frame.host[0] != '_');
            }
            break;
        case GATEWAY_POST:
            if (!frame.error) {
                FUZZ_CHECK (frame.path && frame.json);
                FUZZ_CHECK (strncmp (frame.path, "/api/", 5) == 0);
                FUZZ_CHECK (strstr (frame.path, "..") == NULL);
                for (const char *c = frame.path; *c; c++)
                    FUZZ_CHECK (isalnum ((unsigned char) *c)
                                || strchr ("/_.-", *c));
            }
            break;
        case GATEWAY_RESULT:
            if (!frame.error) {
                FUZZ_CHECK (frame.host && frame.ok && frame.text);
                FUZZ_CHECK (strcmp (frame.ok, "1") == 0
                            || strcmp (frame.ok, "0") == 0);
            }
            break;
        default:
            FUZZ_CHECK (frame.error == NULL);
            break;
    }
    free (text);
    return 0;
}
