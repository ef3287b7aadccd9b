/*  config.h — the single YAML configuration file of dpi-dual.

    One file (/etc/dpi-dual/dpi-dual.yaml, or -c FILE on every binary) is
    loaded into one typed struct. Every key has a default, so no file is
    needed to start. The loader is table driven (config.c holds one row per
    key: dotted path, type, range, default, offset in config_t), so adding a
    key is adding a row and a field here.

    Errors name FILE:LINE:COLUMN and the dotted key, e.g.
        dpi-dual.yaml:12:16: tap.max_flows: 0 is out of range [1024, 67108864]
    Every error in a file is collected, not just the first one.

    Ownership: config_load returns a config_t the caller owns; destroy it with
    config_destroy. Strings inside are owned by the config_t.
*/
#ifndef DPI_CONFIG_H
#define DPI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "workers.h"

#define CONFIG_DEFAULT_PATH "/etc/dpi-dual/dpi-dual.yaml"

typedef enum {
    CONFIG_SENSITIVITY_LOW = 0,         /* evidence counts 0.5x                 */
    CONFIG_SENSITIVITY_MEDIUM = 1,      /* 1x                                   */
    CONFIG_SENSITIVITY_HIGH = 2,        /* 1.5x                                 */
} config_sensitivity_t;

typedef enum {
    CONFIG_FORENSIC_OFF = 0,
    CONFIG_FORENSIC_ALERTS = 1,     /* only requests that raised an alert   */
    CONFIG_FORENSIC_ALL = 2,
} config_forensic_mode_t;

typedef enum {
    CONFIG_MODE_DUAL = 0,
    CONFIG_MODE_MITM_ONLY = 1,
    CONFIG_MODE_TAP_ONLY = 2,
} config_mode_t;

/*  A list of strings (YAML sequence of scalars).                            */
typedef struct {
    size_t count;
    char **items;
} config_strlist_t;

typedef struct {
    struct {
        int mode;                   /* config_mode_t                        */
        char *host;                 /* "" = gethostname()                   */
        char *run_dir;              /* ipc sockets, the mitm socket         */
        char *log_level;            /* error|warning|info|debug             */
        bool compat;                /* write /tmp/secubox compat files      */
        char *compat_dir;
        char *user;                 /* workers started as root drop to it;
                                       "" = stay                            */
        char *state_dir;            /* what survives a restart (reputation)  */
        config_strlist_t workers;   /* worker names run on this host
                                       (dpi-dualctl start); empty: those of
                                       mode (config_host_workers)           */
    } global;
    struct {
        int heartbeat_interval;     /* seconds                              */
        int sndhwm;                 /* messages                             */
        int rcvhwm;
        int linger_ms;
        /* publisher endpoint of each worker (workers.h), "" in the file =
           ipc://RUN_DIR/NAME.pub                                           */
        char *endpoints[WORKER_COUNT];
        struct {
            bool enabled;           /* CURVE on tcp:// endpoints            */
            char *cert;             /* this node's secret certificate       */
            char *server_cert;      /* server public cert (client side)     */
            char *allow_dir;        /* allowed client public certs (server) */
            bool allow_any;         /* any client key: NOT authenticated    */
        } curve;
    } bus;
    struct {
        char *interface;
        int snaplen;
        bool promisc;
        bool immediate;
        int buffer_mb;
        char *bpf;
        int threads;
        int max_flows;
        int max_packets_per_flow;
        int tcp_idle_timeout;       /* seconds                              */
        int tcp_close_timeout;
        int udp_idle_timeout;
        int other_idle_timeout;
        int update_interval;
        int stats_interval;
        int community_id_seed;
    } tap;
    struct {
        char *socket;               /* unix socket of dpi-bridge-mitm       */
        int verdict_deadline_ms;
        config_strlist_t trusted_proxies;
        char *rules_file;
        char *ban_file;
        bool publish_all_verdicts;
        int max_record_bytes;       /* largest record accepted on the socket */
        int body_bytes;             /* body window the addon sends           */
        config_strlist_t decision_endpoints;    /* empty: bus.endpoints.correlator */
        struct {                    /* mitmdump, when dpi-dualctl starts it  */
            bool start;             /* start it with bridge-mitm            */
            char *command;          /* the program ("mitmdump", PATH)       */
            char *addon;            /* dpi_bridge.py; "": the installed one */
            config_strlist_t args;  /* its own arguments (mode, listen...)  */
        } mitmdump;
    } mitm;
    struct {
        int size;                   /* requests kept in the ring            */
        int analysis_threads;
        int memory_mb;              /* bytes of the ring's records, at most */
        int queue_size;             /* requests waiting for analysis, at most */
        char *modsecurity_conf;     /* "" = no CRS analysis                 */
        int paranoia;               /* CRS paranoia level 1..4              */
        int inbound_threshold;      /* CRS inbound anomaly score to alert   */
        int anomaly_threshold;      /* per-client statistical score, 0..100 */
        int anomaly_window;         /* seconds                              */
        int replay_paranoia;
        int replay_on_score;        /* 0 = never                            */
        char *replay_target;        /* "" = re-analyse only, send nothing   */
        char *query_endpoint;       /* ROUTER of the query service          */
        struct {
            int mode;               /* config_forensic_mode_t               */
            char *dir;
            char *key_file;
            int rotate_mb;
            int rotate_s;
            int keep_mb;
            int keep_days;
        } forensic;
    } buffer;
    struct {
        int window;                 /* seconds                              */
        int ban_duration;           /* seconds                              */
        int threat_threshold;
        int max_entries;            /* join state: flows + requests held     */
        bool publish_joins;         /* correlated.join                       */
        int reputation_decay;       /* seconds: half-life of a score         */
        config_strlist_t whitelist; /* CIDRs never banned                    */
        bool auto_ban;
        int sensitivity;            /* config_sensitivity_t                  */
        bool prefix_aggregates;     /* v4 /24 and v6 /64 scores too          */
        int max_addresses;          /* reputation entries (LRU)              */
        char *output;               /* JSONL of threats, "" = none           */
        char *query_endpoint;
        struct {
            int waf_block, waf_alert, crowdsec_ban, dpi_threat, scanner, brute_force;
        } scoring;
    } correlation;
    struct {
        bool enabled;
        char *lapi_url;
        char *api_key_file;
        int poll_interval;
        char *machine_credentials_file;  /* watcher login: alerts pushed     */
    } crowdsec;
    struct {
        char *haproxy_socket;       /* runtime API: bans into an ACL, "" = no */
        char *haproxy_acl;          /* the ACL file haproxy.cfg loads        */
    } decision;
    struct {                        /* dpi-api: HTTP API and /metrics       */
        bool enabled;               /* run with global.workers empty        */
        char *listen;               /* HOST:PORT                            */
        char *token_file;           /* bearer token, mode 0600              */
        char *tls_cert;             /* PEM; "" = plain HTTP                 */
        char *tls_key;              /* PEM, with tls_cert                   */
        bool metrics_public;        /* /metrics without the token           */
        int max_body_bytes;         /* request body, at most (413)          */
        int rate_limit;             /* requests a second per client address */
        int max_connections;        /* open HTTP connections, at most       */
        int max_connections_per_ip; /* ... of one client address            */
        int sse_max_clients;        /* /api/dpi/events streams, at most     */
        int sse_rate;               /* events a second per stream, at most  */
        int max_flows;              /* tap.flow events kept                 */
        int max_threats;            /* correlated.threat kept               */
        int max_alerts;             /* buffer.alert kept                    */
        int query_timeout_ms;       /* buffer/correlator query, at most     */
        char *www_dir;              /* the dashboard's files; "" = built-in */
    } api;
    struct config_origin_t *origin; /* where each key was set: config_where */
} config_t;

/*  Errors: those of config_load, and every start-up error of a worker
    and of `config check` — one type for all, a list of one-line messages
    ("FILE:LINE:COL: KEY: reason", "PATH: reason", ...).                     */
typedef struct {
    size_t count;
    char **messages;
} config_errors_t;

/*  Add one message (a NULL ERRORS ignores it; out of memory drops it).     */
void config_errors_add (config_errors_t *errors, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Every message, one a line: on OUT, or through log_error.                 */
void config_errors_print (const config_errors_t *errors, FILE *out);
void config_errors_log (const config_errors_t *errors);

/*  Blame KEY of CFG for the messages added since FROM (an earlier count):
    each is prefixed with where KEY was set and KEY — "FILE:LINE:COL: KEY: "
    (config_where), or "KEY: " when KEY holds its default.                  */
void config_errors_blame (config_errors_t *errors, size_t from, const config_t *cfg,
                          const char *key);

/*  A config holding every default (endpoints already resolved).             */
config_t *config_new (void);

/*  The file loaded when no -c FILE is given: $DPI_DUAL_CONFIG when set and
    not empty, else CONFIG_DEFAULT_PATH. Its directory also holds the
    default mitm.rules_file (rules.yaml).                                     */
const char *config_default_path (void);

/*  Load PATH over the defaults. PATH NULL: load config_default_path () when
    it exists, else defaults only. On any error return NULL and fill ERRORS
    (which the caller releases with config_errors_clear).                    */
config_t *config_load (const char *path, config_errors_t *errors);

/*  config_load for a program: every error goes to stderr, one a line; NULL
    if there was any.                                                         */
config_t *config_load_verbose (const char *path);

void config_destroy (config_t **self_p);

/*  Where KEY (dotted path) was set: "FILE:LINE:COL" into OUT and true; or
    "FILE" (or "defaults" when no file was read) and false when KEY holds
    its default. For messages about a value found wrong after loading.      */
bool config_where (const config_t *self, const char *key, char *out, size_t outlen);

/*  Does KEY (dotted path; a string, integer, boolean or enum key) hold its
    default value, whether or not the file gave it?                          */
bool config_is_default (const config_t *self, const char *key);
void config_errors_clear (config_errors_t *errors);

/*  Print the effective configuration as YAML that config_load accepts.     */
void config_print (const config_t *self, FILE *out);

/*  The keys of the file, for tools that write one (dpi-dualctl config
    import-uci): the dotted path of key I in file order, NULL past the last.
    config_key_type: its type, CONFIG_KEY_NONE when PATH is no key.         */
typedef enum {
    CONFIG_KEY_NONE, CONFIG_KEY_BOOL, CONFIG_KEY_INT, CONFIG_KEY_STRING, CONFIG_KEY_ENUM,
    CONFIG_KEY_LIST,
} config_key_type_t;
const char *config_key_path (size_t i);
config_key_type_t config_key_type (const char *path);

/*  Name of a mode, "dual", "mitm-only", "tap-only".                         */
const char *config_mode_name (int mode);

/*  Does MODE (config_mode_t) run worker ID? dual: every worker; tap-only:
    collector and correlator; mitm-only: bridge-mitm, buffer, correlator;
    api in every mode (but only when asked for: config_host_workers).       */
bool config_mode_has_worker (int mode, worker_id_t id);

/*  The workers of this host (what `dpi-dualctl start` starts): those of
    global.workers, else those of global.mode (api only with api.enabled).
    RUN[ID] true for each.                                                   */
void config_host_workers (const config_t *self, bool run[WORKER_COUNT]);

#endif
