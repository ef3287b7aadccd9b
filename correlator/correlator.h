/*  correlator.h — dpi-correlator's state and the work of its loop.

    The worker (main.c) is the skeleton of common/worker.h around this:

      tap.flow        join_flow (join.h); a flow with a threat risk or a
                      suspicious protocol is dpi_threat evidence for its
                      client; a client reaching many ports or hosts on the
                      mirror within the window is scanner evidence
      mitm.request    join_request
      mitm.verdict    a BLOCK is waf_block evidence
      buffer.alert    waf_alert evidence (an anomaly alert labelled
                      scanner / brute-force is that kind instead)
      CrowdSec        a decision (lapi.h) is re-published on `decision`
                      (origin crowdsec), enforced, and is crowdsec_ban
                      evidence; a deletion is an UNBAN
    Evidence adds correlation.scoring points to the client's reputation
    (reputation.h) and becomes a correlated.threat, with the join key that
    tied it to the TAP flow; a score at correlation.threat_threshold bans
    the address (correlation.auto_ban): a `decision` BAN for
    correlation.ban_duration, the HAProxy ACL (haproxy.h), and an alert
    pushed to CrowdSec (lapi.h). Manual bans come from the query service.

    Offline (--offline FILE), the same from tail's JSON lines; threats,
    decisions and joins are printed as JSON lines instead of published.
    The clock is then the newest event time read.                          */
#ifndef DPI_CORRELATOR_CORRELATOR_H
#define DPI_CORRELATOR_CORRELATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "haproxy.h"
#include "heartbeat.h"
#include "join.h"
#include "jsonl_in.h"
#include "lapi.h"
#include "outfile.h"
#include "query.h"
#include "reputation.h"

#define CORRELATOR_COUNTERS(X)                                              \
    X (FLOWS, "flows")                                                      \
    X (REQUESTS, "requests")                                                \
    X (VERDICTS, "verdicts")                                                \
    X (ALERTS, "alerts")                                                    \
    X (EVIDENCE, "evidence")                                                \
    X (THREATS, "threats")                                                  \
    X (BANS, "bans")                                                        \
    X (UNBANS, "unbans")                                                    \
    X (BANS_WHITELISTED, "bans_whitelisted")  /* score reached, not banned */ \
    X (CROWDSEC_DECISIONS, "crowdsec_decisions")                            \
    X (BANS_RESTORED, "bans_restored")        /* ours, from CrowdSec at start */ \
    X (BANS_LIFTED_IN_CROWDSEC, "bans_lifted_in_crowdsec") /* ours, deleted there */ \
    X (JOINS_PUBLISHED, "joins_published")                                  \
    X (OUTPUT_ERRORS, "output_errors")        /* lines not written         */ \
    X (COMPAT_ERRORS, "compat_errors")        /* ip-reputation.json not replaced */ \
    X (STATE_ERRORS, "state_errors")          /* reputation file          */

typedef enum {
#define CORRELATOR_COUNTER_ENUM(ID, NAME) CORRELATOR_##ID,
    CORRELATOR_COUNTERS (CORRELATOR_COUNTER_ENUM)
#undef CORRELATOR_COUNTER_ENUM
    CORRELATOR_COUNTER_COUNT
} correlator_counter_t;

#define RECENT_THREATS 1000         /* kept for the `threats` query          */
#define SCAN_TRACK 4096             /* clients tracked for port/host scans   */

typedef struct {
    char ip[JOIN_IP_MAX];
    uint64_t window_start_ns;
    uint32_t ports[64], hosts[64];  /* small distinct sets (hashes)          */
    uint32_t nports, nhosts;
    bool reported;
} scan_track_t;

/*  A recent request, by hash of its request_id: what a verdict needs.    */
typedef struct {
    char request_id[96];
    char host[96];
    char path[160];
    char community_id[JOIN_CID_MAX];
} req_memo_t;
#define REQ_MEMO 8192

/*  A flow with a server-side risk, held until it is known whether its
    server is one of our frontends (a MITM request for it comes within
    moments of the handshake the collector classified).                      */
typedef struct {
    char community_id[JOIN_CID_MAX];
    char ip[JOIN_IP_MAX];
    char dst_ip[JOIN_IP_MAX];
    uint32_t dst_port;
    char reason[160];
    uint64_t due_ns;
} pending_risk_t;
#define PENDING_RISKS 256
#define PENDING_RISK_NS 2000000000ull

/*  Our decisions in CrowdSec, as their echo on the stream showed them: the
    id and when it ends, so a deletion before then is told from an expiry.
    A table keyed by id; a collision forgets the older one (then its
    deletion is not acted on: the safe side).                               */
typedef struct {
    uint64_t id;                    /* 0: empty                              */
    uint64_t until_ns;
} ours_t;
#define OURS_MAX 4096

typedef struct correlator_t {
    const config_t *cfg;
    bus_pub_t *pub;                 /* NULL offline                          */
    join_t *join;
    reputation_t *rep;
    lapi_t *lapi;                   /* NULL: crowdsec.enabled off            */
    haproxy_t *haproxy;             /* NULL: decision.haproxy_socket ""      */
    query_t *query;                 /* NULL offline                          */
    outfile_t *output;              /* correlation.output, or stdout offline */
    outfile_t *compat_threats;      /* COMPAT_DIR/correlated-threats.json    */
    jsonl_in_t *input;              /* offline                               */
    bool input_done;
    uint64_t now_ns;                /* offline: newest event time            */
    uint64_t counters[CORRELATOR_COUNTER_COUNT];
    char state_path[1024];          /* reputation file                       */
    uint64_t state_due_ns, compat_due_ns;
    scan_track_t scans[SCAN_TRACK];
    req_memo_t *memo;               /* [REQ_MEMO]                            */
    uint64_t frontends[64];         /* our frontends (ip:port), from requests */
    size_t nfrontends;
    char last_frontend[JOIN_IP_MAX];    /* as the last request named it, */
    uint32_t last_frontend_port;        /* added to frontends already    */
    pending_risk_t pending[PENDING_RISKS];
    size_t npending;
    ours_t ours[OURS_MAX];          /* lapi.c's echo of our decisions        */
    struct {                        /* the bridge instances heard (mitm.*)   */
        char source[64];
        uint64_t instance;          /* 0: empty                              */
    } bridges[8];
    /* the recent threats, a ring of packed CorrelatedThreat messages, made
       JSON when a `threats` query asks for them (service.c)                */
    struct {
        uint8_t *data;
        size_t len;
    } recent[RECENT_THREATS];
    size_t recent_next;
} correlator_t;

correlator_t *correlator_new (const config_t *cfg, bus_pub_t *pub, const char *offline,
                              config_errors_t *errors);
void correlator_destroy (correlator_t **self_p);
int correlator_check (const config_t *cfg, config_errors_t *errors);

uint64_t correlator_now (const correlator_t *self);

void correlator_flow (correlator_t *self, const Dpidual__V1__FlowEvent *ev, const char *source);
void correlator_request (correlator_t *self, const Dpidual__V1__HttpRequest *req);
void correlator_verdict (correlator_t *self, const Dpidual__V1__Verdict *v);
void correlator_alert (correlator_t *self, const Dpidual__V1__Alert *a);
void correlator_lapi (correlator_t *self);          /* lapi_fd readable      */

/*  A message from bridge SOURCE's INSTANCE (its header): an instance not
    heard before — the bridge restarted, or this correlator did — gets every
    ban still running again, as `decision` BANs with their end (expires_ns)
    and origin "resync": the bridge keeps the bans of `decision` in memory
    only. dpi-buffer does not replay on those.                              */
void correlator_bridge_heard (correlator_t *self, const char *source, uint64_t instance);

/*  A decision made here (origin "correlator", "manual") or relayed
    ("crowdsec"): published, enforced at HAProxy, recorded. BAN when BAN,
    else UNBAN; DURATION_S 0 = correlation.ban_duration.                    */
void correlator_decide (correlator_t *self, bool ban, const char *value, uint64_t duration_s,
                        const char *reason, const char *origin);

void correlator_tick (correlator_t *self);
void correlator_finish (correlator_t *self);
int correlator_offline_work (correlator_t *self, size_t max);

/*  output.c                                                                 */
void correlator_emit_threat (correlator_t *self, Dpidual__V1__CorrelatedThreat *t);
void correlator_emit_join (correlator_t *self, Dpidual__V1__Join *j);
void correlator_emit_decision (correlator_t *self, Dpidual__V1__Decision *d);
void correlator_compat_reputation (correlator_t *self);
size_t correlator_counters (correlator_t *self, heartbeat_counter_t *out, size_t max);
void correlator_summary (correlator_t *self);

/*  service.c                                                                */
struct json_t *correlator_query (void *arg, const char *cmd, struct json_t *request);
void correlator_remember (correlator_t *self, const Dpidual__V1__CorrelatedThreat *t);

#endif
