/*  tap.h — dpi-collector as a worker: captures fed to the lanes, on the
    worker skeleton (common/worker.h).

    Live (-i IFACE, or tap.interface): the capture's descriptor is polled
    with the bus and the signals; every TAP_TICK_MS the lanes learn the
    time (idle flows end) and the capture statistics. SIGINT/SIGTERM end
    every flow (reason shutdown).

    Offline (-r FILE, repeatable): the files are read in turn as the
    worker's work, packet time driving every timeout; at the end every
    flow ends (shutdown) and the worker stops by itself. Before the first
    packet the subscribers that are trying to connect are let in
    (worker_let_subscribers_join), and the publisher is lossless: a
    subscriber that was running before the run starts receives every event
    of it. A file that cannot be read to its end (truncated, corrupt) is
    reported, what was read of it is kept, and the exit status is 3.

    Outputs: the bus (tap.flow, tap.stats), unless --no-bus; --jsonl FILE
    ("-": stdout), one JSON object per event, reopened on SIGHUP (for
    logrotate); dpi-flows.json with global.compat. A write that fails is
    logged, counted, and makes the exit status 3.                            */
#ifndef DPI_TAP_H
#define DPI_TAP_H

#include <stdbool.h>

#include "worker.h"

#define TAP_MAX_FILES 4096
#define TAP_TICK_MS 100

/*  The collector's own options.                                             */
typedef struct {
    const char *interface;          /* -i, else tap.interface                */
    const char *files[TAP_MAX_FILES];   /* -r, in order                      */
    int nfiles;
    const char *jsonl;              /* --jsonl PATH|-                        */
    bool no_bus;                    /* --no-bus                              */
    double wait_subscriber;         /* --wait-subscriber SEC (0: no)         */
} tap_opts_t;

/*  The worker ops of dpi-collector.                                         */
extern const worker_ops_t tap_ops;

#endif
