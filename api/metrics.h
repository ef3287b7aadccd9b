/*  metrics.h — GET /metrics: the workers' heartbeats (and the collector's
    tap.stats) in Prometheus' text format (version 0.0.4).

    Every series has the labels worker="NAME" and host="HOST" (from the
    heartbeat). Families (HELP and TYPE once each, then their series):
      dpi_up                          gauge: 1 heartbeats are current, 0 stale
      dpi_heartbeat_age_seconds       gauge
      dpi_uptime_seconds              gauge
      dpi_published_messages_total    counter, + topic
      dpi_publish_errors_total        counter, + topic (send errors)
      dpi_unheard_messages_total      counter, + topic (sent to nobody)
      dpi_received_messages_total     counter, + source
      dpi_gaps_total                  counter, + source (messages lost)
      dpi_restarts_total              counter, + source
      dpi_out_of_order_total          counter, + source
      dpi_decode_errors_total         counter
      dpi_auth_refused_total          counter
      dpi_worker_value                gauge, + counter: each of the worker's
                                      own heartbeat counters as it reports
                                      it (packets, flows, verdicts, verdict
                                      latency, queue depth, alerts, joins,
                                      LAPI errors, ...; DESIGN per worker) —
                                      some count, some are levels, so gauge
      dpi_capture_packets_total, dpi_capture_bytes_total,
      dpi_capture_dropped_total, dpi_capture_if_dropped_total,
      dpi_capture_flows_total         counter, + interface (tap.stats)
      dpi_capture_active_flows        gauge, + interface
    Label values are escaped (\\, \", \n); a counter name that is not
    [a-zA-Z0-9_] is printed with '_' for the other bytes.                 */
#ifndef DPI_API_METRICS_H
#define DPI_API_METRICS_H

#include "pbjson.h"
#include "topology.h"

/*  The text of WORKERS (the ones with a heartbeat) into OUT, at
    NOW_MONO_NS (bus_mono_ns) for the ages; DEFAULT_INTERVAL for a
    heartbeat without one. 0, or -1 out of memory.                          */
int metrics_print (pbjson_buf_t *out, const topo_workers_t *workers, uint64_t now_mono_ns,
                   int default_interval);

#endif
