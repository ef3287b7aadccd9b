/*  test_buffer_forensic.c — buffer/forensic.c (the encrypted forensic log).

    Catches: records lost or reordered across rotations, a file that is not
    ended with FINAL at close, a tampered chunk (or header) that is not
    detected or that lets later records through, truncation that reads as
    complete, retention that keeps too much or removes the open file, key
    files accepted with a loose mode or bad hex, a key file overwritten, a
    wrong key that decrypts, and a full disk that crashes the writer, loses
    a record it said was written, or keeps it from writing once space is
    back. The full-disk case mounts a 64 KiB tmpfs: it needs root and fails
    (never skips) without it.                                                */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "errtext.h"
#include "forensic.h"
#include "tally.h"

#define MAX_RECORDS 4096

/*  What a read delivered.                                                   */
typedef struct {
    char *records[MAX_RECORDS];
    size_t count;
} got_t;

static int
collect (void *arg, const char *record, size_t len)
{
    got_t *got = arg;
    if (got->count < MAX_RECORDS)
        got->records[got->count++] = strndup (record, len);
    return 0;
}

static void
got_free (got_t *got)
{
    for (size_t i = 0; i < got->count; i++)
        free (got->records[i]);
    got->count = 0;
}

static int
log_filter (const struct dirent *de)
{
    return strncmp (de->d_name, "forensic-", 9) == 0;
}

/*  Read every log file of DIR in name order into GOT; the number of files,
    and in *BAD those that did not read to FINAL (*TAMPERED those tampered). */
static int
read_dir (const char *dir, const uint8_t *key, got_t *got, int *bad, int *tampered)
{
    struct dirent **list;
    int n = scandir (dir, &list, log_filter, alphasort);
    *bad = *tampered = 0;
    for (int i = 0; i < n; i++) {
        char path[1200], error[1400];
        snprintf (path, sizeof path, "%s/%s", dir, list[i]->d_name);
        forensic_read_t r;
        if (forensic_read_file (path, key, collect, got, &r, error, sizeof error) != 0) {
            (*bad)++;
            *tampered += r.tampered;
        }
        free (list[i]);
    }
    if (n > 0)
        free (list);
    return n;
}

static int
count_logs (const char *dir)
{
    struct dirent **list;
    int n = scandir (dir, &list, log_filter, alphasort);
    for (int i = 0; i < n; i++)
        free (list[i]);
    if (n > 0)
        free (list);
    return n;
}

static void
set_str (char **field, const char *value)
{
    free (*field);
    *field = strdup (value);
}

/*  A config writing to DIR with KEY_FILE.                                    */
static config_t *
make_config (const char *dir, const char *key_file)
{
    config_t *cfg = config_new ();
    set_str (&cfg->buffer.forensic.dir, dir);
    set_str (&cfg->buffer.forensic.key_file, key_file);
    return cfg;
}

/*  A record of about SIZE bytes: {"n":N,"client_ip":"10.0.0.1","pad":"xxx"}. */
static size_t
make_record (char *buf, size_t size, int n)
{
    int len = snprintf (buf, size, "{\"n\":%d,\"client_ip\":\"10.0.0.1\",\"pad\":\"", n);
    size_t pad = size - (size_t) len - 3 - (size_t) (n % 97);
    memset (buf + len, 'a' + n % 26, pad);
    memcpy (buf + (size_t) len + pad, "\"}", 3);
    return (size_t) len + pad + 2;
}

static void
test_round_trip (tally_t *t, const char *top, const char *key_file, const uint8_t *key)
{
    char dir[600], rec[2100], err[1400];
    snprintf (dir, sizeof dir, "%s/rt", top);
    config_t *cfg = make_config (dir, key_file);
    cfg->buffer.forensic.rotate_mb = 1;
    config_errors_t errors = { 0 };
    forensic_t *log = forensic_open (cfg, &errors);
    if (!check (t, log != NULL, "open: %s", errtext (&errors, err, sizeof err)))
        goto done;
    int failures = 0;
    for (int i = 0; i < 1500; i++) {
        size_t len = make_record (rec, sizeof rec, i);
        failures += forensic_append (log, rec, len) != 0;
    }
    forensic_stats_t s = forensic_stats (log);
    check (t, failures == 0 && s.records == 1500 && s.write_errors == 0, "1500 appended (%d failed)",
           failures);
    check (t, s.files_rotated >= 2, "rotated by size (%llu)", (unsigned long long) s.files_rotated);
    forensic_close (&log);
    check (t, log == NULL, "close NULLs the pointer");
    got_t got = { 0 };
    int bad, tampered;
    int files = read_dir (dir, key, &got, &bad, &tampered);
    check (t, files >= 3 && bad == 0, "%d files, all end with FINAL (%d do not)", files, bad);
    bool same = got.count == 1500;
    for (size_t i = 0; same && i < got.count; i++) {
        size_t len = make_record (rec, sizeof rec, (int) i);
        same = strlen (got.records[i]) == len && memcmp (got.records[i], rec, len) == 0;
    }
    check (t, same, "every record back, in order (%zu)", got.count);
    got_free (&got);
done:
    config_destroy (&cfg);
}

static void
test_rotate_by_age (tally_t *t, const char *top, const char *key_file, const uint8_t *key)
{
    char dir[600], err[1400];
    snprintf (dir, sizeof dir, "%s/age", top);
    config_t *cfg = make_config (dir, key_file);
    cfg->buffer.forensic.rotate_s = 1;      /* below the key's range: a test only */
    config_errors_t errors = { 0 };
    forensic_t *log = forensic_open (cfg, &errors);
    if (check (t, log != NULL, "open: %s", errtext (&errors, err, sizeof err))) {
        check (t, forensic_append (log, "{\"a\":1}", 7) == 0, "append a");
        forensic_tick (log);
        check (t, count_logs (dir) == 1, "a young file is not rotated");
        usleep (1100 * 1000);
        forensic_tick (log);
        check (t, forensic_append (log, "{\"b\":2}", 7) == 0, "append b");
        check (t, forensic_stats (log).files_rotated == 1, "rotated once by age");
        forensic_close (&log);
    }
    got_t got = { 0 };
    int bad, tampered;
    check (t, read_dir (dir, key, &got, &bad, &tampered) == 2 && bad == 0 && got.count == 2,
           "two files, one record each, both with FINAL");
    got_free (&got);
    config_destroy (&cfg);
}

/*  A log of five records in DIR; its path in PATH and the offsets of its
    chunks in OFFSETS (6: the FINAL one last). The file size.                */
static long
five_records (const char *dir, const char *key_file, char *path, size_t size, long offsets[6])
{
    config_t *cfg = make_config (dir, key_file);
    config_errors_t errors = { 0 };
    forensic_t *log = forensic_open (cfg, &errors);
    config_errors_clear (&errors);
    config_destroy (&cfg);
    if (!log)
        return -1;
    for (int i = 0; i < 5; i++) {
        char rec[64];
        int len = snprintf (rec, sizeof rec, "{\"n\":%d}", i);
        forensic_append (log, rec, (size_t) len);
    }
    forensic_close (&log);
    struct dirent **list;
    if (scandir (dir, &list, log_filter, alphasort) != 1)
        return -1;
    snprintf (path, size, "%s/%s", dir, list[0]->d_name);
    free (list[0]);
    free (list);
    FILE *f = fopen (path, "rb");
    long at = 32;
    for (int i = 0; f && i < 6; i++) {
        uint8_t lb[4];
        offsets[i] = at;
        if (fseek (f, at, SEEK_SET) != 0 || fread (lb, 1, 4, f) != 4)
            break;
        at += 4 + (long) ((uint32_t) lb[0] << 24 | lb[1] << 16 | lb[2] << 8 | lb[3]);
    }
    if (f)
        fclose (f);
    return at;
}

static void
flip (const char *path, long offset)
{
    int fd = open (path, O_RDWR);
    uint8_t b;
    if (fd >= 0 && pread (fd, &b, 1, offset) == 1) {
        b ^= 0x20;
        if (pwrite (fd, &b, 1, offset) != 1)
            printf ("cannot flip a byte of %s\n", path);
    }
    if (fd >= 0)
        close (fd);
}

/*  Read PATH: its return, what it says, the records delivered in GOT.     */
static int
read_one (const char *path, const uint8_t *key, got_t *got, forensic_read_t *r, char *err,
          size_t errlen)
{
    got_free (got);
    return forensic_read_file (path, key, collect, got, r, err, errlen);
}

static void
test_damage (tally_t *t, const char *top, const char *key_file, const uint8_t *key)
{
    char dir[600], path[1200], copy[1300], err[1400], cmd[3000];
    long off[6];
    snprintf (dir, sizeof dir, "%s/damage", top);
    long size = five_records (dir, key_file, path, sizeof path, off);
    if (!check (t, size > 0, "five records written"))
        return;
    snprintf (copy, sizeof copy, "%s.orig", path);
    snprintf (cmd, sizeof cmd, "cp '%s' '%s'", path, copy);
    check (t, system (cmd) == 0 && size == off[5] + 4 + 17, "the FINAL chunk is last and empty");
    snprintf (cmd, sizeof cmd, "cp '%s' '%s'", copy, path);
    got_t got = { 0 };
    forensic_read_t r;

    check (t, read_one (path, key, &got, &r, err, sizeof err) == 0 && r.records == 5
              && !r.truncated && !r.tampered && got.count == 5
              && strcmp (got.records[4], "{\"n\":4}") == 0, "intact: 5 records, to FINAL");

    flip (path, off[2] + 10);
    check (t, read_one (path, key, &got, &r, err, sizeof err) == -1 && r.tampered
              && !r.truncated && r.records == 2 && got.count == 2 && r.bad_offset == (uint64_t) off[2],
           "a byte of the third chunk: 2 records, tampered at %ld (got %llu: %s)", off[2],
           (unsigned long long) r.bad_offset, err);
    check (t, strstr (err, path) && strstr (err, "authentication"), "the error names it: %s", err);

    check (t, system (cmd) == 0, "restore");
    flip (path, 8 + 5);
    check (t, read_one (path, key, &got, &r, err, sizeof err) == -1 && r.tampered
              && r.records == 0 && r.bad_offset == 32,
           "a byte of the stream header: nothing delivered, the first chunk fails (%s)", err);
    check (t, system (cmd) == 0, "restore");
    flip (path, 3);
    check (t, read_one (path, key, &got, &r, err, sizeof err) == -1 && r.tampered
              && r.records == 0 && r.bad_offset == 0 && strstr (err, "magic"),
           "a byte of the magic: not a forensic log (%s)", err);

    check (t, system (cmd) == 0 && truncate (path, off[2] + 9) == 0, "cut mid-chunk");
    check (t, read_one (path, key, &got, &r, err, sizeof err) == -1 && r.truncated
              && !r.tampered && r.records == 2 && got.count == 2 && r.bad_offset == (uint64_t) off[2],
           "cut in the third chunk: 2 records, truncated at %ld (%s)", off[2], err);
    check (t, system (cmd) == 0 && truncate (path, off[3]) == 0, "cut at a boundary");
    check (t, read_one (path, key, &got, &r, err, sizeof err) == -1 && r.truncated
              && !r.tampered && r.records == 3 && r.bad_offset == (uint64_t) off[3],
           "cut after the third chunk: 3 records, truncated (%s)", err);
    check (t, system (cmd) == 0 && truncate (path, off[5]) == 0, "cut the FINAL chunk");
    check (t, read_one (path, key, &got, &r, err, sizeof err) == -1 && r.truncated
              && r.records == 5, "without FINAL: 5 records, truncated (%s)", err);
    check (t, system (cmd) == 0 && truncate (path, 20) == 0, "cut in the header");
    check (t, read_one (path, key, &got, &r, err, sizeof err) == -1 && r.truncated
              && r.records == 0, "cut in the header: truncated (%s)", err);

    check (t, system (cmd) == 0, "restore");
    uint8_t other[FORENSIC_KEY_BYTES];
    memcpy (other, key, sizeof other);
    other[0] ^= 1;
    check (t, read_one (path, other, &got, &r, err, sizeof err) == -1 && r.tampered
              && r.records == 0 && r.bad_offset == 32,
           "another key: the first chunk fails authentication (%s)", err);
    got_free (&got);
}

/*  DIR/NAME of SIZE bytes, last modified AGE_S seconds ago.                */
static void
fake_log (const char *dir, const char *name, off_t size, long age_s)
{
    char path[1200];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate (fd, size) != 0)
        printf ("cannot make %s\n", path);
    if (fd >= 0)
        close (fd);
    struct timeval tv[2] = { { time (NULL) - age_s, 0 }, { time (NULL) - age_s, 0 } };
    utimes (path, tv);
}

static bool
exists (const char *dir, const char *name)
{
    char path[1200];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    return access (path, F_OK) == 0;
}

static void
test_retention (tally_t *t, const char *top, const char *key_file)
{
    char dir[600], err[1400];
    snprintf (dir, sizeof dir, "%s/keep", top);
    mkdir (dir, 0700);
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf (name, sizeof name, "forensic-20200101T00000%dZ-000000.log", i);
        fake_log (dir, name, 600 * 1024, 60);
    }
    fake_log (dir, "other.txt", 4 << 20, 400 * 86400);
    config_t *cfg = make_config (dir, key_file);
    cfg->buffer.forensic.keep_mb = 1;
    cfg->buffer.forensic.keep_days = 1;
    config_errors_t errors = { 0 };
    forensic_t *log = forensic_open (cfg, &errors);
    if (!check (t, log != NULL, "open: %s", errtext (&errors, err, sizeof err)))
        goto done;
    check (t, forensic_stats (log).files_deleted == 3, "by size: 3 of 4 removed (%llu)",
           (unsigned long long) forensic_stats (log).files_deleted);
    check (t, exists (dir, "forensic-20200101T000003Z-000000.log")
              && !exists (dir, "forensic-20200101T000002Z-000000.log"), "the newest kept");
    check (t, exists (dir, "other.txt"), "a file not named like a log is left alone");
    check (t, count_logs (dir) == 2, "the kept one and the new one");
    fake_log (dir, "forensic-20200101T000003Z-000000.log", 1000, 2 * 86400);
    fake_log (dir, "forensic-20200101T000004Z-000000.log", 1000, 3600);
    forensic_tick (log);
    check (t, !exists (dir, "forensic-20200101T000003Z-000000.log")
              && exists (dir, "forensic-20200101T000004Z-000000.log"),
           "by age at the tick: 2 days old removed, 1 hour old kept");
    check (t, count_logs (dir) == 2 && forensic_stats (log).files_deleted == 4,
           "the open file is never removed");
    forensic_close (&log);
done:
    config_destroy (&cfg);
}

static void
test_keys (tally_t *t, const char *top, const char *key_file)
{
    char path[600], err[1400], text[200];
    uint8_t key[FORENSIC_KEY_BYTES];
    struct stat st = { 0 };
    check (t, stat (key_file, &st) == 0 && (st.st_mode & 0777) == 0600, "a new key is 0600 (%o)",
           (unsigned) st.st_mode & 0777);
    check (t, forensic_key_new (key_file, err, sizeof err) == -1 && strstr (err, key_file)
              && strstr (err, "already exists"), "key_new refuses to overwrite: %s", err);
    check (t, forensic_key_load (key_file, key, err, sizeof err) == 0, "load: %s", err);

    snprintf (path, sizeof path, "%s/open.key", top);
    snprintf (text, sizeof text, "%064d\n", 7);
    write_file (top, "open.key", text, path, sizeof path);
    chmod (path, 0644);
    check (t, forensic_key_load (path, key, err, sizeof err) == -1 && strstr (err, path)
              && strstr (err, "0644"), "mode 0644 refused: %s", err);
    chmod (path, 0600);
    check (t, forensic_key_load (path, key, err, sizeof err) == 0 && key[31] == 7,
           "the same file at 0600 loads: %s", err);
    const char *bad[] = { "xyz\n", "", "0123\n", "g000000000000000000000000000000000000000000000000000000000000000\n",
                          "00000000000000000000000000000000000000000000000000000000000000000\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file (top, "bad.key", bad[i], path, sizeof path);
        chmod (path, 0600);
        check (t, forensic_key_load (path, key, err, sizeof err) == -1 && strstr (err, "malformed")
                  && strstr (err, path), "malformed key %zu refused: %s", i, err);
    }
    snprintf (path, sizeof path, "%s/missing.key", top);
    check (t, forensic_key_load (path, key, err, sizeof err) == -1 && strstr (err, path)
              && strstr (err, strerror (ENOENT)), "a missing key: %s", err);
    config_t *cfg = make_config (top, path);
    config_errors_t errors = { 0 };
    check (t, forensic_open (cfg, &errors) == NULL
              && strstr (errtext (&errors, err, sizeof err), path),
           "open with a missing key fails, naming it: %s", err);
    config_destroy (&cfg);
}

/*  Append record N until DONE; OK[N] says whether it was reported written. */
static int
fill (forensic_t *log, int from, int to, bool *ok)
{
    int failures = 0;
    char rec[1100];
    for (int i = from; i < to; i++) {
        size_t len = make_record (rec, sizeof rec, i);
        ok[i] = forensic_append (log, rec, len) == 0;
        failures += !ok[i];
    }
    return failures;
}

static void
full_disk_run (tally_t *t, const char *mnt, const char *key_file, const uint8_t *key)
{
    char dir[700], filler[700], err[1400];
    static bool ok[400];
    snprintf (dir, sizeof dir, "%s/log", mnt);
    snprintf (filler, sizeof filler, "%s/filler", mnt);
    int fd = open (filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char block[16384];
    memset (block, 'f', sizeof block);
    check (t, fd >= 0 && write (fd, block, sizeof block) == (ssize_t) sizeof block,
           "16 KiB of filler");
    if (fd >= 0)
        close (fd);
    config_t *cfg = make_config (dir, key_file);
    config_errors_t errors = { 0 };
    forensic_t *log = forensic_open (cfg, &errors);
    config_destroy (&cfg);
    if (!check (t, log != NULL, "open on the tmpfs: %s", errtext (&errors, err, sizeof err)))
        return;
    int failures = fill (log, 0, 300, ok);
    check (t, failures > 200, "the disk fills: %d of 300 appends fail", failures);
    check (t, forensic_stats (log).write_errors == (uint64_t) failures, "each failure counted (%llu)",
           (unsigned long long) forensic_stats (log).write_errors);
    check (t, unlink (filler) == 0, "space freed");
    check (t, fill (log, 300, 305, ok) == 0, "appends work again once there is room");
    forensic_close (&log);
    got_t got = { 0 };
    int bad, tampered;
    read_dir (dir, key, &got, &bad, &tampered);
    size_t expect = 0;
    bool same = true;
    char rec[1100];
    for (int i = 0; i < 305; i++) {
        if (!ok[i])
            continue;
        size_t len = make_record (rec, sizeof rec, i);
        same = same && expect < got.count && strlen (got.records[expect]) == len
               && memcmp (got.records[expect], rec, len) == 0;
        expect++;
    }
    check (t, same && got.count == expect,
           "every record reported written reads back, nothing else (%zu of %zu)", got.count,
           expect);
    check (t, tampered == 0 && bad >= 1, "the file that filled reads as truncated, not tampered");
    got_free (&got);
}

static void
test_full_disk (tally_t *t, const char *top, const char *key_file, const uint8_t *key)
{
    char mnt[600];
    snprintf (mnt, sizeof mnt, "%s/tmpfs", top);
    if (!check (t, geteuid () == 0, "the full-disk case needs root (to mount a tmpfs)"))
        return;
    mkdir (mnt, 0700);
    if (!check (t, mount ("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700") == 0,
                "mount a 64 KiB tmpfs on %s: %s", mnt, strerror (errno)))
        return;
    full_disk_run (t, mnt, key_file, key);
    check (t, umount2 (mnt, MNT_DETACH) == 0, "unmount %s: %s", mnt, strerror (errno));
}

int
main (void)
{
    tally_t t = { 0 };
    char top[] = "/tmp/test_forensic.XXXXXX", key_file[600], err[1400];
    uint8_t key[FORENSIC_KEY_BYTES];
    if (!check (&t, mkdtemp (top) != NULL, "mkdtemp"))
        return tally_report (&t);
    snprintf (key_file, sizeof key_file, "%s/forensic.key", top);
    mode_t old = umask (0);                 /* the mode must not depend on it */
    check (&t, forensic_key_new (key_file, err, sizeof err) == 0, "key_new: %s", err);
    umask (old);
    check (&t, forensic_key_load (key_file, key, err, sizeof err) == 0, "key_load: %s", err);
    test_keys (&t, top, key_file);
    test_round_trip (&t, top, key_file, key);
    test_rotate_by_age (&t, top, key_file, key);
    test_damage (&t, top, key_file, key);
    test_retention (&t, top, key_file);
    test_full_disk (&t, top, key_file, key);
    remove_tree (top);
    return tally_report (&t);
}
