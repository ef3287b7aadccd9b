/*  service.c — dpi-buffer's query service handler (query.h): context,
    dump, stats, replay. The reply shapes are those `dpi-dualctl context`,
    `replay` and `buffer` print (docs/DESIGN.md "dpi-buffer queries").       */
#include <arpa/inet.h>
#include <string.h>

#include "buffer.h"
#include "bus.h"

#define DUMP_MAX 1000
#define CONTEXT_MAX 1000

static const char *
verdict_name (int verdict)
{
    return verdict == DPIDUAL__V1__VERDICT__ACTION__ALLOW   ? "ALLOW"
         : verdict == DPIDUAL__V1__VERDICT__ACTION__BLOCK ? "BLOCK"
                                                            : "";
}

static json_t *
error_reply (const char *text)
{
    return json_pack ("{s:b, s:s}", "ok", 0, "error", text);
}

json_t *
buffer_entry_json (const ring_entry_t *entry)
{
    Dpidual__V1__HttpRequest *req = ring_request (entry);
    json_t *rules = json_array ();
    for (size_t i = 0; i < entry->rule_count; i++) {
        char id[12];
        snprintf (id, sizeof id, "%u", entry->rules[i]);
        json_array_append_new (rules, json_string (id));
    }
    json_t *obj = json_pack (
        "{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:b, s:i, s:i, s:s, s:o, s:b,"
        " s:s, s:I, s:b}",
        "seq", (json_int_t) entry->seq, "ts_ns", (json_int_t) entry->ts_ns,
        "request_id", req && req->request_id ? req->request_id : "",
        "method", req && req->method ? req->method : "",
        "host", req && req->host ? req->host : "",
        "path", req && req->path ? req->path : "",
        "query", req && req->query ? req->query : "",
        "status", (int) entry->status, "verdict", verdict_name (entry->verdict),
        "analysed", entry->analysed, "not_analysed", entry->not_analysed,
        "score", (int) entry->score, "severity", (int) entry->severity,
        "category", entry->category, "rule_ids", rules, "alerted", entry->alerted,
        "user_agent", req && req->user_agent ? req->user_agent : "",
        "body_length", (json_int_t) (req ? req->body_length : 0),
        "body_truncated", req ? req->body_truncated : 0);
    if (req)
        dpidual__v1__http_request__free_unpacked (req, NULL);
    return obj;
}

static bool
valid_ip (const char *ip)
{
    unsigned char addr[16];
    return ip && (inet_pton (AF_INET, ip, addr) == 1 || inet_pton (AF_INET6, ip, addr) == 1);
}

static json_t *
anomaly_json (buffer_t *self, const char *ip)
{
    anomaly_result_t r;
    memset (&r, 0, sizeof r);
    anomaly_score (self->anomaly, ip, bus_now_ns (), &r);
    json_t *reasons = json_array ();
    for (size_t i = 0; i < r.reason_count; i++)
        json_array_append_new (reasons, json_string (r.reasons[i]));
    return json_pack ("{s:i, s:s, s:o}", "score", (int) r.score, "label", r.label,
                      "reasons", reasons);
}

static json_t *
context (buffer_t *self, json_t *request)
{
    const char *ip = json_string_value (json_object_get (request, "ip"));
    json_t *w = json_object_get (request, "window");
    if (!valid_ip (ip))
        return error_reply ("context: \"ip\" must be an IPv4 or IPv6 address");
    if (w && (!json_is_integer (w) || json_integer_value (w) <= 0))
        return error_reply ("context: \"window\" must be a positive number of seconds");
    json_int_t window = w ? json_integer_value (w) : self->cfg->buffer.anomaly_window;
    uint64_t since = bus_now_ns () - (uint64_t) window * 1000000000ull;
    json_t *list = json_array ();
    size_t n = 0;
    for (ring_entry_t *e = ring_client_first (self->ring, ip); e && n < CONTEXT_MAX;
         e = ring_client_next (self->ring, e))
        if (e->ts_ns >= since && ++n)
            json_array_append_new (list, buffer_entry_json (e));
    return json_pack ("{s:s, s:I, s:o, s:o}", "ip", ip, "window", window, "requests", list,
                      "anomaly", anomaly_json (self, ip));
}

static json_t *
dump (buffer_t *self, json_t *request)
{
    json_t *jn = json_object_get (request, "n");
    if (!json_is_integer (jn) || json_integer_value (jn) <= 0)
        return error_reply ("dump: \"n\" must be a positive integer");
    json_int_t max = json_integer_value (jn) > DUMP_MAX ? DUMP_MAX : json_integer_value (jn);
    json_t *list = json_array ();
    json_int_t n = 0;
    for (ring_entry_t *e = ring_newest (self->ring); e && n < max; e = ring_older (self->ring, e), n++)
        json_array_append_new (list, buffer_entry_json (e));
    return json_pack ("{s:o}", "requests", list);
}

static json_t *
stats (buffer_t *self)
{
    heartbeat_counter_t counters[64];
    size_t n = buffer_counters (self, counters, 64);
    json_t *obj = json_object ();
    for (size_t i = 0; i < n; i++)
        json_object_set_new (obj, counters[i].name, json_integer ((json_int_t) counters[i].value));
    json_object_set_new (obj, "ring_size", json_integer ((json_int_t) ring_size (self->ring)));
    return obj;
}

static json_t *
replay (buffer_t *self, json_t *request)
{
    const char *ip = json_string_value (json_object_get (request, "ip"));
    if (!valid_ip (ip))
        return error_reply ("replay: \"ip\" must be an IPv4 or IPv6 address");
    if (!self->crs)
        return error_reply ("replay: no CRS analysis configured (buffer.modsecurity_conf)");
    size_t queued = 0, refused = 0;
    if (buffer_replay (self, ip, "query", &queued, &refused) != 0)
        return error_reply ("replay: no buffered request from that address");
    return json_pack ("{s:s, s:I, s:I, s:i, s:s}", "ip", ip, "queued", (json_int_t) queued,
                      "not_queued", (json_int_t) refused, "paranoia",
                      self->cfg->buffer.replay_paranoia, "target",
                      self->cfg->buffer.replay_target);
}

json_t *
buffer_query (void *arg, const char *cmd, json_t *request)
{
    buffer_t *self = arg;
    if (strcmp (cmd, "context") == 0)
        return context (self, request);
    if (strcmp (cmd, "dump") == 0)
        return dump (self, request);
    if (strcmp (cmd, "stats") == 0)
        return stats (self);
    if (strcmp (cmd, "replay") == 0)
        return replay (self, request);
    return error_reply ("unknown command (context, dump, stats, replay)");
}
