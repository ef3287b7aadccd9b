/*  pbjson_parse.c — pbjson_parse (see pbjson.h): the reverse of pbjson.c,
    walking the same protobuf-c descriptors.

    The message is built with the default allocator (malloc) in the layout
    protobuf-c unpacks into, so protobuf_c_message_free_unpacked frees it,
    also half-built after an error.                                          */
#include "pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 256
#define DEPTH_MAX 32

typedef struct {
    char *error;
    size_t errlen;
    char path[PATH_MAX_LEN];        /* "header.seq", "protocols[2].name"     */
    int depth;
} parse_t;

static int fail (parse_t *p, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/*  The reason, prefixed with the path of the field: always -1.             */
static int
fail (parse_t *p, const char *fmt, ...)
{
    if (!p->error || !p->errlen)
        return -1;
    char reason[256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (reason, sizeof reason, fmt, args);
    va_end (args);
    snprintf (p->error, p->errlen, "%s%s%s", p->path, p->path[0] ? ": " : "", reason);
    return -1;
}

/*  Append ".NAME" (or "NAME" at the top) or "[INDEX]" to the path; returns
    the old length, for path_pop.                                             */
static size_t
path_push (parse_t *p, const char *name, long index)
{
    size_t len = strlen (p->path);
    if (name)
        snprintf (p->path + len, sizeof p->path - len, "%s%s", len ? "." : "", name);
    else
        snprintf (p->path + len, sizeof p->path - len, "[%ld]", index);
    return len;
}

static void
path_pop (parse_t *p, size_t len)
{
    p->path[len] = 0;
}

/* ---- scalars ------------------------------------------------------------ */

/*  A JSON integer in MIN..MAX.                                              */
static int
parse_int (parse_t *p, const json_t *v, json_int_t min, json_int_t max, json_int_t *out)
{
    if (!json_is_integer (v))
        return fail (p, "expected an integer");
    *out = json_integer_value (v);
    if (*out < min || *out > max)
        return fail (p, "%" JSON_INTEGER_FORMAT " out of range", *out);
    return 0;
}

/*  A 64-bit integer: a JSON integer or a decimal string.                   */
static int
parse_int64 (parse_t *p, const json_t *v, bool is_signed, void *out)
{
    if (json_is_integer (v)) {
        json_int_t n = json_integer_value (v);
        if (!is_signed && n < 0)
            return fail (p, "%" JSON_INTEGER_FORMAT " out of range", n);
        if (is_signed)
            *(int64_t *) out = n;
        else
            *(uint64_t *) out = (uint64_t) n;
        return 0;
    }
    if (!json_is_string (v))
        return fail (p, "expected an integer or a decimal string");
    const char *s = json_string_value (v);
    char *end;
    errno = 0;
    bool digits = (s[0] >= '0' && s[0] <= '9') || (is_signed && s[0] == '-' && s[1] >= '0' && s[1] <= '9');
    if (is_signed)
        *(int64_t *) out = strtoll (s, &end, 10);
    else
        *(uint64_t *) out = strtoull (s, &end, 10);
    if (!digits || *end || end - s != (long) json_string_length (v))
        return fail (p, "'%.40s' is not a decimal integer", s);
    if (errno == ERANGE)
        return fail (p, "%.40s out of range", s);
    return 0;
}

static int
parse_double (parse_t *p, const json_t *v, double *out)
{
    if (json_is_null (v)) {                 /* pbjson prints NaN, inf as null */
        *out = NAN;
        return 0;
    }
    if (!json_is_number (v))
        return fail (p, "expected a number");
    *out = json_number_value (v);
    return 0;
}

static int
parse_enum (parse_t *p, const ProtobufCFieldDescriptor *field, const json_t *v, int *out)
{
    const ProtobufCEnumDescriptor *desc = field->descriptor;
    if (json_is_string (v)) {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name (
            desc, json_string_value (v));
        if (!ev)
            return fail (p, "unknown %s value '%.40s'", desc->short_name, json_string_value (v));
        *out = ev->value;
        return 0;
    }
    json_int_t n = 0;
    if (!json_is_integer (v))
        return fail (p, "expected an enum name or number");
    if (parse_int (p, v, INT32_MIN, INT32_MAX, &n))
        return -1;
    *out = (int) n;                         /* numbers newer than the schema too */
    return 0;
}

static int
parse_string (parse_t *p, const json_t *v, char **out)
{
    if (!json_is_string (v))
        return fail (p, "expected a string");
    size_t len = json_string_length (v);
    if (memchr (json_string_value (v), 0, len))
        return fail (p, "a NUL in the string");
    *out = strdup (json_string_value (v));
    return *out ? 0 : fail (p, "out of memory");
}

static int
base64_value (char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/*  Standard base64 with its padding, as pbjson.c prints it.                 */
static int
parse_bytes (parse_t *p, const json_t *v, ProtobufCBinaryData *out)
{
    if (!json_is_string (v))
        return fail (p, "expected a base64 string");
    const char *s = json_string_value (v);
    size_t len = json_string_length (v);
    size_t pad = len >= 1 && s[len - 1] == '=' ? (len >= 2 && s[len - 2] == '=' ? 2 : 1) : 0;
    uint8_t *data = malloc (len / 4 * 3 + 1);
    if (!data)
        return fail (p, "out of memory");
    size_t n = 0;
    bool ok = len % 4 == 0;
    for (size_t i = 0; ok && i < len; i += 4) {
        uint32_t word = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = i + j >= len - pad ? 0 : base64_value (s[i + j]);
            ok = ok && d >= 0;
            word = word << 6 | (uint32_t) (d < 0 ? 0 : d);
        }
        size_t out_bytes = i + 4 == len ? 3 - pad : 3;
        for (size_t j = 0; j < out_bytes; j++)
            data[n++] = (uint8_t) (word >> (16 - 8 * j));
    }
    if (!ok) {
        free (data);
        return fail (p, "not base64");
    }
    out->data = data;
    out->len = n;
    return 0;
}

/* ---- values, fields, messages ------------------------------------------ */

static ProtobufCMessage *parse_message (parse_t *p, const ProtobufCMessageDescriptor *desc,
                                       const json_t *obj);

/*  One value of FIELD from V into MEMBER (its storage).                     */
static int
parse_value (parse_t *p, const ProtobufCFieldDescriptor *field, const json_t *v, void *member)
{
    json_int_t n = 0;
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (parse_int (p, v, INT32_MIN, INT32_MAX, &n))
            return -1;
        *(int32_t *) member = (int32_t) n;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (parse_int (p, v, 0, UINT32_MAX, &n))
            return -1;
        *(uint32_t *) member = (uint32_t) n;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return parse_int64 (p, v, true, member);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return parse_int64 (p, v, false, member);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = 0;
        if (parse_double (p, v, &d))
            return -1;
        if (field->type == PROTOBUF_C_TYPE_DOUBLE)
            *(double *) member = d;
        else if (isfinite (d) && fabs (d) > 3.4028234663852886e38)
            return fail (p, "%g out of range", d);
        else
            *(float *) member = (float) d;
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean (v))
            return fail (p, "expected true or false");
        *(protobuf_c_boolean *) member = json_is_true (v);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return parse_enum (p, field, v, member);
    case PROTOBUF_C_TYPE_STRING:
        return parse_string (p, v, member);
    case PROTOBUF_C_TYPE_BYTES:
        return parse_bytes (p, v, member);
    case PROTOBUF_C_TYPE_MESSAGE:
        if (json_is_null (v))
            return 0;
        *(ProtobufCMessage **) member = parse_message (p, field->descriptor, v);
        return *(ProtobufCMessage **) member ? 0 : -1;
    }
    return fail (p, "unsupported field type");
}

/*  A repeated FIELD from the JSON array V. The array is zeroed and counted
    before it is filled, so a failure half-way frees cleanly.               */
static int
parse_repeated (parse_t *p, const ProtobufCFieldDescriptor *field, const json_t *v, char *base)
{
    if (!json_is_array (v))
        return fail (p, "expected an array");
    size_t count = json_array_size (v), stride = pbjson_value_size (field->type);
    if (count == 0)
        return 0;
    char *array = calloc (count, stride);
    if (!array)
        return fail (p, "out of memory");
    *(char **) (base + field->offset) = array;
    *(size_t *) (base + field->quantifier_offset) = count;
    for (size_t i = 0; i < count; i++) {
        size_t mark = path_push (p, NULL, (long) i);
        const json_t *item = json_array_get (v, i);
        int rc = field->type == PROTOBUF_C_TYPE_MESSAGE && !json_is_object (item)
                     ? fail (p, "expected an object")   /* no null in an array */
                     : parse_value (p, field, item, array + i * stride);
        path_pop (p, mark);
        if (rc)
            return -1;
    }
    return 0;
}

/*  FIELD of the message at BASE from V; its presence flag or oneof case set. */
static int
parse_field (parse_t *p, const ProtobufCFieldDescriptor *field, const json_t *v, char *base)
{
    if (field->label == PROTOBUF_C_LABEL_REPEATED)
        return parse_repeated (p, field, v, base);
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = (uint32_t *) (base + field->quantifier_offset);
        if (*which && *which != field->id)
            return fail (p, "another field of its oneof is set");
        if (parse_value (p, field, v, base + field->offset))
            return -1;
        *which = field->id;
        return 0;
    }
    if (parse_value (p, field, v, base + field->offset))
        return -1;
    if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset
        && field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *) (base + field->quantifier_offset) = 1;
    return 0;
}

/*  Every key of OBJ into MSG.                                               */
static int
parse_fields (parse_t *p, ProtobufCMessage *msg, const json_t *obj)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) obj, key, value) {
        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field_by_name (msg->descriptor, key);
        if (!field) {
            if (p->depth == 1 && strcmp (key, "topic") == 0)
                continue;
            return fail (p, "unknown key '%.60s'", key);
        }
        size_t mark = path_push (p, field->name, 0);
        int rc = parse_field (p, field, value, (char *) msg);
        path_pop (p, mark);
        if (rc)
            return -1;
    }
    return 0;
}

static ProtobufCMessage *
parse_message (parse_t *p, const ProtobufCMessageDescriptor *desc, const json_t *obj)
{
    if (!json_is_object (obj)) {
        fail (p, "expected an object");
        return NULL;
    }
    if (p->depth >= DEPTH_MAX) {
        fail (p, "nested too deep");
        return NULL;
    }
    ProtobufCMessage *msg = malloc (desc->sizeof_message);
    if (!msg) {
        fail (p, "out of memory");
        return NULL;
    }
    desc->message_init (msg);
    p->depth++;
    int rc = parse_fields (p, msg, obj);
    p->depth--;
    if (rc) {
        protobuf_c_message_free_unpacked (msg, NULL);
        return NULL;
    }
    return msg;
}

ProtobufCMessage *
pbjson_parse (const ProtobufCMessageDescriptor *desc, const struct json_t *obj, char *error,
              size_t errlen)
{
    parse_t p = { .error = error, .errlen = errlen };
    if (error && errlen)
        error[0] = 0;
    return parse_message (&p, desc, (const json_t *) obj);
}
