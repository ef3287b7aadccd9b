/*  anomaly.c — see anomaly.h. The score and its reasoning: docs/DESIGN.md §10
    "Anomaly score".

    A client's window is BUCKETS slices of window_s / BUCKETS seconds, kept
    in a ring and rotated lazily when the client's next event falls into a
    newer slice. At each rotation the window that just ended is one sample
    of the population (one vote per client per slice, whatever its volume)
    and of the client's own history (an EWMA).                              */
#include "anomaly.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

enum { F_RATE, F_ERRORS, F_PATHS, F_ENTROPY, F_METHODS, F_AGENTS, F_AUTH, F_COUNT };

#define BUCKETS 6               /* slices of a window                        */
#define PATH_SETS 32            /* the distinct-path cache: 32 sets x 4 ways */
#define PATH_WAYS 4
#define HIST_BINS 128
#define POP_HALF_LIFE 2048      /* population samples between two halvings   */
#define POP_WARM 200.0          /* samples before the population is trusted  */
#define POP_MIN_CLIENTS 20.0    /* clients seen before it is trusted         */
#define OWN_WARM 6              /* own samples (one window) before use       */
#define OWN_ALPHA 0.1
#define OWN_WEIGHT 0.5          /* a change against oneself counts half      */
#define Z_MAX 10.0
#define Z_FREE 2.0              /* z up to this is noise, adds nothing       */
#define SCORE_SCALE 4.4         /* E = 4.0 (one feature at z = 6) -> 60      */
#define ERR_PSEUDO 5.0          /* pseudo-responses without error            */
#define METHOD_PSEUDO 2.0       /* pseudo-requests with GET                  */
#define IP_LEN 48
#define DEFAULT_MAX_CLIENTS 4096

typedef struct {
    uint32_t requests, responses, errors, other_methods, auth_fail, new_paths, agent_changes;
    uint32_t credentials;       /* requests with credentials (for the label) */
    float entropy;              /* summed over the requests                  */
} bucket_t;

typedef struct {
    char ip[IP_LEN];
    int32_t next_hash;          /* chain of the hash table; -1 ends it       */
    int32_t newer, older;       /* the LRU list                              */
    uint64_t slot;              /* absolute number of the newest slice       */
    bucket_t buckets[BUCKETS];
    uint32_t paths[PATH_SETS][PATH_WAYS];
    uint64_t agent;             /* hash of the last user agent               */
    float own_mean[F_COUNT], own_var[F_COUNT];
    uint32_t own_samples;
    bool alerted;
    uint32_t alert_score;
    uint64_t alert_ns;
} client_t;

typedef struct {
    double bins[HIST_BINS];
    double total;
} hist_t;

typedef struct {
    const char *name;
    double top;                 /* the histogram's range: 0..top             */
    double floor;               /* the smallest deviation believed           */
    double prior_sigma;
} feature_t;

/*  Counts are on a log1p scale, ratios and entropy as they are.            */
static const feature_t FEATURES[F_COUNT] = {
    [F_RATE] = { "rate", 12.0, 0.5, 0.8 },
    [F_ERRORS] = { "errors", 1.0, 0.12, 0.15 },
    [F_PATHS] = { "paths", 12.0, 0.5, 1.0 },
    [F_ENTROPY] = { "entropy", 8.0, 0.25, 0.6 },
    [F_METHODS] = { "methods", 1.0, 0.1, 0.2 },
    [F_AGENTS] = { "agents", 8.0, 0.5, 0.7 },
    [F_AUTH] = { "auth_fail", 10.0, 0.5, 0.7 },
};

struct anomaly_t {
    anomaly_params_t params;
    uint64_t slice_ns;
    double prior_center[F_COUNT];
    client_t *clients;          /* max_clients records                       */
    int32_t *heads;             /* hash table: first client of each chain    */
    size_t mask;
    int32_t newest, oldest;
    size_t used;
    hist_t pop[F_COUNT];
    double pop_added;           /* samples since the last halving            */
    double pop_seen;            /* samples ever                              */
    uint64_t clients_seen;
    anomaly_stats_t stats;
};

/*  A window summed: the counts and the feature values.                     */
typedef struct {
    bucket_t sum;
    double value[F_COUNT];
} window_t;

anomaly_t *
anomaly_new (const anomaly_params_t *params)
{
    anomaly_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->params = *params;
    if (!self->params.max_clients)
        self->params.max_clients = DEFAULT_MAX_CLIENTS;
    if (self->params.window_s < BUCKETS)
        self->params.window_s = BUCKETS;
    size_t buckets = 16;
    while (buckets < 2 * self->params.max_clients)
        buckets *= 2;
    self->mask = buckets - 1;
    self->clients = calloc (self->params.max_clients, sizeof *self->clients);
    self->heads = malloc (buckets * sizeof *self->heads);
    if (!self->clients || !self->heads) {
        anomaly_destroy (&self);
        return NULL;
    }
    memset (self->heads, 0xff, buckets * sizeof *self->heads);
    self->newest = self->oldest = -1;
    self->slice_ns = (uint64_t) self->params.window_s * 1000000000ull / BUCKETS;
    double w = self->params.window_s;
    self->prior_center[F_RATE] = log1p (w / 6);         /* 10 a minute */
    self->prior_center[F_ERRORS] = 0.05;
    self->prior_center[F_PATHS] = log1p (w / 20);       /* 3 new a minute */
    self->prior_center[F_ENTROPY] = 3.8;
    self->prior_center[F_METHODS] = 0.05;
    return self;
}

void
anomaly_destroy (anomaly_t **self_p)
{
    anomaly_t *self = *self_p;
    if (!self)
        return;
    free (self->clients);
    free (self->heads);
    free (self);
    *self_p = NULL;
}

/* ---- the table of clients: hash chains and the LRU list ---------------- */

static void
lru_unlink (anomaly_t *self, int32_t i)
{
    client_t *c = &self->clients[i];
    if (c->newer >= 0)
        self->clients[c->newer].older = c->older;
    else
        self->newest = c->older;
    if (c->older >= 0)
        self->clients[c->older].newer = c->newer;
    else
        self->oldest = c->newer;
}

static void
lru_push (anomaly_t *self, int32_t i)
{
    client_t *c = &self->clients[i];
    c->newer = -1;
    c->older = self->newest;
    if (self->newest >= 0)
        self->clients[self->newest].newer = i;
    self->newest = i;
    if (self->oldest < 0)
        self->oldest = i;
}

static int32_t
find (const anomaly_t *self, const char *ip, size_t head)
{
    for (int32_t i = self->heads[head]; i >= 0; i = self->clients[i].next_hash)
        if (strcmp (self->clients[i].ip, ip) == 0)
            return i;
    return -1;
}

static void
unhash (anomaly_t *self, int32_t i)
{
    int32_t *link = &self->heads[hash_string (self->clients[i].ip) & self->mask];
    while (*link != i)
        link = &self->clients[*link].next_hash;
    *link = self->clients[i].next_hash;
}

/*  The record of IP, made (evicting the least recently seen) when CREATE.
    A found client becomes the most recent when CREATE.                     */
static client_t *
client_get (anomaly_t *self, const char *ip, bool create)
{
    if (!ip)
        return NULL;
    size_t head = hash_string (ip) & self->mask;
    int32_t i = find (self, ip, head);
    if (i >= 0 || !create) {
        if (i >= 0 && create) {
            lru_unlink (self, i);
            lru_push (self, i);
        }
        return i >= 0 ? &self->clients[i] : NULL;
    }
    if (self->used < self->params.max_clients)
        i = (int32_t) self->used++;
    else {
        i = self->oldest;
        lru_unlink (self, i);
        unhash (self, i);
        self->stats.evicted++;
    }
    client_t *c = &self->clients[i];
    memset (c, 0, sizeof *c);
    snprintf (c->ip, sizeof c->ip, "%s", ip);
    c->next_hash = self->heads[head];
    self->heads[head] = i;
    lru_push (self, i);
    self->clients_seen++;
    return c;
}

/* ---- the population: decaying histograms, median and IQR ---------------- */

static void
hist_add (hist_t *h, double value, double top)
{
    int bin = (int) (value / top * HIST_BINS);
    bin = bin < 0 ? 0 : bin >= HIST_BINS ? HIST_BINS - 1 : bin;
    h->bins[bin] += 1.0;
    h->total += 1.0;
}

static void
hist_halve (hist_t *h)
{
    for (int i = 0; i < HIST_BINS; i++)
        h->bins[i] *= 0.5;
    h->total *= 0.5;
}

/*  The Q quantile of H (linear within a bin).                              */
static double
hist_quantile (const hist_t *h, double q, double top)
{
    double want = q * h->total, seen = 0;
    for (int i = 0; i < HIST_BINS; i++) {
        if (h->bins[i] > 0 && seen + h->bins[i] >= want) {
            double inside = (want - seen) / h->bins[i];
            return (i + inside) * top / HIST_BINS;
        }
        seen += h->bins[i];
    }
    return top;
}

static void
population_add (anomaly_t *self, const window_t *w)
{
    for (int f = 0; f < F_COUNT; f++)
        hist_add (&self->pop[f], w->value[f], FEATURES[f].top);
    self->pop_seen += 1;
    if (++self->pop_added >= POP_HALF_LIFE) {
        for (int f = 0; f < F_COUNT; f++)
            hist_halve (&self->pop[f]);
        self->pop_added = 0;
    }
}

/*  The population's centre and scale of feature F: median and IQR / 1.349,
    blended with the prior while the population is small (cold start).     */
static void
population_norm (const anomaly_t *self, int f, double *center, double *sigma)
{
    double trust = fmin (self->pop_seen / POP_WARM, self->clients_seen / POP_MIN_CLIENTS);
    trust = fmin (trust, 1.0);
    double median = 0, spread = 0;
    if (trust > 0) {
        double top = FEATURES[f].top;
        median = hist_quantile (&self->pop[f], 0.5, top);
        spread = (hist_quantile (&self->pop[f], 0.75, top)
                  - hist_quantile (&self->pop[f], 0.25, top)) / 1.349;
    }
    *center = trust * median + (1 - trust) * self->prior_center[f];
    *sigma = fmax (trust * spread + (1 - trust) * FEATURES[f].prior_sigma, FEATURES[f].floor);
}

/* ---- a client's window and its own history ------------------------------ */

/*  The features of C's slices newer than NOW_SLOT - BUCKETS into W.         */
static void
window_sum (const client_t *c, uint64_t now_slot, window_t *w)
{
    memset (w, 0, sizeof *w);
    bucket_t *s = &w->sum;
    for (uint64_t i = 0; i < BUCKETS && i <= c->slot; i++) {
        uint64_t abs = c->slot - i;
        if (abs > now_slot || abs + BUCKETS <= now_slot)
            continue;
        const bucket_t *b = &c->buckets[abs % BUCKETS];
        s->requests += b->requests;
        s->responses += b->responses;
        s->errors += b->errors;
        s->other_methods += b->other_methods;
        s->auth_fail += b->auth_fail;
        s->new_paths += b->new_paths;
        s->agent_changes += b->agent_changes;
        s->credentials += b->credentials;
        s->entropy += b->entropy;
    }
    w->value[F_RATE] = log1p (s->requests);
    w->value[F_ERRORS] = s->errors / (s->responses + ERR_PSEUDO);
    w->value[F_PATHS] = log1p (s->new_paths);
    w->value[F_ENTROPY] = s->requests ? s->entropy / s->requests : 0;
    w->value[F_METHODS] = s->other_methods / (s->requests + METHOD_PSEUDO);
    w->value[F_AGENTS] = log1p (s->agent_changes);
    w->value[F_AUTH] = log1p (s->auth_fail);
}

/*  One EWMA step of C's own history with W, capped at mean + 3 deviations
    once warm, so that an attack does not teach the client its own attack
    at once.                                                                */
static void
own_add (client_t *c, const window_t *w)
{
    for (int f = 0; f < F_COUNT; f++) {
        double x = w->value[f];
        if (c->own_samples == 0) {
            c->own_mean[f] = (float) x;
            continue;
        }
        double sd = fmax (sqrt (c->own_var[f]), FEATURES[f].floor);
        if (c->own_samples >= OWN_WARM)
            x = fmin (x, c->own_mean[f] + 3 * sd);
        double d = x - c->own_mean[f];
        c->own_mean[f] += (float) (OWN_ALPHA * d);
        c->own_var[f] = (float) ((1 - OWN_ALPHA) * (c->own_var[f] + OWN_ALPHA * d * d));
    }
    c->own_samples++;
}

/*  Move C to slice SLOT: the window ending at the old slice becomes a
    sample, the slices that fell out are cleared. False when SLOT is older
    than the window (a late event: dropped).                                */
static bool
rotate (anomaly_t *self, client_t *c, uint64_t slot)
{
    if (slot <= c->slot)
        return slot + BUCKETS > c->slot;
    window_t w;
    window_sum (c, c->slot, &w);
    if (w.sum.requests) {
        population_add (self, &w);
        own_add (c, &w);
    }
    for (uint64_t s = c->slot + 1; s <= slot && s <= c->slot + BUCKETS; s++)
        memset (&c->buckets[s % BUCKETS], 0, sizeof (bucket_t));
    c->slot = slot;
    return true;
}

/* ---- events ------------------------------------------------------------- */

/*  Shannon entropy, bits per character, of PATH ? QUERY (512 bytes at most). */
static double
target_entropy (const char *path, const char *query)
{
    unsigned counts[256] = { 0 };
    unsigned n = 0;
    for (const unsigned char *p = (const unsigned char *) (path ? path : ""); *p && n < 512; p++, n++)
        counts[*p]++;
    if (query && *query) {
        counts['?']++, n++;
        for (const unsigned char *p = (const unsigned char *) query; *p && n < 512; p++, n++)
            counts[*p]++;
    }
    double h = 0;
    for (int i = 0; i < 256 && n; i++)
        if (counts[i]) {
            double p = (double) counts[i] / n;
            h -= p * log2 (p);
        }
    return h;
}

/*  Is PATH new to C? Remembered in a 4-way set: the oldest way goes.       */
static bool
path_is_new (client_t *c, const char *path)
{
    uint64_t h = hash_string (path);
    uint32_t *set = c->paths[h % PATH_SETS];
    uint32_t print = (uint32_t) (h >> 32) | 1;
    for (int i = 0; i < PATH_WAYS; i++)
        if (set[i] == print)
            return false;
    memmove (set + 1, set, (PATH_WAYS - 1) * sizeof *set);
    set[0] = print;
    return true;
}

static void
bump (uint32_t *counter)
{
    if (*counter < UINT32_MAX)
        (*counter)++;
}

void
anomaly_request (anomaly_t *self, const anomaly_request_t *req)
{
    client_t *c = client_get (self, req->client_ip, true);
    if (!c)
        return;
    self->stats.observed++;
    uint64_t slot = req->ts_ns / self->slice_ns;
    if (!rotate (self, c, slot))
        return;
    bucket_t *b = &c->buckets[slot % BUCKETS];
    bump (&b->requests);
    const char *m = req->method ? req->method : "";
    if (strcmp (m, "GET") != 0 && strcmp (m, "HEAD") != 0)
        bump (&b->other_methods);
    if (req->has_credentials)
        bump (&b->credentials);
    if (path_is_new (c, req->path))
        bump (&b->new_paths);
    uint64_t agent = hash_string (req->user_agent);
    if (c->agent && c->agent != agent)
        bump (&b->agent_changes);
    c->agent = agent;
    float e = b->entropy + (float) target_entropy (req->path, req->query);
    b->entropy = e;
}

void
anomaly_response (anomaly_t *self, const char *client_ip, uint64_t ts_ns, uint32_t status,
                  bool had_credentials)
{
    client_t *c = client_get (self, client_ip, false);
    uint64_t slot = ts_ns / self->slice_ns;
    if (!c || !rotate (self, c, slot))
        return;
    bucket_t *b = &c->buckets[slot % BUCKETS];
    bump (&b->responses);
    if (status >= 400)
        bump (&b->errors);
    if ((status == 401 || status == 403) && had_credentials)
        bump (&b->auth_fail);
}

/* ---- the score ---------------------------------------------------------- */

typedef struct {
    double z[F_COUNT];          /* max (population z, OWN_WEIGHT x own z)    */
    double excess;              /* E = sqrt (sum (z - Z_FREE)+^2)            */
} zs_t;

static double
clamp_z (double z)
{
    return z < 0 ? 0 : z > Z_MAX ? Z_MAX : z;
}

static void
score_window (const anomaly_t *self, const client_t *c, const window_t *w, zs_t *zs)
{
    double sum = 0;
    for (int f = 0; f < F_COUNT; f++) {
        double center, sigma;
        population_norm (self, f, &center, &sigma);
        double z = clamp_z ((w->value[f] - center) / sigma);
        if (c->own_samples >= OWN_WARM) {
            double sd = fmax (sqrt (c->own_var[f]), FEATURES[f].floor);
            z = fmax (z, OWN_WEIGHT * clamp_z ((w->value[f] - c->own_mean[f]) / sd));
        }
        zs->z[f] = z;
        double e = fmax (0, z - Z_FREE);
        sum += e * e;
    }
    zs->excess = sqrt (sum);
}

/*  The dominant pattern, first rule that holds (docs/DESIGN.md §10).          */
static const char *
label_of (const zs_t *zs, const bucket_t *sum)
{
    const double *z = zs->z;
    bool logins = 2 * sum->credentials >= sum->requests;
    if (z[F_AUTH] >= 3 || (logins && (z[F_AUTH] > Z_FREE || z[F_METHODS] >= 3)))
        return "brute-force";
    bool walking = 2 * sum->new_paths >= sum->requests;
    if ((z[F_PATHS] > Z_FREE || walking) && z[F_ERRORS] >= 3)
        return "scanner";
    int top = 0;
    for (int f = 1; f < F_COUNT; f++)
        if (z[f] > z[top])
            top = f;
    if (top == F_RATE && z[F_RATE] > Z_FREE)
        return "flood";
    if ((top == F_ENTROPY || top == F_METHODS) && z[F_RATE] < Z_FREE)
        return "injection";
    return "anomaly";
}

/*  "rate z=6.1 (240/60s)": the raw figure behind feature F.                 */
static void
reason_of (const anomaly_t *self, const window_t *w, int f, double z, char *out)
{
    const bucket_t *s = &w->sum;
    unsigned win = self->params.window_s;
    char raw[40];
    switch (f) {
    case F_RATE: snprintf (raw, sizeof raw, "%u/%us", s->requests, win); break;
    case F_ERRORS: snprintf (raw, sizeof raw, "%u/%u 4xx/5xx", s->errors, s->responses); break;
    case F_PATHS: snprintf (raw, sizeof raw, "%u new/%us", s->new_paths, win); break;
    case F_ENTROPY: snprintf (raw, sizeof raw, "%.1f bits", w->value[F_ENTROPY]); break;
    case F_METHODS: snprintf (raw, sizeof raw, "%u/%u not GET/HEAD", s->other_methods, s->requests); break;
    case F_AGENTS: snprintf (raw, sizeof raw, "%u changes/%us", s->agent_changes, win); break;
    default: snprintf (raw, sizeof raw, "%u/%us", s->auth_fail, win); break;
    }
    snprintf (out, ANOMALY_REASON_LEN, "%s z=%.1f (%s)", FEATURES[f].name, z, raw);
}

/*  The reasons: every feature past Z_FREE, the largest z first.            */
static void
fill_reasons (const anomaly_t *self, const window_t *w, const zs_t *zs, anomaly_result_t *out)
{
    bool done[F_COUNT] = { false };
    out->reason_count = 0;
    while (out->reason_count < ANOMALY_REASONS_MAX) {
        int best = -1;
        for (int f = 0; f < F_COUNT; f++)
            if (!done[f] && zs->z[f] > Z_FREE && (best < 0 || zs->z[f] > zs->z[best]))
                best = f;
        if (best < 0)
            break;
        done[best] = true;
        reason_of (self, w, best, zs->z[best], out->reasons[out->reason_count++]);
    }
}

bool
anomaly_score (anomaly_t *self, const char *client_ip, uint64_t now_ns, anomaly_result_t *out)
{
    memset (out, 0, sizeof *out);
    snprintf (out->label, sizeof out->label, "anomaly");
    client_t *c = client_get (self, client_ip, false);
    if (!c)
        return false;
    window_t w;
    window_sum (c, now_ns / self->slice_ns, &w);
    if (!w.sum.requests)
        return false;
    zs_t zs;
    score_window (self, c, &w, &zs);
    out->score = (uint32_t) lround (100.0 * (1.0 - exp (-zs.excess / SCORE_SCALE)));
    snprintf (out->label, sizeof out->label, "%s", label_of (&zs, &w.sum));
    fill_reasons (self, &w, &zs, out);
    return true;
}

bool
anomaly_check (anomaly_t *self, const char *client_ip, uint64_t now_ns, anomaly_result_t *out)
{
    if (!anomaly_score (self, client_ip, now_ns, out) || out->score < self->params.threshold)
        return false;
    client_t *c = client_get (self, client_ip, false);
    uint64_t window_ns = (uint64_t) self->params.window_s * 1000000000ull;
    bool cooling = c->alerted && now_ns < c->alert_ns + window_ns
                   && out->score < c->alert_score + 10;
    if (cooling)
        return false;
    c->alerted = true;
    c->alert_ns = now_ns;
    c->alert_score = out->score;
    self->stats.alerts++;
    return true;
}

anomaly_stats_t
anomaly_stats (const anomaly_t *self)
{
    anomaly_stats_t s = self->stats;
    s.clients = self->used;
    return s;
}
