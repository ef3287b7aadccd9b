/*  heapstat.h — the process's heap: bytes in use, bytes the allocator holds free.

    A worker's RSS can grow because it leaks (in use grows) or because its
    allocator keeps what a burst freed (free grows, in use does not): the
    heartbeat carries both (counters heap_in_use, heap_free), so a soak can
    tell a leak from retention. The figures of the allocator the process
    runs on: tcmalloc's (dpi-buffer), the sanitizer's (the ASan build), else
    glibc's mallinfo2. "Free" is what the allocator holds mapped and unused
    (tcmalloc: its page heap and caches, not what it returned to the system;
    glibc: the free chunks of its arenas).                                   */
#ifndef DPI_HEAPSTAT_H
#define DPI_HEAPSTAT_H

#include <stdint.h>

typedef struct {
    uint64_t in_use;
    uint64_t free;
} heapstat_t;

heapstat_t heapstat (void);

#endif
