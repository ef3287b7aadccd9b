/*  dpi-dualctl flows [-c FILE] [--connect EP]... [-n N] [--timeout SEC] [--json]

    The most recent flows: listens to tap.flow (default: the collector's
    endpoint from the config) for the whole SEC seconds (default 5; Ctrl-C
    ends it sooner), keeps the latest event of each flow (key: source,
    publisher instance, flow_id), then prints the N (default 20) with the
    newest last_seen, newest first, as a table, or with --json one JSON line
    per flow (the event as `tail` prints it).

    AGE is the time since the flow's last packet: for a live capture against
    the wall clock; for an offline one (FlowEvent.offline: a capture file,
    whose times are its own and may be days old) against the newest
    last_seen received from the same publisher instance.

    Memory is bounded: at most KEEP_MAX flows are kept. When a new flow finds
    them all taken, the oldest half (by last_seen) is dropped; a dropped
    flow's later event brings it back with its latest state, so the N shown
    are still the newest (N <= MAX_COUNT < KEEP_MAX / 2). How many were
    dropped is said on stderr.

    Exit 0 when a flow was shown, 1 when none arrived before the timeout
    (or the config or the bus could not be used), 2 on a usage error.      */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "pbjson.h"
#include "topics.h"

#define DEFAULT_COUNT 20
#define MAX_COUNT 1000
#define DEFAULT_TIMEOUT 5.0
#define KEEP_MAX 20000                  /* flows kept while listening         */

const ctl_command_t ctl_flows_command = {
    .name = "flows",
    .usage = "usage: dpi-dualctl flows [-c FILE] [--connect EP]... [-n N] [--timeout SEC] [--json]\n",
    .help =
        "The most recent flows: listens to tap.flow for the whole SEC seconds (Ctrl-C:\n"
        "sooner), keeps the latest event of each flow, then prints the N flows with\n"
        "the newest last_seen, newest first: a table of protocol, tuple, VLAN, packets\n"
        "and bytes each way, host, last event and AGE, or with --json one event a\n"
        "line as tail prints it. AGE is the time since the flow's last packet: live,\n"
        "against the clock; for a collector reading a capture file (offline), against\n"
        "the newest last_seen that collector sent, since the file's times are its own.\n"
        "At most 20000 flows are kept while listening: past that the older half is\n"
        "dropped (the N shown are still the newest) and stderr says how many were.\n"
        "\n"
        CTL_HELP_CONFIG
        "  --connect EP       listen to EP (repeatable) instead of the collector's\n"
        "                     endpoint from the config (bus.endpoints.collector)\n"
        "  -n, --count N      flows to show, 1 to 1000 (default 20)\n"
        "  --timeout SEC      seconds to listen, 0 to 1000000, decimals allowed\n"
        "                     (default 5)\n"
        "  --json             one JSON object per flow instead of the table\n"
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  flows were shown\n"
        "  1  no tap.flow event came in SEC seconds, or the configuration or the\n"
        "     bus could not be used\n"
        CTL_HELP_EXIT_USAGE,
    .max_count = MAX_COUNT,
    .json = true,
};

typedef Dpidual__V1__FlowEvent flow_event_t;

/*  The table's columns; cells are formatted first to size the columns.    */
enum { COL_PROTO, COL_SRC, COL_DST, COL_VLAN, COL_PACKETS, COL_BYTES, COL_HOST, COL_EVENT,
       COL_AGE, COLUMNS };

static const char *const s_heads[COLUMNS] = {
    "PROTO", "SRC", "DST", "VLAN", "PACKETS >/<", "BYTES >/<", "HOST", "EVENT", "AGE"
};
static const bool s_right[COLUMNS] = {
    [COL_VLAN] = true, [COL_PACKETS] = true, [COL_BYTES] = true, [COL_AGE] = true
};

typedef char cell_t[160];

static void
free_event (void **item)
{
    topo_msg_free ((ProtobufCMessage **) item);
}

static void
free_item (void **item)
{
    free (*item);
    *item = NULL;
}

/*  Newest last_seen first; then the higher flow_id (the later flow).       */
static int
by_last_seen (const void *a, const void *b)
{
    const flow_event_t *x = *(flow_event_t *const *) a, *y = *(flow_event_t *const *) b;
    if (x->last_seen != y->last_seen)
        return x->last_seen < y->last_seen ? 1 : -1;
    return x->flow_id < y->flow_id ? 1 : x->flow_id > y->flow_id ? -1 : 0;
}

/*  --------------------------------------------------------------------------
    The flows kept while listening                                           */

typedef struct {
    zhashx_t *flows;            /* flow key -> its latest event (owned copy)  */
    zhashx_t *newest;           /* source key -> uint64_t, newest last_seen   */
    uint64_t dropped;           /* flows dropped as the oldest at KEEP_MAX    */
} store_t;

/*  "source/instance" of the publisher of a message with header H.          */
static void
source_key (char *out, size_t len, const Dpidual__V1__Header *h)
{
    snprintf (out, len, "%s/%llx", h ? h->source : "", h ? (unsigned long long) h->instance : 0ull);
}

static void
flow_key (char *out, size_t len, const flow_event_t *ev)
{
    char source[400];
    source_key (source, sizeof source, ev->header);
    snprintf (out, len, "%s/%llu", source, (unsigned long long) ev->flow_id);
}

/*  The events of FLOWS, newest first; NULL when out of memory or empty.    */
static flow_event_t **
sorted_flows (zhashx_t *flows)
{
    size_t n = zhashx_size (flows), k = 0;
    flow_event_t **sorted = n ? calloc (n, sizeof *sorted) : NULL;
    for (void *ev = zhashx_first (flows); sorted && ev; ev = zhashx_next (flows))
        sorted[k++] = ev;
    if (sorted)
        qsort (sorted, n, sizeof *sorted, by_last_seen);
    return sorted;
}

/*  Make room: drop the older half of the flows kept.                       */
static void
store_prune (store_t *store)
{
    size_t n = zhashx_size (store->flows);
    flow_event_t **sorted = sorted_flows (store->flows);
    for (size_t i = KEEP_MAX / 2; sorted && i < n; i++) {
        char key[512];
        flow_key (key, sizeof key, sorted[i]);
        zhashx_delete (store->flows, key);
        store->dropped++;
    }
    free (sorted);
}

/*  Keep EV (a received tap.flow body) as its flow's latest event.         */
static void
store_add (store_t *store, const flow_event_t *ev)
{
    char key[512];
    flow_key (key, sizeof key, ev);
    if (zhashx_size (store->flows) >= KEEP_MAX && !zhashx_lookup (store->flows, key))
        store_prune (store);
    ProtobufCMessage *copy = topo_msg_dup (&ev->base);
    if (copy)
        zhashx_update (store->flows, key, copy);     /* frees the older event */
    if (!ev->offline)
        return;
    source_key (key, sizeof key, ev->header);
    uint64_t *newest = zhashx_lookup (store->newest, key);
    if (!newest && (newest = calloc (1, sizeof *newest)) != NULL)
        zhashx_insert (store->newest, key, newest);
    if (newest && ev->last_seen > *newest)
        *newest = ev->last_seen;
}

/*  What AGE counts from for EV, in ms: the newest last_seen of its source
    when it is offline, else the wall clock.                                 */
static uint64_t
age_origin (store_t *store, const flow_event_t *ev)
{
    char key[400];
    source_key (key, sizeof key, ev->header);
    const uint64_t *newest = ev->offline ? zhashx_lookup (store->newest, key) : NULL;
    return newest ? *newest : bus_now_ns () / 1000000ull;
}

/*  --------------------------------------------------------------------------
    Output                                                                   */

static void
format_address (cell_t out, const char *ip, uint32_t port)
{
    const char *shown = *ip ? ip : "?";
    if (port == 0)
        snprintf (out, sizeof (cell_t), "%s", shown);
    else if (strchr (shown, ':'))
        snprintf (out, sizeof (cell_t), "[%s]:%u", shown, port);
    else
        snprintf (out, sizeof (cell_t), "%s:%u", shown, port);
}

static void
format_age (cell_t out, uint64_t last_seen_ms, uint64_t now_ms)
{
    if (last_seen_ms == 0) {
        snprintf (out, sizeof (cell_t), "-");
        return;
    }
    uint64_t s = now_ms > last_seen_ms ? (now_ms - last_seen_ms) / 1000 : 0;
    if (s < 60)
        snprintf (out, sizeof (cell_t), "%llus", (unsigned long long) s);
    else if (s < 3600)
        snprintf (out, sizeof (cell_t), "%llum%02llus", (unsigned long long) (s / 60),
                  (unsigned long long) (s % 60));
    else if (s < 86400)
        snprintf (out, sizeof (cell_t), "%lluh%02llum", (unsigned long long) (s / 3600),
                  (unsigned long long) (s / 60 % 60));
    else
        snprintf (out, sizeof (cell_t), "%llud%02lluh", (unsigned long long) (s / 86400),
                  (unsigned long long) (s / 3600 % 24));
}

static const char *
enum_name (const ProtobufCEnumDescriptor *desc, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value (desc, value);
    return v ? v->name : "?";
}

static void
format_row (cell_t row[COLUMNS], const flow_event_t *ev, uint64_t now_ms)
{
    snprintf (row[COL_PROTO], sizeof (cell_t), "%s", *ev->proto ? ev->proto : "?");
    format_address (row[COL_SRC], ev->src_ip, ev->src_port);
    format_address (row[COL_DST], ev->dst_ip, ev->dst_port);
    snprintf (row[COL_VLAN], sizeof (cell_t), "%u", ev->vlan);
    snprintf (row[COL_PACKETS], sizeof (cell_t), "%llu/%llu",
              (unsigned long long) ev->src2dst_packets, (unsigned long long) ev->dst2src_packets);
    snprintf (row[COL_BYTES], sizeof (cell_t), "%llu/%llu",
              (unsigned long long) ev->src2dst_bytes, (unsigned long long) ev->dst2src_bytes);
    snprintf (row[COL_HOST], sizeof (cell_t), "%s", *ev->host_server_name ? ev->host_server_name : "-");
    const char *event = enum_name (&dpidual__v1__flow_event__event__descriptor, (int) ev->event);
    if (ev->event == DPIDUAL__V1__FLOW_EVENT__EVENT__END)
        snprintf (row[COL_EVENT], sizeof (cell_t), "%s (%s)", event,
                  enum_name (&dpidual__v1__flow_event__end_reason__descriptor,
                             (int) ev->end_reason));
    else
        snprintf (row[COL_EVENT], sizeof (cell_t), "%s", event);
    format_age (row[COL_AGE], ev->last_seen, now_ms);
}

static void
print_cells (cell_t *cells, const size_t width[COLUMNS], bool head)
{
    for (int c = 0; c < COLUMNS; c++) {
        const char *sep = c == 0 ? "" : c != COL_DST ? "  " : head ? "   " : " → ";
        if (s_right[c])
            printf ("%s%*s", sep, (int) width[c], cells[c]);
        else if (c == COLUMNS - 1)
            printf ("%s%s", sep, cells[c]);
        else
            printf ("%s%-*s", sep, (int) width[c], cells[c]);
    }
    putchar ('\n');
}

static void
print_table (store_t *store, flow_event_t **flows, size_t count)
{
    cell_t (*rows)[COLUMNS] = calloc (count + 1, sizeof *rows);
    if (!rows)
        return;
    size_t width[COLUMNS];
    for (int c = 0; c < COLUMNS; c++) {
        snprintf (rows[0][c], sizeof (cell_t), "%s", s_heads[c]);
        width[c] = strlen (s_heads[c]);
    }
    for (size_t i = 0; i < count; i++) {
        format_row (rows[i + 1], flows[i], age_origin (store, flows[i]));
        for (int c = 0; c < COLUMNS; c++)
            if (strlen (rows[i + 1][c]) > width[c])
                width[c] = strlen (rows[i + 1][c]);
    }
    for (size_t i = 0; i <= count; i++)
        print_cells (rows[i], width, i == 0);
    free (rows);
}

static int
print_json (flow_event_t **flows, size_t count)
{
    pbjson_buf_t line = { 0 };
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        pbjson_buf_reset (&line);
        rc = pbjson_append (&line, TOPIC_TAP_FLOW, &flows[i]->base);
        if (rc == 0)
            printf ("%s\n", line.data);
    }
    pbjson_buf_free (&line);
    return rc;
}

/*  Receive until the deadline (or a signal), keeping each flow's latest
    event in STORE.                                                          */
static void
collect (bus_sub_t *sub, store_t *store, uint64_t deadline)
{
    while (!zsys_interrupted) {
        int wait_ms = ctl_wait_ms (deadline);
        if (wait_ms < 0)
            break;
        bus_msg_t msg;
        if (bus_sub_recv (sub, wait_ms, &msg) == 1 && strcmp (msg.topic, TOPIC_TAP_FLOW) == 0)
            store_add (store, (const flow_event_t *) msg.body);
    }
}

/*  The N newest flows of STORE, as a table or JSON lines. 0, or 1 when
    there is none (said on stderr).                                         */
static int
show (store_t *store, long count, bool json, double timeout, const char *endpoints)
{
    size_t n = zhashx_size (store->flows);
    flow_event_t **sorted = sorted_flows (store->flows);
    if (store->dropped)
        fprintf (stderr, "flows: more than %d flows came; %llu of the oldest were dropped to "
                 "bound memory (the flows shown are still the newest)\n", KEEP_MAX,
                 (unsigned long long) store->dropped);
    if (n == 0)
        fprintf (stderr, "no tap.flow events in %g s from %s\n", timeout, endpoints);
    else if (!sorted)
        fprintf (stderr, "dpi-dualctl flows: out of memory\n");
    else if (json)
        print_json (sorted, n < (size_t) count ? n : (size_t) count);
    else
        print_table (store, sorted, n < (size_t) count ? n : (size_t) count);
    int rc = sorted ? 0 : 1;
    free (sorted);
    return rc;
}

int
cmd_flows (int argc, char **argv)
{
    ctl_listen_opts_t o;
    int rc = ctl_listen_options (argc, argv, &ctl_flows_command, &o);
    if (rc != 0 || o.help) {
        ctl_listen_options_free (&o);
        return rc;
    }
    double timeout = o.timeout >= 0 ? o.timeout : DEFAULT_TIMEOUT;
    config_t *cfg = config_load_verbose (o.config_path);
    size_t ntargets = 0;
    ctl_target_t *targets = cfg ? ctl_targets (cfg, o.connects, o.nconnect, true, &ntargets)
                                : NULL;
    char endpoints[2048] = "";
    if (targets)
        ctl_targets_join (targets, ntargets, endpoints, sizeof endpoints);
    if (targets && !*endpoints)
        fprintf (stderr, "dpi-dualctl flows: the collector connects out (%s); give --connect\n",
                 targets[0].endpoint);
    bus_sub_t *sub = targets && *endpoints ? ctl_sub_open (cfg, targets, ntargets) : NULL;
    store_t store = { zhashx_new (), zhashx_new (), 0 };
    rc = 1;
    if (sub && store.flows && store.newest) {
        zhashx_set_destructor (store.flows, free_event);
        zhashx_set_destructor (store.newest, free_item);
        bus_sub_subscribe (sub, TOPIC_TAP_FLOW);
        collect (sub, &store, bus_mono_ns () + (uint64_t) (timeout * 1e9));
        rc = show (&store, o.count > 0 ? o.count : DEFAULT_COUNT, o.json, timeout, endpoints);
        fflush (stdout);
        ctl_sub_report_errors (sub, "flows");
    }
    zhashx_destroy (&store.flows);
    zhashx_destroy (&store.newest);
    bus_sub_destroy (&sub);
    free (targets);
    config_destroy (&cfg);
    ctl_listen_options_free (&o);
    return rc;
}
