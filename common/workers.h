/*  workers.h — the table of dpi-dual's workers (its processes).

    One row per worker: its name — the source "NAME@host" on the bus, the
    binary dpi-NAME, its run-directory entries NAME.pub and NAME.lock —, the
    key of its publisher endpoint under bus.endpoints, and the topics it
    publishes besides sys.heartbeat. Adding a worker is adding one line to
    WORKER_LIST: the configuration (its endpoint key and default), the
    worker skeleton (worker.h) and dpi-dualctl all read this table.

    (A worker is a process. The collector's capture threads are "lanes".)

    dpi-api publishes only sys.heartbeat (its TOPICS are empty) and is
    opt-in: no global.mode runs it by default (config_host_workers: it
    runs where global.workers names it, or with global.workers empty when
    api.enabled is true), and dpi-dualctl status/topology listen to it only
    on a host that runs it (or with --connect).                              */
#ifndef DPI_WORKERS_H
#define DPI_WORKERS_H

/*  X (ID, NAME, ENDPOINT_KEY, TOPICS)                                        */
#define WORKER_LIST(X)                                                          \
    X (COLLECTOR, "collector", "collector", "tap.flow tap.stats")              \
    X (BRIDGE_MITM, "bridge-mitm", "bridge_mitm",                              \
       "mitm.request mitm.response mitm.verdict")                              \
    X (BUFFER, "buffer", "buffer", "buffer.alert")                             \
    X (CORRELATOR, "correlator", "correlator", "correlated.threat correlated.join decision") \
    X (API, "api", "api", "")

typedef enum {
#define WORKER_ENUM_ROW(ID, NAME, KEY, TOPICS) WORKER_##ID,
    WORKER_LIST (WORKER_ENUM_ROW)
#undef WORKER_ENUM_ROW
    WORKER_COUNT
} worker_id_t;

typedef struct {
    worker_id_t id;
    const char *name;               /* "bridge-mitm"                        */
    const char *endpoint_key;       /* "bus.endpoints.bridge_mitm"          */
    const char *publishes;          /* topics, space separated              */
} worker_info_t;

/*  The row of worker ID (0 <= ID < WORKER_COUNT).                            */
const worker_info_t *worker_info (worker_id_t id);

/*  The row of the worker called NAME, or NULL.                              */
const worker_info_t *worker_find (const char *name);

#endif
