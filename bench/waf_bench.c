/*  waf_bench.c — requests/s of buffer/waf.c against bare libmodsecurity3
    on the same configuration and the same requests (bench/buffer-analysis
    runs it and prints the ratios).

        waf-bench --conf FILE --mode bare|waf --mix realistic|attack
                  [--threads N] [--seconds S] [--paranoia P]

    bare: the anchor — a ModSecurity and RulesSet loaded from FILE alone
    (one per thread, as waf mode has a waf_t per thread like dpi-buffer),
    one Transaction per request, fed exactly as waf.c feeds it
    (connection, URI, headers, body window, request body; no phase 5), with a
    log callback that only counts. waf: waf_analyse on a waf_t (FILE plus
    the module's two rules, the parser, the classification).
    The mix: realistic is 19 clean requests (browsing GETs with their
    assets and queries, form and JSON POSTs) to 1 attack (~5 %); attack is
    4 attacks to 1 clean request. Each thread loops over the mix for S
    seconds (default 3) from its own starting point.

    Prints one line: "mode MODE mix MIX threads N requests R seconds S
    rps R/S rps_per_thread R/S/N rss_kb HWM".                               */
#include "waf.h"

#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HEADERS 12
#define MAX_THREADS 16

typedef struct {
    const char *method, *path, *query, *ctype, *body;
} spec_t;

static const spec_t s_clean[] = {
    { "GET", "/", "", NULL, NULL },
    { "GET", "/static/css/site.4f2a.css", "", NULL, NULL },
    { "GET", "/static/js/app.91bc.js", "", NULL, NULL },
    { "GET", "/img/products/42-thumb.webp", "", NULL, NULL },
    { "GET", "/products/42", "color=blue&size=m", NULL, NULL },
    { "GET", "/search", "q=running+shoes&sort=price&page=2", NULL, NULL },
    { "GET", "/category/outdoor/tents", "", NULL, NULL },
    { "GET", "/api/v1/cart", "", NULL, NULL },
    { "GET", "/account/orders", "year=2023", NULL, NULL },
    { "GET", "/favicon.ico", "", NULL, NULL },
    { "GET", "/blog/2023/11/how-to-choose-a-tent", "utm_source=news&utm_medium=email", NULL, NULL },
    { "GET", "/static/fonts/inter.woff2", "", NULL, NULL },
    { "POST", "/login", "", "application/x-www-form-urlencoded",
      "username=jane.doe%40example.com&password=correct+horse+battery&remember=1" },
    { "POST", "/api/v1/cart/items", "", "application/json",
      "{\"sku\":\"TENT-2P-GRN\",\"qty\":1,\"options\":{\"color\":\"green\"}}" },
    { "POST", "/account/address", "", "application/x-www-form-urlencoded",
      "name=Jane+Doe&street=12+Rose+Lane&city=Springfield&zip=12345&country=US" },
    { "GET", "/api/v1/recommendations", "for=42&limit=8", NULL, NULL },
    { "GET", "/products/77", "", NULL, NULL },
    { "POST", "/api/v1/events", "", "application/json",
      "{\"type\":\"view\",\"product\":77,\"ts\":1700000000,\"ref\":\"/category/outdoor\"}" },
    { "GET", "/checkout", "step=shipping", NULL, NULL },
};
static const spec_t s_attack[] = {
    { "GET", "/search", "q=1%27%20UNION%20SELECT%20password%20FROM%20users--", NULL, NULL },
    { "GET", "/comment", "text=%3Cscript%3Ealert%28document.cookie%29%3C%2Fscript%3E", NULL, NULL },
    { "GET", "/download", "file=..%2F..%2F..%2F..%2Fetc%2Fpasswd", NULL, NULL },
    { "GET", "/ping", "host=8.8.8.8%3Buname%20-a", NULL, NULL },
    { "POST", "/login", "", "application/x-www-form-urlencoded",
      "username=admin%27%20OR%20%271%27%3D%271&password=x" },
};
#define N_CLEAN (sizeof s_clean / sizeof s_clean[0])
#define N_ATTACK (sizeof s_attack / sizeof s_attack[0])

/*  A request ready for both paths: the protobuf value and its storage.    */
typedef struct {
    Dpidual__V1__HttpRequest req;
    Dpidual__V1__HttpHeader hdr[MAX_HEADERS];
    Dpidual__V1__HttpHeader *hdrp[MAX_HEADERS];
    char clen[24];
} built_t;

static void
add_header (built_t *b, const char *name, const char *value)
{
    size_t i = b->req.n_headers++;
    dpidual__v1__http_header__init (&b->hdr[i]);
    b->hdr[i].name = (char *) name;
    b->hdr[i].value = (char *) value;
    b->hdrp[i] = &b->hdr[i];
}

static void
build (built_t *b, const spec_t *s)
{
    memset (b, 0, sizeof *b);
    dpidual__v1__http_request__init (&b->req);
    b->req.headers = b->hdrp;
    b->req.client_ip = "192.0.2.10";
    b->req.client_port = 40000;
    b->req.frontend_ip = "198.51.100.1";
    b->req.frontend_port = 443;
    b->req.method = (char *) s->method;
    b->req.path = (char *) s->path;
    b->req.query = (char *) s->query;
    b->req.http_version = "HTTP/1.1";
    add_header (b, "Host", "shop.example");
    add_header (b, "User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0");
    add_header (b, "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
    add_header (b, "Accept-Language", "en-US,en;q=0.5");
    add_header (b, "Accept-Encoding", "gzip, deflate, br");
    add_header (b, "Connection", "keep-alive");
    add_header (b, "Cookie", "session=4f9a1c2e8b7d6a5f; consent=yes");
    add_header (b, "Referer", "https://shop.example/category/outdoor");
    if (s->body) {
        snprintf (b->clen, sizeof b->clen, "%zu", strlen (s->body));
        add_header (b, "Content-Type", s->ctype);
        add_header (b, "Content-Length", b->clen);
        b->req.body_prefix.data = (uint8_t *) s->body;
        b->req.body_prefix.len = strlen (s->body);
        b->req.body_length = b->req.body_prefix.len;
    }
}

/*  The anchor: bare libmodsecurity3, fed as waf.c feeds it.               */
static void
count_log (void *data, const void *msg)
{
    (void) msg;
    (*(unsigned *) data)++;
}

static void
bare_analyse (ModSecurity *ms, RulesSet *rules, const Dpidual__V1__HttpRequest *r)
{
    unsigned logged = 0;
    Transaction *tx = msc_new_transaction (ms, rules, &logged);
    msc_process_connection (tx, r->client_ip, (int) r->client_port, r->frontend_ip,
                            (int) r->frontend_port);
    char uri[1024];
    snprintf (uri, sizeof uri, "%s%s%s", r->path, *r->query ? "?" : "", r->query);
    msc_process_uri (tx, uri, r->method, r->http_version + 5);
    for (size_t i = 0; i < r->n_headers; i++)
        msc_add_n_request_header (tx, (const unsigned char *) r->headers[i]->name,
                                  strlen (r->headers[i]->name),
                                  (const unsigned char *) r->headers[i]->value,
                                  strlen (r->headers[i]->value));
    msc_process_request_headers (tx);
    if (r->body_prefix.len)
        msc_append_request_body (tx, r->body_prefix.data, r->body_prefix.len);
    msc_process_request_body (tx);
    msc_transaction_cleanup (tx);           /* no phase 5, as buffer/waf.c */
}

typedef struct {
    bool bare;
    ModSecurity *ms;
    RulesSet *rules;
    waf_t *waf;
    built_t *mix;
    size_t mix_len;
    double seconds;
    size_t start;
    unsigned long done;
    unsigned long matched;          /* waf: requests with a score > 0       */
} job_t;

static double
now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void *
run (void *arg)
{
    job_t *j = arg;
    waf_result_t *res = malloc (sizeof *res);
    double end = now () + j->seconds;
    for (size_t i = j->start; now () < end; i++) {
        const Dpidual__V1__HttpRequest *r = &j->mix[i % j->mix_len].req;
        if (j->bare)
            bare_analyse (j->ms, j->rules, r);
        else if (waf_analyse (j->waf, r, res) == 0 && res->score > 0)
            j->matched++;
        j->done++;
    }
    free (res);
    return NULL;
}

/*  The mix: realistic 19 clean : 1 attack, attack 4 attacks : 1 clean.    */
static built_t *
make_mix (bool attack_heavy, size_t *len)
{
    size_t n = attack_heavy ? 5 * N_ATTACK : 20 * N_ATTACK;
    built_t *mix = calloc (n, sizeof *mix);
    size_t c = 0, a = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_attack = attack_heavy ? i % 5 != 4 : i % 20 == 19;
        build (&mix[i], is_attack ? &s_attack[a++ % N_ATTACK] : &s_clean[c++ % N_CLEAN]);
    }
    *len = n;
    return mix;
}

static long
rss_hwm_kb (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets (line, sizeof line, f))
        if (sscanf (line, "VmHWM: %ld", &kb) == 1)
            break;
    if (f)
        fclose (f);
    return kb;
}

/*  J's own rules: a ModSecurity and RulesSet (bare) or a waf_t (waf). Each
    thread has its own, as dpi-buffer's analysis threads do (buffer/crs.h).
    0, or -1 (said).                                                         */
static int
load (job_t *j, const char *conf, int paranoia)
{
    if (j->bare) {
        j->ms = msc_init ();
        msc_set_log_cb (j->ms, count_log);
        j->rules = msc_create_rules_set ();
        const char *error = NULL;
        if (msc_rules_add_file (j->rules, conf, &error) < 0) {
            fprintf (stderr, "waf-bench: %s\n", error ? error : conf);
            return -1;
        }
        return 0;
    }
    config_errors_t errors = { 0 };
    j->waf = waf_new (conf, paranoia, 5, &errors);
    if (!j->waf)
        config_errors_print (&errors, stderr);
    return j->waf ? 0 : -1;
}

int
main (int argc, char **argv)
{
    const char *conf = NULL, *mode = "waf", *mixname = "realistic";
    int threads = 1, paranoia = 1;
    double seconds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp (argv[i], "--conf")) conf = argv[i + 1];
        else if (!strcmp (argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp (argv[i], "--mix")) mixname = argv[i + 1];
        else if (!strcmp (argv[i], "--threads")) threads = atoi (argv[i + 1]);
        else if (!strcmp (argv[i], "--seconds")) seconds = atof (argv[i + 1]);
        else if (!strcmp (argv[i], "--paranoia")) paranoia = atoi (argv[i + 1]);
        else { fprintf (stderr, "waf-bench: unknown option %s\n", argv[i]); return 2; }
    }
    if (!conf || threads < 1 || threads > MAX_THREADS || seconds <= 0) {
        fprintf (stderr, "usage: waf-bench --conf FILE [--mode bare|waf] "
                 "[--mix realistic|attack] [--threads 1..16] [--seconds S] [--paranoia P]\n");
        return 2;
    }
    job_t base = { .bare = !strcmp (mode, "bare"), .seconds = seconds };
    base.mix = make_mix (!strcmp (mixname, "attack"), &base.mix_len);
    job_t jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        jobs[i] = base;
        jobs[i].start = (size_t) i * 7;
        if (load (&jobs[i], conf, paranoia) != 0)
            return 1;
    }
    double t0 = now ();
    for (int i = 0; i < threads; i++)
        pthread_create (&th[i], NULL, run, &jobs[i]);
    unsigned long done = 0, matched = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join (th[i], NULL);
        done += jobs[i].done;
        matched += jobs[i].matched;
    }
    double elapsed = now () - t0;
    printf ("mode %s mix %s threads %d requests %lu seconds %.2f rps %.0f "
            "rps_per_thread %.0f rss_kb %ld scored %lu\n", mode, mixname, threads, done,
            elapsed, done / elapsed, done / elapsed / threads, rss_hwm_kb (), matched);
    return 0;
}
