/*  dpi-correlator — the engine that sees one client from both streams.

    Subscribes to tap.flow (bus.endpoints.collector), mitm.* (bridge_mitm)
    and buffer.alert (buffer); publishes correlated.threat, correlated.join
    (correlation.publish_joins) and decision on bus.endpoints.correlator;
    talks to CrowdSec's LAPI (crowdsec.*) and HAProxy (decision.*); answers
    queries on correlation.query_endpoint. With --offline it reads JSON
    lines instead and prints what it would publish. The work is
    correlator.h's; this file wires it into the skeleton (worker.h).        */
#include <string.h>

#include "correlator.h"
#include "topics.h"
#include "worker.h"

#define DRAIN_BATCH 256
#define OFFLINE_BATCH 1024

typedef struct {
    const char *offline;
} correlator_opts_t;

static const worker_option_t s_options[] = {
    { "offline", 0, "FILE",
      "read tap.flow, mitm.request, mitm.verdict and buffer.alert JSON lines, as\n"
      "`dpi-dualctl tail` prints them, from FILE (\"-\": stdin) instead of the bus;\n"
      "print correlated.threat, correlated.join and decision lines on stdout; no\n"
      "bus, no LAPI, no HAProxy, no query service, no state file" },
    { NULL, 0, NULL, NULL },
};

static int
correlator_option (void *arg, size_t index, const char *value)
{
    (void) index;
    ((correlator_opts_t *) arg)->offline = value;
    return 0;
}

static bool
correlator_uses_bus (void *arg)
{
    return !((correlator_opts_t *) arg)->offline;
}

static int
subscribe (worker_t *w, config_errors_t *errors)
{
    if (worker_subscribe_to (w, WORKER_COLLECTOR, TOPIC_TAP_FLOW, errors)
        || worker_subscribe_to (w, WORKER_BRIDGE_MITM, TOPIC_MITM_REQUEST, errors)
        || worker_subscribe_to (w, WORKER_BRIDGE_MITM, TOPIC_MITM_VERDICT, errors))
        return -1;
    return worker_subscribe_to (w, WORKER_BUFFER, TOPIC_BUFFER_ALERT, errors);
}

static void *
correlator_worker_new (worker_t *w, config_errors_t *errors)
{
    const correlator_opts_t *o = worker_opts (w);
    correlator_t *self = correlator_new (worker_config (w), worker_pub (w), o->offline, errors);
    if (self && !o->offline && subscribe (w, errors))
        correlator_destroy (&self);
    return self;
}

static void
correlator_worker_destroy (void **self_p)
{
    correlator_t *self = *self_p;
    correlator_destroy (&self);
    *self_p = NULL;
}

static size_t
correlator_worker_fds (void *arg, int *fds, size_t max)
{
    correlator_t *self = arg;
    size_t n = 0;
    if (self->lapi && n < max)
        fds[n++] = lapi_fd (self->lapi);
    if (self->query && n < max)
        fds[n++] = query_fd (self->query);
    return n;
}

static void
correlator_worker_drain (void *arg, int fd)
{
    correlator_t *self = arg;
    if (self->lapi && fd == lapi_fd (self->lapi))
        correlator_lapi (self);
    else if (self->query)
        query_drain (self->query, DRAIN_BATCH);
}

static int
correlator_worker_work (void *arg)
{
    correlator_t *self = arg;
    if (self->input)
        return correlator_offline_work (self, OFFLINE_BATCH);
    if (!self->query)
        return 0;
    query_drain (self->query, DRAIN_BATCH); /* ZMQ_FD is edge triggered */
    return query_pending (self->query) ? 1 : 0;
}

static void
correlator_worker_message (void *arg, const bus_msg_t *msg)
{
    correlator_t *self = arg;
    if (strncmp (msg->topic, "mitm.", 5) == 0 && msg->header && msg->header->source
        && strncmp (msg->header->source, "bridge-mitm@", 12) == 0)
        correlator_bridge_heard (self, msg->header->source, msg->header->instance);
    if (strcmp (msg->topic, TOPIC_TAP_FLOW) == 0)
        correlator_flow (self, (const Dpidual__V1__FlowEvent *) msg->body,
                         msg->header && msg->header->source ? msg->header->source : "");
    else if (strcmp (msg->topic, TOPIC_MITM_REQUEST) == 0)
        correlator_request (self, (const Dpidual__V1__HttpRequest *) msg->body);
    else if (strcmp (msg->topic, TOPIC_MITM_VERDICT) == 0)
        correlator_verdict (self, (const Dpidual__V1__Verdict *) msg->body);
    else if (strcmp (msg->topic, TOPIC_BUFFER_ALERT) == 0)
        correlator_alert (self, (const Dpidual__V1__Alert *) msg->body);
}

static void
correlator_worker_finish (void *self)
{
    correlator_finish (self);
}

static void
correlator_worker_tick (void *self)
{
    correlator_tick (self);
}

static size_t
correlator_worker_counters (void *self, heartbeat_counter_t *out, size_t max)
{
    return correlator_counters (self, out, max);
}

static void
correlator_worker_summary (void *self)
{
    correlator_summary (self);
}

static int
correlator_worker_status (void *arg)
{
    const correlator_t *self = arg;
    jsonl_in_stats_t in = { 0 };
    if (self->input)
        in = jsonl_in_stats (self->input);
    return in.errors || self->counters[CORRELATOR_OUTPUT_ERRORS]
                   || self->counters[CORRELATOR_COMPAT_ERRORS] ? WORKER_EXIT_DATA
                                                                 : WORKER_EXIT_OK;
}

static const worker_ops_t s_correlator_ops = {
    .new = correlator_worker_new,
    .destroy = correlator_worker_destroy,
    .fds = correlator_worker_fds,
    .drain = correlator_worker_drain,
    .work = correlator_worker_work,
    .finish = correlator_worker_finish,
    .on_message = correlator_worker_message,
    .tick = correlator_worker_tick,
    .counters = correlator_worker_counters,
    .summary = correlator_worker_summary,
    .status = correlator_worker_status,
};

static const worker_def_t s_correlator = {
    .id = WORKER_CORRELATOR,
    .purpose = "Joins the TAP stream (tap.flow) and the MITM stream (mitm.*, buffer.alert) per\n"
               "client, scores each address's reputation from the evidence of both, publishes\n"
               "correlated.threat and bans (decision) on bus.endpoints.correlator, and talks to\n"
               "CrowdSec's LAPI and HAProxy's runtime API.",
    .synopsis = "[--offline FILE|-]",
    .options = s_options,
    .details = "The reputation survives restarts in GLOBAL.STATE_DIR/reputation.db (saved every\n"
               "minute, within a second of a ban, and at exit). Queries: dpi-dualctl threats,\n"
               "reputation, ban, unban, whitelist (correlation.query_endpoint).\n",
    .option = correlator_option,
    .uses_bus = correlator_uses_bus,
    .tick_ms = 1000,
    .ops = &s_correlator_ops,
};

int
main (int argc, char **argv)
{
    correlator_opts_t opts = { 0 };
    return worker_main (argc, argv, &s_correlator, &opts);
}
