/*  ctl.h — the subcommands of dpi-dualctl, one file each.                   */
#ifndef DPI_CTL_H
#define DPI_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"

/*  Each returns the process exit code. ARGV[0] is the subcommand name.      */
int cmd_config (int argc, char **argv);
int cmd_keys (int argc, char **argv);
int cmd_tail (int argc, char **argv);
int cmd_flows (int argc, char **argv);
int cmd_status (int argc, char **argv);

/*  sub.c — shared by the commands that listen on the bus (tail, flows,
    status).                                                                  */

/*  -c FILE, --connect EP (repeatable), -n COUNT (WITH_COUNT only),
    --timeout SEC, --json, --count-only. count and timeout are -1 when not
    given. With WITH_ARGS, the remaining arguments start at argv[first_arg]. */
typedef struct {
    const char *config_path;
    char **connects;                /* owned array of argv strings          */
    size_t nconnect;
    long count;
    double timeout;
    bool json;
    bool count_only;
    int first_arg;
} ctl_listen_opts_t;

/*  Parse ARGV into O (messages name CMD). 0, or 2 on a usage error; call
    ctl_listen_options_free in both cases.                                  */
int ctl_listen_options (int argc, char **argv, const char *cmd, bool with_count, bool with_args,
                        ctl_listen_opts_t *o);
void ctl_listen_options_free (ctl_listen_opts_t *o);

/*  A publisher endpoint to listen to. Strings are borrowed (config, argv). */
typedef struct {
    const char *name;               /* worker name (workers.h), "" when not known */
    const char *endpoint;
    bool connects_out;              /* the worker connects out: not attached */
} ctl_target_t;

/*  The CONNECTS endpoints, or else every worker's endpoint from CFG (only
    the collector's with COLLECTOR_ONLY). Caller frees; NULL if no memory.  */
ctl_target_t *ctl_targets (const config_t *cfg, char **connects, size_t nconnect,
                           bool collector_only, size_t *count);

/*  A subscriber attached to the targets (no subscription yet); NULL on
    error (logged).                                                         */
bus_sub_t *ctl_sub_open (const config_t *cfg, const ctl_target_t *targets, size_t count);

/*  The attached endpoints as "EP, EP" into OUT.                             */
void ctl_targets_join (const ctl_target_t *targets, size_t count, char *out, size_t outlen);

/*  On stderr: undecodable messages and sequence gaps, when there were any. */
void ctl_sub_report_errors (bus_sub_t *sub, const char *cmd);

/*  An owned deep copy of MSG (a received body lives until the next recv);
    NULL if no memory. Release with ctl_msg_free.                           */
ProtobufCMessage *ctl_msg_dup (const ProtobufCMessage *msg);
void ctl_msg_free (ProtobufCMessage **msg_p);

/*  Milliseconds until DEADLINE (bus_mono_ns), -1 once it has passed.       */
int ctl_wait_ms (uint64_t deadline);

#endif
