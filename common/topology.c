/*  topology.c — see topology.h: the heartbeats of the workers collected,
    and the model of who feeds whom built of them (moved here from
    dpi-dualctl's heartbeats.c and cmd_topology.c, so that dpi-api serves
    the same model).                                                        */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "topics.h"
#include "topology.h"

typedef Dpidual__V1__Heartbeat hb_t;
typedef Dpidual__V1__SourceCounter rx_t;
typedef topo_node_t node_t;
typedef topo_edge_t edge_t;

topo_target_t *
topo_config_targets (const config_t *cfg, size_t *count)
{
    bool here[WORKER_COUNT];
    config_host_workers (cfg, here);
    /* dpi-api is opt-in: listened to only where this host runs it (its
       row is the last of WORKER_LIST) */
    size_t n = WORKER_COUNT - !here[WORKER_API];
    topo_target_t *t = calloc (n, sizeof *t);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        /* a worker's own endpoint binds: connect to it (endpoint.h) */
        endpoint_t ep;
        const char *reason;
        const char *own = cfg->bus.endpoints[i];
        t[i].name = worker_info ((worker_id_t) i)->name;
        t[i].endpoint = endpoint_address (own);
        t[i].connects_out = endpoint_parse (own, true, &ep, &reason) == 0 && !ep.bind;
    }
    *count = n;
    return t;
}

topo_worker_t *
topo_workers_add (topo_workers_t *w, const topo_target_t *target)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        topo_worker_t *items = realloc (w->items, cap * sizeof *items);
        if (!items)
            return NULL;
        w->items = items;
        w->cap = cap;
    }
    topo_worker_t *worker = &w->items[w->count++];
    memset (worker, 0, sizeof *worker);
    worker->target = target;
    return worker;
}

void
topo_workers_clear (topo_workers_t *w)
{
    for (size_t i = 0; i < w->count; i++) {
        topo_msg_free ((ProtobufCMessage **) &w->items[i].hb);
        topo_msg_free ((ProtobufCMessage **) &w->items[i].stats);
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
topo_address_reaches (const char *bound, const char *other)
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
            && topo_address_reaches (hb->endpoints[i]->endpoint, address))
            return true;
    return false;
}

/*  The worker a message from SOURCE belongs to (HB: its heartbeat, or
    NULL), added when it is new. NULL when out of memory.                   */
static topo_worker_t *
workers_find (topo_workers_t *w, const char *source, const Dpidual__V1__Heartbeat *hb)
{
    for (size_t i = 0; i < w->count; i++)
        if (strcmp (w->items[i].source, source) == 0)
            return &w->items[i];
    size_t name_len = strcspn (source, "@");
    for (size_t i = 0; i < w->count; i++) {
        topo_worker_t *worker = &w->items[i];
        const topo_target_t *t = worker->target;
        if (*worker->source || !t || t->connects_out)
            continue;
        if ((*t->name && strlen (t->name) == name_len && strncmp (t->name, source, name_len) == 0)
            || publishes_on (hb, t->endpoint)) {
            snprintf (worker->source, sizeof worker->source, "%s", source);
            return worker;
        }
    }
    topo_worker_t *worker = topo_workers_add (w, NULL);
    if (worker)
        snprintf (worker->source, sizeof worker->source, "%s", source);
    return worker;
}


bool
topo_workers_all_seen (const topo_workers_t *w)
{
    for (size_t i = 0; i < w->count; i++)
        if (w->items[i].target && !w->items[i].target->connects_out && !w->items[i].hb)
            return false;
    return true;
}

/*  Keep a copy of MSG in *SLOT (replacing the older one): 1, or -1.        */
static int
keep (ProtobufCMessage **slot, uint64_t *at, const ProtobufCMessage *msg)
{
    ProtobufCMessage *copy = topo_msg_dup (msg);
    if (!copy)
        return -1;
    topo_msg_free (slot);
    *slot = copy;
    *at = bus_mono_ns ();
    return 1;
}


int
topo_workers_note (topo_workers_t *workers, const bus_msg_t *msg)
{
    bool is_hb = strcmp (msg->topic, TOPIC_HEARTBEAT) == 0;
    if (!is_hb && strcmp (msg->topic, TOPIC_TAP_STATS) != 0)
        return 0;
    topo_worker_t *worker = workers_find (workers, msg->header->source,
                                          is_hb ? (const hb_t *) msg->body : NULL);
    if (!worker)
        return -1;
    if (is_hb)
        return keep ((ProtobufCMessage **) &worker->hb, &worker->hb_at, msg->body);
    return keep ((ProtobufCMessage **) &worker->stats, &worker->stats_at, msg->body);
}

ProtobufCMessage *
topo_msg_dup (const ProtobufCMessage *msg)
{
    size_t size = protobuf_c_message_get_packed_size (msg);
    uint8_t *buf = malloc (size ? size : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack (msg, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack (msg->descriptor, NULL, size, buf);
    free (buf);
    return copy;
}

void
topo_msg_free (ProtobufCMessage **msg_p)
{
    if (*msg_p)
        protobuf_c_message_free_unpacked (*msg_p, NULL);
    *msg_p = NULL;
}

void
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
node_of_worker (node_t *n, const topo_worker_t *w, double waited, bool from_config,
                int default_interval)
{
    n->w = w;
    n->hb = w->hb;
    const topo_target_t *t = w->target;
    if (w->hb) {
        snprintf (n->id, sizeof n->id, "%s", w->source);
        snprintf (n->name, sizeof n->name, "%s", w->hb->name);
        snprintf (n->host, sizeof n->host, "%s", w->hb->host);
        n->hb_age = (double) (bus_mono_ns () - w->hb_at) / 1e9;
        unsigned interval = w->hb->interval_s ? w->hb->interval_s : (unsigned) default_interval;
        n->state = n->hb_age > 3.0 * interval ? TOPO_STALE : TOPO_UP;
        if (n->state == TOPO_STALE)
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
        n->state = TOPO_STALE;
        snprintf (n->why, sizeof n->why, "tap.stats but no heartbeat in %.1f s", waited);
        return;
    }
    snprintf (n->name, sizeof n->name, "%s", *t->name ? t->name : t->endpoint);
    snprintf (n->id, sizeof n->id, "%s", *w->source ? w->source : n->name);
    /* a --connect "@EP" is bound here: the worker behind it connects */
    n->pub = endpoint_address (t->endpoint);
    n->pub_binds = !t->connects_out && *t->endpoint != '@';
    if (t->connects_out) {
        n->state = TOPO_UNCHECKED;
        snprintf (n->why, sizeof n->why,
                  "it connects out to %s: not listened to (--connect @%s to bind it here)",
                  t->endpoint, t->endpoint);
    }
    else {
        n->state = TOPO_STALE;
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
    n->state = TOPO_HEARD_OF;
    snprintf (n->why, sizeof n->why, "not listened to: known from what %s received", seen_by);
    return (long) (t->nnodes - 1);
}

static bool
endpoints_meet (const char *pub, bool pub_binds, const char *sub, bool sub_binds)
{
    if (pub_binds == sub_binds)
        return false;               /* two binds or two connects never meet */
    return pub_binds ? topo_address_reaches (pub, sub) : topo_address_reaches (sub, pub);
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

int
topo_build (topo_t *t, const topo_workers_t *workers, double waited, bool from_config,
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

size_t
topo_count_state (const topo_t *t, topo_state_t state)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nnodes; i++)
        n += t->nodes[i].state == state;
    return n;
}

topo_drops_t
topo_drops_of (const hb_t *hb)
{
    topo_drops_t d = { 0 };
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

static json_t *
real3 (double value)
{
    return json_real (round (value * 1000.0) / 1000.0);
}

const char *
topo_state_name (topo_state_t state)
{
    return state == TOPO_UP ? "up" : state == TOPO_STALE ? "stale"
           : state == TOPO_UNCHECKED ? "unchecked" : "heard-of";
}

static json_t *
json_node (const node_t *n)
{
    json_t *o = json_pack ("{s:s, s:s, s:s?, s:s, s:b}", "id", n->id, "name", n->name, "host",
                           *n->host ? n->host : NULL, "state", topo_state_name (n->state), "stale",
                           n->state == TOPO_STALE);
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
    topo_drops_t d = topo_drops_of (hb);
    json_object_set_new (o, "drops",
                         json_pack ("{s:I, s:I, s:I, s:I}", "send_errors",
                                    (json_int_t) d.send_errors, "unheard", (json_int_t) d.unheard,
                                    "undecodable", (json_int_t) hb->decode_errors, "gaps",
                                    (json_int_t) d.gaps));
    return o;
}

json_t *
topo_json (const topo_t *t)
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
    return root;
}
