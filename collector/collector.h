/*  collector.h — one capture lane's work: decode, flow table,
    classification, events.

    collector_packet takes one captured frame; time is the packet's own
    timestamp, so an offline run gives the same result every time. The
    lane publishes FlowEvents (tap.flow) on its publisher and/or writes
    them as JSON lines, and builds the periodic tap.stats.                 */
#ifndef DPI_COLLECTOR_H
#define DPI_COLLECTOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bus.h"
#include "decode.h"
#include "outfile.h"

typedef struct collector_t collector_t;

/*  The events a flow gives (FlowEvent.Event), as counted.                   */
typedef enum { EVENT_DETECTED, EVENT_UPDATE, EVENT_END, EVENT_KINDS } flow_event_kind_t;

typedef struct {
    uint64_t packets, bytes;            /* frames seen, wire bytes           */
    uint64_t ip_packets;                /* decoded and accounted to a flow   */
    uint64_t decode_errors[DECODE_REASONS];
    uint64_t fragments;                 /* IP fragments after the first      */
    uint64_t flows_created;
    uint64_t evictions;
    uint64_t events[EVENT_KINDS];       /* by flow_event_kind_t              */
    uint64_t event_errors;              /* events not published or written   */
    uint64_t classify_errors;           /* nDPI state could not be allocated */
    uint64_t compat_errors;             /* dpi-flows.json not written        */
} collector_counters_t;

/*  A lane. PUB (may be NULL) and JSONL (may be NULL) are not owned. With
    several lanes sharing them, OUTPUT_LOCK (else NULL) serialises their
    use; LANE is this one's index of LANES.                              */
struct stats_board_t;
collector_t *collector_new (const config_t *cfg, bus_pub_t *pub, outfile_t *jsonl,
                            pthread_mutex_t *output_lock, unsigned lane, unsigned lanes,
                            struct stats_board_t *board);
void collector_destroy (collector_t **self_p);

void collector_set_interface (collector_t *self, const char *interface);

/*  The input is capture files, not a live interface: tap.flow and tap.stats
    say so (their field offline), so readers know the times are the file's. */
void collector_set_offline (collector_t *self, bool offline);

/*  One frame of link type DLT, CAPLEN bytes captured of LEN, at TS_US.     */
void collector_packet (collector_t *self, int dlt, const uint8_t *frame, uint32_t caplen,
                       uint32_t len, uint64_t ts_us);

/*  Time passes (NOW_US, packet time offline, wall clock live): idle
    timeouts, and tap.stats when due. Cheap; call at least every second.   */
void collector_tick (collector_t *self, uint64_t now_us);

/*  End every flow (reason shutdown) and publish the last tap.stats.        */
void collector_finish (collector_t *self);

/*  Capture statistics to include in tap.stats (live capture).              */
void collector_set_capture_stats (collector_t *self, uint64_t received, uint64_t dropped,
                                  uint64_t if_dropped);

const collector_counters_t *collector_counters (collector_t *self);

/*  Frames that did not decode for a fault of theirs: every reason but
    DECODE_NOT_IP (ARP and the like are normal traffic, not malformed).      */
uint64_t collector_malformed (const collector_counters_t *counters);
uint32_t collector_active_flows (collector_t *self);

#endif
