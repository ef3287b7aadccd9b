/*  topology.h — who feeds whom, from the workers' heartbeats: the model
    behind `dpi-dualctl status`, `dpi-dualctl topology` and dpi-api's
    GET /api/dpi/topology (one code, so the three agree).

    Collecting. A topo_workers_t holds, per worker, the last sys.heartbeat
    and tap.stats received (owned copies). It starts with one entry per
    target (a publisher endpoint listened to: the config's workers, or
    endpoints given by hand); topo_workers_note files each message by its
    source ("name@host"): a new source goes to the target of that worker
    name, or of the endpoint its heartbeat says it publishes on; a worker
    that answers without being asked is added.

    The model. topo_build makes nodes (every worker that sent a heartbeat:
    up, or stale after 3 of its intervals without one; a silent target:
    stale; a target that connects out: unchecked; a source known only from
    another worker's received counters: heard of) and edges (a publisher's
    pub endpoint meets a subscriber's sub endpoint: same address, one side
    binding and the other connecting, a tcp:// wildcard bind meeting any
    host on its port; topics: those it sends that the subscriber takes).
    topo_json prints it as `dpi-dualctl topology --json` does (DESIGN §13).

    Single-threaded; the model borrows from the collection it was built of
    (do not change the collection while a topo_t built of it is in use).  */
#ifndef DPI_TOPOLOGY_H
#define DPI_TOPOLOGY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"

/*  A publisher endpoint to listen to. Strings are borrowed (config, argv). */
typedef struct {
    const char *name;               /* worker name (workers.h), "" when not known */
    const char *endpoint;
    bool connects_out;              /* the worker connects out: not attached */
} topo_target_t;

/*  Every worker's endpoint of CFG that this host listens to (dpi-api only
    where this host runs it: config_host_workers). Caller frees; NULL if no
    memory. COUNT: how many.                                                 */
topo_target_t *topo_config_targets (const config_t *cfg, size_t *count);

/*  What is known of one worker.                                             */
typedef struct {
    const topo_target_t *target;    /* NULL: answered without being asked  */
    char source[256];               /* "name@host", "" until seen           */
    Dpidual__V1__Heartbeat *hb;     /* the last one, owned                  */
    uint64_t hb_at;                 /* bus_mono_ns when it arrived          */
    Dpidual__V1__TapStats *stats;   /* the last tap.stats, owned            */
    uint64_t stats_at;
} topo_worker_t;

typedef struct {
    topo_worker_t *items;
    size_t count, cap;
} topo_workers_t;

/*  A worker for TARGET (NULL: one that answered unasked); NULL if no memory. */
topo_worker_t *topo_workers_add (topo_workers_t *w, const topo_target_t *target);
void topo_workers_clear (topo_workers_t *w);
/*  Has every target that can be asked (not connects_out) sent a heartbeat? */
bool topo_workers_all_seen (const topo_workers_t *w);
/*  File MSG (sys.heartbeat or tap.stats; other topics are ignored) under its
    worker, keeping a copy. 1 kept, 0 not one of those topics, -1 no memory. */
int topo_workers_note (topo_workers_t *w, const bus_msg_t *msg);

/*  Does a socket connecting to OTHER reach one bound at BOUND (addresses
    without prefix)? The same address, or a tcp:// bind on a wildcard host
    (*, 0.0.0.0, ::; a heartbeat shows "tcp://0.0.0.0:PORT") and any host on
    the same port.                                                           */
bool topo_address_reaches (const char *bound, const char *other);

/*  An owned deep copy of MSG (a received body lives until the next recv);
    NULL if no memory. Release with topo_msg_free.                          */
ProtobufCMessage *topo_msg_dup (const ProtobufCMessage *msg);
void topo_msg_free (ProtobufCMessage **msg_p);

typedef enum { TOPO_UP, TOPO_STALE, TOPO_UNCHECKED, TOPO_HEARD_OF } topo_state_t;

typedef struct {
    char id[256];                   /* "name@host"; the name, or the endpoint,
                                       of a worker never heard              */
    char name[128];
    char host[128];                 /* "" unknown                            */
    const topo_worker_t *w;         /* NULL: only heard of                   */
    const Dpidual__V1__Heartbeat *hb;   /* NULL: no heartbeat                */
    double hb_age;                  /* seconds, when hb                      */
    topo_state_t state;
    char why[512];                  /* of STALE and UNCHECKED                */
    const char *pub;                /* its publisher endpoint, NULL unknown  */
    bool pub_binds;
} topo_node_t;

typedef struct {
    size_t from, to;
    const char *endpoint;           /* where they meet, NULL: by source only */
    char topics[512];               /* space separated                       */
    const Dpidual__V1__SourceCounter *rx;   /* the subscriber's counters, or NULL */
} topo_edge_t;

typedef struct {
    topo_node_t *nodes;
    size_t nnodes;
    topo_edge_t *edges;
    size_t nedges;
    char hosts[64][128];            /* in order of appearance; "" unknown last */
    size_t nhosts;
    uint64_t wall_ns;
    double waited;
    char listened[2048];            /* the endpoints listened to             */
} topo_t;

/*  The model of WORKERS into T (WAITED: seconds listened, for the silent
    targets' reason; FROM_CONFIG: the targets are the config's, not given by
    hand; DEFAULT_INTERVAL: a heartbeat's interval when it says none).
    0, or -1 when out of memory (free T with topo_free in both cases).       */
int topo_build (topo_t *t, const topo_workers_t *workers, double waited, bool from_config,
                int default_interval);
void topo_free (topo_t *t);

/*  Nodes of T in STATE.                                                     */
size_t topo_count_state (const topo_t *t, topo_state_t state);

typedef struct {
    uint64_t send_errors, unheard, gaps, restarts, out_of_order;
} topo_drops_t;

/*  What HB's worker dropped: its topics' send errors and unheard, the gaps,
    restarts and out-of-order messages it counted.                          */
topo_drops_t topo_drops_of (const Dpidual__V1__Heartbeat *hb);

/*  "up", "stale", "unchecked", "heard-of".                                  */
const char *topo_state_name (topo_state_t state);

/*  T as one JSON object: time_ns, listened, hosts, workers, edges (the shape
    of `dpi-dualctl topology --json`). A new reference; NULL if no memory.  */
json_t *topo_json (const topo_t *t);

#endif
