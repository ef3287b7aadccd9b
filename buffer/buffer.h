/*  buffer.h — dpi-buffer's state and the work of its main loop.

    The worker (main.c) is the skeleton of common/worker.h around this:

      mitm.request   ring_insert (ring.h); anomaly_request (anomaly.h); a
                     copy of the request queued for deep analysis (pool.h)
                     — or, when the pool is full, counted not_analysed
      mitm.response  its request found by request_id: status kept,
                     anomaly_response, then anomaly_check (an alert of
                     category "anomaly" when due)
      mitm.verdict   the live verdict kept on the entry
      decision       a BAN replays that address's buffered requests
      pool results   (analysis.c) the CRS result kept on the entry; a
                     buffer.alert when the inbound score reaches
                     buffer.inbound_threshold; a replay when it reaches
                     buffer.replay_on_score; the forensic record
      queries        (service.c) context, dump, stats, replay

    Offline (--offline FILE, offline.c): the same path, fed by JSON lines,
    with alerts (or, with --all, one result per request) on stdout instead
    of the bus.

    Everything here runs on the main loop's thread but the pool's jobs
    (analysis.c's job_run), which touch only their job and the shared,
    read-only rule set of their thread (crs.h).                                                         */
#ifndef DPI_BUFFER_BUFFER_H
#define DPI_BUFFER_BUFFER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "anomaly.h"
#include "bus.h"
#include "config.h"
#include "crs.h"
#include "forensic.h"
#include "heartbeat.h"
#include "jsonl_in.h"
#include "outfile.h"
#include "pool.h"
#include "query.h"
#include "ratelog.h"
#include "ring.h"
#include "waf.h"

/*  The heartbeat counters, in order.                                        */
#define BUFFER_COUNTERS(X)                                                                  \
    X (REQUESTS, "requests")                 /* mitm.request received          */          \
    X (RESPONSES, "responses")                                                              \
    X (RESPONSES_UNMATCHED, "responses_unmatched")  /* request not in the ring */           \
    X (VERDICTS, "verdicts")                                                                \
    X (DECISIONS, "decisions")                                                              \
    X (BAD_MESSAGES, "bad_messages")         /* decoded but unusable: no id, ... */         \
    X (OVERSIZED, "oversized")               /* over the bound of a record      */          \
    X (ANALYSED, "analysed")                                                                \
    X (NOT_ANALYSED, "not_analysed")         /* analysis queue full             */          \
    X (ANALYSIS_ERRORS, "analysis_errors")   /* ModSecurity failed on it        */          \
    X (ALERTS_WAF, "alerts_waf")                                                            \
    X (ALERTS_ANOMALY, "alerts_anomaly")                                                    \
    X (REPLAYS, "replays")                   /* clients replayed                */          \
    X (REPLAYED, "replayed")                 /* requests re-analysed            */          \
    X (REPLAY_NOT_QUEUED, "replay_not_queued")                                              \
    X (REPLAY_ALERTS, "replay_alerts")                                                      \
    X (REPLAY_SENT, "replay_sent")           /* resent to buffer.replay_target  */          \
    X (REPLAY_SEND_ERRORS, "replay_send_errors")                                            \
    X (FORENSIC_SKIPPED, "forensic_skipped") /* over a forensic record's bound  */          \
    X (INPUT_LINES, "input_lines")           /* offline                         */          \
    X (INPUT_ERRORS, "input_errors")         /* offline lines not understood    */          \
    X (OUTPUT_ERRORS, "output_errors")

typedef enum {
#define BUFFER_COUNTER_ENUM(ID, NAME) BUFFER_##ID,
    BUFFER_COUNTERS (BUFFER_COUNTER_ENUM)
#undef BUFFER_COUNTER_ENUM
    BUFFER_COUNTER_COUNT
} buffer_counter_t;

/*  A request handed to the analysis pool.                                   */
typedef struct {
    uint64_t seq;                   /* its ring entry                         */
    bool replay;
    const crs_t *crs;               /* the rules it runs (set at submit)      */
    unsigned generation;            /* of the rules: a reload makes a new one */
    uint8_t *packed;                /* copy of the stored request             */
    size_t packed_len;
    Dpidual__V1__HttpRequest *req;  /* unpacked by the thread                 */
    int rc;                         /* waf_analyse's                          */
    waf_result_t *result;           /* allocated by the thread when the job
                                       runs, not at submit: a waiting job is
                                       its request alone (~1 KiB), not the
                                       ~22 KiB of a result — a full queue
                                       would hold 22 MiB (job_result)       */
    int paranoia;
    uint32_t replay_status;         /* the sandbox's answer, 0 = not sent     */
    char replay_error[96];
} job_t;

typedef struct buffer_t {
    const config_t *cfg;
    bus_pub_t *pub;                 /* NULL offline                          */
    ring_t *ring;
    crs_t *crs;                     /* one set per analysis thread (crs.h);
                                       NULL: no CRS analysis                  */
    /* rules replaced by a SIGHUP, freed when the last job using them is back */
    unsigned generation;
    crs_t *old_crs;
    size_t old_jobs;
    anomaly_t *anomaly;
    pool_t *pool;
    query_t *query;                 /* NULL offline                          */
    forensic_t *forensic;           /* NULL: mode off                        */
    uint64_t counters[BUFFER_COUNTER_COUNT];
    uint64_t by_category[16];       /* alerts per category (compat)          */
    uint64_t blocked;               /* live BLOCK verdicts seen              */
    ratelog_t bad_log;
    /* recent replays, so one client is not replayed over and over           */
    struct { char ip[RING_IP_MAX]; uint64_t at_ns; } recent[64];
    size_t recent_next;
    /* offline                                                               */
    jsonl_in_t *input;              /* --offline: tail's JSON lines          */
    bool input_done;
    bool output_all;                /* --all                                 */
    outfile_t *output;
    job_t *held;                    /* offline: waiting for room in the pool */
    uint64_t compat_due_ns;
} buffer_t;

/*  Open everything but the bus (main.c subscribes). OFFLINE: the input
    path (or "-"), NULL live. NULL with the reasons in ERRORS.               */
buffer_t *buffer_new (const config_t *cfg, bus_pub_t *pub, const char *offline, bool all,
                      config_errors_t *errors);
void buffer_destroy (buffer_t **self_p);

/*  What buffer_new would refuse in CFG (modsecurity.conf loads, forensic
    key, query endpoint): 0, or -1 with the reasons in ERRORS.               */
int buffer_check (const config_t *cfg, config_errors_t *errors);

/*  Ingest (buffer.c).                                                       */
void buffer_request (buffer_t *self, const Dpidual__V1__HttpRequest *req);
void buffer_response (buffer_t *self, const Dpidual__V1__HttpResponse *resp);
void buffer_verdict (buffer_t *self, const Dpidual__V1__Verdict *verdict);
void buffer_decision (buffer_t *self, const Dpidual__V1__Decision *decision);

/*  Take the finished analyses (pool_fd is readable).                        */
void buffer_results (buffer_t *self);

/*  Replay IP's buffered requests (TRIGGER for the log: "query",
    "decision", "score"); QUEUED / NOT_QUEUED get the counts (may be NULL).
    Returns 0, or -1 when nothing of IP is buffered.                         */
int buffer_replay (buffer_t *self, const char *ip, const char *trigger, size_t *queued,
                   size_t *not_queued);

/*  A job is back from the pool (buffer_results): rules replaced by a
    reload are freed after their last job.                                   */
void buffer_job_done (buffer_t *self, const job_t *job);

/*  Periodic: compat file, forensic rotation.                                */
void buffer_tick (buffer_t *self);
/*  SIGHUP: reload the rules (a bad file keeps the ones in use), reopen.    */
void buffer_reload (buffer_t *self);

size_t buffer_counters (buffer_t *self, heartbeat_counter_t *out, size_t max);
void buffer_summary (buffer_t *self);

/*  Publish (live) or print (offline) an alert.                              */
void buffer_emit (buffer_t *self, Dpidual__V1__Alert *alert);

/*  The alert categories counted (by_category's order), NULL past the end. */
const char *buffer_category_name (size_t index);

/*  analysis.c                                                               */
job_t *job_new (const ring_entry_t *entry, bool replay);
void job_free (void *job);
/*  JOB's result: an empty one (score 0, no rule) when none was made.      */
const waf_result_t *job_result (const job_t *job);
void job_run (void *arg, void *job);                /* pool_fn; ARG the buffer */
/*  Fill ALERT (a fresh dpidual__v1__alert__init) from a finished job; its
    strings point into JOB and the arrays are allocated: free with
    alert_clear.                                                             */
void alert_from_job (Dpidual__V1__Alert *alert, const job_t *job);
void alert_clear (Dpidual__V1__Alert *alert);

/*  service.c: the query handler (query.h).                                  */
json_t *buffer_query (void *arg, const char *cmd, json_t *request);
json_t *buffer_entry_json (const ring_entry_t *entry);

/*  offline.c: read and handle up to MAX lines; 1 more to read, 0 waiting
    for the pool, -1 input done and every analysis back.                     */
int buffer_offline_work (buffer_t *self, size_t max);

/*  compat.c: COMPAT_DIR/dpi-buffer.json.                                    */
void buffer_compat_write (buffer_t *self);

/*  replay.c: send JOB's request to buffer.replay_target (in a pool thread). */
void replay_send (const config_t *cfg, job_t *job);

#endif
