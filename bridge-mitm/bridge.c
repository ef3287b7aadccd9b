/*  bridge.c — see bridge.h.                                                 */
#include "bridge.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banlist.h"
#include "community_id.h"
#include "latency.h"
#include "listener.h"
#include "log.h"
#include "ratelog.h"
#include "record.h"
#include "rules.h"
#include "rules_cache.h"
#include "threatlog.h"
#include "topics.h"

#define REPLY_MAX 1024
#define BATCH_ASKS 64                   /* verdicts of a datagram answered together */
#define BATCH_ANSWERS 4                 /* answers per datagram: the first of them
                                           waits for 3 decisions (a few µs each)   */
#define MAX_DURATION_S (100ull * 365 * 86400)

typedef struct {
    uint64_t datagrams;                 /* taken off the socket, good or bad  */
    uint64_t records, requests, responses, errors;
    uint64_t records_in_place;          /* read by record_fast.c */
    uint64_t verdicts, allowed, blocked_ban, blocked_rule;
    uint64_t reply_errors;
    uint64_t bad[RECORD_REASONS];
    uint64_t community_id_errors;
    uint64_t decisions, decisions_rejected, decisions_ignored;
    uint64_t ban_file_reloads, ban_file_errors;
    uint64_t ban_expired_before;        /* by file lists replaced since     */
    uint64_t threats_logged, threats_log_errors;
    uint64_t publish_errors;
} counters_t;

/*  The decision on one request.                                             */
typedef struct {
    bool block;
    const char *reason;                 /* "ban-list", "rule" or ""          */
    const char *rule_id;
    const char *category;
    unsigned severity;
    char matched[RULES_MATCHED_MAX + 1];
    uint64_t latency_ns;
} verdict_t;

struct bridge_t {
    const config_t *cfg;
    bus_pub_t *pub;
    listener_t *listener;
    record_t *record;
    rules_t *rules;                     /* NULL: ban lists only              */
    banlist_t *file_bans;               /* mitm.ban_file                     */
    banlist_t *decision_bans;           /* the decision topic                */
    latency_t *latency;
    threatlog_t *threatlog;             /* NULL unless global.compat         */
    uint8_t *buffer;                    /* one datagram                      */
    size_t buffer_size;                 /* max_record_bytes + 1              */
    char *headers;                      /* "Name: value\n" lines to scan     */
    size_t headers_size;
    verdict_t asks[BATCH_ASKS];         /* decided in a datagram's first pass */
    uint64_t asks_t0[BATCH_ASKS];       /* when each was taken up            */
    char replies[BATCH_ANSWERS * REPLY_MAX];   /* their answers, one per line */
    counters_t c;
    ratelog_t bad_log[RECORD_REASONS];
    ratelog_t reply_log, decision_log, threat_log;
};

/*  Heartbeat counter names of the reject reasons (record_reason_t order).  */
static const char *s_bad_names[RECORD_REASONS] = {
    "records_ok", "bad_too_large", "bad_not_json", "bad_bad_utf8", "bad_bad_version",
    "bad_unknown_type", "bad_missing_field", "bad_bad_type", "bad_bad_value", "bad_too_long",
};

/*  The rules of mitm.rules_file into *RULES (NULL: none wanted, said when
    SAY). 0, or -1 with the reasons in ERRORS, mitm.rules_file blamed.      */
static int
open_rules (const config_t *cfg, rules_t **rules, bool say, config_errors_t *errors)
{
    const char *path = cfg->mitm.rules_file;
    *rules = NULL;
    if (!*path) {
        if (say)
            log_warning ("mitm.rules_file is empty: running with the ban list only (no rules)");
        return 0;
    }
    if (config_is_default (cfg, "mitm.rules_file") && access (path, F_OK) != 0) {
        if (say)
            log_warning ("%s (the default mitm.rules_file) does not exist: running with the ban "
                         "list only (no rules)", path);
        return 0;
    }
    size_t from = errors ? errors->count : 0;
    /* the running bridge keeps the compiled rules in the state directory
       (rules_cache.h); a check compiles and keeps nothing */
    char cache[4096];
    bool use_cache = say && (size_t) snprintf (cache, sizeof cache, "%s/%s", cfg->global.state_dir,
                                               RULES_CACHE_FILE) < sizeof cache;
    if (!(*rules = rules_new (path, use_cache ? cache : NULL, errors))) {
        config_errors_blame (errors, from, cfg, "mitm.rules_file");
        return -1;
    }
    if (say && *rules_cache_note (*rules))
        log_warning ("compiled rules cache %s", rules_cache_note (*rules));
    if (say)
        log_info ("%s: %zu rules %s", path, rules_count (*rules),
                  rules_cached (*rules) ? "loaded compiled from the cache" : "compiled");
    return 0;
}

/*  mitm.ban_file into LIST. 0, or -1 with the reasons, the key blamed.     */
static int
open_bans (const config_t *cfg, banlist_t *list, config_errors_t *errors)
{
    const char *path = cfg->mitm.ban_file;
    size_t from = errors ? errors->count : 0;
    if (!*path)
        return 0;
    if (banlist_load (list, path, bus_now_ns (), errors) != 0) {
        config_errors_blame (errors, from, cfg, "mitm.ban_file");
        return -1;
    }
    return 0;
}

/*  What bridge_new allocates.                                               */
static int
allocate (bridge_t *self)
{
    self->buffer_size = (size_t) self->cfg->mitm.max_record_bytes + 1;
    self->headers_size = self->buffer_size;
    self->buffer = malloc (self->buffer_size);
    self->headers = malloc (self->headers_size);
    self->record = record_new ();
    if (self->record)
        record_set_body_max (self->record, (size_t) self->cfg->mitm.body_bytes);
    self->file_bans = banlist_new ();
    self->decision_bans = banlist_new ();
    self->latency = latency_new ();
    return self->buffer && self->headers && self->record && self->file_bans
               && self->decision_bans && self->latency ? 0 : -1;
}

bridge_t *
bridge_new (const config_t *cfg, bus_pub_t *pub, config_errors_t *errors)
{
    bridge_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->pub = pub;
    int rc = allocate (self);
    if (rc != 0)
        config_errors_add (errors, "out of memory");
    if (rc == 0)
        rc = open_rules (cfg, &self->rules, true, errors);
    if (cfg->mitm.max_record_bytes < BRIDGE_ADDON_RECORD_MAX)
        log_warning ("mitm.max_record_bytes %d is below the addon's largest record (%d "
                     "bytes): such records will be rejected (bad_too_large)",
                     cfg->mitm.max_record_bytes, BRIDGE_ADDON_RECORD_MAX);
    if (rc == 0 && (rc = open_bans (cfg, self->file_bans, errors)) == 0 && *cfg->mitm.ban_file)
        log_info ("%s: %zu bans", cfg->mitm.ban_file, banlist_size (self->file_bans));
    if (rc == 0 && cfg->global.compat
        && !(self->threatlog = threatlog_new (cfg->global.compat_dir, errors)))
        rc = -1;
    if (rc == 0 && !(self->listener = listener_new (cfg->mitm.socket, errors)))
        rc = -1;
    if (rc != 0) {
        bridge_destroy (&self);
        return NULL;
    }
    log_info ("listening on %s (records up to %d bytes, body windows up to %d)",
              cfg->mitm.socket, cfg->mitm.max_record_bytes, cfg->mitm.body_bytes);
    return self;
}

int
bridge_check (const config_t *cfg, config_errors_t *errors)
{
    rules_t *rules = NULL;
    banlist_t *bans = banlist_new ();
    int rc = open_rules (cfg, &rules, false, errors);
    if (!bans) {
        config_errors_add (errors, "out of memory");
        rc = -1;
    }
    else if (open_bans (cfg, bans, errors) != 0)
        rc = -1;
    rules_destroy (&rules);
    banlist_destroy (&bans);
    return rc;
}

void
bridge_destroy (bridge_t **self_p)
{
    bridge_t *self = *self_p;
    if (!self)
        return;
    listener_destroy (&self->listener);
    record_destroy (&self->record);
    rules_destroy (&self->rules);
    banlist_destroy (&self->file_bans);
    banlist_destroy (&self->decision_bans);
    latency_destroy (&self->latency);
    threatlog_destroy (&self->threatlog);
    free (self->buffer);
    free (self->headers);
    free (self);
    *self_p = NULL;
}

int
bridge_fd (bridge_t *self)
{
    return listener_fd (self->listener);
}

/*  Append S (LEN bytes) to a JSON string being built at OUT[*N]; escapes
    quotes, backslashes and control characters. False when out of room.     */
static bool
json_append_escaped (char *out, size_t size, size_t *n, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char) *s;
        char esc[8];
        size_t len;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char) ch;
            len = 2;
        }
        else if (ch < 0x20)
            len = (size_t) snprintf (esc, sizeof esc, "\\u%04x", ch);
        else {
            esc[0] = (char) ch;
            len = 1;
        }
        if (*n + len >= size)
            return false;
        memcpy (out + *n, esc, len);
        *n += len;
    }
    out[*n] = 0;
    return true;
}

/*  The answer to the addon for V, in OUT; its length, 0 if it did not fit. */
static size_t
format_reply (const record_t *r, const verdict_t *v, char *out, size_t size)
{
    size_t n = (size_t) snprintf (out, size, "{\"v\":1,\"id\":\"");
    if (!json_append_escaped (out, size, &n, r->id))
        return 0;
    int more = v->block
                   ? snprintf (out + n, size - n,
                               "\",\"action\":\"block\",\"reason\":\"%s\",\"rule_id\":\"%s\","
                               "\"category\":\"%s\",\"severity\":%u}",
                               v->reason, v->rule_id, v->category, v->severity)
                   : snprintf (out + n, size - n, "\",\"action\":\"allow\"}");
    if (more < 0 || (size_t) more >= size - n)
        return 0;
    return n + (size_t) more;
}

/*  "Name: value\n" per header into self->headers; its length.             */
static size_t
join_headers (bridge_t *self, const record_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        const record_header_t *h = &r->headers[i];
        size_t need = h->name_len + 2 + h->value_len + 1;
        if (n + need > self->headers_size)
            break;                      /* cannot happen: bounded by the record */
        memcpy (self->headers + n, h->name, h->name_len);
        n += h->name_len;
        memcpy (self->headers + n, ": ", 2);
        n += 2;
        memcpy (self->headers + n, h->value, h->value_len);
        n += h->value_len;
        self->headers[n++] = '\n';
    }
    return n;
}

static void
decide (bridge_t *self, const record_t *r, verdict_t *v)
{
    memset (v, 0, sizeof *v);
    v->reason = v->rule_id = v->category = "";
    banlist_hit_t hit;
    uint64_t now = bus_now_ns ();
    if (banlist_lookup (self->decision_bans, r->client.family, r->client.addr, now, &hit)
        || banlist_lookup (self->file_bans, r->client.family, r->client.addr, now, &hit)) {
        v->block = true;
        v->reason = "ban-list";
        v->category = "ban";
        v->severity = 10;
        snprintf (v->matched, sizeof v->matched, "%s", hit.net);
        return;
    }
    if (!self->rules)
        return;
    rules_input_t in = {
        .method = r->method, .method_len = r->method_len,
        .path = r->path, .path_len = r->path_len,
        .query = r->query, .query_len = r->query_len,
        .headers = self->headers, .headers_len = join_headers (self, r),
        .body = r->body_prefix, .body_len = r->body_prefix_len,
    };
    rules_match_t m;
    if (rules_match (self->rules, &in, &m)) {
        v->block = true;
        v->reason = "rule";
        v->rule_id = m.id;
        v->category = m.category;
        v->severity = m.severity;
        memcpy (v->matched, m.matched, sizeof v->matched);
    }
}

static void
publish (bridge_t *self, const char *topic, ProtobufCMessage *msg)
{
    if (self->pub && bus_pub_send (self->pub, topic, msg) != 0)
        self->c.publish_errors++;
}

/*  The HttpHeader array of R, in H / PTRS (RECORD_MAX_HEADERS each).       */
static size_t
fill_headers (const record_t *r, Dpidual__V1__HttpHeader *h, Dpidual__V1__HttpHeader **ptrs)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        dpidual__v1__http_header__init (&h[i]);
        h[i].name = (char *) r->headers[i].name;
        h[i].value = (char *) r->headers[i].value;
        ptrs[i] = &h[i];
    }
    return r->n_headers;
}

static void
publish_request (bridge_t *self, const record_t *r, const char *cid)
{
    Dpidual__V1__HttpRequest m = DPIDUAL__V1__HTTP_REQUEST__INIT;
    Dpidual__V1__HttpHeader h[RECORD_MAX_HEADERS], *ptrs[RECORD_MAX_HEADERS];
    m.flow_id = (char *) r->id;
    m.request_id = (char *) r->request_id;
    m.community_id = (char *) cid;
    m.client_ip = (char *) r->client.ip;
    m.client_port = r->client.port;
    m.frontend_ip = (char *) r->frontend.ip;
    m.frontend_port = r->frontend.port;
    m.client_from_proxy = r->from_proxy;
    m.ts_ns = r->ts_ns;
    m.method = (char *) r->method;
    m.scheme = (char *) r->scheme;
    m.host = (char *) r->host;
    m.path = (char *) r->path;
    m.query = (char *) r->query;
    m.http_version = (char *) r->http_version;
    m.n_headers = fill_headers (r, h, ptrs);
    m.headers = ptrs;
    m.body_length = r->body_length;
    m.body_sha256 = (char *) r->body_sha256;
    m.body_prefix.data = (uint8_t *) r->body_prefix;
    m.body_prefix.len = r->body_prefix_len;
    m.body_truncated = r->body_truncated;
    const record_header_t *ua = record_header (r, "user-agent");
    m.user_agent = ua ? (char *) ua->value : "";
    m.tls_version = (char *) r->tls_version;
    m.tls_cipher = (char *) r->tls_cipher;
    m.tls_sni = (char *) r->tls_sni;
    m.tls_alpn = (char *) r->tls_alpn;
    publish (self, TOPIC_MITM_REQUEST, &m.base);
}

static void
publish_response (bridge_t *self, const record_t *r, const char *cid)
{
    Dpidual__V1__HttpResponse m = DPIDUAL__V1__HTTP_RESPONSE__INIT;
    Dpidual__V1__HttpHeader h[RECORD_MAX_HEADERS], *ptrs[RECORD_MAX_HEADERS];
    m.flow_id = (char *) r->id;
    m.request_id = (char *) r->request_id;
    m.community_id = (char *) cid;
    m.client_ip = (char *) r->client.ip;
    m.client_port = r->client.port;
    m.ts_ns = r->ts_ns;
    m.status = r->status;
    m.n_headers = fill_headers (r, h, ptrs);
    m.headers = ptrs;
    m.body_length = r->body_length;
    m.header_bytes = r->header_bytes;
    m.latency_us = r->latency_us;
    m.error = r->type == RECORD_ERROR ? (char *) r->error : "";
    publish (self, TOPIC_MITM_RESPONSE, &m.base);
}

static void
publish_verdict (bridge_t *self, const record_t *r, const char *cid, const verdict_t *v)
{
    Dpidual__V1__Verdict m = DPIDUAL__V1__VERDICT__INIT;
    m.flow_id = (char *) r->id;
    m.request_id = (char *) r->request_id;
    m.community_id = (char *) cid;
    m.client_ip = (char *) r->client.ip;
    m.action = v->block ? DPIDUAL__V1__VERDICT__ACTION__BLOCK
                        : DPIDUAL__V1__VERDICT__ACTION__ALLOW;
    m.reason = (char *) v->reason;
    m.rule_id = (char *) v->rule_id;
    m.category = (char *) v->category;
    m.severity = v->severity;
    m.latency_ns = v->latency_ns;
    m.matched = (char *) v->matched;
    publish (self, TOPIC_MITM_VERDICT, &m.base);
}

static void
log_threat (bridge_t *self, const record_t *r, const char *cid, const verdict_t *v)
{
    const record_header_t *ua = record_header (r, "user-agent");
    threatlog_entry_t e = {
        .ts_ns = bus_now_ns (),
        .source_ip = r->client.ip,
        .method = r->method, .path = r->path, .query = r->query,
        .host = r->host, .user_agent = ua ? ua->value : "",
        .category = v->category,
        .pattern = v->rule_id && *v->rule_id ? v->rule_id : v->reason,
        .reason = v->reason,
        .severity = v->severity,
        .matched = v->matched,
        .request_id = r->request_id, .community_id = cid, .flow_id = r->id,
    };
    if (threatlog_write (self->threatlog, &e) == 0)
        self->c.threats_logged++;
    else {
        self->c.threats_log_errors++;
        uint64_t unlogged;
        if (ratelog_due (&self->threat_log, &unlogged))
            log_warning ("%s: cannot append: %s", threatlog_path (self->threatlog),
                         strerror (errno));
    }
}

static void
bad_record (bridge_t *self, record_reason_t reason, const char *detail, size_t len)
{
    self->c.bad[reason]++;
    uint64_t unlogged;
    ratelog_t *r = &self->bad_log[reason];
    if (ratelog_due (r, &unlogged))
        log_warning ("rejected a record of %zu bytes: %s: %s (%llu of this kind, %llu not "
                     "logged since the last line)", len, record_reason_name (reason), detail,
                     (unsigned long long) r->total, (unsigned long long) unlogged);
}

static void
reply_failed (bridge_t *self, const char *id, const char *why, size_t count)
{
    self->c.reply_errors += count;
    uint64_t unlogged;
    if (ratelog_due (&self->reply_log, &unlogged))
        log_warning ("cannot answer record %s: %s (%llu failed answers)", id, why,
                     (unsigned long long) self->c.reply_errors);
}

/*  V answered: its latency from T0 (when its record was taken up), counted. */
static void
count_verdict (bridge_t *self, verdict_t *v, uint64_t t0)
{
    v->latency_ns = bus_mono_ns () - t0;
    latency_add (self->latency, v->latency_ns);
    self->c.verdicts++;
    if (!v->block)
        self->c.allowed++;
    else if (strcmp (v->reason, "ban-list") == 0)
        self->c.blocked_ban++;
    else
        self->c.blocked_rule++;
}

/*  The verdicts a datagram's first pass answered, taken in order by the
    second (answer_batch, handle_datagram).                                 */
typedef struct {
    const verdict_t *asks;
    size_t count, next;
} answered_t;

/*  One record of LEN bytes at DATA (REAL_LEN sent) from PEER, its datagram
    read at T0. A verdict request is decided and answered here, unless
    DONE holds its verdict, decided and answered already.                   */
static void
handle (bridge_t *self, const char *data, size_t len, size_t real_len,
        const listener_peer_t *peer, uint64_t t0, answered_t *done)
{
    self->c.records++;
    record_t *r = self->record;
    char detail[192];
    record_reason_t reason = record_parse (r, data, len, real_len,
                                           (size_t) self->cfg->mitm.max_record_bytes, detail,
                                           sizeof detail);
    if (reason != RECORD_OK) {
        bad_record (self, reason, detail, real_len);
        return;
    }
    if (r->canonical)
        self->c.records_in_place++;
    verdict_t v;
    bool decided = false;
    if (r->type == RECORD_REQUEST && r->verdict) {
        if (done && done->next < done->count)
            v = done->asks[done->next++];
        else {
            decide (self, r, &v);
            char reply[REPLY_MAX];
            size_t n = format_reply (r, &v, reply, sizeof reply);
            if (n == 0 || listener_reply (self->listener, peer, reply, n) != 0)
                reply_failed (self, r->id, n == 0 ? "answer too long" : strerror (errno), 1);
            count_verdict (self, &v, t0);
        }
        decided = true;
    }

    char cid[COMMUNITY_ID_V1_BUFSIZE] = "";
    if (r->frontend.present) {
        community_id_tuple_t t = { .family = r->client.family, .proto = IPPROTO_TCP,
                                   .sport = r->client.port, .dport = r->frontend.port };
        memcpy (t.src, r->client.addr, 16);
        memcpy (t.dst, r->frontend.addr, 16);
        if (r->client.family != r->frontend.family
            || community_id_v1 (&t, (uint16_t) self->cfg->tap.community_id_seed, false, cid,
                                sizeof cid) < 0) {
            cid[0] = 0;
            self->c.community_id_errors++;
        }
    }
    if (r->type == RECORD_REQUEST) {
        self->c.requests++;
        publish_request (self, r, cid);
    }
    else {
        if (r->type == RECORD_RESPONSE)
            self->c.responses++;
        else
            self->c.errors++;
        publish_response (self, r, cid);
    }
    if (decided && (v.block || self->cfg->mitm.publish_all_verdicts))
        publish_verdict (self, r, cid, &v);
    if (decided && v.block) {
        log_debug ("block %s %s %s%s%s: %s %s", r->client.ip, r->method, r->path,
                   *r->query ? "?" : "", r->query, v.reason, v.rule_id);
        if (self->threatlog)
            log_threat (self, r, cid, &v);
    }
    record_clear (r);
}

static bool
blank (const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/*  The length of the piece of a datagram at P: up to the next newline or END. */
static size_t
piece_len (const char *p, const char *end)
{
    const char *nl = memchr (p, '\n', (size_t) (end - p));
    return (size_t) ((nl ? nl : end) - p);
}

/*  The answers gathered in a datagram's first pass.                        */
typedef struct {
    size_t len;                         /* bytes in self->replies            */
    size_t count;                       /* answers in them                   */
    size_t first;                       /* self->asks index of the first     */
    char first_id[RECORD_MAX_ID + 1];   /* for the log line if sending fails */
} replies_t;

/*  Sends the answers in self->replies and counts their verdicts, whose
    latency ends now.                                                        */
static void
send_replies (bridge_t *self, const listener_peer_t *peer, replies_t *out, size_t decided)
{
    if (out->count > 0
        && listener_reply (self->listener, peer, self->replies, out->len) != 0)
        reply_failed (self, out->first_id, strerror (errno), out->count);
    for (size_t i = out->first; i < decided; i++)
        count_verdict (self, &self->asks[i], self->asks_t0[i]);
    out->len = out->count = 0;
    out->first = decided;
}

/*  The first pass over a datagram of several records, from START to END:
    its verdict requests (up to BATCH_ASKS) decided and answered before
    anything is published, BATCH_ANSWERS at a time: a datagram of answers,
    in request order and newline-separated. A batch keeps the first answer
    waiting for the others' decisions, so it stays small: the verdict
    latency stays that of a few decisions. Each verdict's latency runs from
    when its record is taken up (T0, the datagram's recvfrom, for the
    first): the requests before it in the datagram are its queue, as
    datagrams waiting in the socket are. The addon sends the requests that
    reach its hook in one turn of mitmproxy's loop in one datagram: one
    answer wakes it once. Invalid records are left to the second pass
    (handle), which counts them.                                            */
static answered_t
answer_batch (bridge_t *self, const char *start, const char *end, const listener_peer_t *peer,
              uint64_t t0)
{
    answered_t done = { .asks = self->asks };
    replies_t out = { 0 };
    record_t *r = self->record;
    char detail[192], reply[REPLY_MAX];
    for (const char *p = start; p < end && done.count < BATCH_ASKS;) {
        size_t n = piece_len (p, end);
        uint64_t taken = p == start ? t0 : bus_mono_ns ();
        if (!blank (p, n)
            && record_parse (r, p, n, n, (size_t) self->cfg->mitm.max_record_bytes, detail,
                             sizeof detail) == RECORD_OK
            && r->type == RECORD_REQUEST && r->verdict) {
            verdict_t *v = &self->asks[done.count];
            decide (self, r, v);
            size_t m = format_reply (r, v, reply, sizeof reply);   /* < REPLY_MAX */
            self->asks_t0[done.count++] = taken;
            if (m == 0)
                reply_failed (self, r->id, "answer too long", 1);
            else {
                if (out.count == 0)
                    snprintf (out.first_id, sizeof out.first_id, "%s", r->id);
                else
                    self->replies[out.len++] = '\n';
                memcpy (self->replies + out.len, reply, m);
                out.len += m;
                out.count++;
                if (out.count == BATCH_ANSWERS)
                    send_replies (self, peer, &out, done.count);
            }
        }
        record_clear (r);
        p += n + 1;
    }
    send_replies (self, peer, &out, done.count);
    return done;
}

/*  One datagram of LEN bytes stored (REAL_LEN sent): one record, or several
    separated by newlines (JSON text never holds a raw one). Blank pieces
    are skipped; a datagram with nothing else is one bad record, as is a
    datagram cut to the buffer (too large).                                  */
static void
handle_datagram (bridge_t *self, size_t len, size_t real_len, const listener_peer_t *peer,
                 uint64_t t0)
{
    const char *start = (const char *) self->buffer, *p = start, *end = start + len;
    if (real_len > len || !memchr (start, '\n', len)) {
        handle (self, start, len, real_len, peer, t0, NULL);
        return;
    }
    answered_t done = answer_batch (self, start, end, peer, t0);
    size_t records = 0;
    while (p < end) {
        size_t n = piece_len (p, end);
        if (!blank (p, n)) {
            handle (self, p, n, n, peer, t0, &done);
            records++;
        }
        p += n + 1;
    }
    if (records == 0)
        handle (self, start, 0, 0, peer, t0, NULL);     /* "empty datagram" */
}

size_t
bridge_drain (bridge_t *self, size_t max)
{
    size_t handled = 0;
    while (handled < max) {
        listener_peer_t peer;
        size_t real_len = 0;
        ssize_t n = listener_recv (self->listener, self->buffer, self->buffer_size, &real_len,
                                   &peer);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warning ("%s: recv: %s", listener_path (self->listener), strerror (errno));
            break;
        }
        uint64_t t0 = bus_mono_ns ();
        self->c.datagrams++;
        handle_datagram (self, (size_t) n, real_len, &peer, t0);
        handled++;
    }
    return handled;
}

static void
decision_problem (bridge_t *self, const char *fmt, const char *value, const char *why)
{
    uint64_t unlogged;
    if (ratelog_due (&self->decision_log, &unlogged))
        log_warning (fmt, value, why);
}

void
bridge_decision (bridge_t *self, const Dpidual__V1__Decision *d)
{
    self->c.decisions++;
    const char *value = d->value ? d->value : "";
    const char *scope = d->scope ? d->scope : "";
    if (*scope && strcmp (scope, "ip") != 0 && strcmp (scope, "range") != 0) {
        self->c.decisions_ignored++;    /* country, as, ...: not ours       */
        log_debug ("decision on scope '%s' ignored", scope);
        return;
    }
    banlist_net_t net;
    char why[160];
    if (banlist_parse_net (value, &net, why, sizeof why) != 0) {
        self->c.decisions_rejected++;
        decision_problem (self, "decision on '%.64s' rejected: %s", value, why);
        return;
    }
    char text[64];
    banlist_format_net (&net, text, sizeof text);
    uint64_t now = bus_now_ns ();
    if (d->action == DPIDUAL__V1__DECISION__ACTION__BAN) {
        uint64_t expires = d->expires_ns;
        if (!expires && d->duration_s)
            expires = now + (d->duration_s < MAX_DURATION_S ? d->duration_s : MAX_DURATION_S)
                                * 1000000000ull;
        if (expires && expires <= now) {
            self->c.decisions_ignored++;
            log_debug ("ban of %s already expired", text);
            return;
        }
        if (banlist_add (self->decision_bans, &net, expires) != 0) {
            self->c.decisions_rejected++;
            decision_problem (self, "ban of %s: %s", text, "out of memory");
            return;
        }
        log_debug ("ban %s (%s, %s), expires %llu", text, d->origin ? d->origin : "",
                   d->reason ? d->reason : "", (unsigned long long) expires);
    }
    else if (d->action == DPIDUAL__V1__DECISION__ACTION__UNBAN) {
        int removed = banlist_remove (self->decision_bans, &net);
        log_debug ("unban %s%s", text, removed ? "" : " (was not banned)");
    }
    else {
        self->c.decisions_rejected++;
        decision_problem (self, "decision on '%.64s' rejected: %s", value, "no action");
    }
}

int
bridge_reload (bridge_t *self)
{
    if (self->threatlog && threatlog_reopen (self->threatlog) != 0)
        log_warning ("%s: cannot reopen: %s", threatlog_path (self->threatlog), strerror (errno));
    const char *path = self->cfg->mitm.ban_file;
    if (!*path)
        return 0;
    self->c.ban_file_reloads++;
    banlist_t *fresh = banlist_new ();
    config_errors_t errors = { 0 };
    if (!fresh || banlist_load (fresh, path, bus_now_ns (), &errors) != 0) {
        self->c.ban_file_errors++;
        if (!fresh)
            log_error ("ban file not reloaded: out of memory");
        for (size_t i = 0; i < errors.count; i++)
            log_error ("ban file not reloaded: %s", errors.messages[i]);
        config_errors_clear (&errors);
        banlist_destroy (&fresh);
        return -1;
    }
    self->c.ban_expired_before += banlist_expired (self->file_bans);
    banlist_destroy (&self->file_bans);
    self->file_bans = fresh;
    log_info ("%s reloaded: %zu bans", path, banlist_size (self->file_bans));
    return 0;
}

void
bridge_tick (bridge_t *self)
{
    uint64_t now = bus_now_ns ();
    banlist_purge (self->file_bans, now);
    banlist_purge (self->decision_bans, now);
}

size_t
bridge_counters (bridge_t *self, heartbeat_counter_t *out, size_t max)
{
    const counters_t *c = &self->c;
    uint64_t bad = 0;
    for (int i = 1; i < RECORD_REASONS; i++)
        bad += c->bad[i];
    heartbeat_counter_t all[64] = {
        { "datagrams", c->datagrams },
        { "records", c->records }, { "records_in_place", c->records_in_place },
        { "requests", c->requests }, { "responses", c->responses },
        { "errors", c->errors }, { "verdicts", c->verdicts }, { "allowed", c->allowed },
        { "blocked_ban", c->blocked_ban }, { "blocked_rule", c->blocked_rule },
        { "reply_errors", c->reply_errors },
        { "latency_p50_ns", latency_percentile (self->latency, 50) },
        { "latency_p99_ns", latency_percentile (self->latency, 99) },
        { "latency_max_ns", latency_max (self->latency) },
        { "bad_records", bad },
    };
    size_t n = 0;
    while (all[n].name)                 /* the rows above; the rest is zeroed */
        n++;
    for (int i = 1; i < RECORD_REASONS; i++)
        all[n++] = (heartbeat_counter_t) { s_bad_names[i], c->bad[i] };
    heartbeat_counter_t tail[] = {
        { "community_id_errors", c->community_id_errors },
        { "rules_loaded", self->rules ? rules_count (self->rules) : 0 },
        { "rule_scan_errors", self->rules ? rules_scan_errors (self->rules) : 0 },
        { "ban_entries", banlist_size (self->file_bans) + banlist_size (self->decision_bans) },
        { "ban_file_entries", banlist_size (self->file_bans) },
        { "ban_expired", c->ban_expired_before + banlist_expired (self->file_bans)
                         + banlist_expired (self->decision_bans) },
        { "ban_file_reloads", c->ban_file_reloads },
        { "ban_file_errors", c->ban_file_errors },
        { "decisions", c->decisions },
        { "decisions_rejected", c->decisions_rejected },
        { "decisions_ignored", c->decisions_ignored },
        { "threats_logged", c->threats_logged },
        { "threats_log_errors", c->threats_log_errors },
        { "publish_errors", c->publish_errors },
    };
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        all[n++] = tail[i];
    if (n > max)
        n = max;
    memcpy (out, all, n * sizeof *out);
    return n;
}

void
bridge_summary (bridge_t *self)
{
    const counters_t *c = &self->c;
    uint64_t bad = 0;
    for (int i = 1; i < RECORD_REASONS; i++)
        bad += c->bad[i];
    log_info ("%llu records in %llu datagrams (%llu rejected, %llu read in place), %llu verdicts: "
              "%llu allowed, %llu blocked by the ban list, %llu by a rule; latency p50 %llu ns, "
              "p99 %llu ns",
              (unsigned long long) c->records, (unsigned long long) c->datagrams,
              (unsigned long long) bad,
              (unsigned long long) c->records_in_place,
              (unsigned long long) c->verdicts, (unsigned long long) c->allowed,
              (unsigned long long) c->blocked_ban, (unsigned long long) c->blocked_rule,
              (unsigned long long) latency_percentile (self->latency, 50),
              (unsigned long long) latency_percentile (self->latency, 99));
}
