/*  rules.h — the fast rules of the live verdict, compiled with vectorscan.

    The rules file (YAML, PROTOCOL.md "Rules file") lists rules in order:
        rules:
          - id: sqli-union-select          # [A-Za-z0-9._:-], unique
            category: sqli                 # same characters
            severity: 8                    # 1..10
            fields: [query, body]          # method path query headers body
            flags: [caseless]              # optional: caseless dotall multiline
            pattern: '\bunion\b...'        # vectorscan's PCRE subset
            description: ...               # optional, ignored
    rules_new loads and compiles it ONCE (or takes the compiled databases
    from a cache file, rules_cache.h): one vectorscan block-mode database
    per field holding the rules that scan that field (HS_FLAG_SINGLEMATCH),
    and one scratch sized for all of them. Every error is collected and
    names FILE:LINE and the rule id; a pattern vectorscan refuses gives its
    message ("FILE:12: rule 'xss-1': pattern does not compile: ...").

    What is scanned (rules_match):
      method   as received
      path     raw, then percent-decoded ('+' stays '+': it is literal in a
               path), then decoded a second time when the first pass left
               %XX sequences (double encoding)
      query    raw, then percent-decoded with '+' as space (form encoding),
               then a second pass as for the path
      headers  raw: one "Name: value\n" line per header, in order
      body     the body prefix raw, then decoded as the query is
    Raw forms keep rules on encodings themselves (%00, %2e%2e) working;
    decoded forms defeat the trivial evasion of encoding an attack.

    The verdict is the FIRST rule in file order that matches any form of
    any of its fields (a lower index wins, whatever field it matched).

    Not thread safe: the scratch and the decode buffers are per rules_t;
    use one per thread.                                                      */
#ifndef DPI_BRIDGE_RULES_H
#define DPI_BRIDGE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define RULES_MATCHED_MAX 128           /* excerpt bytes, without the NUL    */

typedef enum {
    RULES_FIELD_METHOD, RULES_FIELD_PATH, RULES_FIELD_QUERY, RULES_FIELD_HEADERS,
    RULES_FIELD_BODY, RULES_FIELDS
} rules_field_t;

typedef struct rules_t rules_t;

/*  What rules_match scans; any pointer may be NULL with length 0.          */
typedef struct {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    const char *query;
    size_t query_len;
    const char *headers;                /* "Name: value\n" lines             */
    size_t headers_len;
    const uint8_t *body;
    size_t body_len;
} rules_input_t;

typedef struct {
    unsigned index;                     /* in file order                     */
    const char *id;                     /* owned by the rules_t              */
    const char *category;
    unsigned severity;
    rules_field_t field;
    bool decoded;                       /* matched a decoded form            */
    char matched[RULES_MATCHED_MAX + 1];/* printable excerpt ending near the match */
} rules_match_t;

/*  Load and compile PATH. NULL on any error, each one added to ERRORS
    ("PATH:LINE: rule 'ID': reason"; ERRORS may be NULL). CACHE (or NULL):
    a file for the compiled databases (rules_cache.h): when it holds these
    very rules' the compile is skipped (rules_cached), else they are
    compiled and written there. A cache that cannot be read or written is
    not an error: rules_cache_note says so ("not used: PATH: reason" and/or
    "not written: PATH: reason"; "" when all went well or there was no file
    yet).                                                       */
rules_t *rules_new (const char *path, const char *cache, config_errors_t *errors);
bool rules_cached (rules_t *self);
const char *rules_cache_note (rules_t *self);
void rules_destroy (rules_t **self_p);

size_t rules_count (rules_t *self);
const char *rules_id (rules_t *self, size_t index);

/*  The first rule matching IN, into MATCH. True when one did. A scan error
    (vectorscan) counts as no match and is counted in rules_scan_errors.     */
bool rules_match (rules_t *self, const rules_input_t *in, rules_match_t *match);
uint64_t rules_scan_errors (rules_t *self);

const char *rules_field_name (rules_field_t field);

/*  Percent-decode LEN bytes of IN into OUT (room for LEN bytes); with PLUS,
    '+' becomes a space. Malformed escapes stay as they are. Returns the
    decoded length.                                                           */
size_t rules_url_decode (const char *in, size_t len, bool plus, char *out);

#endif
