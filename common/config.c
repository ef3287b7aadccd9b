/*  config.c — see config.h.

    The table
    ---------
    s_keys[] has one row per configuration key, in the order config_print
    writes them. A row names the key by its dotted path ("bus.curve.enabled"),
    its type, where it lives in config_t (offsetof) and its default:

        KEY_BOOL      bool;   true/false/yes/no/on/off, any case
        KEY_INT       int;    decimal only, inclusive range [min, max]
        KEY_STRING    char *; any scalar; NAMES, when set, lists the only
                              values allowed (log_level); CHECK, when set,
                              validates an explicit value (endpoints)
        KEY_ENUM      int;    index of the value in NAMES (global.mode)
        KEY_STRLIST   config_strlist_t; a YAML sequence of scalars; CHECK,
                      when set, validates each item (none may be empty)

    Sections are not rows: a mapping key is a section when some row's path
    starts with "<key>.", so bus, bus.endpoints and bus.curve need nothing
    more than the rows under them. A section given as null ("tap:") keeps
    its defaults. Rows of one section must be contiguous, which config_print
    relies on to open each section once.

    A STRING row with AUTO_NAME is filled after loading when left "": it
    becomes AUTO_PREFIX + global.run_dir + "/" + AUTO_NAME (trailing slashes
    of run_dir dropped), e.g. bus.endpoints.collector defaults to
    "ipc:///run/dpi-dual/collector.pub"; a value made so is checked again
    (a run_dir too long for a unix socket path is global.run_dir's error).
    The endpoint rows come from the table of workers (workers.h). A STRING
    row IN_CONFIG_DIR defaults to its file name in the directory of the
    default configuration file (config_default_path).

    Value rules
    -----------
    A null leaf (plain "", "~" or "null") is "" for a string, the empty list
    for a list, and an error for a bool, integer or enum. Integers are
    decimal with an optional sign: no floats, hex, leading zeros or trailing
    garbage. Out-of-range values name the range. An empty file,
    a file of comments only, or an empty document ("---") is an error
    ("file is empty"): a config file that sets nothing is most likely the
    wrong file. Only one YAML document per file.

    Errors are "FILE:LINE:COL: KEY: reason" (1-based), KEY "-" where no key
    applies (syntax errors, top level), or "FILE: cannot open: REASON". A
    key that moved is an unknown key whose message names the new one.
    Every error of a file is collected; a YAML syntax error stops the parse,
    so it is reported alone. config_load resets *ERRORS on entry; ERRORS
    may be NULL when the caller only wants success or failure.
*/
#define _GNU_SOURCE     /* asprintf */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "endpoint.h"
#include "log.h"

typedef enum { KEY_BOOL, KEY_INT, KEY_STRING, KEY_ENUM, KEY_STRLIST } key_type_t;

typedef struct {
    const char *path;               /* dotted key, "bus.curve.enabled"      */
    key_type_t type;
    size_t offset;                  /* of the field in config_t             */
    long min, max;                  /* KEY_INT: inclusive range             */
    long def_int;                   /* KEY_BOOL, KEY_INT, KEY_ENUM (index)  */
    const char *def_str;            /* KEY_STRING                           */
    const char *const *def_list;    /* KEY_STRLIST, NULL-terminated         */
    const char *const *names;       /* KEY_ENUM, KEY_STRING: allowed values */
    const char *(*check) (const char *value);   /* reason, or NULL if fine  */
    const char *auto_prefix;        /* "" value resolved from run_dir:      */
    const char *auto_name;          /*   PREFIX RUN_DIR "/" NAME            */
    bool in_config_dir;             /* KEY_STRING: the default is DEF_STR in
                                       the directory of config_default_path */
} key_def_t;

static const char *s_check_endpoint (const char *value);
static const char *s_check_socket_path (const char *value);
static const char *s_check_not_empty (const char *value);
static const char *s_check_worker_name (const char *value);
static const char *s_check_listen (const char *value);

static const char *const s_mode_names[] = { "dual", "mitm-only", "tap-only", NULL };
static const char *const s_level_names[] = { "error", "warning", "info", "debug", NULL };
static const char *const s_trusted_proxies[] = { "127.0.0.1", "::1", NULL };
static const char *const s_empty_list[] = { NULL };
static const char *const s_forensic_modes[] = { "off", "alerts", "all", NULL };
static const char *const s_sensitivity_names[] = { "low", "medium", "high", NULL };

/*  Offset of config_t field F, checked to have type T at compile time
    (comparing distinct pointer types is a diagnostic, an error here).      */
#define OFF(F, T) (offsetof (config_t, F) + 0 * sizeof (&((config_t *) 0)->F == (T *) 0))

#define ROW_BOOL(P, F, D) \
    { .path = P, .type = KEY_BOOL, .offset = OFF (F, bool), .def_int = D }
#define ROW_INT(P, F, D, LO, HI) \
    { .path = P, .type = KEY_INT, .offset = OFF (F, int), .def_int = D, .min = LO, .max = HI }
#define ROW_ENUM(P, F, D, N) \
    { .path = P, .type = KEY_ENUM, .offset = OFF (F, int), .def_int = D, .names = N }
#define ROW_STR(P, F, D) \
    { .path = P, .type = KEY_STRING, .offset = OFF (F, char *), .def_str = D }
#define ROW_STR_NAMES(P, F, D, N) \
    { .path = P, .type = KEY_STRING, .offset = OFF (F, char *), .def_str = D, .names = N }
#define ROW_STR_CHECK(P, F, D, C) \
    { .path = P, .type = KEY_STRING, .offset = OFF (F, char *), .def_str = D, .check = C }
#define ROW_STR_AUTO(P, F, C, PRE, NAME) \
    { .path = P, .type = KEY_STRING, .offset = OFF (F, char *), .def_str = "", .check = C, \
      .auto_prefix = PRE, .auto_name = NAME }
#define ROW_STR_ETC(P, F, D) \
    { .path = P, .type = KEY_STRING, .offset = OFF (F, char *), .def_str = D, .in_config_dir = true }
#define ROW_LIST_CHECK(P, F, D, C) \
    { .path = P, .type = KEY_STRLIST, .offset = OFF (F, config_strlist_t), .def_list = D, \
      .check = C }
#define ROW_LIST(P, F, D) \
    { .path = P, .type = KEY_STRLIST, .offset = OFF (F, config_strlist_t), .def_list = D }

static const key_def_t s_keys[] = {
    ROW_ENUM      ("global.mode", global.mode, CONFIG_MODE_DUAL, s_mode_names),
    ROW_STR       ("global.host", global.host, ""),
    ROW_STR_CHECK ("global.run_dir", global.run_dir, "/run/dpi-dual", s_check_not_empty),
    ROW_STR_NAMES ("global.log_level", global.log_level, "info", s_level_names),
    ROW_BOOL      ("global.compat", global.compat, false),
    ROW_STR       ("global.compat_dir", global.compat_dir, "/tmp/secubox"),
    ROW_STR       ("global.user", global.user, ""),
    ROW_STR_CHECK ("global.state_dir", global.state_dir, "/var/lib/dpi-dual", s_check_not_empty),
    ROW_LIST_CHECK ("global.workers", global.workers, s_empty_list, s_check_worker_name),

    ROW_INT       ("bus.heartbeat_interval", bus.heartbeat_interval, 5, 1, 3600),
    ROW_INT       ("bus.sndhwm", bus.sndhwm, 100000, 1, 10000000),
    ROW_INT       ("bus.rcvhwm", bus.rcvhwm, 100000, 1, 10000000),
    ROW_INT       ("bus.linger_ms", bus.linger_ms, 200, 0, 60000),
#define ROW_ENDPOINT(ID, NAME, KEY, TOPICS) \
    ROW_STR_AUTO ("bus.endpoints." KEY, bus.endpoints[WORKER_##ID], s_check_endpoint, \
                  "ipc://", NAME ".pub"),
    WORKER_LIST (ROW_ENDPOINT)
#undef ROW_ENDPOINT
    ROW_BOOL      ("bus.curve.enabled", bus.curve.enabled, false),
    ROW_STR       ("bus.curve.cert", bus.curve.cert, ""),
    ROW_STR       ("bus.curve.server_cert", bus.curve.server_cert, ""),
    ROW_STR       ("bus.curve.allow_dir", bus.curve.allow_dir, ""),
    ROW_BOOL      ("bus.curve.allow_any", bus.curve.allow_any, false),

    ROW_STR       ("tap.interface", tap.interface, ""),
    ROW_INT       ("tap.snaplen", tap.snaplen, 65535, 64, 262144),
    ROW_BOOL      ("tap.promisc", tap.promisc, true),
    ROW_BOOL      ("tap.immediate", tap.immediate, true),
    ROW_INT       ("tap.buffer_mb", tap.buffer_mb, 64, 1, 4096),
    ROW_STR       ("tap.bpf", tap.bpf, ""),
    ROW_INT       ("tap.threads", tap.threads, 1, 1, 64),
    ROW_INT       ("tap.max_flows", tap.max_flows, 1048576, 1024, 67108864),
    ROW_INT       ("tap.max_packets_per_flow", tap.max_packets_per_flow, 32, 1, 255),
    ROW_INT       ("tap.tcp_idle_timeout", tap.tcp_idle_timeout, 300, 1, 86400),
    ROW_INT       ("tap.tcp_close_timeout", tap.tcp_close_timeout, 10, 1, 86400),
    ROW_INT       ("tap.udp_idle_timeout", tap.udp_idle_timeout, 60, 1, 86400),
    ROW_INT       ("tap.other_idle_timeout", tap.other_idle_timeout, 60, 1, 86400),
    ROW_INT       ("tap.update_interval", tap.update_interval, 60, 1, 86400),
    ROW_INT       ("tap.stats_interval", tap.stats_interval, 10, 1, 3600),
    ROW_INT       ("tap.community_id_seed", tap.community_id_seed, 0, 0, 65535),

    ROW_STR_AUTO  ("mitm.socket", mitm.socket, s_check_socket_path, "", "bridge-mitm.sock"),
    ROW_INT       ("mitm.verdict_deadline_ms", mitm.verdict_deadline_ms, 2, 1, 1000),
    ROW_LIST      ("mitm.trusted_proxies", mitm.trusted_proxies, s_trusted_proxies),
    ROW_STR_ETC   ("mitm.rules_file", mitm.rules_file, "rules.yaml"),
    ROW_STR       ("mitm.ban_file", mitm.ban_file, ""),
    ROW_BOOL      ("mitm.publish_all_verdicts", mitm.publish_all_verdicts, false),
    ROW_INT       ("mitm.max_record_bytes", mitm.max_record_bytes, 65536, 1024, 1048576),
    ROW_INT       ("mitm.body_bytes", mitm.body_bytes, 16384, 0, 32768),
    ROW_LIST_CHECK ("mitm.decision_endpoints", mitm.decision_endpoints, s_empty_list,
                    s_check_endpoint),
    ROW_BOOL      ("mitm.mitmdump.start", mitm.mitmdump.start, false),
    ROW_STR_CHECK ("mitm.mitmdump.command", mitm.mitmdump.command, "mitmdump",
                   s_check_not_empty),
    ROW_STR       ("mitm.mitmdump.addon", mitm.mitmdump.addon, ""),
    ROW_LIST      ("mitm.mitmdump.args", mitm.mitmdump.args, s_empty_list),

    ROW_INT       ("buffer.size", buffer.size, 10000, 16, 10000000),
    ROW_INT       ("buffer.analysis_threads", buffer.analysis_threads, 1, 1, 64),
    ROW_INT       ("buffer.memory_mb", buffer.memory_mb, 256, 1, 65536),
    ROW_INT       ("buffer.queue_size", buffer.queue_size, 1024, 1, 1000000),
    ROW_STR_ETC   ("buffer.modsecurity_conf", buffer.modsecurity_conf, "modsecurity.conf"),
    ROW_INT       ("buffer.paranoia", buffer.paranoia, 1, 1, 4),
    ROW_INT       ("buffer.inbound_threshold", buffer.inbound_threshold, 5, 1, 10000),
    ROW_INT       ("buffer.anomaly_threshold", buffer.anomaly_threshold, 60, 1, 100),
    ROW_INT       ("buffer.anomaly_window", buffer.anomaly_window, 60, 10, 86400),
    ROW_INT       ("buffer.replay_paranoia", buffer.replay_paranoia, 3, 1, 4),
    ROW_INT       ("buffer.replay_on_score", buffer.replay_on_score, 20, 0, 10000),
    ROW_STR       ("buffer.replay_target", buffer.replay_target, ""),
    ROW_STR_AUTO  ("buffer.query_endpoint", buffer.query_endpoint, s_check_endpoint, "ipc://",
                   "buffer.query"),
    ROW_ENUM      ("buffer.forensic.mode", buffer.forensic.mode, CONFIG_FORENSIC_OFF,
                   s_forensic_modes),
    ROW_STR       ("buffer.forensic.dir", buffer.forensic.dir, "/var/lib/dpi-dual/forensic"),
    ROW_STR_ETC   ("buffer.forensic.key_file", buffer.forensic.key_file, "forensic.key"),
    ROW_INT       ("buffer.forensic.rotate_mb", buffer.forensic.rotate_mb, 64, 1, 65536),
    ROW_INT       ("buffer.forensic.rotate_s", buffer.forensic.rotate_s, 86400, 60, 31536000),
    ROW_INT       ("buffer.forensic.keep_mb", buffer.forensic.keep_mb, 1024, 1, 1048576),
    ROW_INT       ("buffer.forensic.keep_days", buffer.forensic.keep_days, 30, 1, 3650),

    ROW_INT       ("correlation.window", correlation.window, 60, 1, 86400),
    ROW_INT       ("correlation.ban_duration", correlation.ban_duration, 14400, 60, 31536000),
    ROW_INT       ("correlation.threat_threshold", correlation.threat_threshold, 50, 0, 100),
    ROW_INT       ("correlation.max_entries", correlation.max_entries, 200000, 1000, 100000000),
    ROW_BOOL      ("correlation.publish_joins", correlation.publish_joins, false),
    ROW_INT       ("correlation.reputation_decay", correlation.reputation_decay, 3600, 60, 31536000),
    ROW_LIST      ("correlation.whitelist", correlation.whitelist, s_empty_list),
    ROW_BOOL      ("correlation.auto_ban", correlation.auto_ban, true),
    ROW_ENUM      ("correlation.sensitivity", correlation.sensitivity, CONFIG_SENSITIVITY_MEDIUM,
                   s_sensitivity_names),
    ROW_BOOL      ("correlation.prefix_aggregates", correlation.prefix_aggregates, false),
    ROW_INT       ("correlation.max_addresses", correlation.max_addresses, 100000, 100, 100000000),
    ROW_STR       ("correlation.output", correlation.output, ""),
    ROW_STR_AUTO  ("correlation.query_endpoint", correlation.query_endpoint, s_check_endpoint,
                   "ipc://", "correlator.query"),
    ROW_INT       ("correlation.scoring.waf_block", correlation.scoring.waf_block, 25, 0, 100),
    ROW_INT       ("correlation.scoring.waf_alert", correlation.scoring.waf_alert, 15, 0, 100),
    ROW_INT       ("correlation.scoring.crowdsec_ban", correlation.scoring.crowdsec_ban, 30, 0, 100),
    ROW_INT       ("correlation.scoring.dpi_threat", correlation.scoring.dpi_threat, 20, 0, 100),
    ROW_INT       ("correlation.scoring.scanner", correlation.scoring.scanner, 35, 0, 100),
    ROW_INT       ("correlation.scoring.brute_force", correlation.scoring.brute_force, 40, 0, 100),

    ROW_BOOL      ("crowdsec.enabled", crowdsec.enabled, false),
    ROW_STR       ("crowdsec.lapi_url", crowdsec.lapi_url, "http://127.0.0.1:8080"),
    ROW_STR       ("crowdsec.api_key_file", crowdsec.api_key_file, ""),
    ROW_INT       ("crowdsec.poll_interval", crowdsec.poll_interval, 10, 1, 3600),
    ROW_STR       ("crowdsec.machine_credentials_file", crowdsec.machine_credentials_file, ""),

    ROW_STR       ("decision.haproxy_socket", decision.haproxy_socket, ""),
    ROW_STR       ("decision.haproxy_acl", decision.haproxy_acl, "/etc/haproxy/dpi-dual-banned.acl"),

    ROW_BOOL      ("api.enabled", api.enabled, false),
    ROW_STR_CHECK ("api.listen", api.listen, "127.0.0.1:8470", s_check_listen),
    ROW_STR_ETC   ("api.token_file", api.token_file, "api.token"),
    ROW_STR       ("api.tls_cert", api.tls_cert, ""),
    ROW_STR       ("api.tls_key", api.tls_key, ""),
    ROW_BOOL      ("api.metrics_public", api.metrics_public, false),
    ROW_INT       ("api.max_body_bytes", api.max_body_bytes, 4096, 64, 1048576),
    ROW_INT       ("api.rate_limit", api.rate_limit, 20, 1, 100000),
    ROW_INT       ("api.max_connections", api.max_connections, 64, 4, 4096),
    ROW_INT       ("api.max_connections_per_ip", api.max_connections_per_ip, 16, 1, 4096),
    ROW_INT       ("api.sse_max_clients", api.sse_max_clients, 8, 1, 1024),
    ROW_INT       ("api.sse_rate", api.sse_rate, 50, 1, 100000),
    ROW_INT       ("api.max_flows", api.max_flows, 1000, 10, 1000000),
    ROW_INT       ("api.max_threats", api.max_threats, 200, 10, 100000),
    ROW_INT       ("api.max_alerts", api.max_alerts, 200, 10, 100000),
    ROW_INT       ("api.query_timeout_ms", api.query_timeout_ms, 1000, 10, 30000),
    ROW_STR       ("api.www_dir", api.www_dir, ""),
};

#define KEY_COUNT (sizeof s_keys / sizeof s_keys[0])

/*  Where the keys of a loaded config were set (config_where).              */
struct config_origin_t {
    char *file;                     /* NULL: no file was read               */
    bool given[KEY_COUNT];
    yaml_mark_t mark[KEY_COUNT];    /* of the value                         */
};

/*  State of one config_load.                                                */
typedef struct {
    const char *file;
    FILE *input;
    yaml_document_t *doc;
    config_t *config;
    config_errors_t *errors;
    bool failed;                    /* an error happened (even unrecorded)  */
    bool given[KEY_COUNT];          /* key set by the file                  */
    yaml_mark_t key_mark[KEY_COUNT];
    yaml_mark_t value_mark[KEY_COUNT];
    struct {                        /* sections seen, for duplicates:       */
        const char *path;           /*   a prefix of a row path             */
        size_t length;
        yaml_mark_t mark;
    } sections[KEY_COUNT];
    size_t section_count;
} loader_t;

//  --------------------------------------------------------------------------
//  Field access

static bool *
s_bool (config_t *self, const key_def_t *key)
{
    return (bool *) ((char *) self + key->offset);
}

static int *
s_int (config_t *self, const key_def_t *key)
{
    return (int *) ((char *) self + key->offset);
}

static char **
s_str (config_t *self, const key_def_t *key)
{
    return (char **) ((char *) self + key->offset);
}

static config_strlist_t *
s_list (config_t *self, const key_def_t *key)
{
    return (config_strlist_t *) ((char *) self + key->offset);
}

static void
s_list_clear (config_strlist_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free (list->items[i]);
    free (list->items);
    list->items = NULL;
    list->count = 0;
}

/*  Replace a string field; -1 when out of memory (field left as it was).   */
static int
s_set_str (char **field, const char *value)
{
    char *copy = strdup (value);
    if (!copy)
        return -1;
    free (*field);
    *field = copy;
    return 0;
}

//  --------------------------------------------------------------------------
//  Errors

void
config_errors_add (config_errors_t *errors, const char *fmt, ...)
{
    if (!errors)
        return;
    va_list args;
    va_start (args, fmt);
    int size = vsnprintf (NULL, 0, fmt, args);
    va_end (args);
    if (size < 0)
        return;
    char *message = malloc ((size_t) size + 1);
    char **messages = realloc (errors->messages, (errors->count + 1) * sizeof (char *));
    if (messages)
        errors->messages = messages;
    if (!message || !messages) {
        free (message);
        return;
    }
    va_start (args, fmt);
    vsnprintf (message, (size_t) size + 1, fmt, args);
    va_end (args);
    errors->messages[errors->count++] = message;
}

static void
s_error (loader_t *self, yaml_mark_t mark, const char *key, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_error (loader_t *self, yaml_mark_t mark, const char *key, const char *fmt, ...)
{
    char reason[512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (reason, sizeof reason, fmt, args);
    va_end (args);
    self->failed = true;
    //  A key comes from the file: keep the message on one line
    char *clean = strdup (key);
    for (char *p = clean; p && *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7F)
            *p = '?';
    config_errors_add (self->errors, "%s:%zu:%zu: %s: %s", self->file,
                   mark.line + 1, mark.column + 1, clean ? clean : key, reason);
    free (clean);
}

/*  Quote user text for a message: 'text', escaped (one line), at most
    about LIMIT chars and what fits SIZE.                                    */
static void
s_quote (char *buf, size_t size, const char *text, size_t length, size_t limit)
{
    size_t used = 0;
    buf[used++] = '\'';
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) text[i];
        if ((i >= limit || used + 10 > size) && (c & 0xC0) != 0x80) {
            used += (size_t) snprintf (buf + used, size - used, "...");
            break;
        }
        if (c == '\n')
            used += (size_t) snprintf (buf + used, size - used, "\\n");
        else
        if (c < 0x20 || c == 0x7F)
            used += (size_t) snprintf (buf + used, size - used, "\\x%02x", c);
        else
            buf[used++] = (char) c;
    }
    buf[used++] = '\'';
    buf[used] = 0;
}

//  --------------------------------------------------------------------------
//  Nodes

static bool
s_is_null (const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *value = (const char *) node->data.scalar.value;
    return strcmp (value, "") == 0 || strcmp (value, "~") == 0 || strcmp (value, "null") == 0
        || strcmp (value, "Null") == 0 || strcmp (value, "NULL") == 0;
}

/*  Scalar text, or NULL when it holds a NUL byte (only via "\0").          */
static const char *
s_text (const yaml_node_t *node)
{
    const char *value = (const char *) node->data.scalar.value;
    return strlen (value) == node->data.scalar.length ? value : NULL;
}

/*  What a node is, for "expected X, got Y".                                 */
static const char *
s_describe (const yaml_node_t *node, char *buf, size_t size)
{
    if (node->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (node->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (s_is_null (node))
        return "an empty value";
    s_quote (buf, size, (const char *) node->data.scalar.value, node->data.scalar.length,
                 40);
    return buf;
}

//  --------------------------------------------------------------------------
//  Values

static bool
s_parse_bool (const char *text, bool *value)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    for (size_t i = 0; i < 3; i++)
        if (strcasecmp (text, yes[i]) == 0 || strcasecmp (text, no[i]) == 0) {
            *value = strcasecmp (text, yes[i]) == 0;
            return true;
        }
    return false;
}

/*  Decimal integer, optional sign, no leading zeros. OVERFLOW set when the
    digits are fine but do not fit a long.                                   */
static bool
s_parse_int (const char *text, long *value, bool *overflow)
{
    const char *digits = text + (*text == '-' || *text == '+');
    if (!isdigit ((unsigned char) *digits) || (digits[0] == '0' && digits[1]))
        return false;
    for (const char *p = digits; *p; p++)
        if (!isdigit ((unsigned char) *p))
            return false;
    errno = 0;
    *value = strtol (text, NULL, 10);
    *overflow = errno == ERANGE;
    return true;
}

static int
s_name_index (const char *const *names, const char *text)
{
    for (int i = 0; names[i]; i++)
        if (strcmp (names[i], text) == 0)
            return i;
    return -1;
}

static void
s_names_join (const char *const *names, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; names[i] && used < size; i++)
        used += (size_t) snprintf (buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
}

static const char *
s_check_not_empty (const char *value)
{
    return *value ? NULL : "must not be empty";
}

/*  A name of WORKER_LIST (workers.h)                                        */
static const char *
s_check_worker_name (const char *value)
{
    return worker_find (value) ? NULL
                               : "is not a worker (collector, bridge-mitm, buffer, correlator, api)";
}

/*  api.listen: HOST:PORT, HOST an IPv4 address or [IPv6], PORT 1..65535    */
static const char *
s_check_listen (const char *value)
{
    const char *colon = strrchr (value, ':');
    if (!colon || colon == value)
        return "expected HOST:PORT (127.0.0.1:8470, [::1]:8470)";
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (!colon[1] || *end || port < 1 || port > 65535)
        return "expected a port 1..65535 after the last ':'";
    char host[64];
    size_t len = (size_t) (colon - value);
    if (len >= sizeof host)
        return "host too long";
    memcpy (host, value, len);
    host[len] = 0;
    unsigned char addr[16];
    if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
        host[len - 1] = 0;
        return inet_pton (AF_INET6, host + 1, addr) == 1 ? NULL : "not an IPv6 address in [...]";
    }
    return inet_pton (AF_INET, host, addr) == 1 ? NULL
           : "expected an IPv4 address or [IPv6] before the port";
}

/*  "" (resolved later) or an endpoint (endpoint.h)                          */
static const char *
s_check_endpoint (const char *value)
{
    endpoint_t endpoint;
    const char *reason = NULL;
    return *value && endpoint_parse (value, true, &endpoint, &reason) != 0 ? reason : NULL;
}

/*  "" (resolved later) or a path a unix socket can have                    */
static const char *
s_check_socket_path (const char *value)
{
    return strlen (value) > ENDPOINT_IPC_PATH_MAX
               ? "is too long for a unix socket path (at most 107 bytes)" : NULL;
}

static void
s_load_bool (loader_t *self, const key_def_t *key, const yaml_node_t *node)
{
    char buf[64];
    const char *text = node->type == YAML_SCALAR_NODE && !s_is_null (node) ? s_text (node) : NULL;
    bool value;
    if (text && s_parse_bool (text, &value))
        *s_bool (self->config, key) = value;
    else
        s_error (self, node->start_mark, key->path, "expected true or false, got %s",
                 s_describe (node, buf, sizeof buf));
}

static void
s_load_int (loader_t *self, const key_def_t *key, const yaml_node_t *node)
{
    char buf[64];
    const char *text = node->type == YAML_SCALAR_NODE ? s_text (node) : NULL;
    long value;
    bool overflow;
    if (!text || !s_parse_int (text, &value, &overflow))
        s_error (self, node->start_mark, key->path, "expected an integer, got %s",
                 s_describe (node, buf, sizeof buf));
    else
    if (overflow || value < key->min || value > key->max)
        s_error (self, node->start_mark, key->path, "%s is out of range [%ld, %ld]",
                 text, key->min, key->max);
    else
        *s_int (self->config, key) = (int) value;
}

static void
s_load_enum (loader_t *self, const key_def_t *key, const yaml_node_t *node)
{
    char buf[64], names[256];
    s_names_join (key->names, names, sizeof names);
    const char *text = node->type == YAML_SCALAR_NODE && !s_is_null (node) ? s_text (node) : NULL;
    int index = text ? s_name_index (key->names, text) : -1;
    if (index >= 0)
        *s_int (self->config, key) = index;
    else
    if (node->type == YAML_SCALAR_NODE && !s_is_null (node))
        s_error (self, node->start_mark, key->path, "%s is not one of %s",
                 s_describe (node, buf, sizeof buf), names);
    else
        s_error (self, node->start_mark, key->path, "expected one of %s, got %s",
                 names, s_describe (node, buf, sizeof buf));
}

static void
s_load_string (loader_t *self, const key_def_t *key, const yaml_node_t *node)
{
    char buf[64], names[256];
    if (node->type != YAML_SCALAR_NODE) {
        s_error (self, node->start_mark, key->path, "expected a string, got %s",
                 s_describe (node, buf, sizeof buf));
        return;
    }
    const char *text = s_is_null (node) ? "" : s_text (node);
    const char *reason = text && key->check ? key->check (text) : NULL;
    if (!text)
        s_error (self, node->start_mark, key->path, "a string must not contain a NUL byte");
    else
    if (key->names && s_name_index (key->names, text) < 0) {
        s_names_join (key->names, names, sizeof names);
        s_error (self, node->start_mark, key->path, "%s is not one of %s",
                 s_describe (node, buf, sizeof buf), names);
    }
    else
    if (reason)
        s_error (self, node->start_mark, key->path, "%s %s",
                 s_describe (node, buf, sizeof buf), reason);
    else
    if (s_set_str (s_str (self->config, key), text))
        s_error (self, node->start_mark, key->path, "out of memory");
}

/*  Items of a sequence as a fresh list; false (and an error) if an item is
    not a string.                                                            */
static bool
s_load_items (loader_t *self, const key_def_t *key, const yaml_node_t *node,
              config_strlist_t *list)
{
    char buf[64];
    yaml_node_item_t *item = node->data.sequence.items.start;
    size_t count = (size_t) (node->data.sequence.items.top - item);
    list->items = calloc (count ? count : 1, sizeof (char *));
    if (!list->items) {
        s_error (self, node->start_mark, key->path, "out of memory");
        return false;
    }
    for (; item < node->data.sequence.items.top; item++) {
        yaml_node_t *child = yaml_document_get_node (self->doc, *item);
        const char *text = child->type == YAML_SCALAR_NODE ? s_text (child) : NULL;
        if (!text) {
            s_error (self, child->start_mark, key->path,
                     "expected a list of strings, got %s in the list",
                     s_describe (child, buf, sizeof buf));
            return false;
        }
        const char *value = s_is_null (child) ? "" : text;
        const char *reason = key->check ? key->check (value) : NULL;
        if (reason || (key->check && !*value)) {
            s_error (self, child->start_mark, key->path, "%s %s",
                     s_describe (child, buf, sizeof buf), reason ? reason : "is empty");
            return false;
        }
        if (!(list->items[list->count] = strdup (value))) {
            s_error (self, child->start_mark, key->path, "out of memory");
            return false;
        }
        list->count++;
    }
    return true;
}

static void
s_load_strlist (loader_t *self, const key_def_t *key, const yaml_node_t *node)
{
    char buf[64];
    config_strlist_t list = { 0, NULL };
    if (node->type != YAML_SEQUENCE_NODE && !s_is_null (node)) {
        s_error (self, node->start_mark, key->path, "expected a list of strings, got %s",
                 s_describe (node, buf, sizeof buf));
        return;
    }
    if (node->type == YAML_SEQUENCE_NODE && !s_load_items (self, key, node, &list)) {
        s_list_clear (&list);
        return;
    }
    s_list_clear (s_list (self->config, key));
    *s_list (self->config, key) = list;
}

static void
s_load_value (loader_t *self, const key_def_t *key, const yaml_node_t *node)
{
    switch (key->type) {
        case KEY_BOOL:    s_load_bool (self, key, node); break;
        case KEY_INT:     s_load_int (self, key, node); break;
        case KEY_STRING:  s_load_string (self, key, node); break;
        case KEY_ENUM:    s_load_enum (self, key, node); break;
        case KEY_STRLIST: s_load_strlist (self, key, node); break;
    }
}

//  --------------------------------------------------------------------------
//  Walking mappings

static int
s_find_key (const char *path)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcmp (s_keys[i].path, path) == 0)
            return (int) i;
    return -1;
}

/*  A row under section PATH, or -1 when PATH is no section.                 */
static int
s_find_section (const char *path)
{
    size_t length = strlen (path);
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strncmp (s_keys[i].path, path, length) == 0 && s_keys[i].path[length] == '.')
            return (int) i;
    return -1;
}

/*  Record a key's first occurrence; false (and an error) on a duplicate.   */
static bool
s_first_time (loader_t *self, const char *path, int row, bool section, yaml_mark_t mark)
{
    yaml_mark_t *first = NULL;
    if (!section) {
        if (self->given[row])
            first = &self->key_mark[row];
        else {
            self->given[row] = true;
            self->key_mark[row] = mark;
        }
    }
    else {
        size_t length = strlen (path);
        for (size_t i = 0; i < self->section_count && !first; i++)
            if (self->sections[i].length == length
            &&  strncmp (self->sections[i].path, path, length) == 0)
                first = &self->sections[i].mark;
        if (!first && self->section_count < KEY_COUNT) {
            self->sections[self->section_count].path = s_keys[row].path;
            self->sections[self->section_count].length = length;
            self->sections[self->section_count++].mark = mark;
        }
    }
    if (first)
        s_error (self, mark, path, "duplicate key, first given at line %zu", first->line + 1);
    return first == NULL;
}

static void s_walk (loader_t *self, const yaml_node_t *mapping, const char *prefix);

/*  Keys that moved: the new path, or NULL.                                 */
static const char *
s_moved_to (const char *path)
{
    static const char *const moved[][2] = {
        { "tap.user", "global.user" },
    };
    for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++)
        if (strcmp (path, moved[i][0]) == 0)
            return moved[i][1];
    return NULL;
}

static void
s_walk_pair (loader_t *self, const yaml_node_t *key_node, const yaml_node_t *value,
             const char *prefix)
{
    char buf[64];
    const char *name = key_node->type == YAML_SCALAR_NODE ? s_text (key_node) : NULL;
    if (!name) {
        s_error (self, key_node->start_mark, *prefix ? prefix : "-",
                 "expected a key name, got %s", s_describe (key_node, buf, sizeof buf));
        return;
    }
    size_t size = strlen (prefix) + strlen (name) + 2;
    char *path = malloc (size);
    if (!path) {
        s_error (self, key_node->start_mark, name, "out of memory");
        return;
    }
    snprintf (path, size, "%s%s%s", prefix, *prefix ? "." : "", name);
    //  A dot inside a name would alias a nested key: no such key
    int row = strchr (name, '.') ? -1 : s_find_key (path);
    int section = row >= 0 || strchr (name, '.') ? -1 : s_find_section (path);
    bool first = (row >= 0 || section >= 0)
              && s_first_time (self, path, row >= 0 ? row : section, row < 0,
                               key_node->start_mark);
    const char *moved = row < 0 && section < 0 ? s_moved_to (path) : NULL;
    if (moved)
        s_error (self, key_node->start_mark, path, "unknown key (moved to %s)", moved);
    else
    if (row < 0 && section < 0)
        s_error (self, key_node->start_mark, path, "unknown key");
    else
    if (!first)
        ;   //  Duplicate, already reported
    else
    if (row >= 0) {
        self->value_mark[row] = value->start_mark;
        s_load_value (self, &s_keys[row], value);
    }
    else
    if (value->type == YAML_MAPPING_NODE)
        s_walk (self, value, path);
    else
    if (!s_is_null (value))
        s_error (self, value->start_mark, path, "expected a mapping, got %s",
                 s_describe (value, buf, sizeof buf));
    free (path);
}

static void
s_walk (loader_t *self, const yaml_node_t *mapping, const char *prefix)
{
    yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
    for (; pair < mapping->data.mapping.pairs.top; pair++)
        s_walk_pair (self, yaml_document_get_node (self->doc, pair->key),
                     yaml_document_get_node (self->doc, pair->value), prefix);
}

//  --------------------------------------------------------------------------
//  Defaults, resolution, cross-key checks

static int
s_set_default (config_t *self, const key_def_t *key)
{
    switch (key->type) {
        case KEY_BOOL:
            *s_bool (self, key) = key->def_int != 0;
            return 0;
        case KEY_INT:
        case KEY_ENUM:
            *s_int (self, key) = (int) key->def_int;
            return 0;
        case KEY_STRING:
            if (key->in_config_dir) {
                char path[4096];
                const char *file = config_default_path (), *slash = strrchr (file, '/');
                snprintf (path, sizeof path, "%.*s/%s", slash ? (int) (slash - file) : 1,
                          slash ? file : ".", key->def_str);
                return s_set_str (s_str (self, key), path);
            }
            return s_set_str (s_str (self, key), key->def_str);
        case KEY_STRLIST: {
            config_strlist_t *list = s_list (self, key);
            size_t count = 0;
            while (key->def_list[count])
                count++;
            if (!(list->items = calloc (count ? count : 1, sizeof (char *))))
                return -1;
            for (; list->count < count; list->count++)
                if (!(list->items[list->count] = strdup (key->def_list[list->count])))
                    return -1;
            return 0;
        }
    }
    return -1;
}

/*  Every default, endpoints not yet resolved.                               */
static config_t *
s_defaults (void)
{
    config_t *self = calloc (1, sizeof (config_t));
    for (size_t i = 0; self && i < KEY_COUNT; i++)
        if (s_set_default (self, &s_keys[i]))
            config_destroy (&self);
    return self;
}

/*  Fill "" AUTO_NAME keys from global.run_dir (RESOLVED, when not NULL,
    marks them); -1 when out of memory.                                      */
static int
s_resolve (config_t *self, bool *resolved)
{
    const char *run_dir = self->global.run_dir;
    int length = (int) strlen (run_dir);
    while (length > 0 && run_dir[length - 1] == '/')
        length--;
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const key_def_t *key = &s_keys[i];
        char **field = key->auto_name ? s_str (self, key) : NULL;
        if (!field || **field)
            continue;
        size_t size = strlen (key->auto_prefix) + (size_t) length + strlen (key->auto_name) + 2;
        char *value = malloc (size);
        if (!value)
            return -1;
        snprintf (value, size, "%s%.*s/%s", key->auto_prefix, length, run_dir, key->auto_name);
        free (*field);
        *field = value;
        if (resolved)
            resolved[i] = true;
    }
    return 0;
}

/*  A path made from global.run_dir must fit a unix socket: the error is
    global.run_dir's (its line when the file set it).                        */
static void
s_check_resolved (loader_t *self, const bool *resolved)
{
    int row = s_find_key ("global.run_dir");
    yaml_mark_t none = { 0, 0, 0 };
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (!resolved[i] || !s_keys[i].check)
            continue;
        const char *value = *s_str (self->config, &s_keys[i]);
        const char *reason = s_keys[i].check (value);
        if (!reason)
            continue;
        /* quoted whole (the point is its length) but escaped: a run_dir can
           hold a newline ("a\n\nb" in YAML), and an error is one line */
        size_t length = strlen (value), size = length * 4 + 8;
        char *shown = malloc (size);
        if (shown)
            s_quote (shown, size, value, length, SIZE_MAX);
        s_error (self, self->given[row] ? self->value_mark[row] : none, "global.run_dir",
                 "too long: %s would be %s, which %s", s_keys[i].path,
                 shown ? shown : "(out of memory)", reason);
        free (shown);
    }
}

/*  A relative path given for KEY is relative to the config file's
    directory (the file and its keys travel together), not to the current
    directory of whoever starts the worker.                                  */
static void
s_relative_to_file (loader_t *self, const char *key)
{
    int row = s_find_key (key);
    char **value = s_str (self->config, &s_keys[row]);
    const char *slash = strrchr (self->file, '/');
    if (!*value || !**value || **value == '/' || !slash)
        return;
    char *joined = NULL;
    if (asprintf (&joined, "%.*s/%s", (int) (slash - self->file), self->file, *value) < 0) {
        s_error (self, self->value_mark[row], key, "out of memory");
        return;
    }
    free (*value);
    *value = joined;
}

static void
s_check_curve (loader_t *self)
{
    const config_t *config = self->config;
    int row = s_find_key ("bus.curve.enabled");
    if (config->bus.curve.enabled && !*config->bus.curve.cert)
        s_error (self, self->value_mark[row], "bus.curve",
                 "enabled is true but cert is empty");
    int dir = s_find_key ("bus.curve.allow_dir");
    if (strcmp (config->bus.curve.allow_dir, "*") == 0)
        s_error (self, self->value_mark[dir], "bus.curve.allow_dir",
                 "'*' is not a directory: to accept any client key (encryption without "
                 "authentication) say bus.curve.allow_any: true");
    else if (config->bus.curve.allow_any && *config->bus.curve.allow_dir)
        s_error (self, self->value_mark[s_find_key ("bus.curve.allow_any")], "bus.curve",
                 "allow_any is true and allow_dir is set: say one (allow_any accepts any "
                 "client key, allow_dir only those it holds)");
    s_relative_to_file (self, "bus.curve.cert");
    s_relative_to_file (self, "bus.curve.server_cert");
    s_relative_to_file (self, "bus.curve.allow_dir");
}

/*  global.workers: no worker twice, and each one of those global.mode runs
    (a tap-only host runs no bridge).                                        */
static void
s_check_workers (loader_t *self)
{
    const config_t *config = self->config;
    const config_strlist_t *list = &config->global.workers;
    int row = s_find_key ("global.workers");
    for (size_t i = 0; i < list->count; i++) {
        const worker_info_t *info = worker_find (list->items[i]);
        bool twice = false;
        for (size_t j = 0; j < i; j++)
            twice |= strcmp (list->items[j], list->items[i]) == 0;
        if (twice)
            s_error (self, self->value_mark[row], "global.workers", "'%s' is listed twice",
                     list->items[i]);
        else
        if (info && !config_mode_has_worker (config->global.mode, info->id))
            s_error (self, self->value_mark[row], "global.workers",
                     "'%s' is not run in global.mode %s", list->items[i],
                     config_mode_name (config->global.mode));
    }
}

//  --------------------------------------------------------------------------
//  Loading a file

/*  Line and column (in bytes) of byte OFFSET of the input: reader errors
    (bad UTF-8, control characters) only give the offset.                    */
static yaml_mark_t
s_offset_mark (loader_t *self, size_t offset)
{
    yaml_mark_t mark = { offset, 0, 0 };
    if (fseek (self->input, 0, SEEK_SET) != 0)
        return mark;
    for (size_t i = 0; i < offset; i++) {
        int c = fgetc (self->input);
        if (c == EOF)
            break;
        mark.line += c == '\n';
        mark.column = c == '\n' ? 0 : mark.column + 1;
    }
    return mark;
}

static void
s_parse_error (loader_t *self, yaml_parser_t *parser)
{
    yaml_mark_t mark = parser->problem_mark;
    if (parser->error == YAML_MEMORY_ERROR)
        s_error (self, parser->mark, "-", "out of memory");
    else
    if (parser->error == YAML_READER_ERROR)
        s_error (self, s_offset_mark (self, parser->problem_offset), "-",
                 "%s (byte offset %zu)", parser->problem ? parser->problem : "cannot read",
                 parser->problem_offset);
    else
    if (parser->context)
        s_error (self, mark, "-", "%s (%s at line %zu, column %zu)",
                 parser->problem ? parser->problem : "syntax error", parser->context,
                 parser->context_mark.line + 1, parser->context_mark.column + 1);
    else
        s_error (self, mark, "-", "%s", parser->problem ? parser->problem : "syntax error");
}

/*  Apply the (only) document of the file to self->config.                   */
static void
s_load_document (loader_t *self, yaml_parser_t *parser)
{
    char buf[64];
    yaml_mark_t start = { 0, 0, 0 };
    yaml_document_t doc;
    if (!yaml_parser_load (parser, &doc)) {
        s_parse_error (self, parser);
        return;
    }
    self->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node (&doc);
    if (!root)
        s_error (self, start, "-", "file is empty");
    else
    if (s_is_null (root))               //  "---" alone
        s_error (self, doc.start_mark, "-", "file is empty");
    else
    if (root->type != YAML_MAPPING_NODE)
        s_error (self, root->start_mark, "-", "expected a mapping of sections, got %s",
                 s_describe (root, buf, sizeof buf));
    else
        s_walk (self, root, "");
    yaml_document_delete (&doc);
    self->doc = NULL;
    if (!root)
        return;

    if (!yaml_parser_load (parser, &doc)) {
        s_parse_error (self, parser);
        return;
    }
    if (yaml_document_get_root_node (&doc))
        s_error (self, doc.start_mark, "-", "only one YAML document is allowed");
    yaml_document_delete (&doc);
}

static void
s_load_file (loader_t *self, FILE *file)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize (&parser)) {
        s_error (self, (yaml_mark_t) { 0, 0, 0 }, "-", "out of memory");
        return;
    }
    self->input = file;
    yaml_parser_set_input_file (&parser, file);
    s_load_document (self, &parser);
    yaml_parser_delete (&parser);
}

/*  Open PATH; NULL with an error, or NULL alone when OPTIONAL and missing. */
static FILE *
s_open (loader_t *self, const char *path, bool optional)
{
    FILE *file = fopen (path, "rb");
    struct stat st;
    int error = errno;
    if (file && fstat (fileno (file), &st) == 0 && S_ISDIR (st.st_mode)) {
        fclose (file);
        file = NULL;
        error = EISDIR;
    }
    if (!file && !(optional && error == ENOENT)) {
        self->failed = true;
        config_errors_add (self->errors, "%s: cannot open: %s", path, strerror (error));
    }
    return file;
}

/*  Record in the config where its keys were set; -1 when out of memory.   */
static int
s_keep_origin (loader_t *self)
{
    struct config_origin_t *origin = calloc (1, sizeof *origin);
    if (!origin || !(origin->file = strdup (self->file))) {
        free (origin);
        return -1;
    }
    memcpy (origin->given, self->given, sizeof origin->given);
    memcpy (origin->mark, self->value_mark, sizeof origin->mark);
    self->config->origin = origin;
    return 0;
}

//  --------------------------------------------------------------------------
//  Public API

const char *
config_key_path (size_t i)
{
    return i < KEY_COUNT ? s_keys[i].path : NULL;
}

config_key_type_t
config_key_type (const char *path)
{
    int row = s_find_key (path);
    if (row < 0)
        return CONFIG_KEY_NONE;
    switch (s_keys[row].type) {
        case KEY_BOOL:    return CONFIG_KEY_BOOL;
        case KEY_INT:     return CONFIG_KEY_INT;
        case KEY_STRING:  return CONFIG_KEY_STRING;
        case KEY_ENUM:    return CONFIG_KEY_ENUM;
        case KEY_STRLIST: return CONFIG_KEY_LIST;
    }
    return CONFIG_KEY_NONE;
}

const char *
config_default_path (void)
{
    const char *env = getenv ("DPI_DUAL_CONFIG");
    return env && *env ? env : CONFIG_DEFAULT_PATH;
}

config_t *
config_new (void)
{
    config_t *self = s_defaults ();
    if (self && s_resolve (self, NULL))
        config_destroy (&self);
    return self;
}

config_t *
config_load (const char *path, config_errors_t *errors)
{
    if (errors)
        *errors = (config_errors_t) { 0, NULL };
    loader_t *self = calloc (1, sizeof (loader_t));
    if (!self)
        return NULL;
    self->file = path ? path : config_default_path ();
    self->errors = errors;
    self->config = s_defaults ();
    FILE *file = self->config ? s_open (self, self->file, path == NULL) : NULL;
    if (!self->config) {
        self->failed = true;
        config_errors_add (errors, "%s: out of memory", self->file);
    }
    if (file) {
        s_load_file (self, file);
        fclose (file);
        s_check_curve (self);
        s_check_workers (self);
    }
    bool resolved[KEY_COUNT] = { false };
    if (!self->failed && s_resolve (self->config, resolved)) {
        self->failed = true;
        config_errors_add (errors, "%s: out of memory", self->file);
    }
    if (!self->failed)
        s_check_resolved (self, resolved);
    config_t *config = self->config;
    if (!self->failed && file && s_keep_origin (self) != 0) {
        self->failed = true;
        config_errors_add (errors, "%s: out of memory", self->file);
    }
    if (self->failed)
        config_destroy (&config);
    free (self);
    return config;
}

config_t *
config_load_verbose (const char *path)
{
    config_errors_t errors = { 0 };
    config_t *config = config_load (path, &errors);
    config_errors_print (&errors, stderr);
    config_errors_clear (&errors);
    return config;
}

void
config_errors_print (const config_errors_t *errors, FILE *out)
{
    for (size_t i = 0; i < errors->count; i++)
        fprintf (out, "%s\n", errors->messages[i]);
}

void
config_errors_blame (config_errors_t *errors, size_t from, const config_t *cfg, const char *key)
{
    char where[1200], prefix[1400];
    if (!errors)
        return;
    if (config_where (cfg, key, where, sizeof where))
        snprintf (prefix, sizeof prefix, "%s: %s: ", where, key);
    else
        snprintf (prefix, sizeof prefix, "%s: ", key);
    for (size_t i = from; i < errors->count; i++) {
        size_t size = strlen (prefix) + strlen (errors->messages[i]) + 1;
        char *blamed = malloc (size);
        if (!blamed)
            continue;
        snprintf (blamed, size, "%s%s", prefix, errors->messages[i]);
        free (errors->messages[i]);
        errors->messages[i] = blamed;
    }
}

void
config_errors_log (const config_errors_t *errors)
{
    for (size_t i = 0; i < errors->count; i++)
        log_error ("%s", errors->messages[i]);
}

void
config_destroy (config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    config_t *self = *self_p;
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (s_keys[i].type == KEY_STRING)
            free (*s_str (self, &s_keys[i]));
        else
        if (s_keys[i].type == KEY_STRLIST)
            s_list_clear (s_list (self, &s_keys[i]));
    if (self->origin)
        free (self->origin->file);
    free (self->origin);
    free (self);
    *self_p = NULL;
}

void
config_errors_clear (config_errors_t *errors)
{
    if (!errors)
        return;
    for (size_t i = 0; i < errors->count; i++)
        free (errors->messages[i]);
    free (errors->messages);
    errors->messages = NULL;
    errors->count = 0;
}

bool
config_where (const config_t *self, const char *key, char *out, size_t outlen)
{
    const struct config_origin_t *origin = self->origin;
    int row = s_find_key (key);
    if (!origin || row < 0 || !origin->given[row]) {
        snprintf (out, outlen, "%s", origin ? origin->file : "defaults");
        return false;
    }
    snprintf (out, outlen, "%s:%zu:%zu", origin->file, origin->mark[row].line + 1,
              origin->mark[row].column + 1);
    return true;
}

bool
config_is_default (const config_t *self, const char *key)
{
    int row = s_find_key (key);
    if (row < 0 || s_keys[row].type == KEY_STRLIST)
        return false;
    const key_def_t *k = &s_keys[row];
    config_t *config = (config_t *) self, fresh = { 0 };    //  Read only; its default
    if (s_set_default (&fresh, k) != 0)
        return false;
    bool same = k->type == KEY_BOOL   ? *s_bool (config, k) == *s_bool (&fresh, k)
              : k->type == KEY_STRING ? strcmp (*s_str (config, k), *s_str (&fresh, k)) == 0
                                      : *s_int (config, k) == *s_int (&fresh, k);
    if (k->type == KEY_STRING)
        free (*s_str (&fresh, k));
    return same;
}

const char *
config_mode_name (int mode)
{
    if (mode < 0 || mode >= (int) (sizeof s_mode_names / sizeof s_mode_names[0]) - 1)
        return "unknown";
    return s_mode_names[mode];
}

bool
config_mode_has_worker (int mode, worker_id_t id)
{
    switch (mode) {
        case CONFIG_MODE_TAP_ONLY:
            return id == WORKER_COLLECTOR || id == WORKER_CORRELATOR || id == WORKER_API;
        case CONFIG_MODE_MITM_ONLY:
            return id == WORKER_BRIDGE_MITM || id == WORKER_BUFFER || id == WORKER_CORRELATOR
                   || id == WORKER_API;
        default:
            return true;
    }
}

void
config_host_workers (const config_t *self, bool run[WORKER_COUNT])
{
    const config_strlist_t *list = &self->global.workers;
    for (int id = 0; id < WORKER_COUNT; id++)
        run[id] = list->count == 0 && config_mode_has_worker (self->global.mode, id)
                  && (id != WORKER_API || self->api.enabled);
    for (size_t i = 0; i < list->count; i++) {
        const worker_info_t *info = worker_find (list->items[i]);
        if (info)
            run[info->id] = true;
    }
}

//  --------------------------------------------------------------------------
//  Printing

/*  A YAML double-quoted string: escapes \ " control characters and the
    Unicode line breaks (NEL, LS, PS) that the parser would fold, and the
    characters a YAML stream may not hold raw (libyaml refuses to read them
    back): the C1 controls U+0080-U+009F and U+FFFE, U+FFFF (found by
    fuzz_config).                                                            */
static void
s_print_quoted (const char *value, FILE *out)
{
    const unsigned char *p = (const unsigned char *) (value ? value : "");
    fputc ('"', out);
    for (; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf (out, "\\%c", *p);
        else
        if (*p == '\n')
            fputs ("\\n", out);
        else
        if (*p == '\t')
            fputs ("\\t", out);
        else
        if (*p < 0x20 || *p == 0x7F)
            fprintf (out, "\\x%02X", *p);
        else
        if (p[0] == 0xC2 && p[1] == 0x85) {
            fputs ("\\N", out);
            p++;
        }
        else
        if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
            fprintf (out, "\\x%02X", p[1]);  /* U+0080 + (p[1] - 0x80) */
            p++;
        }
        else
        if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) {
            fputs (p[2] == 0xBE ? "\\uFFFE" : "\\uFFFF", out);
            p += 2;
        }
        else
        if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
            fputs (p[2] == 0xA8 ? "\\L" : "\\P", out);
            p += 2;
        }
        else
            fputc (*p, out);
    }
    fputc ('"', out);
}

static void
s_print_value (const config_t *self, const key_def_t *key, FILE *out)
{
    config_t *config = (config_t *) self;      //  Read only
    switch (key->type) {
        case KEY_BOOL:
            fputs (*s_bool (config, key) ? "true" : "false", out);
            break;
        case KEY_INT:
            fprintf (out, "%d", *s_int (config, key));
            break;
        case KEY_ENUM: {
            int index = *s_int (config, key), count = 0;
            while (key->names[count])
                count++;
            fputs (index >= 0 && index < count ? key->names[index] : "unknown", out);
            break;
        }
        case KEY_STRING: {
            const char *value = *s_str (config, key);
            if (key->names && value && s_name_index (key->names, value) >= 0)
                fputs (value, out);
            else
                s_print_quoted (value, out);
            break;
        }
        case KEY_STRLIST: {
            const config_strlist_t *list = s_list (config, key);
            fputc ('[', out);
            for (size_t i = 0; i < list->count; i++) {
                fputs (i ? ", " : "", out);
                s_print_quoted (list->items[i], out);
            }
            fputc (']', out);
            break;
        }
    }
}

/*  Length of the section part of PATH (up to its last dot).                */
static size_t
s_section_length (const char *path)
{
    const char *dot = strrchr (path, '.');
    return dot ? (size_t) (dot - path) : 0;
}

/*  Open the sections of PATH that PREVIOUS (a path or "") did not have;
    return the indentation depth of the key.                                 */
static int
s_print_sections (const char *previous, const char *path, FILE *out)
{
    size_t prev_length = s_section_length (previous);
    size_t length = s_section_length (path);
    size_t common = 0;          //  Length of the shared whole components
    for (size_t i = 0; i <= length && i <= prev_length; i++) {
        bool end_a = i == length || path[i] == '.';
        bool end_b = i == prev_length || previous[i] == '.';
        if (end_a != end_b || (!end_a && path[i] != previous[i]))
            break;
        if (end_a)
            common = i + 1;
    }
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= length; i++)
        if (i == length || path[i] == '.') {
            if (i + 1 > common)
                fprintf (out, "%*s%.*s:\n", depth * 2, "", (int) (i - start), path + start);
            depth++;
            start = i + 1;
        }
    return length ? depth : 0;
}

void
config_print (const config_t *self, FILE *out)
{
    if (!self || !out)
        return;
    fputs ("# dpi-dual effective configuration\n", out);
    const char *previous = "";
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const char *path = s_keys[i].path;
        int depth = s_print_sections (previous, path, out);
        size_t section = s_section_length (path);
        fprintf (out, "%*s%s: ", depth * 2, "", path + section + (section > 0));
        s_print_value (self, &s_keys[i], out);
        fputc ('\n', out);
        previous = path;
    }
}
