/*  dpi-dualctl flows [-c FILE] [--connect EP]... [-n N] [--timeout SEC] [--json]

    Recent flows: listens to tap.flow (default: the collector's endpoint
    from the config) for SEC seconds (default 5) or until N distinct flows
    (default 20) were seen, keeps the latest event of each flow (key: source,
    publisher instance, flow_id) and prints them newest first (by last_seen)
    as a table, or with --json as one JSON line per flow (the event as
    `tail` prints it). Exit 0 when a flow was shown, 1 when none arrived
    before the timeout, 2 on a usage error.                                 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "pbjson.h"
#include "topics.h"

#define DEFAULT_COUNT 20
#define MAX_COUNT 10000
#define DEFAULT_TIMEOUT 5.0

const ctl_command_t ctl_flows_command = {
    .name = "flows",
    .usage = "usage: dpi-dualctl flows [-c FILE] [--connect EP]... [-n N] [--timeout SEC] [--json]\n",
    .help =
        "Listens to tap.flow until N distinct flows were seen or SEC seconds passed,\n"
        "keeps the latest event of each flow and prints them newest first (by\n"
        "last_seen): a table of protocol, tuple, VLAN, packets and bytes each way,\n"
        "host, last event and AGE (time since the flow's last packet), or with --json\n"
        "one event a line as tail prints it.\n"
        "\n"
        CTL_HELP_CONFIG
        "  --connect EP       listen to EP (repeatable) instead of the collector's\n"
        "                     endpoint from the config (bus.endpoints.collector)\n"
        "  -n, --count N      flows to show, 1 to 10000 (default 20)\n"
        "  --timeout SEC      seconds to listen at most, 0 to 1000000, decimals allowed\n"
        "                     (default 5)\n"
        "  --json             one JSON object per flow instead of the table\n"
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  flows were shown\n"
        "  1  no tap.flow event came in time, or the configuration or the bus could\n"
        "     not be used\n"
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
    ctl_msg_free ((ProtobufCMessage **) item);
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
print_table (flow_event_t **flows, size_t count)
{
    cell_t (*rows)[COLUMNS] = calloc (count + 1, sizeof *rows);
    if (!rows)
        return;
    size_t width[COLUMNS];
    for (int c = 0; c < COLUMNS; c++) {
        snprintf (rows[0][c], sizeof (cell_t), "%s", s_heads[c]);
        width[c] = strlen (s_heads[c]);
    }
    uint64_t now_ms = bus_now_ns () / 1000000ull;
    for (size_t i = 0; i < count; i++) {
        format_row (rows[i + 1], flows[i], now_ms);
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

/*  Receive until the deadline or COUNT distinct flows; FLOWS keeps the
    latest event of each.                                                   */
static void
collect (bus_sub_t *sub, zhashx_t *flows, long count, uint64_t deadline)
{
    while ((long) zhashx_size (flows) < count && !zsys_interrupted) {
        int wait_ms = ctl_wait_ms (deadline);
        if (wait_ms < 0)
            break;
        bus_msg_t msg;
        if (bus_sub_recv (sub, wait_ms, &msg) != 1 || strcmp (msg.topic, TOPIC_TAP_FLOW) != 0)
            continue;
        const flow_event_t *ev = (const flow_event_t *) msg.body;
        char key[512];
        snprintf (key, sizeof key, "%s/%llx/%llu", msg.header->source,
                  (unsigned long long) msg.header->instance, (unsigned long long) ev->flow_id);
        ProtobufCMessage *copy = ctl_msg_dup (msg.body);
        if (copy)
            zhashx_update (flows, key, copy);     /* frees the older event */
    }
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
    long count = o.count > 0 ? o.count : DEFAULT_COUNT;
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
    zhashx_t *flows = zhashx_new ();
    if (!sub || !flows) {
        zhashx_destroy (&flows);
        free (targets);
        config_destroy (&cfg);
        ctl_listen_options_free (&o);
        return 1;
    }
    zhashx_set_destructor (flows, free_event);
    bus_sub_subscribe (sub, TOPIC_TAP_FLOW);
    collect (sub, flows, count, bus_mono_ns () + (uint64_t) (timeout * 1e9));

    size_t n = zhashx_size (flows), k = 0;
    flow_event_t **sorted = calloc (n + 1, sizeof *sorted);
    for (void *ev = zhashx_first (flows); sorted && ev; ev = zhashx_next (flows))
        sorted[k++] = ev;
    if (n == 0)
        fprintf (stderr, "no tap.flow events in %g s from %s\n", timeout, endpoints);
    else if (!sorted)
        fprintf (stderr, "dpi-dualctl flows: out of memory\n");
    else {
        qsort (sorted, n, sizeof *sorted, by_last_seen);
        if (o.json)
            print_json (sorted, n);
        else
            print_table (sorted, n);
    }
    rc = n > 0 && sorted ? 0 : 1;
    fflush (stdout);
    ctl_sub_report_errors (sub, "flows");
    free (sorted);
    zhashx_destroy (&flows);
    bus_sub_destroy (&sub);
    free (targets);
    config_destroy (&cfg);
    ctl_listen_options_free (&o);
    return rc;
}
