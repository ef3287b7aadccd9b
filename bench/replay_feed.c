/*  replay_feed.c — the bus side of bench/correlator-replay: a publisher of a
    recorded stream that is never the bottleneck, and the subscribers it is
    measured against.

    replay-feed pack FILE.jsonl OUT
        Parses FILE (JSON lines as `dpi-dualctl tail` prints them: jansson +
        pbjson_parse, as dpi-correlator --offline does) and packs each line
        once, up front, as the bus would send it, into OUT: the body with a
        Header (source "collector@replay" for tap.flow, "bridge-mitm@replay"
        for mitm.*, "buffer@replay" for buffer.alert; a sequence number per
        topic from 1; one instance), so that sending costs zmq_send only.
        Prints: messages N  bytes B  pack_s S.

    replay-feed parse FILE.jsonl TOPIC...
        The anchor of dpi-correlator --offline: each line of FILE parsed as
        --offline parses it (common/jsonl_in.c): json_loads, then for a line
        of TOPIC... pbjson_parse, then freed; nothing else.
        Prints: lines N  parsed P  parse_s S

    replay-feed pub OUT --bind EP [--subs K] [--marker IP --watch EP2]
        Reads the packed OUT into memory, binds a plain XPUB on EP (bus.sndhwm, ZMQ_XPUB_NODROP:
        at the high-water mark it waits, it never drops), waits for K
        subscriptions (default 1), then sends everything as fast as it can.
        With --watch, it also subscribes to correlated.threat and
        sys.heartbeat on EP2 (a dpi-correlator's endpoint) and, after
        sending, waits for the correlated.threat of IP (the stream's last
        line is a BLOCK for it: every event before it was processed), then
        for a heartbeat sent after it, and prints its counters.
        Prints one line of KEY VALUE pairs:
          messages N  t0_ns T  sent_ns T2
          [done_ns T3  flows F requests R verdicts V alerts A  received X
           gaps G  decode_errors D]

    replay-feed sub --connect EP [--raw] TOPIC...
        A subscriber of TOPIC... (the correlator's four) that stops at the
        marker (a mitm.verdict whose request_id is "marker") or after 5 s of
        silence. Without --raw it is the anchor: bus_sub_recv (the body
        decoded, the header checked, gaps counted), nothing else; with --raw
        it only receives the frames (the publisher alone, no decoding).
        Prints: received N  done_ns T  gaps G  decode_errors D  cpu_s C (the
        process's CPU time, its ZeroMQ I/O thread included)

    Times are CLOCK_REALTIME ns, so the script can take the rate from the
    publisher's t0 to the consumer's end across processes. Nothing here
    fails on timing.                                                        */
#define _GNU_SOURCE                 /* memmem                               */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zmq.h>

#include "bus.h"
#include "log.h"
#include "pbjson.h"
#include "topics.h"

#define SILENCE_MS 5000

typedef struct {
    const char *topic;
    size_t topic_len;
    uint8_t *data;
    size_t size;
} packed_t;

/*  The topics of a stream: a few, kept for the process's life.            */
static char s_topics[16][64];
static size_t s_ntopics;

/*  TOPIC's index in s_topics, added if new; -1 when full or too long.      */
static long
topic_index (const char *topic)
{
    for (size_t t = 0; t < s_ntopics; t++)
        if (strcmp (s_topics[t], topic) == 0)
            return (long) t;
    if (s_ntopics == 16 || strlen (topic) >= sizeof s_topics[0])
        return -1;
    strcpy (s_topics[s_ntopics], topic);
    return (long) s_ntopics++;
}

static void
free_packed (packed_t *msgs, size_t n)
{
    for (size_t i = 0; msgs && i < n; i++)
        free (msgs[i].data);
    free (msgs);
}

static uint64_t
now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static const char *
source_of (const char *topic)
{
    if (strncmp (topic, "tap.", 4) == 0)
        return "collector@replay";
    if (strncmp (topic, "mitm.", 5) == 0)
        return "bridge-mitm@replay";
    return "buffer@replay";
}

/*  Every line of PATH packed with its header; *N messages. NULL on error.  */
static packed_t *
load (const char *path, size_t *n, size_t *bytes)
{
    FILE *in = fopen (path, "r");
    if (!in) {
        fprintf (stderr, "replay-feed: %s: %s\n", path, strerror (errno));
        return NULL;
    }
    size_t cap = 1 << 20, count = 0, total = 0;
    packed_t *out = malloc (cap * sizeof *out);
    uint64_t seqs[16] = { 0 };     /* per topic (s_topics)                  */
    uint64_t instance = now_ns ();
    char *line = NULL, why[256];
    size_t linecap = 0;
    while (out && getline (&line, &linecap, in) > 0) {
        json_t *obj = json_loads (line, 0, NULL);
        const char *topic = json_string_value (json_object_get (obj, "topic"));
        const ProtobufCMessageDescriptor *desc = topic ? topics_descriptor (topic) : NULL;
        json_object_del (obj, "header");
        ProtobufCMessage *msg = desc ? pbjson_parse (desc, obj, why, sizeof why) : NULL;
        if (!msg) {
            fprintf (stderr, "replay-feed: %s:%zu: %s\n", path, count + 1,
                     desc ? why : "no known topic");
            free_packed (out, count);
            out = NULL;
            json_decref (obj);
            break;
        }
        long t = topic_index (topic);
        if (t < 0) {
            fprintf (stderr, "replay-feed: %s:%zu: too many topics\n", path, count + 1);
            protobuf_c_message_free_unpacked (msg, NULL);
            json_decref (obj);
            free_packed (out, count);
            out = NULL;
            break;
        }
        Dpidual__V1__Header header = DPIDUAL__V1__HEADER__INIT;
        header.source = (char *) source_of (topic);
        header.seq = ++seqs[t];
        header.ts_ns = now_ns ();
        header.schema_version = DPI_SCHEMA_VERSION;
        header.instance = instance;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field (desc, 1);
        *(Dpidual__V1__Header **) ((char *) msg + f->offset) = &header;
        if (count == cap)
            out = realloc (out, (cap *= 2) * sizeof *out);
        packed_t *p = &out[count++];
        p->topic = s_topics[t];
        p->topic_len = strlen (s_topics[t]);
        p->size = protobuf_c_message_get_packed_size (msg);
        p->data = malloc (p->size ? p->size : 1);
        protobuf_c_message_pack (msg, p->data);
        total += p->size + p->topic_len;
        *(Dpidual__V1__Header **) ((char *) msg + f->offset) = NULL;
        protobuf_c_message_free_unpacked (msg, NULL);
        json_decref (obj);
    }
    free (line);
    fclose (in);
    *n = count;
    *bytes = total;
    return out;
}

/*  OUT: per message, u32 topic length, topic, u32 size, data.              */
static int
save (const char *path, const packed_t *msgs, size_t n)
{
    FILE *out = fopen (path, "w");
    if (!out)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t tl = (uint32_t) msgs[i].topic_len, sz = (uint32_t) msgs[i].size;
        fwrite (&tl, 4, 1, out);
        fwrite (msgs[i].topic, 1, tl, out);
        fwrite (&sz, 4, 1, out);
        fwrite (msgs[i].data, 1, sz, out);
    }
    return fclose (out);
}

static packed_t *
restore (const char *path, size_t *n)
{
    FILE *in = fopen (path, "r");
    if (!in) {
        fprintf (stderr, "replay-feed: %s: %s\n", path, strerror (errno));
        return NULL;
    }
    size_t cap = 1 << 20, count = 0;
    packed_t *out = malloc (cap * sizeof *out);
    uint32_t tl, sz;
    char topic[256];
    while (fread (&tl, 4, 1, in) == 1 && tl < sizeof topic && fread (topic, 1, tl, in) == tl
           && fread (&sz, 4, 1, in) == 1) {
        topic[tl] = 0;
        long t = topic_index (topic);
        if (t < 0)
            break;
        if (count == cap)
            out = realloc (out, (cap *= 2) * sizeof *out);
        packed_t *p = &out[count++];
        p->topic = s_topics[t];
        p->topic_len = tl;
        p->size = sz;
        p->data = malloc (sz ? sz : 1);
        if (fread (p->data, 1, sz, in) != sz)
            break;
    }
    fclose (in);
    *n = count;
    return out;
}

static int
cmd_parse (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: replay-feed parse FILE.jsonl TOPIC...\n");
        return 2;
    }
    FILE *in = fopen (argv[0], "r");
    if (!in) {
        fprintf (stderr, "replay-feed: %s: %s\n", argv[0], strerror (errno));
        return 1;
    }
    uint64_t a = now_ns (), lines = 0, parsed = 0;
    char *line = NULL, why[256];
    size_t linecap = 0;
    ssize_t len;
    while ((len = getline (&line, &linecap, in)) > 0) {
        lines++;
        json_t *obj = json_loadb (line, (size_t) len, 0, NULL);
        const char *topic = json_string_value (json_object_get (obj, "topic"));
        bool wanted = false;
        for (int i = 1; topic && i < argc && !wanted; i++)
            wanted = strcmp (topic, argv[i]) == 0;
        ProtobufCMessage *msg = wanted ? pbjson_parse (topics_descriptor (topic), obj, why,
                                                       sizeof why) : NULL;
        if (msg) {
            parsed++;
            protobuf_c_message_free_unpacked (msg, NULL);
        }
        json_decref (obj);
    }
    free (line);
    fclose (in);
    printf ("lines %llu  parsed %llu  parse_s %.3f\n", (unsigned long long) lines,
            (unsigned long long) parsed, (double) (now_ns () - a) / 1e9);
    return 0;
}

static int
cmd_pack (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: replay-feed pack FILE.jsonl OUT\n");
        return 2;
    }
    uint64_t a = now_ns ();
    size_t n = 0, bytes = 0;
    packed_t *msgs = load (argv[0], &n, &bytes);
    if (!msgs)
        return 1;
    double pack_s = (double) (now_ns () - a) / 1e9;
    if (save (argv[1], msgs, n) != 0) {
        fprintf (stderr, "replay-feed: %s: %s\n", argv[1], strerror (errno));
        return 1;
    }
    printf ("messages %zu  bytes %zu  pack_s %.3f\n", n, bytes, pack_s);
    free_packed (msgs, n);
    return 0;
}

static int
send_frame (void *sock, const void *data, size_t size, int flags)
{
    for (;;) {
        if (zmq_send (sock, data, size, flags | ZMQ_DONTWAIT) >= 0)
            return 0;
        if (zmq_errno () != EAGAIN)
            return -1;
        zmq_pollitem_t item = { sock, 0, ZMQ_POLLOUT, 0 };
        zmq_poll (&item, 1, 100);       /* at the HWM: wait, never drop */
    }
}

/*  Counters of a heartbeat into the pub line.                              */
static void
print_heartbeat (const Dpidual__V1__Heartbeat *hb)
{
    static const char *const wanted[] = { "flows", "requests", "verdicts", "alerts",
                                          "evidence", "threats", "join_flows",
                                          "join_waiting", "join_evicted_flows",
                                          "joined_community_id", "unjoined", NULL };
    for (size_t i = 0; i < hb->n_counters; i++)
        for (size_t k = 0; wanted[k]; k++)
            if (strcmp (hb->counters[i]->name, wanted[k]) == 0)
                printf ("  %s %llu", wanted[k], (unsigned long long) hb->counters[i]->value);
    uint64_t received = 0, gaps = 0;
    for (size_t i = 0; i < hb->n_received; i++) {
        received += hb->received[i]->received;
        gaps += hb->received[i]->gaps;
    }
    printf ("  received %llu  gaps %llu  decode_errors %llu", (unsigned long long) received,
            (unsigned long long) gaps, (unsigned long long) hb->decode_errors);
}

static int
cmd_pub (int argc, char **argv)
{
    const char *file = NULL, *bind = NULL, *marker = NULL, *watch = NULL;
    long subs = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp (argv[i], "--bind") == 0 && i + 1 < argc)
            bind = argv[++i];
        else if (strcmp (argv[i], "--subs") == 0 && i + 1 < argc)
            subs = atol (argv[++i]);
        else if (strcmp (argv[i], "--marker") == 0 && i + 1 < argc)
            marker = argv[++i];
        else if (strcmp (argv[i], "--watch") == 0 && i + 1 < argc)
            watch = argv[++i];
        else
            file = argv[i];
    }
    if (!file || !bind || (watch && !marker)) {
        fprintf (stderr, "usage: replay-feed pub PACKED --bind EP [--subs K] "
                 "[--marker IP --watch EP]\n");
        return 2;
    }
    config_t *cfg = config_new ();
    bus_sub_t *w = NULL;
    if (watch) {
        w = bus_sub_new (cfg);
        if (!w || bus_sub_attach (w, watch) != 0)
            return 1;
        bus_sub_subscribe (w, TOPIC_CORRELATED_THREAT);
        bus_sub_subscribe (w, TOPIC_HEARTBEAT);
    }
    size_t n = 0;
    packed_t *msgs = restore (file, &n);
    if (!msgs)
        return 1;

    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, ZMQ_XPUB);
    int hwm = cfg->bus.sndhwm, one = 1, linger = -1;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_XPUB_NODROP, &one, sizeof one);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind (sock, bind) != 0) {
        fprintf (stderr, "replay-feed: bind %s: %s\n", bind, zmq_strerror (zmq_errno ()));
        return 1;
    }
    /* the subscriptions: one frame each (\x01 + prefix) */
    for (long got = 0; got < subs;) {
        zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 30000) <= 0) {
            fprintf (stderr, "replay-feed: %ld subscriptions of %ld after 30 s\n", got, subs);
            return 1;
        }
        char frame[256];
        if (zmq_recv (sock, frame, sizeof frame, 0) > 0 && frame[0] == 1)
            got++;
    }
    uint64_t t0 = now_ns ();
    for (size_t i = 0; i < n; i++)
        if (send_frame (sock, msgs[i].topic, msgs[i].topic_len, ZMQ_SNDMORE) != 0
            || send_frame (sock, msgs[i].data, msgs[i].size, 0) != 0) {
            fprintf (stderr, "replay-feed: send: %s\n", zmq_strerror (zmq_errno ()));
            return 1;
        }
    uint64_t sent = now_ns ();
    printf ("messages %zu  t0_ns %llu  sent_ns %llu", n, (unsigned long long) t0,
            (unsigned long long) sent);
    int rc = 0;
    if (w) {
        uint64_t done = 0;
        bus_msg_t m;
        while (bus_sub_recv (w, 120000, &m) == 1) {
            if (!done && strcmp (m.topic, TOPIC_CORRELATED_THREAT) == 0
                && strcmp (((Dpidual__V1__CorrelatedThreat *) m.body)->client_ip, marker) == 0)
                done = now_ns ();
            else if (done && strcmp (m.topic, TOPIC_HEARTBEAT) == 0
                     && m.header && m.header->ts_ns > done) {
                printf ("  done_ns %llu", (unsigned long long) done);
                print_heartbeat ((const Dpidual__V1__Heartbeat *) m.body);
                break;
            }
        }
        if (!done) {
            printf ("  done_ns 0");
            rc = 1;
        }
        bus_sub_destroy (&w);
    }
    printf ("\n");
    fflush (stdout);
    zmq_close (sock);
    zmq_ctx_term (ctx);
    free_packed (msgs, n);
    config_destroy (&cfg);
    return rc;
}

static int
cmd_sub (int argc, char **argv)
{
    const char *connect = NULL;
    bool raw = false;
    const char *topics[16];
    size_t ntopics = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp (argv[i], "--connect") == 0 && i + 1 < argc)
            connect = argv[++i];
        else if (strcmp (argv[i], "--raw") == 0)
            raw = true;
        else if (ntopics < 16)
            topics[ntopics++] = argv[i];
    }
    if (!connect || !ntopics) {
        fprintf (stderr, "usage: replay-feed sub --connect EP [--raw] TOPIC...\n");
        return 2;
    }
    config_t *cfg = config_new ();
    uint64_t received = 0, done = 0, gaps = 0, errors = 0;
    if (raw) {
        void *ctx = zmq_ctx_new ();
        void *sock = zmq_socket (ctx, ZMQ_SUB);
        int hwm = cfg->bus.rcvhwm;
        zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
        for (size_t i = 0; i < ntopics; i++)
            zmq_setsockopt (sock, ZMQ_SUBSCRIBE, topics[i], strlen (topics[i]));
        zmq_connect (sock, connect);
        int timeout = SILENCE_MS * 6;
        zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        zmq_msg_t topic, body;
        zmq_msg_init (&topic);
        zmq_msg_init (&body);
        for (;;) {
            if (zmq_msg_recv (&topic, sock, 0) < 0 || zmq_msg_recv (&body, sock, 0) < 0)
                break;
            received++;
            done = now_ns ();
            timeout = SILENCE_MS;
            zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
            /* the marker: the last mitm.verdict, request_id "marker" */
            if (zmq_msg_size (&body) < 256 && zmq_msg_size (&topic) == 12
                && memmem (zmq_msg_data (&body), zmq_msg_size (&body), "\x1a\x06marker", 8))
                break;
        }
        zmq_msg_close (&topic);
        zmq_msg_close (&body);
        zmq_close (sock);
        zmq_ctx_term (ctx);
    }
    else {
        bus_sub_t *s = bus_sub_new (cfg);
        if (!s || bus_sub_attach (s, connect) != 0)
            return 1;
        for (size_t i = 0; i < ntopics; i++)
            bus_sub_subscribe (s, topics[i]);
        bus_msg_t m;
        int timeout = SILENCE_MS * 6;
        while (bus_sub_recv (s, timeout, &m) == 1) {
            received++;
            done = now_ns ();
            timeout = SILENCE_MS;
            if (strcmp (m.topic, TOPIC_MITM_VERDICT) == 0
                && strcmp (((Dpidual__V1__Verdict *) m.body)->request_id, "marker") == 0)
                break;
        }
        gaps = bus_sub_gaps (s);
        errors = bus_sub_decode_errors (s);
        bus_sub_destroy (&s);
    }
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    double cpu = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6
                 + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
    printf ("received %llu  done_ns %llu  gaps %llu  decode_errors %llu  cpu_s %.3f\n",
            (unsigned long long) received, (unsigned long long) done,
            (unsigned long long) gaps, (unsigned long long) errors, cpu);
    config_destroy (&cfg);
    return 0;
}

int
main (int argc, char **argv)
{
    log_init ("replay-feed", "warning");
    if (argc >= 2 && strcmp (argv[1], "parse") == 0)
        return cmd_parse (argc - 2, argv + 2);
    if (argc >= 2 && strcmp (argv[1], "pack") == 0)
        return cmd_pack (argc - 2, argv + 2);
    if (argc >= 2 && strcmp (argv[1], "pub") == 0)
        return cmd_pub (argc - 2, argv + 2);
    if (argc >= 2 && strcmp (argv[1], "sub") == 0)
        return cmd_sub (argc - 2, argv + 2);
    fprintf (stderr, "usage: replay-feed parse|pack|pub|sub ... (see bench/replay_feed.c)\n");
    return 2;
}
