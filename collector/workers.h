/*  workers.h — tap.threads collectors fed by one capture thread.

    With one worker, packets go straight to its collector in the calling
    thread: no queue, no copy, no lock — the fastest configuration on one
    core. With N > 1, each worker thread owns a collector (its own nDPI
    module and flow table); the capture thread decodes just enough of each
    frame to compute the symmetric flow hash (flowtable_hash) and copies the
    frame into that worker's queue, a single-producer single-consumer byte
    ring, so both directions of a flow always reach the same worker. Frames
    that do not decode go to worker 0, which counts them. A full queue
    makes the capture thread wait (offline) — live, the kernel's capture
    buffer then fills and pcap_stats counts the drops.

    The workers share the publisher and the JSON lines file under one lock,
    and each publishes its own tap.stats (worker, workers fields).          */
#ifndef DPI_WORKERS_H
#define DPI_WORKERS_H

#include <stdbool.h>
#include <stdio.h>

#include "collector.h"

typedef struct workers_t workers_t;

/*  COUNT workers; PUB and JSONL (may be NULL) are not owned. LIVE: workers
    keep time with the wall clock when no packet comes.                       */
workers_t *workers_new (const config_t *cfg, bus_pub_t *pub, FILE *jsonl, unsigned count, bool live);
void workers_destroy (workers_t **self_p);

void workers_set_interface (workers_t *self, const char *interface);

/*  Hand one frame to its worker (from the capture thread).                  */
void workers_packet (workers_t *self, int dlt, const uint8_t *frame, uint32_t caplen, uint32_t len,
                     uint64_t ts_us);

/*  Live: time passes (NOW_US wall clock); capture statistics.               */
void workers_tick (workers_t *self, uint64_t now_us);
void workers_set_capture_stats (workers_t *self, uint64_t received, uint64_t dropped,
                                uint64_t if_dropped);

/*  Let the workers drain their queues, end every flow, stop the threads.   */
void workers_finish (workers_t *self);

/*  The lock to hold around other uses of the shared publisher (heartbeats);
    NULL with a single worker.                                               */
pthread_mutex_t *workers_output_lock (workers_t *self);

/*  Counters summed over the workers (a recent snapshot while they run).    */
collector_counters_t workers_counters (workers_t *self);
uint32_t workers_active_flows (workers_t *self);

#endif
