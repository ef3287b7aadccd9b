/*  dpi-collector — the TAP stream: capture, classify with nDPI, publish.

    dpi-collector [-c FILE] [-i IFACE | -r FILE...] [--jsonl PATH|-]
                  [--no-bus] [--wait-subscriber SEC] [-q]

    Live (-i, or tap.interface): runs until SIGINT/SIGTERM, then ends every
    flow (reason shutdown). Offline (-r, repeatable; pcap or pcapng): packet
    timestamps drive every timeout; at the end every flow is flushed as END
    (shutdown) and the process exits 0 — or 2 when a file could not be read
    to its end (truncated or corrupt: what was read is kept and reported).
    Events go to the bus (tap.flow, tap.stats, sys.heartbeat on
    bus.endpoints.collector) unless --no-bus, and to --jsonl as JSON lines.  */
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "capture.h"
#include "collector.h"
#include "workers.h"
#include "heartbeat.h"
#include "log.h"

#define MAX_FILES 4096
#define OFFLINE_LINGER_MS 10000
#define EVENT_BATCH 64              /* events handed to ZeroMQ together */

typedef struct {
    const char *config_path;
    const char *interface;
    const char *files[MAX_FILES];
    int nfiles;
    const char *jsonl;
    bool no_bus;
    bool quiet;
    double wait_subscriber;
} options_t;

typedef struct {
    workers_t *workers;
    int dlt;
} dispatch_t;

static void
usage (FILE *out)
{
    fprintf (out, "usage: dpi-collector [-c FILE] [-i IFACE | -r FILE...] [--jsonl PATH|-]\n"
                  "                     [--no-bus] [--wait-subscriber SEC] [-q]\n");
}

static int
parse_options (int argc, char **argv, options_t *o)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "interface", required_argument, NULL, 'i' },
        { "read", required_argument, NULL, 'r' },
        { "jsonl", required_argument, NULL, 'j' },
        { "no-bus", no_argument, NULL, 'B' },
        { "wait-subscriber", required_argument, NULL, 'w' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "c:i:r:qh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': o->config_path = optarg; break;
        case 'i': o->interface = optarg; break;
        case 'r':
            if (o->nfiles == MAX_FILES) {
                fprintf (stderr, "dpi-collector: at most %d files\n", MAX_FILES);
                return 2;
            }
            o->files[o->nfiles++] = optarg;
            break;
        case 'j': o->jsonl = optarg; break;
        case 'B': o->no_bus = true; break;
        case 'w': o->wait_subscriber = atof (optarg); break;
        case 'q': o->quiet = true; break;
        case 'h': usage (stdout); exit (0);
        default: usage (stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "dpi-collector: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->interface && o->nfiles) {
        fprintf (stderr, "dpi-collector: -i and -r exclude each other\n");
        return 2;
    }
    return 0;
}

static void
on_packet (u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    dispatch_t *d = (dispatch_t *) user;
    workers_packet (d->workers, d->dlt, bytes, h->caplen, h->len,
                    (uint64_t) h->ts.tv_sec * 1000000ull + (uint64_t) h->ts.tv_usec);
}

/*  Drop to USER (after the capture is open and the bus bound).             */
static int
drop_privileges (const char *user)
{
    if (!user || !*user)
        return 0;
    struct passwd *pw = getpwnam (user);
    if (!pw) {
        log_error ("tap.user: no such user '%s'", user);
        return -1;
    }
    if (initgroups (pw->pw_name, pw->pw_gid) != 0 || setgid (pw->pw_gid) != 0
        || setuid (pw->pw_uid) != 0) {
        log_error ("tap.user: cannot become '%s': %m", user);
        return -1;
    }
    log_info ("running as %s", user);
    return 0;
}

static void
heartbeat (heartbeat_t *hb, workers_t *c, bool force)
{
    if (!hb)
        return;
    collector_counters_t counters_now = workers_counters (c), *k = &counters_now;
    uint64_t errors = collector_malformed (k);
    heartbeat_counter_t counters[] = {
        { "packets", k->packets }, { "bytes", k->bytes }, { "ip_packets", k->ip_packets },
        { "flows_active", workers_active_flows (c) }, { "flows_total", k->flows_created },
        { "evictions", k->evictions }, { "malformed_packets", errors },
        { "not_ip_packets", k->decode_errors[DECODE_NOT_IP] }, { "fragments", k->fragments },
        { "events_detected", k->events[1] }, { "events_update", k->events[2] },
        { "events_end", k->events[3] }, { "event_errors", k->event_errors },
    };
    pthread_mutex_t *lock = workers_output_lock (c);
    if (lock)
        pthread_mutex_lock (lock);
    heartbeat_tick (hb, counters, sizeof counters / sizeof counters[0], force);
    if (lock)
        pthread_mutex_unlock (lock);
}

/*  Hand the held events to ZeroMQ (see bus_pub_set_batch).                 */
static void
flush_bus (bus_pub_t *pub, workers_t *c)
{
    if (!pub)
        return;
    pthread_mutex_t *lock = workers_output_lock (c);
    if (lock)
        pthread_mutex_lock (lock);
    bus_pub_flush (pub);
    if (lock)
        pthread_mutex_unlock (lock);
}

static void
progress (workers_t *c, const char *name, uint64_t start_ns, bool final)
{
    collector_counters_t counters_now = workers_counters (c), *k = &counters_now;
    double secs = (double) (bus_mono_ns () - start_ns) / 1e9;
    fprintf (stderr, "dpi-collector: %s: %llu packets, %u active flows, %llu flows, %.0f packets/s%s",
             name, (unsigned long long) k->packets, workers_active_flows (c),
             (unsigned long long) k->flows_created, secs > 0 ? (double) k->packets / secs : 0,
             final ? "\n" : "\r");
}

static void
summary (workers_t *c)
{
    collector_counters_t counters_now = workers_counters (c), *k = &counters_now;
    fprintf (stderr, "dpi-collector: %llu packets (%llu IP), %llu flows, %llu evicted; events: "
             "%llu detected, %llu update, %llu end, %llu not delivered\n",
             (unsigned long long) k->packets, (unsigned long long) k->ip_packets,
             (unsigned long long) k->flows_created, (unsigned long long) k->evictions,
             (unsigned long long) k->events[1], (unsigned long long) k->events[2],
             (unsigned long long) k->events[3], (unsigned long long) k->event_errors);
    fprintf (stderr, "dpi-collector: not decoded:");
    for (int i = DECODE_TOO_SHORT; i < DECODE_REASONS; i++)
        fprintf (stderr, " %s %llu", decode_reason_name ((decode_result_t) i),
                 (unsigned long long) k->decode_errors[i]);
    fprintf (stderr, "; fragments %llu\n", (unsigned long long) k->fragments);
}

/*  Read every file in turn. Returns 0, or 2 if one could not be read through. */
static int
run_offline (capture_t **files, int nfiles, workers_t *c, bus_pub_t *pub, heartbeat_t *hb,
             bool quiet)
{
    int status = 0;
    uint64_t start = bus_mono_ns (), next_progress = start + 1000000000ull;
    for (int i = 0; i < nfiles && !zsys_interrupted; i++) {
        dispatch_t d = { c, capture_datalink (files[i]) };
        workers_set_interface (c, capture_name (files[i]));
        int n;
        while ((n = capture_dispatch (files[i], 4096, on_packet, (u_char *) &d)) > 0
               && !zsys_interrupted) {
            flush_bus (pub, c);
            heartbeat (hb, c, false);
            if (!quiet && bus_mono_ns () >= next_progress) {
                progress (c, capture_name (files[i]), start, false);
                next_progress += 1000000000ull;
            }
        }
        if (n == -1) {
            log_error ("%s: %s (the packets before it were used)", capture_name (files[i]),
                       capture_error (files[i]));
            status = 2;
        }
    }
    workers_finish (c);
    flush_bus (pub, c);
    if (!quiet)
        progress (c, "done", start, true);
    return status;
}

static int
run_live (capture_t *cap, workers_t *c, bus_pub_t *pub, heartbeat_t *hb)
{
    dispatch_t d = { c, capture_datalink (cap) };
    workers_set_interface (c, capture_name (cap));
    int status = 0;
    while (!zsys_interrupted) {
        if (capture_dispatch (cap, 1024, on_packet, (u_char *) &d) == -1) {
            log_error ("%s: %s", capture_name (cap), capture_error (cap));
            status = 1;
            break;
        }
        uint64_t received, dropped, if_dropped;
        if (capture_stats (cap, &received, &dropped, &if_dropped))
            workers_set_capture_stats (c, received, dropped, if_dropped);
        workers_tick (c, bus_now_ns () / 1000);
        flush_bus (pub, c);
        heartbeat (hb, c, false);
    }
    workers_finish (c);
    flush_bus (pub, c);
    return status;
}

int
main (int argc, char **argv)
{
    options_t o = { 0 };
    int rc = parse_options (argc, argv, &o);
    if (rc)
        return rc;
    zsys_init ();
    config_t *cfg = config_load_verbose (o.config_path);
    if (!cfg)
        return 1;
    log_init ("dpi-collector", cfg->global.log_level);
    const char *interface = o.interface ? o.interface : cfg->tap.interface;
    if (o.nfiles == 0 && !*interface) {
        log_error ("nothing to capture: give -i IFACE, -r FILE or tap.interface");
        config_destroy (&cfg);
        return 2;
    }

    /* open every input first: a missing file is an error before any work */
    char err[1024];
    capture_t *caps[MAX_FILES] = { NULL };
    int ncaps = o.nfiles ? o.nfiles : 1;
    for (int i = 0; i < ncaps && rc == 0; i++) {
        caps[i] = o.nfiles ? capture_open_file (cfg, o.files[i], err, sizeof err)
                           : capture_open_live (cfg, interface, err, sizeof err);
        if (!caps[i]) {
            log_error ("%s", err);
            rc = 1;
        }
    }
    FILE *jsonl = NULL;
    if (rc == 0 && o.jsonl) {
        jsonl = strcmp (o.jsonl, "-") == 0 ? stdout : fopen (o.jsonl, "w");
        if (!jsonl) {
            log_error ("--jsonl %s: %m", o.jsonl);
            rc = 1;
        }
    }
    bus_pub_t *pub = NULL;
    if (rc == 0 && !o.no_bus) {
        pub = bus_pub_new (cfg, "collector", cfg->bus.endpoints.collector);
        if (!pub)
            rc = 1;
    }
    if (rc == 0 && drop_privileges (cfg->tap.user) != 0)
        rc = 1;
    workers_t *c = rc == 0 ? workers_new (cfg, pub, jsonl, (unsigned) cfg->tap.threads,
                                          o.nfiles == 0)
                           : NULL;
    if (rc == 0 && !c)
        rc = 1;
    heartbeat_t *hb = c && pub ? heartbeat_new (cfg, pub, NULL) : NULL;
    if (pub)
        bus_pub_set_batch (pub, EVENT_BATCH);
    /* offline, subscribers set the pace: no event is dropped at the
       high-water mark unless one of them stops reading for 10 s */
    if (pub && o.nfiles)
        bus_pub_set_lossless (pub, OFFLINE_LINGER_MS);

    if (rc == 0) {
        if (pub && o.wait_subscriber > 0
            && bus_pub_wait_subscriber (pub, (int) (o.wait_subscriber * 1000)) != 0)
            log_warning ("no subscriber after %.1f s; publishing anyway", o.wait_subscriber);
        heartbeat (hb, c, true);
        rc = o.nfiles ? run_offline (caps, ncaps, c, pub, hb, o.quiet)
                      : run_live (caps[0], c, pub, hb);
        heartbeat (hb, c, true);
        if (!o.quiet)
            summary (c);
    }
    heartbeat_destroy (&hb);
    workers_destroy (&c);
    /* an offline run ends with a burst of END events: give subscribers time
       to take them (live: bus.linger_ms) */
    if (pub && o.nfiles && cfg->bus.linger_ms < OFFLINE_LINGER_MS)
        bus_pub_set_linger (pub, OFFLINE_LINGER_MS);
    bus_pub_destroy (&pub);
    if (jsonl && jsonl != stdout)
        fclose (jsonl);
    else if (jsonl)
        fflush (jsonl);
    for (int i = 0; i < ncaps; i++)
        capture_close (&caps[i]);
    config_destroy (&cfg);
    return rc;
}
