/*  test_classify.c — unit test for collector/classify.c (nDPI 4.2).

    Real exchanges from dpi-pcapgen captures (scenario.h) go through
    decode_packet and a flow table into the classifier, as the collector
    feeds it; what must come out is stated from pcapgen.c's scenario
    documentation ("tcp-http", "dns").

    Covered:
    - HTTP over IPv4 (200) and IPv6 (404): classifier_feed returns 1 once
      per flow, not before the response (its status is kept), then 0 for
      every later packet; the flow is "HTTP", not guessed, with its host,
      method, URL, user agent and status.
    - DNS over IPv4 and IPv6: detection ends with the answer; "DNS" with its
      query name. A query never answered stays in detection until
      classifier_giveup, which keeps what DPI found (DNS, not guessed).
    - nDPI's per-flow state: held while detecting (flow->ndpi set,
      classifier_state_bytes > 0), freed when detection ends (flow->ndpi
      NULL, classifier_state_bytes back to 0).
    - tap.max_packets_per_flow: with 2, an HTTP flow ends detection at its
      second packet (the SYN-ACK) by giving up (guessed); with 1, a DNS
      query that nDPI recognises ends at once with DNS, not guessed.
    - classifier_release frees the metadata (flow->meta NULL; the sanitizer
      build's leak check proves the memory went back) and a state still in
      detection; a second release is harmless.

    What it catches (tried as mutants): detection never ended (the state
    kept), the state not freed or not counted back, the max_packets bound
    off by one or ignored, guessed not set on giving up, metadata leaked
    or kept after release.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "decode.h"
#include "flowtable.h"
#include "scenario.h"
#include "tally.h"

#define MAX_FRAMES 32

/*  One capture fed to a classifier, and what happened at each frame.       */
typedef struct {
    classifier_t *cls;
    flowtable_t *flows;
    size_t n;
    int result[MAX_FRAMES];         /* classifier_feed; -2: not decoded       */
    flow_t *flow[MAX_FRAMES];       /* the frame's flow                       */
    size_t state[MAX_FRAMES];       /* classifier_state_bytes after it        */
} run_t;

/*  The collector's END: give up what is still detecting, then release.    */
static void
on_end (void *arg, flow_t *flow, flow_end_t reason)
{
    (void) reason;
    classifier_giveup (arg, flow);
    classifier_release (arg, flow);
}

/*  Feed frame F of link type DLT, as collector_packet does.                */
static void
feed (run_t *r, int dlt, const scenario_frame_t *f)
{
    size_t i = r->n++;
    packet_t p;
    r->result[i] = -2;
    if (decode_packet (dlt, f->data, f->caplen, &p) == DECODE_OK) {
        int direction;
        bool created;
        flow_t *flow = flowtable_lookup (r->flows, &p, f->ts_us, &direction, &created);
        flowtable_touch (r->flows, flow, f->ts_us, p.tcp_flags, direction);
        r->flow[i] = flow;
        r->result[i] = classifier_feed (r->cls, flow, &p, f->ts_us / 1000);
    }
    r->state[i] = classifier_state_bytes (r->cls);
}

/*  End every flow as the collector does, free the classifier.             */
static void
run_end (run_t *r)
{
    if (!r->cls)
        return;
    flowtable_flush (r->flows);
    flowtable_destroy (&r->flows);
    classifier_destroy (&r->cls);
}

/*  Write SCENARIO with dpi-pcapgen and feed its frames to a new classifier
    of MAX_PACKETS. False (and nothing to run_end) unless the capture has
    FRAMES frames and every one decodes.                                    */
static bool
run (tally_t *t, run_t *r, const char *dir, const char *scenario, size_t frames,
     unsigned max_packets)
{
    scenario_t sc;
    memset (r, 0, sizeof *r);
    if (!check (t, scenario_load (dir, scenario, &sc), "%s: dpi-pcapgen capture", scenario))
        return false;
    bool fits = check (t, sc.count == frames && frames <= MAX_FRAMES, "%s: %zu frames, expected %zu",
                       scenario, sc.count, frames);
    if (fits) {
        const flowtable_timeouts_t hour = { { 3600, 3600, 3600, 3600 } };
        r->cls = classifier_new (max_packets);
        r->flows = flowtable_new (64, hour, on_end, r->cls, 1, 1);
        if (!r->cls || !r->flows) {
            printf ("out of memory\n");
            exit (2);
        }
        for (size_t i = 0; i < sc.count; i++)
            feed (r, sc.dlt, &sc.frames[i]);
    }
    scenario_free (&sc);
    bool decoded = true;
    for (size_t i = 0; i < r->n; i++)
        decoded &= r->result[i] != -2;
    if (fits && !check (t, decoded, "%s: every frame decoded", scenario)) {
        run_end (r);
        return false;
    }
    return fits;
}

/*  The one frame in FROM..TO-1 where classifier_feed returned 1; -1 if
    none, -2 if several or any frame failed.                                 */
static int
ended_at (const run_t *r, size_t from, size_t to)
{
    int at = -1;
    for (size_t i = from; i < to && i < r->n; i++) {
        if (r->result[i] < 0)
            return -2;
        if (r->result[i] == 1)
            at = at == -1 ? (int) i : -2;
    }
    return at;
}

static bool
same (const char *got, const char *want)
{
    return got && strcmp (got, want) == 0;
}

/*  FLOW ended detection as NAME (GUESSED or not) and holds no nDPI state.  */
static void
check_done (tally_t *t, const char *what, run_t *r, const flow_t *flow, const char *name,
            bool guessed)
{
    char buf[64] = "";
    if (!check (t, flow != NULL, "%s: a flow", what))
        return;
    check (t, flow->classified && flow->guessed == guessed, "%s: classified %d, guessed %d", what,
           flow->classified, flow->guessed);
    check (t, flow->ndpi == NULL, "%s: nDPI's state freed", what);
    const char *got = classifier_proto_name (r->cls, flow, buf, sizeof buf);
    check (t, same (got, name), "%s: '%s', expected '%s'", what, got ? got : "(null)", name);
}

/*  The metadata of an HTTP flow of http_exchange (pcapgen.c).              */
static void
check_http_meta (tally_t *t, const char *what, const flow_t *flow, const char *host,
                 const char *url, uint16_t status)
{
    const flow_meta_t *m = flow ? flow->meta : NULL;
    if (!check (t, m != NULL, "%s: metadata kept", what))
        return;
    check (t, same (m->host_server_name, host), "%s: host %s", what, m->host_server_name);
    check (t, same (m->http_method, "GET"), "%s: method %s", what, m->http_method);
    check (t, same (m->http_url, url), "%s: url %s", what, m->http_url);
    check (t, same (m->http_user_agent, "pcapgen/1.0 (dpi-dual collector test)"),
           "%s: user agent %s", what, m->http_user_agent);
    check (t, m->http_status == status, "%s: status %u", what, m->http_status);
    check (t, m->dns_query == NULL && m->ja3_client == NULL, "%s: no DNS or TLS fields", what);
}

/*  FLOW ended detection as DNS, found by DPI, with the query name QUERY.  */
static void
check_dns (tally_t *t, const char *what, run_t *r, const flow_t *flow, const char *query)
{
    check_done (t, what, r, flow, "DNS", false);
    check (t, flow && flow->meta && same (flow->meta->dns_query, query), "%s: query name %s", what,
           flow && flow->meta ? flow->meta->dns_query : "(none)");
}

/*  "tcp-http": frames 0-9 IPv4 (response at 5, closed), 10-16 IPv6
    (response at 15).                                                        */
static void
test_http (tally_t *t, const char *dir)
{
    run_t r;
    if (!run (t, &r, dir, "tcp-http", 17, 32))
        return;
    int a = ended_at (&r, 0, 10), b = ended_at (&r, 10, 17);
    check (t, a == 5, "IPv4: detection ends once, with the response (frame %d)", a);
    check (t, b == 15, "IPv6: detection ends once, with the response (frame %d)", b);
    check (t, r.state[0] > 0 && r.state[4] > 0, "IPv4: nDPI state held while detecting");
    check (t, a < 0 || r.state[a] == 0, "IPv4: state bytes back to 0 when detection ends");
    check (t, r.state[10] > 0 && (b < 0 || r.state[b] == 0), "IPv6: state held, then freed");
    check_done (t, "IPv4 HTTP", &r, r.flow[0], "HTTP", false);
    check_done (t, "IPv6 HTTP", &r, r.flow[10], "HTTP", false);
    check_http_meta (t, "IPv4 HTTP", r.flow[0], "www.example.com",
                     "www.example.com/index.html?q=dpi", 200);
    check_http_meta (t, "IPv6 HTTP", r.flow[10], "api.example.net", "api.example.net/v1/status",
                     404);
    run_end (&r);
}

/*  "dns": frames 0-1 IPv4 query and answer, 2-3 the same over IPv6, 4 a
    query never answered.                                                     */
static void
test_dns (tally_t *t, const char *dir)
{
    run_t r;
    if (!run (t, &r, dir, "dns", 5, 32))
        return;
    check (t, ended_at (&r, 0, 2) == 1 && ended_at (&r, 2, 4) == 3,
           "detection ends with the answers: frames %d, %d", ended_at (&r, 0, 2),
           ended_at (&r, 2, 4));
    check (t, ended_at (&r, 4, 5) == -1, "the unanswered query is still in detection");
    check (t, r.state[0] > 0 && r.state[1] == 0 && r.state[2] > 0 && r.state[3] == 0
                  && r.state[4] > 0,
           "state bytes: held, freed, held, freed, held");
    check_dns (t, "IPv4 DNS", &r, r.flow[0], "www.example.com");
    check_dns (t, "IPv6 DNS", &r, r.flow[2], "ipv6.example.org");
    flow_t *q = r.flow[4];
    check (t, !q->classified && q->ndpi != NULL, "unanswered: nDPI state held");
    classifier_giveup (r.cls, q);
    check_dns (t, "unanswered DNS, given up", &r, q, "unanswered.example.com");
    check (t, classifier_state_bytes (r.cls) == 0, "no state left after giving up");
    run_end (&r);
}

/*  tap.max_packets_per_flow ends detection.                                 */
static void
test_max_packets (tally_t *t, const char *dir)
{
    run_t r;
    if (run (t, &r, dir, "tcp-http", 17, 2)) {
        /* SYN, SYN-ACK: no payload, nothing found: nDPI gives up */
        check (t, ended_at (&r, 0, 10) == 1, "max 2: ends at the second packet (%d)",
               ended_at (&r, 0, 10));
        check (t, r.flow[1]->classified && r.flow[1]->guessed && r.flow[1]->ndpi == NULL,
               "max 2: given up, guessed, state freed");
        check (t, r.state[1] == 0 && r.state[10] > 0,
               "max 2: state freed, then the IPv6 flow's held");
    }
    run_end (&r);
    if (run (t, &r, dir, "dns", 5, 1)) {
        /* nDPI knows a DNS query but would wait for the answer */
        check (t, ended_at (&r, 0, 2) == 0 && ended_at (&r, 4, 5) == 4,
               "max 1: detection ends at each first packet");
        check_dns (t, "max 1, unanswered", &r, r.flow[4], "unanswered.example.com");
        check (t, classifier_state_bytes (r.cls) == 0, "max 1: no state held");
    }
    run_end (&r);
}

/*  classifier_release frees the metadata and a state still detecting.     */
static void
test_release (tally_t *t, const char *dir)
{
    run_t r;
    if (!run (t, &r, dir, "dns", 5, 32))
        return;
    flow_t *done = r.flow[0], *detecting = r.flow[4];
    check (t, done->meta != NULL && detecting->ndpi != NULL, "metadata and a state to release");
    classifier_release (r.cls, done);
    check (t, done->meta == NULL, "release: metadata gone");
    classifier_release (r.cls, detecting);
    check (t, detecting->ndpi == NULL && classifier_state_bytes (r.cls) == 0,
           "release: state freed (%zu bytes held)", classifier_state_bytes (r.cls));
    classifier_release (r.cls, done);
    classifier_release (r.cls, detecting);
    check (t, done->meta == NULL && detecting->ndpi == NULL, "a second release is harmless");
    run_end (&r);
}

int
main (void)
{
    tally_t t = { 0 };
    char dir[] = "/tmp/test_classify.XXXXXX";
    scenario_mkdtemp (dir);
    test_http (&t, dir);
    test_dns (&t, dir);
    test_max_packets (&t, dir);
    test_release (&t, dir);
    remove_tree (dir);
    return tally_report (&t);
}
