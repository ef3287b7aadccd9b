/*  heapstat.c — see heapstat.h.                                             */
#include "heapstat.h"

#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

/*  Weak: non-NULL only in a process that runs on that allocator.
    tcmalloc's C API (gperftools/malloc_extension_c.h) and the sanitizers'
    (sanitizer/allocator_interface.h).                                       */
extern int MallocExtension_GetNumericProperty (const char *property, size_t *value)
    __attribute__ ((weak));
extern size_t __sanitizer_get_current_allocated_bytes (void) __attribute__ ((weak));
extern size_t __sanitizer_get_free_bytes (void) __attribute__ ((weak));
extern void MallocExtension_ReleaseFreeMemory (void) __attribute__ ((weak));
extern void __sanitizer_purge_allocator (void) __attribute__ ((weak));

static uint64_t
tcmalloc_property (const char *name)
{
    size_t v = 0;
    return MallocExtension_GetNumericProperty (name, &v) ? v : 0;
}

heapstat_t
heapstat (void)
{
    if (__sanitizer_get_current_allocated_bytes && __sanitizer_get_free_bytes)
        return (heapstat_t) { __sanitizer_get_current_allocated_bytes (),
                              __sanitizer_get_free_bytes () };
    if (MallocExtension_GetNumericProperty)
        return (heapstat_t) {
            tcmalloc_property ("generic.current_allocated_bytes"),
            tcmalloc_property ("tcmalloc.pageheap_free_bytes")
                + tcmalloc_property ("tcmalloc.central_cache_free_bytes")
                + tcmalloc_property ("tcmalloc.transfer_cache_free_bytes")
                + tcmalloc_property ("tcmalloc.thread_cache_free_bytes"),
        };
    struct mallinfo2 mi = mallinfo2 ();
    return (heapstat_t) { mi.uordblks + mi.hblkhd, mi.fordblks };
}

const char *
heap_release (void)
{
    if (__sanitizer_get_current_allocated_bytes) {
        if (__sanitizer_purge_allocator)
            __sanitizer_purge_allocator ();
        return "sanitizer";
    }
    if (MallocExtension_ReleaseFreeMemory) {
        MallocExtension_ReleaseFreeMemory ();
        return "tcmalloc";
    }
    malloc_trim (0);
    return "glibc";
}

uint64_t
heap_resident_bytes (void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen ("/proc/self/statm", "r");
    if (f) {
        if (fscanf (f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose (f);
    }
    return (uint64_t) resident * (uint64_t) sysconf (_SC_PAGESIZE);
}
