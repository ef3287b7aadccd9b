/*  test_heapstat.c — common/heapstat.c (the heap figures of the heartbeat).

    Built twice: on glibc's allocator (test_heapstat; the sanitizer's in the
    ASan build) and linked with tcmalloc like dpi-buffer
    (test_heapstat_tcmalloc, when it is). Catches: figures that do not come
    from the allocator the process runs on (4 MiB allocated and freed must
    show in in_use), a sum that counts freed memory as in use; and that
    heap_release gives memory back: 8 MiB freed but kept by the allocator
    (a block still in use after them keeps glibc from trimming its top at
    free) must leave the RSS when it is called.                             */
#include <stdio.h>
#include <string.h>

#include "heapstat.h"
#include "tally.h"

enum { BLOCKS = 1024, BLOCK = 4096 };

int
main (void)
{
    tally_t t = { 0 };
    static char *blocks[BLOCKS];
    heapstat_t before = heapstat ();
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc (BLOCK);
        if (blocks[i])
            memset (blocks[i], i, BLOCK);
    }
    heapstat_t full = heapstat ();
    for (int i = 0; i < BLOCKS; i++)
        free (blocks[i]);
    heapstat_t after = heapstat ();
    const uint64_t mib = 1024 * 1024;
    printf ("in use %llu → %llu → %llu KiB, free %llu → %llu → %llu KiB\n",
            (unsigned long long) before.in_use / 1024, (unsigned long long) full.in_use / 1024,
            (unsigned long long) after.in_use / 1024, (unsigned long long) before.free / 1024,
            (unsigned long long) full.free / 1024, (unsigned long long) after.free / 1024);
    check (&t, full.in_use >= before.in_use + 4 * mib,
           "4 MiB allocated: in use grew %lld bytes", (long long) (full.in_use - before.in_use));
    check (&t, after.in_use + 4 * mib <= full.in_use + mib / 4,
           "4 MiB freed: in use fell %lld bytes", (long long) (full.in_use - after.in_use));
    check (&t, full.in_use < 1024 * mib && full.free < 1024 * mib,
           "plausible figures (in use %llu, free %llu)", (unsigned long long) full.in_use,
           (unsigned long long) full.free);

    /* heap_release: 8 MiB in blocks the allocator keeps when they are freed
       (glibc: 4 KiB, inside its arena; tcmalloc and the sanitizers: 1 MiB,
       their page heap / quarantine), a fence block after them */
    const char *allocator = heap_release ();
    size_t size = strcmp (allocator, "glibc") == 0 ? 4096 : mib;
    size_t n = 8 * mib / size;
    char **big = calloc (n, sizeof *big);
    for (size_t i = 0; big && i < n; i++)
        if ((big[i] = malloc (size)))
            memset (big[i], 1, size);
    char *fence = malloc (64);
    uint64_t rss_full = heap_resident_bytes ();
    for (size_t i = 0; big && i < n; i++)
        free (big[i]);
    uint64_t rss_freed = heap_resident_bytes ();
    heap_release ();
    uint64_t rss_released = heap_resident_bytes ();
    printf ("%s: RSS %llu KiB with 8 MiB in use, %llu freed, %llu after heap_release\n",
            allocator, (unsigned long long) rss_full / 1024,
            (unsigned long long) rss_freed / 1024, (unsigned long long) rss_released / 1024);
    check (&t, rss_released + 4 * mib <= rss_freed,
           "heap_release (%s) gave back %lld KiB of the 8 MiB freed", allocator,
           (long long) (rss_freed - rss_released) / 1024);
    free (fence);
    free (big);
    return tally_report (&t);
}
