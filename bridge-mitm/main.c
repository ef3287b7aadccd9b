/*  dpi-bridge-mitm — the C sidecar of the MITM stream, on common/worker.

    Receives the mitmproxy addon's records on the unix datagram socket
    mitm.socket (PROTOCOL.md), answers live verdicts (ban list, then the
    fast rules), and publishes mitm.request, mitm.response, mitm.verdict
    and sys.heartbeat on bus.endpoints.bridge_mitm. Ban decisions come
    from the decision topic (mitm.decision_endpoints, default the
    correlator's endpoint). This file only wires bridge.h into the
    skeleton: the options, help and signals are worker.h's.                 */
#include <string.h>

#include "bridge.h"
#include "topics.h"
#include "worker.h"

#define DRAIN_BATCH 256                 /* datagrams between two polls       */

static void *
bridge_worker_new (worker_t *w, config_errors_t *errors)
{
    const config_t *cfg = worker_config (w);
    bridge_t *bridge = bridge_new (cfg, worker_pub (w), errors);
    const config_strlist_t *eps = &cfg->mitm.decision_endpoints;
    int rc = !bridge ? -1
           : eps->count ? 0 : worker_subscribe_to (w, WORKER_CORRELATOR, TOPIC_DECISION, errors);
    for (size_t i = 0; i < eps->count && rc == 0; i++)
        rc = worker_subscribe (w, eps->items[i], TOPIC_DECISION, errors);
    if (rc != 0)
        bridge_destroy (&bridge);           /* removes the socket file */
    return bridge;
}

static void
bridge_worker_destroy (void **self_p)
{
    bridge_t *bridge = *self_p;
    bridge_destroy (&bridge);
    *self_p = NULL;
}

static size_t
bridge_worker_fds (void *self, int *fds, size_t max)
{
    (void) max;
    fds[0] = bridge_fd (self);
    return 1;
}

static void
bridge_worker_drain (void *self, int fd)
{
    (void) fd;
    bridge_drain (self, DRAIN_BATCH);
}

static void
bridge_worker_message (void *self, const bus_msg_t *msg)
{
    if (strcmp (msg->topic, TOPIC_DECISION) == 0)
        bridge_decision (self, (const Dpidual__V1__Decision *) msg->body);
}

static void
bridge_worker_reload (void *self)
{
    bridge_reload (self);
}

static void
bridge_worker_tick (void *self)
{
    bridge_tick (self);
}

static size_t
bridge_worker_counters (void *self, heartbeat_counter_t *out, size_t max)
{
    return bridge_counters (self, out, max);
}

static void
bridge_worker_summary (void *self)
{
    bridge_summary (self);
}

static int
bridge_worker_status (void *self)
{
    (void) self;
    return WORKER_EXIT_OK;
}

static const worker_ops_t s_bridge_ops = {
    .new = bridge_worker_new,
    .destroy = bridge_worker_destroy,
    .fds = bridge_worker_fds,
    .drain = bridge_worker_drain,
    .on_message = bridge_worker_message,
    .tick = bridge_worker_tick,
    .reload = bridge_worker_reload,
    .counters = bridge_worker_counters,
    .summary = bridge_worker_summary,
    .status = bridge_worker_status,
};

static const worker_def_t s_bridge = {
    .id = WORKER_BRIDGE_MITM,
    .purpose = "The C sidecar of the MITM stream: answers the mitmproxy addon's live verdicts on\n"
               "mitm.socket (ban list, then the fast rules of mitm.rules_file) and publishes\n"
               "mitm.request, mitm.response and mitm.verdict on bus.endpoints.bridge_mitm.",
    .synopsis = "",
    .details = "Bans come from mitm.ban_file and from decision messages (mitm.decision_endpoints,\n"
               "default bus.endpoints.correlator). SIGHUP reloads mitm.ban_file (a file with\n"
               "errors is reported and the list in use stays) and reopens threats.log. The\n"
               "socket file is removed at exit.\n",
    .tick_ms = 1000,                    /* expired bans purged once a second */
    .ops = &s_bridge_ops,
};

int
main (int argc, char **argv)
{
    return worker_main (argc, argv, &s_bridge, NULL);
}
