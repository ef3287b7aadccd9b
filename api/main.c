/*  dpi-api — the HTTP API of dpi-dual, on common/worker.

    Serves /api/dpi/... (api/openapi.yaml), the live event stream and
    Prometheus /metrics on api.listen, with the bearer token of
    api.token_file. Subscribes to tap.flow and tap.stats (collector),
    mitm.verdict (bridge-mitm), buffer.alert (buffer), correlated.threat and
    decision (correlator), and every worker's sys.heartbeat; asks the
    buffer's and the correlator's query services. Publishes only its own
    heartbeat, on bus.endpoints.api. This file wires api.h into the
    skeleton: options, help and signals are worker.h's.                     */
#include "api.h"
#include "worker.h"

static void *
api_worker_new (worker_t *w, config_errors_t *errors)
{
    return api_new (w, errors);
}

static void
api_worker_destroy (void **self_p)
{
    api_t *self = *self_p;
    api_destroy (&self);
    *self_p = NULL;
}

static size_t
api_worker_fds (void *self, int *fds, size_t max)
{
    (void) max;
    fds[0] = api_fd (self);
    return 1;
}

static void
api_worker_drain (void *self, int fd)
{
    (void) fd;
    api_drain (self);
}

static int
api_worker_work (void *self)
{
    return api_work (self);
}

static void
api_worker_message (void *self, const bus_msg_t *msg)
{
    api_message (self, msg);
}

static void
api_worker_tick (void *self)
{
    api_tick (self);
}

static size_t
api_worker_counters (void *self, heartbeat_counter_t *out, size_t max)
{
    return api_counters (self, out, max);
}

static void
api_worker_reload (void *self)
{
    api_reload (self);
}

static void
api_worker_summary (void *self)
{
    api_summary (self);
}

static int
api_worker_status (void *self)
{
    (void) self;
    return WORKER_EXIT_OK;
}

static const worker_ops_t s_api_ops = {
    .new = api_worker_new,
    .destroy = api_worker_destroy,
    .fds = api_worker_fds,
    .drain = api_worker_drain,
    .work = api_worker_work,
    .on_message = api_worker_message,
    .tick = api_worker_tick,
    .reload = api_worker_reload,
    .counters = api_worker_counters,
    .summary = api_worker_summary,
    .status = api_worker_status,
};

static const worker_def_t s_api = {
    .id = WORKER_API,
    .purpose = "The HTTP API of dpi-dual: status, flows, threats, alerts, topology, the buffer's\n"
               "and the correlator's queries (context, replay, reputation, ban, unban), a live\n"
               "event stream and Prometheus /metrics, on api.listen with the bearer token of\n"
               "api.token_file.",
    .synopsis = "",
    .details = "Routes: api/openapi.yaml. It keeps the last api.max_flows flows, api.max_threats\n"
               "threats and api.max_alerts alerts, and per-minute counts of the last hour.\n"
               "Refusals (401, 400, 404, 405, 413, 429, 503) are counted in its heartbeat, and\n"
               "connections over api.max_connections or api.max_connections_per_ip\n"
               "(connections_refused). SIGHUP reads api.token_file again (a bad file: logged,\n"
               "the previous token stays).\n",
    .tick_ms = 1000,
    .ops = &s_api_ops,
};

int
main (int argc, char **argv)
{
    return worker_main (argc, argv, &s_api, NULL);
}
