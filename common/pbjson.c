/*  pbjson.c — see pbjson.h.                                                 */
#include "pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
buf_reserve (pbjson_buf_t *buf, size_t extra)
{
    if (buf->len + extra + 1 <= buf->cap)
        return 0;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + extra + 1)
        cap *= 2;
    char *data = realloc (buf->data, cap);
    if (!data)
        return -1;
    buf->data = data;
    buf->cap = cap;
    return 0;
}

int
pbjson_buf_puts (pbjson_buf_t *buf, const char *text, size_t len)
{
    if (buf_reserve (buf, len))
        return -1;
    memcpy (buf->data + buf->len, text, len);
    buf->len += len;
    buf->data[buf->len] = 0;
    return 0;
}

int
pbjson_buf_vprintf (pbjson_buf_t *buf, const char *fmt, va_list args)
{
    va_list again;
    va_copy (again, args);
    size_t room = buf->cap > buf->len ? buf->cap - buf->len : 0;
    int n = vsnprintf (room ? buf->data + buf->len : NULL, room, fmt, args);
    if (n >= 0 && (size_t) n >= room) {        /* too long for what is left: grow */
        if (buf_reserve (buf, (size_t) n))
            n = -1;
        else
            n = vsnprintf (buf->data + buf->len, (size_t) n + 1, fmt, again);
    }
    va_end (again);
    if (n < 0) {
        if (buf->data)
            buf->data[buf->len] = 0;
        return -1;
    }
    buf->len += (size_t) n;
    return 0;
}

int
pbjson_buf_printf (pbjson_buf_t *buf, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int rc = pbjson_buf_vprintf (buf, fmt, args);
    va_end (args);
    return rc;
}

void
pbjson_buf_reset (pbjson_buf_t *buf)
{
    buf->len = 0;
    if (buf->data)
        buf->data[0] = 0;
}

void
pbjson_buf_free (pbjson_buf_t *buf)
{
    free (buf->data);
    memset (buf, 0, sizeof *buf);
}

/*  Length of the valid UTF-8 sequence at S (at most N bytes), 0 if invalid. */
static size_t
utf8_sequence (const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    else if ((s[0] & 0xe0) == 0xc0) { len = 2; cp = s[0] & 0x1f; }
    else if ((s[0] & 0xf0) == 0xe0) { len = 3; cp = s[0] & 0x0f; }
    else if ((s[0] & 0xf8) == 0xf0) { len = 4; cp = s[0] & 0x07; }
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int
pbjson_buf_string (pbjson_buf_t *buf, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *) text;
    if (pbjson_buf_puts (buf, "\"", 1))
        return -1;
    size_t i = 0;
    while (i < len) {
        size_t run = i;     /* copy runs of plain characters at once */
        while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i && pbjson_buf_puts (buf, text + i, run - i))
            return -1;
        i = run;
        if (i >= len)
            break;
        int rc;
        if (s[i] == '"')       { rc = pbjson_buf_puts (buf, "\\\"", 2); i++; }
        else if (s[i] == '\\') { rc = pbjson_buf_puts (buf, "\\\\", 2); i++; }
        else if (s[i] == '\n') { rc = pbjson_buf_puts (buf, "\\n", 2); i++; }
        else if (s[i] == '\r') { rc = pbjson_buf_puts (buf, "\\r", 2); i++; }
        else if (s[i] == '\t') { rc = pbjson_buf_puts (buf, "\\t", 2); i++; }
        else if (s[i] < 0x20)  { rc = pbjson_buf_printf (buf, "\\u%04x", s[i]); i++; }
        else {
            size_t seq = utf8_sequence (s + i, len - i);
            if (seq) { rc = pbjson_buf_puts (buf, text + i, seq); i += seq; }
            else     { rc = pbjson_buf_puts (buf, "\\ufffd", 6); i++; }
        }
        if (rc)
            return -1;
    }
    return pbjson_buf_puts (buf, "\"", 1);
}

static int
append_base64 (pbjson_buf_t *buf, const uint8_t *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (buf_reserve (buf, 4 * ((len + 2) / 3) + 2))
        return -1;
    char *out = buf->data + buf->len;
    *out++ = '"';
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t) data[i] << 16;
        if (i + 1 < len) v |= (uint32_t) data[i + 1] << 8;
        if (i + 2 < len) v |= data[i + 2];
        *out++ = alphabet[(v >> 18) & 63];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *out++ = i + 2 < len ? alphabet[v & 63] : '=';
    }
    *out++ = '"';
    buf->len = (size_t) (out - buf->data);
    buf->data[buf->len] = 0;
    return 0;
}

static int append_message (pbjson_buf_t *buf, const char *topic, const ProtobufCMessage *msg);

/*  One value of FIELD stored at MEMBER.                                     */
static int
append_value (pbjson_buf_t *buf, const ProtobufCFieldDescriptor *field, const void *member)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return pbjson_buf_printf (buf, "%" PRId32, *(const int32_t *) member);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return pbjson_buf_printf (buf, "%" PRIu32, *(const uint32_t *) member);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return pbjson_buf_printf (buf, "%" PRId64, *(const int64_t *) member);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return pbjson_buf_printf (buf, "%" PRIu64, *(const uint64_t *) member);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = field->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *) member
                                                         : *(const double *) member;
        return isfinite (v) ? pbjson_buf_printf (buf, "%.15g", v) : pbjson_buf_puts (buf, "null", 4);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *) member ? pbjson_buf_puts (buf, "true", 4)
                                                    : pbjson_buf_puts (buf, "false", 5);
    case PROTOBUF_C_TYPE_ENUM: {
        int value = *(const int *) member;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value (
            (const ProtobufCEnumDescriptor *) field->descriptor, value);
        if (ev)
            return pbjson_buf_string (buf, ev->name, strlen (ev->name));
        return pbjson_buf_printf (buf, "%d", value);     /* a value newer than our schema */
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *) member;
        return s ? pbjson_buf_string (buf, s, strlen (s)) : pbjson_buf_puts (buf, "\"\"", 2);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bin = member;
        return append_base64 (buf, bin->data, bin->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *) member;
        return sub ? append_message (buf, NULL, sub) : pbjson_buf_puts (buf, "null", 4);
    }
    }
    return pbjson_buf_puts (buf, "null", 4);
}

size_t
pbjson_value_size (ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof (void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof (ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof (protobuf_c_boolean);
    default:
        return 4;
    }
}

/*  Is FIELD present in MSG? Fields without presence always are, except a
    null sub-message.                                                        */
static bool
field_present (const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field)
{
    const char *base = (const char *) msg;
    const void *member = base + field->offset;
    if (field->label == PROTOBUF_C_LABEL_REPEATED)
        return true;                            /* [] when empty */
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *) (base + field->quantifier_offset) == field->id;
    if (field->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(ProtobufCMessage *const *) member != NULL;
    if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset
        && field->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *) (base + field->quantifier_offset);
    if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->type == PROTOBUF_C_TYPE_STRING)
        return *(char *const *) member != NULL;
    return true;
}

static int
append_field (pbjson_buf_t *buf, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field)
{
    const char *base = (const char *) msg;
    if (pbjson_buf_string (buf, field->name, strlen (field->name)) || pbjson_buf_puts (buf, ":", 1))
        return -1;
    if (field->label != PROTOBUF_C_LABEL_REPEATED)
        return append_value (buf, field, base + field->offset);

    size_t count = *(const size_t *) (base + field->quantifier_offset);
    const char *array = *(char *const *) (base + field->offset);
    size_t stride = pbjson_value_size (field->type);
    if (pbjson_buf_puts (buf, "[", 1))
        return -1;
    for (size_t i = 0; i < count; i++)
        if ((i && pbjson_buf_puts (buf, ",", 1)) || append_value (buf, field, array + i * stride))
            return -1;
    return pbjson_buf_puts (buf, "]", 1);
}

static int
append_message (pbjson_buf_t *buf, const char *topic, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    if (pbjson_buf_puts (buf, "{", 1))
        return -1;
    bool first = true;
    if (topic) {
        if (pbjson_buf_puts (buf, "\"topic\":", 8) || pbjson_buf_string (buf, topic, strlen (topic)))
            return -1;
        first = false;
    }
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &desc->fields[i];
        if (!field_present (msg, field))
            continue;
        if ((!first && pbjson_buf_puts (buf, ",", 1)) || append_field (buf, msg, field))
            return -1;
        first = false;
    }
    return pbjson_buf_puts (buf, "}", 1);
}

int
pbjson_append (pbjson_buf_t *buf, const char *topic, const ProtobufCMessage *msg)
{
    return append_message (buf, topic, msg);
}
