/*  rules_cache.c — see rules_cache.h.                                      */
#include "rules_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

#define MAGIC "DPIRULES1\n"
#define FILE_MAX (256u << 20)           /* far above any rules file's databases */

static int
say (char *why, size_t why_size, const char *fmt, const char *a, const char *b)
{
    snprintf (why, why_size, fmt, a, b);
    return -1;
}

/*  The whole file into *DATA (malloc'd). 0, 1 no such file, -1.           */
static int
read_all (const char *path, uint8_t **data, size_t *len, char *why, size_t why_size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : say (why, why_size, "%s: %s", path, strerror (errno));
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size > (off_t) FILE_MAX) {
        close (fd);
        return say (why, why_size, "%s: %s", path, "not a regular file of a plausible size");
    }
    *len = (size_t) st.st_size;
    *data = malloc (*len ? *len : 1);
    size_t got = 0;
    while (*data && got < *len) {
        ssize_t n = read (fd, *data + got, *len - got);
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    close (fd);
    if (!*data || got != *len) {
        say (why, why_size, "%s: %s", path, *data ? "short read" : "out of memory");
        free (*data);
        *data = NULL;
        return -1;
    }
    return 0;
}

/*  FNV-1a 64 of LEN bytes: the file's last 8 bytes, over all before them
    (a file cut short or damaged on disk is caught before vectorscan reads
    it; not a defence against someone who can write the state directory).  */
static uint64_t
fnv1a (const uint8_t *p, size_t len, uint64_t h)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

/*  A u32 at *P (inside END), advancing; false past the end.                */
static bool
take_u32 (const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    if ((size_t) (end - *p) < sizeof *v)
        return false;
    memcpy (v, *p, sizeof *v);
    *p += sizeof *v;
    return true;
}

int
rules_cache_load (const char *path, const void *key, size_t key_len, hs_database_t **db,
                  size_t count, char *why, size_t why_size)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = read_all (path, &data, &len, why, why_size);
    if (rc != 0)
        return rc;
    const uint8_t *p = data, *end = data + len;
    uint32_t n = 0;
    uint64_t sum = 0;
    hs_database_t *got[count];
    memset (got, 0, sizeof got);
    rc = -1;
    if (len < strlen (MAGIC) + sizeof sum || memcmp (p, MAGIC, strlen (MAGIC)) != 0) {
        say (why, why_size, "%s: %s", path, "not a rules cache");
        goto done;
    }
    end -= sizeof sum;
    memcpy (&sum, end, sizeof sum);
    if (sum != fnv1a (data, len - sizeof sum, FNV_START)) {
        say (why, why_size, "%s: %s", path, "damaged (checksum)");
        goto done;
    }
    p += strlen (MAGIC);
    if (!take_u32 (&p, end, &n) || n != key_len || (size_t) (end - p) < n
        || memcmp (p, key, key_len) != 0) {
        say (why, why_size, "%s: %s", path,
             "made for other rules, another vectorscan or another CPU");
        goto done;
    }
    p += n;
    for (size_t f = 0; f < count; f++) {
        if (!take_u32 (&p, end, &n) || (size_t) (end - p) < n) {
            say (why, why_size, "%s: %s", path, "truncated");
            goto done;
        }
        if (n && hs_deserialize_database ((const char *) p, n, &got[f]) != HS_SUCCESS) {
            say (why, why_size, "%s: %s", path, "a database does not deserialize");
            goto done;
        }
        p += n;
    }
    if (p != end) {
        say (why, why_size, "%s: %s", path, "trailing bytes");
        goto done;
    }
    memcpy (db, got, sizeof got);
    memset (got, 0, sizeof got);
    rc = 0;
done:
    for (size_t f = 0; f < count; f++)
        hs_free_database (got[f]);
    free (data);
    return rc;
}

static bool
put (FILE *f, const void *data, size_t len, uint64_t *sum)
{
    *sum = fnv1a (data, len, *sum);
    return len == 0 || fwrite (data, 1, len, f) == len;
}

static bool
put_u32 (FILE *f, size_t v, uint64_t *sum)
{
    uint32_t u = (uint32_t) v;
    return v <= UINT32_MAX && put (f, &u, sizeof u, sum);
}

int
rules_cache_save (const char *path, const void *key, size_t key_len,
                  hs_database_t *const *db, size_t count, char *why, size_t why_size)
{
    char tmp[4096];
    if ((size_t) snprintf (tmp, sizeof tmp, "%s.%ld.tmp", path, (long) getpid ()) >= sizeof tmp)
        return say (why, why_size, "%s: %s", path, "path too long");
    paths_mkdir_parent (path, 0750);    /* the state directory, as the correlator makes it;
                                           a failure shows at the open */
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *f = fd < 0 ? NULL : fdopen (fd, "wb");
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close (fd);
        return say (why, why_size, "%s: %s", tmp, strerror (e));
    }
    uint64_t sum = FNV_START;
    bool ok = put (f, MAGIC, strlen (MAGIC), &sum) && put_u32 (f, key_len, &sum)
              && put (f, key, key_len, &sum);
    for (size_t i = 0; ok && i < count; i++) {
        char *bytes = NULL;
        size_t len = 0;
        if (db[i] && hs_serialize_database (db[i], &bytes, &len) != HS_SUCCESS)
            ok = false;
        ok = ok && put_u32 (f, len, &sum) && put (f, bytes, len, &sum);
        free (bytes);           /* hs's default allocator is malloc */
    }
    uint64_t total = sum;
    ok = ok && put (f, &total, sizeof total, &sum);
    int e = ok ? 0 : errno ? errno : EIO;
    if (fclose (f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename (tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink (tmp);
        return say (why, why_size, "%s: %s", path, strerror (e));
    }
    return 0;
}
