/*  test_config.c — unit tests of common/config.c.

    Data files are in TESTS_DIR/data/config/; the reference file is
    SOURCE_DIR/config/dpi-dual.yaml. Prints every failed check and a
    "N passed, M failed" summary (tally.h); exits non-zero when a check
    failed.                                                                  */
#include "config.h"
#include "tally.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TESTS_DIR
#   error "TESTS_DIR must be defined (path of the tests/ directory)"
#endif
#ifndef SOURCE_DIR
#   error "SOURCE_DIR must be defined (path of the source tree)"
#endif

#define DATA(name) TESTS_DIR "/data/config/" name
#define REFERENCE  SOURCE_DIR "/config/dpi-dual.yaml"

/*  check() of tally.h with the condition's text and line, for the tally_t *t
    of the enclosing function.                                              */
#define CHECK(cond)         check (t, (cond), "line %d: %s", __LINE__, #cond)
#define CHECK_STR(got, exp) s_check_str (t, (got), (exp), __LINE__)

static bool
s_check_str (tally_t *t, const char *got, const char *expected, int line)
{
    return check (t, got && expected && strcmp (got, expected) == 0,
                  "line %d: strings equal\n    got:      %s\n    expected: %s", line,
                  got ? got : "(null)", expected ? expected : "(null)");
}

//  --------------------------------------------------------------------------
//  Helpers

static bool
s_list_equal (const config_strlist_t *a, const config_strlist_t *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp (a->items[i], b->items[i]) != 0)
            return false;
    return true;
}

#define SAME_INT(f) (a->f == b->f)
#define SAME_STR(f) (strcmp (a->f, b->f) == 0)

/*  Field by field, written by hand (not from the loader's table).          */
static bool
s_config_equal (const config_t *a, const config_t *b)
{
    return SAME_INT (global.mode) && SAME_STR (global.host) && SAME_STR (global.run_dir)
        && SAME_STR (global.log_level) && SAME_INT (global.compat)
        && SAME_STR (global.compat_dir)
        && s_list_equal (&a->global.workers, &b->global.workers)
        && SAME_INT (bus.heartbeat_interval) && SAME_INT (bus.sndhwm)
        && SAME_INT (bus.rcvhwm) && SAME_INT (bus.linger_ms)
        && SAME_STR (bus.endpoints[WORKER_COLLECTOR]) && SAME_STR (bus.endpoints[WORKER_BRIDGE_MITM])
        && SAME_STR (bus.endpoints[WORKER_BUFFER]) && SAME_STR (bus.endpoints[WORKER_CORRELATOR])
        && SAME_INT (bus.curve.enabled) && SAME_STR (bus.curve.cert)
        && SAME_STR (bus.curve.server_cert) && SAME_STR (bus.curve.allow_dir)
        && SAME_STR (tap.interface) && SAME_INT (tap.snaplen) && SAME_INT (tap.promisc)
        && SAME_INT (tap.immediate) && SAME_INT (tap.buffer_mb) && SAME_STR (tap.bpf)
        && SAME_INT (tap.threads) && SAME_INT (tap.max_flows)
        && SAME_INT (tap.max_packets_per_flow) && SAME_INT (tap.tcp_idle_timeout)
        && SAME_INT (tap.tcp_close_timeout) && SAME_INT (tap.udp_idle_timeout)
        && SAME_INT (tap.other_idle_timeout) && SAME_INT (tap.update_interval)
        && SAME_INT (tap.stats_interval) && SAME_INT (tap.community_id_seed)
        && SAME_STR (global.user)
        && SAME_STR (mitm.socket) && SAME_INT (mitm.verdict_deadline_ms)
        && s_list_equal (&a->mitm.trusted_proxies, &b->mitm.trusted_proxies)
        && SAME_STR (mitm.rules_file) && SAME_STR (mitm.ban_file)
        && SAME_INT (mitm.publish_all_verdicts) && SAME_INT (mitm.max_record_bytes)
        && s_list_equal (&a->mitm.decision_endpoints, &b->mitm.decision_endpoints)
        && SAME_INT (buffer.size) && SAME_INT (buffer.analysis_threads)
        && SAME_INT (correlation.window) && SAME_INT (correlation.ban_duration)
        && SAME_INT (correlation.threat_threshold)
        && SAME_INT (crowdsec.enabled) && SAME_STR (crowdsec.lapi_url)
        && SAME_STR (crowdsec.api_key_file) && SAME_INT (crowdsec.poll_interval)
        && SAME_STR (bus.endpoints[WORKER_API]) && SAME_INT (api.enabled)
        && SAME_STR (api.listen) && SAME_STR (api.token_file) && SAME_STR (api.tls_cert)
        && SAME_STR (api.tls_key) && SAME_INT (api.metrics_public)
        && SAME_INT (api.max_body_bytes) && SAME_INT (api.rate_limit)
        && SAME_INT (api.max_connections) && SAME_INT (api.sse_max_clients)
        && SAME_INT (api.sse_rate) && SAME_INT (api.max_flows) && SAME_INT (api.max_threats)
        && SAME_INT (api.max_alerts) && SAME_INT (api.query_timeout_ms)
        && SAME_STR (api.www_dir);
}

/*  config_print output as a string the caller frees.                        */
static char *
s_print (const config_t *config)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    config_print (config, out);
    fclose (out);
    return text;
}

/*  Write TEXT (LENGTH bytes) to a fresh temporary file; its path in PATH.  */
static bool
s_temp_file (char *path, size_t size, const char *text, size_t length)
{
    snprintf (path, size, "/tmp/test_config.XXXXXX");
    int fd = mkstemp (path);
    if (fd < 0)
        return false;
    bool ok = write (fd, text, length) == (ssize_t) length;
    close (fd);
    return ok;
}

/*  Load PATH expecting success; print any error.                            */
static config_t *
s_load_ok (tally_t *t, const char *path)
{
    config_errors_t errors;
    config_t *config = config_load (path, &errors);
    for (size_t i = 0; i < errors.count; i++)
        printf ("    unexpected: %s\n", errors.messages[i]);
    CHECK (config != NULL);
    CHECK (errors.count == 0);
    config_errors_clear (&errors);
    return config;
}

/*  Load PATH expecting exactly the COUNT messages of EXPECTED.             */
static void
s_expect_errors (tally_t *t, const char *path, const char *const *expected, size_t count)
{
    config_errors_t errors;
    config_t *config = config_load (path, &errors);
    CHECK (config == NULL);
    if (!CHECK (errors.count == count))
        for (size_t i = 0; i < errors.count; i++)
            printf ("    got: %s\n", errors.messages[i]);
    for (size_t i = 0; i < count && i < errors.count; i++)
        CHECK_STR (errors.messages[i], expected[i]);
    config_errors_clear (&errors);
    CHECK (errors.count == 0 && errors.messages == NULL);
    config_destroy (&config);
}

#define EXPECT(file, ...) do { \
    static const char *const expected_[] = { __VA_ARGS__ }; \
    s_expect_errors (t, DATA (file), expected_, sizeof expected_ / sizeof expected_[0]); \
} while (0)

#define AT(file, where) DATA (file) ":" where

//  --------------------------------------------------------------------------
//  Valid files

static void
test_defaults (tally_t *t)
{
    config_t *c = config_new ();
    if (!CHECK (c != NULL))
        return;
    CHECK (c->global.mode == CONFIG_MODE_DUAL);
    CHECK_STR (c->global.host, "");
    CHECK_STR (c->global.run_dir, "/run/dpi-dual");
    CHECK_STR (c->global.log_level, "info");
    CHECK (!c->global.compat);
    CHECK_STR (c->global.compat_dir, "/tmp/secubox");
    CHECK (c->bus.heartbeat_interval == 5);
    CHECK (c->bus.sndhwm == 100000 && c->bus.rcvhwm == 100000);
    CHECK (c->bus.linger_ms == 200);
    CHECK_STR (c->bus.endpoints[WORKER_COLLECTOR], "ipc:///run/dpi-dual/collector.pub");
    CHECK_STR (c->bus.endpoints[WORKER_BRIDGE_MITM], "ipc:///run/dpi-dual/bridge-mitm.pub");
    CHECK_STR (c->bus.endpoints[WORKER_BUFFER], "ipc:///run/dpi-dual/buffer.pub");
    CHECK_STR (c->bus.endpoints[WORKER_CORRELATOR], "ipc:///run/dpi-dual/correlator.pub");
    CHECK (!c->bus.curve.enabled);
    CHECK_STR (c->bus.curve.cert, "");
    CHECK_STR (c->bus.curve.server_cert, "");
    CHECK_STR (c->bus.curve.allow_dir, "");
    CHECK_STR (c->tap.interface, "");
    CHECK (c->tap.snaplen == 65535);
    CHECK (c->tap.promisc && c->tap.immediate);
    CHECK (c->tap.buffer_mb == 64);
    CHECK_STR (c->tap.bpf, "");
    CHECK (c->tap.threads == 1);
    CHECK (c->tap.max_flows == 1048576);
    CHECK (c->tap.max_packets_per_flow == 32);
    CHECK (c->tap.tcp_idle_timeout == 300 && c->tap.tcp_close_timeout == 10);
    CHECK (c->tap.udp_idle_timeout == 60 && c->tap.other_idle_timeout == 60);
    CHECK (c->tap.update_interval == 60 && c->tap.stats_interval == 10);
    CHECK (c->tap.community_id_seed == 0);
    CHECK_STR (c->global.user, "");
    CHECK_STR (c->mitm.socket, "/run/dpi-dual/bridge-mitm.sock");
    CHECK (c->mitm.verdict_deadline_ms == 2);
    CHECK (c->mitm.trusted_proxies.count == 2);
    if (c->mitm.trusted_proxies.count == 2) {
        CHECK_STR (c->mitm.trusted_proxies.items[0], "127.0.0.1");
        CHECK_STR (c->mitm.trusted_proxies.items[1], "::1");
    }
    CHECK_STR (c->mitm.rules_file, "/etc/dpi-dual/rules.yaml");
    CHECK_STR (c->mitm.ban_file, "");
    CHECK (!c->mitm.publish_all_verdicts);
    CHECK (c->mitm.max_record_bytes == 65536);
    CHECK (c->mitm.decision_endpoints.count == 0);
    CHECK (c->buffer.size == 10000 && c->buffer.analysis_threads == 1);
    CHECK (c->correlation.window == 60);
    CHECK (c->correlation.ban_duration == 14400);
    CHECK (c->correlation.threat_threshold == 50);
    CHECK (!c->crowdsec.enabled);
    CHECK_STR (c->crowdsec.lapi_url, "http://127.0.0.1:8080");
    CHECK_STR (c->crowdsec.api_key_file, "");
    CHECK (c->crowdsec.poll_interval == 10);
    config_destroy (&c);
    CHECK (c == NULL);
    config_destroy (&c);            //  Harmless twice
    config_destroy (NULL);
}

/*  The reference file loads cleanly and documents exactly the defaults.    */
static void
test_reference (tally_t *t)
{
    config_t *reference = s_load_ok (t, REFERENCE);
    config_t *defaults = config_new ();
    if (reference && defaults)
        CHECK (s_config_equal (reference, defaults));
    config_destroy (&reference);
    config_destroy (&defaults);
}

/*  No -c FILE: $DPI_DUAL_CONFIG (never /etc here), missing = defaults; the
    default rules file follows its directory; a file there is loaded.       */
static void
test_load_default_path (tally_t *t, const char *dir)
{
    char path[512], rules[600];
    snprintf (path, sizeof path, "%s/etc/dpi-dual.yaml", dir);
    snprintf (rules, sizeof rules, "%s/etc/rules.yaml", dir);
    setenv ("DPI_DUAL_CONFIG", path, 1);
    CHECK_STR (config_default_path (), path);
    config_t *loaded = s_load_ok (t, NULL);
    config_t *defaults = config_new ();
    if (loaded && defaults) {
        CHECK (s_config_equal (loaded, defaults));
        CHECK_STR (loaded->mitm.rules_file, rules);
        CHECK (config_is_default (loaded, "mitm.rules_file"));
    }
    config_destroy (&loaded);
    config_destroy (&defaults);

    char etc[512], text[700];
    snprintf (etc, sizeof etc, "%s/etc", dir);
    mkdir (etc, 0700);
    snprintf (text, sizeof text, "tap:\n  snaplen: 128\nmitm:\n  rules_file: \"%s\"\n", rules);
    FILE *f = fopen (path, "w");
    CHECK (f && fputs (text, f) >= 0 && fclose (f) == 0);
    loaded = s_load_ok (t, NULL);
    char where[700];
    if (loaded) {
        CHECK (loaded->tap.snaplen == 128);
        /* given in the file, and equal to the default all the same */
        CHECK (config_where (loaded, "mitm.rules_file", where, sizeof where));
        snprintf (text, sizeof text, "%s:4:15", path);
        CHECK_STR (where, text);
        CHECK (config_is_default (loaded, "mitm.rules_file"));
        CHECK (!config_is_default (loaded, "tap.snaplen"));
        CHECK (!config_where (loaded, "tap.promisc", where, sizeof where));
        CHECK_STR (where, path);
    }
    config_destroy (&loaded);
    unsetenv ("DPI_DUAL_CONFIG");
    CHECK_STR (config_default_path (), CONFIG_DEFAULT_PATH);
}

static void
test_partial (tally_t *t)
{
    config_t *c = s_load_ok (t, DATA ("partial.yaml"));
    if (!c)
        return;
    CHECK_STR (c->global.run_dir, "/var/run/dpi");
    CHECK_STR (c->tap.interface, "eth1");
    CHECK (c->tap.snaplen == 1514);
    //  Missing keys take their defaults
    CHECK (c->tap.threads == 1 && c->tap.promisc && c->bus.linger_ms == 200);
    CHECK_STR (c->global.log_level, "info");
    CHECK (c->mitm.trusted_proxies.count == 2);
    //  Endpoints resolve from the loaded run_dir
    CHECK_STR (c->bus.endpoints[WORKER_COLLECTOR], "ipc:///var/run/dpi/collector.pub");
    CHECK_STR (c->bus.endpoints[WORKER_BRIDGE_MITM], "ipc:///var/run/dpi/bridge-mitm.pub");
    CHECK_STR (c->bus.endpoints[WORKER_BUFFER], "ipc:///var/run/dpi/buffer.pub");
    CHECK_STR (c->bus.endpoints[WORKER_CORRELATOR], "ipc:///var/run/dpi/correlator.pub");
    CHECK_STR (c->mitm.socket, "/var/run/dpi/bridge-mitm.sock");
    config_destroy (&c);
}

static void
test_null_sections (tally_t *t)
{
    config_t *c = s_load_ok (t, DATA ("null-sections.yaml"));
    config_t *defaults = config_new ();
    if (c && defaults)
        CHECK (s_config_equal (c, defaults));
    config_destroy (&c);
    config_destroy (&defaults);
}

static void
test_endpoints (tally_t *t)
{
    config_t *c = s_load_ok (t, DATA ("endpoints.yaml"));
    if (!c)
        return;
    CHECK_STR (c->bus.endpoints[WORKER_COLLECTOR], "@tcp://0.0.0.0:7001");
    CHECK_STR (c->bus.endpoints[WORKER_BRIDGE_MITM], ">tcp://10.0.0.1:7002");
    CHECK_STR (c->bus.endpoints[WORKER_BUFFER], "ipc:///srv/dpi/buffer.pub");     //  "" given
    CHECK_STR (c->bus.endpoints[WORKER_CORRELATOR], "ipc:///srv/dpi/correlator.pub");
    CHECK_STR (c->mitm.socket, "/srv/dpi/bridge-mitm.sock");
    config_destroy (&c);
}

static void
test_booleans (tally_t *t)
{
    config_t *c = s_load_ok (t, DATA ("booleans.yaml"));
    if (!c)
        return;
    CHECK (c->global.compat);
    CHECK (c->bus.curve.enabled);
    CHECK (!c->tap.promisc);
    CHECK (!c->tap.immediate);
    CHECK (c->mitm.publish_all_verdicts);
    CHECK (!c->crowdsec.enabled);
    config_destroy (&c);
}

static void
test_all_keys (tally_t *t)
{
    config_t *c = s_load_ok (t, DATA ("all-keys.yaml"));
    if (!c)
        return;
    CHECK (c->global.mode == CONFIG_MODE_TAP_ONLY);
    CHECK_STR (c->global.host, "edge-1");
    CHECK_STR (c->global.run_dir, "/var/run/dpi-test");
    CHECK_STR (c->global.log_level, "debug");
    CHECK (c->global.compat);
    CHECK_STR (c->global.compat_dir, "/tmp/it's here");
    if (CHECK (c->global.workers.count == 3)) {
        CHECK_STR (c->global.workers.items[0], "correlator");
        CHECK_STR (c->global.workers.items[1], "collector");
        CHECK_STR (c->global.workers.items[2], "api");
    }
    bool run[WORKER_COUNT];
    config_host_workers (c, run);
    CHECK (run[WORKER_COLLECTOR] && run[WORKER_CORRELATOR] && !run[WORKER_BRIDGE_MITM]
           && !run[WORKER_BUFFER] && run[WORKER_API]);
    CHECK_STR (c->bus.endpoints[WORKER_API], "tcp://127.0.0.1:7005");
    CHECK (c->api.enabled && c->api.metrics_public);
    CHECK_STR (c->api.listen, "[::1]:9470");
    CHECK_STR (c->api.token_file, "/etc/dpi-dual/other.token");
    CHECK_STR (c->api.tls_cert, "/etc/dpi-dual/api.crt");
    CHECK_STR (c->api.tls_key, "/etc/dpi-dual/api.key");
    CHECK (c->api.max_body_bytes == 64 && c->api.rate_limit == 100000);
    CHECK (c->api.max_connections == 4 && c->api.sse_max_clients == 1024);
    CHECK (c->api.sse_rate == 1 && c->api.max_flows == 10 && c->api.max_threats == 100000);
    CHECK (c->api.max_alerts == 10 && c->api.query_timeout_ms == 30000);
    CHECK (c->bus.heartbeat_interval == 3600);
    CHECK (c->bus.sndhwm == 1 && c->bus.rcvhwm == 10000000 && c->bus.linger_ms == 0);
    CHECK_STR (c->bus.endpoints[WORKER_COLLECTOR], "@tcp://*:7001");
    CHECK_STR (c->bus.endpoints[WORKER_BRIDGE_MITM], ">tcp://192.0.2.1:7002");
    CHECK_STR (c->bus.endpoints[WORKER_BUFFER], "ipc:///tmp/b.pub");
    CHECK_STR (c->bus.endpoints[WORKER_CORRELATOR], "tcp://[2001:db8::1]:7004");
    CHECK (c->bus.curve.enabled);
    CHECK_STR (c->bus.curve.cert, "/etc/dpi-dual/node.cert");
    CHECK_STR (c->bus.curve.server_cert, "/etc/dpi-dual/server.pub");
    CHECK_STR (c->bus.curve.allow_dir, "/etc/dpi-dual/clients");
    CHECK_STR (c->tap.interface, "br-lan #1");
    CHECK (c->tap.snaplen == 262144);
    CHECK (!c->tap.promisc && !c->tap.immediate);
    CHECK (c->tap.buffer_mb == 4096);
    CHECK_STR (c->tap.bpf, "tcp port 443 and not host 10.0.0.1");
    CHECK (c->tap.threads == 64);
    CHECK (c->tap.max_flows == 1024);
    CHECK (c->tap.max_packets_per_flow == 255);
    CHECK (c->tap.tcp_idle_timeout == 86400 && c->tap.tcp_close_timeout == 1);
    CHECK (c->tap.udp_idle_timeout == 2 && c->tap.other_idle_timeout == 3);
    CHECK (c->tap.update_interval == 4 && c->tap.stats_interval == 3600);
    CHECK (c->tap.community_id_seed == 65535);
    CHECK_STR (c->global.user, "nobody");
    CHECK_STR (c->mitm.socket, "/run/mitm.sock");
    CHECK (c->mitm.verdict_deadline_ms == 1000);
    if (CHECK (c->mitm.trusted_proxies.count == 3)) {
        CHECK_STR (c->mitm.trusted_proxies.items[0], "10.0.0.1");
        CHECK_STR (c->mitm.trusted_proxies.items[1], "fe80::1%eth0");
        CHECK_STR (c->mitm.trusted_proxies.items[2], "");
    }
    CHECK_STR (c->mitm.rules_file, "C:\\rules \"v2\".yaml");
    CHECK_STR (c->mitm.ban_file,
               "tab\there\nnewline: é ünï — \u2028 " "\xc2\x85" " \u2029 \x01 "
               "\xc2\x81 \xc2\x9f \xef\xbf\xbe end");
    CHECK (c->mitm.publish_all_verdicts);
    CHECK (c->mitm.max_record_bytes == 1024);
    if (CHECK (c->mitm.decision_endpoints.count == 2)) {
        CHECK_STR (c->mitm.decision_endpoints.items[0], "tcp://10.0.0.2:5557");
        CHECK_STR (c->mitm.decision_endpoints.items[1], "ipc:///run/dpi-dual/correlator.pub");
    }
    CHECK (c->buffer.size == 16 && c->buffer.analysis_threads == 64);
    CHECK (c->correlation.window == 86400);
    CHECK (c->correlation.ban_duration == 31536000);
    CHECK (c->correlation.threat_threshold == 0);
    CHECK (c->crowdsec.enabled);
    CHECK_STR (c->crowdsec.lapi_url, "https://lapi.example:8443/");
    CHECK_STR (c->crowdsec.api_key_file, "/etc/crowdsec/key");
    CHECK (c->crowdsec.poll_interval == 1);
    config_destroy (&c);
}

/*  config_print of PATH's config (or the defaults) reloads to an equal
    config that prints the same text.                                        */
static void
s_round_trip (tally_t *t, const char *path)
{
    config_t *first = path ? s_load_ok (t, path) : config_new ();
    char *text = first ? s_print (first) : NULL;
    char temp[64];
    if (!CHECK (text != NULL) || !CHECK (s_temp_file (temp, sizeof temp, text, strlen (text)))) {
        free (text);
        config_destroy (&first);
        return;
    }
    config_t *second = s_load_ok (t, temp);
    char *again = second ? s_print (second) : NULL;
    if (second) {
        CHECK (s_config_equal (first, second));
        CHECK_STR (again, text);
    }
    unlink (temp);
    free (text);
    free (again);
    config_destroy (&first);
    config_destroy (&second);
}

static void
test_round_trip (tally_t *t)
{
    s_round_trip (t, NULL);
    s_round_trip (t, DATA ("all-keys.yaml"));
    s_round_trip (t, DATA ("endpoints.yaml"));
    s_round_trip (t, REFERENCE);

    //  The empty list prints as [] and comes back empty
    config_t *c = config_new ();
    if (!c)
        return;
    for (size_t i = 0; i < c->mitm.trusted_proxies.count; i++)
        free (c->mitm.trusted_proxies.items[i]);
    c->mitm.trusted_proxies.count = 0;
    char *text = s_print (c);
    char temp[64];
    CHECK (text && strstr (text, "  trusted_proxies: []\n"));
    if (text && CHECK (s_temp_file (temp, sizeof temp, text, strlen (text)))) {
        config_t *back = s_load_ok (t, temp);
        CHECK (back && back->mitm.trusted_proxies.count == 0);
        config_destroy (&back);
        unlink (temp);
    }
    free (text);
    config_destroy (&c);
}

static void
test_print_layout (tally_t *t)
{
    config_t *c = config_new ();
    char *text = c ? s_print (c) : NULL;
    CHECK (text && strstr (text, "\nglobal:\n  mode: dual\n  host: \"\"\n"));
    CHECK (text && strstr (text, "\n  linger_ms: 200\n  endpoints:\n    collector: "
                                 "\"ipc:///run/dpi-dual/collector.pub\"\n"));
    CHECK (text && strstr (text, "\n  curve:\n    enabled: false\n"));
    CHECK (text && strstr (text, "\ntap:\n  interface: \"\"\n"));
    CHECK (text && strstr (text, "  trusted_proxies: [\"127.0.0.1\", \"::1\"]\n"));
    CHECK (text && strstr (text, "\n  log_level: info\n"));
    //  Each section opened exactly once
    static const char *const sections[] = {
        "\nglobal:\n", "\nbus:\n", "\n  endpoints:\n", "\n  curve:\n", "\ntap:\n",
        "\nmitm:\n", "\nbuffer:\n", "\ncorrelation:\n", "\ncrowdsec:\n"
    };
    for (size_t i = 0; text && i < sizeof sections / sizeof sections[0]; i++) {
        int count = 0;
        for (const char *p = strstr (text, sections[i]); p; p = strstr (p + 1, sections[i]))
            count++;
        if (!CHECK (count == 1))
            printf ("    section %s", sections[i] + 1);
    }
    free (text);
    config_destroy (&c);
}

//  --------------------------------------------------------------------------
//  Errors

static void
test_unknown_keys (tally_t *t)
{
    EXPECT ("unknown.yaml",
            AT ("unknown.yaml", "4:3: global.hostname: unknown key"),
            AT ("unknown.yaml", "7:5: bus.endpoints.collectr: unknown key"),
            AT ("unknown.yaml", "9:5: bus.curve.enable: unknown key"),
            AT ("unknown.yaml", "10:1: tapp: unknown key"),
            AT ("unknown.yaml", "12:1: tap.snaplen: unknown key"));
}

static void
test_wrong_types (tally_t *t)
{
    EXPECT ("types.yaml",
            AT ("types.yaml", "3:12: tap.snaplen: expected an integer, got 'abc'"),
            AT ("types.yaml", "4:14: tap.buffer_mb: expected an integer, got '1.5'"),
            AT ("types.yaml", "5:12: tap.threads: expected an integer, got '12abc'"),
            AT ("types.yaml", "6:14: tap.max_flows: expected an integer, got '0x10000'"),
            AT ("types.yaml", "7:25: tap.max_packets_per_flow: expected an integer, got '010'"),
            AT ("types.yaml", "8:12: tap.promisc: expected true or false, got 'maybe'"),
            AT ("types.yaml", "9:13: tap.immediate: expected true or false, got an empty value"),
            AT ("types.yaml", "10:14: tap.interface: expected a string, got a list"),
            AT ("types.yaml", "11:8: tap.bpf: expected a string, got a mapping"),
            AT ("types.yaml", "13:20: mitm.trusted_proxies: expected a list of strings, "
                              "got '127.0.0.1'"),
            AT ("types.yaml", "14:6: bus: expected a mapping, got '5'"),
            AT ("types.yaml", "15:9: buffer: expected a mapping, got a list"),
            AT ("types.yaml", "17:11: global.compat: expected true or false, got a list"),
            AT ("types.yaml", "18:9: global.mode: expected one of dual, mitm-only, tap-only, "
                              "got a list"),
            AT ("types.yaml", "20:11: correlation.window: expected an integer, got ''"));
}

static void
test_out_of_range (tally_t *t)
{
    EXPECT ("range.yaml",
            AT ("range.yaml", "2:12: tap.snaplen: 63 is out of range [64, 262144]"),
            AT ("range.yaml", "3:14: tap.max_flows: 0 is out of range [1024, 67108864]"),
            AT ("range.yaml", "4:22: tap.community_id_seed: -1 is out of range [0, 65535]"),
            AT ("range.yaml", "5:25: tap.max_packets_per_flow: 256 is out of range [1, 255]"),
            AT ("range.yaml", "7:14: bus.linger_ms: 60001 is out of range [0, 60000]"),
            AT ("range.yaml", "8:11: bus.sndhwm: 99999999999999999999999 is out of range "
                              "[1, 10000000]"),
            AT ("range.yaml", "11:17: correlation.ban_duration: 59 is out of range "
                              "[60, 31536000]"));
}

/*  api.listen: HOST:PORT with an address; api.* bounds.                     */
static void
test_api_keys (tally_t *t)
{
    EXPECT ("api-bad.yaml",
            AT ("api-bad.yaml", "2:11: api.listen: 'localhost:8470' expected an IPv4 address "
                                "or [IPv6] before the port"),
            AT ("api-bad.yaml", "3:15: api.rate_limit: 0 is out of range [1, 100000]"));
    EXPECT ("api-bad-port.yaml",
            AT ("api-bad-port.yaml", "2:11: api.listen: '127.0.0.1:0' expected a port "
                                     "1..65535 after the last ':'"));
}

static void
test_enums (tally_t *t)
{
    EXPECT ("enum.yaml",
            AT ("enum.yaml", "2:9: global.mode: 'bridge' is not one of dual, mitm-only, tap-only"),
            AT ("enum.yaml", "3:14: global.log_level: 'verbose' is not one of "
                             "error, warning, info, debug"));
}

/*  global.workers: worker names only, none twice, each one global.mode
    runs; empty: the mode's workers.                                        */
static void
test_workers (tally_t *t)
{
    EXPECT ("workers-name.yaml",
            AT ("workers-name.yaml", "2:24: global.workers: 'bridge' is not a worker "
                                     "(collector, bridge-mitm, buffer, correlator, api)"));
    EXPECT ("workers-bad.yaml",
            AT ("workers-bad.yaml", "3:12: global.workers: 'bridge-mitm' is not run in "
                                    "global.mode tap-only"),
            AT ("workers-bad.yaml", "3:12: global.workers: 'collector' is listed twice"));
    config_t *c = config_new ();
    bool run[WORKER_COUNT];
    if (CHECK (c != NULL)) {
        config_host_workers (c, run);
        CHECK (run[WORKER_COLLECTOR] && run[WORKER_BRIDGE_MITM] && run[WORKER_BUFFER]
               && run[WORKER_CORRELATOR] && !run[WORKER_API]);
        c->api.enabled = true;
        config_host_workers (c, run);
        CHECK (run[WORKER_API] && run[WORKER_COLLECTOR]);
        c->api.enabled = false;
        c->global.mode = CONFIG_MODE_TAP_ONLY;
        config_host_workers (c, run);
        CHECK (run[WORKER_COLLECTOR] && !run[WORKER_BRIDGE_MITM] && !run[WORKER_BUFFER]
               && run[WORKER_CORRELATOR]);
        c->global.mode = CONFIG_MODE_MITM_ONLY;
        config_host_workers (c, run);
        CHECK (!run[WORKER_COLLECTOR] && run[WORKER_BRIDGE_MITM] && run[WORKER_BUFFER]
               && run[WORKER_CORRELATOR]);
    }
    config_destroy (&c);
}

static void
test_duplicates (tally_t *t)
{
    EXPECT ("duplicate.yaml",
            AT ("duplicate.yaml", "4:3: tap.snaplen: duplicate key, first given at line 2"),
            AT ("duplicate.yaml", "8:3: bus.curve: duplicate key, first given at line 6"),
            AT ("duplicate.yaml", "10:1: tap: duplicate key, first given at line 1"));
}

static void
test_syntax (tally_t *t)
{
    EXPECT ("syntax.yaml",
            AT ("syntax.yaml", "6:1: -: found unexpected end of stream "
                               "(while scanning a quoted scalar at line 3, column 9)"));
    EXPECT ("syntax-indent.yaml",
            AT ("syntax-indent.yaml", "3:2: -: did not find expected key "
                                      "(while parsing a block mapping at line 1, column 1)"));
    EXPECT ("two-docs.yaml",
            AT ("two-docs.yaml", "3:1: -: only one YAML document is allowed"));

    char temp[64];
    static const char bad_utf8[] = "tap:\n  bpf: \"a\xff\"\n";
    if (CHECK (s_temp_file (temp, sizeof temp, bad_utf8, sizeof bad_utf8 - 1))) {
        char expected[128];
        snprintf (expected, sizeof expected,
                  "%s:2:10: -: invalid leading UTF-8 octet (byte offset 14)", temp);
        const char *const messages[] = { expected };
        s_expect_errors (t, temp, messages, 1);
        unlink (temp);
    }
}

static void
test_empty_and_top_level (tally_t *t)
{
    EXPECT ("empty.yaml", AT ("empty.yaml", "1:1: -: file is empty"));
    EXPECT ("comments.yaml", AT ("comments.yaml", "1:1: -: file is empty"));
    EXPECT ("empty-doc.yaml", AT ("empty-doc.yaml", "1:1: -: file is empty"));
    EXPECT ("toplevel-list.yaml",
            AT ("toplevel-list.yaml", "2:1: -: expected a mapping of sections, got a list"));
    EXPECT ("toplevel-scalar.yaml",
            AT ("toplevel-scalar.yaml", "1:1: -: expected a mapping of sections, got 'hello'"));
}

static void
test_endpoint_errors (tally_t *t)
{
#define NOT_ENDPOINT " is not an endpoint (expected ipc://... or tcp://..., " \
                     "optionally prefixed by @ or >)"
    EXPECT ("endpoints-bad.yaml",
            AT ("endpoints-bad.yaml", "3:16: bus.endpoints.collector: "
                                      "'udp://0.0.0.0:7001'" NOT_ENDPOINT),
            AT ("endpoints-bad.yaml", "4:18: bus.endpoints.bridge_mitm: 'tcp://'" NOT_ENDPOINT),
            AT ("endpoints-bad.yaml", "5:13: bus.endpoints.buffer: '@@ipc:///x'" NOT_ENDPOINT),
            AT ("endpoints-bad.yaml", "6:17: bus.endpoints.correlator: 'inproc://c'"
                                      NOT_ENDPOINT),
            AT ("endpoints-bad.yaml", "8:47: mitm.decision_endpoints: 'foo://bar'" NOT_ENDPOINT),
            AT ("endpoints-bad.yaml", "9:11: mitm.socket: '/run/a-very-long-directory-name-th"
                                      "at-goe...' is too long for a unix socket path (at most "
                                      "107 bytes)"));
    EXPECT ("curve.yaml",
            AT ("curve.yaml", "3:14: bus.curve: enabled is true but cert is empty"));
}

/*  A run_dir too long for the sockets made from it, holding a newline
    (YAML folds a blank line of a quoted scalar into one): every error is
    still one line, the newline shown escaped (found by tests/fuzz/fuzz_config). */
static void
test_errors_one_line (tally_t *t)
{
    char long_dir[160], text[400], temp[64];
    memset (long_dir, 'd', sizeof long_dir - 1);
    long_dir[sizeof long_dir - 1] = 0;
    int n = snprintf (text, sizeof text, "global:\n  run_dir: \"/srv/a\n\n  %s\"\n", long_dir);
    if (!CHECK (s_temp_file (temp, sizeof temp, text, (size_t) n)))
        return;
    config_errors_t errors;
    config_t *c = config_load (temp, &errors);
    CHECK (c == NULL && errors.count > 0);
    for (size_t i = 0; i < errors.count; i++) {
        if (!CHECK (strchr (errors.messages[i], '\n') == NULL))
            printf ("    a message of several lines: %s\n", errors.messages[i]);
        CHECK (strstr (errors.messages[i], "global.run_dir: too long: ") != NULL);
        CHECK (strstr (errors.messages[i], "'ipc:///srv/a\\n") != NULL
               || strstr (errors.messages[i], "'/srv/a\\n") != NULL);
    }
    config_errors_clear (&errors);
    config_destroy (&c);
    unlink (temp);
}

static void
test_unreadable (tally_t *t)
{
    EXPECT ("missing.yaml",
            DATA ("missing.yaml") ": cannot open: No such file or directory");
    EXPECT ("", DATA ("") ": cannot open: Is a directory");

    //  ERRORS may be NULL; a failed load still returns NULL
    CHECK (config_load (DATA ("missing.yaml"), NULL) == NULL);
    CHECK (config_load (DATA ("range.yaml"), NULL) == NULL);

    //  config_load resets ERRORS: a good load after a bad one reports none
    config_errors_t errors;
    config_t *c = config_load (DATA ("range.yaml"), &errors);
    CHECK (c == NULL && errors.count == 7);
    config_errors_clear (&errors);
    c = config_load (DATA ("partial.yaml"), &errors);
    CHECK (c != NULL && errors.count == 0 && errors.messages == NULL);
    config_destroy (&c);
    config_errors_clear (&errors);
}

static void
test_mode_names (tally_t *t)
{
    CHECK_STR (config_mode_name (CONFIG_MODE_DUAL), "dual");
    CHECK_STR (config_mode_name (CONFIG_MODE_MITM_ONLY), "mitm-only");
    CHECK_STR (config_mode_name (CONFIG_MODE_TAP_ONLY), "tap-only");
    CHECK_STR (config_mode_name (3), "unknown");
    CHECK_STR (config_mode_name (-1), "unknown");
}

/*  The key table as config import-uci reads it: every key once, in file
    order, its type; sections and unknown paths are no keys.                */
static void
test_key_table (tally_t *t)
{
    size_t count = 0;
    while (config_key_path (count))
        count++;
    CHECK (count > 50);
    CHECK_STR (config_key_path (0), "global.mode");
    CHECK (config_key_path (count) == NULL);
    CHECK (config_key_type ("global.mode") == CONFIG_KEY_ENUM);
    CHECK (config_key_type ("global.workers") == CONFIG_KEY_LIST);
    CHECK (config_key_type ("bus.curve.enabled") == CONFIG_KEY_BOOL);
    CHECK (config_key_type ("tap.max_flows") == CONFIG_KEY_INT);
    CHECK (config_key_type ("bus.endpoints.bridge_mitm") == CONFIG_KEY_STRING);
    CHECK (config_key_type ("bus.curve") == CONFIG_KEY_NONE);
    CHECK (config_key_type ("tap.user") == CONFIG_KEY_NONE);
    CHECK (config_key_type ("") == CONFIG_KEY_NONE);
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            CHECK (strcmp (config_key_path (i), config_key_path (j)) != 0);
}

int
main (void)
{
    tally_t tally = { 0 };
    tally_t *t = &tally;
    test_defaults (t);
    test_reference (t);
    char dir[] = "/tmp/test_config.dir.XXXXXX";
    if (CHECK (mkdtemp (dir) != NULL)) {
        test_load_default_path (t, dir);
        CHECK (remove_tree (dir));
    }
    test_partial (t);
    test_null_sections (t);
    test_endpoints (t);
    test_booleans (t);
    test_all_keys (t);
    test_round_trip (t);
    test_print_layout (t);
    test_unknown_keys (t);
    test_wrong_types (t);
    test_out_of_range (t);
    test_api_keys (t);
    test_enums (t);
    test_duplicates (t);
    test_syntax (t);
    test_empty_and_top_level (t);
    test_endpoint_errors (t);
    test_errors_one_line (t);
    test_unreadable (t);
    test_mode_names (t);
    test_workers (t);
    test_key_table (t);
    return tally_report (&tally);
}
