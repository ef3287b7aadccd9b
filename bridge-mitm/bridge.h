/*  bridge.h — dpi-bridge-mitm's work: records in, verdicts and events out.

    A bridge_t owns the unix socket (listener), the record parser, the two
    ban lists (the static mitm.ban_file, and what the decision topic
    sent), the fast rules, the latency histogram and the threats.log. For
    each datagram (bridge_drain):
        parse and validate            bad: counted by reason, logged at most
                                      once per reason per second
        request with "verdict": true  ban lists, then rules (first match in
                                      file order); the answer goes back to
                                      the sender at once; the time from the
                                      datagram's receipt to the reply sent
                                      goes into the histogram
        publish                       mitm.request / mitm.response, then
                                      mitm.verdict for a block (for every
                                      verdict with mitm.publish_all_verdicts)
        block + global.compat         one line in COMPAT_DIR/threats.log
    Publishing comes after the reply, so the bus never delays a verdict.

    The two ban lists are kept apart so a SIGHUP reload of the file
    (bridge_reload) swaps in a new file list and leaves decisions alone; a
    file with errors is reported and the previous list stays. An UNBAN
    removes a decision's entry; the file's entries stay until the file
    changes (the file is the operator's word).

    Rules: mitm.rules_file is compiled once. At its default (rules.yaml
    beside the default config file, config_default_path) and absent, or set
    to "", the bridge runs with
    the ban lists only and says so (rules_loaded 0 in the heartbeat); set
    explicitly and missing or bad, bridge_new fails with the reasons.

    One thread: everything here runs in the main loop.                      */
#ifndef DPI_BRIDGE_BRIDGE_H
#define DPI_BRIDGE_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "bus.h"
#include "config.h"
#include "heartbeat.h"

/*  The largest datagram the addon sends: a record alone (RECORD_MAX in
    deploy/mitmproxy/dpi_bridge.py; several together stay under 16 KiB).     */
#define BRIDGE_ADDON_RECORD_MAX 64512

typedef struct bridge_t bridge_t;

/*  Load rules and ban file, bind the socket. PUB (not owned) may be NULL:
    nothing is published. NULL on error, every reason added to ERRORS.      */
bridge_t *bridge_new (const config_t *cfg, bus_pub_t *pub, config_errors_t *errors);

/*  What bridge_new would refuse in CFG, without starting anything: the
    rules file compiles, the ban file loads. 0, or -1 with the reasons
    (each naming the key and where it was set) in ERRORS.                   */
int bridge_check (const config_t *cfg, config_errors_t *errors);

/*  Close, and remove the socket file.                                      */
void bridge_destroy (bridge_t **self_p);

/*  The socket to poll for input.                                            */
int bridge_fd (bridge_t *self);

/*  Handle up to MAX waiting datagrams; returns how many.                   */
size_t bridge_drain (bridge_t *self, size_t max);

/*  Apply a decision (BAN / UNBAN).                                          */
void bridge_decision (bridge_t *self, const Dpidual__V1__Decision *decision);

/*  SIGHUP: reload the ban file, reopen threats.log. 0, or -1 when the file
    had errors (the previous list stays).                                   */
int bridge_reload (bridge_t *self);

/*  Periodic work (purge expired bans); the worker calls it once a second. */
void bridge_tick (bridge_t *self);

/*  The heartbeat counters (names are static, values a snapshot) into OUT;
    returns how many (at most MAX).                                          */
size_t bridge_counters (bridge_t *self, heartbeat_counter_t *out, size_t max);

/*  One line of totals on stderr (at exit).                                  */
void bridge_summary (bridge_t *self);

#endif
