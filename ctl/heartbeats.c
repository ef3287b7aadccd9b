/*  heartbeats.c — see ctl.h: the heartbeats (and tap.stats) of the workers
    behind the targets, collected for status and topology (the collection
    itself is common/topology.c's, which dpi-api shares).

    A message is matched to its worker by source ("name@host"); a source
    seen for the first time goes to the target of that worker name, or of
    the endpoint its heartbeat says it publishes on (for --connect
    endpoints not in the config); a worker that answers without being asked
    for is added.                                                           */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "endpoint.h"
#include "topics.h"
#include "topology.h"

void
ctl_workers_collect (bus_sub_t *sub, ctl_workers_t *workers, uint64_t deadline,
                     bool until_all_seen)
{
    while (!(until_all_seen && topo_workers_all_seen (workers)) && !zsys_interrupted) {
        int wait_ms = ctl_wait_ms (deadline);
        if (wait_ms < 0)
            break;
        bus_msg_t msg;
        if (bus_sub_recv (sub, wait_ms, &msg) != 1)
            continue;
        topo_workers_note (workers, &msg);
    }
}

const char *
ctl_worker_label (const ctl_worker_t *w)
{
    if (w->target && *w->target->name)
        return w->target->name;
    return *w->source ? w->source : w->target->endpoint;
}

void
ctl_format_duration (char *out, size_t outlen, uint64_t s)
{
    if (s < 60)
        snprintf (out, outlen, "%llus", (unsigned long long) s);
    else if (s < 3600)
        snprintf (out, outlen, "%llum%02llus", (unsigned long long) (s / 60),
                  (unsigned long long) (s % 60));
    else if (s < 86400)
        snprintf (out, outlen, "%lluh%02llum%02llus", (unsigned long long) (s / 3600),
                  (unsigned long long) (s / 60 % 60), (unsigned long long) (s % 60));
    else
        snprintf (out, outlen, "%llud%02lluh%02llum", (unsigned long long) (s / 86400),
                  (unsigned long long) (s / 3600 % 24), (unsigned long long) (s / 60 % 60));
}

int
ctl_heartbeats_open (ctl_heartbeats_t *h, const ctl_listen_opts_t *o)
{
    *h = (ctl_heartbeats_t) { 0 };
    h->cfg = config_load_verbose (o->config_path);
    if (h->cfg) {
        h->timeout = o->timeout >= 0 ? o->timeout : h->cfg->bus.heartbeat_interval + 1.0;
        h->targets = ctl_targets (h->cfg, o->connects, o->nconnect, false, &h->ntargets);
    }
    h->sub = h->targets ? ctl_sub_open (h->cfg, h->targets, h->ntargets) : NULL;
    for (size_t i = 0; h->sub && i < h->ntargets; i++)
        if (!topo_workers_add (&h->workers, &h->targets[i]))
            bus_sub_destroy (&h->sub);
    if (!h->sub) {
        ctl_heartbeats_close (h, NULL);
        return 1;
    }
    bus_sub_subscribe (h->sub, TOPIC_HEARTBEAT);
    bus_sub_subscribe (h->sub, TOPIC_TAP_STATS);
    return 0;
}

void
ctl_heartbeats_close (ctl_heartbeats_t *h, const char *cmd)
{
    if (cmd && h->sub)
        ctl_sub_report_errors (h->sub, cmd);
    topo_workers_clear (&h->workers);
    bus_sub_destroy (&h->sub);
    free (h->targets);
    config_destroy (&h->cfg);
    *h = (ctl_heartbeats_t) { 0 };
}
