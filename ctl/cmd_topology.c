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
typedef Dpidual__V1__SourceCounter rx_t;

typedef enum { NODE_UP, NODE_STALE, NODE_UNCHECKED, NODE_HEARD_OF } node_state_t;

typedef struct {
    char id[256];                   /* "name@host"; the name, or the endpoint,
                                       of a worker never heard              */
    char name[128];
    char host[128];                 /* "" unknown                            */
    const ctl_worker_t *w;          /* NULL: only heard of                   */
    const hb_t *hb;                 /* NULL: no heartbeat                    */
    double hb_age;                  /* seconds, when hb                      */
    node_state_t state;
    char why[512];                  /* of STALE and UNCHECKED                */
    const char *pub;                /* its publisher endpoint, NULL unknown  */
    bool pub_binds;
} node_t;

typedef struct {
    size_t from, to;
    const char *endpoint;           /* where they meet, NULL: by source only */
    char topics[512];               /* space separated                       */
    const rx_t *rx;                 /* the subscriber's counters, or NULL    */
} edge_t;

typedef struct {
    node_t *nodes;
    size_t nnodes;
    edge_t *edges;
    size_t nedges;
    char hosts[64][128];            /* in order of appearance; "" unknown last */
    size_t nhosts;
    uint64_t wall_ns;
    double waited;
    char listened[2048];            /* the endpoints listened to             */
} topo_t;

static void
topo_free (topo_t *t)
{
    free (t->nodes);
    free (t->edges);
    memset (t, 0, sizeof *t);
}

static node_t *
node_add (topo_t *t)
{
    node_t *grown = realloc (t->nodes, (t->nnodes + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    t->nodes = grown;
    node_t *n = &t->nodes[t->nnodes++];
    memset (n, 0, sizeof *n);
    return n;
}

static long
node_find (const topo_t *t, const char *id)
{
    for (size_t i = 0; i < t->nnodes; i++)
        if (strcmp (t->nodes[i].id, id) == 0)
            return (long) i;
    return -1;
}

/*  "name@host" into NAME and HOST.                                          */
static void
split_source (const char *source, char *name, size_t namelen, char *host, size_t hostlen)
{
    size_t at = strcspn (source, "@");
    snprintf (name, namelen, "%.*s", (int) at, source);
    snprintf (host, hostlen, "%s", source[at] ? source + at + 1 : "");
}

static const Dpidual__V1__Endpoint *
hb_pub (const hb_t *hb)
{
    for (size_t i = 0; hb && i < hb->n_endpoints; i++)
        if (strcmp (hb->endpoints[i]->socket, "pub") == 0)
            return hb->endpoints[i];
    return NULL;
}

/*  The node of a worker of the collection.                                  */
static void
node_of_worker (node_t *n, const ctl_worker_t *w, double waited, bool from_config,
                int default_interval)
{
    n->w = w;
    n->hb = w->hb;
    const ctl_target_t *t = w->target;
    if (w->hb) {
        snprintf (n->id, sizeof n->id, "%s", w->source);
        snprintf (n->name, sizeof n->name, "%s", w->hb->name);
        snprintf (n->host, sizeof n->host, "%s", w->hb->host);
        n->hb_age = (double) (bus_mono_ns () - w->hb_at) / 1e9;
        unsigned interval = w->hb->interval_s ? w->hb->interval_s : (unsigned) default_interval;
        n->state = n->hb_age > 3.0 * interval ? NODE_STALE : NODE_UP;
        if (n->state == NODE_STALE)
            snprintf (n->why, sizeof n->why, "no heartbeat for %.1f s (> 3 x %u s)", n->hb_age,
                      interval);
        const Dpidual__V1__Endpoint *pub = hb_pub (w->hb);
        if (pub) {
            n->pub = pub->endpoint;
            n->pub_binds = strcmp (pub->role, "bind") == 0;
        }
        return;
    }
    if (!t) {                       /* only its tap.stats came, unasked */
        snprintf (n->id, sizeof n->id, "%s", w->source);
        split_source (w->source, n->name, sizeof n->name, n->host, sizeof n->host);
        n->state = NODE_STALE;
        snprintf (n->why, sizeof n->why, "tap.stats but no heartbeat in %.1f s", waited);
        return;
    }
    snprintf (n->name, sizeof n->name, "%s", *t->name ? t->name : t->endpoint);
    snprintf (n->id, sizeof n->id, "%s", *w->source ? w->source : n->name);
    /* a --connect "@EP" is bound here: the worker behind it connects */
    n->pub = endpoint_address (t->endpoint);
    n->pub_binds = !t->connects_out && *t->endpoint != '@';
    if (t->connects_out) {
        n->state = NODE_UNCHECKED;
        snprintf (n->why, sizeof n->why,
                  "it connects out to %s: not listened to (--connect @%s to bind it here)",
                  t->endpoint, t->endpoint);
    }
    else {
        n->state = NODE_STALE;
        snprintf (n->why, sizeof n->why, "expected %s but no heartbeat on %s in %.1f s",
                  from_config ? "from the config" : "(--connect)", t->endpoint, waited);
    }
}

/*  A source named in a received counter: its node, made when unknown (a
    silent target of that name takes it).                                   */
static long
node_of_source (topo_t *t, const char *source, const char *seen_by)
{
    long i = node_find (t, source);
    if (i >= 0)
        return i;
    char name[128], host[128];
    split_source (source, name, sizeof name, host, sizeof host);
    for (size_t k = 0; k < t->nnodes; k++) {
        node_t *n = &t->nodes[k];
        if (!n->hb && n->w && strcmp (n->name, name) == 0 && !*n->host) {
            snprintf (n->id, sizeof n->id, "%s", source);
            snprintf (n->host, sizeof n->host, "%s", host);
            return (long) k;
        }
    }
    node_t *n = node_add (t);
    if (!n)
        return -1;
    snprintf (n->id, sizeof n->id, "%s", source);
    snprintf (n->name, sizeof n->name, "%s", name);
    snprintf (n->host, sizeof n->host, "%s", host);
    n->state = NODE_HEARD_OF;
    snprintf (n->why, sizeof n->why, "not listened to: known from what %s received", seen_by);
    return (long) (t->nnodes - 1);
}

static bool
endpoints_meet (const char *pub, bool pub_binds, const char *sub, bool sub_binds)
{
    if (pub_binds == sub_binds)
        return false;               /* two binds or two connects never meet */
    return pub_binds ? ctl_address_reaches (pub, sub) : ctl_address_reaches (sub, pub);
}

static bool
has_word (const char *list, const char *word)
{
    size_t len = strlen (word);
    for (const char *p = list; (p = strstr (p, word)); p += len)
        if ((p == list || p[-1] == ' ') && (p[len] == ' ' || !p[len]))
            return true;
    return false;
}

static void
add_word (char *list, size_t size, const char *word)
{
    if (has_word (list, word))
        return;
    size_t len = strlen (list);
    snprintf (list + len, size - len, "%s%s", len ? " " : "", word);
}

/*  The topics P sends: its heartbeat's, and its WORKER_LIST row's.          */
static void
topics_sent (const node_t *p, char *out, size_t outlen)
{
    out[0] = 0;
    const worker_info_t *info = worker_find (p->name);
    if (info) {
        char row[256];
        snprintf (row, sizeof row, "%s", info->publishes);
        for (char *save, *w = strtok_r (row, " ", &save); w; w = strtok_r (NULL, " ", &save))
            add_word (out, outlen, w);
    }
    for (size_t i = 0; p->hb && i < p->hb->n_published; i++)
        add_word (out, outlen, p->hb->published[i]->topic);
    add_word (out, outlen, TOPIC_HEARTBEAT);
}

/*  Of TOPICS, those that a subscription of S takes, into OUT.               */
static void
topics_taken (const hb_t *s, const char *topics, char *out, size_t outlen)
{
    out[0] = 0;
    char list[512];
    snprintf (list, sizeof list, "%s", topics);
    for (char *save, *w = strtok_r (list, " ", &save); w; w = strtok_r (NULL, " ", &save))
        for (size_t i = 0; i < s->n_subscriptions; i++)
            if (strncmp (w, s->subscriptions[i], strlen (s->subscriptions[i])) == 0) {
                add_word (out, outlen, w);
                break;
            }
}

static const rx_t *
received_from (const hb_t *s, const char *source)
{
    for (size_t i = 0; s && i < s->n_received; i++)
        if (strcmp (s->received[i]->source, source) == 0)
            return s->received[i];
    return NULL;
}

static long
edge_find (const topo_t *t, size_t from, size_t to)
{
    for (size_t i = 0; i < t->nedges; i++)
        if (t->edges[i].from == from && t->edges[i].to == to)
            return (long) i;
    return -1;
}

static edge_t *
edge_add (topo_t *t, size_t from, size_t to)
{
    edge_t *grown = realloc (t->edges, (t->nedges + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    t->edges = grown;
    edge_t *e = &t->edges[t->nedges++];
    memset (e, 0, sizeof *e);
    e->from = from;
    e->to = to;
    return e;
}

static void
find_edges (topo_t *t)
{
    for (size_t p = 0; p < t->nnodes; p++) {
        const node_t *pub = &t->nodes[p];
        if (!pub->pub)
            continue;
        char sent[512];
        topics_sent (pub, sent, sizeof sent);
        for (size_t s = 0; s < t->nnodes; s++) {
            const hb_t *hb = t->nodes[s].hb;
            if (s == p || !hb)
                continue;
            for (size_t i = 0; i < hb->n_endpoints; i++) {
                const Dpidual__V1__Endpoint *ep = hb->endpoints[i];
                if (strcmp (ep->socket, "sub") != 0
                    || !endpoints_meet (pub->pub, pub->pub_binds, ep->endpoint,
                                        strcmp (ep->role, "bind") == 0))
                    continue;
                char taken[512];
                topics_taken (hb, sent, taken, sizeof taken);
                const rx_t *rx = received_from (hb, pub->id);
                if (!*taken && !rx)
                    continue;
                edge_t *e = edge_find (t, p, s) < 0 ? edge_add (t, p, s) : NULL;
                if (e) {
                    e->endpoint = pub->pub;
                    snprintf (e->topics, sizeof e->topics, "%s", taken);
                    e->rx = rx;
                }
                break;
            }
        }
    }
    /* a subscriber's sources that no endpoint explained */
    for (size_t s = 0; s < t->nnodes; s++) {
        const hb_t *hb = t->nodes[s].hb;
        for (size_t i = 0; hb && i < hb->n_received; i++) {
            long p = node_find (t, hb->received[i]->source);
            if (p < 0 || (size_t) p == s || edge_find (t, (size_t) p, s) >= 0)
                continue;
            edge_t *e = edge_add (t, (size_t) p, s);
            if (e)
                e->rx = hb->received[i];
        }
    }
}

static void
note_host (topo_t *t, const char *host)
{
    for (size_t i = 0; i < t->nhosts; i++)
        if (strcmp (t->hosts[i], host) == 0)
            return;
    if (t->nhosts < sizeof t->hosts / sizeof t->hosts[0])
        snprintf (t->hosts[t->nhosts++], sizeof t->hosts[0], "%s", host);
}

static int
topo_build (topo_t *t, const ctl_workers_t *workers, double waited, bool from_config,
            int default_interval)
{
    memset (t, 0, sizeof *t);
    t->wall_ns = bus_now_ns ();
    t->waited = waited;
    for (size_t i = 0; i < workers->count; i++) {
        node_t *n = node_add (t);
        if (!n)
            return -1;
        node_of_worker (n, &workers->items[i], waited, from_config, default_interval);
    }
    size_t known = t->nnodes;
    for (size_t k = 0; k < known; k++) {
        const hb_t *hb = t->nodes[k].hb;
        for (size_t i = 0; hb && i < hb->n_received; i++) {
            char by[256];
            snprintf (by, sizeof by, "%s", t->nodes[k].id);
            if (node_of_source (t, hb->received[i]->source, by) < 0)
                return -1;
        }
    }
    find_edges (t);
    for (size_t i = 0; i < t->nnodes; i++)
        if (*t->nodes[i].host)
            note_host (t, t->nodes[i].host);
    for (size_t i = 0; i < t->nnodes; i++)
        if (!*t->nodes[i].host) {
            note_host (t, "");
            break;
        }
    return 0;
}

static size_t
count_state (const topo_t *t, node_state_t state)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nnodes; i++)
        n += t->nodes[i].state == state;
    return n;
}

typedef struct {
    uint64_t send_errors, unheard, gaps, restarts, out_of_order;
} drops_t;

static drops_t
drops_of (const hb_t *hb)
{
    drops_t d = { 0 };
    for (size_t i = 0; hb && i < hb->n_published; i++) {
        d.send_errors += hb->published[i]->send_errors;
        d.unheard += hb->published[i]->unheard;
    }
    for (size_t i = 0; hb && i < hb->n_received; i++) {
        d.gaps += hb->received[i]->gaps;
        d.restarts += hb->received[i]->restarts;
        d.out_of_order += hb->received[i]->out_of_order;
    }
    return d;
}

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
        drops_t d = drops_of (hb);
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
    size_t stale = count_state (t, NODE_STALE);
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

static json_t *
real3 (double value)
{
    return json_real (round (value * 1000.0) / 1000.0);
}

static const char *
state_name (node_state_t state)
{
    return state == NODE_UP ? "up" : state == NODE_STALE ? "stale"
           : state == NODE_UNCHECKED ? "unchecked" : "heard-of";
}

static json_t *
json_node (const node_t *n)
{
    json_t *o = json_pack ("{s:s, s:s, s:s?, s:s, s:b}", "id", n->id, "name", n->name, "host",
                           *n->host ? n->host : NULL, "state", state_name (n->state), "stale",
                           n->state == NODE_STALE);
    if (*n->why)
        json_object_set_new (o, "why", json_string (n->why));
    if (n->pub) {
        json_object_set_new (o, "pub", json_string (n->pub));
        json_object_set_new (o, "pub_role", json_string (n->pub_binds ? "bind" : "connect"));
    }
    const hb_t *hb = n->hb;
    if (!hb)
        return o;
    json_object_set_new (o, "heartbeat_age_s", real3 (n->hb_age));
    json_object_set_new (o, "interval_s", json_integer (hb->interval_s));
    json_object_set_new (o, "pid", json_integer (hb->pid));
    json_object_set_new (o, "version", json_string (hb->version));
    json_object_set_new (o, "uptime_s", json_integer ((json_int_t) hb->uptime_s));
    json_object_set_new (o, "bus_auth", json_string (*hb->bus_auth ? hb->bus_auth : "off"));
    json_object_set_new (o, "auth_refused", json_integer ((json_int_t) hb->auth_refused));
    json_object_set_new (o, "decode_errors", json_integer ((json_int_t) hb->decode_errors));
    json_t *eps = json_array (), *subs = json_array (), *pubd = json_array (),
           *rcvd = json_array ();
    for (size_t i = 0; i < hb->n_endpoints; i++)
        json_array_append_new (eps, json_pack ("{s:s, s:s, s:s}", "endpoint",
                                               hb->endpoints[i]->endpoint, "role",
                                               hb->endpoints[i]->role, "socket",
                                               hb->endpoints[i]->socket));
    for (size_t i = 0; i < hb->n_subscriptions; i++)
        json_array_append_new (subs, json_string (hb->subscriptions[i]));
    for (size_t i = 0; i < hb->n_published; i++) {
        const Dpidual__V1__TopicCounter *tc = hb->published[i];
        json_t *p = json_pack ("{s:s, s:I, s:I, s:I}", "topic", tc->topic, "sent",
                               (json_int_t) tc->sent, "send_errors", (json_int_t) tc->send_errors,
                               "unheard", (json_int_t) tc->unheard);
        json_object_set_new (p, "rate", real3 (tc->rate));
        json_array_append_new (pubd, p);
    }
    for (size_t i = 0; i < hb->n_received; i++) {
        const rx_t *rx = hb->received[i];
        json_t *r = json_pack ("{s:s, s:I, s:I, s:I, s:I}", "source", rx->source, "received",
                               (json_int_t) rx->received, "gaps", (json_int_t) rx->gaps,
                               "restarts", (json_int_t) rx->restarts, "out_of_order",
                               (json_int_t) rx->out_of_order);
        json_object_set_new (r, "rate", real3 (rx->rate));
        json_object_set_new (r, "last_age_s", real3 ((double) rx->last_age_ms / 1000.0));
        json_array_append_new (rcvd, r);
    }
    json_object_set_new (o, "endpoints", eps);
    json_object_set_new (o, "subscriptions", subs);
    json_object_set_new (o, "published", pubd);
    json_object_set_new (o, "received", rcvd);
    drops_t d = drops_of (hb);
    json_object_set_new (o, "drops",
                         json_pack ("{s:I, s:I, s:I, s:I}", "send_errors",
                                    (json_int_t) d.send_errors, "unheard", (json_int_t) d.unheard,
                                    "undecodable", (json_int_t) hb->decode_errors, "gaps",
                                    (json_int_t) d.gaps));
    return o;
}

static void
print_json (const topo_t *t)
{
    json_t *root = json_object (), *hosts = json_array (), *nodes = json_array (),
           *edges = json_array ();
    json_object_set_new (root, "time_ns", json_integer ((json_int_t) t->wall_ns));
    json_object_set_new (root, "listened", json_string (t->listened));
    for (size_t h = 0; h < t->nhosts; h++) {
        json_t *ids = json_array ();
        for (size_t i = 0; i < t->nnodes; i++)
            if (strcmp (t->nodes[i].host, t->hosts[h]) == 0)
                json_array_append_new (ids, json_string (t->nodes[i].id));
        json_array_append_new (hosts, json_pack ("{s:s?, s:o}", "host",
                                                 *t->hosts[h] ? t->hosts[h] : NULL, "workers",
                                                 ids));
    }
    for (size_t i = 0; i < t->nnodes; i++)
        json_array_append_new (nodes, json_node (&t->nodes[i]));
    for (size_t i = 0; i < t->nedges; i++) {
        const edge_t *e = &t->edges[i];
        json_t *topics = json_array ();
        char list[512];
        snprintf (list, sizeof list, "%s", e->topics);
        for (char *save, *w = strtok_r (list, " ", &save); w; w = strtok_r (NULL, " ", &save))
            json_array_append_new (topics, json_string (w));
        json_t *o = json_pack ("{s:s, s:s, s:s?, s:o, s:s}", "from", t->nodes[e->from].id, "to",
                               t->nodes[e->to].id, "endpoint", e->endpoint, "topics", topics,
                               "matched", e->endpoint ? "endpoint" : "source");
        if (e->rx) {
            json_object_set_new (o, "received", json_integer ((json_int_t) e->rx->received));
            json_object_set_new (o, "rate", real3 (e->rx->rate));
            json_object_set_new (o, "gaps", json_integer ((json_int_t) e->rx->gaps));
            json_object_set_new (o, "restarts", json_integer ((json_int_t) e->rx->restarts));
            json_object_set_new (o, "out_of_order",
                                 json_integer ((json_int_t) e->rx->out_of_order));
            json_object_set_new (o, "last_age_s",
                                 real3 ((double) e->rx->last_age_ms / 1000.0));
        }
        json_array_append_new (edges, o);
    }
    json_object_set_new (root, "hosts", hosts);
    json_object_set_new (root, "workers", nodes);
    json_object_set_new (root, "edges", edges);
    char *text = json_dumps (root, JSON_COMPACT | JSON_REAL_PRECISION (12));
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
    bool any_up = count_state (&t, NODE_UP) > 0;
    int rc = any_up && count_state (&t, NODE_STALE) == 0 ? 0 : 1;
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
