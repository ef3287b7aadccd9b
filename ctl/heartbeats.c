/*  heartbeats.c — see ctl.h: the heartbeats (and tap.stats) of the workers
    behind the targets, collected for status and topology.

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

ctl_worker_t *
ctl_workers_add (ctl_workers_t *w, const ctl_target_t *target)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        ctl_worker_t *items = realloc (w->items, cap * sizeof *items);
        if (!items)
            return NULL;
        w->items = items;
        w->cap = cap;
    }
    ctl_worker_t *worker = &w->items[w->count++];
    memset (worker, 0, sizeof *worker);
    worker->target = target;
    return worker;
}

void
ctl_workers_clear (ctl_workers_t *w)
{
    for (size_t i = 0; i < w->count; i++) {
        ctl_msg_free ((ProtobufCMessage **) &w->items[i].hb);
        ctl_msg_free ((ProtobufCMessage **) &w->items[i].stats);
    }
    free (w->items);
    memset (w, 0, sizeof *w);
}

/*  Is ADDRESS a tcp:// bind on a wildcard host (*, 0.0.0.0, ::), which
    takes connections to any of the host's addresses?                        */
static bool
wildcard_tcp (const char *address)
{
    if (strncmp (address, "tcp://", 6) != 0)
        return false;
    const char *host = address + 6, *port = strrchr (host, ':');
    if (!port)
        return false;
    size_t len = (size_t) (port - host);
    return (len == 1 && *host == '*') || (len == 7 && strncmp (host, "0.0.0.0", 7) == 0)
           || (len == 4 && strncmp (host, "[::]", 4) == 0)
           || (len == 2 && strncmp (host, "::", 2) == 0);
}

bool
ctl_address_reaches (const char *bound, const char *other)
{
    if (strcmp (bound, other) == 0)
        return true;
    if (!wildcard_tcp (bound) || strncmp (other, "tcp://", 6) != 0)
        return false;
    const char *p1 = strrchr (bound, ':'), *p2 = strrchr (other, ':');
    return p2 && strcmp (p1, p2) == 0;
}

/*  Does HB's worker publish on ENDPOINT (a target's, maybe prefixed)?      */
static bool
publishes_on (const Dpidual__V1__Heartbeat *hb, const char *endpoint)
{
    const char *address = endpoint_address (endpoint);
    for (size_t i = 0; hb && i < hb->n_endpoints; i++)
        if (strcmp (hb->endpoints[i]->socket, "pub") == 0
            && ctl_address_reaches (hb->endpoints[i]->endpoint, address))
            return true;
    return false;
}

/*  The worker a message from SOURCE belongs to (HB: its heartbeat, or
    NULL), added when it is new. NULL when out of memory.                   */
static ctl_worker_t *
workers_find (ctl_workers_t *w, const char *source, const Dpidual__V1__Heartbeat *hb)
{
    for (size_t i = 0; i < w->count; i++)
        if (strcmp (w->items[i].source, source) == 0)
            return &w->items[i];
    size_t name_len = strcspn (source, "@");
    for (size_t i = 0; i < w->count; i++) {
        ctl_worker_t *worker = &w->items[i];
        const ctl_target_t *t = worker->target;
        if (*worker->source || !t || t->connects_out)
            continue;
        if ((*t->name && strlen (t->name) == name_len && strncmp (t->name, source, name_len) == 0)
            || publishes_on (hb, t->endpoint)) {
            snprintf (worker->source, sizeof worker->source, "%s", source);
            return worker;
        }
    }
    ctl_worker_t *worker = ctl_workers_add (w, NULL);
    if (worker)
        snprintf (worker->source, sizeof worker->source, "%s", source);
    return worker;
}

bool
ctl_workers_all_seen (const ctl_workers_t *w)
{
    for (size_t i = 0; i < w->count; i++)
        if (w->items[i].target && !w->items[i].target->connects_out && !w->items[i].hb)
            return false;
    return true;
}

/*  Keep a copy of MSG in *SLOT (replacing the older one).                   */
static void
keep (ProtobufCMessage **slot, uint64_t *at, const ProtobufCMessage *msg)
{
    ProtobufCMessage *copy = ctl_msg_dup (msg);
    if (!copy)
        return;
    ctl_msg_free (slot);
    *slot = copy;
    *at = bus_mono_ns ();
}

void
ctl_workers_collect (bus_sub_t *sub, ctl_workers_t *workers, uint64_t deadline,
                     bool until_all_seen)
{
    while (!(until_all_seen && ctl_workers_all_seen (workers)) && !zsys_interrupted) {
        int wait_ms = ctl_wait_ms (deadline);
        if (wait_ms < 0)
            break;
        bus_msg_t msg;
        if (bus_sub_recv (sub, wait_ms, &msg) != 1)
            continue;
        bool is_hb = strcmp (msg.topic, TOPIC_HEARTBEAT) == 0;
        if (!is_hb && strcmp (msg.topic, TOPIC_TAP_STATS) != 0)
            continue;
        ctl_worker_t *worker = workers_find (workers, msg.header->source,
                                             is_hb ? (const Dpidual__V1__Heartbeat *) msg.body
                                                   : NULL);
        if (worker && is_hb)
            keep ((ProtobufCMessage **) &worker->hb, &worker->hb_at, msg.body);
        else if (worker)
            keep ((ProtobufCMessage **) &worker->stats, &worker->stats_at, msg.body);
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
        if (!ctl_workers_add (&h->workers, &h->targets[i]))
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
    ctl_workers_clear (&h->workers);
    bus_sub_destroy (&h->sub);
    free (h->targets);
    config_destroy (&h->cfg);
    *h = (ctl_heartbeats_t) { 0 };
}
