/*  roundtrip.c — see roundtrip.h.                                          */
#include "roundtrip.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"

void
fuzz_quiet_logs (void)
{
    if (!getenv ("FUZZ_LOG")) {
        FILE *null = fopen ("/dev/null", "w");
        if (null)
            stderr = null;
    }
}

void
fuzz_round_trip (const char *topic, const ProtobufCMessage *msg)
{
    static pbjson_buf_t a_text, b_text;
    pbjson_buf_reset (&a_text);
    if (pbjson_append (&a_text, topic, msg))
        abort ();
    if (topic) {
        char prefix[80];
        snprintf (prefix, sizeof prefix, "{\"topic\":\"%s\"", topic);
        if (strncmp (a_text.data, prefix, strlen (prefix)) != 0)
            abort ();
    }
    json_error_t jerr;
    json_t *a = json_loadb (a_text.data, a_text.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!a) {
        bool too_big = strstr (jerr.text, "too big integer") != NULL;
        json_t *real = json_loadb (a_text.data, a_text.len,
                                   JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
        if (!too_big || !real) {
            printf ("printed text is not JSON (%s): %s\n", jerr.text, a_text.data);
            abort ();
        }
        json_decref (real);
        return;
    }
    if (!json_is_object (a))
        abort ();
    char error[320];
    ProtobufCMessage *back = pbjson_parse (msg->descriptor, a, error, sizeof error);
    if (!back) {
        printf ("printed JSON does not read back (%s): %s\n", error, a_text.data);
        abort ();
    }
    pbjson_buf_reset (&b_text);
    if (pbjson_append (&b_text, topic, back))
        abort ();
    json_t *b = json_loadb (b_text.data, b_text.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!b || !json_equal (a, b)) {
        printf ("round trip differs:\n%s\n%s\n", a_text.data, b_text.data);
        abort ();
    }
    json_decref (b);
    json_decref (a);
    protobuf_c_message_free_unpacked (back, NULL);
}
