/*  lanes.h — the collector's capture lanes: tap.threads collectors fed by
    one capture thread. (A "worker" is a dpi-dual process; a lane is one
    of the collector's threads with its own nDPI module and flow table.)

    With one lane, packets go straight to its collector in the calling
    thread: no queue, no copy, no lock — the fastest configuration on one
    core. With N > 1, each lane thread owns a collector (its own nDPI
    module and flow table); the capture thread decodes just enough of each
    frame to compute the symmetric flow hash (flowtable_hash) and copies the
    frame into that lane's queue, a single-producer single-consumer byte
    ring, so both directions of a flow always reach the same lane. Frames
    that do not decode go to lane 0, which counts them. A full queue
    makes the capture thread wait (offline) — live, the kernel's capture
    buffer then fills and pcap_stats counts the drops.

    The lanes share the publisher and the JSON lines file under one lock,
    and each publishes its own tap.stats (lane, lanes fields).              */
#ifndef DPI_LANES_H
#define DPI_LANES_H

#include <stdbool.h>
#include <stdio.h>

#include "collector.h"

typedef struct lanes_t lanes_t;

/*  COUNT lanes; PUB and JSONL (may be NULL) are not owned. LIVE: lanes
    keep time with the wall clock when no packet comes.                       */
lanes_t *lanes_new (const config_t *cfg, bus_pub_t *pub, outfile_t *jsonl, unsigned count, bool live);
void lanes_destroy (lanes_t **self_p);

void lanes_set_interface (lanes_t *self, const char *interface);

/*  Hand one frame to its lane (from the capture thread).                  */
void lanes_packet (lanes_t *self, int dlt, const uint8_t *frame, uint32_t caplen, uint32_t len,
                     uint64_t ts_us);

/*  Live: time passes (NOW_US wall clock); capture statistics.               */
void lanes_tick (lanes_t *self, uint64_t now_us);
void lanes_set_capture_stats (lanes_t *self, uint64_t received, uint64_t dropped,
                                uint64_t if_dropped);

/*  Let the lanes drain their queues, end every flow, stop the threads.   */
void lanes_finish (lanes_t *self);

/*  The lock to hold around other uses of the shared publisher (heartbeats);
    NULL with a single lane.                                               */
pthread_mutex_t *lanes_output_lock (lanes_t *self);

/*  Counters summed over the lanes (a recent snapshot while they run).    */
collector_counters_t lanes_counters (lanes_t *self);
uint32_t lanes_active_flows (lanes_t *self);

#endif
