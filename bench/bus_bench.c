/*  bus_bench.c — pub→sub throughput of the dpi-dual bus envelope against raw
    libzmq on the same bytes (run by bench/bus-throughput).

    One message is a realistic tap.flow FlowEvent (tuple, community_id,
    "TLS.Google", host name, SNI, JA3 client/server, counters). For each
    transport — ipc://, tcp://127.0.0.1, tcp://127.0.0.1 with CURVE — the
    coordinator runs pairs alternately, raw then ours, RUNS times each:

      ours  bus_pub_new/bus_pub_send: header filled and the FlowEvent packed
            per message; bus_sub_recv: unpacked per message, header checked,
            sequence/gap accounting per (source, topic).
      raw   an XPUB and a SUB of plain libzmq (own context, same HWMs),
            sending one pre-packed copy of the same bytes (topic frame +
            payload frame, header included) and receiving both frames.
            With CURVE the keys are set on the sockets directly (no ZAP).

    Publisher and subscriber are separate processes forked by the coordinator
    before any zmq/czmq use, each pinned to its own CPU when there are two
    (its ZeroMQ I/O thread shares that CPU: with two CPUs, a flooding
    publisher competes with its own I/O thread).
    The publisher waits for the subscription (bus_pub_wait_subscriber; raw:
    one subscription frame read from the XPUB), sends N messages as fast as
    it can (never blocking: past the send HWM ZeroMQ drops), then an end
    marker every 100 ms until told the subscriber is done. The subscriber
    stops at N data messages, at the first marker, or after 1 s of silence,
    and says which. Since the marker follows the data on the same topic,
    the gap counter sees losses at the tail as well; markers lost before the
    one received are subtracted from it.

    Throughput = data messages received / (last − first receive time) at the
    subscriber; MB/s counts topic + payload bytes. Lost = (sent − received)
    / sent, and for ours bus_sub_gaps / sent, at the config_load default
    HWMs (sndhwm = rcvhwm = 100000). The figures are medians of the runs;
    nothing here fails on timing.                                           */
#define _GNU_SOURCE                 /* sched_setaffinity                    */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus.h"
#include "community_id.h"
#include "log.h"
#include "topics.h"

#define MAX_RUNS        15
#define FIRST_WAIT_MS   10000       /* for the subscription / first message */
#define SILENCE_MS      1000        /* end of a run without marker          */
#define MARKER_EVERY_MS 100
#define MAX_MARKERS     600

typedef enum { TRANSPORT_IPC, TRANSPORT_TCP, TRANSPORT_CURVE, TRANSPORT_COUNT } transport_t;
typedef enum { MODE_RAW, MODE_OURS } bench_mode_t;
typedef enum { END_NOTHING, END_COUNT, END_MARKER, END_SILENCE } end_t;

static const char *s_transport_names[] = { "ipc", "tcp", "tcp+curve" };
static const char *s_mode_names[] = { "raw", "ours" };
static const char *s_end_names[] = { "nothing received", "count", "marker", "1 s silence" };

typedef struct {
    int ok;
    uint64_t sent;                  /* data messages handed to ZeroMQ       */
    uint64_t send_errors;
    uint64_t markers;
    uint64_t send_ns;               /* time to send the N data messages     */
} pub_result_t;

typedef struct {
    int ok;
    int end;                        /* end_t                                */
    uint64_t received;              /* data messages                        */
    uint64_t bytes;                 /* their topic + payload bytes          */
    uint64_t gaps;                  /* ours: gap counter, lost markers out  */
    uint64_t marker;                /* index of the marker that ended it    */
    uint64_t decode_errors;
    uint64_t first_ns, last_ns;
} sub_result_t;

typedef struct {
    long n, curve_n;
    int runs;
    bool pin;
    int run_id;                     /* distinct ipc path per run            */
    char dir[256];
    char plain_yaml[300], curve_pub_yaml[300], curve_sub_yaml[300];
} bench_t;

/*  --------------------------------------------------------------------------
    The message                                                              */

typedef struct {
    char community_id[64];
} flow_strings_t;

/*  A FlowEvent as the collector sends it when a TLS flow to Google is
    classified; ID goes into flow_id and moves the counters a little.       */
static void
flow_fill (Dpidual__V1__FlowEvent *ev, flow_strings_t *strings, uint64_t id)
{
    Dpidual__V1__FlowEvent init = DPIDUAL__V1__FLOW_EVENT__INIT;
    *ev = init;
    if (!*strings->community_id)
        community_id_v1_str ("192.168.1.23", 51234, "142.250.185.78", 443, 6, 0, false,
                             strings->community_id, sizeof strings->community_id);
    ev->event = DPIDUAL__V1__FLOW_EVENT__EVENT__DETECTED;
    ev->community_id = strings->community_id;
    ev->ip_version = 4;
    ev->ip_proto = 6;
    ev->src_ip = "192.168.1.23";
    ev->src_port = 51234;
    ev->dst_ip = "142.250.185.78";
    ev->dst_port = 443;
    ev->interface = "eth1";
    ev->master_protocol = 91;
    ev->app_protocol = 126;
    ev->master_protocol_name = "TLS";
    ev->app_protocol_name = "Google";
    ev->proto = "TLS.Google";
    ev->category = "Web";
    ev->confidence = "DPI";
    ev->host_server_name = "www.google.com";
    ev->tls_version = "TLSv1.3";
    ev->tls_sni = "www.google.com";
    ev->ja3_client = "cd08e31494f9531f560d64c695473da9";
    ev->ja3_server = "eb1d94daa7e0344597e756a1fb6e7054";
    ev->alpn = "h2";
    ev->src2dst_packets = 14 + id % 7;
    ev->dst2src_packets = 12 + id % 5;
    ev->src2dst_bytes = ev->src2dst_packets * 160;
    ev->dst2src_bytes = ev->dst2src_packets * 1100;
    ev->first_seen = 1764112200000ull;
    ev->last_seen = ev->first_seen + 350 + id % 100;
    ev->flow_id = id;
}

/*  The end marker: flow_id 0 (data messages count from 1), its index in
    src2dst_packets (ours); raw: an 8-byte payload holding the index.       */
static void
marker_fill (Dpidual__V1__FlowEvent *ev, uint64_t index)
{
    Dpidual__V1__FlowEvent init = DPIDUAL__V1__FLOW_EVENT__INIT;
    *ev = init;
    ev->event = DPIDUAL__V1__FLOW_EVENT__EVENT__END;
    ev->end_reason = DPIDUAL__V1__FLOW_EVENT__END_REASON__SHUTDOWN;
    ev->src2dst_packets = index;
}

/*  The bytes raw sends: the FlowEvent packed once with a header as the bus
    fills it (seq in the middle of the run). Returns the size.              */
static size_t
raw_payload (uint8_t *buffer, size_t size, long n)
{
    flow_strings_t strings = { "" };
    Dpidual__V1__FlowEvent ev;
    flow_fill (&ev, &strings, (uint64_t) n / 2);
    Dpidual__V1__Header header = DPIDUAL__V1__HEADER__INIT;
    char source[256];
    snprintf (source, sizeof source, "collector@bench");
    header.source = source;
    header.seq = (uint64_t) n / 2;
    header.ts_ns = bus_now_ns ();
    header.schema_version = DPI_SCHEMA_VERSION;
    header.instance = header.ts_ns;
    ev.header = &header;
    size_t packed = protobuf_c_message_get_packed_size (&ev.base);
    if (packed > size)
        return 0;
    return protobuf_c_message_pack (&ev.base, buffer);
}

/*  --------------------------------------------------------------------------
    Helpers                                                                  */

static void
pin_cpu (bool pin, int cpu)
{
    if (!pin)
        return;
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (cpu, &set);
    if (sched_setaffinity (0, sizeof set, &set) != 0)
        fprintf (stderr, "bus-bench: cannot pin to CPU %d: %s\n", cpu, strerror (errno));
}

static int
write_all (int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t rc = write (fd, p, size);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        p += rc;
        size -= (size_t) rc;
    }
    return 0;
}

static int
read_all (int fd, void *data, size_t size)
{
    char *p = data;
    while (size > 0) {
        ssize_t rc = read (fd, p, size);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        p += rc;
        size -= (size_t) rc;
    }
    return 0;
}

static const char *
yaml_for (bench_t *b, transport_t transport, bool publisher)
{
    if (transport != TRANSPORT_CURVE)
        return b->plain_yaml;
    return publisher ? b->curve_pub_yaml : b->curve_sub_yaml;
}

/*  True when FD (the coordinator's "done") is readable or closed.          */
static bool
done_after (int fd, int timeout_ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    return poll (&p, 1, timeout_ms) != 0;
}

/*  --------------------------------------------------------------------------
    Raw libzmq sockets                                                       */

static void
raw_set_int (void *sock, int option, int value)
{
    zmq_setsockopt (sock, option, &value, sizeof value);
}

/*  Apply CURVE from the same certificates the bus uses. 0 or -1.           */
static int
raw_curve (void *sock, const config_t *cfg, bool server)
{
    zcert_t *cert = zcert_load (cfg->bus.curve.cert);
    zcert_t *peer = server ? NULL : zcert_load (cfg->bus.curve.server_cert);
    int rc = -1;
    if (cert && (server || peer)) {
        zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, zcert_secret_key (cert), 32);
        zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, zcert_public_key (cert), 32);
        if (server)
            raw_set_int (sock, ZMQ_CURVE_SERVER, 1);
        else
            zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, zcert_public_key (peer), 32);
        rc = 0;
    }
    zcert_destroy (&cert);
    zcert_destroy (&peer);
    return rc;
}

/*  --------------------------------------------------------------------------
    Publisher process                                                        */

static void
pub_ours (const config_t *cfg, const char *endpoint, long n, int ep_fd, int done_fd,
          pub_result_t *r)
{
    bus_pub_t *pub = bus_pub_new (cfg, "collector", endpoint);
    if (!pub)
        return;
    dprintf (ep_fd, "%s\n", bus_pub_endpoint (pub));
    if (bus_pub_wait_subscriber (pub, FIRST_WAIT_MS) == 0) {
        flow_strings_t strings = { "" };
        Dpidual__V1__FlowEvent ev;
        flow_fill (&ev, &strings, 1);
        uint64_t start = bus_mono_ns ();
        for (long i = 0; i < n; i++) {
            ev.flow_id = (uint64_t) i + 1;
            ev.src2dst_packets = 14 + (uint64_t) i % 7;
            ev.last_seen = ev.first_seen + 350 + (uint64_t) i % 100;
            r->sent += bus_pub_send (pub, TOPIC_TAP_FLOW, &ev.base) == 0;
        }
        r->send_ns = bus_mono_ns () - start;
        r->send_errors = bus_pub_send_errors (pub);
        do {
            Dpidual__V1__FlowEvent marker;
            marker_fill (&marker, ++r->markers);
            bus_pub_send (pub, TOPIC_TAP_FLOW, &marker.base);
        } while (!done_after (done_fd, MARKER_EVERY_MS) && r->markers < MAX_MARKERS);
        r->ok = 1;
    }
    else
        fprintf (stderr, "bus-bench: no subscriber on %s\n", bus_pub_endpoint (pub));
    bus_pub_destroy (&pub);
}

static void
pub_raw (const config_t *cfg, bool curve, const char *endpoint, long n, int ep_fd,
         int done_fd, pub_result_t *r)
{
    uint8_t payload[1024];
    size_t size = raw_payload (payload, sizeof payload, n);
    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, ZMQ_XPUB);
    raw_set_int (sock, ZMQ_SNDHWM, cfg->bus.sndhwm);
    raw_set_int (sock, ZMQ_RCVHWM, cfg->bus.rcvhwm);
    raw_set_int (sock, ZMQ_LINGER, 0);
    raw_set_int (sock, ZMQ_RCVTIMEO, FIRST_WAIT_MS);
    char bound[256] = "";
    size_t bound_len = sizeof bound;
    if (size == 0 || (curve && raw_curve (sock, cfg, true)) || zmq_bind (sock, endpoint) != 0
        || zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, bound, &bound_len) != 0) {
        fprintf (stderr, "bus-bench: raw bind %s: %s\n", endpoint, zmq_strerror (zmq_errno ()));
        goto done;
    }
    dprintf (ep_fd, "%s\n", bound);
    uint8_t subscription[256];
    if (zmq_recv (sock, subscription, sizeof subscription, 0) < 1 || subscription[0] != 1) {
        fprintf (stderr, "bus-bench: no subscriber on %s\n", bound);
        goto done;
    }
    const char *topic = TOPIC_TAP_FLOW;
    size_t topic_len = strlen (topic);
    uint64_t start = bus_mono_ns ();
    for (long i = 0; i < n; i++) {
        if (zmq_send (sock, topic, topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
            || zmq_send (sock, payload, size, ZMQ_DONTWAIT) < 0)
            r->send_errors++;
        else
            r->sent++;
    }
    r->send_ns = bus_mono_ns () - start;
    do {
        uint64_t index = ++r->markers;
        zmq_send (sock, topic, topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send (sock, &index, sizeof index, ZMQ_DONTWAIT);
    } while (!done_after (done_fd, MARKER_EVERY_MS) && r->markers < MAX_MARKERS);
    r->ok = 1;
done:
    zmq_close (sock);
    zmq_ctx_term (ctx);
}

static void
run_pub (bench_t *b, transport_t transport, bench_mode_t mode, const char *endpoint, long n,
         int ep_fd, int done_fd, int result_fd)
{
    pin_cpu (b->pin, 0);
    log_init ("bus-bench", "error");
    pub_result_t r = { 0 };
    config_t *cfg = config_load_verbose (yaml_for (b, transport, true));
    if (cfg && mode == MODE_OURS)
        pub_ours (cfg, endpoint, n, ep_fd, done_fd, &r);
    else if (cfg)
        pub_raw (cfg, transport == TRANSPORT_CURVE, endpoint, n, ep_fd, done_fd, &r);
    close (ep_fd);
    write_all (result_fd, &r, sizeof r);
    config_destroy (&cfg);
}

/*  --------------------------------------------------------------------------
    Subscriber process                                                       */

static void
sub_ours (const config_t *cfg, const char *endpoint, long n, sub_result_t *r)
{
    bus_sub_t *sub = bus_sub_new (cfg);
    if (!sub || bus_sub_attach (sub, endpoint) != 0) {
        bus_sub_destroy (&sub);
        return;
    }
    bus_sub_subscribe (sub, "tap.");
    r->end = END_NOTHING;
    bus_msg_t msg;
    while (bus_sub_recv (sub, r->received ? SILENCE_MS : FIRST_WAIT_MS, &msg) == 1) {
        uint64_t now = bus_mono_ns ();
        const Dpidual__V1__FlowEvent *ev = (const Dpidual__V1__FlowEvent *) msg.body;
        if (ev->flow_id == 0) {
            r->end = END_MARKER;
            r->marker = ev->src2dst_packets;
            break;
        }
        if (r->received++ == 0)
            r->first_ns = now;
        r->last_ns = now;
        r->bytes += strlen (msg.topic) + msg.size;
        if (r->received == (uint64_t) n) {
            r->end = END_COUNT;
            break;
        }
    }
    if (r->end == END_NOTHING && r->received)
        r->end = END_SILENCE;
    r->gaps = bus_sub_gaps (sub);
    if (r->end == END_MARKER && r->gaps >= r->marker - 1)
        r->gaps -= r->marker - 1;           /* markers lost before this one */
    r->decode_errors = bus_sub_decode_errors (sub);
    r->ok = 1;
    bus_sub_destroy (&sub);
}

static void
sub_raw (const config_t *cfg, bool curve, const char *endpoint, long n, sub_result_t *r)
{
    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, ZMQ_SUB);
    raw_set_int (sock, ZMQ_RCVHWM, cfg->bus.rcvhwm);
    raw_set_int (sock, ZMQ_LINGER, 0);
    if ((curve && raw_curve (sock, cfg, false)) || zmq_connect (sock, endpoint) != 0) {
        fprintf (stderr, "bus-bench: raw connect %s: %s\n", endpoint, zmq_strerror (zmq_errno ()));
        goto done;
    }
    zmq_setsockopt (sock, ZMQ_SUBSCRIBE, "tap.", 4);
    r->end = END_NOTHING;
    zmq_msg_t topic, payload;
    zmq_msg_init (&topic);
    zmq_msg_init (&payload);
    for (;;) {
        if (zmq_msg_recv (&topic, sock, ZMQ_DONTWAIT) < 0) {
            zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
            if (zmq_poll (&item, 1, r->received ? SILENCE_MS : FIRST_WAIT_MS) <= 0)
                break;
            continue;
        }
        if (!zmq_msg_more (&topic) || zmq_msg_recv (&payload, sock, 0) < 0) {
            r->decode_errors++;
            continue;
        }
        uint64_t now = bus_mono_ns ();
        if (zmq_msg_size (&payload) == sizeof (uint64_t)) {
            r->end = END_MARKER;
            memcpy (&r->marker, zmq_msg_data (&payload), sizeof r->marker);
            break;
        }
        if (r->received++ == 0)
            r->first_ns = now;
        r->last_ns = now;
        r->bytes += zmq_msg_size (&topic) + zmq_msg_size (&payload);
        if (r->received == (uint64_t) n) {
            r->end = END_COUNT;
            break;
        }
    }
    if (r->end == END_NOTHING && r->received)
        r->end = END_SILENCE;
    zmq_msg_close (&topic);
    zmq_msg_close (&payload);
    r->ok = 1;
done:
    zmq_close (sock);
    zmq_ctx_term (ctx);
}

static void
run_sub (bench_t *b, transport_t transport, bench_mode_t mode, const char *endpoint, long n,
         int result_fd)
{
    pin_cpu (b->pin, 1);
    log_init ("bus-bench", "error");
    sub_result_t r = { 0 };
    config_t *cfg = config_load_verbose (yaml_for (b, transport, false));
    if (cfg && mode == MODE_OURS)
        sub_ours (cfg, endpoint, n, &r);
    else if (cfg)
        sub_raw (cfg, transport == TRANSPORT_CURVE, endpoint, n, &r);
    write_all (result_fd, &r, sizeof r);
    config_destroy (&cfg);
}

/*  --------------------------------------------------------------------------
    Coordinator: no zmq/czmq in this process, only fork, pipes and figures. */

/*  One publisher/subscriber pair. 0, or -1 when something broke.          */
static int
run_pair (bench_t *b, transport_t transport, bench_mode_t mode, long n, pub_result_t *pr,
          sub_result_t *sr)
{
    char endpoint[512];
    if (transport == TRANSPORT_IPC)
        snprintf (endpoint, sizeof endpoint, "ipc://%s/run-%d.sock", b->dir, ++b->run_id);
    else
        snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:*");

    int ep[2], done[2], pres[2], sres[2];
    if (pipe (ep) || pipe (done) || pipe (pres) || pipe (sres)) {
        perror ("bus-bench: pipe");
        return -1;
    }
    fflush (stdout);
    pid_t pub = fork ();
    if (pub == 0) {
        close (ep[0]); close (done[1]); close (pres[0]); close (sres[0]); close (sres[1]);
        run_pub (b, transport, mode, endpoint, n, ep[1], done[0], pres[1]);
        exit (0);
    }
    close (ep[1]); close (done[0]); close (pres[1]);

    /* the endpoint as bound (tcp port resolved), one line */
    char bound[512] = "";
    size_t len = 0;
    while (len < sizeof bound - 1 && read (ep[0], bound + len, 1) == 1 && bound[len] != '\n')
        len++;
    bound[len] = 0;
    close (ep[0]);

    pid_t sub = -1;
    if (len > 0 && pub > 0) {
        sub = fork ();
        if (sub == 0) {
            close (done[1]); close (pres[0]); close (sres[0]);
            run_sub (b, transport, mode, bound, n, sres[1]);
            exit (0);
        }
    }
    close (sres[1]);
    memset (sr, 0, sizeof *sr);
    memset (pr, 0, sizeof *pr);
    if (sub > 0 && read_all (sres[0], sr, sizeof *sr))
        sr->ok = 0;
    close (done[1]);                        /* the publisher may stop now   */
    if (pub > 0 && read_all (pres[0], pr, sizeof *pr))
        pr->ok = 0;
    close (sres[0]);
    close (pres[0]);
    int status, broken = 0;
    if (pub > 0 && (waitpid (pub, &status, 0) != pub || !WIFEXITED (status) || WEXITSTATUS (status)))
        broken = 1;
    if (sub > 0 && (waitpid (sub, &status, 0) != sub || !WIFEXITED (status) || WEXITSTATUS (status)))
        broken = 1;
    return broken || pub < 0 || sub < 0 || !pr->ok || !sr->ok ? -1 : 0;
}

static double
rate (const sub_result_t *r, uint64_t value)
{
    return r->last_ns > r->first_ns ? (double) value * 1e9 / (double) (r->last_ns - r->first_ns) : 0;
}

static int
cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
median (double *values, int count)
{
    qsort (values, (size_t) count, sizeof *values, cmp_double);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

typedef struct {
    double msgs[2][MAX_RUNS], mbs[2][MAX_RUNS];
    uint64_t sent[2], received[2], gaps;
    int ok[2];
    long n;
} transport_figures_t;

static int
measure (bench_t *b, transport_t transport, transport_figures_t *f)
{
    int failures = 0;
    f->n = transport == TRANSPORT_CURVE ? b->curve_n : b->n;
    for (int run = 0; run < b->runs; run++)
        for (int mode = MODE_RAW; mode <= MODE_OURS; mode++) {
            pub_result_t pr;
            sub_result_t sr;
            if (run_pair (b, transport, mode, f->n, &pr, &sr) != 0) {
                printf ("  %-9s %-4s run %d: BROKEN (see stderr)\n",
                        s_transport_names[transport], s_mode_names[mode], run + 1);
                failures++;
                continue;
            }
            int k = f->ok[mode]++;
            f->msgs[mode][k] = rate (&sr, sr.received);
            f->mbs[mode][k] = rate (&sr, sr.bytes) / 1e6;
            f->sent[mode] += pr.sent;
            f->received[mode] += sr.received;
            if (mode == MODE_OURS)
                f->gaps += sr.gaps;
            printf ("  %-9s %-4s run %d: sent %lu (%.2fM msg/s), received %lu, %.0f msg/s, "
                    "end: %s", s_transport_names[transport], s_mode_names[mode], run + 1,
                    (unsigned long) pr.sent,
                    pr.send_ns ? (double) pr.sent * 1e3 / (double) pr.send_ns : 0.0,
                    (unsigned long) sr.received, f->msgs[mode][k], s_end_names[sr.end]);
            if (sr.end == END_MARKER)
                printf (" #%lu", (unsigned long) sr.marker);
            if (mode == MODE_OURS)
                printf (", gaps %lu", (unsigned long) sr.gaps);
            if (sr.decode_errors || pr.send_errors)
                printf (", decode errors %lu, send errors %lu", (unsigned long) sr.decode_errors,
                        (unsigned long) pr.send_errors);
            printf ("\n");
        }
    return failures;
}

/*  Certificates for CURVE, made in a child so this process stays zmq-free:
    DIR/keys/server.cert{,_secret}, DIR/allow/client.cert{,_secret}.       */
static int
make_certs (const char *dir)
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0) {
        const char *names[][2] = { { "keys", "server" }, { "allow", "client" } };
        for (int i = 0; i < 2; i++) {
            char path[400], secret[420];
            zsys_dir_create ("%s/%s", dir, names[i][0]);
            snprintf (path, sizeof path, "%s/%s/%s.cert", dir, names[i][0], names[i][1]);
            snprintf (secret, sizeof secret, "%s_secret", path);
            zcert_t *cert = zcert_new ();
            if (!cert || zcert_save_secret (cert, secret) || zcert_save_public (cert, path))
                _exit (1);
            zcert_destroy (&cert);
        }
        exit (0);
    }
    int status;
    return pid > 0 && waitpid (pid, &status, 0) == pid && WIFEXITED (status)
           && WEXITSTATUS (status) == 0 ? 0 : -1;
}

static int
write_yaml (const char *path, const char *dir, const char *curve)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    fprintf (f, "global:\n  host: bench\n  run_dir: %s\n  log_level: error\n", dir);
    if (curve)
        fprintf (f, "bus:\n  curve:\n    enabled: true\n%s", curve);
    return fclose (f);
}

static int
setup (bench_t *b)
{
    snprintf (b->dir, sizeof b->dir, "/tmp/bus-bench.XXXXXX");
    if (!mkdtemp (b->dir))
        return -1;
    char curve_pub[1200], curve_sub[1200];
    snprintf (curve_pub, sizeof curve_pub, "    cert: %s/keys/server.cert\n    allow_dir: %s/allow\n",
              b->dir, b->dir);
    snprintf (curve_sub, sizeof curve_sub,
              "    cert: %s/allow/client.cert\n    server_cert: %s/keys/server.cert\n",
              b->dir, b->dir);
    snprintf (b->plain_yaml, sizeof b->plain_yaml, "%s/plain.yaml", b->dir);
    snprintf (b->curve_pub_yaml, sizeof b->curve_pub_yaml, "%s/curve-pub.yaml", b->dir);
    snprintf (b->curve_sub_yaml, sizeof b->curve_sub_yaml, "%s/curve-sub.yaml", b->dir);
    if (write_yaml (b->plain_yaml, b->dir, NULL)
        || write_yaml (b->curve_pub_yaml, b->dir, curve_pub)
        || write_yaml (b->curve_sub_yaml, b->dir, curve_sub) || make_certs (b->dir))
        return -1;
    /* the defaults under test, as config_load gives them */
    config_t *cfg = config_load_verbose (b->plain_yaml);
    if (!cfg)
        return -1;
    printf ("bus-bench: sndhwm %d, rcvhwm %d (config defaults), N = %ld (CURVE: %ld), "
            "%d runs each, %s\n", cfg->bus.sndhwm, cfg->bus.rcvhwm, b->n, b->curve_n, b->runs,
            b->pin ? "publisher on CPU 0, subscriber on CPU 1" : "not pinned");
    config_destroy (&cfg);
    uint8_t payload[1024];
    printf ("message: tap.flow FlowEvent, %zu bytes packed with header + 8 bytes topic\n",
            raw_payload (payload, sizeof payload, b->n));
    return 0;
}

static void
usage (void)
{
    fprintf (stderr, "usage: bus-bench [-n N] [--curve-n N] [--runs R] [--only ipc|tcp|curve] "
             "[--no-pin]\n");
}

int
main (int argc, char **argv)
{
    bench_t b = { .n = 1000000, .curve_n = -1, .runs = 3, .pin = true };
    int only = -1;
    static const struct option options[] = {
        { "count", required_argument, NULL, 'n' },
        { "curve-n", required_argument, NULL, 'c' },
        { "runs", required_argument, NULL, 'r' },
        { "only", required_argument, NULL, 'o' },
        { "no-pin", no_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "n:h", options, NULL)) != -1) {
        switch (opt) {
        case 'n': b.n = atol (optarg); break;
        case 'c': b.curve_n = atol (optarg); break;
        case 'r': b.runs = atoi (optarg); break;
        case 'p': b.pin = false; break;
        case 'o':
            only = !strcmp (optarg, "ipc") ? TRANSPORT_IPC : !strcmp (optarg, "tcp") ? TRANSPORT_TCP
                 : !strcmp (optarg, "curve") ? TRANSPORT_CURVE : -2;
            break;
        default: usage (); return opt == 'h' ? 0 : 2;
        }
    }
    if (b.curve_n < 0)
        b.curve_n = b.n;
    if (b.n < 1 || b.curve_n < 1 || b.runs < 1 || b.runs > MAX_RUNS || only == -2 || optind < argc) {
        usage ();
        return 2;
    }
    if (sysconf (_SC_NPROCESSORS_ONLN) < 2)
        b.pin = false;
    if (setup (&b) != 0) {
        fprintf (stderr, "bus-bench: cannot set up %s\n", b.dir);
        return 1;
    }

    transport_figures_t figures[TRANSPORT_COUNT];
    memset (figures, 0, sizeof figures);
    int failures = 0;
    for (int t = 0; t < TRANSPORT_COUNT; t++)
        if (only < 0 || only == t)
            failures += measure (&b, t, &figures[t]);

    printf ("\n%-10s %12s %12s %9s %9s %9s %14s %14s %12s\n", "transport", "ours msg/s",
            "raw msg/s", "ours/raw", "ours MB/s", "raw MB/s", "ours lost", "ours gaps",
            "raw lost");
    for (int t = 0; t < TRANSPORT_COUNT; t++) {
        transport_figures_t *f = &figures[t];
        if (!f->ok[MODE_RAW] || !f->ok[MODE_OURS])
            continue;
        double ours = median (f->msgs[MODE_OURS], f->ok[MODE_OURS]);
        double raw = median (f->msgs[MODE_RAW], f->ok[MODE_RAW]);
        double lost = (double) (f->sent[MODE_OURS] - f->received[MODE_OURS]) / (double) f->sent[MODE_OURS];
        double gaps = (double) f->gaps / (double) f->sent[MODE_OURS];
        double raw_lost = (double) (f->sent[MODE_RAW] - f->received[MODE_RAW]) / (double) f->sent[MODE_RAW];
        printf ("%-10s %12.0f %12.0f %9.3f %9.1f %9.1f %14.6f %14.6f %12.6f\n",
                s_transport_names[t], ours, raw, ours / raw,
                median (f->mbs[MODE_OURS], f->ok[MODE_OURS]),
                median (f->mbs[MODE_RAW], f->ok[MODE_RAW]), lost, gaps, raw_lost);
    }
    printf ("(msg/s, MB/s: medians at the subscriber; lost = (sent - received) / sent and "
            "gaps = bus_sub_gaps / sent, over all runs)\n\n");
    for (int t = 0; t < TRANSPORT_COUNT; t++) {
        transport_figures_t *f = &figures[t];
        if (!f->ok[MODE_RAW] || !f->ok[MODE_OURS])
            continue;
        double ratio = median (f->msgs[MODE_OURS], f->ok[MODE_OURS])
                       / median (f->msgs[MODE_RAW], f->ok[MODE_RAW]);
        printf ("%s: envelope cost: %.0f%% (target < 20%%)\n", s_transport_names[t],
                (1 - ratio) * 100);
    }

    char cmd[400];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", b.dir);
    if (system (cmd) != 0)
        fprintf (stderr, "bus-bench: could not remove %s\n", b.dir);
    return failures ? 1 : 0;
}
