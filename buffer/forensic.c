/*  forensic.c — see forensic.h.

    One file is open at a time (FD), with its secretstream state. A failed
    or short write leaves the stream state ahead of the file, so that file
    is given up (BROKEN, cut back to its last whole chunk, no FINAL) and the
    next append starts a new one.                                            */
#include "forensic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "paths.h"
#include "ratelog.h"

#define MAGIC "DPIFLOG1"
#define MAGIC_LEN 8
#define HEADER_LEN crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define PREFIX_LEN (MAGIC_LEN + HEADER_LEN)
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL
#define MAX_RECORD (16u * 1024 * 1024)          /* a larger chunk is corrupt */
#define MAX_FILES 100000                        /* looked at by retention    */

typedef crypto_secretstream_xchacha20poly1305_state stream_t;

struct forensic_t {
    char dir[1024];
    char path[1200];                /* the file open, "" when none          */
    int fd;                         /* -1 when none                         */
    bool broken;                    /* a write failed: start a new file     */
    uint64_t file_bytes;
    uint64_t file_start_ns;         /* wall clock                           */
    uint64_t rotate_bytes, rotate_ns, keep_bytes, keep_ns;
    unsigned counter;               /* NNNNNN of the next file              */
    uint8_t key[FORENSIC_KEY_BYTES];
    stream_t stream;
    uint8_t *buf;                   /* length + ciphertext of one chunk     */
    size_t bufsize;
    forensic_stats_t stats;
    ratelog_t log;
};

static uint64_t
now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/*  A failure of WHAT on PATH, logged at most once a second; with LOST, a
    record was lost to it (counted).                                          */
static void
log_failure (forensic_t *self, bool lost, const char *path, const char *what, int error)
{
    if (lost)
        self->stats.write_errors++;
    uint64_t unlogged;
    if (ratelog_due (&self->log, &unlogged))
        log_error ("%s: cannot %s: %s (%llu records lost, %llu failures not logged since "
                   "the last line)",
                   path, what, strerror (error), (unsigned long long) self->stats.write_errors,
                   (unsigned long long) unlogged);
}

static int
write_all_once (int fd, const void *data, size_t len, int *error)
{
    ssize_t n;
    do
        n = write (fd, data, len);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t) len)
        return 0;
    *error = n < 0 ? errno : ENOSPC;        /* a short write: the disk is full */
    return -1;
}

/*  ---- Retention ---------------------------------------------------------- */

typedef struct {
    char name[256];
    uint64_t size;
    uint64_t mtime_ns;
} entry_t;

static bool
is_log_name (const char *name)
{
    size_t len = strlen (name);
    return strncmp (name, "forensic-", 9) == 0 && len > 13 && strcmp (name + len - 4, ".log") == 0;
}

static int
by_name (const void *a, const void *b)
{
    return strcmp (((const entry_t *) a)->name, ((const entry_t *) b)->name);
}

/*  The log files of DIR in name order (oldest first); NULL with *COUNT 0
    when there are none or they cannot be listed (errno).                    */
static entry_t *
list_logs (const char *dir, size_t *count)
{
    *count = 0;
    DIR *d = opendir (dir);
    if (!d)
        return NULL;
    entry_t *list = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir (d)) && *count < MAX_FILES) {
        struct stat st;
        if (!is_log_name (de->d_name) || fstatat (dirfd (d), de->d_name, &st, 0) != 0
            || !S_ISREG (st.st_mode) || strlen (de->d_name) >= sizeof list->name)
            continue;
        if (*count == cap) {
            entry_t *grown = realloc (list, (cap = cap ? cap * 2 : 64) * sizeof *list);
            if (!grown)
                break;
            list = grown;
        }
        entry_t *e = &list[(*count)++];
        snprintf (e->name, sizeof e->name, "%s", de->d_name);
        e->size = (uint64_t) st.st_size;
        e->mtime_ns = (uint64_t) st.st_mtim.tv_sec * 1000000000ull + (uint64_t) st.st_mtim.tv_nsec;
    }
    closedir (d);
    if (*count)
        qsort (list, *count, sizeof *list, by_name);
    return list;
}

/*  Remove the oldest files (never the one open) until the total is at most
    keep_mb and none is older than keep_days.                                 */
static void
apply_retention (forensic_t *self)
{
    size_t count;
    entry_t *list = list_logs (self->dir, &count);
    const char *current = *self->path ? strrchr (self->path, '/') + 1 : "";
    uint64_t total = 0, now = now_ns ();
    for (size_t i = 0; i < count; i++)
        total += list[i].size;
    for (size_t i = 0; i < count; i++) {
        bool old = now > list[i].mtime_ns && now - list[i].mtime_ns > self->keep_ns;
        if (strcmp (list[i].name, current) == 0 || (!old && total <= self->keep_bytes))
            continue;
        char path[1300];
        snprintf (path, sizeof path, "%s/%s", self->dir, list[i].name);
        if (unlink (path) != 0) {
            log_error ("%s: cannot remove (retention): %s", path, strerror (errno));
            continue;
        }
        total -= list[i].size;
        self->stats.files_deleted++;
    }
    free (list);
}

/*  ---- Writing ------------------------------------------------------------ */

/*  Encrypt LEN bytes of DATA with TAG into self->buf (length prefix first),
    one write; the file is broken when it fails.                             */
static int
write_chunk (forensic_t *self, const void *data, size_t len, uint8_t tag)
{
    size_t need = 4 + len + ABYTES;
    if (need > self->bufsize) {
        uint8_t *grown = realloc (self->buf, need);
        if (!grown) {
            self->broken = true;
            log_failure (self, tag != TAG_FINAL, self->path, "write (out of memory)", ENOMEM);
            return -1;
        }
        self->buf = grown;
        self->bufsize = need;
    }
    uint32_t l = (uint32_t) (len + ABYTES);
    self->buf[0] = (uint8_t) (l >> 24), self->buf[1] = (uint8_t) (l >> 16);
    self->buf[2] = (uint8_t) (l >> 8), self->buf[3] = (uint8_t) l;
    crypto_secretstream_xchacha20poly1305_push (&self->stream, self->buf + 4, NULL, data, len,
                                                NULL, 0, tag);
    int error;
    if (write_all_once (self->fd, self->buf, need, &error) != 0) {
        self->broken = true;
        if (ftruncate (self->fd, (off_t) self->file_bytes) != 0) {
            /* a torn chunk stays: it reads as truncated all the same */
        }
        log_failure (self, tag != TAG_FINAL, self->path, "write", error);
        return -1;
    }
    self->file_bytes += need;
    self->stats.bytes += need;
    return 0;
}

/*  Close the current file: with a FINAL chunk unless it is broken.         */
static void
end_file (forensic_t *self)
{
    if (self->fd < 0)
        return;
    if (!self->broken)
        write_chunk (self, "", 0, TAG_FINAL);   /* failed: reads as truncated */
    if (fsync (self->fd) != 0 && !self->broken)
        log_failure (self, false, self->path, "fsync", errno);
    if (close (self->fd) != 0)
        log_failure (self, false, self->path, "close", errno);
    self->fd = -1;
    self->path[0] = 0;
    self->broken = false;
}

/*  Create the next file (O_EXCL: a name taken is skipped) into self->fd
    and self->path. 0, or -1 with errno.                                     */
static int
create_file (forensic_t *self, uint64_t now)
{
    time_t secs = (time_t) (now / 1000000000ull);
    struct tm tm;
    gmtime_r (&secs, &tm);
    char stamp[32];
    strftime (stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (int tries = 0; tries < 1000; tries++) {
        snprintf (self->path, sizeof self->path, "%s/forensic-%s-%06u.log", self->dir, stamp,
                  self->counter++ % 1000000u);
        self->fd = open (self->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        /* held while the file is written: a reader tells "still being
           written" from "cut short" by it (forensic_read_t.live)           */
        if (self->fd >= 0 && flock (self->fd, LOCK_EX | LOCK_NB) != 0)
            log_warning ("%s: cannot lock: %s", self->path, strerror (errno));
        if (self->fd >= 0 || errno != EEXIST)
            return self->fd >= 0 ? 0 : -1;
    }
    return -1;
}

/*  Start a new file: magic and secretstream header in one write. 0, or -1
    (logged, a record lost FOR_RECORD; no file left behind).                 */
static int
start_file (forensic_t *self, bool for_record)
{
    uint64_t now = now_ns ();
    if (create_file (self, now) != 0) {
        int error = errno;
        log_failure (self, for_record, self->path, "create", error);
        self->fd = -1;
        self->path[0] = 0;
        errno = error;
        return -1;
    }
    uint8_t prefix[PREFIX_LEN];
    memcpy (prefix, MAGIC, MAGIC_LEN);
    crypto_secretstream_xchacha20poly1305_init_push (&self->stream, prefix + MAGIC_LEN, self->key);
    int error;
    if (write_all_once (self->fd, prefix, sizeof prefix, &error) != 0) {
        log_failure (self, for_record, self->path, "write the header of", error);
        close (self->fd);
        unlink (self->path);
        self->fd = -1;
        self->path[0] = 0;
        errno = error;
        return -1;
    }
    self->file_bytes = sizeof prefix;
    self->stats.bytes += sizeof prefix;
    self->file_start_ns = now;
    self->broken = false;
    return 0;
}

/*  End the current file, apply retention, start the next one.              */
static void
rotate (forensic_t *self)
{
    bool had_file = self->fd >= 0;
    end_file (self);
    if (had_file)
        self->stats.files_rotated++;
    apply_retention (self);
    start_file (self, false);
}

forensic_t *
forensic_open (const config_t *cfg, config_errors_t *errors)
{
    const char *dir = cfg->buffer.forensic.dir;
    if (sodium_init () < 0) {
        config_errors_add (errors, "buffer.forensic: libsodium cannot be initialised");
        return NULL;
    }
    forensic_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "%s: out of memory", dir);
        return NULL;
    }
    self->fd = -1;
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    self->rotate_bytes = (uint64_t) cfg->buffer.forensic.rotate_mb << 20;
    self->rotate_ns = (uint64_t) cfg->buffer.forensic.rotate_s * 1000000000ull;
    self->keep_bytes = (uint64_t) cfg->buffer.forensic.keep_mb << 20;
    self->keep_ns = (uint64_t) cfg->buffer.forensic.keep_days * 86400ull * 1000000000ull;
    char error[1300];
    if (forensic_key_load (cfg->buffer.forensic.key_file, self->key, error, sizeof error) != 0)
        config_errors_add (errors, "%s", error);
    else if (paths_mkdir (dir, 0700) != 0)
        config_errors_add (errors, "%s: cannot create: %s", dir, strerror (errno));
    else {
        apply_retention (self);
        if (start_file (self, false) == 0)
            return self;
        config_errors_add (errors, "%s: cannot start a log file: %s", dir, strerror (errno));
    }
    forensic_close (&self);
    return NULL;
}

void
forensic_close (forensic_t **self_p)
{
    forensic_t *self = *self_p;
    if (!self)
        return;
    end_file (self);
    sodium_memzero (self->key, sizeof self->key);
    sodium_memzero (&self->stream, sizeof self->stream);
    free (self->buf);
    free (self);
    *self_p = NULL;
}

int
forensic_append (forensic_t *self, const char *record, size_t len)
{
    if (len > MAX_RECORD) {
        log_failure (self, true, self->dir, "log a record this large", EMSGSIZE);
        return -1;
    }
    if (self->broken || self->fd < 0) {
        if (self->fd >= 0)
            self->stats.files_rotated++;
        end_file (self);
        if (start_file (self, true) != 0)
            return -1;
    }
    if (write_chunk (self, record, len, 0) != 0)
        return -1;
    self->stats.records++;
    if (self->file_bytes >= self->rotate_bytes)
        rotate (self);
    return 0;
}

void
forensic_tick (forensic_t *self)
{
    uint64_t now = now_ns ();
    if (self->fd >= 0 && (now < self->file_start_ns || now - self->file_start_ns >= self->rotate_ns))
        rotate (self);
    else
        apply_retention (self);
}

forensic_stats_t
forensic_stats (const forensic_t *self)
{
    return self->stats;
}

/*  ---- Keys --------------------------------------------------------------- */

int
forensic_key_new (const char *path, char *error, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (error, errlen, "%s: libsodium cannot be initialised", path);
        return -1;
    }
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf (error, errlen, "%s: %s", path,
                  errno == EEXIST ? "already exists; not overwriting" : strerror (errno));
        return -1;
    }
    uint8_t key[FORENSIC_KEY_BYTES];
    char hex[2 * FORENSIC_KEY_BYTES + 2];
    randombytes_buf (key, sizeof key);
    sodium_bin2hex (hex, sizeof hex, key, sizeof key);
    hex[2 * FORENSIC_KEY_BYTES] = '\n';
    int rc = 0, saved = 0;
    if (fchmod (fd, 0600) != 0 || write_all_once (fd, hex, sizeof hex - 1, &saved) != 0
        || fsync (fd) != 0)
        rc = -1, saved = saved ? saved : errno;
    if (close (fd) != 0 && rc == 0)
        rc = -1, saved = errno;
    sodium_memzero (key, sizeof key);
    sodium_memzero (hex, sizeof hex);
    if (rc != 0) {
        snprintf (error, errlen, "%s: cannot write: %s", path, strerror (saved));
        unlink (path);
    }
    return rc;
}

int
forensic_key_load (const char *path, uint8_t key[FORENSIC_KEY_BYTES], char *error, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (error, errlen, "%s: cannot open the key: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    char text[2 * FORENSIC_KEY_BYTES + 3];
    ssize_t n = -1;
    if (fstat (fd, &st) != 0)
        snprintf (error, errlen, "%s: cannot stat the key: %s", path, strerror (errno));
    else if (!S_ISREG (st.st_mode))
        snprintf (error, errlen, "%s: the key is not a regular file", path);
    else if (st.st_mode & 077)
        snprintf (error, errlen, "%s: the key has mode %04o; it must be 0600 (chmod 600 %s)",
                  path, (unsigned) (st.st_mode & 07777), path);
    else if ((n = read (fd, text, sizeof text)) < 0)
        snprintf (error, errlen, "%s: cannot read the key: %s", path, strerror (errno));
    close (fd);
    if (n < 0)
        return -1;
    size_t bin_len = 0;
    bool ok = n == 2 * FORENSIC_KEY_BYTES + 1 && text[n - 1] == '\n'
              && sodium_hex2bin (key, FORENSIC_KEY_BYTES, text, 2 * FORENSIC_KEY_BYTES, NULL,
                                 &bin_len, NULL) == 0
              && bin_len == FORENSIC_KEY_BYTES;
    sodium_memzero (text, sizeof text);
    if (!ok) {
        sodium_memzero (key, FORENSIC_KEY_BYTES);
        snprintf (error, errlen, "%s: malformed key: expected 64 hex digits and a newline", path);
        return -1;
    }
    return 0;
}

/*  ---- Reading ------------------------------------------------------------ */

typedef struct {
    FILE *file;
    const char *path;
    uint64_t offset;                /* of the chunk being read              */
    forensic_read_t *out;
    char *error;
    size_t errlen;
    uint8_t *cipher, *plain;
    size_t cap;
} reader_t;

/*  What went wrong at the current offset: "PATH: offset N: WHAT". -1.      */
static int
bad (reader_t *r, bool tampered, const char *what)
{
    if (tampered)
        r->out->tampered = true;
    else
        r->out->truncated = true;
    r->out->bad_offset = r->offset;
    snprintf (r->error, r->errlen, "%s: offset %llu: %s", r->path,
              (unsigned long long) r->offset, what);
    return -1;
}

static int
read_error (reader_t *r)
{
    snprintf (r->error, r->errlen, "%s: offset %llu: cannot read: %s", r->path,
              (unsigned long long) r->offset, strerror (errno ? errno : EIO));
    return -1;
}

/*  The next chunk into r->cipher (*LEN bytes). 0, 1 at the end of the file,
    or -1 (said).                                                             */
static int
next_chunk (reader_t *r, uint32_t *len)
{
    uint8_t lb[4];
    errno = 0;
    size_t n = fread (lb, 1, sizeof lb, r->file);
    if (n < sizeof lb && ferror (r->file))
        return read_error (r);
    if (n == 0)
        return 1;
    if (n < sizeof lb)
        return bad (r, false, "cut short in a chunk's length");
    *len = (uint32_t) lb[0] << 24 | (uint32_t) lb[1] << 16 | (uint32_t) lb[2] << 8 | lb[3];
    if (*len < ABYTES || *len > MAX_RECORD + ABYTES)
        return bad (r, true, "impossible chunk length (corrupt)");
    if (*len > r->cap) {
        uint8_t *c = realloc (r->cipher, *len), *p = c ? realloc (r->plain, *len) : NULL;
        r->cipher = c ? c : r->cipher;
        r->plain = p ? p : r->plain;
        if (!c || !p)
            return bad (r, false, "out of memory");
        r->cap = *len;
    }
    if (fread (r->cipher, 1, *len, r->file) != *len)
        return ferror (r->file) ? read_error (r) : bad (r, false, "cut short inside a chunk");
    return 0;
}

static int
read_chunks (reader_t *r, stream_t *stream, forensic_record_fn *fn, void *arg)
{
    for (;;) {
        uint32_t len = 0;       /* set by next_chunk when it returns 0 (GCC -O2 + fortify cannot see it) */
        int rc = next_chunk (r, &len);
        if (rc > 0)
            return bad (r, false, "no FINAL chunk: cut short (or still being written)");
        if (rc < 0)
            return -1;
        unsigned long long mlen;
        uint8_t tag;
        if (crypto_secretstream_xchacha20poly1305_pull (stream, r->plain, &mlen, &tag, r->cipher,
                                                        len, NULL, 0) != 0)
            return bad (r, true, "authentication failed (tampered, or another key)");
        bool final = tag == TAG_FINAL;
        r->plain[mlen] = '\0';             /* len = mlen + ABYTES: room for it */
        if (!final || mlen > 0) {
            r->out->records++;
            if (fn && fn (arg, (const char *) r->plain, (size_t) mlen) != 0)
                return 0;
        }
        r->offset += 4 + len;
        if (final)
            return fgetc (r->file) == EOF ? 0 : bad (r, true, "data after the FINAL chunk");
    }
}

/*  The magic and the stream header. 0, or -1 (said).                      */
static int
read_prefix (reader_t *r, stream_t *stream, const uint8_t *key)
{
    uint8_t prefix[PREFIX_LEN];
    errno = 0;
    size_t n = fread (prefix, 1, sizeof prefix, r->file);
    if (n < sizeof prefix && ferror (r->file))
        return read_error (r);
    if (memcmp (prefix, MAGIC, n < MAGIC_LEN ? n : MAGIC_LEN) != 0)
        return bad (r, true, "not a forensic log (bad magic)");
    if (n < sizeof prefix)
        return bad (r, false, "cut short in the header");
    r->offset = MAGIC_LEN;
    if (crypto_secretstream_xchacha20poly1305_init_pull (stream, prefix + MAGIC_LEN, key) != 0)
        return bad (r, true, "bad stream header");
    r->offset = PREFIX_LEN;
    return 0;
}

int
forensic_read_file (const char *path, const uint8_t key[FORENSIC_KEY_BYTES],
                    forensic_record_fn *fn, void *arg, forensic_read_t *out, char *error,
                    size_t errlen)
{
    forensic_read_t ignored;
    reader_t r = { .path = path, .out = out ? out : &ignored, .error = error, .errlen = errlen };
    memset (r.out, 0, sizeof *r.out);
    if (sodium_init () < 0) {
        snprintf (error, errlen, "%s: libsodium cannot be initialised", path);
        return -1;
    }
    r.file = fopen (path, "rb");
    if (!r.file) {
        snprintf (error, errlen, "%s: cannot open: %s", path, strerror (errno));
        return -1;
    }
    /* a writer holds LOCK_EX on the file it is writing */
    r.out->live = flock (fileno (r.file), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    stream_t stream;
    int rc = read_prefix (&r, &stream, key);
    if (rc == 0)
        rc = read_chunks (&r, &stream, fn, arg);
    fclose (r.file);
    sodium_memzero (&stream, sizeof stream);
    if (r.plain)
        sodium_memzero (r.plain, r.cap);
    free (r.cipher);
    free (r.plain);
    return rc;
}
