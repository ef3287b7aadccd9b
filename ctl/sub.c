/*  sub.c — what the listening commands of dpi-dualctl (flows, status) share:
    their common options, the worker endpoints they connect to, and owned
    copies of received messages.

    A target is one publisher endpoint to connect to: by default the
    endpoints of the workers from the config (bus.endpoints.*), named after
    the worker; with --connect, the endpoints given, named after the worker
    whose configured endpoint they equal ("" when none). A worker whose own
    endpoint starts with ">" connects out to a subscriber: there is nothing
    to connect to, so the target is marked and not attached.                */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "endpoint.h"

int
ctl_listen_options (int argc, char **argv, const char *cmd, bool with_count, bool with_args,
                    ctl_listen_opts_t *o)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "connect", required_argument, NULL, 'e' },
        { "count", required_argument, NULL, 'n' },
        { "timeout", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "count-only", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 }
    };
    memset (o, 0, sizeof *o);
    o->count = -1;
    o->timeout = -1;
    o->connects = calloc ((size_t) argc + 1, sizeof *o->connects);
    if (!o->connects)
        return 2;
    int opt;
    optind = 1;
    while ((opt = getopt_long (argc, argv, with_count ? "c:e:n:t:" : "c:e:t:", options,
                               NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'c': o->config_path = optarg; break;
        case 'e': o->connects[o->nconnect++] = optarg; break;
        case 'n':
            if (!with_count) {
                fprintf (stderr, "dpi-dualctl %s: unknown option --count\n", cmd);
                return 2;
            }
            o->count = strtol (optarg, &end, 10);
            break;
        case 't': o->timeout = strtod (optarg, &end); break;
        case 'j': o->json = true; break;
        case 'q': o->count_only = true; break;
        default:  return 2;
        }
        if (end && (*end || end == optarg || (opt == 'n' && o->count < 1)
                    || (opt == 't' && !(o->timeout >= 0 && o->timeout < 1e6)))) {
            fprintf (stderr, "dpi-dualctl %s: bad value '%s'\n", cmd, optarg);
            return 2;
        }
    }
    o->first_arg = optind;
    if (optind < argc && !with_args) {
        fprintf (stderr, "dpi-dualctl %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return 2;
    }
    return 0;
}

void
ctl_listen_options_free (ctl_listen_opts_t *o)
{
    free (o->connects);
    o->connects = NULL;
}

ctl_target_t *
ctl_targets (const config_t *cfg, char **connects, size_t nconnect, bool collector_only,
             size_t *count)
{
    size_t n = nconnect ? nconnect : collector_only ? 1 : WORKER_COUNT;
    ctl_target_t *t = calloc (n, sizeof *t);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (nconnect) {
            t[i].endpoint = connects[i];
            t[i].name = "";
            for (int w = 0; w < WORKER_COUNT; w++)
                if (strcmp (endpoint_address (cfg->bus.endpoints[w]), connects[i]) == 0)
                    t[i].name = worker_info ((worker_id_t) w)->name;
        }
        else {
            /* a worker's own endpoint binds: connect to it (endpoint.h) */
            endpoint_t ep;
            const char *reason;
            const char *own = cfg->bus.endpoints[i];
            t[i].name = worker_info ((worker_id_t) i)->name;
            t[i].endpoint = endpoint_address (own);
            t[i].connects_out = endpoint_parse (own, true, &ep, &reason) == 0 && !ep.bind;
        }
    }
    *count = n;
    return t;
}

bus_sub_t *
ctl_sub_open (const config_t *cfg, const ctl_target_t *targets, size_t count)
{
    bus_sub_t *sub = bus_sub_new (cfg);
    for (size_t i = 0; sub && i < count; i++)
        if (!targets[i].connects_out && bus_sub_attach (sub, targets[i].endpoint) != 0)
            bus_sub_destroy (&sub);
    return sub;
}

void
ctl_targets_join (const ctl_target_t *targets, size_t count, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < count && len < outlen; i++) {
        if (targets[i].connects_out)
            continue;
        int n = snprintf (out + len, outlen - len, "%s%s", len ? ", " : "", targets[i].endpoint);
        if (n < 0)
            break;
        len += (size_t) n;
    }
}

void
ctl_sub_report_errors (bus_sub_t *sub, const char *cmd)
{
    if (!sub)
        return;
    if (bus_sub_decode_errors (sub))
        fprintf (stderr, "%s: %llu messages on the bus did not decode and were skipped\n", cmd,
                 (unsigned long long) bus_sub_decode_errors (sub));
    for (size_t i = 0; i < bus_sub_source_count (sub); i++) {
        bus_source_stats_t s = bus_sub_source_stats (sub, i);
        if (s.gaps || s.out_of_order)
            fprintf (stderr, "%s: %s: %llu messages lost (gaps), %llu out of order\n", cmd,
                     s.source, (unsigned long long) s.gaps, (unsigned long long) s.out_of_order);
    }
}

ProtobufCMessage *
ctl_msg_dup (const ProtobufCMessage *msg)
{
    size_t size = protobuf_c_message_get_packed_size (msg);
    uint8_t *buf = malloc (size ? size : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack (msg, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack (msg->descriptor, NULL, size, buf);
    free (buf);
    return copy;
}

void
ctl_msg_free (ProtobufCMessage **msg_p)
{
    if (*msg_p)
        protobuf_c_message_free_unpacked (*msg_p, NULL);
    *msg_p = NULL;
}

int
ctl_wait_ms (uint64_t deadline)
{
    uint64_t now = bus_mono_ns ();
    return now >= deadline ? -1 : (int) ((deadline - now) / 1000000ull) + 1;
}
