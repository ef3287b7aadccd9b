/*  ratelog.h — a log line that may repeat, at most once a second.

    For problems that come with traffic (a bad record, a failed write):
    the first one is logged at once, the next ones within the same second
    are only counted, and the next line says how many were not logged.

        ratelog_t r = { 0 };           (kept with the module's state)
        uint64_t unlogged;
        if (ratelog_due (&r, &unlogged))
            log_warning ("...: %s (%llu not logged since)", ..., unlogged);

    ratelog_due counts every call in TOTAL (the caller's own counter is
    usually the one reported in heartbeats).                                 */
#ifndef DPI_RATELOG_H
#define DPI_RATELOG_H

#include <stdbool.h>
#include <stdint.h>

#define RATELOG_INTERVAL_NS 1000000000ull

typedef struct {
    uint64_t last_ns;               /* monotonic, of the last line           */
    uint64_t total;                 /* calls                                 */
    uint64_t unlogged;              /* since the last line                   */
} ratelog_t;

/*  True when a line is due; *UNLOGGED gets the calls skipped before it.    */
bool ratelog_due (ratelog_t *self, uint64_t *unlogged);

#endif
