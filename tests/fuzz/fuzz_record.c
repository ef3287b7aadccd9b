/*  fuzz_record.c — libFuzzer harness for the addon record parser of
    dpi-bridge-mitm: record.c (jansson, the general path) and record_fast.c
    (the addon's usual layout, read in place).

    Input: one record as the addon sends it (a piece of a datagram,
    bridge-mitm/PROTOCOL.md), any bytes. Seeds: the addon's own records
    (seeds.sh runs addon_records.py over deploy/mitmproxy/dpi_bridge.py).
    The input's length picks the body window (mitm.body_bytes): 16384, the
    default, when even; 8 when odd, so too-long windows are reached too.

    Checks, beyond no crash and no read outside the record (it is copied
    into a buffer of exactly its size):
    - both paths agree: record_parse on the record (in place when it is in
      the addon's layout, else jansson) and on the record behind one space
      (valid JSON just the same, which only jansson reads) give the same
      reason, and when the record is valid the same fields
      (tests/record_diff.h); record_parse_canonical alone takes the record
      exactly when record_parse says it read it in place;
    - a refused record has a reason from the fixed set and a detail that is
      not empty and fits its buffer; a too-large datagram is refused as
      too-large whatever it holds;
    - a valid record is within PROTOCOL.md's bounds (headers, lengths, the
      body window) and record_header finds its first header by name.     */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../record_diff.h"
#include "record.h"

#define MAX_BYTES 65536                 /* mitm.max_record_bytes' default */

static record_t *s_fast, *s_slow, *s_alone;

static void
check_bounds (const record_t *r)
{
    if (r->n_headers > RECORD_MAX_HEADERS || r->body_prefix_len > r->body_max
        || strlen (r->id) == 0 || strlen (r->id) > RECORD_MAX_ID
        || strlen (r->request_id) > RECORD_MAX_SHORT || !r->client.present)
        abort ();
    for (size_t i = 0; i < r->n_headers; i++) {
        const record_header_t *h = &r->headers[i];
        if (h->name_len == 0 || h->name_len > RECORD_MAX_HEADER_NAME
            || h->value_len > RECORD_MAX_HEADER_VALUE)
            abort ();
    }
    if (r->n_headers && !memchr (r->headers[0].name, 0, r->headers[0].name_len)) {
        const record_header_t *h = record_header (r, r->headers[0].name);
        if (!h || strcasecmp (h->name, r->headers[0].name) != 0)
            abort ();
    }
    if (r->type == RECORD_REQUEST
        && (!r->frontend.present || r->method_len == 0 || r->method_len > RECORD_MAX_METHOD
            || r->path_len + r->query_len > RECORD_MAX_TARGET
            || !record_is_token (r->method, r->method_len)))
        abort ();
    if (r->type == RECORD_RESPONSE && r->status > 999)
        abort ();
    if (r->type == RECORD_ERROR && (!r->error || strlen (r->error) > RECORD_MAX_TEXT))
        abort ();
}

static void
check_detail (record_reason_t reason, const char *detail, size_t size)
{
    if (reason >= RECORD_REASONS || !memchr (detail, 0, size))
        abort ();
    if ((reason == RECORD_OK) != (detail[0] == 0))
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_fast) {
        s_fast = record_new ();
        s_slow = record_new ();
        s_alone = record_new ();
        if (!s_fast || !s_slow || !s_alone)
            abort ();
    }
    if (size + 1 > MAX_BYTES)
        return 0;
    size_t window = size % 2 ? 8 : 16384;
    record_set_body_max (s_fast, window);
    record_set_body_max (s_slow, window);
    record_set_body_max (s_alone, window);

    char *exact = malloc (size ? size : 1);
    char *spaced = malloc (size + 1);
    if (!exact || !spaced)
        abort ();
    memcpy (exact, data, size);
    spaced[0] = ' ';
    memcpy (spaced + 1, data, size);

    char d1[160], d2[160];
    record_reason_t a = record_parse (s_fast, exact, size, size, MAX_BYTES, d1, sizeof d1);
    record_reason_t b = record_parse (s_slow, spaced, size + 1, size + 1, MAX_BYTES, d2, sizeof d2);
    check_detail (a, d1, sizeof d1);
    check_detail (b, d2, sizeof d2);
    if (s_slow->canonical)
        abort ();                       /* the spaced copy is never the addon's layout */
    if (a != b)
        abort ();                       /* the two paths disagree on the reason */
    if (a == RECORD_OK) {
        if (differs (s_fast, s_slow))
            abort ();                   /* ... or on a field */
        check_bounds (s_fast);
        check_bounds (s_slow);
    }
    /* the in-place reader alone, on a NUL-terminated copy it may change */
    char *text = malloc (size + 1);
    if (!text)
        abort ();
    memcpy (text, data, size);
    text[size] = 0;
    record_clear (s_alone);
    bool canonical = record_parse_canonical (s_alone, text, size);
    if (canonical != (a == RECORD_OK && s_fast->canonical))
        abort ();
    if (canonical && differs (s_alone, s_slow))
        abort ();
    record_clear (s_alone);
    free (text);

    /* over mitm.max_record_bytes: too-large, whatever the bytes */
    record_reason_t c = record_parse (s_alone, exact, size, MAX_BYTES + 1, MAX_BYTES, d1, sizeof d1);
    if (c != RECORD_TOO_LARGE)
        abort ();
    check_detail (c, d1, sizeof d1);

    free (exact);
    free (spaced);
    return 0;
}
