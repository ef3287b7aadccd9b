/*  test_bus — the bus over real ZeroMQ sockets (ipc and tcp+CURVE):
    delivery and decoding, gaps on a deliberate high-water-mark overflow
    (also with one publisher's topics interleaved, more of them than the
    subscriber remembers by the last messages),
    restarts (and the new instance's first messages missed while reconnecting
    counted as gaps), malformed messages counted and skipped,
    an unlisted CURVE client receives nothing, and the heartbeat.           */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "heartbeat.h"
#include "log.h"
#include "bustest.h"
#include "tally.h"
#include "topics.h"

static char s_dir[256];

/*  A config with the run directory (so the ipc endpoints) under s_dir.     */
static config_t *
test_config (void)
{
    return test_config_in (s_dir);
}

static int
send_flows (bus_pub_t *pub, int count, int first_port)
{
    int ok = 0;
    for (int i = 0; i < count; i++) {
        Dpidual__V1__FlowEvent ev = DPIDUAL__V1__FLOW_EVENT__INIT;
        ev.src_ip = "192.0.2.1";
        ev.dst_ip = "198.51.100.7";
        ev.src_port = (uint32_t) (first_port + i);
        ev.dst_port = 443;
        ev.ip_proto = 6;
        ev.proto = "TLS.Google";
        ev.host_server_name = "www.google.com";
        ev.community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
        ev.src2dst_bytes = 1234;
        ok += bus_pub_send (pub, TOPIC_TAP_FLOW, &ev.base) == 0;
    }
    return ok;
}

/*  Receive until TIMEOUT_MS passes with nothing new; returns the count.    */
static int
drain (bus_sub_t *sub, int quiet_ms, uint64_t *first_seq, uint64_t *last_seq)
{
    int n = 0;
    bus_msg_t msg;
    while (bus_sub_recv (sub, quiet_ms, &msg) == 1) {
        if (n == 0 && first_seq)
            *first_seq = msg.header->seq;
        if (last_seq)
            *last_seq = msg.header->seq;
        n++;
    }
    return n;
}

static void
test_ipc_delivery (tally_t *t)
{
    config_t *cfg = test_config ();
    bus_pub_t *pub = bus_pub_new (cfg, "collector", cfg->bus.endpoints[WORKER_COLLECTOR]);
    bus_sub_t *sub = bus_sub_new (cfg);
    check (t, pub && sub, "create");
    check (t, strncmp (bus_pub_endpoint (pub), "ipc://", 6) == 0, "endpoint %s",
           bus_pub_endpoint (pub));
    check (t, bus_sub_attach (sub, cfg->bus.endpoints[WORKER_COLLECTOR]) == 0, "attach");
    bus_sub_subscribe (sub, "tap.");
    check (t, bus_pub_wait_subscriber (pub, 3000) == 0, "subscription seen");
    check (t, send_flows (pub, 100, 1000) == 100, "send 100");

    bus_msg_t msg;
    int got = 0;
    bool fields_ok = true;
    while (got < 100 && bus_sub_recv (sub, 2000, &msg) == 1) {
        Dpidual__V1__FlowEvent *ev = (Dpidual__V1__FlowEvent *) msg.body;
        fields_ok &= strcmp (msg.topic, "tap.flow") == 0
                     && msg.body->descriptor == &dpidual__v1__flow_event__descriptor
                     && ev->src_port == (uint32_t) (1000 + got) && strcmp (ev->proto, "TLS.Google") == 0
                     && msg.header->seq == (uint64_t) got + 1
                     && strcmp (msg.header->source, "collector@testhost") == 0
                     && msg.header->schema_version == DPI_SCHEMA_VERSION && msg.header->ts_ns > 0;
        got++;
    }
    check (t, got == 100, "received %d of 100", got);
    check (t, fields_ok, "fields, header and order as sent");
    check (t, bus_sub_gaps (sub) == 0 && bus_sub_decode_errors (sub) == 0, "no gaps, no errors");
    bus_source_stats_t st = bus_sub_source_stats (sub, 0);
    check (t, bus_sub_source_count (sub) == 1 && st.received == 100, "per-source count");

    /* a counting subscriber decodes the headers only: same accounting */
    bus_sub_set_headers_only (sub, true);
    check (t, send_flows (pub, 10, 2000) == 10, "send 10 more");
    int headers = 0;
    bool headers_ok = true;
    while (headers < 10 && bus_sub_recv (sub, 2000, &msg) == 1) {
        headers_ok &= msg.body == NULL && msg.header->seq == 101u + (uint64_t) headers
                      && strcmp (msg.header->source, "collector@testhost") == 0;
        headers++;
    }
    check (t, headers == 10 && headers_ok, "headers only: %d of 10, in order", headers);
    check (t, bus_sub_gaps (sub) == 0 && bus_sub_source_stats (sub, 0).received == 110,
           "headers only: accounted");

    /* a wrong type for the topic is refused and counted */
    Dpidual__V1__Decision d = DPIDUAL__V1__DECISION__INIT;
    check (t, bus_pub_send (pub, TOPIC_TAP_FLOW, &d.base) == -1, "type/topic mismatch refused");
    check (t, bus_pub_send (pub, "no.such.topic", &d.base) == -1, "unknown topic refused");
    check (t, bus_pub_send_errors (pub) == 2, "send errors counted");

    bus_sub_destroy (&sub);
    bus_pub_destroy (&pub);
    config_destroy (&cfg);
}

static void
test_hwm_gaps (tally_t *t)
{
    config_t *cfg = test_config ();
    cfg->bus.sndhwm = 10;
    cfg->bus.rcvhwm = 10;
    bus_pub_t *pub = bus_pub_new (cfg, "collector", cfg->bus.endpoints[WORKER_COLLECTOR]);
    bus_sub_t *sub = bus_sub_new (cfg);
    bus_sub_attach (sub, cfg->bus.endpoints[WORKER_COLLECTOR]);
    bus_sub_subscribe (sub, "");
    check (t, bus_pub_wait_subscriber (pub, 3000) == 0, "subscription seen");
    /* the subscriber does not read while 20000 messages go out */
    int sent = send_flows (pub, 20000, 0);
    zclock_sleep (300);
    uint64_t first = 0, last = 0;
    int got = drain (sub, 500, &first, &last);
    uint64_t gaps = bus_sub_gaps (sub);
    check (t, sent == 20000, "all sends accepted by the PUB socket");
    check (t, got < 20000 && gaps > 0, "overflow happened: received %d, gaps %llu", got,
           (unsigned long long) gaps);
    check (t, (uint64_t) got + gaps == last - first + 1,
           "every message between first and last is received or counted: %d + %llu != %llu",
           got, (unsigned long long) gaps, (unsigned long long) (last - first + 1));
    bus_sub_destroy (&sub);
    bus_pub_destroy (&pub);
    config_destroy (&cfg);
}

/*  One source, every topic in turn (more than the subscriber's cache of
    recent (source, topic) pairs): each message lands on its own topic's
    sequence, and an overflow is counted per topic exactly.                 */
static void
test_interleaved_gaps (tally_t *t)
{
    config_t *cfg = test_config ();     /* the default HWMs: 100000 each way */
    bus_pub_t *pub = bus_pub_new (cfg, "collector", cfg->bus.endpoints[WORKER_COLLECTOR]);
    bus_sub_t *sub = bus_sub_new (cfg);
    bus_sub_attach (sub, cfg->bus.endpoints[WORKER_COLLECTOR]);
    bus_sub_subscribe (sub, "");
    check (t, bus_pub_wait_subscriber (pub, 3000) == 0, "subscription seen");
    enum { TOPICS = 16, ROUNDS = 40000 };
    ProtobufCMessage *msgs[TOPICS];
    const char *names[TOPICS];
    size_t n = 0;
    for (size_t i = 0; topics_name (i) && n < TOPICS; i++) {
        const ProtobufCMessageDescriptor *d = topics_descriptor (topics_name (i));
        msgs[n] = calloc (1, d->sizeof_message);
        protobuf_c_message_init (d, msgs[n]);
        names[n++] = topics_name (i);
    }
    check (t, n > 8, "more topics (%zu) than the subscriber's 8 recent pairs", n);
    /* one message at a time first (none can be dropped): no gap anywhere */
    int got = 0;
    bus_msg_t m;
    for (int k = 0; k < 30; k++)
        for (size_t i = 0; i < n; i++)
            if (bus_pub_send (pub, names[i], msgs[i]) == 0 && bus_sub_recv (sub, 2000, &m) == 1)
                got++;
    check (t, got == 30 * (int) n && bus_sub_gaps (sub) == 0,
           "interleaved, in order: %d of %d, gaps %llu", got, 30 * (int) n,
           (unsigned long long) bus_sub_gaps (sub));
    /* then an overflow while the subscriber does not read, and one more
       round read in full (it shows what was lost at the tail) */
    for (int k = 0; k < ROUNDS; k++)
        for (size_t i = 0; i < n; i++)
            bus_pub_send (pub, names[i], msgs[i]);
    zclock_sleep (300);
    got = drain (sub, 500, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        if (bus_pub_send (pub, names[i], msgs[i]) == 0 && bus_sub_recv (sub, 2000, &m) == 1)
            got++;
    uint64_t gaps = bus_sub_gaps (sub), total = (ROUNDS + 1) * (uint64_t) n;
    check (t, gaps > 0 && (uint64_t) got + gaps == total,
           "interleaved overflow: received %d + gaps %llu == %llu sent", got,
           (unsigned long long) gaps, (unsigned long long) total);
    for (size_t i = 0; i < n; i++)
        free (msgs[i]);
    bus_sub_destroy (&sub);
    bus_pub_destroy (&pub);
    config_destroy (&cfg);
}

/*  A restarted publisher is a new process (in one process libzmq does not
    reconnect a SUB to a socket re-bound at the same address): run
    dpi-testpub twice against one subscriber.                                */
static void
test_restart (tally_t *t)
{
    config_t *cfg = test_config ();
    char yaml[300], cmd[1200];
    snprintf (yaml, sizeof yaml, "%s.yaml", s_dir);
    bus_sub_t *sub = bus_sub_new (cfg);
    char ep[300];
    snprintf (ep, sizeof ep, "ipc://%s/restart.pub", s_dir);
    bus_sub_attach (sub, ep);
    bus_sub_subscribe (sub, "");
    snprintf (cmd, sizeof cmd, "%s/tests/dpi-testpub -c %s --bind %s --name collector -n 5 "
              "--quiet --wait-subscriber 5000", BINARY_DIR, yaml, ep);
    int got = 0;
    for (int round = 0; round < 2; round++) {
        check (t, system (cmd) == 0, "dpi-testpub run %d", round);
        got += drain (sub, 300, NULL, NULL);
    }
    bus_source_stats_t st = bus_sub_source_stats (sub, 0);
    check (t, got == 10, "received %d of 10", got);
    check (t, st.restarts == 1, "one restart, got %llu", (unsigned long long) st.restarts);
    check (t, st.gaps == 0, "a restart is not a gap, got %llu", (unsigned long long) st.gaps);
    bus_sub_destroy (&sub);
    config_destroy (&cfg);
}

static void
send_raw (void *sock, const char *topic, const void *data, size_t len, bool third)
{
    zmq_send (sock, topic, strlen (topic), data || third ? ZMQ_SNDMORE : 0);
    if (data)
        zmq_send (sock, data, len, third ? ZMQ_SNDMORE : 0);
    if (third)
        zmq_send (sock, "x", 1, 0);
}

/*  A raw XPUB on the buffer's endpoint and a subscriber to everything on
    it, the subscription already through: messages forged by hand.        */
static bus_sub_t *
raw_pair (tally_t *t, config_t *cfg, zsock_t **raw)
{
    *raw = zsock_new (ZMQ_XPUB);
    check (t, zsock_bind (*raw, "%s", cfg->bus.endpoints[WORKER_BUFFER]) == 0, "raw bind");
    bus_sub_t *sub = bus_sub_new (cfg);
    bus_sub_attach (sub, cfg->bus.endpoints[WORKER_BUFFER]);
    bus_sub_subscribe (sub, "");
    zframe_t *hello = zframe_recv (*raw);   /* the subscription */
    zframe_destroy (&hello);
    return sub;
}

static void
test_garbage (tally_t *t)
{
    config_t *cfg = test_config ();
    zsock_t *raw = NULL;
    bus_sub_t *sub = raw_pair (t, cfg, &raw);
    void *s = zsock_resolve (raw);

    Dpidual__V1__Header h = DPIDUAL__V1__HEADER__INIT;
    h.source = "raw@test";
    h.seq = 1;
    Dpidual__V1__Decision d = DPIDUAL__V1__DECISION__INIT;
    d.header = &h;
    d.value = "192.0.2.9";
    uint8_t good[256];
    size_t good_len = protobuf_c_message_pack (&d.base, good);
    Dpidual__V1__Decision noheader = DPIDUAL__V1__DECISION__INIT;
    uint8_t nh[64];
    size_t nh_len = protobuf_c_message_pack (&noheader.base, nh);

    send_raw (s, "no.such.topic", good, good_len, false);   /* unknown topic   */
    send_raw (s, "decision", "\xff\xff\xff\xff", 4, false); /* bad protobuf    */
    send_raw (s, "decision", NULL, 0, false);               /* one frame only  */
    send_raw (s, "decision", good, good_len, true);         /* three frames    */
    send_raw (s, "decision", nh, nh_len, false);            /* no header       */
    send_raw (s, "decision", good, good_len - 3, false);    /* truncated       */
    zmq_send (s, "decision\0junk", 13, ZMQ_SNDMORE);        /* a NUL in the topic */
    zmq_send (s, good, good_len, 0);
    send_raw (s, "decision", good, good_len, false);        /* fine            */

    bus_msg_t msg;
    int rc = bus_sub_recv (sub, 3000, &msg);
    check (t, rc == 1 && strcmp (msg.topic, "decision") == 0
              && strcmp (((Dpidual__V1__Decision *) msg.body)->value, "192.0.2.9") == 0,
           "the good message after the garbage arrives");
    check (t, bus_sub_decode_errors (sub) == 7, "7 bad messages counted, got %llu",
           (unsigned long long) bus_sub_decode_errors (sub));
    bus_sub_destroy (&sub);
    zsock_destroy (&raw);
    config_destroy (&cfg);
}

/*  A restarted publisher's first messages can go out before a subscriber has
    reconnected to it (up to bus_sub_new's reconnect interval): the first one
    the subscriber gets from the new instance says how many it missed.
    Instances and numbers are forged on a raw socket.                       */
static void
send_decision (void *sock, uint64_t instance, uint64_t seq)
{
    Dpidual__V1__Header h = DPIDUAL__V1__HEADER__INIT;
    h.source = "raw@test";
    h.instance = instance;
    h.seq = seq;
    Dpidual__V1__Decision d = DPIDUAL__V1__DECISION__INIT;
    d.header = &h;
    d.value = "192.0.2.9";
    uint8_t buf[256];
    send_raw (sock, "decision", buf, protobuf_c_message_pack (&d.base, buf), false);
}

static void
test_restart_missed (tally_t *t)
{
    config_t *cfg = test_config ();
    zsock_t *raw = NULL;
    bus_sub_t *sub = raw_pair (t, cfg, &raw);
    void *s = zsock_resolve (raw);
    static const uint64_t sent[][2] = {
        { 100, 1 }, { 100, 2 }, { 100, 3 },     /* the first instance                */
        { 200, 4 }, { 200, 5 },                 /* a restart: its 1..3 missed        */
        { 300, 1 },                             /* a restart, nothing missed         */
        { 300, 2 }, { 300, 1 },                 /* seq 1 again, same instance        */
    };
    size_t n = sizeof sent / sizeof sent[0];
    for (size_t i = 0; i < n; i++)
        send_decision (s, sent[i][0], sent[i][1]);
    int got = drain (sub, 1000, NULL, NULL);
    bus_source_stats_t st = bus_sub_source_stats (sub, 0);
    check (t, got == (int) n, "received %d of %zu", got, n);
    check (t, st.restarts == 3, "three restarts, got %llu", (unsigned long long) st.restarts);
    check (t, st.gaps == 3, "the new instance's 3 missed messages are gaps, got %llu",
           (unsigned long long) st.gaps);
    check (t, bus_sub_gaps (sub) == 3, "total gaps %llu", (unsigned long long) bus_sub_gaps (sub));
    bus_sub_destroy (&sub);
    zsock_destroy (&raw);
    config_destroy (&cfg);
}

static void
test_curve (tally_t *t)
{
    test_certs_t c;
    test_certs_make (s_dir, &c);        /* allow/client is allowed, keys/stranger not */
    const char *allow = c.allow;
    const char *server = c.server, *client = c.client, *stranger = c.stranger;

    config_t *scfg = test_config (), *ccfg = test_config (), *xcfg = test_config ();
    scfg->bus.curve.enabled = ccfg->bus.curve.enabled = xcfg->bus.curve.enabled = true;
    test_set_str (&scfg->bus.curve.cert, server);
    test_set_str (&scfg->bus.curve.allow_dir, allow);
    test_set_str (&ccfg->bus.curve.cert, client);
    test_set_str (&ccfg->bus.curve.server_cert, server);
    test_set_str (&xcfg->bus.curve.cert, stranger);
    test_set_str (&xcfg->bus.curve.server_cert, server);

    bus_pub_t *pub = bus_pub_new (scfg, "collector", "tcp://127.0.0.1:*");
    check (t, pub != NULL, "CURVE publisher binds");
    if (!pub)
        return;
    const char *ep = bus_pub_endpoint (pub);
    check (t, strncmp (ep, "tcp://127.0.0.1:", 16) == 0 && !strchr (ep, '*'),
           "port resolved: %s", ep);

    bus_sub_t *stranger_sub = bus_sub_new (xcfg);
    check (t, bus_sub_attach (stranger_sub, ep) == 0, "stranger connects");
    bus_sub_subscribe (stranger_sub, "");
    bus_sub_t *sub = bus_sub_new (ccfg);
    check (t, bus_sub_attach (sub, ep) == 0, "client connects");
    bus_sub_subscribe (sub, "");
    check (t, bus_pub_wait_subscriber (pub, 5000) == 0, "allowed client subscribed");
    zclock_sleep (500);             /* give the stranger every chance */
    send_flows (pub, 50, 0);
    int got = drain (sub, 1000, NULL, NULL);
    int stranger_got = drain (stranger_sub, 500, NULL, NULL);
    check (t, got == 50, "listed client received %d of 50", got);
    check (t, stranger_got == 0, "unlisted client received %d", stranger_got);

    /* a plain (non-CURVE) client gets nothing either */
    config_t *plain = test_config ();
    bus_sub_t *plain_sub = bus_sub_new (plain);
    bus_sub_attach (plain_sub, ep);
    bus_sub_subscribe (plain_sub, "");
    zclock_sleep (300);
    send_flows (pub, 10, 0);
    check (t, drain (plain_sub, 500, NULL, NULL) == 0, "plain client received nothing");
    check (t, drain (sub, 500, NULL, NULL) == 10, "listed client still served");

    bus_sub_destroy (&plain_sub);
    bus_sub_destroy (&sub);
    bus_sub_destroy (&stranger_sub);
    bus_pub_destroy (&pub);
    config_destroy (&plain);
    config_destroy (&scfg);
    config_destroy (&ccfg);
    config_destroy (&xcfg);
}

/*  Two hosts (global.workers): the analysis host's buffer connects to the
    router's bridge (router key: bus.curve.server_cert) and to its own
    correlator (this host's key): one subscriber, two server keys.           */
static void
test_curve_two_hosts (tally_t *t)
{
    test_certs_t c;
    test_certs_make (s_dir, &c);        /* server = the router, client = the analysis host */
    config_t *rcfg = test_config (), *acfg_srv = test_config ();
    rcfg->bus.curve.enabled = acfg_srv->bus.curve.enabled = true;
    test_set_str (&rcfg->bus.curve.cert, c.server);
    test_set_str (&rcfg->bus.curve.allow_dir, c.allow);
    test_set_str (&acfg_srv->bus.curve.cert, c.client);
    test_set_str (&acfg_srv->bus.curve.allow_dir, c.allow);  /* allows its own key */
    bus_pub_t *rpub = bus_pub_new (rcfg, "bridge-mitm", "tcp://127.0.0.1:*");
    bus_pub_t *apub = bus_pub_new (acfg_srv, "correlator", "tcp://127.0.0.1:*");
    check (t, rpub && apub, "the router's and the analysis host's publishers bind");
    if (!rpub || !apub)
        return;
    char yaml[400];
    snprintf (yaml, sizeof yaml, "%s/analysis.yaml", s_dir);
    FILE *f = fopen (yaml, "w");
    if (f) {
        fprintf (f, "global:\n  host: analysis\n  run_dir: %s\n  workers: [buffer, correlator]\n"
                 "bus:\n  endpoints:\n    bridge_mitm: \"%s\"\n    correlator: \"%s\"\n"
                 "  curve:\n    enabled: true\n    cert: %s_secret\n    server_cert: %s\n"
                 "    allow_dir: %s\n",
                 s_dir, bus_pub_endpoint (rpub), bus_pub_endpoint (apub), c.client, c.server,
                 c.allow);
        fclose (f);
    }
    config_t *acfg = config_load_verbose (yaml);
    check (t, acfg != NULL, "the analysis host's config loads");
    if (!acfg)
        return;
    check (t, bus_served_here (acfg, bus_pub_endpoint (apub)), "the correlator's endpoint is served here");
    check (t, !bus_served_here (acfg, bus_pub_endpoint (rpub)), "the bridge's is not");
    check (t, !bus_served_here (rcfg, bus_pub_endpoint (rpub)), "without global.workers: never");
    const char *port = strrchr (bus_pub_endpoint (apub), ':');
    char wild[80];
    snprintf (wild, sizeof wild, "tcp://*%s", port);
    test_set_str (&acfg->bus.endpoints[WORKER_CORRELATOR], wild);
    char lo[80];
    snprintf (lo, sizeof lo, "tcp://127.0.0.1%s", port);
    check (t, bus_served_here (acfg, lo), "a wildcard bind serves any host on its port");
    test_set_str (&acfg->bus.endpoints[WORKER_CORRELATOR], bus_pub_endpoint (apub));

    bus_sub_t *sub = bus_sub_new (acfg);
    check (t, bus_sub_attach (sub, bus_pub_endpoint (rpub)) == 0, "connects to the router");
    check (t, bus_sub_attach (sub, bus_pub_endpoint (apub)) == 0, "connects to its own correlator");
    bus_sub_subscribe (sub, "");
    check (t, bus_pub_wait_subscriber (rpub, 5000) == 0, "the router's publisher has the subscriber");
    check (t, bus_pub_wait_subscriber (apub, 5000) == 0, "the local publisher has the subscriber");
    send_flows (rpub, 20, 0);
    send_flows (apub, 30, 0);
    int got = drain (sub, 1000, NULL, NULL);
    check (t, got == 50, "one subscriber, two server keys: received %d of 50", got);
    bus_sub_destroy (&sub);
    bus_pub_destroy (&rpub);
    bus_pub_destroy (&apub);
    config_destroy (&acfg);
    config_destroy (&rcfg);
    config_destroy (&acfg_srv);
}

/*  A worker sets zsys_interrupted at SIGTERM (worker.c). An event for the
    ZAP handler after that (a client leaving, the monitor stopped) must not
    leave it spinning in zpoller_wait (which returns NULL at once while
    zsys_interrupted is set) instead of reading $TERM: the publisher's
    destroy waited for it forever (dpi-buffer hung at exit in
    it_two_hosts). SIGALRM ends a hung run.                                  */
static void
test_curve_exit_interrupted (tally_t *t)
{
    test_certs_t c;
    test_certs_make (s_dir, &c);
    config_t *scfg = test_config (), *ccfg = test_config ();
    scfg->bus.curve.enabled = ccfg->bus.curve.enabled = true;
    test_set_str (&scfg->bus.curve.cert, c.server);
    test_set_str (&scfg->bus.curve.allow_dir, c.allow);
    test_set_str (&ccfg->bus.curve.cert, c.client);
    test_set_str (&ccfg->bus.curve.server_cert, c.server);
    bus_pub_t *pub = bus_pub_new (scfg, "buffer", "tcp://127.0.0.1:*");
    bus_sub_t *sub = bus_sub_new (ccfg);
    check (t, pub && sub, "CURVE publisher and client");
    if (!pub || !sub)
        return;
    bus_sub_attach (sub, bus_pub_endpoint (pub));
    bus_sub_subscribe (sub, "");
    check (t, bus_pub_wait_subscriber (pub, 5000) == 0, "client subscribed");
    zsys_interrupted = 1;               /* SIGTERM, as the worker takes it */
    bus_sub_destroy (&sub);             /* the client leaves: an event for the handler */
    zclock_sleep (300);
    alarm (20);
    bus_pub_destroy (&pub);             /* the last hold: $TERM to the handler */
    alarm (0);
    zsys_interrupted = 0;
    check (t, pub == NULL, "a CURVE publisher closes after an interrupt");
    config_destroy (&scfg);
    config_destroy (&ccfg);
}

static void
test_heartbeat (tally_t *t)
{
    config_t *cfg = test_config ();
    bus_pub_t *pub = bus_pub_new (cfg, "correlator", cfg->bus.endpoints[WORKER_CORRELATOR]);
    bus_sub_t *own = bus_sub_new (cfg);       /* the worker's own subscriber */
    bus_sub_attach (own, cfg->bus.endpoints[WORKER_COLLECTOR]);
    bus_sub_t *sub = bus_sub_new (cfg);
    bus_sub_attach (sub, cfg->bus.endpoints[WORKER_CORRELATOR]);
    bus_sub_subscribe (sub, TOPIC_HEARTBEAT);
    check (t, bus_pub_wait_subscriber (pub, 3000) == 0, "subscription seen");
    heartbeat_t *hb = heartbeat_new (cfg, pub, own);
    heartbeat_counter_t counters[] = { { "threats", 7 } };
    check (t, heartbeat_tick (hb, counters, 1, false) == 1, "first heartbeat is due at once");
    check (t, heartbeat_tick (hb, counters, 1, false) == 0, "second is not due yet");
    check (t, heartbeat_wait_ms (hb) > 1000, "next due in about the interval");
    bus_msg_t msg;
    /* a generous bound: a loaded machine under ASan is slow */
    if (!check (t, bus_sub_recv (sub, 10000, &msg) == 1, "heartbeat received"))
        goto done;
    Dpidual__V1__Heartbeat *h = (Dpidual__V1__Heartbeat *) msg.body;
    check (t, strcmp (h->name, "correlator") == 0 && strcmp (h->host, "testhost") == 0
              && h->pid == (uint32_t) getpid () && strcmp (h->version, DPI_VERSION) == 0,
           "identity");
    check (t, h->n_endpoints == 2 && strcmp (h->endpoints[0]->role, "bind") == 0
              && strcmp (h->endpoints[1]->role, "connect") == 0
              && strcmp (h->endpoints[1]->socket, "sub") == 0, "endpoints");
    check (t, h->n_counters == 4 && h->counters[0]->value == 7, "worker counters");
    check (t, h->n_counters == 4 && strcmp (h->counters[1]->name, "heap_in_use") == 0
              && h->counters[1]->value > 0 && strcmp (h->counters[2]->name, "heap_free") == 0
              && strcmp (h->counters[3]->name, "heap_releases") == 0,
           "then the heap (heapstat.h)");
    check (t, h->interval_s == (uint32_t) cfg->bus.heartbeat_interval, "interval");
    check (t, h->n_subscriptions == 0, "no subscription yet");

    /* what the subscriber asked for, and rates and ages since the previous one */
    bus_sub_subscribe (own, TOPIC_HEARTBEAT);
    bus_sub_subscribe (own, "tap.");
    bus_sub_subscribe (own, "tap.");                /* kept once */
    bus_pub_t *cpub = bus_pub_new (cfg, "collector", cfg->bus.endpoints[WORKER_COLLECTOR]);
    heartbeat_t *chb = heartbeat_new (cfg, cpub, NULL);
    check (t, bus_pub_wait_subscriber (cpub, 3000) == 0, "collector: subscription seen");
    int got = 0;
    for (int i = 0; i < 3; i++)
        heartbeat_tick (chb, NULL, 0, true);
    while (got < 3 && bus_sub_recv (own, 10000, &msg) == 1)
        got++;
    check (t, got == 3, "the worker received the collector's 3 heartbeats (%d)", got);
    Dpidual__V1__Decision d = DPIDUAL__V1__DECISION__INIT;
    for (int i = 0; i < 10; i++)
        bus_pub_send (pub, TOPIC_DECISION, &d.base);
    zclock_sleep (100);
    check (t, heartbeat_tick (hb, counters, 1, true) == 1, "forced heartbeat");
    if (!check (t, bus_sub_recv (sub, 10000, &msg) == 1, "second heartbeat received")) {
        heartbeat_destroy (&chb);
        bus_pub_destroy (&cpub);
        goto done;
    }
    h = (Dpidual__V1__Heartbeat *) msg.body;
    check (t, h->n_subscriptions == 2 && strcmp (h->subscriptions[0], TOPIC_HEARTBEAT) == 0
              && strcmp (h->subscriptions[1], "tap.") == 0, "subscriptions");
    const Dpidual__V1__TopicCounter *dec = NULL;
    for (size_t i = 0; i < h->n_published; i++)
        if (strcmp (h->published[i]->topic, TOPIC_DECISION) == 0)
            dec = h->published[i];
    check (t, dec && dec->sent == 10 && dec->rate > 0 && dec->rate <= 10 / 0.099,
           "decision rate: 10 in at least 0.1 s (%g)", dec ? dec->rate : -1);
    check (t, h->n_received == 1 && strcmp (h->received[0]->source, "collector@testhost") == 0
              && h->received[0]->received == 3 && h->received[0]->rate > 0
              && h->received[0]->last_age_ms >= 50 && h->received[0]->last_age_ms < 60000,
           "received: count, rate, age of the last message");
    heartbeat_destroy (&chb);
    bus_pub_destroy (&cpub);
done:
    heartbeat_destroy (&hb);
    bus_sub_destroy (&sub);
    bus_sub_destroy (&own);
    bus_pub_destroy (&pub);
    config_destroy (&cfg);
}

static void
test_bad_endpoints (tally_t *t)
{
    config_t *cfg = test_config ();
    check (t, bus_pub_new (cfg, "x", "udp://1.2.3.4:5") == NULL, "bad scheme refused");
    cfg->bus.curve.enabled = true;
    test_set_str (&cfg->bus.curve.cert, "/nonexistent/cert");
    test_set_str (&cfg->bus.curve.allow_dir, s_dir);
    check (t, bus_pub_new (cfg, "x", "tcp://127.0.0.1:*") == NULL, "missing certificate refused");
    config_destroy (&cfg);
}

int
main (void)
{
    tally_t t = { 0 };
    log_init ("test_bus", "error");
    zsys_init ();
    snprintf (s_dir, sizeof s_dir, "/tmp/dpi-test-bus.%d", (int) getpid ());
    test_ipc_delivery (&t);
    test_hwm_gaps (&t);
    test_interleaved_gaps (&t);
    test_restart (&t);
    test_restart_missed (&t);
    test_garbage (&t);
    test_curve (&t);
    test_curve_two_hosts (&t);
    test_curve_exit_interrupted (&t);
    test_heartbeat (&t);
    test_bad_endpoints (&t);
    char cmd[700];
    snprintf (cmd, sizeof cmd, "rm -rf '%s' '%s.yaml'", s_dir, s_dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_dir);
    return tally_report (&t);
}
