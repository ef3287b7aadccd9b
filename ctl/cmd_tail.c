/*  dpi-dualctl tail [-c FILE] [--connect EP]... [-n COUNT] [--timeout SEC]
                     [TOPIC-PREFIX...]

    Subscribes to the given endpoints (default: every worker's publisher
    from the config) and prints each message as one JSON line (pbjson.h)
    until interrupted, COUNT messages, or SEC seconds. On exit it reports on
    stderr, per source, what it received and the gaps it saw. Exit status:
    0, or 1 when --timeout ended the run before COUNT messages arrived.      */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "ctl.h"
#include "pbjson.h"

static void
report (bus_sub_t *sub)
{
    for (size_t i = 0; i < bus_sub_source_count (sub); i++) {
        bus_source_stats_t s = bus_sub_source_stats (sub, i);
        fprintf (stderr, "tail: %s: received %llu, gaps %llu, restarts %llu, out-of-order %llu\n",
                 s.source, (unsigned long long) s.received, (unsigned long long) s.gaps,
                 (unsigned long long) s.restarts, (unsigned long long) s.out_of_order);
    }
    fprintf (stderr, "tail: %llu messages, %llu gaps, %llu undecodable\n",
             (unsigned long long) bus_sub_received (sub), (unsigned long long) bus_sub_gaps (sub),
             (unsigned long long) bus_sub_decode_errors (sub));
}

static int
attach_defaults (bus_sub_t *sub, const config_t *cfg)
{
    const char *eps[] = { cfg->bus.endpoints.collector, cfg->bus.endpoints.bridge_mitm,
                          cfg->bus.endpoints.buffer, cfg->bus.endpoints.correlator };
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        /* a worker's own endpoint binds; tail connects to it */
        const char *ep = eps[i] + (*eps[i] == '@');
        if (*ep == '>')
            continue;               /* that worker connects out: nothing to join */
        if (bus_sub_attach (sub, ep))
            return -1;
    }
    return 0;
}

int
cmd_tail (int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "connect", required_argument, NULL, 'e' },
        { "count", required_argument, NULL, 'n' },
        { "timeout", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 }
    };
    const char *path = NULL;
    char **connects = calloc ((size_t) argc, sizeof *connects);
    size_t nconnect = 0;
    long count = -1;
    double timeout = -1;
    int opt;
    optind = 1;
    while ((opt = getopt_long (argc, argv, "c:e:n:t:", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'c': path = optarg; break;
        case 'e': connects[nconnect++] = optarg; break;
        case 'n': count = strtol (optarg, &end, 10); break;
        case 't': timeout = strtod (optarg, &end); break;
        default:  free (connects); return 2;
        }
        if (end && (*end || end == optarg || (opt == 'n' && count < 1) || (opt == 't' && timeout < 0))) {
            fprintf (stderr, "dpi-dualctl tail: bad value '%s'\n", optarg);
            free (connects);
            return 2;
        }
    }
    config_t *cfg = ctl_load_config (path);
    bus_sub_t *sub = cfg ? bus_sub_new (cfg) : NULL;
    int rc = sub ? 0 : 1;
    for (size_t i = 0; rc == 0 && i < nconnect; i++)
        rc = bus_sub_attach (sub, connects[i]) ? 1 : 0;
    if (rc == 0 && nconnect == 0)
        rc = attach_defaults (sub, cfg) ? 1 : 0;
    if (rc == 0 && optind == argc)
        bus_sub_subscribe (sub, "");
    for (int i = optind; rc == 0 && i < argc; i++)
        bus_sub_subscribe (sub, argv[i]);

    uint64_t deadline = timeout < 0 ? 0 : bus_mono_ns () + (uint64_t) (timeout * 1e9);
    pbjson_buf_t line = { 0 };
    long printed = 0;
    while (rc == 0 && (count < 0 || printed < count) && !zsys_interrupted) {
        int wait_ms = -1;
        if (deadline) {
            uint64_t now = bus_mono_ns ();
            if (now >= deadline) {
                rc = count > 0 ? 1 : 0;
                break;
            }
            wait_ms = (int) ((deadline - now) / 1000000ull) + 1;
        }
        bus_msg_t msg;
        if (bus_sub_recv (sub, wait_ms, &msg) != 1)
            continue;
        pbjson_buf_reset (&line);
        if (pbjson_append (&line, msg.topic, msg.body) == 0) {
            fwrite (line.data, 1, line.len, stdout);
            fputc ('\n', stdout);
            fflush (stdout);
            printed++;
        }
    }
    if (rc == 1 && count > 0 && sub)
        fprintf (stderr, "tail: timeout after %ld of %ld messages\n", printed, count);
    if (sub)
        report (sub);
    pbjson_buf_free (&line);
    bus_sub_destroy (&sub);
    config_destroy (&cfg);
    free (connects);
    return rc;
}
