/*  roundtrip.h — the check fuzz_bus, fuzz_pbjson_parse and fuzz_jsonl share
    (roundtrip.c): a message printed by pbjson_append is JSON, and read back
    by pbjson_parse and printed again gives the same JSON.                   */
#ifndef DPI_FUZZ_ROUNDTRIP_H
#define DPI_FUZZ_ROUNDTRIP_H

#include <protobuf-c/protobuf-c.h>

/*  MSG printed (with TOPIC, which may be NULL) must load with jansson and
    start with the topic; read back and printed again, the JSON must be the
    same (json_equal: escapes may differ). A uint64 over 2^63-1 prints as a
    number jansson refuses without JSON_DECODE_INT_AS_REAL ("too big
    integer", pbjson.h): then the text must load with that flag, and there
    is no round trip. Aborts, with both texts on stdout, when not.          */
void fuzz_round_trip (const char *topic, const ProtobufCMessage *msg);

/*  Send log.c's lines (stderr's FILE) to /dev/null unless FUZZ_LOG is set:
    the parsers log every bad input. The sanitizers and libFuzzer write to
    file descriptor 2 or their own stream, untouched.                      */
void fuzz_quiet_logs (void);

#endif
