/*  service.c — dpi-correlator's query service handler (common/query.h):
    threats, reputation, context, whitelist, ban, unban. The reply shapes
    are those `dpi-dualctl threats|reputation|whitelist|ban|unban` print
    (docs/DESIGN.md §11).                                                    */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "correlator.h"
#include "pbjson.h"

#define CONTEXT_BUFFER_MS 300     /* wait for dpi-buffer's side of a context */

static json_t *
error_reply (const char *text)
{
    return json_pack ("{s:b, s:s}", "ok", 0, "error", text);
}

/*  Keep T among the recent threats: packed (a few hundred bytes, a copy),
    made JSON only when asked for (threat_json).                             */
void
correlator_remember (correlator_t *self, const Dpidual__V1__CorrelatedThreat *t)
{
    size_t len = protobuf_c_message_get_packed_size (&t->base);
    uint8_t *data = malloc (len ? len : 1);
    if (!data)
        return;
    protobuf_c_message_pack (&t->base, data);
    free (self->recent[self->recent_next].data);
    self->recent[self->recent_next].data = data;
    self->recent[self->recent_next].len = len;
    self->recent_next = (self->recent_next + 1) % RECENT_THREATS;
}

/*  A remembered threat as tail prints it, with ts_ns, ip and tap_sni.      */
static json_t *
threat_json (const uint8_t *data, size_t len)
{
    Dpidual__V1__CorrelatedThreat *t = dpidual__v1__correlated_threat__unpack (NULL, len, data);
    if (!t)
        return NULL;
    pbjson_buf_t buf = { 0 };
    json_t *obj = NULL;
    if (pbjson_append (&buf, NULL, &t->base) == 0)
        obj = json_loadb (buf.data, buf.len, 0, NULL);
    pbjson_buf_free (&buf);
    if (obj) {
        json_object_set_new (obj, "ts_ns", json_integer ((json_int_t) t->last_seen_ns));
        json_object_set (obj, "ip", json_object_get (obj, "client_ip"));
        json_object_set (obj, "tap_sni", json_object_get (obj, "tap_host_server_name"));
    }
    dpidual__v1__correlated_threat__free_unpacked (t, NULL);
    return obj;
}

/*  An address or a CIDR, v4 or v6.                                         */
static bool
valid_value (const char *value, bool cidr_ok)
{
    unsigned char addr[16];
    char ip[64];
    if (!value || strlen (value) >= sizeof ip)
        return false;
    snprintf (ip, sizeof ip, "%s", value);
    char *slash = strchr (ip, '/');
    if (slash && !cidr_ok)
        return false;
    if (slash)
        *slash = '\0';
    bool v4 = inet_pton (AF_INET, ip, addr) == 1;
    if (!v4 && inet_pton (AF_INET6, ip, addr) != 1)
        return false;
    if (!slash)
        return true;
    char *end;
    long len = strtol (slash + 1, &end, 10);
    return slash[1] && !*end && len >= 0 && len <= (v4 ? 32 : 128);
}

static json_t *
threats (correlator_t *self, json_t *request)
{
    json_t *jn = json_object_get (request, "n");
    json_int_t n = json_is_integer (jn) ? json_integer_value (jn) : 20;
    if (n <= 0 || n > RECENT_THREATS)
        return error_reply ("threats: \"n\" must be 1..1000");
    json_t *list = json_array ();
    for (size_t i = 1; i <= RECENT_THREATS && (json_int_t) json_array_size (list) < n; i++) {
        size_t k = (self->recent_next + RECENT_THREATS - i) % RECENT_THREATS;
        json_t *t = self->recent[k].data ? threat_json (self->recent[k].data,
                                                        self->recent[k].len) : NULL;
        if (t)
            json_array_append_new (list, t);
    }
    return json_pack ("{s:o}", "threats", list);
}

static json_t *
entry_json (const rep_entry_t *e)
{
    return json_pack ("{s:s, s:f, s:I, s:I, s:I, s:s, s:I, s:b}", "ip", e->ip, "score", e->score,
                      "events", (json_int_t) e->events, "first_seen_ns",
                      (json_int_t) e->first_seen_ns, "last_seen_ns", (json_int_t) e->last_seen_ns,
                      "last_kind", e->last_kind, "banned_until_ns",
                      (json_int_t) e->banned_until_ns, "whitelisted", e->whitelisted);
}

static json_t *
reputation (correlator_t *self, json_t *request)
{
    uint64_t now = correlator_now (self);
    json_t *top = json_object_get (request, "top");
    if (top) {
        json_int_t n = json_is_integer (top) ? json_integer_value (top) : 0;
        if (n <= 0 || n > 1000)
            return error_reply ("reputation: \"top\" must be 1..1000");
        rep_entry_t *list = calloc ((size_t) n, sizeof *list);
        size_t got = list ? reputation_top (self->rep, now, list, (size_t) n) : 0;
        json_t *arr = json_array ();
        for (size_t i = 0; i < got; i++)
            json_array_append_new (arr, entry_json (&list[i]));
        free (list);
        return json_pack ("{s:o}", "top", arr);
    }
    const char *ip = json_string_value (json_object_get (request, "ip"));
    if (!valid_value (ip, false))
        return error_reply ("reputation: \"ip\" must be an IPv4 or IPv6 address");
    rep_entry_t e;
    if (!reputation_get (self->rep, ip, now, &e)) {
        memset (&e, 0, sizeof e);
        snprintf (e.ip, sizeof e.ip, "%s", ip);
        e.whitelisted = reputation_whitelisted (self->rep, ip);
    }
    return entry_json (&e);
}

static json_t *
whitelist (correlator_t *self, json_t *request)
{
    const char *op = json_string_value (json_object_get (request, "op"));
    const char *cidr = json_string_value (json_object_get (request, "cidr"));
    char why[256] = "";
    if (!op || (strcmp (op, "list") != 0 && !valid_value (cidr, true)))
        return error_reply ("whitelist: \"op\" list, add or del, with a \"cidr\"");
    if (strcmp (op, "add") == 0 && reputation_whitelist_add (self->rep, cidr, why, sizeof why))
        return error_reply (why);
    if (strcmp (op, "del") == 0 && reputation_whitelist_del (self->rep, cidr) != 0)
        return error_reply ("whitelist: not listed");
    if (strcmp (op, "list") && strcmp (op, "add") && strcmp (op, "del"))
        return error_reply ("whitelist: \"op\" list, add or del");
    json_t *list = json_array ();
    for (size_t i = 0; i < reputation_whitelist_count (self->rep); i++)
        json_array_append_new (list, json_string (reputation_whitelist_item (self->rep, i)));
    return json_pack ("{s:o}", "whitelist", list);
}

static json_t *
ban (correlator_t *self, json_t *request, bool on)
{
    const char *value = json_string_value (json_object_get (request, "value"));
    const char *reason = json_string_value (json_object_get (request, "reason"));
    json_t *jd = json_object_get (request, "duration");
    if (!valid_value (value, true))
        return error_reply ("ban: \"value\" must be an address or a CIDR");
    if (jd && (!json_is_integer (jd) || json_integer_value (jd) <= 0))
        return error_reply ("ban: \"duration\" must be a positive number of seconds");
    uint64_t duration = jd ? (uint64_t) json_integer_value (jd)
                           : (uint64_t) self->cfg->correlation.ban_duration;
    if (on && !strchr (value, '/') && reputation_whitelisted (self->rep, value))
        return error_reply ("ban: the address is whitelisted (correlation.whitelist)");
    correlator_decide (self, on, value, duration, reason && reason[0] ? reason : "manual",
                       "manual");
    if (!on && !strchr (value, '/'))        /* a fresh start, not a re-ban at the next hit */
        reputation_forgive (self->rep, value, correlator_now (self));
    return json_pack ("{s:s, s:I}", "value", value, "duration", (json_int_t) (on ? duration : 0));
}

/*  The flows the mirror saw for IP, with the joins' view (context).        */
static json_t *
context (correlator_t *self, json_t *request)
{
    const char *ip = json_string_value (json_object_get (request, "ip"));
    if (!valid_value (ip, false))
        return error_reply ("context: \"ip\" must be an IPv4 or IPv6 address");
    const join_flow_t *flows[200];
    size_t n = join_flows_of (self->join, ip, flows, 200);
    json_t *list = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (list, json_pack (
            "{s:s, s:s, s:i, s:s, s:i, s:i, s:s, s:s, s:I, s:I}", "community_id",
            flows[i]->community_id, "src_ip", flows[i]->src_ip, "src_port",
            (int) flows[i]->src_port, "dst_ip", flows[i]->dst_ip, "dst_port",
            (int) flows[i]->dst_port, "vlan", (int) flows[i]->vlan, "proto", flows[i]->proto,
            "sni", flows[i]->sni, "first_seen_ns", (json_int_t) flows[i]->first_seen_ns,
            "last_seen_ns", (json_int_t) flows[i]->last_seen_ns));
    json_t *rep = reputation (self, request);
    json_object_del (rep, "ok");
    /* the buffer's side: its requests from IP (a short wait: an operator's
       query, not the event path) */
    char why[256];
    json_t *ask = json_pack ("{s:s, s:s}", "cmd", "context", "ip", ip);
    json_t *buffer = query_call (self->cfg, self->cfg->buffer.query_endpoint, ask,
                                 CONTEXT_BUFFER_MS, why, sizeof why);
    json_decref (ask);
    json_t *out = json_pack ("{s:s, s:o, s:o}", "ip", ip, "flows", list, "reputation", rep);
    json_object_set_new (out, "buffer", buffer ? buffer : json_pack ("{s:b, s:s}", "ok", 0,
                                                                       "error", why));
    return out;
}

json_t *
correlator_query (void *arg, const char *cmd, json_t *request)
{
    correlator_t *self = arg;
    if (strcmp (cmd, "threats") == 0)
        return threats (self, request);
    if (strcmp (cmd, "reputation") == 0)
        return reputation (self, request);
    if (strcmp (cmd, "whitelist") == 0)
        return whitelist (self, request);
    if (strcmp (cmd, "ban") == 0 || strcmp (cmd, "unban") == 0)
        return ban (self, request, strcmp (cmd, "ban") == 0);
    if (strcmp (cmd, "context") == 0)
        return context (self, request);
    return error_reply ("unknown command (threats, reputation, context, whitelist, ban, unban)");
}
