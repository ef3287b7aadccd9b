/*  dpi-dualctl topology [-c FILE] [--connect EP]... [--timeout SEC]
                         [--json | --dot] [--watch [SEC]]

    Who feeds whom, from the workers' heartbeats (heartbeats.c collects
    them, as for status): every host, every worker on it, and an edge from
    a publisher to each subscriber that takes its messages.

    Nodes. A worker that sent a heartbeat is up until it has sent none for
    more than 3 of its intervals (Heartbeat.interval_s): then stale. A
    target (a worker of the config, or a --connect endpoint) that sent none
    in the wait is stale too ("expected but silent"); one that connects out
    (">") cannot be listened to and is "unchecked". A source that appears
    only in another worker's received counters is shown as well, "heard
    of" (not listened to: with --connect, not every endpoint is asked).

    Edges. A publisher's pub endpoint and a subscriber's sub endpoint meet
    when their addresses are the same and one side binds while the other
    connects (either way round: "@"/">"); a tcp:// bind on a wildcard host
    (*, 0.0.0.0, ::) meets a connect to any host on the same port. The
    edge's topics are those the publisher sends (its heartbeat's and its
    WORKER_LIST row's) that the subscriber's subscriptions take. A
    subscriber that counts messages from a source no endpoint explains
    gets an edge too. The counters of an edge are the subscriber's for that
    source: rate, received, gaps, restarts, out of order, last message age.

    Output: an ASCII tree per host (default), one JSON object (--json, one
    line), or a Graphviz digraph (--dot). --watch [SEC]: again every SEC
    seconds (default bus.heartbeat_interval) until interrupted; on a
    terminal the screen is cleared and redrawn, otherwise the snapshots
    follow one another (JSON: one line each; tree and dot: a blank line
    between them).

    Exit status: 0 every worker asked for is up, 1 one is stale or silent
    (or none answered, or the config or the bus could not be used), 2 usage
    error. With --watch, that of the last snapshot.                        */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "endpoint.h"
#include "topics.h"
#include "topology.h"

const ctl_command_t ctl_topology_command = {
    .name = "topology",
    .usage = "usage: dpi-dualctl topology [-c FILE] [--connect EP]... [--timeout SEC]\n"
             "                            [--json | --dot] [--watch [SEC]]\n",
    .help =
        "Who feeds whom, from the workers' heartbeats: every host, every worker (pid,\n"
        "uptime, heartbeat age), what each publishes (messages a second and in all),\n"
        "and an edge from each publisher to each subscriber whose endpoint meets its\n"
        "own (the same address, one side binding and the other connecting) and whose\n"
        "subscriptions take its topics, with the subscriber's counts: messages a\n"
        "second, received, gaps, restarts, age of the last message. Drops: send\n"
        "errors, messages sent to nobody (unheard), undecodable ones, gaps. A worker\n"
        "is STALE when its last heartbeat is older than 3 of its intervals, or when\n"
        "it is expected (the config, --connect) but sent none in the wait.\n"
        "\n"
        CTL_HELP_CONFIG
        "  --connect EP       listen to EP (repeatable: both hosts' endpoints at once)\n"
        "                     instead of every worker's endpoint from the config\n"
        "                     (bus.endpoints.*)\n"
        "  --timeout SEC      seconds to wait for the heartbeats, 0 to 1000000,\n"
        "                     decimals allowed (default: bus.heartbeat_interval + 1,\n"
        "                     so a running worker always answers)\n"
        "  --json             one JSON object (one line): hosts, workers, edges\n"
        "  --dot              a Graphviz digraph (dot -Tsvg), one cluster per host\n"
        "  --watch [SEC]      again every SEC seconds, 0.1 to 1000000 (default:\n"
        "                     bus.heartbeat_interval), until Ctrl-C; on a terminal\n"
        "                     redrawn in place, else one snapshot after the other\n"
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  every worker asked for is up\n"
        "  1  one is stale or silent, or none answered, or the configuration or the\n"
        "     bus could not be used (with --watch: of the last snapshot)\n"
        CTL_HELP_EXIT_USAGE,
    .json = true,
    .dot = true,
    .watch = true,
};

typedef Dpidual__V1__Heartbeat hb_t;
typedef topo_node_t node_t;
typedef topo_edge_t edge_t;
#define NODE_UP TOPO_UP
#define NODE_STALE TOPO_STALE
#define NODE_UNCHECKED TOPO_UNCHECKED
#define NODE_HEARD_OF TOPO_HEARD_OF

static void
format_wall (char *out, size_t outlen, uint64_t ns)
{
    time_t s = (time_t) (ns / 1000000000ull);
    struct tm tm;
    gmtime_r (&s, &tm);
    strftime (out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/*  --------------------------------------------------------------------------
    The tree                                                                 */

/*  The counters of an edge: "9.8/s, received 118, gaps 0, ...".            */
static void
edge_counts (const edge_t *e, char *out, size_t outlen)
{
    if (!e->rx) {
        snprintf (out, outlen, "nothing received yet");
        return;
    }
    snprintf (out, outlen,
              "%.1f/s, received %llu, gaps %llu, restarts %llu, out of order %llu, "
              "last %.1f s ago",
              e->rx->rate, (unsigned long long) e->rx->received, (unsigned long long) e->rx->gaps,
              (unsigned long long) e->rx->restarts, (unsigned long long) e->rx->out_of_order,
              (double) e->rx->last_age_ms / 1000.0);
}

/*  One line of a worker's subtree: BRANCH then the text.                   */
static void
leaf (const char *indent, bool last, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static void
leaf (const char *indent, bool last, const char *format, ...)
{
    printf ("%s%s", indent, last ? "`-- " : "|-- ");
    va_list args;
    va_start (args, format);
    vprintf (format, args);
    va_end (args);
    putchar ('\n');
}

static void
print_node (const topo_t *t, size_t k, const char *indent, bool last)
{
    const node_t *n = &t->nodes[k];
    const hb_t *hb = n->hb;
    char head[1024] = "";
    size_t len = 0;
    if (n->state == NODE_STALE)
        len += (size_t) snprintf (head + len, sizeof head - len, "STALE (%s)", n->why);
    else if (n->state == NODE_UNCHECKED)
        len += (size_t) snprintf (head + len, sizeof head - len, "unchecked (%s)", n->why);
    else if (n->state == NODE_HEARD_OF)
        len += (size_t) snprintf (head + len, sizeof head - len, "heard of (%s)", n->why);
    else
        len += (size_t) snprintf (head + len, sizeof head - len, "up");
    if (hb) {
        char uptime[64];
        ctl_format_duration (uptime, sizeof uptime, hb->uptime_s);
        snprintf (head + len, sizeof head - len,
                  ", pid %u, version %s, up %s, heartbeat %.1f s ago (every %u s), bus auth %s",
                  hb->pid, hb->version, uptime, n->hb_age, hb->interval_s,
                  *hb->bus_auth ? hb->bus_auth : "off");
    }
    printf ("%s%s%s: %s\n", indent, last ? "`-- " : "|-- ", n->id, head);

    char sub_indent[64];
    snprintf (sub_indent, sizeof sub_indent, "%s%s", indent, last ? "    " : "|   ");
    /* the lines under it, counted first to know the last one */
    size_t lines = 0, feeds = 0, fed = 0;
    for (size_t i = 0; i < t->nedges; i++) {
        feeds += t->edges[i].from == k;
        fed += t->edges[i].to == k;
    }
    if (hb)
        lines = hb->n_endpoints + (hb->n_subscriptions > 0) + 1; /* endpoints, subscribed, drops */
    else if (n->pub)
        lines = 1;
    lines += feeds + fed;
    size_t done = 0;
    if (hb) {
        for (size_t i = 0; i < hb->n_endpoints; i++) {
            const Dpidual__V1__Endpoint *ep = hb->endpoints[i];
            char what[2048] = "";
            size_t wl = 0;
            if (strcmp (ep->socket, "pub") == 0)
                for (size_t j = 0; j < hb->n_published && wl < sizeof what; j++) {
                    const Dpidual__V1__TopicCounter *tc = hb->published[j];
                    wl += (size_t) snprintf (what + wl, sizeof what - wl, "%s%s %.1f/s (%llu)",
                                             j ? ", " : ": ", tc->topic, tc->rate,
                                             (unsigned long long) tc->sent);
                }
            leaf (sub_indent, ++done == lines, "%s %s %s%s", ep->socket, ep->role, ep->endpoint,
                  what);
        }
        if (hb->n_subscriptions) {
            char what[2048] = "";
            size_t wl = 0;
            for (size_t j = 0; j < hb->n_subscriptions && wl < sizeof what; j++)
                wl += (size_t) snprintf (what + wl, sizeof what - wl, "%s%s", j ? " " : "",
                                         *hb->subscriptions[j] ? hb->subscriptions[j] : "(all)");
            leaf (sub_indent, ++done == lines, "subscribed: %s", what);
        }
        topo_drops_t d = topo_drops_of (hb);
        char capture[128] = "";
        if (n->w && n->w->stats)
            snprintf (capture, sizeof capture, ", capture dropped %llu, if_dropped %llu",
                      (unsigned long long) n->w->stats->capture_dropped,
                      (unsigned long long) n->w->stats->capture_if_dropped);
        leaf (sub_indent, ++done == lines,
              "drops: send errors %llu, unheard %llu, undecodable %llu, gaps %llu%s",
              (unsigned long long) d.send_errors, (unsigned long long) d.unheard,
              (unsigned long long) hb->decode_errors, (unsigned long long) d.gaps, capture);
    }
    else if (n->pub)
        leaf (sub_indent, ++done == lines, "pub %s %s (from the config)",
              n->pub_binds ? "bind" : "connect", n->pub);
    char counts[256];
    for (size_t i = 0; i < t->nedges; i++) {
        const edge_t *e = &t->edges[i];
        if (e->from != k)
            continue;
        edge_counts (e, counts, sizeof counts);
        leaf (sub_indent, ++done == lines, "feeds %s (%s): %s", t->nodes[e->to].id,
              *e->topics ? e->topics : "by source only", counts);
    }
    for (size_t i = 0; i < t->nedges; i++) {
        const edge_t *e = &t->edges[i];
        if (e->to != k)
            continue;
        edge_counts (e, counts, sizeof counts);
        leaf (sub_indent, ++done == lines, "fed by %s (%s): %s", t->nodes[e->from].id,
              *e->topics ? e->topics : "by source only", counts);
    }
}

static void
print_tree (const topo_t *t)
{
    char when[64];
    format_wall (when, sizeof when, t->wall_ns);
    size_t stale = topo_count_state (t, NODE_STALE);
    size_t hosts = t->nhosts - (t->nhosts && !*t->hosts[t->nhosts - 1]);
    printf ("topology at %s: %zu workers (%zu stale) on %zu host%s, %zu edges; heartbeats from "
            "%s\n",
            when, t->nnodes, stale, hosts, hosts == 1 ? "" : "s", t->nedges,
            *t->listened ? t->listened : "-");
    for (size_t h = 0; h < t->nhosts; h++) {
        const char *host = t->hosts[h];
        if (*host)
            printf ("host %s\n", host);
        else
            printf ("host ? (no heartbeat: host unknown)\n");
        size_t last = 0;
        for (size_t i = 0; i < t->nnodes; i++)
            if (strcmp (t->nodes[i].host, host) == 0)
                last = i;
        for (size_t i = 0; i < t->nnodes; i++)
            if (strcmp (t->nodes[i].host, host) == 0)
                print_node (t, i, "", i == last);
    }
}

/*  --------------------------------------------------------------------------
    JSON                                                                     */

static void
print_json (const topo_t *t)
{
    json_t *root = topo_json (t);
    char *text = root ? json_dumps (root, JSON_COMPACT | JSON_REAL_PRECISION (12)) : NULL;
    if (text)
        printf ("%s\n", text);
    free (text);
    json_decref (root);
}

/*  --------------------------------------------------------------------------
    Graphviz                                                                 */

/*  TEXT as a DOT string: quoted, " and \ escaped, a newline as \n.          */
static void
dot_string (const char *text)
{
    putchar ('"');
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf ("\\%c", *p);
        else if (*p == '\n')
            printf ("\\n");
        else
            putchar (*p);
    }
    putchar ('"');
}

static void
dot_node (const topo_t *t, size_t k, const char *indent)
{
    const node_t *n = &t->nodes[k];
    char label[1024];
    size_t len = (size_t) snprintf (label, sizeof label, "%s", n->name);
    if (n->hb) {
        char uptime[64];
        ctl_format_duration (uptime, sizeof uptime, n->hb->uptime_s);
        len += (size_t) snprintf (label + len, sizeof label - len,
                                  "\npid %u, up %s\nheartbeat %.1f s ago", n->hb->pid, uptime,
                                  n->hb_age);
    }
    if (n->state == NODE_STALE)
        snprintf (label + len, sizeof label - len, "\nSTALE: %s", n->why);
    else if (n->state == NODE_UNCHECKED)
        snprintf (label + len, sizeof label - len, "\nunchecked");
    else if (n->state == NODE_HEARD_OF)
        snprintf (label + len, sizeof label - len, "\nnot listened to");
    printf ("%s", indent);
    dot_string (n->id);
    printf (" [label=");
    dot_string (label);
    if (n->state == NODE_STALE)
        printf (", color=red, fontcolor=red, style=dashed");
    else if (n->state != NODE_UP)
        printf (", color=gray, style=dotted");
    printf ("];\n");
}

static void
print_dot (const topo_t *t)
{
    char when[64];
    format_wall (when, sizeof when, t->wall_ns);
    printf ("digraph \"dpi-dual\" {\n"
            "  label=");
    dot_string (when);
    printf (";\n  labelloc=t;\n  rankdir=LR;\n"
            "  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
            "  edge [fontname=\"Helvetica\", fontsize=9];\n");
    for (size_t h = 0; h < t->nhosts; h++) {
        const char *host = t->hosts[h];
        const char *indent = "  ";
        if (*host) {
            char label[160];
            snprintf (label, sizeof label, "host %s", host);
            printf ("  subgraph \"cluster_%zu\" {\n    label=", h);
            dot_string (label);
            printf (";\n");
            indent = "    ";
        }
        for (size_t i = 0; i < t->nnodes; i++)
            if (strcmp (t->nodes[i].host, host) == 0)
                dot_node (t, i, indent);
        if (*host)
            printf ("  }\n");
    }
    for (size_t i = 0; i < t->nedges; i++) {
        const edge_t *e = &t->edges[i];
        char label[1024], counts[256] = "";
        if (e->rx)
            snprintf (counts, sizeof counts, "%.1f/s, gaps %llu, last %.1f s ago", e->rx->rate,
                      (unsigned long long) e->rx->gaps, (double) e->rx->last_age_ms / 1000.0);
        snprintf (label, sizeof label, "%s\n%s", *e->topics ? e->topics : "(by source)",
                  e->rx ? counts : "nothing received yet");
        printf ("  ");
        dot_string (t->nodes[e->from].id);
        printf (" -> ");
        dot_string (t->nodes[e->to].id);
        printf (" [label=");
        dot_string (label);
        if (e->rx && e->rx->gaps)
            printf (", color=orange");
        printf ("];\n");
    }
    printf ("}\n");
}

/*  --------------------------------------------------------------------------
    The command                                                              */

static int
snapshot (const ctl_workers_t *workers, const ctl_listen_opts_t *o, double waited,
          const char *listened, int interval)
{
    topo_t t;
    if (topo_build (&t, workers, waited, o->nconnect == 0, interval) != 0) {
        topo_free (&t);
        fprintf (stderr, "dpi-dualctl topology: out of memory\n");
        return 1;
    }
    snprintf (t.listened, sizeof t.listened, "%s", listened);
    if (o->json)
        print_json (&t);
    else if (o->dot)
        print_dot (&t);
    else
        print_tree (&t);
    fflush (stdout);
    bool any_up = topo_count_state (&t, NODE_UP) > 0;
    int rc = any_up && topo_count_state (&t, NODE_STALE) == 0 ? 0 : 1;
    topo_free (&t);
    return rc;
}

int
cmd_topology (int argc, char **argv)
{
    ctl_listen_opts_t o;
    int rc = ctl_listen_options (argc, argv, &ctl_topology_command, &o);
    if (rc == 0 && !o.help && o.json && o.dot)
        rc = ctl_usage_error (&ctl_topology_command, "--json and --dot: choose one");
    if (rc != 0 || o.help) {
        ctl_listen_options_free (&o);
        return rc;
    }
    ctl_heartbeats_t h;
    if (ctl_heartbeats_open (&h, &o) != 0) {
        ctl_listen_options_free (&o);
        return 1;
    }
    char listened[2048];
    ctl_targets_join (h.targets, h.ntargets, listened, sizeof listened);
    int interval = h.cfg->bus.heartbeat_interval;

    uint64_t started = bus_mono_ns ();
    ctl_workers_collect (h.sub, &h.workers, started + (uint64_t) (h.timeout * 1e9), true);
    double waited = (double) (bus_mono_ns () - started) / 1e9;
    bool tty = isatty (STDOUT_FILENO);
    if (o.watch >= 0 && tty)
        printf ("\033[H\033[2J");
    rc = snapshot (&h.workers, &o, o.watch >= 0 ? waited : h.timeout, listened, interval);
    double every = o.watch > 0 ? o.watch : interval;
    while (o.watch >= 0 && !zsys_interrupted) {
        uint64_t round = bus_mono_ns ();
        ctl_workers_collect (h.sub, &h.workers, round + (uint64_t) (every * 1e9), false);
        if (zsys_interrupted)
            break;
        waited += (double) (bus_mono_ns () - round) / 1e9;
        if (tty)
            printf ("\033[H\033[2J");
        else if (!o.json)
            putchar ('\n');
        rc = snapshot (&h.workers, &o, waited, listened, interval);
    }
    ctl_heartbeats_close (&h, "topology");
    ctl_listen_options_free (&o);
    return rc;
}
