/*  state.h — dpi-api's rolling state: what it remembers of the bus, each
    part bounded.

    Three rings of recent events, each held as its JSON text (as
    `dpi-dualctl tail` prints it) with the fields the filters need: the
    last api.max_flows tap.flow events, the last api.max_threats
    correlated.threat, the last api.max_alerts buffer.alert. A full ring
    drops its oldest. An event whose text is over API_STATE_MAX_TEXT bytes
    is not kept (counted, `oversized`).

    Per-minute counters of every kind of event (flows, alerts, threats,
    verdicts, blocks, decisions), for the last API_STATE_MINUTES minutes,
    by the time the API received them: 60 fixed slots, a slot reused when
    its minute comes round again.

    Memory: the rings' slots (~160 bytes each) and their texts (a flow
    ~1 KB): at the defaults (1000 flows, 200 threats, 200 alerts) ~2 MB at
    most, and never more than (max_flows + max_threats + max_alerts) x
    API_STATE_MAX_TEXT. One thread: the worker's.                          */
#ifndef DPI_API_STATE_H
#define DPI_API_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_STATE_MINUTES 60
#define API_STATE_MAX_TEXT 16384

typedef enum {
    API_KIND_FLOW,                      /* tap.flow                          */
    API_KIND_THREAT,                    /* correlated.threat                 */
    API_KIND_ALERT,                     /* buffer.alert                      */
    API_KIND_VERDICT,                   /* mitm.verdict (counted only)       */
    API_KIND_BLOCK,                     /* a mitm.verdict that blocks        */
    API_KIND_DECISION,                  /* decision (counted only)           */
    API_KIND_COUNT
} api_kind_t;

/*  "flows", "threats", "alerts", "verdicts", "blocks", "decisions".        */
const char *api_kind_name (api_kind_t kind);

typedef struct api_state_t api_state_t;

/*  The rings' sizes; NULL when out of memory.                               */
api_state_t *api_state_new (size_t max_flows, size_t max_threats, size_t max_alerts);
void api_state_destroy (api_state_t **self_p);

/*  One event of KIND received at NOW_NS (wall clock): counted in its
    minute; a flow, threat or alert is also kept with its JSON TEXT (LEN
    bytes, copied), its time TS_NS and, for the filters, up to two
    addresses (IP_A, IP_B, may be NULL) and a protocol (PROTO, may be NULL:
    flows' "TLS.Google", matched per dot-separated part too, and their L4
    name "tcp"/"udp"/...). 0, or -1 when not kept (too large, no memory). */
int api_state_add (api_state_t *self, api_kind_t kind, uint64_t now_ns, uint64_t ts_ns,
                   const char *text, size_t len, const char *ip_a, const char *ip_b,
                   const char *proto, const char *l4);

/*  A filter of kept events; NULL/0 fields match everything.                 */
typedef struct {
    const char *ip;                     /* either address equals it           */
    const char *proto;                  /* case-insensitive: the protocol, a
                                           dot part of it, or the L4 name     */
    uint64_t since_ns;                  /* ts_ns >= since_ns                  */
} api_filter_t;

/*  The kept events of KIND that pass FILTER, newest first: *TOTAL of them;
    those from OFFSET, at most LIMIT (and MAX), their texts into OUT
    (borrowed: valid until the next api_state_add). Returns how many.      */
size_t api_state_find (const api_state_t *self, api_kind_t kind, const api_filter_t *filter,
                       size_t offset, size_t limit, const char **out, size_t max, size_t *total);

/*  Events of KIND since start, and kept now.                                */
uint64_t api_state_total (const api_state_t *self, api_kind_t kind);
size_t api_state_kept (const api_state_t *self, api_kind_t kind);
/*  Events not kept: over API_STATE_MAX_TEXT or no memory.                  */
uint64_t api_state_oversized (const api_state_t *self);

/*  The count of KIND in the minute MINUTES_AGO (0: the current one, up to
    API_STATE_MINUTES - 1) before NOW_NS.                                   */
uint64_t api_state_minute (const api_state_t *self, api_kind_t kind, uint64_t now_ns,
                           unsigned minutes_ago);

#endif
