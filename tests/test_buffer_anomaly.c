/*  test_buffer_anomaly.c — buffer/anomaly.c (per-client anomaly scoring).

    Unit checks: the score rises with the rate, the table stays under
    max_clients (evictions counted), an alert is not repeated within the
    window unless the score rose by 10, a cold start (five clients) alerts
    on nobody ordinary, the labels of the patterns.

    The scenario: dpi-mitmgen's labelled stream (seed 1, 600 s), fed in time
    order; anomaly_check after each response. Prints per class the clients,
    those alerted at least once and the rate, and fails below:
    scanner >= 90%, brute-force >= 90% detected, benign alerted <= 5%.
    Slow injection has no threshold: it is reported (the CRS sees its
    payloads; a statistical model sees little of a few requests a minute).

    Catches: a score that ignores a feature, a table that grows past its
    bound, an alert repeated every response, a population so small that
    everyone is an outlier, a scorer that flags heavy but ordinary clients. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anomaly.h"
#include "tally.h"

#define SEC 1000000000ull
#define T0 (1700000000ull * SEC)

static void
request (anomaly_t *a, const char *ip, uint64_t ts, const char *method, const char *path,
         uint32_t status, bool creds)
{
    anomaly_request_t r = { .client_ip = ip, .ts_ns = ts, .method = method, .path = path,
                            .user_agent = "Mozilla/5.0", .has_credentials = creds };
    anomaly_request (a, &r);
    anomaly_response (a, ip, ts + 20000000, status, creds);
}

/*  N clients browsing ordinarily (5-15 requests a minute over 8 pages,
    rarely a 404) for SECONDS from T.                                        */
static void
background (anomaly_t *a, int n, uint64_t t, int seconds, uint32_t *rng)
{
    static const char *const PAGES[] = { "/", "/a", "/b", "/c", "/d", "/e", "/f", "/g" };
    for (int s = 0; s < seconds; s++)
        for (int i = 0; i < n; i++) {
            if (tally_random (rng) % 60 >= 5 + (unsigned) i % 11)
                continue;
            char ip[32];
            snprintf (ip, sizeof ip, "10.1.0.%d", i + 1);
            uint32_t status = tally_random (rng) % 50 == 0 ? 404 : 200;
            request (a, ip, t + s * SEC, "GET", PAGES[tally_random (rng) % 8], status, false);
        }
}

/*  PER_MIN requests a minute from IP over one minute from T, then its score. */
static uint32_t
burst (anomaly_t *a, const char *ip, uint64_t t, int per_min, anomaly_result_t *out)
{
    for (int i = 0; i < per_min; i++)
        request (a, ip, t + (uint64_t) i * 60 * SEC / per_min, "GET", "/", 200, false);
    anomaly_check (a, ip, t + 59 * SEC, out);
    return out->score;
}

static void
test_rate (tally_t *t)
{
    anomaly_params_t p = { .window_s = 60, .threshold = 60, .max_clients = 1000 };
    anomaly_t *a = anomaly_new (&p);
    uint32_t rng = 7;
    background (a, 40, T0, 600, &rng);
    anomaly_result_t r10, r40, r200, r1000;
    uint64_t now = T0 + 600 * SEC;
    burst (a, "10.2.0.1", now, 10, &r10);
    burst (a, "10.2.0.2", now, 40, &r40);
    burst (a, "10.2.0.3", now, 200, &r200);
    burst (a, "10.2.0.4", now, 1000, &r1000);
    check (t, r10.score <= r40.score && r40.score < r200.score && r200.score < r1000.score,
           "the score rises with the rate: %u %u %u %u", r10.score, r40.score, r200.score,
           r1000.score);
    check (t, r10.score < 60 && r1000.score >= 60, "10/min ordinary (%u), 1000/min alerts (%u)",
           r10.score, r1000.score);
    check (t, r1000.reason_count >= 1 && strncmp (r1000.reasons[0], "rate z=", 7) == 0
           && strstr (r1000.reasons[0], "(1000/60s)"), "the reason: %s", r1000.reasons[0]);
    check (t, strcmp (r1000.label, "flood") == 0, "labelled %s", r1000.label);
    anomaly_destroy (&a);
    check (t, a == NULL, "destroyed");
}

static void
test_eviction (tally_t *t)
{
    anomaly_params_t p = { .window_s = 60, .threshold = 60, .max_clients = 8 };
    anomaly_t *a = anomaly_new (&p);
    for (int i = 0; i < 20; i++) {
        char ip[32];
        snprintf (ip, sizeof ip, "10.3.0.%d", i);
        request (a, ip, T0 + (uint64_t) i * SEC, "GET", "/", 200, false);
    }
    request (a, "10.3.0.12", T0 + 30 * SEC, "GET", "/", 200, false);   /* now the newest */
    request (a, "10.3.0.99", T0 + 31 * SEC, "GET", "/", 200, false);
    anomaly_stats_t s = anomaly_stats (a);
    check (t, s.clients == 8 && s.evicted == 13 && s.observed == 22,
           "8 clients kept, 13 evicted, 22 observed: %llu %llu %llu",
           (unsigned long long) s.clients, (unsigned long long) s.evicted,
           (unsigned long long) s.observed);
    anomaly_result_t r;
    check (t, !anomaly_check (a, "10.3.0.0", T0 + 32 * SEC, &r) && r.score == 0
           && r.reason_count == 0, "an evicted client is unknown");
    request (a, "10.3.0.12", T0 + 33 * SEC, "GET", "/", 200, false);
    check (t, anomaly_stats (a).evicted == 13, "the client seen again was kept (LRU, not FIFO)");
    request (a, "10.3.0.13", T0 + 34 * SEC, "GET", "/", 200, false);
    check (t, anomaly_stats (a).evicted == 14, "the least recently seen one was not");
    anomaly_destroy (&a);
}

static void
test_cooldown (tally_t *t)
{
    anomaly_params_t p = { .window_s = 60, .threshold = 60, .max_clients = 1000 };
    anomaly_t *a = anomaly_new (&p);
    uint32_t rng = 11;
    background (a, 40, T0, 600, &rng);
    uint64_t now = T0 + 600 * SEC;
    int alerts = 0, checks = 0;
    for (int i = 0; i < 1200; i++) {            /* 10 a second for 120 s */
        uint64_t ts = now + (uint64_t) i * SEC / 10;
        request (a, "10.4.0.1", ts, "GET", "/", 200, false);
        anomaly_result_t r;
        checks++;
        if (anomaly_check (a, "10.4.0.1", ts + 30000000, &r))
            alerts++;
    }
    check (t, alerts >= 2 && alerts <= 4, "a 120 s flood checked %d times: %d alerts (one a window)",
           checks, alerts);
    check (t, anomaly_stats (a).alerts == (uint64_t) alerts, "alerts counted");
    anomaly_destroy (&a);
}

static void
test_cold_start (tally_t *t)
{
    anomaly_params_t p = { .window_s = 60, .threshold = 60, .max_clients = 1000 };
    anomaly_t *a = anomaly_new (&p);
    uint32_t rng = 3;
    int alerted = 0;
    static const int RATES[] = { 2, 6, 12, 25, 45 };  /* a minute, very unlike each other */
    for (int s = 0; s < 300; s++)
        for (int i = 0; i < 5; i++) {
            if (tally_random (&rng) % 60 >= (unsigned) RATES[i])
                continue;
            char ip[32], path[32];
            snprintf (ip, sizeof ip, "10.5.0.%d", i);
            snprintf (path, sizeof path, "/p%u", tally_random (&rng) % (4 + 4 * i));
            request (a, ip, T0 + s * SEC, "GET", path, i == 4 && s % 9 == 0 ? 404 : 200, false);
            anomaly_result_t r;
            alerted += anomaly_check (a, ip, T0 + s * SEC, &r);
        }
    check (t, alerted == 0, "a cold start with five unlike clients: %d alerts", alerted);
    anomaly_result_t r;
    burst (a, "10.5.0.9", T0 + 300 * SEC, 6000, &r);
    check (t, r.score >= 60, "a blatant flood still alerts at cold start (priors): %u", r.score);
    anomaly_destroy (&a);
}

/*  The labels: an auth-failing client, a path walker, odd targets.          */
static void
test_labels (tally_t *t)
{
    anomaly_params_t p = { .window_s = 60, .threshold = 60, .max_clients = 1000 };
    anomaly_t *a = anomaly_new (&p);
    uint32_t rng = 5;
    background (a, 40, T0, 600, &rng);
    uint64_t now = T0 + 600 * SEC;
    anomaly_result_t r;
    for (int i = 0; i < 30; i++)
        request (a, "10.6.0.1", now + (uint64_t) i * 2 * SEC, "POST", "/login", 401, true);
    check (t, anomaly_check (a, "10.6.0.1", now + 60 * SEC, &r)
           && strcmp (r.label, "brute-force") == 0, "30 failed logins: %u %s", r.score, r.label);
    for (int i = 0; i < 60; i++) {
        char path[32];
        snprintf (path, sizeof path, "/scan%d.php", i);
        request (a, "10.6.0.2", now + (uint64_t) i * SEC, "GET", path, 404, false);
    }
    check (t, anomaly_check (a, "10.6.0.2", now + 60 * SEC, &r)
           && strcmp (r.label, "scanner") == 0, "60 new paths, 404: %u %s", r.score, r.label);
    for (int i = 0; i < 60; i++)
        request (a, "10.6.0.3", now + (uint64_t) i * SEC, "GET", "/", 404, false);
    anomaly_check (a, "10.6.0.3", now + 60 * SEC, &r);
    check (t, !strstr (r.reasons[0], "paths"), "one path again and again is not path growth: %s",
           r.reasons[0]);
    anomaly_destroy (&a);
}

/* ---- the labelled scenario ---------------------------------------------- */

enum { BENIGN, SCANNER, BRUTE, INJECTION, CLASSES };
static const char *const CLASS_NAMES[] = { "benign", "scanner", "brute-force", "slow-injection" };

typedef struct {
    json_t *class_of;           /* ip -> class number                       */
    json_t *alerted;            /* ip -> the label of its first alert       */
    json_t *credentials;        /* request_id -> had credentials            */
    anomaly_t *anomaly;
} scenario_t;

static const char *
text (const json_t *obj, const char *key)
{
    const char *s = json_string_value (json_object_get (obj, key));
    return s ? s : "";
}

/*  Authorization, or a POST to a login-like path (the addon's notion).     */
static bool
has_credentials (const json_t *req)
{
    const json_t *h;
    size_t i;
    json_array_foreach (json_object_get (req, "headers"), i, h)
        if (strcasecmp (text (h, "name"), "authorization") == 0)
            return true;
    const char *path = text (req, "path");
    return strcmp (text (req, "method"), "POST") == 0
           && (strstr (path, "login") || strstr (path, "signin") || strstr (path, "auth"));
}

static void
feed (scenario_t *sc, const json_t *ev)
{
    const char *ip = text (ev, "client_ip");
    uint64_t ts = (uint64_t) json_integer_value (json_object_get (ev, "ts_ns"));
    if (strcmp (text (ev, "topic"), "mitm.request") == 0) {
        bool creds = has_credentials (ev);
        anomaly_request_t r = { .client_ip = ip, .ts_ns = ts, .method = text (ev, "method"),
                                .path = text (ev, "path"), .query = text (ev, "query"),
                                .user_agent = text (ev, "user_agent"), .has_credentials = creds };
        anomaly_request (sc->anomaly, &r);
        json_object_set_new (sc->credentials, text (ev, "request_id"), json_boolean (creds));
        return;
    }
    const char *id = text (ev, "request_id");
    bool creds = json_is_true (json_object_get (sc->credentials, id));
    json_object_del (sc->credentials, id);
    uint32_t status = (uint32_t) json_integer_value (json_object_get (ev, "status"));
    anomaly_response (sc->anomaly, ip, ts, status, creds);
    anomaly_result_t r;
    if (!anomaly_check (sc->anomaly, ip, ts, &r) || json_object_get (sc->alerted, ip))
        return;
    json_object_set_new (sc->alerted, ip, json_string (r.label));
    if (getenv ("ANOMALY_TRACE")) {             /* every first alert, why */
        const char *class = CLASS_NAMES[json_integer_value (json_object_get (sc->class_of, ip))];
        printf ("  %-14s %-15s +%3llus %3u %-11s", class, ip,
                (unsigned long long) (ts / 1000000000ull - 1700000000ull), r.score, r.label);
        for (size_t i = 0; i < r.reason_count; i++)
            printf ("%s%s", i ? ", " : " ", r.reasons[i]);
        printf ("\n");
    }
}

static bool
load_labels (scenario_t *sc, const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    char ip[64], class[32];
    while (fscanf (f, "%63s %31s", ip, class) == 2)
        for (int c = 0; c < CLASSES; c++)
            if (strcmp (class, CLASS_NAMES[c]) == 0)
                json_object_set_new (sc->class_of, ip, json_integer (c));
    fclose (f);
    return json_object_size (sc->class_of) > 0;
}

static size_t
feed_stream (scenario_t *sc, const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0, events = 0;
    while (getline (&line, &cap, f) > 0) {
        json_t *ev = json_loads (line, 0, NULL);
        if (ev) {
            feed (sc, ev);
            events++;
        }
        json_decref (ev);
    }
    free (line);
    fclose (f);
    return events;
}

/*  The table; the thresholds.                                               */
static void
report (tally_t *t, scenario_t *sc)
{
    int clients[CLASSES] = { 0 }, detected[CLASSES] = { 0 };
    char labels[CLASSES][160] = { "", "", "", "" };
    const char *ip;
    json_t *value;
    json_object_foreach (sc->class_of, ip, value) {
        int c = (int) json_integer_value (value);
        clients[c]++;
        const char *label = json_string_value (json_object_get (sc->alerted, ip));
        if (!label)
            continue;
        detected[c]++;
        size_t n = strlen (labels[c]);
        if (n + strlen (label) + 2 < sizeof labels[c])
            snprintf (labels[c] + n, sizeof labels[c] - n, "%s%s", n ? " " : "", label);
    }
    printf ("%-15s %7s %8s %7s  first-alert labels\n", "class", "clients", "alerted", "rate");
    double rate[CLASSES];
    for (int c = 0; c < CLASSES; c++) {
        rate[c] = clients[c] ? 100.0 * detected[c] / clients[c] : 0;
        printf ("%-15s %7d %8d %6.1f%%  %s%s\n", CLASS_NAMES[c], clients[c], detected[c], rate[c],
                c == BENIGN ? "(false positives) " : "", labels[c]);
    }
    check (t, rate[SCANNER] >= 90, "scanners detected %.1f%% < 90%%", rate[SCANNER]);
    check (t, rate[BRUTE] >= 90, "brute-force detected %.1f%% < 90%%", rate[BRUTE]);
    check (t, rate[BENIGN] <= 5, "benign false positives %.1f%% > 5%%", rate[BENIGN]);
    check (t, clients[INJECTION] > 0, "slow injection present (reported, no threshold)");
}

static void
test_scenario (tally_t *t, const char *seed, const char *duration)
{
    char dir[] = "/tmp/test_anomaly.XXXXXX", cmd[2048], stream[64], labels[64];
    if (!check (t, mkdtemp (dir) != NULL, "mkdtemp"))
        return;
    snprintf (stream, sizeof stream, "%s/stream.jsonl", dir);
    snprintf (labels, sizeof labels, "%s/labels.tsv", dir);
    snprintf (cmd, sizeof cmd, "%s/tests/dpi-mitmgen --seed %s --duration %s %s %s", BINARY_DIR,
              seed, duration, stream, labels);
    printf ("scenario: %s\n", cmd);
    if (check (t, system (cmd) == 0, "dpi-mitmgen ran")) {
        anomaly_params_t p = { .window_s = 60, .threshold = 60, .max_clients = 4096 };
        scenario_t sc = { json_object (), json_object (), json_object (), anomaly_new (&p) };
        if (check (t, load_labels (&sc, labels), "labels read")) {
            size_t events = feed_stream (&sc, stream);
            anomaly_stats_t s = anomaly_stats (sc.anomaly);
            printf ("%zu events, %llu requests, %llu clients, %llu alerts\n", events,
                    (unsigned long long) s.observed, (unsigned long long) s.clients,
                    (unsigned long long) s.alerts);
            check (t, events > 1000 && json_object_size (sc.credentials) == 0,
                   "every response paired (%zu left)", json_object_size (sc.credentials));
            report (t, &sc);
        }
        anomaly_destroy (&sc.anomaly);
        json_decref (sc.class_of);
        json_decref (sc.alerted);
        json_decref (sc.credentials);
    }
    remove_tree (dir);
}

/*  test_buffer_anomaly [SEED [DURATION_S]]: the scenario of another seed.   */
int
main (int argc, char **argv)
{
    tally_t t = { 0 };
    test_rate (&t);
    test_eviction (&t);
    test_cooldown (&t);
    test_cold_start (&t);
    test_labels (&t);
    test_scenario (&t, argc > 1 ? argv[1] : "1", argc > 2 ? argv[2] : "600");
    return tally_report (&t);
}
