/*  dpi-buffer — buffer B of the design: the recent requests of the MITM
    stream, analysed deeply off the request path.

    Subscribes to mitm.request, mitm.response and mitm.verdict (from
    bus.endpoints.bridge_mitm) and decision (bus.endpoints.correlator);
    publishes buffer.alert and sys.heartbeat on bus.endpoints.buffer; serves
    queries on buffer.query_endpoint. With --offline it reads JSON lines
    instead and writes its results on stdout, with no bus. The work is
    buffer.h's; this file wires it into the skeleton (worker.h).             */
#include <string.h>

#include "buffer.h"
#include "topics.h"
#include "worker.h"

#define DRAIN_BATCH 256
#define OFFLINE_BATCH 256

typedef struct {
    const char *offline;            /* --offline FILE|-                      */
    bool all;                       /* --all                                 */
} buffer_opts_t;

static const worker_option_t s_options[] = {
    { "offline", 0, "FILE",
      "read mitm.request (and mitm.response) JSON lines, as `dpi-dualctl tail`\n"
      "prints them, from FILE (\"-\": stdin) instead of the bus; write one\n"
      "buffer.alert JSON line per alert on stdout; no bus, no query service" },
    { "all", 0, NULL,
      "with --offline: one line per request (its CRS score and every rule that\n"
      "matched), not only per alert" },
    { NULL, 0, NULL, NULL },
};

static int
buffer_option (void *arg, size_t index, const char *value)
{
    buffer_opts_t *o = arg;
    if (index == 0)
        o->offline = value;
    else
        o->all = true;
    return 0;
}

static int
buffer_opts_check (void *arg)
{
    const buffer_opts_t *o = arg;
    if (o->all && !o->offline) {
        fprintf (stderr, "dpi-buffer: --all goes with --offline\n");
        return -1;
    }
    return 0;
}

static bool
buffer_uses_bus (void *arg)
{
    return !((buffer_opts_t *) arg)->offline;
}

static int
subscribe (worker_t *w, config_errors_t *errors)
{
    const char *topics[] = { TOPIC_MITM_REQUEST, TOPIC_MITM_RESPONSE, TOPIC_MITM_VERDICT };
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (worker_subscribe_to (w, WORKER_BRIDGE_MITM, topics[i], errors))
            return -1;
    return worker_subscribe_to (w, WORKER_CORRELATOR, TOPIC_DECISION, errors);
}

static void *
buffer_worker_new (worker_t *w, config_errors_t *errors)
{
    const buffer_opts_t *o = worker_opts (w);
    buffer_t *self = buffer_new (worker_config (w), worker_pub (w), o->offline, o->all, errors);
    if (self && !o->offline && subscribe (w, errors))
        buffer_destroy (&self);
    return self;
}

static void
buffer_worker_destroy (void **self_p)
{
    buffer_t *self = *self_p;
    buffer_destroy (&self);
    *self_p = NULL;
}

static size_t
buffer_worker_fds (void *arg, int *fds, size_t max)
{
    buffer_t *self = arg;
    size_t n = 0;
    if (n < max)
        fds[n++] = pool_fd (self->pool);
    if (self->query && n < max)
        fds[n++] = query_fd (self->query);
    return n;
}

static void
buffer_worker_drain (void *arg, int fd)
{
    buffer_t *self = arg;
    if (fd == pool_fd (self->pool))
        buffer_results (self);
    else if (self->query)
        query_drain (self->query, DRAIN_BATCH);
}

static int
buffer_worker_work (void *arg)
{
    buffer_t *self = arg;
    if (self->input)
        return buffer_offline_work (self, OFFLINE_BATCH);
    if (!self->query)
        return 0;
    query_drain (self->query, DRAIN_BATCH); /* ZMQ_FD is edge triggered */
    return query_pending (self->query) ? 1 : 0;
}

static void
buffer_worker_message (void *arg, const bus_msg_t *msg)
{
    buffer_t *self = arg;
    if (strcmp (msg->topic, TOPIC_MITM_REQUEST) == 0)
        buffer_request (self, (const Dpidual__V1__HttpRequest *) msg->body);
    else if (strcmp (msg->topic, TOPIC_MITM_RESPONSE) == 0)
        buffer_response (self, (const Dpidual__V1__HttpResponse *) msg->body);
    else if (strcmp (msg->topic, TOPIC_MITM_VERDICT) == 0)
        buffer_verdict (self, (const Dpidual__V1__Verdict *) msg->body);
    else if (strcmp (msg->topic, TOPIC_DECISION) == 0)
        buffer_decision (self, (const Dpidual__V1__Decision *) msg->body);
}

static void
buffer_worker_finish (void *arg)
{
    buffer_t *self = arg;
    buffer_results (self);
    if (self->cfg->global.compat)
        buffer_compat_write (self);
}

static void
buffer_worker_tick (void *self)
{
    buffer_tick (self);
}

static void
buffer_worker_reload (void *self)
{
    buffer_reload (self);
}

static size_t
buffer_worker_counters (void *self, heartbeat_counter_t *out, size_t max)
{
    return buffer_counters (self, out, max);
}

static void
buffer_worker_summary (void *self)
{
    buffer_summary (self);
}

static int
buffer_worker_status (void *arg)
{
    const buffer_t *self = arg;
    return self->counters[BUFFER_INPUT_ERRORS] || self->counters[BUFFER_OUTPUT_ERRORS]
             ? WORKER_EXIT_DATA : WORKER_EXIT_OK;
}

static const worker_ops_t s_buffer_ops = {
    .new = buffer_worker_new,
    .destroy = buffer_worker_destroy,
    .fds = buffer_worker_fds,
    .drain = buffer_worker_drain,
    .work = buffer_worker_work,
    .finish = buffer_worker_finish,
    .on_message = buffer_worker_message,
    .tick = buffer_worker_tick,
    .reload = buffer_worker_reload,
    .counters = buffer_worker_counters,
    .summary = buffer_worker_summary,
    .status = buffer_worker_status,
};

static const worker_def_t s_buffer = {
    .id = WORKER_BUFFER,
    .purpose = "Keeps the recent requests of the MITM stream (buffer.size) and analyses each off\n"
               "the request path: OWASP CRS through ModSecurity (buffer.modsecurity_conf) on\n"
               "buffer.analysis_threads threads, and per-client anomaly scoring; publishes\n"
               "buffer.alert on bus.endpoints.buffer and answers queries on\n"
               "buffer.query_endpoint (dpi-dualctl context / replay / buffer).",
    .synopsis = "[--offline FILE|- [--all]]",
    .options = s_options,
    .details = "Live, it subscribes to mitm.request, mitm.response and mitm.verdict at\n"
               "bus.endpoints.bridge_mitm and to decision at bus.endpoints.correlator (a ban\n"
               "replays that client's requests at buffer.replay_paranoia). When analysis falls\n"
               "behind, requests beyond buffer.queue_size are counted as not_analysed; ingest\n"
               "never waits. SIGHUP reloads the CRS (rules with errors are reported and those\n"
               "in use stay). Offline, nothing is dropped: reading waits for the analysis.\n"
               "Exit status 3 when some input line was not understood or output failed.\n",
    .option = buffer_option,
    .check = buffer_opts_check,
    .uses_bus = buffer_uses_bus,
    .tick_ms = 1000,
    .ops = &s_buffer_ops,
};

int
main (int argc, char **argv)
{
    buffer_opts_t opts = { 0 };
    return worker_main (argc, argv, &s_buffer, &opts);
}
