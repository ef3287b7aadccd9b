/*  ctl.h — the subcommands of dpi-dualctl, one file each.                   */
#ifndef DPI_CTL_H
#define DPI_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "topology.h"

/*  Each returns the process exit code. ARGV[0] is the subcommand name.      */
int cmd_config (int argc, char **argv);
int cmd_keys (int argc, char **argv);
int cmd_tail (int argc, char **argv);
int cmd_flows (int argc, char **argv);
int cmd_status (int argc, char **argv);
int cmd_context (int argc, char **argv);      /* cmd_buffer.c: dpi-buffer's query service */
int cmd_replay (int argc, char **argv);
int cmd_buffer (int argc, char **argv);
int cmd_forensic (int argc, char **argv);
int cmd_threats (int argc, char **argv);      /* cmd_correlator.c: dpi-correlator's query service */
int cmd_reputation (int argc, char **argv);
int cmd_ban (int argc, char **argv);
int cmd_unban (int argc, char **argv);
int cmd_whitelist (int argc, char **argv);
int cmd_topology (int argc, char **argv);     /* cmd_topology.c: who feeds whom, from heartbeats */
int cmd_start (int argc, char **argv);        /* cmd_start.c: start, stop, restart */
int cmd_stop (int argc, char **argv);
int cmd_restart (int argc, char **argv);
int cmd_mitm_options (int argc, char **argv);  /* cmd_mitm.c */
int cmd_mitmdump (int argc, char **argv);      /* cmd_mitm.c */

/*  config import-uci (cmd_uci.c): FILE converted to YAML on OUT, or on
    stdout when OUT is NULL; the exit code (0, or 1: errors, on stderr).     */
int ctl_import_uci (const char *file, const char *out);

/*  TEXT as a whole number in [MIN, MAX]: digits only (no sign, no space);
    for the commands' numeric options (sub.c).                              */
bool ctl_parse_count (const char *text, long min, long max, long *out);

/*  TEXT as seconds in [0, CTL_MAX_TIMEOUT]: digits with at most one "."
    (sub.c).                                                                 */
bool ctl_parse_seconds (const char *text, double *out);

/*  help.c — what a command says about itself, and how it is called.
    USAGE: its synopsis, "usage: dpi-dualctl NAME ...\n" (printed alone on a
    usage error); HELP: what --help adds after it (what it does, every
    option with its default, the exit codes). The listening commands also
    say which options they take (ctl_listen_options).                       */
typedef struct {
    const char *name;
    const char *usage;
    const char *help;
    long max_count;                 /* -n COUNT up to this; 0: no -n        */
    bool json, count_only, args;    /* takes --json, --count-only, arguments */
    bool dot, watch;                /* takes --dot, --watch [SEC]            */
} ctl_command_t;

extern const ctl_command_t ctl_config_command, ctl_keys_command, ctl_tail_command,
    ctl_flows_command, ctl_status_command, ctl_context_command, ctl_replay_command,
    ctl_buffer_command, ctl_forensic_command, ctl_threats_command, ctl_reputation_command,
    ctl_ban_command, ctl_unban_command, ctl_whitelist_command, ctl_topology_command,
    ctl_start_command, ctl_stop_command, ctl_restart_command, ctl_mitm_options_command,
    ctl_mitmdump_command;

/*  Option lines shared by the help texts.                                   */
#define CTL_HELP_CONFIG                                                              \
    "  -c, --config FILE  the configuration (default: $DPI_DUAL_CONFIG, else\n"     \
    "                     " CONFIG_DEFAULT_PATH " when it exists, else the\n"      \
    "                     built-in defaults)\n"
#define CTL_HELP_CONNECT_ALL                                                         \
    "  --connect EP       listen to EP (repeatable) instead of every worker's\n"       \
    "                     endpoint from the config (bus.endpoints.*)\n"
#define CTL_HELP_HELP "  -h, --help         this help, on stdout (exit 0)\n"
#define CTL_HELP_EXIT_USAGE "  2  usage error (an unknown option, a bad value): the usage on stderr\n"

/*  Is ARG -h or --help?                                                     */
bool ctl_is_help (const char *arg);

/*  USAGE then HELP of CMD on stdout. Returns 0 (the exit code).             */
int ctl_help (const ctl_command_t *cmd);

/*  On stderr: "dpi-dualctl NAME: " and FORMAT's message (unless FORMAT is
    NULL), then CMD's usage. Returns 2 (the exit code).                       */
int ctl_usage_error (const ctl_command_t *cmd, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  sub.c — shared by the commands that listen on the bus (tail, flows,
    status, topology).                                                       */

/*  -c FILE, --connect EP (repeatable), -n COUNT, --timeout SEC, --json,
    --count-only, --dot, --watch [SEC], -h: as CMD takes them. count,
    timeout and watch are -1 when not given (watch 0: --watch without SEC;
    SEC may be the next argument when it is a number). With CMD->args, the remaining arguments start at argv[first_arg].
    Numbers are whole strings of digits ("." too in SEC) within range.      */
typedef struct {
    const char *config_path;
    char **connects;                /* owned array of argv strings          */
    size_t nconnect;
    long count;
    double timeout;
    bool json;
    bool count_only;
    bool dot;
    double watch;
    bool help;                      /* --help was printed: exit 0           */
    int first_arg;
} ctl_listen_opts_t;

#define CTL_MAX_TIMEOUT 1000000.0

/*  Parse ARGV into O. 0 (with O->help when the help was printed), or 2 on
    a usage error (said on stderr); call ctl_listen_options_free in both
    cases.                                                                  */
int ctl_listen_options (int argc, char **argv, const ctl_command_t *cmd, ctl_listen_opts_t *o);
void ctl_listen_options_free (ctl_listen_opts_t *o);

/*  A publisher endpoint to listen to (topology.h). Strings are borrowed
    (config, argv).                                                         */
typedef topo_target_t ctl_target_t;

/*  The CONNECTS endpoints, or else every worker's endpoint from CFG (only
    the collector's with COLLECTOR_ONLY; dpi-api's only where this host runs
    it: topo_config_targets). Caller frees; NULL if no memory.              */
ctl_target_t *ctl_targets (const config_t *cfg, char **connects, size_t nconnect,
                           bool collector_only, size_t *count);

/*  A subscriber attached to the targets (no subscription yet); NULL on
    error (logged).                                                         */
bus_sub_t *ctl_sub_open (const config_t *cfg, const ctl_target_t *targets, size_t count);

/*  The attached endpoints as "EP, EP" into OUT.                             */
void ctl_targets_join (const ctl_target_t *targets, size_t count, char *out, size_t outlen);

/*  heartbeats.c — the heartbeats of the workers behind the targets, for
    status and topology: what is known of each worker (the collection is
    common/topology.h's: topo_workers_add, topo_workers_clear,
    topo_workers_all_seen, topo_address_reaches).                            */
typedef topo_worker_t ctl_worker_t;
typedef topo_workers_t ctl_workers_t;
/*  Receive sys.heartbeat and tap.stats on SUB (subscribed to them) into
    WORKERS, keeping each worker's last ones, until DEADLINE (bus_mono_ns),
    an interrupt, or — with UNTIL_ALL_SEEN — every target has answered.     */
void ctl_workers_collect (bus_sub_t *sub, ctl_workers_t *workers, uint64_t deadline,
                          bool until_all_seen);
/*  What status and topology listen with: the config, the targets (the
    config's workers, or --connect), a subscriber on them taking
    sys.heartbeat and tap.stats, a worker per target, and the wait
    (--timeout, else bus.heartbeat_interval + 1 s).                          */
typedef struct {
    config_t *cfg;
    ctl_target_t *targets;
    size_t ntargets;
    bus_sub_t *sub;
    ctl_workers_t workers;
    double timeout;
} ctl_heartbeats_t;

/*  Open H for the listening options O: 0, or 1 (said) with H cleared.      */
int ctl_heartbeats_open (ctl_heartbeats_t *h, const ctl_listen_opts_t *o);
/*  Report the subscriber's errors as CMD, then free everything.            */
void ctl_heartbeats_close (ctl_heartbeats_t *h, const char *cmd);

/*  The target's worker name, else the source, else the endpoint.           */
const char *ctl_worker_label (const ctl_worker_t *w);
/*  S seconds as "42s", "3m05s", "2h01m00s", "1d02h03m".                    */
void ctl_format_duration (char *out, size_t outlen, uint64_t s);

/*  On stderr: undecodable messages and sequence gaps, when there were any. */
void ctl_sub_report_errors (bus_sub_t *sub, const char *cmd);


/*  Milliseconds until DEADLINE (bus_mono_ns), -1 once it has passed.       */
int ctl_wait_ms (uint64_t deadline);

/*  reply.c — for the commands that ask a worker's query service
    (cmd_buffer.c, cmd_correlator.c).                                        */
struct json_t;
/*  A string field ("" when absent), a number field (0 when absent).        */
const char *ctl_str (const struct json_t *obj, const char *key);
long long ctl_int (const struct json_t *obj, const char *key);
/*  "2024-05-01 12:00:00.123" (UTC) of TS_NS, "-" for 0.                    */
void ctl_format_time (char *out, size_t outlen, long long ts_ns);
/*  Send REQUEST (consumed) to ENDPOINT; print the reply as one JSON line
    (JSON) or with PRINT; a refusal or no answer said on stderr, naming
    WORKER. The exit code: 0, or 1.                                          */
int ctl_ask (const ctl_command_t *cmd, const char *worker, const config_t *cfg,
             const char *endpoint, struct json_t *request, long timeout_ms, bool json,
             void (*print) (const struct json_t *reply));

/*  The options every query command takes: -c FILE, --json, --timeout MS
    (1 to CTL_QUERY_MAX_TIMEOUT_MS, default 2000), --help; the first
    argument after them.                                                     */
#define CTL_QUERY_DEFAULT_TIMEOUT_MS 2000
#define CTL_QUERY_MAX_TIMEOUT_MS 600000
typedef struct {
    const char *config_path;
    long timeout_ms;
    bool json;
    bool help;                      /* printed: exit 0                       */
    int first_arg;
} ctl_query_opts_t;

/*  A command's own option OPT (its getopt_long value, or '?' for one getopt
    refused) with ARG into EXTRA: 0, or the usage error's 2.               */
typedef int (ctl_query_option_fn) (const ctl_command_t *cmd, int opt, const char *arg,
                                   void *extra);

/*  ARGV's options into Q: the common ones here, LONGOPTS' others (besides
    config, json, timeout, help with 'c', 'j', 't', 'h') through FN. 0, or 2
    on a usage error (said on stderr); getopt's messages name the command. */
struct option;
int ctl_query_options (const ctl_command_t *cmd, int argc, char **argv,
                       const struct option *longopts, ctl_query_opts_t *q,
                       ctl_query_option_fn *fn, void *extra);

/*  The end of a query command's --help: the common options, where WORKER's
    service listens (KEY, default ipc://RUN_DIR/FILE) and the exit codes.   */
#define CTL_HELP_QUERY(WORKER, KEY, FILE)                                            \
    "  --json             print the reply as one JSON line (an error reply too)\n"  \
    "  --timeout MS       wait at most MS milliseconds for the reply, 1 to 600000\n" \
    "                     (default: 2000)\n"                                        \
    CTL_HELP_CONFIG                                                                  \
    CTL_HELP_HELP                                                                    \
    "\n"                                                                             \
    "The service is " WORKER "'s, on " KEY " (default:\n"                            \
    "ipc://RUN_DIR/" FILE "; tcp:// uses CURVE like the bus).\n"                    \
    "\n"                                                                             \
    "Exit status:\n"                                                                 \
    "  0  the reply says ok\n"                                                       \
    "  1  the reply is an error (said on stderr), no answer came within the\n"      \
    "     timeout (\"no answer from ...\" on stderr), or the configuration could\n" \
    "     not be loaded\n"                                                           \
    CTL_HELP_EXIT_USAGE

/*  cmd_mitm.c — mitmdump and the addon's options.                          */

/*  Compare every running process that loads the addon with CFG (as
    mitm-options --check), its lines after PREFIX on stdout; 0 when each
    agrees and one runs at least.                                           */
int ctl_mitm_check (const config_t *cfg, const char *prefix);
/*  The addon's path into OUT: mitm.mitmdump.addon, else the installed one
    (dpi-dualctl's ../share/dpi-dual/mitmproxy/dpi_bridge.py), else the
    source tree's (a build tree); false when it cannot be read.              */
bool ctl_mitm_addon (const config_t *cfg, char *out, size_t outlen);

/*  procs.c — which process runs a worker on this host, and how it was
    started (start, stop, restart, status).                                  */

/*  RUN_DIR/NAME.SUFFIX ("lock", "pid") into OUT.                            */
void ctl_run_path (const config_t *cfg, const char *name, const char *suffix, char *out,
                   size_t outlen);
/*  The pid holding RUN_DIR/NAME.lock (from /proc/locks; the lock is never
    taken), 0 when nobody holds it.                                          */
long ctl_lock_holder (const config_t *cfg, const char *name);
/*  The pid in RUN_DIR/NAME.pid: 0 when there is no such file, -1 when it
    holds no pid.                                                             */
long ctl_pidfile_read (const config_t *cfg, const char *name);
/*  Is PID the binary dpi-NAME (/proc/PID/exe, else its comm)? For NAME
    "mitmdump": does PID load the addon (an argument ending in
    dpi_bridge.py)?                                                          */
bool ctl_proc_is (long pid, const char *name);
/*  dpi-dualctl's own path (/proc/self/exe), or with DIR its directory,
    into OUT; false when it cannot be read.                                  */
bool ctl_self_path (bool dir, char *out, size_t outlen);
/*  PID's command line (/proc/PID/cmdline) into DATA of SIZE, split into
    ARGV (at most MAX); the count, 0 when unreadable.                       */
size_t ctl_proc_argv (long pid, char *data, size_t size, char **argv, size_t max);
/*  Is one of ARGV (COUNT) the addon, a path ending in dpi_bridge.py?       */
bool ctl_argv_loads_addon (char **argv, size_t count);
/*  Has PID ended (no such process, or a zombie)?                            */
bool ctl_proc_gone (long pid);

typedef enum { CTL_INIT_DAEMON, CTL_INIT_SYSTEMD, CTL_INIT_PROCD } ctl_init_t;
/*  systemd when /run/systemd/system is a directory (systemd is PID 1);
    procd when /sbin/procd exists, or /etc/rc.common and ubus; else daemon. */
ctl_init_t ctl_init_detect (void);
const char *ctl_init_name (ctl_init_t init);

typedef enum {
    CTL_STARTED_NONE,               /* the lock is free, no pid file         */
    CTL_STARTED_STALE,              /* the lock is free, a pid file is left  */
    CTL_STARTED_DAEMON,             /* the pid file's pid holds the lock     */
    CTL_STARTED_SYSTEMD,            /* the unit's MainPID holds the lock     */
    CTL_STARTED_OTHER,              /* held by a process of no pid file      */
} ctl_started_t;
/*  How the worker NAME of CFG's run directory was started, INIT being the
    init system (systemd: its unit's MainPID is asked); the lock holder and
    the pid file's pid (as ctl_lock_holder, ctl_pidfile_read).              */
ctl_started_t ctl_how_started (const config_t *cfg, const char *name, ctl_init_t init,
                               long *holder, long *pidfile);
/*  HOW as one word for status --json: none, stale, daemon, systemd, other.  */
const char *ctl_started_kind (ctl_started_t how);
/*  HOW as a phrase for status ("as a daemon by dpi-dualctl start (pid N,
    pid file P)", ...).                                                       */
void ctl_describe_started (const config_t *cfg, const char *name, ctl_started_t how,
                           long holder, long pidfile, char *out, size_t outlen);

#endif
