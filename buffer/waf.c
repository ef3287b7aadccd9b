/*  waf.c — see waf.h.

    Loading: the module's phase-1 rule (WAF_RULE_SETUP) is added first, so
    it runs before CRS's REQUEST-901, whose 901100/901120/901125 only set
    tx.inbound_anomaly_score_threshold, tx.paranoia_level and
    tx.executing_paranoia_level when they are still unset; then the
    configuration file; then the score rule (WAF_RULE_SCORE), last in
    phase 2, after 949060..949063 have summed tx.anomaly_score.

    Results come from ModSecurity's log callback, one text per matched rule:
        ModSecurity: Warning. Matched "..." (Value: `...' ) [file "F"]
        [line "L"] [id "N"] [rev ""] [msg "M"] [data "D"] [severity "S"]
        [ver ...] [maturity ...] [accuracy ...] [tag "T"]... [hostname ...]
    The part before [file carries request bytes, and so do msg, data and
    uri: the parser takes the first "[file ..] [line "digits"] [id "digits"]"
    run as the start of the details, ends msg at `"] [data "` and data at
    `"] [severity "`. A request can still fake rule details inside its own
    Value (it only mislabels itself), but not the score: the score rule's
    message carries a random token drawn at load, which a request cannot
    guess.

    libmodsecurity3 3.0.9 leaves some rules' tags out of the message (the
    libinjection rules 942100 and 941100 come without any); the category
    then falls back on the CRS file the id belongs to (942xxx: sqli, ...).

    Threads: one ModSecurity and one RulesSet per waf_t, shared; one
    Transaction per waf_analyse, its result pointer passed to
    msc_new_transaction and handed back to the callback on the same thread.
    In 3.0.9 creating a Transaction only reads the ModSecurity (its
    collection pointers; the unique id comes from a local random_device),
    so msc_new_transaction needs no lock. The in-memory collections
    (GLOBAL, IP, ...) lock their writes but not their reads (seen in the
    library's code); the shipped configuration writes none of them per
    request (CRS's DoS protection 912 and IP reputation blocking 910 are
    off in Debian's crs-setup.conf) — enabling those would need a lock
    around whole transactions.                                              */
#include "waf.h"

#include <ctype.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define WAF_RULE_SETUP   99001      /* phase 1: paranoia and threshold      */
#define WAF_RULE_SCORE   99010      /* end of phase 2: logs tx.anomaly_score */
#define TOKEN_LEN        16

struct waf_t {
    ModSecurity *ms;
    RulesSet *rules;
    int paranoia;
    int threshold;
    size_t rule_count;              /* rules from the configuration file    */
    char score_msg[64];             /* "dpi-dual score TOKEN"               */
};

/*  What the log callback fills: one per waf_analyse.                       */
typedef struct {
    const waf_t *waf;
    waf_result_t *out;
} tx_ctx_t;


/*  Copy [FROM, END) into OUT (at most OUTLEN - 1 bytes, NUL-terminated).   */
static void
copy_span (const char *from, const char *end, char *out, size_t outlen)
{
    size_t n = (size_t) (end - from);
    if (n >= outlen)
        n = outlen - 1;
    memcpy (out, from, n);
    out[n] = 0;
}

/*  The value of the field `[NAME "` at P (which must start there): its
    start, and its end at the first `"]`. NULL when P is not that field.    */
static const char *
field_at (const char *p, const char *name, const char **end)
{
    char open[32];
    snprintf (open, sizeof open, "[%s \"", name);
    size_t len = strlen (open);
    if (strncmp (p, open, len) != 0)
        return NULL;
    *end = strstr (p + len, "\"]");
    return *end ? p + len : NULL;
}

/*  Is S (up to `"]`) all digits, and at least one?                         */
static bool
digits_field (const char *s, const char *end)
{
    if (s == end)
        return false;
    for (; s < end; s++)
        if (!isdigit ((unsigned char) *s))
            return false;
    return true;
}

/*  The start of the details: the first `[file "..."] [line "N"] [id "N"]`.
    Sets *ID. NULL when the text has none.                                  */
static const char *
find_details (const char *text, uint32_t *id)
{
    for (const char *p = strstr (text, "[file \""); p; p = strstr (p + 1, "[file \"")) {
        const char *end, *line, *idv;
        if (!field_at (p, "file", &end) || strncmp (end, "\"] ", 3) != 0)
            continue;
        const char *q = end + 3;
        if (!(line = field_at (q, "line", &end)) || !digits_field (line, end)
            || strncmp (end, "\"] ", 3) != 0)
            continue;
        q = end + 3;
        if (!(idv = field_at (q, "id", &end)) || !digits_field (idv, end))
            continue;
        *id = (uint32_t) strtoul (idv, NULL, 10);
        return end + 2;
    }
    return NULL;
}

/*  From P (after the id), msg and data: msg ends at `"] [data "`, data at
    `"] [severity "`. Returns where severity starts, NULL if malformed.    */
static const char *
parse_msg_data (const char *p, char *msg, size_t msglen, char *data, size_t datalen)
{
    const char *m = strstr (p, " [msg \"");
    if (!m)
        return NULL;
    m += 7;
    const char *mend = strstr (m, "\"] [data \"");
    if (!mend)
        return NULL;
    copy_span (m, mend, msg, msglen);
    const char *d = mend + 10;
    const char *dend = strstr (d, "\"] [severity \"");
    if (!dend)
        return NULL;
    copy_span (d, dend, data, datalen);
    return dend + 3;
}

/*  From P (at [severity), the severity and the tags, up to [hostname.      */
static void
parse_tail (const char *p, waf_rule_t *rule)
{
    while (*p == '[' && strncmp (p, "[hostname \"", 11) != 0) {
        const char *end, *v;
        if ((v = field_at (p, "severity", &end)))
            rule->severity = (uint32_t) strtoul (v, NULL, 10);
        else if ((v = field_at (p, "tag", &end))) {
            if (rule->tag_count < WAF_TAGS_MAX)
                copy_span (v, end, rule->tags[rule->tag_count++], WAF_TAG_MAX);
        } else if (!(end = strstr (p, "\"]")))
            return;                 /* ver, maturity, accuracy: skipped     */
        for (p = end + 2; *p == ' '; p++)
            ;
    }
}

/*  The log callback: one matched rule into the transaction's result.      */
static void
on_log (void *data, const void *message)
{
    tx_ctx_t *ctx = data;
    const char *text = message;
    if (!ctx || !text)
        return;
    waf_rule_t rule = { 0 };
    const char *p = find_details (text, &rule.id);
    if (!p || !(p = parse_msg_data (p, rule.msg, sizeof rule.msg,
                                    rule.data, sizeof rule.data)))
        return;                     /* not a rule match (no details)        */
    if (rule.id == WAF_RULE_SCORE) {
        if (strcmp (rule.msg, ctx->waf->score_msg) == 0) {
            ctx->out->score = (uint32_t) strtoul (rule.data, NULL, 10);
            ctx->out->score_seen = true;
        }
        return;
    }
    parse_tail (p, &rule);
    if (ctx->out->rule_count < WAF_MAX_RULES)
        ctx->out->rules[ctx->out->rule_count++] = rule;
    else
        ctx->out->rules_dropped++;
}


/*  "Rules error. File: F. Line: L. Column: C. REASON" as "F:L:C: REASON";
    any other message as "CONF: MESSAGE".                                   */
static void
add_load_error (config_errors_t *errors, const char *conf, const char *msg)
{
    char file[1024];
    unsigned line, column;
    int used = 0;
    const char *f = strstr (msg, "File: ");
    if (f && sscanf (f, "File: %1023[^\n]", file) == 1) {
        char *l = strstr (file, ". Line: ");
        if (l && sscanf (l, ". Line: %u. Column: %u. %n", &line, &column, &used) == 2
            && used > 0) {
            const char *reason = f + 6 + (size_t) (l - file) + (size_t) used;
            *l = 0;
            size_t rlen = strlen (reason);
            while (rlen > 0 && isspace ((unsigned char) reason[rlen - 1]))
                rlen--;
            config_errors_add (errors, "%s:%u:%u: %.*s", file, line, column,
                               (int) rlen, reason);
            return;
        }
    }
    config_errors_add (errors, "%s: %s", conf, msg);
}

/*  Add PLAIN (module rules) or the file CONF to the RulesSet; -1 with the
    reason in ERRORS.                                                       */
static int
add_rules (waf_t *self, const char *conf, const char *plain, config_errors_t *errors)
{
    const char *error = NULL;
    int n = plain ? msc_rules_add (self->rules, plain, &error)
                  : msc_rules_add_file (self->rules, conf, &error);
    if (n < 0) {
        if (plain)
            config_errors_add (errors, "%s: the module's own rules: %s", conf,
                               error ? error : "refused");
        else
            add_load_error (errors, conf, error ? error : "ModSecurity refused it");
    }
    free ((void *) error);          /* strdup'ed by libmodsecurity          */
    return n < 0 ? -1 : n;
}

/*  The module's two rules around the configuration, into SETUP and SCORE. */
static void
module_rules (waf_t *self, char *setup, size_t setuplen, char *score, size_t scorelen)
{
    snprintf (setup, setuplen,
              "SecAction \"id:%d,phase:1,pass,nolog,t:none,"
              "setvar:'tx.paranoia_level=%d',"
              "setvar:'tx.executing_paranoia_level=%d',"
              "setvar:'tx.inbound_anomaly_score_threshold=%d'\"",
              WAF_RULE_SETUP, self->paranoia, self->paranoia, self->threshold);
    snprintf (score, scorelen,
              "SecRule TX:ANOMALY_SCORE \"@ge 0\" \"id:%d,phase:2,pass,log,auditlog,"
              "t:none,msg:'%s',logdata:'%%{tx.anomaly_score}'\"",
              WAF_RULE_SCORE, self->score_msg);
}

waf_t *
waf_new (const char *conf, int paranoia, int threshold, config_errors_t *errors)
{
    if (paranoia < 1 || paranoia > 4 || threshold < 1) {
        config_errors_add (errors, "%s: paranoia %d (1..4) or threshold %d (>= 1) "
                           "out of range", conf, paranoia, threshold);
        return NULL;
    }
    waf_t *self = calloc (1, sizeof *self);
    unsigned char raw[TOKEN_LEN / 2];
    if (!self || getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw) {
        config_errors_add (errors, "%s: out of memory or no random bytes", conf);
        free (self);
        return NULL;
    }
    self->paranoia = paranoia;
    self->threshold = threshold;
    int at = snprintf (self->score_msg, sizeof self->score_msg, "dpi-dual score ");
    for (size_t i = 0; i < sizeof raw; i++)
        at += snprintf (self->score_msg + at, sizeof self->score_msg - (size_t) at,
                        "%02x", raw[i]);
    self->ms = msc_init ();
    self->rules = msc_create_rules_set ();
    msc_set_connector_info (self->ms, "dpi-buffer");
    msc_set_log_cb (self->ms, on_log);

    char setup[512], score[512];
    module_rules (self, setup, sizeof setup, score, sizeof score);
    int n;
    if (add_rules (self, conf, setup, errors) < 0
        || (n = add_rules (self, conf, NULL, errors)) < 0
        || add_rules (self, conf, score, errors) < 0) {
        waf_destroy (&self);
        return NULL;
    }
    self->rule_count = (size_t) n;
    return self;
}

void
waf_destroy (waf_t **self_p)
{
    waf_t *self = *self_p;
    if (!self)
        return;
    msc_rules_cleanup (self->rules);
    msc_cleanup (self->ms);
    free (self);
    *self_p = NULL;
}

int
waf_paranoia (const waf_t *self)
{
    return self->paranoia;
}

size_t
waf_rule_count (const waf_t *self)
{
    return self->rule_count;
}


/*  The category of a tag ("attack-sqli"), NULL when it names none.         */
static const char *
tag_category (const char *tag)
{
    static const char *map[][2] = {
        { "attack-sqli", "sqli" }, { "attack-xss", "xss" }, { "attack-lfi", "lfi" },
        { "attack-rfi", "rfi" }, { "attack-rce", "rce" }, { "attack-php", "php" },
        { "attack-java", "java" }, { "attack-protocol", "protocol" },
        { "attack-reputation-scanner", "scanner" },
        { "attack-fixation", "session-fixation" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp (tag, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/*  The category of the CRS file a rule id belongs to (for rules logged
    without their tags), NULL outside the request attack files.             */
static const char *
id_category (uint32_t id)
{
    static const struct { uint32_t file; const char *category; } map[] = {
        { 913, "scanner" }, { 920, "protocol" }, { 921, "protocol" },
        { 922, "protocol" }, { 930, "lfi" }, { 931, "rfi" }, { 932, "rce" },
        { 933, "php" }, { 934, "generic" }, { 941, "xss" }, { 942, "sqli" },
        { 943, "session-fixation" }, { 944, "java" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (id / 1000 == map[i].file)
            return map[i].category;
    return NULL;
}

/*  Is RULE an attack rule (not an evaluation or correlation rule)? Its
    category into *CATEGORY.                                                */
static bool
attack_rule (const waf_rule_t *rule, const char **category)
{
    if (rule->id >= 949000 || rule->id < 900000)
        return false;               /* 949/959 evaluation, 980, local rules */
    bool attack_tag = false;
    for (size_t t = 0; t < rule->tag_count; t++) {
        const char *c = tag_category (rule->tags[t]);
        if (c) {
            *category = c;
            return true;
        }
        if (strncmp (rule->tags[t], "attack-", 7) == 0)
            attack_tag = true;
    }
    const char *c = id_category (rule->id);
    if (!c && !attack_tag)
        return false;
    *category = c && !attack_tag ? c : "generic";
    return true;
}

/*  Category and severity of OUT from its rules and score (see waf.h).     */
static void
classify (const waf_t *self, waf_result_t *out)
{
    uint32_t best = UINT32_MAX;     /* lowest CRS severity number = worst   */
    const char *category = NULL;
    for (size_t i = 0; i < out->rule_count; i++) {
        const char *c;
        if (attack_rule (&out->rules[i], &c) && out->rules[i].severity < best) {
            best = out->rules[i].severity;
            category = c;
        }
    }
    snprintf (out->category, sizeof out->category, "%s",
              out->rule_count == 0 ? "" : category ? category : "generic");
    if (out->rule_count == 0) {
        out->severity = 0;
        return;
    }
    uint32_t t = (uint32_t) self->threshold;
    if (out->score >= 5 * t)
        out->severity = 10;
    else if (out->score >= 3 * t)
        out->severity = 9;
    else if (out->score >= 2 * t)
        out->severity = 8;
    else if (out->score >= t)
        out->severity = 7;
    else                            /* CRITICAL 6, ERROR 5, WARNING 4, NOTICE 3 */
        out->severity = best <= 2 ? 6 : best <= 5 ? 9 - best : 2;
}


/*  Connection, URI (path + "?" + query), method and version of REQ.       */
static int
feed_line (Transaction *tx, const Dpidual__V1__HttpRequest *req)
{
    const char *cip = req->client_ip && *req->client_ip ? req->client_ip : "0.0.0.0";
    const char *fip = req->frontend_ip && *req->frontend_ip ? req->frontend_ip : "0.0.0.0";
    if (!msc_process_connection (tx, cip, (int) req->client_port, fip,
                                 (int) req->frontend_port))
        return -1;
    const char *path = req->path && *req->path ? req->path : "/";
    const char *query = req->query ? req->query : "";
    size_t len = strlen (path) + 1 + strlen (query) + 1;
    char *uri = malloc (len);
    if (!uri)
        return -1;
    snprintf (uri, len, "%s%s%s", path, *query ? "?" : "", query);
    const char *version = req->http_version && *req->http_version ? req->http_version
                                                                  : "HTTP/1.1";
    if (strncasecmp (version, "HTTP/", 5) == 0)
        version += 5;
    const char *method = req->method && *req->method ? req->method : "GET";
    int ok = msc_process_uri (tx, uri, method, version);
    free (uri);
    return ok ? 0 : -1;
}

/*  The headers of REQ (and Host from req->host when it has none), then
    phase 1.                                                                */
static int
feed_headers (Transaction *tx, const Dpidual__V1__HttpRequest *req)
{
    bool host = false;
    for (size_t i = 0; i < req->n_headers; i++) {
        const Dpidual__V1__HttpHeader *h = req->headers[i];
        if (!h || !h->name || !h->value)
            continue;
        host = host || strcasecmp (h->name, "Host") == 0;
        if (!msc_add_n_request_header (tx, (const unsigned char *) h->name,
                                       strlen (h->name),
                                       (const unsigned char *) h->value,
                                       strlen (h->value)))
            return -1;
    }
    if (!host && req->host && *req->host
        && !msc_add_n_request_header (tx, (const unsigned char *) "Host", 4,
                                      (const unsigned char *) req->host,
                                      strlen (req->host)))
        return -1;
    return msc_process_request_headers (tx) ? 0 : -1;
}

int
waf_analyse (waf_t *self, const Dpidual__V1__HttpRequest *req, waf_result_t *out)
{
    memset (out, 0, sizeof *out);
    tx_ctx_t ctx = { .waf = self, .out = out };
    Transaction *tx = msc_new_transaction (self->ms, self->rules, &ctx);
    if (!tx)
        return -1;
    int rc = feed_line (tx, req);
    if (rc == 0)
        rc = feed_headers (tx, req);
    if (rc == 0 && req->body_prefix.len > 0
        && !msc_append_request_body (tx, req->body_prefix.data, req->body_prefix.len))
        rc = -1;
    if (rc == 0 && !msc_process_request_body (tx))
        rc = -1;
    /* No phase 5 (msc_process_logging): the request's analysis ends with
       phase 2 and the score rule; CRS's phase-5 rules (980xxx) only report
       what phase 2 found, to the audit log this configuration turns off. */
    msc_transaction_cleanup (tx);
    if (rc == 0 && !out->score_seen)
        rc = -1;                    /* the score rule did not run           */
    classify (self, out);
    return rc;
}
