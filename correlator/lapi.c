/*  lapi.c — see lapi.h.

    One thread, one curl easy handle (kept alive between requests). The
    main thread and this one share two queues under one mutex: decisions
    (thread -> main, signalled on an eventfd that is readable while the
    queue is not empty) and bans (main -> thread, signalled on a condition
    variable). Every request is bounded by 5 s and aborted by the transfer
    callback as soon as lapi_destroy raises the stop flag.                  */
#define _GNU_SOURCE
#include "lapi.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ratelog.h"

#define LAPI_TIMEOUT_S 5
#define LAPI_BACKOFF_MAX_S 300
#define LAPI_JWT_RENEW_S 3000           /* a JWT lasts an hour: renew at 50 min */
#define LAPI_DECISIONS_MAX (1u << 20)
#define LAPI_BANS_MAX 256
#define LAPI_PUSH_TRIES 3               /* a push answered 5xx or 429: tries */
#define LAPI_PUSH_BATCH 16
#define LAPI_BODY_MAX (64u << 20)
#define LAPI_USER_AGENT "dpi-dual-correlator/" DPI_VERSION

typedef struct {
    uint64_t *slots;                /* id + 1; 0 = empty                     */
    size_t cap, count;
} idset_t;

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

struct lapi_t {
    /* set by lapi_new, read-only afterwards */
    char url[256];                  /* decisions, no trailing slash          */
    char watcher_url[256];          /* alerts (the credentials' url)         */
    char login[128], password[256];
    bool polling, pushing;
    unsigned push_tries;            /* the batch at the head: 5xx/429 so far */
    unsigned poll_s;
    struct curl_slist *key_hdrs;    /* X-Api-Key                             */
    int efd;
    pthread_t thread;
    bool started;
    atomic_bool stop;

    pthread_mutex_t lock;           /* the queues, stats, wake               */
    pthread_cond_t cond;
    bool wake;
    lapi_decision_t *dq;            /* decisions: a growing array            */
    size_t dq_len, dq_cap;
    lapi_ban_t bq[LAPI_BANS_MAX];   /* bans: a ring                          */
    size_t bq_head, bq_len;
    lapi_stats_t stats;

    /* the thread's own */
    CURL *curl;
    bool streamed;                  /* startup=true done                     */
    idset_t seen_new, seen_deleted;
    char jwt[4096];
    uint64_t jwt_renew_ms;
    ratelog_t rl;
};

#define STAT_ADD(self, field, n)                                               \
    do {                                                                       \
        pthread_mutex_lock (&(self)->lock);                                    \
        (self)->stats.field += (n);                                            \
        pthread_mutex_unlock (&(self)->lock);                                  \
    } while (0)

static uint64_t
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* --- a set of decision ids ---------------------------------------------- */

static bool idset_grow (idset_t *s);

/*  True when ID was not in S (and is now). Out of memory: true, unstored.  */
static bool
idset_add (idset_t *s, uint64_t id)
{
    if ((s->count + 1) * 2 > s->cap && !idset_grow (s))
        return true;
    uint64_t key = id + 1, mask = s->cap - 1;
    for (uint64_t i = (key * 0x9e3779b97f4a7c15ull) & mask;; i = (i + 1) & mask) {
        if (s->slots[i] == key)
            return false;
        if (s->slots[i] == 0) {
            s->slots[i] = key;
            s->count++;
            return true;
        }
    }
}

static bool
idset_grow (idset_t *s)
{
    idset_t n = { calloc (s->cap ? s->cap * 2 : 1024, sizeof (uint64_t)), s->cap ? s->cap * 2 : 1024, 0 };
    if (!n.slots)
        return false;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            idset_add (&n, s->slots[i] - 1);
    free (s->slots);
    *s = n;
    return true;
}

/* --- Go durations: "3h59m58.5s", "-1m2s", "250ms", "0s" ------------------ */

static int
duration_unit (const char **s, double *mult)
{
    static const struct { const char *name; double mult; } units[] = {
        { "ns", 1e-9 }, { "us", 1e-6 }, { "\xc2\xb5s", 1e-6 }, { "\xce\xbcs", 1e-6 },
        { "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "h", 3600 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t n = strlen (units[i].name);
        if (strncmp (*s, units[i].name, n) == 0) {
            *s += n;
            *mult = units[i].mult;
            return 0;
        }
    }
    return -1;
}

#define GO_DURATION_MAX_S 9223372036.854775807

/*  Seconds in the Go duration S (truncated toward zero); -1 when malformed. */
static int
go_duration (const char *s, int64_t *out)
{
    double sign = 1, total = 0;
    if (*s == '-' || *s == '+')
        sign = *s++ == '-' ? -1 : 1;
    if (strcmp (s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (!*s)
        return -1;
    while (*s) {
        if (!isdigit ((unsigned char) *s) && *s != '.')
            return -1;
        char *end;
        double v = strtod (s, &end), mult;
        /* digits and a point only: no exponent, no hex (strtod takes them) */
        if (end == s || (size_t) (end - s) != strspn (s, "0123456789."))
            return -1;
        s = end;
        if (duration_unit (&s, &mult) < 0)
            return -1;
        total += v * mult;
    }
    /* Go's durations are int64 nanoseconds: at most about 292 years; past
       that (or inf, from digits enough) not a duration, and not an int64 */
    if (!(total <= GO_DURATION_MAX_S))
        return -1;
    *out = (int64_t) (sign * total);
    return 0;
}

/* --- HTTP ------------------------------------------------------------------ */

static size_t
on_body (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf_t *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = cap <= LAPI_BODY_MAX ? realloc (b->data, cap) : NULL;
        if (!p)
            return 0;                       /* aborts the transfer           */
        b->data = p;
        b->cap = cap;
    }
    memcpy (b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

static int
on_progress (void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
             curl_off_t ulnow)
{
    (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
    lapi_t *self = clientp;
    return atomic_load (&self->stop) ? 1 : 0;
}

/*  One request: a GET (BODY NULL) or a JSON POST of BODY to BASE PATH, or
    METHOD when not NULL (DELETE). The HTTP status, or -1 with the reason
    in ERR.                                                                  */
static long
http_do (lapi_t *self, const char *method, const char *base, const char *path,
         const char *body, struct curl_slist *hdrs, buf_t *out, char *err)
{
    char url[512];
    snprintf (url, sizeof url, "%s%s", base, path);
    CURL *c = self->curl;
    curl_easy_reset (c);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_USERAGENT, LAPI_USER_AGENT);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, (long) LAPI_TIMEOUT_S);
    curl_easy_setopt (c, CURLOPT_TIMEOUT, (long) LAPI_TIMEOUT_S);
    curl_easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt (c, CURLOPT_XFERINFODATA, self);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt (c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, hdrs);
    if (body)
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
    if (method)
        curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
    err[0] = 0;
    CURLcode rc = curl_easy_perform (c);
    if (rc != CURLE_OK) {
        if (!err[0])
            snprintf (err, CURL_ERROR_SIZE, "%s", curl_easy_strerror (rc));
        return -1;
    }
    long code = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/*  A failure: counted by the caller, logged here at most once a second
    (not while stopping). WHAT names the request; nothing secret reaches
    the line (the body shown is the LAPI's answer, never our request).      */
static void
lapi_fail (lapi_t *self, const char *what, long code, const char *err, const buf_t *body)
{
    uint64_t unlogged;
    if (atomic_load (&self->stop) || !ratelog_due (&self->rl, &unlogged))
        return;                             /* stopping: aborted on purpose */
    if (code < 0) {
        log_warning ("crowdsec lapi: %s: %s (%llu not logged since)", what, err,
                     (unsigned long long) unlogged);
        return;
    }
    /* the LAPI's words, 200 bytes at most, on this one line: a newline or a
       control byte in them (a broken or hostile LAPI) becomes '?'          */
    char shown[201] = "";
    size_t n = body && body->data ? strnlen (body->data, sizeof shown - 1) : 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) body->data[i];
        shown[i] = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
    }
    shown[n] = 0;
    log_warning ("crowdsec lapi: %s: HTTP %ld%s%s (%llu not logged since)", what, code,
                 n ? ": " : "", shown, (unsigned long long) unlogged);
}

/* --- decisions in ---------------------------------------------------------- */

static void
copy_str (char *dst, size_t len, json_t *obj, const char *key)
{
    const char *s = json_string_value (json_object_get (obj, key));
    snprintf (dst, len, "%s", s ? s : "");
}

/*  1: a decision in OUT; 0: a scope we ignore; -1: malformed.             */
static int
decision_from_json (json_t *d, bool deleted, lapi_decision_t *out)
{
    json_t *id = json_object_get (d, "id");
    const char *scope = json_string_value (json_object_get (d, "scope"));
    const char *value = json_string_value (json_object_get (d, "value"));
    const char *duration = json_string_value (json_object_get (d, "duration"));
    if (!json_is_integer (id) || json_integer_value (id) < 0 || !scope || !value || !*value)
        return -1;
    *out = (lapi_decision_t) { .deleted = deleted, .id = (uint64_t) json_integer_value (id) };
    if (strcasecmp (scope, "ip") == 0)
        strcpy (out->scope, "ip");
    else if (strcasecmp (scope, "range") == 0)
        strcpy (out->scope, "range");
    else
        return 0;
    if (strlen (value) >= sizeof out->value)
        return -1;
    if (duration && go_duration (duration, &out->duration_s) < 0)
        return -1;
    strcpy (out->value, value);
    copy_str (out->type, sizeof out->type, d, "type");
    copy_str (out->origin, sizeof out->origin, d, "origin");
    copy_str (out->scenario, sizeof out->scenario, d, "scenario");
    return 1;
}

/*  Hand BATCH over to the main thread.                                    */
static void
decisions_queue (lapi_t *self, const lapi_decision_t *batch, size_t n)
{
    pthread_mutex_lock (&self->lock);
    size_t room = LAPI_DECISIONS_MAX - self->dq_len;
    size_t take = n < room ? n : room;
    if (self->dq_len + take > self->dq_cap) {
        size_t cap = self->dq_cap ? self->dq_cap : 64;
        while (cap < self->dq_len + take)
            cap *= 2;
        lapi_decision_t *p = realloc (self->dq, cap * sizeof *p);
        if (p) {
            self->dq = p;
            self->dq_cap = cap;
        } else
            take = self->dq_cap - self->dq_len;
    }
    if (take)
        memcpy (self->dq + self->dq_len, batch, take * sizeof *batch);
    self->dq_len += take;
    self->stats.decisions_dropped += n - take;
    uint64_t one = 1;
    if (take && write (self->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warning ("crowdsec lapi: eventfd: %s", strerror (errno));
    pthread_mutex_unlock (&self->lock);
}

/*  The decisions of one list ("new" or "deleted") appended to OUT: -1 when
    not a list (or out of memory).                                         */
static int
stream_list (lapi_stream_t *out, json_t *list, bool deleted)
{
    if (json_is_null (list) || !list)
        return 0;
    if (!json_is_array (list))
        return -1;
    lapi_decision_t *grown = realloc (out->decisions,
                                      (out->count + json_array_size (list) + 1) * sizeof *grown);
    if (!grown)
        return -1;
    out->decisions = grown;
    size_t i;
    json_t *d;
    json_array_foreach (list, i, d) {
        int rc = decision_from_json (d, deleted, &out->decisions[out->count]);
        if (rc == 1)
            out->count++;
        else
            *(rc == 0 ? &out->ignored : &out->malformed) += 1;
    }
    return 0;
}

int
lapi_parse_stream (const char *body, size_t len, lapi_stream_t *out, char *err, size_t errlen)
{
    *out = (lapi_stream_t) { 0 };
    json_error_t jerr;
    json_t *root = json_loadb (body ? body : "", body ? len : 0, 0, &jerr);
    bool ok = json_is_object (root) && stream_list (out, json_object_get (root, "new"), false) == 0
              && stream_list (out, json_object_get (root, "deleted"), true) == 0;
    if (!ok) {
        snprintf (err, errlen, "bad JSON: %s", root ? "not the stream's object" : jerr.text);
        lapi_stream_free (out);
    }
    json_decref (root);
    return ok ? 0 : -1;
}

void
lapi_stream_free (lapi_stream_t *s)
{
    free (s->decisions);
    *s = (lapi_stream_t) { 0 };
}

bool
lapi_parse_token (const char *body, size_t len, char *token, size_t max)
{
    json_t *root = json_loadb (body ? body : "", body ? len : 0, 0, NULL);
    const char *t = json_string_value (json_object_get (root, "token"));
    size_t n = t ? strlen (t) : 0;
    /* it goes into a header line: printable, no space, no CR or LF */
    bool ok = n > 0 && n < max && n == json_string_length (json_object_get (root, "token"));
    for (size_t i = 0; ok && i < n; i++)
        ok = t[i] > 0x20 && t[i] < 0x7f;
    if (ok)
        memcpy (token, t, n + 1);
    json_decref (root);
    return ok;
}

bool
lapi_parse_deleted (const char *body, size_t len, uint64_t *n)
{
    json_t *root = json_loadb (body ? body : "", body ? len : 0, 0, NULL);
    json_t *v = json_object_get (root, "nbDeleted");
    const char *s = json_string_value (v);
    bool ok = false;
    if (json_is_integer (v) && json_integer_value (v) >= 0) {
        *n = (uint64_t) json_integer_value (v);
        ok = true;
    } else if (s && *s >= '0' && *s <= '9') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull (s, &end, 10);
        ok = !*end && errno == 0;
        if (ok)
            *n = v;
    }
    json_decref (root);
    return ok;
}

/*  Hand the decisions of one poll over: each id once (new and deleted
    apart), with the counters.                                               */
static void
decisions_take (lapi_t *self, lapi_stream_t *st)
{
    size_t n = 0, fresh_new = 0, fresh_deleted = 0, repeated = 0;
    for (size_t i = 0; i < st->count; i++) {
        lapi_decision_t *d = &st->decisions[i];
        d->startup = !self->streamed;
        if (!idset_add (d->deleted ? &self->seen_deleted : &self->seen_new, d->id)) {
            repeated++;
            continue;
        }
        *(d->deleted ? &fresh_deleted : &fresh_new) += 1;
        st->decisions[n++] = *d;
    }
    decisions_queue (self, st->decisions, n);
    pthread_mutex_lock (&self->lock);
    self->stats.decisions_new += fresh_new;
    self->stats.decisions_deleted += fresh_deleted;
    self->stats.decisions_repeated += repeated;
    self->stats.scopes_ignored += st->ignored;
    self->stats.decisions_malformed += st->malformed;
    pthread_mutex_unlock (&self->lock);
}

/*  One GET /v1/decisions/stream. False on any failure (counted, logged). */
static bool
lapi_poll (lapi_t *self)
{
    char err[CURL_ERROR_SIZE];
    buf_t body = { 0 };
    const char *path = self->streamed ? "/v1/decisions/stream" : "/v1/decisions/stream?startup=true";
    long code = http_do (self, NULL, self->url, path, NULL, self->key_hdrs, &body, err);
    STAT_ADD (self, polls, 1);
    bool ok = code == 200;
    if (ok) {
        lapi_stream_t st;
        ok = lapi_parse_stream (body.data, body.len, &st, err, sizeof err) == 0;
        if (ok)
            decisions_take (self, &st);
        lapi_stream_free (&st);
        code = ok ? code : -1;
    }
    if (ok)
        self->streamed = true;
    else {
        STAT_ADD (self, poll_errors, 1);
        lapi_fail (self, "GET /v1/decisions/stream", code, err, &body);
    }
    free (body.data);
    return ok;
}

/* --- alerts out ------------------------------------------------------------- */

static struct curl_slist *
json_headers (const char *auth)
{
    struct curl_slist *h = curl_slist_append (NULL, "Content-Type: application/json");
    if (h && auth) {
        struct curl_slist *h2 = curl_slist_append (h, auth);
        if (!h2) {
            curl_slist_free_all (h);
            return NULL;
        }
        h = h2;
    }
    return h;
}

/*  POST /v1/watchers/login: a JWT in self->jwt. False on failure.        */
static bool
lapi_login (lapi_t *self)
{
    char err[CURL_ERROR_SIZE];
    buf_t body = { 0 };
    json_t *req = json_pack ("{s:s, s:s, s:[s]}", "machine_id", self->login, "password",
                             self->password, "scenarios", "dpi-dual/correlated-threat");
    char *text = req ? json_dumps (req, JSON_COMPACT) : NULL;
    struct curl_slist *hdrs = json_headers (NULL);
    long code = text && hdrs ? http_do (self, NULL, self->watcher_url, "/v1/watchers/login", text, hdrs, &body, err) : -1;
    if (!text || !hdrs)
        snprintf (err, sizeof err, "out of memory");
    char token[sizeof self->jwt - 32];
    bool ok = code == 200 && lapi_parse_token (body.data, body.len, token, sizeof token);
    if (ok) {
        snprintf (self->jwt, sizeof self->jwt, "Authorization: Bearer %s", token);
        self->jwt_renew_ms = now_ms () + LAPI_JWT_RENEW_S * 1000ull;
    } else {
        self->jwt[0] = 0;
        lapi_fail (self, "POST /v1/watchers/login", code == 200 ? -1 : code,
                   code == 200 ? "no token in the answer" : err, NULL);
    }
    STAT_ADD (self, logins, ok ? 1 : 0);
    STAT_ADD (self, login_errors, ok ? 0 : 1);
    curl_slist_free_all (hdrs);
    json_decref (req);
    free (text);
    free (body.data);
    return ok;
}

static void
rfc3339_now (char *out, size_t len)
{
    time_t t = time (NULL);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*  "key=value" lines as [{"key":..,"value":..}], plus the score.          */
static json_t *
ban_meta (const lapi_ban_t *ban)
{
    json_t *meta = json_array ();
    char lines[sizeof ban->meta], *save = NULL, score[16];
    snprintf (lines, sizeof lines, "%s", ban->meta);
    for (char *l = strtok_r (lines, "\n", &save); l && meta; l = strtok_r (NULL, "\n", &save)) {
        char *eq = strchr (l, '=');
        if (!eq || eq == l)
            continue;
        *eq = 0;
        json_array_append_new (meta, json_pack ("{s:s, s:s}", "key", l, "value", eq + 1));
    }
    snprintf (score, sizeof score, "%u", ban->score);
    if (meta)
        json_array_append_new (meta, json_pack ("{s:s, s:s}", "key", "score", "value", score));
    return meta;
}

/*  One alert for BAN, with its decision (given, so not the profile's).    */
static json_t *
ban_alert (const lapi_ban_t *ban, const char *now)
{
    char duration[32];
    snprintf (duration, sizeof duration, "%llus", (unsigned long long) ban->duration_s);
    const char *scenario = ban->scenario[0] ? ban->scenario : "dpi-dual/correlated-threat";
    json_t *meta = ban_meta (ban);
    json_t *event_meta = meta ? json_deep_copy (meta) : NULL;
    return json_pack (
        "{s:i, s:s, s:i, s:[{s:s, s:o*}], s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:b,"
        " s:{s:s, s:s, s:s}, s:o*, s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}",
        "capacity", 0, "leakspeed", "0", "events_count", 1,
        "events", "timestamp", now, "meta", event_meta,
        "message", ban->message[0] ? ban->message : scenario, "scenario", scenario,
        "scenario_hash", "", "scenario_version", "", "simulated", 0,
        "start_at", now, "stop_at", now, "remediation", 1,
        "source", "scope", "Ip", "value", ban->ip, "ip", ban->ip,
        "meta", meta,
        "decisions", "type", "ban", "scope", "Ip", "value", ban->ip, "duration", duration,
        "origin", "dpi-dual", "scenario", scenario);
}

/*  The first N waiting bans as the JSON text of POST /v1/alerts.          */
static char *
alerts_body (lapi_t *self, size_t *n)
{
    char now[32];
    rfc3339_now (now, sizeof now);
    json_t *alerts = json_array ();
    pthread_mutex_lock (&self->lock);
    size_t max = self->bq_len < LAPI_PUSH_BATCH ? self->bq_len : LAPI_PUSH_BATCH;
    for (*n = 0; *n < max && !self->bq[(self->bq_head + *n) % LAPI_BANS_MAX].unban; ++*n)
        ;                                   /* the bans before the first unban */
    for (size_t i = 0; i < *n && alerts; i++)
        json_array_append_new (alerts, ban_alert (&self->bq[(self->bq_head + i) % LAPI_BANS_MAX], now));
    pthread_mutex_unlock (&self->lock);
    char *text = alerts && json_array_size (alerts) == *n ? json_dumps (alerts, JSON_COMPACT) : NULL;
    json_decref (alerts);
    return text;
}

static long
post_alerts (lapi_t *self, const char *text, buf_t *body, char *err)
{
    if ((!self->jwt[0] || now_ms () >= self->jwt_renew_ms) && !lapi_login (self))
        return -2;
    struct curl_slist *hdrs = json_headers (self->jwt);
    if (!hdrs) {
        snprintf (err, CURL_ERROR_SIZE, "out of memory");
        return -1;
    }
    body->len = 0;
    long code = http_do (self, NULL, self->watcher_url, "/v1/alerts", text, hdrs, body, err);
    curl_slist_free_all (hdrs);
    return code;
}

/*  DELETE /v1/decisions for IP (an address, or a CIDR: our decisions
    inside it), only those of origin dpi-dual. The HTTP status, -1 not
    reached (ERR), -2 no JWT.                                               */
static long
delete_ours (lapi_t *self, const char *ip, buf_t *body, char *err)
{
    if ((!self->jwt[0] || now_ms () >= self->jwt_renew_ms) && !lapi_login (self))
        return -2;
    char *value = curl_easy_escape (self->curl, ip, 0), path[256];
    struct curl_slist *hdrs = json_headers (self->jwt);
    if (!value || !hdrs) {
        curl_free (value);
        curl_slist_free_all (hdrs);
        snprintf (err, CURL_ERROR_SIZE, "out of memory");
        return -1;
    }
    if (strchr (ip, '/'))
        snprintf (path, sizeof path, "/v1/decisions?range=%s&contains=false&origin=dpi-dual", value);
    else
        snprintf (path, sizeof path, "/v1/decisions?ip=%s&origin=dpi-dual", value);
    curl_free (value);
    body->len = 0;
    long code = http_do (self, "DELETE", self->watcher_url, path, NULL, hdrs, body, err);
    curl_slist_free_all (hdrs);
    return code;
}

/*  The unban at the head of the queue. False on a failure: it stays queued
    when the LAPI could not be reached, is dropped when it was refused.    */
static bool
lapi_unban_head (lapi_t *self)
{
    char err[CURL_ERROR_SIZE] = "", ip[sizeof self->bq[0].ip];
    buf_t body = { 0 };
    pthread_mutex_lock (&self->lock);
    memcpy (ip, self->bq[self->bq_head].ip, sizeof ip);
    pthread_mutex_unlock (&self->lock);
    long code = delete_ours (self, ip, &body, err);
    if (code == 401) {                          /* the JWT expired early     */
        self->jwt[0] = 0;
        code = delete_ours (self, ip, &body, err);
    }
    bool ok = code == 200;
    uint64_t deleted = 0;
    bool counted = ok && lapi_parse_deleted (body.data, body.len, &deleted);
    pthread_mutex_lock (&self->lock);
    if (code != -1 && code != -2) {             /* answered: done with it    */
        self->bq_head = (self->bq_head + 1) % LAPI_BANS_MAX;
        self->bq_len--;
    }
    if (ok) {
        self->stats.unbans++;
        self->stats.unban_deleted += deleted;
    } else if (code != -2)
        self->stats.unban_errors++;
    pthread_mutex_unlock (&self->lock);
    if (ok && counted)
        log_info ("crowdsec lapi: unban %s: %llu of our decisions deleted", ip,
                  (unsigned long long) deleted);
    else if (ok)
        log_info ("crowdsec lapi: unban %s: done (no nbDeleted in the answer)", ip);
    else if (code != -2)
        lapi_fail (self, "DELETE /v1/decisions", code, err, &body);
    free (body.data);
    return ok;
}

/*  Push up to a batch of waiting bans (or the unban at the head). False on
    a failure: bans stay queued when the LAPI could not be reached or
    answered 5xx or 429 (a LAPI restarting, its database busy: retried with
    the backoff, LAPI_PUSH_TRIES answers in all, then dropped as refused),
    and are dropped at once when it refused them with another error (4xx:
    retrying would not fix it).                                              */
static bool
lapi_push_pending (lapi_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool unban = self->bq_len && self->bq[self->bq_head].unban;
    pthread_mutex_unlock (&self->lock);
    if (unban)
        return lapi_unban_head (self);
    char err[CURL_ERROR_SIZE] = "out of memory";
    buf_t body = { 0 };
    size_t n = 0;
    char *text = alerts_body (self, &n);
    long code = text ? post_alerts (self, text, &body, err) : -1;
    if (code == 401) {                          /* the JWT expired early     */
        self->jwt[0] = 0;
        code = post_alerts (self, text, &body, err);
    }
    bool ok = code == 200 || code == 201;
    bool transient = code >= 500 || code == 429;
    if (transient && ++self->push_tries < LAPI_PUSH_TRIES) {
        pthread_mutex_lock (&self->lock);       /* kept: tried again later   */
        self->stats.push_errors++;
        self->stats.push_retries++;
        pthread_mutex_unlock (&self->lock);
    } else if (code != -1 && code != -2) {      /* answered: done with them  */
        self->push_tries = 0;
        pthread_mutex_lock (&self->lock);
        self->bq_head = (self->bq_head + n) % LAPI_BANS_MAX;
        self->bq_len -= n;
        if (ok)
            self->stats.pushed += n;
        else {                                  /* refused: the bans are lost */
            self->stats.push_errors++;
            self->stats.push_refused += n;
        }
        pthread_mutex_unlock (&self->lock);
    } else if (code == -1)
        STAT_ADD (self, push_errors, 1);
    if (!ok && code != -2)
        lapi_fail (self, "POST /v1/alerts", code, err, &body);
    free (text);
    free (body.data);
    return ok;
}

/* --- the thread -------------------------------------------------------------- */

/*  Seconds to the next attempt: the poll interval, or a backoff doubling
    from it up to LAPI_BACKOFF_MAX_S while failures last.                  */
static unsigned
lapi_delay (lapi_t *self, bool ok, unsigned *backoff)
{
    if (ok) {
        *backoff = 0;
        return self->poll_s;
    }
    *backoff = *backoff ? *backoff * 2 : self->poll_s;
    if (*backoff > LAPI_BACKOFF_MAX_S)
        *backoff = LAPI_BACKOFF_MAX_S;
    if (*backoff > self->poll_s)
        log_info ("crowdsec lapi: next attempt in %u s", *backoff);
    return *backoff;
}

static bool
bans_waiting (lapi_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool waiting = self->bq_len > 0;
    pthread_mutex_unlock (&self->lock);
    return waiting;
}

/*  Sleep until DEADLINE (monotonic ms), a lapi_push or lapi_destroy.     */
static void
lapi_wait (lapi_t *self, uint64_t deadline)
{
    struct timespec ts = { (time_t) (deadline / 1000), (long) (deadline % 1000) * 1000000 };
    pthread_mutex_lock (&self->lock);
    while (!atomic_load (&self->stop) && !self->wake && now_ms () < deadline)
        if (pthread_cond_timedwait (&self->cond, &self->lock, &ts) == ETIMEDOUT)
            break;
    self->wake = false;
    pthread_mutex_unlock (&self->lock);
}

static void *
lapi_thread (void *arg)
{
    lapi_t *self = arg;
    uint64_t next_poll = 0, next_push = 0;
    unsigned poll_backoff = 0, push_backoff = 0;
    while (!atomic_load (&self->stop)) {
        uint64_t now = now_ms ();
        if (self->polling && now >= next_poll)
            next_poll = now_ms () + 1000ull * lapi_delay (self, lapi_poll (self), &poll_backoff);
        bool waiting = self->pushing && bans_waiting (self);
        if (waiting && now >= next_push && !atomic_load (&self->stop)) {
            bool ok = lapi_push_pending (self);
            next_push = ok ? 0 : now_ms () + 1000ull * lapi_delay (self, false, &push_backoff);
            push_backoff = ok ? 0 : push_backoff;
            waiting = bans_waiting (self);
        }
        uint64_t deadline = self->polling ? next_poll : now_ms () + 1000ull * self->poll_s;
        if (waiting && next_push < deadline)
            deadline = next_push;
        lapi_wait (self, deadline);
    }
    return NULL;
}

/* --- set-up ------------------------------------------------------------------- */

static char *
trim (char *s)
{
    while (isspace ((unsigned char) *s))
        s++;
    char *e = s + strlen (s);
    while (e > s && isspace ((unsigned char) e[-1]))
        *--e = 0;
    return s;
}

/*  URL without its trailing slashes into OUT; -1 when not http(s).      */
static int
base_url (const char *url, char *out, size_t len)
{
    if ((strncmp (url, "http://", 7) != 0 && strncmp (url, "https://", 8) != 0)
        || strlen (url) >= len || !url[strcspn (url, ":") + 3])
        return -1;
    snprintf (out, len, "%s", url);
    size_t n = strlen (out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = 0;
    return 0;
}

/*  A secret readable by others is used (cscli made it; refusing it would
    stop the correlator on an upgrade) but said once, with the fix.        */
static void
warn_mode (FILE *f, const char *key, const char *path)
{
    struct stat st;
    if (fstat (fileno (f), &st) == 0 && (st.st_mode & 077))
        log_warning ("crowdsec.%s: %s has mode %04o: it holds a secret, make it 0600 (chmod 600 %s)",
                     key, path, (unsigned) (st.st_mode & 07777), path);
}

/*  The bouncer key: the file's first line. Never echoed anywhere.       */
static int
read_key (lapi_t *self, const char *path, config_errors_t *errors)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        config_errors_add (errors, "crowdsec.api_key_file: %s: %s", path, strerror (errno));
        return -1;
    }
    warn_mode (f, "api_key_file", path);
    char line[512] = "", hdr[600];
    bool got = fgets (line, sizeof line, f) != NULL;
    fclose (f);
    char *key = trim (line);
    if (!got || !*key || strchr (key, '\r') || strlen (key) > 256) {
        config_errors_add (errors, "crowdsec.api_key_file: %s: no key on its first line", path);
        return -1;
    }
    snprintf (hdr, sizeof hdr, "X-Api-Key: %s", key);
    self->key_hdrs = curl_slist_append (NULL, hdr);
    memset (line, 0, sizeof line);
    memset (hdr, 0, sizeof hdr);
    return self->key_hdrs ? 0 : -1;
}

/*  One "key: value" line of the credentials file (quotes stripped).     */
static void
creds_line (lapi_t *self, char *line)
{
    char *colon = strchr (line, ':');
    if (!colon)
        return;
    *colon = 0;
    char *key = trim (line), *value = trim (colon + 1);
    size_t n = strlen (value);
    if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
        value[n - 1] = 0;
        value++;
    }
    if (strcmp (key, "url") == 0)
        snprintf (self->watcher_url, sizeof self->watcher_url, "%s", value);
    else if (strcmp (key, "login") == 0)
        snprintf (self->login, sizeof self->login, "%s", value);
    else if (strcmp (key, "password") == 0)
        snprintf (self->password, sizeof self->password, "%s", value);
}

static int
read_creds (lapi_t *self, const char *path, config_errors_t *errors)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        config_errors_add (errors, "crowdsec.machine_credentials_file: %s: %s", path, strerror (errno));
        return -1;
    }
    warn_mode (f, "machine_credentials_file", path);
    char line[1024];
    while (fgets (line, sizeof line, f))
        creds_line (self, line);
    fclose (f);
    memset (line, 0, sizeof line);
    char url[256];
    if (!self->login[0] || !self->password[0]) {
        config_errors_add (errors, "crowdsec.machine_credentials_file: %s: no login or password", path);
        return -1;
    }
    if (!self->watcher_url[0])
        snprintf (self->watcher_url, sizeof self->watcher_url, "%s", self->url);
    if (base_url (self->watcher_url, url, sizeof url) < 0) {
        config_errors_add (errors, "crowdsec.machine_credentials_file: %s: bad url", path);
        return -1;
    }
    memcpy (self->watcher_url, url, sizeof url);
    return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void
curl_init_once (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
}

/*  The fields, files and resources; -1 with ERRORS filled.              */
static int
lapi_setup (lapi_t *self, const config_t *cfg, config_errors_t *errors)
{
    const char *key_file = cfg->crowdsec.api_key_file, *creds = cfg->crowdsec.machine_credentials_file;
    self->poll_s = cfg->crowdsec.poll_interval > 0 ? (unsigned) cfg->crowdsec.poll_interval : 10;
    if (base_url (cfg->crowdsec.lapi_url, self->url, sizeof self->url) < 0) {
        config_errors_add (errors, "crowdsec.lapi_url: '%s' is not an http(s) URL", cfg->crowdsec.lapi_url);
        return -1;
    }
    self->polling = key_file && *key_file;
    self->pushing = creds && *creds;
    if (!self->polling && !self->pushing) {
        config_errors_add (errors, "crowdsec: neither api_key_file nor machine_credentials_file is set");
        return -1;
    }
    if ((self->polling && read_key (self, key_file, errors) < 0)
        || (self->pushing && read_creds (self, creds, errors) < 0))
        return -1;
    pthread_once (&curl_once, curl_init_once);
    self->curl = curl_easy_init ();
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!self->curl || self->efd < 0) {
        config_errors_add (errors, "crowdsec: %s", self->efd < 0 ? strerror (errno) : "curl_easy_init failed");
        return -1;
    }
    return 0;
}

lapi_t *
lapi_new (const config_t *cfg, config_errors_t *errors)
{
    lapi_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "crowdsec: out of memory");
        return NULL;
    }
    self->efd = -1;
    atomic_init (&self->stop, false);
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->cond, &attr);
    pthread_condattr_destroy (&attr);
    if (lapi_setup (self, cfg, errors) < 0) {
        lapi_destroy (&self);
        return NULL;
    }
    int rc = pthread_create (&self->thread, NULL, lapi_thread, self);
    if (rc != 0) {
        config_errors_add (errors, "crowdsec: cannot start the LAPI thread: %s", strerror (rc));
        lapi_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
lapi_destroy (lapi_t **self_p)
{
    lapi_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    atomic_store (&self->stop, true);
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->lock);
    if (self->started)
        pthread_join (self->thread, NULL);
    if (self->curl)
        curl_easy_cleanup (self->curl);
    curl_slist_free_all (self->key_hdrs);
    if (self->efd >= 0)
        close (self->efd);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->lock);
    free (self->dq);
    free (self->seen_new.slots);
    free (self->seen_deleted.slots);
    memset (self->password, 0, sizeof self->password);
    memset (self->jwt, 0, sizeof self->jwt);
    free (self);
    *self_p = NULL;
}

int
lapi_fd (lapi_t *self)
{
    return self->efd;
}

size_t
lapi_take (lapi_t *self, lapi_decision_t *out, size_t max)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->dq_len < max ? self->dq_len : max;
    if (n) {
        memcpy (out, self->dq, n * sizeof *out);
        memmove (self->dq, self->dq + n, (self->dq_len - n) * sizeof *out);
        self->dq_len -= n;
    }
    uint64_t count;
    if (self->dq_len == 0 && read (self->efd, &count, sizeof count) < 0 && errno != EAGAIN)
        log_warning ("crowdsec lapi: eventfd: %s", strerror (errno));
    pthread_mutex_unlock (&self->lock);
    return n;
}

int
lapi_push (lapi_t *self, const lapi_ban_t *ban)
{
    pthread_mutex_lock (&self->lock);
    bool room = self->pushing && self->bq_len < LAPI_BANS_MAX;
    if (room) {
        self->bq[(self->bq_head + self->bq_len) % LAPI_BANS_MAX] = *ban;
        self->bq_len++;
        self->wake = true;
        pthread_cond_signal (&self->cond);
    } else
        self->stats.push_dropped++;
    pthread_mutex_unlock (&self->lock);
    return room ? 0 : -1;
}

int
lapi_unban (lapi_t *self, const char *ip)
{
    lapi_ban_t op = { .unban = true };
    if (!ip || strlen (ip) >= sizeof op.ip)
        return -1;
    memcpy (op.ip, ip, strlen (ip) + 1);
    return lapi_push (self, &op);
}

bool
lapi_pushing (const lapi_t *self)
{
    return self->pushing;
}

lapi_stats_t
lapi_stats (lapi_t *self)
{
    pthread_mutex_lock (&self->lock);
    lapi_stats_t s = self->stats;
    pthread_mutex_unlock (&self->lock);
    return s;
}
