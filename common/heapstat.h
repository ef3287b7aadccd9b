/*  heapstat.h — the process's heap: bytes in use, bytes the allocator holds free.

    A worker's RSS can grow because it leaks (in use grows) or because its
    allocator keeps what a burst freed (free grows, in use does not): the
    heartbeat carries both (counters heap_in_use, heap_free), so a soak can
    tell a leak from retention. The figures of the allocator the process
    runs on: tcmalloc's (dpi-buffer), the sanitizer's (the ASan build), else
    glibc's mallinfo2. "Free" is what the allocator holds mapped and unused
    (tcmalloc: its page heap and caches, not what it returned to the system;
    glibc: the free chunks of its arenas).

    heap_release hands what the allocator holds free back to the system
    (glibc: malloc_trim, which also gives back the free pages inside its
    arenas, not only the top; tcmalloc: ReleaseFreeMemory, its page heap;
    the sanitizers: their quarantine and free memory). The heartbeat calls
    it at most once a minute when HEAP_RELEASE_MIN bytes or more are free
    (heartbeat.c): a burst's memory goes back instead of staying in the
    worker's RSS, at the cost of page faults when the next burst needs it.
    The figures stay what the allocator reports (glibc still counts trimmed
    chunks as free: they are not resident).                                  */
#ifndef DPI_HEAPSTAT_H
#define DPI_HEAPSTAT_H

#include <stdint.h>

typedef struct {
    uint64_t in_use;
    uint64_t free;
} heapstat_t;

#define HEAP_RELEASE_MIN (4u << 20)

heapstat_t heapstat (void);

/*  Free memory back to the system; which allocator's call did it
    ("glibc", "tcmalloc", "sanitizer").                                      */
const char *heap_release (void);

/*  The process's resident set (/proc/self/statm), bytes; 0 if unreadable. */
uint64_t heap_resident_bytes (void);

#endif
