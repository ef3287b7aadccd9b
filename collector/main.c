/*  dpi-collector — the TAP stream: capture, classify with nDPI, publish.

    The options and the worker description; the work is tap.c's, the
    process (options, signals, lock, bus, heartbeat, privilege drop, exit
    codes) common/worker.c's.                                                */
#include <stdio.h>
#include <string.h>

#include "tap.h"

enum { OPT_INTERFACE, OPT_READ, OPT_JSONL, OPT_NO_BUS, OPT_WAIT };

static const worker_option_t s_options[] = {
    [OPT_INTERFACE] = { "interface", 'i', "IFACE",
                        "capture live on IFACE (default: tap.interface) until SIGINT/SIGTERM" },
    [OPT_READ] = { "read", 'r', "FILE",
                   "read a pcap or pcapng file instead (repeatable: in turn, as one capture)" },
    [OPT_JSONL] = { "jsonl", 0, "PATH|-",
                    "also write every event as a JSON line to PATH (- = stdout); reopened on SIGHUP" },
    [OPT_NO_BUS] = { "no-bus", 0, NULL,
                     "publish nothing, take no lock (several offline runs may share a run_dir)" },
    [OPT_WAIT] = { "wait-subscriber", 0, "SEC",
                   "offline: wait up to SEC seconds for a first subscriber (e.g. a remote one;\n"
                   "local ones that are starting are always waited for)" },
    { NULL, 0, NULL, NULL },
};

static int
collector_option (void *arg, size_t index, const char *value)
{
    tap_opts_t *o = arg;
    switch (index) {
    case OPT_INTERFACE: o->interface = value; return 0;
    case OPT_JSONL: o->jsonl = value; return 0;
    case OPT_NO_BUS: o->no_bus = true; return 0;
    case OPT_READ:
        if (o->nfiles == TAP_MAX_FILES) {
            fprintf (stderr, "dpi-collector: at most %d files\n", TAP_MAX_FILES);
            return -1;
        }
        o->files[o->nfiles++] = value;
        return 0;
    case OPT_WAIT:
        if (worker_parse_number (value, 0, 3600, &o->wait_subscriber) == 0)
            return 0;
        fprintf (stderr, "dpi-collector: --wait-subscriber '%s': expected seconds, 0 to 3600\n",
                 value);
        return -1;
    }
    return -1;
}

static int
collector_check (void *arg)
{
    tap_opts_t *o = arg;
    if (o->interface && o->nfiles) {
        fprintf (stderr, "dpi-collector: -i and -r exclude each other\n");
        return -1;
    }
    return 0;
}

static bool
collector_uses_bus (void *arg)
{
    return !((tap_opts_t *) arg)->no_bus;
}

static const worker_def_t s_collector = {
    .id = WORKER_COLLECTOR,
    .purpose = "The TAP stream: captures packets (live, or from files), classifies every flow\n"
               "with nDPI and publishes tap.flow events (DETECTED, UPDATE, END) and tap.stats\n"
               "on bus.endpoints.collector.",
    .synopsis = "[-i IFACE | -r FILE...] [--jsonl PATH|-] [--no-bus] [--wait-subscriber SEC]",
    .options = s_options,
    .details = "Live, every flow ends (shutdown) at SIGINT/SIGTERM. Offline, packet time drives\n"
               "every timeout and the run ends with the files; subscribers that were started\n"
               "before it receive every event (the run waits for them to connect and never\n"
               "drops at their high-water mark). tap.threads capture lanes share the flows.\n"
               "SIGHUP reopens the --jsonl file (for logrotate). A file that cannot be read\n"
               "to its end, or an output that cannot be written, exits 3.\n",
    .option = collector_option,
    .check = collector_check,
    .uses_bus = collector_uses_bus,
    .tick_ms = TAP_TICK_MS,
    .ops = &tap_ops,
};

int
main (int argc, char **argv)
{
    tap_opts_t opts = { 0 };
    return worker_main (argc, argv, &s_collector, &opts);
}
