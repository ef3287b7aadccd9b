/*  bigmem.c — see bigmem.h.                                                 */
#include "bigmem.h"

#include <stdint.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t) 2 << 20)

static size_t
rounded (size_t bytes)
{
    return (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}

void *
bigmem_alloc (size_t bytes)
{
    if (bytes == 0 || bytes > SIZE_MAX - 2 * HUGE_PAGE)
        return NULL;
    size_t size = rounded (bytes);
    /* map one huge page more and trim to an aligned start */
    unsigned char *map = mmap (NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    unsigned char *start = (unsigned char *) (((uintptr_t) map + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
    if (start > map)
        munmap (map, (size_t) (start - map));
    munmap (start + size, (size_t) (map + HUGE_PAGE - start));     /* > 0: start < map + 2M */
    madvise (start, size, MADV_HUGEPAGE);     /* advice: ignored where THP is off */
    return start;
}

void
bigmem_free (void *mem, size_t bytes)
{
    if (mem)
        munmap (mem, rounded (bytes));
}
