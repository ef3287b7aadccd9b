/*  dpi-testpub — publishes synthetic messages on the bus, for tests and the
    quick-start demo (until real workers exist, it stands in for them).

    dpi-testpub [-c FILE] [--bind EP] [--name NAME] [-n COUNT] [--topic T]
                [--wait-subscriber MS] [--interval-ms MS] [--quiet]
                [--action ban|unban] [--value IP[/PREFIX]] [--scope ip|range]
                [--duration S] [--expires-ns NS] [--heartbeat]

    dpi-testpub ... --jsonl FILE   publishes the messages of FILE instead: JSON
    lines as `dpi-dualctl tail` prints them (each its own "topic"; a
    "header" is replaced by the publisher's), in order, waiting for a slow
    subscriber rather than dropping (lossless); -n is then ignored.

    dpi-testpub ... --garbage N --topic T   sends N messages on T whose body is
    not a protobuf message of T's type (random bytes, or empty), on a plain
    ZeroMQ PUB socket bound to --bind: for the subscribers' decode errors.

    Topics: tap.flow (FlowEvent, varied tuples and protocols), decision,
    sys.heartbeat (a real heartbeat of this process). --heartbeat: also a
    heartbeat every bus.heartbeat_interval while sending, as a worker does
    (dpi-dualctl topology then sees it as a worker). Prints on stdout the
    community_id of each FlowEvent it sends so a test can compare. A
    decision bans 203.0.113.N for 3600 s unless --value and the others say
    otherwise (as the correlator will: publish on its endpoint, --bind).    */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "community_id.h"
#include "heartbeat.h"
#include "log.h"
#include "pbjson.h"
#include "topics.h"

static const char *s_protos[][4] = {
    /* proto, category, host, app */
    { "TLS.Google", "Web", "www.google.com", "Google" },
    { "DNS", "Network", "example.org", "DNS" },
    { "HTTP", "Web", "example.net", "HTTP" },
    { "QUIC.YouTube", "Media", "r1.googlevideo.com", "YouTube" },
};

static int
send_flow (bus_pub_t *pub, long i, bool quiet)
{
    Dpidual__V1__FlowEvent ev = DPIDUAL__V1__FLOW_EVENT__INIT;
    char src[32], dst[32], cid[64];
    snprintf (src, sizeof src, "192.0.2.%ld", 1 + i % 200);
    snprintf (dst, sizeof dst, "198.51.100.%ld", 1 + (i / 200) % 200);
    const char *const *p = s_protos[i % 4];
    ev.event = i % 3 == 2 ? DPIDUAL__V1__FLOW_EVENT__EVENT__END
                          : DPIDUAL__V1__FLOW_EVENT__EVENT__DETECTED;
    ev.end_reason = i % 3 == 2 ? DPIDUAL__V1__FLOW_EVENT__END_REASON__IDLE
                               : DPIDUAL__V1__FLOW_EVENT__END_REASON__END_REASON_NONE;
    ev.ip_version = 4;
    ev.ip_proto = i % 4 == 1 ? 17 : 6;
    ev.src_ip = src;
    ev.src_port = (uint32_t) (40000 + i % 20000);
    ev.dst_ip = dst;
    ev.dst_port = i % 4 == 1 ? 53 : i % 4 == 2 ? 80 : 443;
    community_id_v1_str (src, (uint16_t) ev.src_port, dst, (uint16_t) ev.dst_port,
                         (uint8_t) ev.ip_proto, 0, false, cid, sizeof cid);
    ev.community_id = cid;
    ev.proto = (char *) p[0];
    ev.category = (char *) p[1];
    ev.host_server_name = (char *) p[2];
    ev.app_protocol_name = (char *) p[3];
    ev.confidence = "DPI";
    ev.src2dst_packets = 10 + (uint64_t) i % 7;
    ev.dst2src_packets = 8 + (uint64_t) i % 5;
    ev.src2dst_bytes = ev.src2dst_packets * 120;
    ev.dst2src_bytes = ev.dst2src_packets * 900;
    ev.first_seen = bus_now_ns () / 1000000ull - 2000;
    ev.last_seen = bus_now_ns () / 1000000ull;
    ev.flow_id = (uint64_t) i + 1;
    ev.interface = "demo";
    if (!quiet)
        printf ("%s\n", cid);
    return bus_pub_send (pub, TOPIC_TAP_FLOW, &ev.base);
}

typedef struct {
    bool unban;
    const char *value;                  /* NULL: 203.0.113.N              */
    const char *scope;
    unsigned long long duration_s, expires_ns;
} decision_opts_t;

static int
send_decision (bus_pub_t *pub, long i, const decision_opts_t *o)
{
    Dpidual__V1__Decision d = DPIDUAL__V1__DECISION__INIT;
    char value[64];
    snprintf (value, sizeof value, "203.0.113.%ld", 1 + i % 250);
    d.action = o->unban ? DPIDUAL__V1__DECISION__ACTION__UNBAN : DPIDUAL__V1__DECISION__ACTION__BAN;
    d.value = o->value ? (char *) o->value : value;
    d.scope = (char *) o->scope;
    d.duration_s = o->duration_s;
    d.expires_ns = o->expires_ns;
    d.reason = "test";
    d.origin = "manual";
    return bus_pub_send (pub, TOPIC_DECISION, &d.base);
}

/*  --jsonl: every line of PATH published on its topic. 0, or -1 (a line
    that is not a message of a known topic is an error, with its number).   */
static int
send_jsonl (bus_pub_t *pub, const char *path)
{
    FILE *in = strcmp (path, "-") == 0 ? stdin : fopen (path, "r");
    if (!in) {
        log_error ("%s: %s", path, strerror (errno));
        return -1;
    }
    bus_pub_set_lossless (pub, 10000);
    char *line = NULL, why[256];
    size_t cap = 0;
    long number = 0;
    int rc = 0;
    while (rc == 0 && getline (&line, &cap, in) > 0 && !zsys_interrupted) {
        number++;
        json_t *obj = json_loads (line, 0, NULL);
        const char *topic = json_string_value (json_object_get (obj, "topic"));
        const ProtobufCMessageDescriptor *desc = topic ? topics_descriptor (topic) : NULL;
        json_object_del (obj, "header");
        ProtobufCMessage *msg = desc ? pbjson_parse (desc, obj, why, sizeof why) : NULL;
        if (!msg || bus_pub_send (pub, topic, msg) != 0) {
            log_error ("%s:%ld: %s", path, number, !desc ? "not a message with a known topic"
                                                   : !msg ? why : "send failed");
            rc = -1;
        }
        if (msg)
            protobuf_c_message_free_unpacked (msg, NULL);
        json_decref (obj);
    }
    free (line);
    if (in != stdin)
        fclose (in);
    return rc;
}

/*  --garbage: COUNT undecodable bodies on TOPIC from a raw PUB on ENDPOINT. */
static int
send_garbage (const char *endpoint, const char *topic, long count, long wait_ms)
{
    zsock_t *sock = zsock_new (ZMQ_PUB);
    if (!sock || zsock_bind (sock, "%s", endpoint) < 0) {
        log_error ("--garbage: cannot bind %s", endpoint);
        zsock_destroy (&sock);
        return -1;
    }
    zclock_sleep ((int) (wait_ms > 0 ? wait_ms : 500));     /* let subscribers join */
    uint8_t body[64];
    for (long i = 0; i < count; i++) {
        /* bytes with the continuation bit set: a varint that never ends —
           no prefix of it is a message (an empty body would be one) */
        size_t len = (size_t) (1 + i % (long) sizeof body);
        for (size_t j = 0; j < len; j++)
            body[j] = (uint8_t) (0xff - (i + (long) j) % 7);
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, topic);
        zmsg_addmem (msg, body, len);
        zmsg_send (&msg, sock);
    }
    zclock_sleep (200);
    zsock_destroy (&sock);
    return 0;
}

int
main (int argc, char **argv)
{
    static const struct option options[] = {
        { "bind", required_argument, NULL, 'b' },
        { "name", required_argument, NULL, 'N' },
        { "topic", required_argument, NULL, 'T' },
        { "wait-subscriber", required_argument, NULL, 'w' },
        { "interval-ms", required_argument, NULL, 'i' },
        { "quiet", no_argument, NULL, 'q' },
        { "action", required_argument, NULL, 'a' },
        { "value", required_argument, NULL, 'v' },
        { "scope", required_argument, NULL, 's' },
        { "duration", required_argument, NULL, 'd' },
        { "expires-ns", required_argument, NULL, 'e' },
        { "jsonl", required_argument, NULL, 'j' },
        { "garbage", required_argument, NULL, 'g' },
        { "heartbeat", no_argument, NULL, 'H' },
        { NULL, 0, NULL, 0 }
    };
    decision_opts_t decision = { false, NULL, "ip", 3600, 0 };
    const char *jsonl = NULL;
    long garbage = 0;
    const char *path = NULL, *endpoint = NULL, *name = "testpub", *topic = TOPIC_TAP_FLOW;
    long count = 10, wait_ms = 0, interval_ms = 0;
    bool quiet = false, heartbeats = false;
    int opt;
    while ((opt = getopt_long (argc, argv, "c:n:q", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'b': endpoint = optarg; break;
        case 'N': name = optarg; break;
        case 'T': topic = optarg; break;
        case 'n': count = atol (optarg); break;
        case 'w': wait_ms = atol (optarg); break;
        case 'i': interval_ms = atol (optarg); break;
        case 'q': quiet = true; break;
        case 'a':
            if (strcmp (optarg, "ban") != 0 && strcmp (optarg, "unban") != 0) {
                fprintf (stderr, "dpi-testpub: --action ban or unban\n");
                return 2;
            }
            decision.unban = strcmp (optarg, "unban") == 0;
            break;
        case 'v': decision.value = optarg; break;
        case 's': decision.scope = optarg; break;
        case 'd': decision.duration_s = strtoull (optarg, NULL, 10); break;
        case 'e': decision.expires_ns = strtoull (optarg, NULL, 10); break;
        case 'j': jsonl = optarg; break;
        case 'g': garbage = atol (optarg); break;
        case 'H': heartbeats = true; break;
        default: return 2;
        }
    }
    log_init ("dpi-testpub", "info");
    config_t *cfg = config_load_verbose (path);
    if (!cfg)
        return 1;
    if (garbage > 0) {
        int rc = send_garbage (endpoint ? endpoint : cfg->bus.endpoints[WORKER_COLLECTOR], topic,
                               garbage, wait_ms);
        config_destroy (&cfg);
        return rc ? 1 : 0;
    }
    bus_pub_t *pub = bus_pub_new (cfg, name, endpoint ? endpoint : cfg->bus.endpoints[WORKER_COLLECTOR]);
    if (!pub) {
        config_destroy (&cfg);
        return 1;
    }
    if (wait_ms > 0 && bus_pub_wait_subscriber (pub, (int) wait_ms) != 0)
        log_warning ("no subscriber after %ld ms; sending anyway", wait_ms);
    /* one subscriber came: let the others that are trying join too (several
       workers may subscribe to this endpoint, it_api.sh) */
    if (wait_ms > 0)
        bus_pub_let_subscribers_join (pub, BUS_JOIN_WINDOW_MS);
    heartbeat_t *hb = heartbeat_new (cfg, pub, NULL);
    int rc = jsonl ? send_jsonl (pub, jsonl) : 0;
    for (long i = 0; !jsonl && i < count && !zsys_interrupted; i++) {
        if (strcmp (topic, TOPIC_TAP_FLOW) == 0)
            rc |= send_flow (pub, i, quiet);
        else if (strcmp (topic, TOPIC_DECISION) == 0)
            rc |= send_decision (pub, i, &decision);
        else if (strcmp (topic, TOPIC_HEARTBEAT) == 0)
            rc |= heartbeat_tick (hb, NULL, 0, true) == 1 ? 0 : -1;
        else {
            log_error ("topic '%s' is not one dpi-testpub sends", topic);
            rc = -1;
            break;
        }
        if (heartbeats)
            heartbeat_tick (hb, NULL, 0, false);
        if (interval_ms > 0)
            zclock_sleep ((int) interval_ms);
    }
    fflush (stdout);
    zclock_sleep (200);            /* let ZeroMQ hand the last frames over */
    heartbeat_destroy (&hb);
    bus_pub_destroy (&pub);
    config_destroy (&cfg);
    return rc ? 1 : 0;
}
