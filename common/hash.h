/*  hash.h — the 64-bit finaliser of MurmurHash3 (fmix64): every input bit
    reaches every output bit; and strings through it. For the hash tables of
    the flow table, the ban list, the buffer's ring and the correlator.   */
#ifndef DPI_HASH_H
#define DPI_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t
hash_mix64 (uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/*  LEN bytes of DATA, 8 at a time through hash_mix64.                      */
static inline uint64_t
hash_bytes (const void *data, size_t len)
{
    const char *p = data;
    uint64_t h = hash_mix64 (len + 0x9e3779b97f4a7c15ull);
    while (len) {
        uint64_t word = 0;
        size_t n = len < 8 ? len : 8;
        memcpy (&word, p, n);
        h = hash_mix64 (h ^ word) + n;
        p += n;
        len -= n;
    }
    return h;
}

/*  A NUL-terminated string (NULL hashes as "").                             */
static inline uint64_t
hash_string (const char *text)
{
    return text ? hash_bytes (text, strlen (text)) : hash_bytes ("", 0);
}

/*  The smallest power of two >= AT_LEAST (1 for 0): a bucket count.       */
static inline size_t
hash_power_of_two (size_t at_least)
{
    size_t n = 1;
    while (n < at_least)
        n *= 2;
    return n;
}

#endif
