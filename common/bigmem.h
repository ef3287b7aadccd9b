/*  bigmem.h — large zeroed allocations backed by transparent huge pages.

    Tables the collector fills as traffic arrives (the flow pool, nDPI's
    per-flow states, the publisher's ring) are touched one 4 KiB page at a
    time; each first touch is a page fault, and in a VM those cost more
    than the packet work around them. Asking the kernel for huge pages
    (madvise MADV_HUGEPAGE, honoured when transparent huge pages are in
    "always" or "madvise" mode) makes it one fault per 2 MiB. Untouched
    memory still costs nothing; where THP is off the advice is ignored and
    the memory is ordinary.                                                 */
#ifndef DPI_BIGMEM_H
#define DPI_BIGMEM_H

#include <stddef.h>

/*  BYTES of zeroed memory, 2 MiB aligned; NULL when it cannot be mapped.  */
void *bigmem_alloc (size_t bytes);

/*  Unmap what bigmem_alloc (BYTES) returned; NULL is ignored.             */
void bigmem_free (void *mem, size_t bytes);

#endif
