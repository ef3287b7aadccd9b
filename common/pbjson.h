/*  pbjson.h — any protobuf-c message as one JSON object.

    Walks protobuf-c's descriptors, so every message type of proto/ prints
    with no code of its own: keys are the .proto field names, enums print
    their value name, bytes print as base64, 64-bit integers as plain
    numbers, nested messages as objects, repeated fields as arrays. Fields
    without presence (proto3) always print, so a zero port or VLAN is there.
    Strings are escaped and any invalid UTF-8 byte becomes U+FFFD, so the
    output is always valid JSON.

    With a topic, the object starts with "topic": the event line format of
    `dpi-dualctl tail` and `dpi-collector --jsonl`:
        {"topic":"tap.flow","header":{"source":...},"event":"END",...}
    (`--jsonl` formats a line before the bus fills the header in: its lines
    have no "header".)
*/
#ifndef DPI_PBJSON_H
#define DPI_PBJSON_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/*  A growable text buffer; zero-initialise, release with pbjson_buf_free.  */
typedef struct {
    char *data;                     /* NUL-terminated once anything is written */
    size_t len;
    size_t cap;
} pbjson_buf_t;

/*  Append the JSON object of MSG to BUF (no newline). TOPIC may be NULL.
    Returns 0, or -1 when memory runs out.                                   */
int pbjson_append (pbjson_buf_t *buf, const char *topic, const ProtobufCMessage *msg);

/*  Append raw text / a JSON string literal (quoted and escaped).            */
int pbjson_buf_puts (pbjson_buf_t *buf, const char *text, size_t len);
int pbjson_buf_string (pbjson_buf_t *buf, const char *text, size_t len);

void pbjson_buf_reset (pbjson_buf_t *buf);
void pbjson_buf_free (pbjson_buf_t *buf);

#endif
