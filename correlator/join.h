/*  join.h — the join of the two streams: each MITM request with the TAP flow
    that carried it.

    A MITM request's client -> frontend tuple is the connection the mirror
    sees, so its community_id (computed by the bridge) equals the flow's
    (computed by the collector). Keys, in order:
      COMMUNITY_ID      exact community_id;
      CLIENT_PORT_TIME  fallback: same client ip, same frontend (server) port,
                        and the request's time within the flow's
                        [first_seen, last_seen] (widened by 1 s);
      CLIENT_IP         last resort: a flow of the same client ip within the
                        window (the most recent one).
    Both orders of arrival: a request whose flow is already held joins at
    once by community_id; otherwise it waits, and a flow arriving later
    joins the requests waiting on its community_id at once. When a waiting
    request's window (WINDOW_NS after its arrival) closes, the fallbacks
    are tried against the flows held, else it is reported unjoined
    (JOIN_NONE). Every request is reported exactly once, through FN.

    Addresses are compared normalised: an IPv4-mapped IPv6 address
    (::ffff:192.0.2.1) is its IPv4 address, IPv6 in canonical text. VLAN
    ids are not part of the key (a mirror may tag, the MITM never sees
    it). A flow seen again (UPDATE, END, or after a collector restart with
    a new flow_id) replaces the held record of its community_id.

    Bounded: at most MAX_ENTRIES flows + waiting requests; beyond it the
    oldest flow (or, when none, the oldest waiting request, reported
    unjoined) goes first, counted as an eviction. Flows older than the
    window (last_seen, or arrival for an offline capture) are dropped by
    join_expire. A slot costs about 250-300 bytes with its links and index
    buckets (join.c), plus the strings only it holds (a flow's
    community_id, a request's request_id: ~64 bytes each); the strings are
    kept once however many flows hold them (addresses, SNI, protocol,
    source, risk names).

    Time: NOW_NS is the caller's clock (live: wall clock; offline: the
    newest event time read), the same for every call.                       */
#ifndef DPI_CORRELATOR_JOIN_H
#define DPI_CORRELATOR_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpidual.pb-c.h"

#define JOIN_IP_MAX 46
#define JOIN_CID_MAX 64
#define JOIN_RISKS_MAX 8
/*  The longest text kept of each string (NUL included), cut to fit beyond:
    JOIN_IP_MAX, JOIN_CID_MAX, and these.                                    */
#define JOIN_PROTO_MAX 48
#define JOIN_SNI_MAX 128
#define JOIN_RISK_NAME_MAX 48
#define JOIN_SOURCE_MAX 64
#define JOIN_REQUEST_ID_MAX 128

typedef enum {
    JOIN_NONE = 0,
    JOIN_COMMUNITY_ID = 1,
    JOIN_CLIENT_PORT_TIME = 2,
    JOIN_CLIENT_IP = 3,
} join_key_t;                       /* = CorrelatedThreat.JoinKey            */

/*  What the join keeps of a tap.flow event. The strings are never NULL and
    are the join's own (interned: one copy of each distinct text, shared by
    the flows and requests that hold it), valid as long as the flow is held
    — for a pointer from join_flows_of or join_flow, until the next call
    that changes the join (join_flow, join_request, join_expire,
    join_flush); within FN, during the call.                                */
typedef struct {
    const char *community_id;
    const char *src_ip;             /* normalised                            */
    const char *dst_ip;
    const char *proto;              /* "TLS.Google"                          */
    const char *sni;                /* tls_sni, else host_server_name        */
    const char *source;             /* the collector's Header.source         */
    const char *const *risks;       /* [risk_count] names                    */
    uint64_t risk;                  /* nDPI risk bitmap                      */
    uint64_t first_seen_ns, last_seen_ns;   /* the flow's own clock          */
    uint64_t flow_id;
    uint64_t arrival_ns;            /* NOW_NS when last seen here            */
    uint32_t src_port, dst_port;
    uint32_t ip_proto, vlan;
    uint32_t risk_count;            /* <= JOIN_RISKS_MAX                     */
} join_flow_t;

/*  What the join keeps of a mitm.request; strings likewise.                 */
typedef struct {
    const char *request_id;
    const char *community_id;
    const char *client_ip;          /* normalised                            */
    const char *frontend_ip;
    uint64_t ts_ns;                 /* request start                         */
    uint64_t arrival_ns;
    uint32_t client_port;
    uint32_t frontend_port;
} join_request_t;

/*  A request's outcome: KEY and the FLOW it joined (NULL with JOIN_NONE);
    LATENCY_NS from the later of the two arrivals to the join. The pointers
    are valid during the call only.                                          */
typedef void (join_fn) (void *arg, const join_request_t *req, join_key_t key,
                        const join_flow_t *flow, uint64_t latency_ns);

typedef struct {
    uint64_t flows;                 /* held now                              */
    uint64_t waiting;               /* requests waiting now                  */
    uint64_t joined[4];             /* by join_key_t (0: unjoined)           */
    uint64_t evicted_flows;
    uint64_t evicted_requests;      /* reported unjoined early               */
    uint64_t expired_flows;
    uint64_t peak;                  /* most slots in use (flows + waiting)   */
} join_stats_t;

typedef struct join_t join_t;

/*  FN must not call back into the join. join_destroy reports nothing: call
    join_flush first for the requests still waiting.                        */
join_t *join_new (uint64_t window_ns, size_t max_entries, join_fn *fn, void *arg);
void join_destroy (join_t **self_p);

/*  Returns the flow as now held (NULL: SELF or EV NULL).                   */
const join_flow_t *join_flow (join_t *self, const Dpidual__V1__FlowEvent *ev,
                              const char *source, uint64_t now_ns);
void join_request (join_t *self, const Dpidual__V1__HttpRequest *req, uint64_t now_ns);

/*  Close the windows that ended by NOW_NS (fallbacks, unjoined reports) and
    drop the flows older than the window. Call it about once a second.     */
void join_expire (join_t *self, uint64_t now_ns);

/*  Report every waiting request (fallbacks tried): the end of an offline
    run.                                                                      */
void join_flush (join_t *self);

/*  The flows held whose source or destination is IP (normalised here),
    newest first, at most MAX into OUT; returns how many.                   */
size_t join_flows_of (join_t *self, const char *ip, const join_flow_t **out, size_t max);

join_stats_t join_stats (const join_t *self);

/*  IP normalised (IPv4-mapped -> IPv4, IPv6 canonical) into OUT; false when
    IP is not an address (OUT then holds IP as given, cut to fit).          */
bool join_normalise_ip (const char *ip, char *out, size_t outlen);

#endif
