/*  tap.c — see tap.h.                                                       */
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "lanes.h"
#include "log.h"
#include "outfile.h"
#include "topics.h"

#define OFFLINE_LINGER_MS 10000         /* subscribers' time for the last events */
#define EVENT_BATCH 64                  /* events handed to ZeroMQ together  */
#define OFFLINE_BATCH 4096              /* packets per turn of the loop      */
#define LIVE_BATCH 1024

typedef struct {
    worker_t *w;
    const config_t *cfg;
    const tap_opts_t *o;
    bus_pub_t *pub;                     /* NULL with --no-bus                */
    capture_t *caps[TAP_MAX_FILES];
    int ncaps;
    int next;                           /* offline: the file being read      */
    bool offline;
    lanes_t *lanes;
    outfile_t *jsonl;
    int read_errors;                    /* files not read to their end       */
    bool failed;                        /* live: the capture failed          */
    uint64_t start_ns, next_progress_ns;
    bool progress;                      /* a progress line on a terminal     */
} tap_t;

typedef struct {
    lanes_t *lanes;
    int dlt;
} dispatch_t;

static void
on_packet (u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    dispatch_t *d = (dispatch_t *) user;
    lanes_packet (d->lanes, d->dlt, bytes, h->caplen, h->len,
                  (uint64_t) h->ts.tv_sec * 1000000ull + (uint64_t) h->ts.tv_usec);
}

/*  Every capture, opened before any work: a missing file is an error before
    anything is read.                                                         */
static int
open_captures (tap_t *self, config_errors_t *errors)
{
    const char *interface = self->o->interface ? self->o->interface : self->cfg->tap.interface;
    if (!self->offline && !*interface) {
        config_errors_add (errors, "nothing to capture: give -i IFACE, -r FILE or tap.interface");
        return -1;
    }
    self->ncaps = self->offline ? self->o->nfiles : 1;
    int rc = 0;
    for (int i = 0; i < self->ncaps; i++) {
        self->caps[i] = self->offline ? capture_open_file (self->cfg, self->o->files[i], errors)
                                      : capture_open_live (self->cfg, interface, errors);
        rc |= self->caps[i] ? 0 : -1;
    }
    return rc;
}

/*  The bus for this run: batches, and offline lossless with its subscribers
    let in first.                                                            */
static void
prepare_bus (tap_t *self)
{
    if (!self->pub)
        return;
    bus_pub_set_batch (self->pub, EVENT_BATCH);
    if (!self->offline)
        return;
    /* offline, subscribers set the pace: no event is dropped at the
       high-water mark unless one of them stops reading for 10 s */
    bus_pub_set_lossless (self->pub, OFFLINE_LINGER_MS);
    worker_let_subscribers_join (self->w);
    double wait = self->o->wait_subscriber;
    if (wait > 0 && worker_wait_subscriber (self->w, wait) != 0)
        log_warning ("no subscriber after %.1f s; publishing anyway", wait);
}

static void tap_destroy (void **self_p);

static void *
tap_new (worker_t *w, config_errors_t *errors)
{
    tap_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "out of memory");
        return NULL;
    }
    self->w = w;
    self->cfg = worker_config (w);
    self->o = worker_opts (w);
    self->pub = worker_pub (w);
    self->offline = self->o->nfiles > 0;
    int rc = open_captures (self, errors);
    if (rc == 0 && self->o->jsonl && !(self->jsonl = outfile_open (self->o->jsonl, errors)))
        rc = -1;
    if (rc == 0 && !(self->lanes = lanes_new (self->cfg, self->pub, self->jsonl,
                                              (unsigned) self->cfg->tap.threads, !self->offline))) {
        config_errors_add (errors, "cannot start the capture lanes (the reason is above)");
        rc = -1;
    }
    if (rc != 0) {
        void *p = self;
        tap_destroy (&p);
        return NULL;
    }
    prepare_bus (self);
    self->progress = self->offline && isatty (STDERR_FILENO) && log_enabled (LOG_LEVEL_INFO);
    self->start_ns = self->next_progress_ns = bus_mono_ns ();
    lanes_set_interface (self->lanes, capture_name (self->caps[0]));
    return self;
}

static void
tap_destroy (void **self_p)
{
    tap_t *self = *self_p;
    if (!self)
        return;
    lanes_destroy (&self->lanes);
    outfile_close (&self->jsonl);
    /* an offline run ends with a burst of END events: subscribers get the
       time to take them (live: bus.linger_ms) */
    if (self->pub && self->offline && self->cfg->bus.linger_ms < OFFLINE_LINGER_MS)
        bus_pub_set_linger (self->pub, OFFLINE_LINGER_MS);
    for (int i = 0; i < self->ncaps; i++)
        capture_close (&self->caps[i]);
    free (self);
    *self_p = NULL;
}

/*  --------------------------------------------------------------------------
    Reading                                                                  */

static void
progress (tap_t *self, const char *name, bool final)
{
    collector_counters_t k = lanes_counters (self->lanes);
    double secs = (double) (bus_mono_ns () - self->start_ns) / 1e9;
    fprintf (stderr, "dpi-collector: %s: %llu packets, %u active flows, %llu flows, %.0f packets/s%s",
             name, (unsigned long long) k.packets, lanes_active_flows (self->lanes),
             (unsigned long long) k.flows_created, secs > 0 ? (double) k.packets / secs : 0,
             final ? "\n" : "\r");
}

/*  Offline: a batch of packets of the current file; -1 when all are read. */
static int
tap_work (void *arg)
{
    tap_t *self = arg;
    if (!self->offline)
        return self->failed ? -1 : 0;
    if (self->next == self->ncaps)
        return -1;
    capture_t *cap = self->caps[self->next];
    if (bus_mono_ns () >= self->next_progress_ns && self->progress) {
        progress (self, capture_name (cap), false);
        self->next_progress_ns += 1000000000ull;
    }
    dispatch_t d = { self->lanes, capture_datalink (cap) };
    int n = capture_dispatch (cap, OFFLINE_BATCH, on_packet, (u_char *) &d);
    if (n > 0)
        return 1;
    if (n == -1) {
        log_error ("%s: %s (the packets before it were used)", capture_name (cap),
                   capture_error (cap));
        self->read_errors++;
    }
    if (++self->next == self->ncaps)
        return -1;
    lanes_set_interface (self->lanes, capture_name (self->caps[self->next]));
    return 1;
}

static size_t
tap_fds (void *arg, int *fds, size_t max)
{
    tap_t *self = arg;
    (void) max;
    if (self->offline || capture_fd (self->caps[0]) < 0)
        return 0;
    fds[0] = capture_fd (self->caps[0]);
    return 1;
}

/*  Live: what the capture holds now.                                        */
static void
tap_drain (void *arg, int fd)
{
    tap_t *self = arg;
    (void) fd;
    dispatch_t d = { self->lanes, capture_datalink (self->caps[0]) };
    if (!self->failed
        && capture_dispatch (self->caps[0], LIVE_BATCH, on_packet, (u_char *) &d) == -1) {
        log_error ("%s: %s", capture_name (self->caps[0]), capture_error (self->caps[0]));
        self->failed = true;            /* the loop ends at its next turn */
    }
}

/*  Live: time passes, capture statistics, and whatever the poll missed.    */
static void
tap_tick (void *arg)
{
    tap_t *self = arg;
    if (self->offline)
        return;
    tap_drain (self, -1);
    uint64_t received, dropped, if_dropped;
    if (capture_stats (self->caps[0], &received, &dropped, &if_dropped))
        lanes_set_capture_stats (self->lanes, received, dropped, if_dropped);
    lanes_tick (self->lanes, bus_now_ns () / 1000);
}

static void
tap_finish (void *arg)
{
    tap_t *self = arg;
    lanes_finish (self->lanes);         /* flushes --jsonl: its errors count */
}

/*  --------------------------------------------------------------------------
    Reporting                                                                */

static void
tap_reload (void *arg)
{
    tap_t *self = arg;
    if (!self->jsonl)
        return;
    pthread_mutex_t *lock = lanes_output_lock (self->lanes);
    if (lock)
        pthread_mutex_lock (lock);
    if (outfile_reopen (self->jsonl) == 0)
        log_info ("%s reopened", outfile_path (self->jsonl));
    if (lock)
        pthread_mutex_unlock (lock);
}

static size_t
tap_counters (void *arg, heartbeat_counter_t *out, size_t max)
{
    tap_t *self = arg;
    collector_counters_t k = lanes_counters (self->lanes);
    heartbeat_counter_t all[] = {
        { "packets", k.packets }, { "bytes", k.bytes }, { "ip_packets", k.ip_packets },
        { "flows_active", lanes_active_flows (self->lanes) }, { "flows_total", k.flows_created },
        { "evictions", k.evictions }, { "malformed_packets", collector_malformed (&k) },
        { "not_ip_packets", k.decode_errors[DECODE_NOT_IP] }, { "fragments", k.fragments },
        { "events_detected", k.events[EVENT_DETECTED] },
        { "events_update", k.events[EVENT_UPDATE] }, { "events_end", k.events[EVENT_END] },
        { "event_errors", k.event_errors }, { "compat_errors", k.compat_errors },
        { "jsonl_lines_lost", self->jsonl ? outfile_lines_lost (self->jsonl) : 0 },
        { "read_errors", (uint64_t) self->read_errors },
        { "offline", self->offline },
    };
    size_t n = sizeof all / sizeof all[0] < max ? sizeof all / sizeof all[0] : max;
    memcpy (out, all, n * sizeof *out);
    return n;
}

static void
tap_summary (void *arg)
{
    tap_t *self = arg;
    collector_counters_t k = lanes_counters (self->lanes);
    if (self->offline)
        progress (self, "done", true);
    uint64_t unheard = self->pub ? bus_pub_unheard (self->pub, TOPIC_TAP_FLOW) : 0;
    fprintf (stderr, "dpi-collector: %llu packets (%llu IP), %llu flows, %llu evicted; events: "
             "%llu detected, %llu update, %llu end, %llu not delivered (%llu with no subscriber, "
             "%llu failed sends or writes)\n",
             (unsigned long long) k.packets, (unsigned long long) k.ip_packets,
             (unsigned long long) k.flows_created, (unsigned long long) k.evictions,
             (unsigned long long) k.events[EVENT_DETECTED],
             (unsigned long long) k.events[EVENT_UPDATE],
             (unsigned long long) k.events[EVENT_END],
             (unsigned long long) (k.event_errors + unheard), (unsigned long long) unheard,
             (unsigned long long) k.event_errors);
    fprintf (stderr, "dpi-collector: not decoded:");
    for (int i = DECODE_TOO_SHORT; i < DECODE_REASONS; i++)
        fprintf (stderr, " %s %llu", decode_reason_name ((decode_result_t) i),
                 (unsigned long long) k.decode_errors[i]);
    fprintf (stderr, "; fragments %llu\n", (unsigned long long) k.fragments);
}

/*  1 when the live capture failed; 3 when a file was not read through or
    an output not written.                                                   */
static int
tap_status (void *arg)
{
    tap_t *self = arg;
    collector_counters_t k = lanes_counters (self->lanes);
    uint64_t write_errors = (self->jsonl ? outfile_errors (self->jsonl) : 0) + k.compat_errors;
    if (write_errors)
        log_error ("%llu writes failed (see above), %llu --jsonl lines lost",
                   (unsigned long long) write_errors,
                   (unsigned long long) (self->jsonl ? outfile_lines_lost (self->jsonl) : 0));
    if (self->failed)
        return WORKER_EXIT_FAILURE;
    return self->read_errors || write_errors ? WORKER_EXIT_DATA : WORKER_EXIT_OK;
}

static pthread_mutex_t *
tap_pub_lock (void *arg)
{
    tap_t *self = arg;
    return lanes_output_lock (self->lanes);
}

const worker_ops_t tap_ops = {
    .new = tap_new,
    .destroy = tap_destroy,
    .fds = tap_fds,
    .drain = tap_drain,
    .work = tap_work,
    .finish = tap_finish,
    .tick = tap_tick,
    .reload = tap_reload,
    .counters = tap_counters,
    .summary = tap_summary,
    .status = tap_status,
    .pub_lock = tap_pub_lock,
};
