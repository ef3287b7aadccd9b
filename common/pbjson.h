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
#include <stdarg.h>
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
/*  FMT's text appended (the buffer grows to fit); 0, or -1.                  */
int pbjson_buf_printf (pbjson_buf_t *buf, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
int pbjson_buf_vprintf (pbjson_buf_t *buf, const char *fmt, va_list args);

/*  The reverse: a message of DESC from OBJ, a jansson object in the shape
    pbjson_append prints (every key a field name; enums by value name or
    number; bytes as base64; 64-bit integers as numbers or decimal strings;
    missing fields keep their defaults; a top-level "topic" key is ignored).
    A new message (free it with protobuf_c_message_free_unpacked (msg,
    NULL)), or NULL with the reason, after the field's path when there is
    one ("header.seq: -1 out of range", "protocols[1].name: expected a
    string", "body_prefix: not base64", "unknown key 'foo'") in ERROR.
    jansson reads integers into int64: a uint64 over 2^63-1 printed as a
    number does not load (json_loads: "too big integer").                    */
struct json_t;
ProtobufCMessage *pbjson_parse (const ProtobufCMessageDescriptor *desc, const struct json_t *obj,
                                char *error, size_t errlen);

/*  Bytes one value of TYPE takes in a repeated field's array (the printer
    and the parser both step through arrays with it).                        */
size_t pbjson_value_size (ProtobufCType type);

void pbjson_buf_reset (pbjson_buf_t *buf);
void pbjson_buf_free (pbjson_buf_t *buf);

#endif
