/*  flowtable.h — the collector's table of live flows.

    A preallocated pool of max_flows flow records and a hash table of
    buckets (a power of two >= max_flows) chaining record indices. The key
    is direction independent: (vlan, ip proto, {addr:port, addr:port}); the
    record keeps the initiator — the sender of the first packet seen — as
    its source. Records are handed out from the pool in order, so pages of
    the pool are touched only as flows are created: memory follows use.

    Every record sits on one of four idle lists, each in order of last
    packet (a packet moves its flow to the tail): TCP, TCP closed (RST, or
    FIN both ways, seen), UDP, other. Each list has one timeout, so expiry
    only looks at list heads. When the pool is full, the least recently seen
    flow of all (the oldest of the four heads) is evicted to make room.

    Ownership: the table owns the records; flowtable_expire, _evict and
    _flush hand each record to the END callback before it is reused.      */
#ifndef DPI_FLOWTABLE_H
#define DPI_FLOWTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"

struct ndpi_flow_struct;

typedef enum { LIST_TCP, LIST_TCP_CLOSED, LIST_UDP, LIST_OTHER, LIST_COUNT } flow_list_t;

typedef enum {
    END_NONE = 0, END_TCP_CLOSE = 1, END_IDLE = 2, END_EVICTED = 3, END_SHUTDOWN = 4
} flow_end_t;

/*  What classification found, kept after nDPI's state is freed. Strings
    live in one allocation (meta) owned by the record.                      */
typedef struct {
    char *host_server_name, *tls_version, *ja3_client, *ja3_server, *alpn;
    char *http_method, *http_url, *http_user_agent, *dns_query;
    uint16_t http_status;
} flow_meta_t;

typedef struct {
    uint8_t src[16], dst[16];           /* src = initiator                   */
    uint16_t sport, dport;
    uint16_t vlan;
    uint8_t proto, ip_version;
    uint8_t icmp_type, icmp_code;       /* of the first packet (Community ID) */
    uint8_t list;                       /* flow_list_t                       */
    uint8_t fin_seen;                   /* bit 0 src, bit 1 dst              */
    uint8_t dissected;                  /* packets given to nDPI             */
    bool classified;                    /* classification ended              */
    bool guessed;                       /* ... by giving up                  */
    bool detected_sent;                 /* DETECTED published                */
    uint8_t confidence;
    uint16_t master, app, category;
    uint32_t hash;
    uint32_t next;                      /* hash chain / free list (index+1)  */
    uint32_t prev_lru, next_lru;        /* idle list (index+1)               */
    uint64_t risk;
    uint64_t packets[2], bytes[2];      /* [0] src->dst, [1] dst->src        */
    uint64_t first_us, last_us, update_us;
    uint64_t id;
    struct ndpi_flow_struct *ndpi;      /* nDPI state while classifying      */
    flow_meta_t *meta;
} flow_t;

typedef struct flowtable_t flowtable_t;

/*  Called for every flow that leaves the table (before its memory is
    reused); the callback may read the record, not keep it.                 */
typedef void (flowtable_end_fn) (void *arg, flow_t *flow, flow_end_t reason);

typedef struct {
    uint32_t timeout_s[LIST_COUNT];     /* idle timeout of each list         */
} flowtable_timeouts_t;

/*  Flow ids are ID_FIRST, ID_FIRST + ID_STEP, ...: several tables (one per
    lane thread) give ids unique in the process.                           */
flowtable_t *flowtable_new (uint32_t max_flows, flowtable_timeouts_t timeouts,
                            flowtable_end_fn *on_end, void *arg, uint64_t id_first,
                            uint64_t id_step);
void flowtable_destroy (flowtable_t **self_p);

/*  The flow of PKT, created (evicting if full) when new. *DIRECTION: 0 when
    PKT goes src->dst, 1 when dst->src. *CREATED tells if it is new. NULL
    only if the table cannot hold one flow.                                  */
flow_t *flowtable_lookup (flowtable_t *self, const packet_t *pkt, uint64_t now_us,
                          int *direction, bool *created);

/*  A packet of FLOW was seen at NOW_US: move it to the tail of its list,
    to the TCP-closed list after FIN from both sides or a RST.              */
void flowtable_touch (flowtable_t *self, flow_t *flow, uint64_t now_us, uint8_t tcp_flags,
                      int direction);

/*  End every flow idle past its timeout at NOW_US. Returns the count.      */
uint32_t flowtable_expire (flowtable_t *self, uint64_t now_us);

/*  End every flow (reason SHUTDOWN).                                        */
void flowtable_flush (flowtable_t *self);

/*  Call FN for every live flow (do not add or remove flows from FN).       */
void flowtable_foreach (flowtable_t *self, void (*fn) (void *arg, flow_t *flow), void *arg);

uint32_t flowtable_count (flowtable_t *self);
uint64_t flowtable_evictions (flowtable_t *self);
uint64_t flowtable_created (flowtable_t *self);
/*  Bytes of the pool and buckets that flows have touched so far.            */
uint64_t flowtable_memory (flowtable_t *self);

/*  Symmetric 32-bit hash of the tuple of PKT: both directions hash the
    same (used to pin flows to lane threads too).                          */
uint32_t flowtable_hash (const packet_t *pkt);

#endif
