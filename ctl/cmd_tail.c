/*  dpi-dualctl tail [-c FILE] [--connect EP]... [-n COUNT] [--timeout SEC]
                     [--count-only] [TOPIC-PREFIX...]

    Subscribes to the given endpoints (default: every worker's publisher
    from the config) and prints each message as one JSON line (pbjson.h)
    until interrupted, COUNT messages, or SEC seconds: without --timeout it
    waits until Ctrl-C (or COUNT). --count-only prints nothing and decodes
    only each message's header, for the sequence accounting (a light
    subscriber, for benchmarks). On exit it reports on stderr, per source,
    what it received and the gaps it saw. Without --timeout, when stderr is
    a terminal, a line there says that it waits until Ctrl-C. Exit status: 0, or 1 when
    --timeout ended the run before COUNT messages arrived (or the config or
    the bus could not be used), 2 on a usage error.                         */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "ctl.h"
#include "pbjson.h"

const ctl_command_t ctl_tail_command = {
    .name = "tail",
    .usage = "usage: dpi-dualctl tail [-c FILE] [--connect EP]... [-n COUNT] [--timeout SEC]\n"
             "                        [--count-only] [TOPIC-PREFIX...]\n",
    .help =
        "Prints each message on the bus as one JSON line on stdout\n"
        "({\"topic\":...,\"header\":{...},<its fields>}) until COUNT messages came, SEC\n"
        "seconds passed or Ctrl-C; then, on stderr, what each source sent and the\n"
        "sequence gaps seen. Without --timeout it waits until Ctrl-C (or COUNT).\n"
        "\n"
        CTL_HELP_CONFIG
        CTL_HELP_CONNECT_ALL
        "  -n, --count COUNT  stop after COUNT messages, 1 or more (default: no limit)\n"
        "  --timeout SEC      stop after SEC seconds, 0 to 1000000, decimals allowed\n"
        "                     (default: none, wait until Ctrl-C)\n"
        "  --count-only       print no message, only count them (decodes headers only)\n"
        "  TOPIC-PREFIX...    only topics starting with one of these, e.g. tap. or\n"
        "                     mitm.verdict (default: every topic)\n"
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  COUNT messages came; or, without -n, the timeout or Ctrl-C ended it\n"
        "  1  the timeout came before COUNT messages, or the configuration or the bus\n"
        "     could not be used\n"
        CTL_HELP_EXIT_USAGE,
    .max_count = LONG_MAX,
    .count_only = true,
    .args = true,
};

static void
report (bus_sub_t *sub)
{
    for (size_t i = 0; i < bus_sub_source_count (sub); i++) {
        bus_source_stats_t s = bus_sub_source_stats (sub, i);
        fprintf (stderr, "tail: %s: received %llu, gaps %llu, restarts %llu, out-of-order %llu\n",
                 s.source, (unsigned long long) s.received, (unsigned long long) s.gaps,
                 (unsigned long long) s.restarts, (unsigned long long) s.out_of_order);
    }
    fprintf (stderr, "tail: %llu messages, %llu gaps, %llu undecodable\n",
             (unsigned long long) bus_sub_received (sub), (unsigned long long) bus_sub_gaps (sub),
             (unsigned long long) bus_sub_decode_errors (sub));
}

/*  Print messages until COUNT, DEADLINE or a signal. 0, or 1 on timeout.   */
static int
print_messages (bus_sub_t *sub, long count, uint64_t deadline, bool count_only)
{
    pbjson_buf_t line = { 0 };
    long printed = 0;
    int rc = 0;
    while ((count < 0 || printed < count) && !zsys_interrupted) {
        int wait_ms = deadline ? ctl_wait_ms (deadline) : -1;
        if (deadline && wait_ms < 0) {
            rc = count > 0 ? 1 : 0;
            break;
        }
        bus_msg_t msg;
        if (bus_sub_recv (sub, wait_ms, &msg) != 1)
            continue;
        printed++;
        if (count_only)
            continue;
        pbjson_buf_reset (&line);
        if (pbjson_append (&line, msg.topic, msg.body) == 0) {
            fwrite (line.data, 1, line.len, stdout);
            fputc ('\n', stdout);
            fflush (stdout);
        }
    }
    if (rc == 1) {
        bool said = false;
        for (size_t i = 0; i < bus_sub_endpoint_count (sub); i++) {
            const char *why = bus_sub_handshake_failure (sub, i);
            if (why && !printed) {
                fprintf (stderr, "tail: no message: handshake with %s failed: %s\n",
                         bus_sub_endpoint (sub, i), why);
                said = true;
            }
        }
        if (!said)
            fprintf (stderr, "tail: timeout after %ld of %ld messages\n", printed, count);
    }
    pbjson_buf_free (&line);
    return rc;
}

int
cmd_tail (int argc, char **argv)
{
    ctl_listen_opts_t o;
    int rc = ctl_listen_options (argc, argv, &ctl_tail_command, &o);
    if (rc != 0 || o.help) {
        ctl_listen_options_free (&o);
        return rc;
    }
    config_t *cfg = config_load_verbose (o.config_path);
    size_t ntargets = 0;
    ctl_target_t *targets = cfg ? ctl_targets (cfg, o.connects, o.nconnect, false, &ntargets) : NULL;
    bus_sub_t *sub = targets ? ctl_sub_open (cfg, targets, ntargets) : NULL;
    rc = sub ? 0 : 1;
    if (sub) {
        if (o.first_arg == argc)
            bus_sub_subscribe (sub, "");
        for (int i = o.first_arg; i < argc; i++)
            bus_sub_subscribe (sub, argv[i]);
        bus_sub_set_headers_only (sub, o.count_only);
        uint64_t deadline = o.timeout < 0 ? 0 : bus_mono_ns () + (uint64_t) (o.timeout * 1e9);
        if (!deadline && isatty (STDERR_FILENO) && o.count < 0)
            fprintf (stderr, "tail: no --timeout: listening until Ctrl-C\n");
        else if (!deadline && isatty (STDERR_FILENO))
            fprintf (stderr, "tail: no --timeout: listening until %ld messages came or Ctrl-C\n",
                     o.count);
        rc = print_messages (sub, o.count, deadline, o.count_only);
        report (sub);
    }
    bus_sub_destroy (&sub);
    free (targets);
    config_destroy (&cfg);
    ctl_listen_options_free (&o);
    return rc;
}
