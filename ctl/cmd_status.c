/*  dpi-dualctl status [-c FILE] [--connect EP]... [--timeout SEC] [--json]

    Which workers are running: listens to sys.heartbeat and tap.stats on
    every worker's endpoint from the config (or the --connect ones) until
    each has sent a heartbeat, or SEC seconds pass (default: one heartbeat
    interval plus 1 s, so a running worker always answers). Prints, per
    worker that answered, its last heartbeat (pid, version, uptime,
    endpoints, what it published, what it received, its own counters) and
    its last tap.stats if one came; per worker that did not, a "not running"
    line. For a collector reading capture files (TapStats.offline) the
    capture line says "offline run, reading FILE" and the traffic line has
    totals instead of rates (packet time: the file's pace, not the
    network's). --json: one JSON object per worker instead (its tap_stats
    has the field offline). For a worker of this host's run_dir, a
    "started:" line says how it was started (procs.c: as a daemon by
    dpi-dualctl start, by systemd, or otherwise; --json: started,
    started_how).

    A heartbeat is matched to its target by worker name, or by the endpoint
    it publishes on (for --connect endpoints not in the config); a worker
    that answers without being asked for is shown as well.

    Exit status: 0 when the collector answered (when no target can be the
    collector: when every target answered), 1 otherwise, 2 on usage error. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "pbjson.h"
#include "topics.h"

const ctl_command_t ctl_status_command = {
    .name = "status",
    .usage = "usage: dpi-dualctl status [-c FILE] [--connect EP]... [--timeout SEC] [--json]\n",
    .help =
        "Which workers run: listens to sys.heartbeat and tap.stats until every worker\n"
        "has sent a heartbeat or SEC seconds passed, then prints per worker its last\n"
        "heartbeat (pid, version, uptime, endpoints, what it published and received,\n"
        "its counters) and the collector's last tap.stats (capture drops, rates,\n"
        "flows, memory), or that it is not running. For a collector reading a capture\n"
        "file it says \"offline run, reading FILE\" and gives totals, not rates.\n"
        "For a worker of this host's run_dir it says how it was started: \"as a daemon\n"
        "by dpi-dualctl start\", \"by systemd\", or \"not by dpi-dualctl start\" (by hand).\n"
        "\n"
        CTL_HELP_CONFIG
        CTL_HELP_CONNECT_ALL
        "  --timeout SEC      seconds to wait at most, 0 to 1000000, decimals allowed\n"
        "                     (default: bus.heartbeat_interval + 1, so a running\n"
        "                     worker always answers)\n"
        "  --json             one JSON object per worker instead of the text\n"
        "                     (tap_stats.offline: true for a capture-file run)\n"
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  the collector answered (when no endpoint can be the collector's: every\n"
        "     endpoint answered)\n"
        "  1  it did not, or the configuration or the bus could not be used\n"
        CTL_HELP_EXIT_USAGE,
    .json = true,
};

#define WRAP_COLUMN 100
#define LABEL_WIDTH 13

typedef Dpidual__V1__Heartbeat heartbeat_msg_t;
typedef Dpidual__V1__TapStats tap_stats_msg_t;

typedef ctl_worker_t worker_t;
typedef ctl_workers_t workers_t;

/*  --------------------------------------------------------------------------
    Text output                                                              */

/*  A "label: item, item, ..." line wrapped under its first item.           */
typedef struct {
    int column;
    bool empty;
} wrap_t;

static void
wrap_begin (wrap_t *wrap, const char *label)
{
    wrap->column = printf ("  %-*s", LABEL_WIDTH - 2, label);
    wrap->empty = true;
}

static void
wrap_item (wrap_t *wrap, const char *format, ...)
{
    char item[512];
    va_list args;
    va_start (args, format);
    int len = vsnprintf (item, sizeof item, format, args);
    va_end (args);
    if (len < 0)
        return;
    if (!wrap->empty && wrap->column + 2 + len > WRAP_COLUMN)
        wrap->column = printf (",\n%*s", LABEL_WIDTH, "") - 2;
    else if (!wrap->empty)
        wrap->column += printf (", ");
    wrap->column += printf ("%s", item);
    wrap->empty = false;
}

static void
wrap_end (wrap_t *wrap)
{
    if (wrap->empty)
        printf ("-");
    putchar ('\n');
}

static void
format_bytes (char *out, size_t outlen, double bytes)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf (out, outlen, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static double
seconds_ago (uint64_t at)
{
    return (double) (bus_mono_ns () - at) / 1e9;
}

static void
print_heartbeat (const heartbeat_msg_t *hb, uint64_t at)
{
    char uptime[64];
    ctl_format_duration (uptime, sizeof uptime, hb->uptime_s);
    printf ("%s@%s: running, pid %u, version %s, up %s (heartbeat %.1f s ago)\n",
            hb->name, hb->host, hb->pid, hb->version, uptime, seconds_ago (at));
    wrap_t wrap;
    wrap_begin (&wrap, "endpoints:");
    for (size_t i = 0; i < hb->n_endpoints; i++)
        wrap_item (&wrap, "%s %s %s", hb->endpoints[i]->socket, hb->endpoints[i]->role,
                   hb->endpoints[i]->endpoint);
    wrap_end (&wrap);
    if (*hb->bus_auth && strcmp (hb->bus_auth, "off") != 0) {
        wrap_begin (&wrap, "bus auth:");
        if (strcmp (hb->bus_auth, "curve-any-client") == 0)
            wrap_item (&wrap, "CURVE, any client key accepted: UNAUTHENTICATED (allow_any)");
        else
            wrap_item (&wrap, "CURVE, clients from allow_dir");
        wrap_item (&wrap, "%llu refused", (unsigned long long) hb->auth_refused);
        wrap_end (&wrap);
    }
    wrap_begin (&wrap, "published:");
    for (size_t i = 0; i < hb->n_published; i++) {
        const Dpidual__V1__TopicCounter *t = hb->published[i];
        if (t->send_errors)
            wrap_item (&wrap, "%s %llu (%llu send errors)", t->topic,
                       (unsigned long long) t->sent, (unsigned long long) t->send_errors);
        else
            wrap_item (&wrap, "%s %llu", t->topic, (unsigned long long) t->sent);
    }
    wrap_end (&wrap);
    if (hb->n_received || hb->decode_errors) {
        wrap_begin (&wrap, "received:");
        for (size_t i = 0; i < hb->n_received; i++) {
            const Dpidual__V1__SourceCounter *s = hb->received[i];
            wrap_item (&wrap, "%s %llu (gaps %llu, restarts %llu, out of order %llu)", s->source,
                       (unsigned long long) s->received, (unsigned long long) s->gaps,
                       (unsigned long long) s->restarts, (unsigned long long) s->out_of_order);
        }
        if (hb->decode_errors)
            wrap_item (&wrap, "%llu undecodable", (unsigned long long) hb->decode_errors);
        wrap_end (&wrap);
    }
    wrap_begin (&wrap, "counters:");
    for (size_t i = 0; i < hb->n_counters; i++)
        wrap_item (&wrap, "%s %llu", hb->counters[i]->name,
                   (unsigned long long) hb->counters[i]->value);
    wrap_end (&wrap);
}

/*  A collector reading capture files: no live rates (they would be the
    file's pace in packet time) and no capture drops (pcap_stats is live).  */
static void
print_offline_stats (const tap_stats_msg_t *st, uint64_t at)
{
    char bytes[64], memory[64];
    format_bytes (bytes, sizeof bytes, (double) st->bytes);
    format_bytes (memory, sizeof memory, (double) st->memory_bytes);
    wrap_t wrap;
    wrap_begin (&wrap, "capture:");
    wrap_item (&wrap, "offline run, reading %s (tap.stats %.1f s ago)",
               *st->interface ? st->interface : "?", seconds_ago (at));
    wrap_end (&wrap);
    wrap_begin (&wrap, "traffic:");
    wrap_item (&wrap, "%llu packets read (%s)", (unsigned long long) st->packets, bytes);
    wrap_item (&wrap, "%llu active flows", (unsigned long long) st->active_flows);
    wrap_item (&wrap, "%llu flows in all", (unsigned long long) st->flows_total);
    wrap_item (&wrap, "memory %s", memory);
    wrap_end (&wrap);
}

static void
print_stats (const tap_stats_msg_t *st, uint64_t at)
{
    if (st->offline) {
        print_offline_stats (st, at);
        return;
    }
    char rate[64], memory[64];
    format_bytes (rate, sizeof rate, st->bytes_per_sec);
    format_bytes (memory, sizeof memory, (double) st->memory_bytes);
    wrap_t wrap;
    wrap_begin (&wrap, "capture:");
    wrap_item (&wrap, "%s: received %llu", *st->interface ? st->interface : "?",
               (unsigned long long) st->capture_received);
    wrap_item (&wrap, "dropped %llu", (unsigned long long) st->capture_dropped);
    wrap_item (&wrap, "if_dropped %llu (tap.stats %.1f s ago)",
               (unsigned long long) st->capture_if_dropped, seconds_ago (at));
    wrap_end (&wrap);
    wrap_begin (&wrap, "traffic:");
    wrap_item (&wrap, "%.1f packets/s", st->packets_per_sec);
    wrap_item (&wrap, "%s/s", rate);
    wrap_item (&wrap, "%llu active flows", (unsigned long long) st->active_flows);
    wrap_item (&wrap, "%llu new in 1 min", (unsigned long long) st->new_flows_1min);
    wrap_item (&wrap, "memory %s", memory);
    wrap_end (&wrap);
}

/*  How worker W was started, when it is a worker of this run directory
    (procs.c): into OUT, with its kind ("daemon", "systemd", "other",
    "stale", "none" or "elsewhere"). False when there is nothing to say.    */
static bool
how_started (const config_t *cfg, const worker_t *w, const char **kind, char *out,
             size_t outlen)
{
    const char *name = w->hb ? w->hb->name : w->target && *w->target->name ? w->target->name
                                                                          : NULL;
    if (!name || !worker_find (name))
        return false;
    long holder, pidfile;
    ctl_started_t how = ctl_how_started (cfg, name, ctl_init_detect (), &holder, &pidfile);
    *kind = ctl_started_kind (how);
    if (w->hb && (!holder || (long) w->hb->pid != holder)) {
        *kind = "elsewhere";
        snprintf (out, outlen, "not from this host's %s (its lock holder is %s)",
                  cfg->global.run_dir, holder ? "another pid" : "nobody");
        return true;
    }
    if (how == CTL_STARTED_NONE)
        return w->hb != NULL;
    ctl_describe_started (cfg, name, how, holder, pidfile, out, outlen);
    return true;
}

static void
print_text (const config_t *cfg, const workers_t *workers, double timeout)
{
    for (size_t i = 0; i < workers->count; i++) {
        const worker_t *w = &workers->items[i];
        const char *kind;
        char started[1024];
        bool said = how_started (cfg, w, &kind, started, sizeof started);
        if (w->hb)
            print_heartbeat (w->hb, w->hb_at);
        else if (w->target && w->target->connects_out)
            printf ("%s: not checked (it connects out to %s)\n", ctl_worker_label (w),
                    w->target->endpoint);
        else if (w->target)
            printf ("%s: not running (no heartbeat on %s in %g s)\n", ctl_worker_label (w),
                    w->target->endpoint, timeout);
        else
            printf ("%s: no heartbeat in %g s\n", w->source, timeout);
        if (said)
            printf ("  %-*s%s\n", LABEL_WIDTH - 2, "started:", started);
        if (w->stats)
            print_stats (w->stats, w->stats_at);
    }
}

/*  --------------------------------------------------------------------------
    JSON output: one object per worker                                       */

static int
json_field (pbjson_buf_t *buf, const char *key, const char *value)
{
    int rc = pbjson_buf_puts (buf, ",\"", 2);
    rc |= pbjson_buf_puts (buf, key, strlen (key));
    rc |= pbjson_buf_puts (buf, "\":", 2);
    if (value)
        rc |= pbjson_buf_string (buf, value, strlen (value));
    return rc;
}

static int
json_number (pbjson_buf_t *buf, const char *key, double value)
{
    char text[64];
    int len = snprintf (text, sizeof text, "%.3f", value);
    return json_field (buf, key, NULL) | pbjson_buf_puts (buf, text, (size_t) len);
}

static int
json_worker (pbjson_buf_t *buf, const config_t *cfg, const worker_t *w, double timeout)
{
    const char *name = w->hb ? w->hb->name : ctl_worker_label (w);
    int rc = pbjson_buf_puts (buf, "{\"worker\":", 10);
    rc |= pbjson_buf_string (buf, name, strlen (name));
    if (*w->source)
        rc |= json_field (buf, "source", w->source);
    if (w->target)
        rc |= json_field (buf, "endpoint", w->target->endpoint);
    bool checked = !(w->target && w->target->connects_out);
    rc |= json_field (buf, "checked", NULL);
    rc |= pbjson_buf_puts (buf, checked ? "true" : "false", checked ? 4 : 5);
    rc |= json_field (buf, "running", NULL);
    rc |= pbjson_buf_puts (buf, w->hb ? "true" : "false", w->hb ? 4 : 5);
    const char *kind;
    char started[1024];
    if (how_started (cfg, w, &kind, started, sizeof started)) {
        rc |= json_field (buf, "started", kind);
        rc |= json_field (buf, "started_how", started);
    }
    if (w->hb) {
        rc |= json_number (buf, "heartbeat_age_s", seconds_ago (w->hb_at));
        rc |= json_field (buf, "heartbeat", NULL);
        rc |= pbjson_append (buf, NULL, &w->hb->base);
    }
    else
        rc |= json_number (buf, "waited_s", timeout);
    if (w->stats) {
        rc |= json_number (buf, "tap_stats_age_s", seconds_ago (w->stats_at));
        rc |= json_field (buf, "tap_stats", NULL);
        rc |= pbjson_append (buf, NULL, &w->stats->base);
    }
    rc |= pbjson_buf_puts (buf, "}", 1);
    return rc;
}

static void
print_json (const config_t *cfg, const workers_t *workers, double timeout)
{
    pbjson_buf_t line = { 0 };
    for (size_t i = 0; i < workers->count; i++) {
        pbjson_buf_reset (&line);
        if (json_worker (&line, cfg, &workers->items[i], timeout) == 0)
            printf ("%s\n", line.data);
    }
    pbjson_buf_free (&line);
}

/*  mitmdump, when this host runs bridge-mitm and mitm.mitmdump.start is
    true or its lock is held (dpi-dualctl mitmdump): how it was started,
    a text line or a JSON object. It sends no heartbeat; the exit status
    does not count it.                                                       */
static void
print_mitmdump (const config_t *cfg, bool json)
{
    bool host[WORKER_COUNT];
    config_host_workers (cfg, host);
    long holder, pidfile;
    ctl_started_t how = ctl_how_started (cfg, "mitmdump", ctl_init_detect (), &holder, &pidfile);
    if (!host[WORKER_BRIDGE_MITM] || (!cfg->mitm.mitmdump.start && !holder))
        return;
    char started[1024];
    ctl_describe_started (cfg, "mitmdump", how, holder, pidfile, started, sizeof started);
    if (!json) {
        if (holder)
            printf ("mitmdump: running, pid %ld (no heartbeat: it is mitmproxy)\n", holder);
        else
            printf ("mitmdump: not running (mitm.mitmdump.start is true)\n");
        printf ("  %-*s%s\n", LABEL_WIDTH - 2, "started:", started);
        return;
    }
    pbjson_buf_t line = { 0 };
    int rc = pbjson_buf_puts (&line, "{\"worker\":\"mitmdump\"", 20);
    rc |= json_field (&line, "running", NULL);
    rc |= pbjson_buf_puts (&line, holder ? "true" : "false", holder ? 4 : 5);
    if (holder) {
        char pid[32];
        int len = snprintf (pid, sizeof pid, "%ld", holder);
        rc |= json_field (&line, "pid", NULL) | pbjson_buf_puts (&line, pid, (size_t) len);
    }
    rc |= json_field (&line, "started", ctl_started_kind (how));
    rc |= json_field (&line, "started_how", started);
    rc |= pbjson_buf_puts (&line, "}", 1);
    if (rc == 0)
        printf ("%s\n", line.data);
    pbjson_buf_free (&line);
}

/*  0 when the collector answered or, when no target can be the collector,
    when every target answered; else 1.                                      */
static int
exit_status (const workers_t *workers)
{
    bool collector_asked = false, collector_seen = false, all_seen = true;
    for (size_t i = 0; i < workers->count; i++) {
        const worker_t *w = &workers->items[i];
        if (w->target && (!*w->target->name || strcmp (w->target->name, "collector") == 0))
            collector_asked = true;
        if (w->hb && strcmp (w->hb->name, "collector") == 0)
            collector_seen = true;
        if (w->target && !w->target->connects_out && !w->hb)
            all_seen = false;
    }
    return collector_seen || (!collector_asked && all_seen) ? 0 : 1;
}

int
cmd_status (int argc, char **argv)
{
    ctl_listen_opts_t o;
    int rc = ctl_listen_options (argc, argv, &ctl_status_command, &o);
    if (rc != 0 || o.help) {
        ctl_listen_options_free (&o);
        return rc;
    }
    ctl_heartbeats_t h;
    if (ctl_heartbeats_open (&h, &o) != 0) {
        ctl_listen_options_free (&o);
        return 1;
    }
    ctl_workers_collect (h.sub, &h.workers, bus_mono_ns () + (uint64_t) (h.timeout * 1e9), true);

    if (o.json)
        print_json (h.cfg, &h.workers, h.timeout);
    else
        print_text (h.cfg, &h.workers, h.timeout);
    print_mitmdump (h.cfg, o.json);
    fflush (stdout);
    rc = exit_status (&h.workers);
    ctl_heartbeats_close (&h, "status");
    ctl_listen_options_free (&o);
    return rc;
}
