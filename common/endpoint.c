/*  endpoint.c — see endpoint.h.                                             */
#include "endpoint.h"

#include <string.h>

const char *
endpoint_address (const char *text)
{
    return text + (*text == '@' || *text == '>');
}

int
endpoint_parse (const char *text, bool bind_default, endpoint_t *out, const char **reason)
{
    static const char *const not_endpoint =
        "is not an endpoint (expected ipc://... or tcp://..., optionally prefixed by @ or >)";
    *out = (endpoint_t) { .address = endpoint_address (text), .bind = bind_default };
    out->prefixed = out->address != text;
    if (out->prefixed)
        out->bind = *text == '@';
    const char *rest = out->address;
    if (strncmp (rest, "ipc://", 6) == 0 && rest[6]) {
        out->transport = ENDPOINT_IPC;
        out->path = rest + 6;
        if (strlen (out->path) > ENDPOINT_IPC_PATH_MAX) {
            *reason = "is too long for a unix socket path (at most 107 bytes after ipc://)";
            return -1;
        }
        return 0;
    }
    if (strncmp (rest, "tcp://", 6) == 0 && rest[6]) {
        out->transport = ENDPOINT_TCP;
        return 0;
    }
    *reason = not_endpoint;
    return -1;
}
