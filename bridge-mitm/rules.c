/*  rules.c — see rules.h.                                                   */
#include "rules.h"

#include <errno.h>
#include <hs/hs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "rules_cache.h"

#define MAX_ID 64
#define MAX_CATEGORY 32
#define MAX_PATTERN 8192

static const char *s_field_names[RULES_FIELDS] = { "method", "path", "query", "headers", "body" };

typedef struct {
    char *id;
    char *category;
    char *pattern;
    unsigned severity;
    unsigned fields;                    /* bit per rules_field_t             */
    unsigned flags;                     /* HS_FLAG_*                         */
    size_t line;
} rule_t;

struct rules_t {
    rule_t *rules;
    size_t count;
    hs_database_t *db[RULES_FIELDS];    /* NULL: no rule scans the field     */
    unsigned first[RULES_FIELDS];       /* lowest rule index in each db      */
    hs_scratch_t *scratch;
    char *decoded[2];                   /* once and twice decoded forms      */
    size_t decoded_size;
    uint64_t scan_errors;
    bool cached;                        /* the databases came from the cache */
    char cache_note[512];               /* why the cache was not used / kept */
};

/*  Loading state: the file and the collected errors.                       */
typedef struct {
    const char *path;
    config_errors_t *out;
    int errors;
    yaml_document_t *doc;
} loader_t;

static void
load_error (loader_t *l, size_t line, const char *rule, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/*  One error: "PATH[:LINE]: [rule 'ID': ]reason".                           */
static void
load_error (loader_t *l, size_t line, const char *rule, const char *fmt, ...)
{
    l->errors++;
    char reason[512], where[64] = "";
    va_list args;
    va_start (args, fmt);
    vsnprintf (reason, sizeof reason, fmt, args);
    va_end (args);
    if (line)
        snprintf (where, sizeof where, ":%zu", line);
    config_errors_add (l->out, "%s%s: %s%s%s%s", l->path, where, rule ? "rule '" : "",
                       rule ? rule : "", rule ? "': " : "", reason);
}

static size_t
line_of (const yaml_node_t *node)
{
    return node->start_mark.line + 1;
}

static const char *
scalar (const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *) node->data.scalar.value : NULL;
}

static bool
is_name (const char *s, size_t max)
{
    size_t len = strlen (s);
    if (len == 0 || len > max)
        return false;
    return strspn (s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == len;
}

static void
rule_clear (rule_t *r)
{
    free (r->id);
    free (r->category);
    free (r->pattern);
    memset (r, 0, sizeof *r);
}

/*  FIELDS: a name or a list of names.                                       */
static void
load_fields (loader_t *l, const yaml_node_t *node, rule_t *r, const char *rule)
{
    const yaml_node_t *items[RULES_FIELDS * 4];
    size_t n = 0;
    if (node->type == YAML_SCALAR_NODE)
        items[n++] = node;
    else if (node->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = node->data.sequence.items.start;
             i < node->data.sequence.items.top && n < sizeof items / sizeof items[0]; i++)
            items[n++] = yaml_document_get_node (l->doc, *i);
    }
    else {
        load_error (l, line_of (node), rule, "fields: expected a list of field names");
        return;
    }
    for (size_t k = 0; k < n; k++) {
        const char *name = scalar (items[k]);
        int f = 0;
        while (f < RULES_FIELDS && (!name || strcmp (name, s_field_names[f]) != 0))
            f++;
        if (f == RULES_FIELDS)
            load_error (l, line_of (items[k]), rule,
                        "fields: '%.32s' is not one of method, path, query, headers, body",
                        name ? name : "(not a name)");
        else
            r->fields |= 1u << f;
    }
    if (n == 0)
        load_error (l, line_of (node), rule, "fields: empty");
}

static void
load_flags (loader_t *l, const yaml_node_t *node, rule_t *r, const char *rule)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        load_error (l, line_of (node), rule, "flags: expected a list (caseless, dotall, multiline)");
        return;
    }
    for (yaml_node_item_t *i = node->data.sequence.items.start;
         i < node->data.sequence.items.top; i++) {
        const yaml_node_t *item = yaml_document_get_node (l->doc, *i);
        const char *name = scalar (item);
        if (name && strcmp (name, "caseless") == 0)
            r->flags |= HS_FLAG_CASELESS;
        else if (name && strcmp (name, "dotall") == 0)
            r->flags |= HS_FLAG_DOTALL;
        else if (name && strcmp (name, "multiline") == 0)
            r->flags |= HS_FLAG_MULTILINE;
        else
            load_error (l, line_of (item), rule,
                        "flags: '%.32s' is not one of caseless, dotall, multiline",
                        name ? name : "(not a name)");
    }
}

/*  Is the key of PAIR (in mapping MAP) the key of an earlier pair? libyaml
    takes a repeated key; a rule would then keep one of the values silently
    (and leak the other).                                                   */
static bool
repeated (yaml_document_t *doc, const yaml_node_t *map, const yaml_node_pair_t *pair)
{
    const char *key = scalar (yaml_document_get_node (doc, pair->key));
    for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; key && q < pair; q++) {
        const char *earlier = scalar (yaml_document_get_node (doc, q->key));
        if (earlier && strcmp (earlier, key) == 0)
            return true;
    }
    return false;
}

/*  One rule mapping (the INDEX-th) into R; errors counted in L.            */
static void
load_rule (loader_t *l, const yaml_node_t *node, size_t index, rule_t *r)
{
    char label[MAX_ID + 16];
    snprintf (label, sizeof label, "#%zu", index + 1);
    r->line = line_of (node);
    int errors_before = l->errors;
    if (node->type != YAML_MAPPING_NODE) {
        load_error (l, line_of (node), label, "expected a mapping (id, category, ...)");
        return;
    }
    /* the id first, so every other error can name it */
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *key_node = yaml_document_get_node (l->doc, p->key);
        const yaml_node_t *value = yaml_document_get_node (l->doc, p->value);
        const char *key = scalar (key_node);
        if (repeated (l->doc, node, p))
            load_error (l, line_of (key_node), label, "'%.32s' given twice", key);
        else if (key && strcmp (key, "id") == 0) {
            const char *id = scalar (value);
            if (!id || !is_name (id, MAX_ID))
                load_error (l, line_of (value), label,
                            "id: expected 1..%d of [A-Za-z0-9._:-]", MAX_ID);
            else {
                snprintf (label, sizeof label, "%s", id);
                r->id = strdup (id);
            }
        }
    }
    bool have_severity = false;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *key_node = yaml_document_get_node (l->doc, p->key);
        const yaml_node_t *value = yaml_document_get_node (l->doc, p->value);
        const char *key = scalar (key_node);
        const char *text = scalar (value);
        if (!key)
            load_error (l, line_of (key_node), label, "keys must be names");
        else if (strcmp (key, "id") == 0 || repeated (l->doc, node, p))
            continue;                   /* the first loop's */
        else if (strcmp (key, "category") == 0) {
            if (!text || !is_name (text, MAX_CATEGORY))
                load_error (l, line_of (value), label,
                            "category: expected 1..%d of [A-Za-z0-9._:-]", MAX_CATEGORY);
            else
                r->category = strdup (text);
        }
        else if (strcmp (key, "severity") == 0) {
            char *end = NULL;
            long severity = text ? strtol (text, &end, 10) : 0;
            if (!text || end == text || *end || severity < 1 || severity > 10)
                load_error (l, line_of (value), label, "severity: expected an integer 1..10");
            else {
                r->severity = (unsigned) severity;
                have_severity = true;
            }
        }
        else if (strcmp (key, "fields") == 0)
            load_fields (l, value, r, label);
        else if (strcmp (key, "flags") == 0)
            load_flags (l, value, r, label);
        else if (strcmp (key, "pattern") == 0) {
            if (!text || !*text || strlen (text) > MAX_PATTERN)
                load_error (l, line_of (value), label,
                            "pattern: expected a non-empty string of at most %d bytes",
                            MAX_PATTERN);
            else
                r->pattern = strdup (text);
        }
        else if (strcmp (key, "description") == 0) {
            if (!text)
                load_error (l, line_of (value), label, "description: expected a string");
        }
        else
            load_error (l, line_of (key_node), label, "unknown key '%.32s'", key);
    }
    if (l->errors != errors_before)
        return;
    const char *missing = !r->id ? "id" : !r->category ? "category" : !have_severity ? "severity"
                        : !r->fields ? "fields" : !r->pattern ? "pattern" : NULL;
    if (missing)
        load_error (l, line_of (node), label, "'%s' is required", missing);
}

/*  Parse the YAML into SELF->rules; 0 or -1 (errors in L).                 */
static int
load_file (rules_t *self, loader_t *l)
{
    FILE *file = fopen (l->path, "rb");
    if (!file) {
        load_error (l, 0, NULL, "cannot open: %s", strerror (errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize (&parser);
    yaml_parser_set_input_file (&parser, file);
    if (!yaml_parser_load (&parser, &doc)) {
        load_error (l, parser.problem_mark.line + 1, NULL, "YAML: %s",
                    parser.problem ? parser.problem : "cannot parse");
        yaml_parser_delete (&parser);
        fclose (file);
        return -1;
    }
    yaml_parser_delete (&parser);
    fclose (file);
    l->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node (&doc);
    const yaml_node_t *list = NULL;
    if (!root || root->type != YAML_MAPPING_NODE)
        load_error (l, root ? line_of (root) : 0, NULL, "expected a mapping with a 'rules:' list");
    else
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++) {
            const yaml_node_t *key_node = yaml_document_get_node (&doc, p->key);
            const yaml_node_t *value = yaml_document_get_node (&doc, p->value);
            const char *key = scalar (key_node);
            if (repeated (&doc, root, p))
                load_error (l, line_of (key_node), NULL, "'%.32s' given twice", key);
            else if (key && strcmp (key, "rules") == 0) {
                if (value->type != YAML_SEQUENCE_NODE)
                    load_error (l, line_of (value), NULL, "rules: expected a list of rules");
                else
                    list = value;
            }
            else if (key && strcmp (key, "version") == 0) {
                const char *text = scalar (value);
                if (!text || strcmp (text, "1") != 0)
                    load_error (l, line_of (value), NULL, "version: expected 1");
            }
            else
                load_error (l, line_of (key_node), NULL, "unknown key '%.32s' (expected rules)",
                            key ? key : "?");
        }
    if (list) {
        size_t n = (size_t) (list->data.sequence.items.top - list->data.sequence.items.start);
        self->rules = calloc (n ? n : 1, sizeof *self->rules);
        if (!self->rules)
            load_error (l, 0, NULL, "out of memory");
        for (size_t i = 0; self->rules && i < n; i++) {
            const yaml_node_t *item
                = yaml_document_get_node (&doc, list->data.sequence.items.start[i]);
            load_rule (l, item, i, &self->rules[i]);
            self->count++;
            for (size_t k = 0; k < i && self->rules[i].id; k++)
                if (self->rules[k].id && strcmp (self->rules[k].id, self->rules[i].id) == 0) {
                    load_error (l, line_of (item), self->rules[i].id,
                                "duplicate id (first at line %zu)", self->rules[k].line);
                    break;
                }
        }
    }
    else if (root && root->type == YAML_MAPPING_NODE && l->errors == 0)
        load_error (l, line_of (root), NULL, "no 'rules:' list");
    yaml_document_delete (&doc);
    l->doc = NULL;
    return l->errors ? -1 : 0;
}

static unsigned
hs_flags (const rule_t *r)
{
    return r->flags | HS_FLAG_SINGLEMATCH;
}

/*  The rules that scan field F, in file order, into PATTERNS, FLAGS, IDS
    (room for every rule). Their number.                                    */
static unsigned
field_rules (const rules_t *self, int f, const char **patterns, unsigned *flags, unsigned *ids)
{
    unsigned n = 0;
    for (size_t i = 0; i < self->count; i++)
        if (self->rules[i].fields & (1u << f)) {
            patterns[n] = self->rules[i].pattern;
            flags[n] = hs_flags (&self->rules[i]);
            ids[n++] = (unsigned) i;
        }
    return n;
}

/*  The cache's key (rules_cache.h): everything the databases depend on —
    vectorscan's version, the platform, per field the rules' ids, flags and
    patterns in order. Malloc'd; NULL when out of memory.                   */
static char *
cache_key (const rules_t *self, const hs_platform_info_t *platform, const char **patterns,
           unsigned *flags, unsigned *ids, size_t *len)
{
    char *key = NULL;
    FILE *f = open_memstream (&key, len);
    if (!f)
        return NULL;
    fprintf (f, "%s", hs_version ());
    fputc (0, f);
    fwrite (platform, sizeof *platform, 1, f);
    for (int field = 0; field < RULES_FIELDS; field++) {
        unsigned n = field_rules (self, field, patterns, flags, ids);
        fwrite (&n, sizeof n, 1, f);
        for (unsigned i = 0; i < n; i++) {
            fwrite (&ids[i], sizeof ids[i], 1, f);
            fwrite (&flags[i], sizeof flags[i], 1, f);
            fwrite (patterns[i], strlen (patterns[i]) + 1, 1, f);
        }
    }
    if (fclose (f) != 0) {
        free (key);
        return NULL;
    }
    return key;
}

/*  The databases from CACHE when it holds these rules' (then only the
    scratch is allocated). 0 used, -1 not (cache_note says why, unless there
    was simply no file yet).                                                 */
static int
from_cache (rules_t *self, loader_t *l, const char *cache, const char *key, size_t key_len,
            const char **patterns, unsigned *flags, unsigned *ids)
{
    if (!cache || !key)
        return -1;
    char why[400] = "";
    int rc = rules_cache_load (cache, key, key_len, self->db, RULES_FIELDS, why, sizeof why);
    if (rc < 0)
        snprintf (self->cache_note, sizeof self->cache_note, "not used: %s", why);
    if (rc != 0)
        return -1;
    for (int f = 0; f < RULES_FIELDS; f++) {
        if (field_rules (self, f, patterns, flags, ids))
            self->first[f] = ids[0];
        if (self->db[f] && hs_alloc_scratch (self->db[f], &self->scratch) != HS_SUCCESS)
            load_error (l, 0, NULL, "cannot allocate vectorscan scratch");
    }
    self->cached = true;
    return 0;
}

/*  Compile each pattern alone (every bad one is reported with its rule),
    then one database per field; unless CACHE (may be NULL) holds them
    already, and into CACHE when it did not.                                 */
static int
compile (rules_t *self, loader_t *l, const char *cache)
{
    hs_platform_info_t platform;
    memset (&platform, 0, sizeof platform);     /* its padding goes into the cache key */
    if (hs_populate_platform (&platform) != HS_SUCCESS || hs_valid_platform () != HS_SUCCESS) {
        load_error (l, 0, NULL, "vectorscan does not support this CPU");
        return -1;
    }
    const char **patterns = calloc (self->count + 1, sizeof *patterns);
    unsigned *flags = calloc (self->count + 1, sizeof *flags);
    unsigned *ids = calloc (self->count + 1, sizeof *ids);
    size_t key_len = 0;
    char *key = cache && patterns && flags && ids
                    ? cache_key (self, &platform, patterns, flags, ids, &key_len) : NULL;
    if (from_cache (self, l, cache, key, key_len, patterns, flags, ids) == 0) {
        free (key);
        free (patterns);
        free (flags);
        free (ids);
        return l->errors ? -1 : 0;
    }
    for (size_t i = 0; i < self->count; i++) {
        hs_database_t *db = NULL;
        hs_compile_error_t *error = NULL;
        if (hs_compile (self->rules[i].pattern, hs_flags (&self->rules[i]), HS_MODE_BLOCK, NULL,
                        &db, &error) != HS_SUCCESS) {
            load_error (l, self->rules[i].line, self->rules[i].id,
                        "pattern does not compile: %s", error ? error->message : "?");
            hs_free_compile_error (error);
        }
        hs_free_database (db);
    }
    for (int f = 0; !l->errors && patterns && flags && ids && f < RULES_FIELDS; f++) {
        unsigned n = field_rules (self, f, patterns, flags, ids);
        if (n == 0)
            continue;
        self->first[f] = ids[0];
        hs_compile_error_t *error = NULL;
        if (hs_compile_multi (patterns, flags, ids, n, HS_MODE_BLOCK, NULL, &self->db[f],
                              &error) != HS_SUCCESS) {
            const rule_t *r = error && error->expression >= 0 ? &self->rules[ids[error->expression]]
                                                               : NULL;
            load_error (l, r ? r->line : 0, r ? r->id : NULL, "%s rules do not compile: %s",
                        s_field_names[f], error ? error->message : "?");
            hs_free_compile_error (error);
            break;
        }
        if (hs_alloc_scratch (self->db[f], &self->scratch) != HS_SUCCESS) {
            load_error (l, 0, NULL, "cannot allocate vectorscan scratch");
            break;
        }
    }
    if (!patterns || !flags || !ids)
        load_error (l, 0, NULL, "out of memory");
    char why[400] = "";
    if (!l->errors && key
        && rules_cache_save (cache, key, key_len, self->db, RULES_FIELDS, why, sizeof why) != 0)
        snprintf (self->cache_note, sizeof self->cache_note, "not written: %s", why);
    free (key);
    free (patterns);
    free (flags);
    free (ids);
    return l->errors ? -1 : 0;
}

rules_t *
rules_new (const char *path, const char *cache, config_errors_t *errors)
{
    loader_t l = { path, errors, 0, NULL };
    rules_t *self = calloc (1, sizeof *self);
    if (!self) {
        load_error (&l, 0, NULL, "out of memory");
        return NULL;
    }
    if (load_file (self, &l) != 0 || compile (self, &l, cache) != 0)
        rules_destroy (&self);
    return self;
}

void
rules_destroy (rules_t **self_p)
{
    rules_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        rule_clear (&self->rules[i]);
    free (self->rules);
    for (int f = 0; f < RULES_FIELDS; f++)
        hs_free_database (self->db[f]);
    hs_free_scratch (self->scratch);
    free (self->decoded[0]);
    free (self->decoded[1]);
    free (self);
    *self_p = NULL;
}

bool rules_cached (rules_t *self) { return self->cached; }
const char *rules_cache_note (rules_t *self) { return self->cache_note; }

size_t
rules_count (rules_t *self)
{
    return self->count;
}

const char *
rules_id (rules_t *self, size_t index)
{
    return index < self->count ? self->rules[index].id : NULL;
}

uint64_t
rules_scan_errors (rules_t *self)
{
    return self->scan_errors;
}

const char *
rules_field_name (rules_field_t field)
{
    return (unsigned) field < RULES_FIELDS ? s_field_names[field] : "?";
}

static int
hex_value (char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

size_t
rules_url_decode (const char *in, size_t len, bool plus, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < len && (hi = hex_value (in[i + 1])) >= 0
            && (lo = hex_value (in[i + 2])) >= 0) {
            out[n++] = (char) (hi << 4 | lo);
            i += 2;
        }
        else if (in[i] == '+' && plus)
            out[n++] = ' ';
        else
            out[n++] = in[i];
    }
    return n;
}

/*  Does TEXT hold a %XX escape?                                             */
static bool
has_escape (const char *text, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++)
        if (text[i] == '%' && hex_value (text[i + 1]) >= 0 && hex_value (text[i + 2]) >= 0)
            return true;
    return false;
}

/*  The scan of one buffer.                                                  */
typedef struct {
    unsigned best;                      /* lowest rule index matched so far  */
    unsigned long long to;              /* its match end                     */
    bool hit;                           /* this scan improved best           */
} scan_t;

static int
on_match (unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
          void *context)
{
    (void) from;
    (void) flags;
    scan_t *s = context;
    if (id < s->best) {
        s->best = id;
        s->to = to;
        s->hit = true;
    }
    return id == 0;                     /* nothing can beat rule 0: stop     */
}

static void
excerpt (const char *data, size_t len, unsigned long long to, char *out)
{
    size_t end = to + 16 < len ? (size_t) to + 16 : len;
    size_t start = end > RULES_MATCHED_MAX ? end - RULES_MATCHED_MAX : 0;
    size_t n = 0;
    for (size_t i = start; i < end; i++)
        out[n++] = data[i] >= 0x20 && data[i] < 0x7f ? data[i] : '.';
    out[n] = 0;
}

/*  Room for decoded forms of LEN bytes.                                     */
static int
reserve (rules_t *self, size_t len)
{
    if (len <= self->decoded_size)
        return 0;
    size_t size = len < 4096 ? 4096 : len;
    for (int k = 0; k < 2; k++) {
        char *grown = realloc (self->decoded[k], size);
        if (!grown)
            return -1;
        self->decoded[k] = grown;
    }
    self->decoded_size = size;
    return 0;
}

bool
rules_match (rules_t *self, const rules_input_t *in, rules_match_t *match)
{
    const char *raw[RULES_FIELDS] = { in->method, in->path, in->query, in->headers,
                                      (const char *) in->body };
    size_t raw_len[RULES_FIELDS] = { in->method_len, in->path_len, in->query_len,
                                     in->headers_len, in->body_len };
    scan_t s = { UINT32_MAX, 0, false };
    for (int f = 0; f < RULES_FIELDS; f++) {
        if (!self->db[f] || self->first[f] >= s.best || !raw[f])
            continue;
        const char *forms[3] = { raw[f], NULL, NULL };
        size_t form_len[3] = { raw_len[f], 0, 0 };
        bool decode = f == RULES_FIELD_PATH || f == RULES_FIELD_QUERY || f == RULES_FIELD_BODY;
        bool plus = f != RULES_FIELD_PATH;
        bool changes = has_escape (raw[f], raw_len[f])
                       || (plus && memchr (raw[f], '+', raw_len[f]) != NULL);
        if (decode && changes && reserve (self, raw_len[f]) == 0) {
            form_len[1] = rules_url_decode (raw[f], raw_len[f], plus, self->decoded[0]);
            forms[1] = self->decoded[0];
            if (has_escape (forms[1], form_len[1])) {
                form_len[2] = rules_url_decode (forms[1], form_len[1], plus, self->decoded[1]);
                forms[2] = self->decoded[1];
            }
        }
        for (int k = 0; k < 3 && forms[k]; k++) {
            s.hit = false;
            hs_error_t rc = hs_scan (self->db[f], forms[k], (unsigned) form_len[k], 0,
                                     self->scratch, on_match, &s);
            if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED)
                self->scan_errors++;
            if (s.hit) {
                match->field = (rules_field_t) f;
                match->decoded = k > 0;
                excerpt (forms[k], form_len[k], s.to, match->matched);
            }
            if (self->first[f] >= s.best)
                break;
        }
    }
    if (s.best == UINT32_MAX)
        return false;
    const rule_t *r = &self->rules[s.best];
    match->index = s.best;
    match->id = r->id;
    match->category = r->category;
    match->severity = r->severity;
    return true;
}
