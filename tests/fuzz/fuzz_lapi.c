/*  fuzz_lapi.c — libFuzzer harness for the parsers of CrowdSec LAPI
    answers (correlator/lapi.c, lapi.h): the decisions stream, the login's
    token and the unban's count.

    Input: one byte choosing the answer (its value modulo 3: 0 the body of
    GET /v1/decisions/stream, 1 of POST /v1/watchers/login, 2 of
    DELETE /v1/decisions), then the body, copied to a buffer of exactly its
    length (no NUL after it), as libcurl hands it over.

    Checks beyond no crash, against the body read here with jansson:
    stream — refused (with a reason) exactly when the body is not an object
    whose "new" and "deleted" are each absent, null or an array; accepted,
    every item of both arrays is a decision, an ignored scope or a malformed
    one (decisions + ignored + malformed = items), the decisions of "new"
    come before those of "deleted", each has the id of its item, scope "ip"
    or "range" as the item's scope says (any case), and its value, type,
    origin and scenario NUL-terminated in their fields; token — accepted
    only when the body's "token" is that string, with no byte outside
    0x21..0x7e (it goes into an Authorization header); count — the number
    is the body's nbDeleted.                                                 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lapi.h"
#include "roundtrip.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc, (void) argv;
    fuzz_quiet_logs ();
    return 0;
}

static bool
terminated (const char *field, size_t size)
{
    return memchr (field, 0, size) != NULL;
}

static void
check_stream (const char *body, size_t len, json_t *root)
{
    lapi_stream_t st;
    char err[256] = "";
    int rc = lapi_parse_stream (body, len, &st, err, sizeof err);
    json_t *lists[2] = { json_object_get (root, "new"), json_object_get (root, "deleted") };
    bool shape = json_is_object (root);
    for (int l = 0; l < 2; l++)
        shape = shape && (!lists[l] || json_is_null (lists[l]) || json_is_array (lists[l]));
    if (rc != (shape ? 0 : -1))
        abort ();
    if (rc) {
        if (strncmp (err, "bad JSON: ", 10) != 0 || st.count || st.decisions)
            abort ();
        return;
    }
    size_t items = 0, cursor[2] = { 0, 0 };
    for (int l = 0; l < 2; l++)
        items += json_is_array (lists[l]) ? json_array_size (lists[l]) : 0;
    if (st.count + st.ignored + st.malformed != items)
        abort ();
    bool seen_deleted = false;
    for (size_t i = 0; i < st.count; i++) {
        const lapi_decision_t *d = &st.decisions[i];
        if (!terminated (d->value, sizeof d->value) || !terminated (d->scope, sizeof d->scope)
            || !terminated (d->type, sizeof d->type) || !terminated (d->origin, sizeof d->origin)
            || !terminated (d->scenario, sizeof d->scenario) || !d->value[0])
            abort ();
        if (strcmp (d->scope, "ip") && strcmp (d->scope, "range"))
            abort ();
        if (seen_deleted && !d->deleted)
            abort ();                           /* "new" first */
        seen_deleted = d->deleted;
        /* its item: the next one of its list with this id, scope and value */
        int l = d->deleted ? 1 : 0;
        if (!json_is_array (lists[l]))
            abort ();
        bool found = false;
        while (!found && cursor[l] < json_array_size (lists[l])) {
            json_t *item = json_array_get (lists[l], cursor[l]++);
            json_t *id = json_object_get (item, "id");
            const char *scope = json_string_value (json_object_get (item, "scope"));
            const char *value = json_string_value (json_object_get (item, "value"));
            found = json_is_integer (id) && (uint64_t) json_integer_value (id) == d->id && scope
                    && strcasecmp (scope, d->scope) == 0 && value && strcmp (value, d->value) == 0;
        }
        if (!found)
            abort ();
    }
    lapi_stream_free (&st);
}

static void
check_token (const char *body, size_t len, json_t *root)
{
    char token[64];
    memset (token, 'x', sizeof token);
    bool ok = lapi_parse_token (body, len, token, sizeof token);
    json_t *t = json_object_get (root, "token");
    if (!ok)
        return;
    if (!json_is_string (t) || strcmp (json_string_value (t), token) != 0
        || strlen (token) >= sizeof token || !token[0])
        abort ();
    for (const char *p = token; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            abort ();
}

static void
check_deleted (const char *body, size_t len, json_t *root)
{
    uint64_t n = 12345;
    bool ok = lapi_parse_deleted (body, len, &n);
    json_t *v = json_object_get (root, "nbDeleted");
    if (!ok) {
        if (n != 12345)
            abort ();                           /* untouched */
        return;
    }
    if (json_is_integer (v))
        ok = json_integer_value (v) >= 0 && (uint64_t) json_integer_value (v) == n;
    else if (json_is_string (v)) {
        char text[32];
        snprintf (text, sizeof text, "%llu", (unsigned long long) n);
        const char *s = json_string_value (v);
        while (*s == '0' && s[1])
            s++;                                /* "007" is 7 */
        ok = strcmp (s, text) == 0;
    } else
        ok = false;
    if (!ok)
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    char *body = malloc (len ? len : 1);
    if (!body)
        return 0;
    memcpy (body, data + 1, len);
    json_t *root = json_loadb (body, len, 0, NULL);
    switch (data[0] % 3) {
    case 0: check_stream (len ? body : NULL, len, root); break;
    case 1: check_token (body, len, root); break;
    default: check_deleted (body, len, root); break;
    }
    json_decref (root);
    free (body);
    return 0;
}
