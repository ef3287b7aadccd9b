/*  fuzz_pbjson_parse.c — libFuzzer harness for common/pbjson_parse.c: JSON
    text to the protobuf message of a topic, as dpi-testpub and the JSON-line
    readers (jsonl_in.c) use it.

    Input: one byte choosing the topic (its value modulo the 10 topics of
    topics.c), then the JSON text, loaded by jansson as jsonl_in.c loads a
    line (JSON_REJECT_DUPLICATES) and handed to pbjson_parse with that
    topic's descriptor.

    Checks beyond no crash: a refusal always says why (a non-empty error);
    a message it builds passes protobuf_c_message_check, packs, unpacks from
    those bytes and packs again to the same bytes; and printed by
    pbjson_append, read back and printed again, it gives the same JSON
    (roundtrip.h). ASan's leak check sees a message half-built when an error
    stops the parse.                                                         */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "roundtrip.h"
#include "topics.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc, (void) argv;
    fuzz_quiet_logs ();
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t ntopics = 0;
    while (topics_name (ntopics))
        ntopics++;
    const char *topic = topics_name (data[0] % ntopics);
    const ProtobufCMessageDescriptor *desc = topics_descriptor (topic);
    json_error_t jerr;
    json_t *obj = json_loadb ((const char *) data + 1, size - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        return 0;
    char error[256] = "unset";
    ProtobufCMessage *msg = pbjson_parse (desc, obj, error, sizeof error);
    if (!msg) {
        if (!error[0] || strcmp (error, "unset") == 0)
            abort ();
        json_decref (obj);
        return 0;
    }
    if (msg->descriptor != desc || !protobuf_c_message_check (msg))
        abort ();
    size_t len = protobuf_c_message_get_packed_size (msg);
    uint8_t *packed = malloc (len ? len : 1), *again = malloc (len ? len : 1);
    if (!packed || !again || protobuf_c_message_pack (msg, packed) != len)
        abort ();
    ProtobufCMessage *unpacked = protobuf_c_message_unpack (desc, NULL, len, packed);
    if (!unpacked || protobuf_c_message_get_packed_size (unpacked) != len
        || protobuf_c_message_pack (unpacked, again) != len || memcmp (packed, again, len) != 0)
        abort ();
    fuzz_round_trip (topic, msg);
    protobuf_c_message_free_unpacked (unpacked, NULL);
    protobuf_c_message_free_unpacked (msg, NULL);
    free (again);
    free (packed);
    json_decref (obj);
    return 0;
}
