/*  stats.h — the collector's tap.stats, and SecuBox's dpi-flows.json.

    Every tap.stats_interval (packet time offline): active flows, flows
    created in the last minute, packet and byte rates since the last
    report, totals, the protocol distribution and the top talkers of the
    flows live at that moment, capture drops (pcap_stats), evictions, bus
    send errors, resident memory. With global.compat, the same facts go to
    COMPAT_DIR/dpi-flows.json, written atomically (outfile.h); a failure is
    logged and counted (stats_compat_errors).                                */
#ifndef DPI_COLLECTOR_STATS_H
#define DPI_COLLECTOR_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "classify.h"
#include "collector.h"
#include "flowtable.h"

typedef struct stats_t stats_t;

/*  The board where each lane leaves its latest summary, so the compat
    file holds the sum over all lanes (guarded by the output lock).       */
typedef struct stats_board_t stats_board_t;

stats_board_t *stats_board_new (unsigned lanes);
void stats_board_destroy (stats_board_t **self_p);

/*  Stats of lane LANE of LANES; OUTPUT_LOCK (or NULL with a single
    lane) guards PUB and BOARD.                                            */
stats_t *stats_new (const config_t *cfg, unsigned lane, unsigned lanes,
                    pthread_mutex_t *output_lock, stats_board_t *board);
void stats_destroy (stats_t **self_p);

void stats_flow_created (stats_t *self, uint64_t now_us);

/*  Reports of dpi-flows.json that could not be written (logged).           */
uint64_t stats_compat_errors (stats_t *self);
void stats_set_capture (stats_t *self, uint64_t received, uint64_t dropped, uint64_t if_dropped);
void stats_set_offline (stats_t *self, bool offline);          /* TapStats.offline */

/*  Is a report due at NOW_US? (The first one is due one interval after the
    first packet.)                                                           */
bool stats_due (stats_t *self, uint64_t now_us);

/*  Build and publish tap.stats (PUB may be NULL), write the compat file.   */
void stats_publish (stats_t *self, uint64_t now_us, flowtable_t *flows, classifier_t *classifier,
                    const collector_counters_t *counters, bus_pub_t *pub, const char *interface);

#endif
