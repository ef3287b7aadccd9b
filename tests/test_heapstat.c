/*  test_heapstat.c — common/heapstat.c (the heap figures of the heartbeat).

    Built twice: on glibc's allocator (test_heapstat; the sanitizer's in the
    ASan build) and linked with tcmalloc like dpi-buffer
    (test_heapstat_tcmalloc, when it is). Catches: figures that do not come
    from the allocator the process runs on (4 MiB allocated and freed must
    show in in_use), a sum that counts freed memory as in use.             */
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
    return tally_report (&t);
}
