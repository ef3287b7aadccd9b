/*  rules_cache.h — the rules' compiled vectorscan databases kept on disk,
    so a restarted dpi-bridge-mitm verdicts at once instead of compiling
    again (about 2 s for the shipped rules, 20 s and more under ASan or on
    a small router CPU; the addon fails open meanwhile).

    The file (global.state_dir/bridge-rules.cache for dpi-bridge-mitm) holds
    a KEY and one serialized database per field:
        "DPIRULES1\n", u32 key length, the key,
        then per field u32 length (0: no database) and hs_serialize_database's bytes,
        then a u64 FNV-1a of everything before it
    (u32 little-endian as on the machine that wrote it: the key holds the
    platform). The caller builds the key from everything the compile depends
    on — vectorscan's version, the platform, and per field the patterns,
    flags and ids in order — and a file is used only when its key is the
    same byte for byte, so there is no hash to trust: any change to the
    rules, their order or flags, or to vectorscan, means compiling again.
    hs_deserialize_database checks the bytes themselves.

    Written 0600 to a temporary file, then renamed over the old one; the
    directory is made (0750) when missing.                                   */
#ifndef DPI_BRIDGE_RULES_CACHE_H
#define DPI_BRIDGE_RULES_CACHE_H

#include <hs/hs.h>
#include <stddef.h>

#define RULES_CACHE_FILE "bridge-rules.cache"   /* in global.state_dir */

/*  The databases of PATH into DB[0..COUNT-1] (NULL where the file has none)
    when its key is KEY. 0; 1 no such file; -1 unusable (WHY says why; DB
    untouched).                                                              */
int rules_cache_load (const char *path, const void *key, size_t key_len, hs_database_t **db,
                      size_t count, char *why, size_t why_size);

/*  DB[0..COUNT-1] (NULL entries allowed) with KEY into PATH. 0, or -1 with
    WHY.                                                                     */
int rules_cache_save (const char *path, const void *key, size_t key_len,
                      hs_database_t *const *db, size_t count, char *why, size_t why_size);

#endif
