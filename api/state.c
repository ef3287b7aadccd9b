/*  state.c — see state.h.                                                   */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "state.h"

typedef struct {
    uint64_t ts_ns;
    char *text;                         /* NULL: empty slot                  */
    char ip_a[46], ip_b[46];
    char proto[48], l4[8];
} entry_t;

typedef struct {
    entry_t *slots;
    size_t cap, head, count;            /* head: where the next one goes     */
} ring_t;

typedef struct {
    uint64_t minute;                    /* minutes since the epoch; 0 unused */
    uint64_t counts[API_KIND_COUNT];
} minute_t;

struct api_state_t {
    ring_t rings[3];                    /* flows, threats, alerts            */
    minute_t minutes[API_STATE_MINUTES];
    uint64_t totals[API_KIND_COUNT];
    uint64_t oversized;
};

static const char *const s_kind_names[API_KIND_COUNT] = {
    "flows", "threats", "alerts", "verdicts", "blocks", "decisions",
};

const char *
api_kind_name (api_kind_t kind)
{
    return kind < API_KIND_COUNT ? s_kind_names[kind] : "?";
}

api_state_t *
api_state_new (size_t max_flows, size_t max_threats, size_t max_alerts)
{
    api_state_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    size_t caps[3] = { max_flows, max_threats, max_alerts };
    for (int i = 0; i < 3; i++) {
        self->rings[i].cap = caps[i] ? caps[i] : 1;
        self->rings[i].slots = calloc (self->rings[i].cap, sizeof (entry_t));
        if (!self->rings[i].slots) {
            api_state_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
api_state_destroy (api_state_t **self_p)
{
    api_state_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < 3; i++) {
        for (size_t k = 0; self->rings[i].slots && k < self->rings[i].cap; k++)
            free (self->rings[i].slots[k].text);
        free (self->rings[i].slots);
    }
    free (self);
    *self_p = NULL;
}

static ring_t *
ring_of (const api_state_t *self, api_kind_t kind)
{
    return kind <= API_KIND_ALERT ? (ring_t *) &self->rings[kind] : NULL;
}

static void
copy (char *out, size_t outlen, const char *text)
{
    size_t len = text ? strnlen (text, outlen - 1) : 0;
    memcpy (out, text ? text : "", len);
    out[len] = 0;
}

int
api_state_add (api_state_t *self, api_kind_t kind, uint64_t now_ns, uint64_t ts_ns,
               const char *text, size_t len, const char *ip_a, const char *ip_b,
               const char *proto, const char *l4)
{
    if (kind >= API_KIND_COUNT)
        return -1;
    uint64_t minute = now_ns / 60000000000ull;
    minute_t *m = &self->minutes[minute % API_STATE_MINUTES];
    if (m->minute != minute) {
        memset (m, 0, sizeof *m);
        m->minute = minute;
    }
    m->counts[kind]++;
    self->totals[kind]++;
    ring_t *r = ring_of (self, kind);
    if (!r || !text)
        return 0;
    if (len > API_STATE_MAX_TEXT) {
        self->oversized++;
        return -1;
    }
    char *copy_text = malloc (len + 1);
    if (!copy_text) {
        self->oversized++;
        return -1;
    }
    memcpy (copy_text, text, len);
    copy_text[len] = 0;
    entry_t *e = &r->slots[r->head];
    free (e->text);
    e->text = copy_text;
    e->ts_ns = ts_ns;
    copy (e->ip_a, sizeof e->ip_a, ip_a);
    copy (e->ip_b, sizeof e->ip_b, ip_b);
    copy (e->proto, sizeof e->proto, proto);
    copy (e->l4, sizeof e->l4, l4);
    r->head = (r->head + 1) % r->cap;
    if (r->count < r->cap)
        r->count++;
    return 0;
}

/*  Is WANT the protocol, one of its dot-separated parts, or the L4 name?   */
static bool
proto_matches (const entry_t *e, const char *want)
{
    if (strcasecmp (e->proto, want) == 0 || strcasecmp (e->l4, want) == 0)
        return true;
    size_t wlen = strlen (want);
    for (const char *p = e->proto; *p; ) {
        size_t plen = strcspn (p, ".");
        if (plen == wlen && strncasecmp (p, want, wlen) == 0)
            return true;
        p += plen + (p[plen] == '.');
    }
    return false;
}

static bool
passes (const entry_t *e, const api_filter_t *f)
{
    if (!f)
        return true;
    if (f->ip && *f->ip && strcmp (e->ip_a, f->ip) != 0 && strcmp (e->ip_b, f->ip) != 0)
        return false;
    if (f->proto && *f->proto && !proto_matches (e, f->proto))
        return false;
    return e->ts_ns >= f->since_ns;
}

size_t
api_state_find (const api_state_t *self, api_kind_t kind, const api_filter_t *filter,
                size_t offset, size_t limit, const char **out, size_t max, size_t *total)
{
    *total = 0;
    const ring_t *r = ring_of (self, kind);
    if (!r)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++) {
        const entry_t *e = &r->slots[(r->head + r->cap - 1 - i) % r->cap];
        if (!e->text || !passes (e, filter))
            continue;
        if (*total >= offset && n < limit && n < max)
            out[n++] = e->text;
        (*total)++;
    }
    return n;
}

uint64_t
api_state_total (const api_state_t *self, api_kind_t kind)
{
    return kind < API_KIND_COUNT ? self->totals[kind] : 0;
}

size_t
api_state_kept (const api_state_t *self, api_kind_t kind)
{
    const ring_t *r = ring_of (self, kind);
    return r ? r->count : 0;
}

uint64_t
api_state_oversized (const api_state_t *self)
{
    return self->oversized;
}

uint64_t
api_state_minute (const api_state_t *self, api_kind_t kind, uint64_t now_ns,
                  unsigned minutes_ago)
{
    uint64_t minute = now_ns / 60000000000ull;
    if (kind >= API_KIND_COUNT || minutes_ago >= API_STATE_MINUTES || minutes_ago > minute)
        return 0;
    const minute_t *m = &self->minutes[(minute - minutes_ago) % API_STATE_MINUTES];
    return m->minute == minute - minutes_ago ? m->counts[kind] : 0;
}
