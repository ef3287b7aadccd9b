/*  anomaly.h — per-client statistical anomaly scoring (the design's "ML").

    For each client ip, sliding-window features over buffer.anomaly_window
    seconds:
        rate          requests per window
        errors        4xx/5xx ratio
        paths         distinct-path growth (new paths per window)
        entropy       Shannon entropy of the paths requested (the mean,
                      in bits per character, of each request's path and
                      query)
        methods       method mix (share of methods other than GET/HEAD)
        agents        distinct user agents (changes)
        auth_fail     authentication failures (401/403 answers to requests
                      carrying credentials or posting to a login-like path)
    Each feature is compared with the population (running mean and
    deviation over clients' windows) and with the client's own history
    (its earlier windows) as z-scores; the score (0..100) combines them as
    docs/DESIGN.md §10 "Anomaly score" says.
    Memory is bounded: at most params.max_clients clients are tracked (the
    least recently seen go first, counted), each in a fixed-size record.

    One thread (the worker's main loop).                                     */
#ifndef DPI_BUFFER_ANOMALY_H
#define DPI_BUFFER_ANOMALY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANOMALY_REASONS_MAX 8
#define ANOMALY_REASON_LEN 64

typedef struct {
    uint32_t window_s;              /* buffer.anomaly_window                 */
    uint32_t threshold;             /* buffer.anomaly_threshold (0..100)     */
    size_t max_clients;             /* 0: 4096                               */
} anomaly_params_t;

typedef struct {
    const char *client_ip;
    uint64_t ts_ns;
    const char *method;
    const char *path;               /* without the query                     */
    const char *query;              /* the query without '?'; may be NULL    */
    const char *user_agent;
    bool has_credentials;           /* Authorization / login-like POST       */
} anomaly_request_t;

typedef struct {
    uint32_t score;                 /* 0..100                                */
    size_t reason_count;
    char reasons[ANOMALY_REASONS_MAX][ANOMALY_REASON_LEN];  /* "rate z=6.1 (240/60s)" */
    char label[24];                 /* the dominant pattern: "scanner",
                                       "brute-force", "flood", "injection",
                                       "anomaly"                             */
} anomaly_result_t;

typedef struct {
    uint64_t clients;               /* tracked now                           */
    uint64_t evicted;               /* clients dropped to stay under max     */
    uint64_t observed;              /* requests observed                     */
    uint64_t alerts;
} anomaly_stats_t;

typedef struct anomaly_t anomaly_t;

anomaly_t *anomaly_new (const anomaly_params_t *params);
void anomaly_destroy (anomaly_t **self_p);

/*  A request, then (when it comes) its response status.                     */
void anomaly_request (anomaly_t *self, const anomaly_request_t *req);
void anomaly_response (anomaly_t *self, const char *client_ip, uint64_t ts_ns, uint32_t status,
                       bool had_credentials);

/*  Score CLIENT_IP now (NOW_NS, the clock of the events) into OUT. Returns
    true when an alert is due: the score reached the threshold and the
    client has not been alerted within the window (or its score rose by
    10 since).                                                               */
bool anomaly_check (anomaly_t *self, const char *client_ip, uint64_t now_ns,
                    anomaly_result_t *out);

/*  Score CLIENT_IP now into OUT, changing nothing (for queries): false when
    the client has no request in its window.                                 */
bool anomaly_score (anomaly_t *self, const char *client_ip, uint64_t now_ns,
                    anomaly_result_t *out);

anomaly_stats_t anomaly_stats (const anomaly_t *self);

#endif
