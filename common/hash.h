/*  hash.h — the 64-bit finaliser of MurmurHash3 (fmix64): every input bit
    reaches every output bit. For the hash tables of the flow table and the
    ban list.                                                                */
#ifndef DPI_HASH_H
#define DPI_HASH_H

#include <stdint.h>

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

#endif
