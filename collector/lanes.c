/*  lanes.c — see lanes.h.                                               */
#include "lanes.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowtable.h"
#include "log.h"
#include "stats.h"

#define RING_BYTES (16u << 20)          /* per lane                        */
#define SNAPSHOT_EVERY 4096             /* packets between counter snapshots */

/*  A record in a ring: this header, then CAPLEN bytes, padded to 8. A
    header with size 0 means "continue at the start of the ring"; one with
    dlt TICK_DLT carries only a time: packet time reaches every lane, in
    order with its packets, so flows of a quiet lane expire on time.      */
#define TICK_DLT (-1)
#define TICK_EVERY_US 100000
typedef struct {
    uint32_t size;                      /* header + frame + padding          */
    uint32_t caplen, len;
    int32_t dlt;
    uint64_t ts_us;
} record_t;

typedef struct {
    lanes_t *owner;
    unsigned index;
    pthread_t thread;
    collector_t *collector;
    uint8_t *ring;
    _Atomic uint64_t head;              /* bytes written (producer)          */
    _Atomic uint64_t tail;              /* bytes read (consumer)             */
    _Atomic bool done;                  /* no more records will come         */
    _Atomic uint64_t tick_us;           /* live: wall clock from the producer */
    collector_counters_t snapshot;      /* under the output lock             */
    uint32_t active_snapshot;
} lane_t;

struct lanes_t {
    unsigned count;
    bool live;
    bool finished;
    pthread_mutex_t lock;               /* publisher, jsonl, stats board, snapshots */
    stats_board_t *board;
    uint64_t tick_sent_us;              /* packet time last sent to all      */
    lane_t *w;
};

static void
take_snapshot (lane_t *w)
{
    pthread_mutex_lock (&w->owner->lock);
    w->snapshot = *collector_counters (w->collector);
    w->active_snapshot = collector_active_flows (w->collector);
    pthread_mutex_unlock (&w->owner->lock);
}

static void
pause_briefly (void)
{
    struct timespec ts = { 0, 50000 };
    nanosleep (&ts, NULL);
}

static void *
lane_main (void *arg)
{
    lane_t *w = arg;
    uint64_t handled = 0, last_tick = 0;
    for (;;) {
        uint64_t tail = atomic_load_explicit (&w->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit (&w->head, memory_order_acquire);
        if (tail == head) {
            if (atomic_load_explicit (&w->done, memory_order_acquire)
                && tail == atomic_load_explicit (&w->head, memory_order_acquire))
                break;
            uint64_t now = atomic_load_explicit (&w->tick_us, memory_order_relaxed);
            if (w->owner->live && now != last_tick) {
                collector_tick (w->collector, now);
                last_tick = now;
                take_snapshot (w);
            }
            pause_briefly ();
            continue;
        }
        const record_t *r = (const record_t *) (w->ring + tail % RING_BYTES);
        if (r->size == 0) {                 /* wrap marker */
            atomic_store_explicit (&w->tail, tail + (RING_BYTES - tail % RING_BYTES),
                                   memory_order_release);
            continue;
        }
        if (r->dlt == TICK_DLT)
            collector_tick (w->collector, r->ts_us);
        else
            collector_packet (w->collector, r->dlt, (const uint8_t *) (r + 1), r->caplen, r->len,
                              r->ts_us);
        atomic_store_explicit (&w->tail, tail + r->size, memory_order_release);
        if (++handled % SNAPSHOT_EVERY == 0)
            take_snapshot (w);
    }
    collector_finish (w->collector);
    take_snapshot (w);
    return NULL;
}

lanes_t *
lanes_new (const config_t *cfg, bus_pub_t *pub, outfile_t *jsonl, unsigned count, bool live)
{
    lanes_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->count = count;
    self->live = live;
    pthread_mutex_init (&self->lock, NULL);
    self->board = stats_board_new (count);
    self->w = calloc (count, sizeof (lane_t));
    if (!self->board || !self->w) {
        lanes_destroy (&self);
        return NULL;
    }
    for (unsigned i = 0; i < count; i++) {
        lane_t *w = &self->w[i];
        w->owner = self;
        w->index = i;
        w->collector = collector_new (cfg, pub, jsonl, count > 1 ? &self->lock : NULL, i, count,
                                      self->board);
        if (!w->collector) {
            lanes_destroy (&self);
            return NULL;
        }
        collector_set_offline (w->collector, !live);
    }
    if (count == 1)
        return self;
    for (unsigned i = 0; i < count; i++) {
        lane_t *w = &self->w[i];
        w->ring = malloc (RING_BYTES);
        if (!w->ring || pthread_create (&w->thread, NULL, lane_main, w) != 0) {
            log_error ("collector: cannot start lane thread %u", i);
            free (w->ring);
            w->ring = NULL;
            self->count = i;            /* the ones started get stopped */
            lanes_finish (self);
            lanes_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
lanes_destroy (lanes_t **self_p)
{
    lanes_t *self = *self_p;
    if (!self)
        return;
    if (!self->finished && self->count > 1)
        lanes_finish (self);
    for (unsigned i = 0; self->w && i < self->count; i++) {
        collector_destroy (&self->w[i].collector);
        free (self->w[i].ring);
    }
    free (self->w);
    stats_board_destroy (&self->board);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
lanes_set_interface (lanes_t *self, const char *interface)
{
    /* set between files, with the queues drained: see lanes_packet */
    for (unsigned i = 0; i < self->count; i++) {
        lane_t *w = &self->w[i];
        while (self->count > 1 && atomic_load (&w->tail) != atomic_load (&w->head))
            pause_briefly ();
        collector_set_interface (w->collector, interface);
    }
}

/*  Copy a frame into W's ring, waiting while it is full.                   */
static void
enqueue (lane_t *w, int dlt, const uint8_t *frame, uint32_t caplen, uint32_t len, uint64_t ts_us)
{
    uint32_t size = (uint32_t) ((sizeof (record_t) + caplen + 7) & ~7u);
    if (size > RING_BYTES / 4)
        return;                         /* larger than any snaplen allows */
    uint64_t head = atomic_load_explicit (&w->head, memory_order_relaxed);
    uint32_t room_to_end = RING_BYTES - (uint32_t) (head % RING_BYTES);
    uint32_t need = size <= room_to_end ? size : room_to_end + size;
    while (head + need - atomic_load_explicit (&w->tail, memory_order_acquire) > RING_BYTES)
        pause_briefly ();
    if (size > room_to_end) {
        ((record_t *) (w->ring + head % RING_BYTES))->size = 0;
        head += room_to_end;
    }
    record_t *r = (record_t *) (w->ring + head % RING_BYTES);
    *r = (record_t) { size, caplen, len, dlt, ts_us };
    if (caplen)
        memcpy (r + 1, frame, caplen);
    atomic_store_explicit (&w->head, head + size, memory_order_release);
}

void
lanes_packet (lanes_t *self, int dlt, const uint8_t *frame, uint32_t caplen, uint32_t len,
                uint64_t ts_us)
{
    if (self->count == 1) {
        collector_packet (self->w[0].collector, dlt, frame, caplen, len, ts_us);
        return;
    }
    if (ts_us >= self->tick_sent_us + TICK_EVERY_US) {
        for (unsigned i = 0; i < self->count; i++)
            enqueue (&self->w[i], TICK_DLT, NULL, 0, 0, ts_us);
        self->tick_sent_us = ts_us;
    }
    packet_t pkt;
    unsigned k = decode_packet (dlt, frame, caplen, &pkt) == DECODE_OK
                 ? flowtable_hash (&pkt) % self->count : 0;
    enqueue (&self->w[k], dlt, frame, caplen, len, ts_us);
}

void
lanes_tick (lanes_t *self, uint64_t now_us)
{
    if (self->count == 1)
        collector_tick (self->w[0].collector, now_us);
    else
        for (unsigned i = 0; i < self->count; i++)
            atomic_store_explicit (&self->w[i].tick_us, now_us, memory_order_relaxed);
}

void
lanes_set_capture_stats (lanes_t *self, uint64_t received, uint64_t dropped, uint64_t if_dropped)
{
    /* the capture is shared: lane 0 reports it */
    if (self->count > 1)
        pthread_mutex_lock (&self->lock);
    collector_set_capture_stats (self->w[0].collector, received, dropped, if_dropped);
    if (self->count > 1)
        pthread_mutex_unlock (&self->lock);
}

void
lanes_finish (lanes_t *self)
{
    if (self->finished)
        return;
    self->finished = true;
    if (self->count == 1 && self->w[0].collector) {
        collector_finish (self->w[0].collector);
        return;
    }
    for (unsigned i = 0; i < self->count; i++)
        atomic_store_explicit (&self->w[i].done, true, memory_order_release);
    for (unsigned i = 0; i < self->count; i++)
        pthread_join (self->w[i].thread, NULL);
}

pthread_mutex_t *
lanes_output_lock (lanes_t *self)
{
    return self->count > 1 ? &self->lock : NULL;
}

collector_counters_t
lanes_counters (lanes_t *self)
{
    collector_counters_t sum = { 0 };
    if (self->count == 1)
        return *collector_counters (self->w[0].collector);
    pthread_mutex_lock (&self->lock);
    for (unsigned i = 0; i < self->count; i++) {
        const collector_counters_t *c = &self->w[i].snapshot;
        sum.packets += c->packets;
        sum.bytes += c->bytes;
        sum.ip_packets += c->ip_packets;
        for (int r = 0; r < DECODE_REASONS; r++)
            sum.decode_errors[r] += c->decode_errors[r];
        sum.fragments += c->fragments;
        sum.flows_created += c->flows_created;
        sum.evictions += c->evictions;
        for (int e = 0; e < EVENT_KINDS; e++)
            sum.events[e] += c->events[e];
        sum.event_errors += c->event_errors;
        sum.classify_errors += c->classify_errors;
        sum.compat_errors += c->compat_errors;
    }
    pthread_mutex_unlock (&self->lock);
    return sum;
}

uint32_t
lanes_active_flows (lanes_t *self)
{
    if (self->count == 1)
        return collector_active_flows (self->w[0].collector);
    uint32_t sum = 0;
    pthread_mutex_lock (&self->lock);
    for (unsigned i = 0; i < self->count; i++)
        sum += self->w[i].active_snapshot;
    pthread_mutex_unlock (&self->lock);
    return sum;
}
