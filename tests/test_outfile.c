/*  test_outfile.c — common/outfile.c (checked streams, atomic snapshots)
    and common/paths.c (mkdir -p).

    Catches: a write error that is not counted (/dev/full only fails at the
    flush: a module that checks fwrite alone passes it), a reopen that
    truncates or keeps writing to the rotated file, an append that
    truncates, a snapshot that leaves
    its temporary file or harms the old file when it fails, a write cut part
    way that leaves half a line in the file or is not counted, a mkdir -p that
    stops at the first missing level.                                         */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errtext.h"
#include "outfile.h"
#include "paths.h"
#include "tally.h"

/*  The content of PATH into BUF ("" when it cannot be read).               */
static const char *
slurp (const char *path, char *buf, size_t size)
{
    FILE *f = fopen (path, "r");
    size_t n = f ? fread (buf, 1, size - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose (f);
    return buf;
}

static void
test_stream (tally_t *t, const char *dir)
{
    char path[600], rotated[700], text[256], err[512];
    snprintf (path, sizeof path, "%s/events.jsonl", dir);
    snprintf (rotated, sizeof rotated, "%s.1", path);
    config_errors_t errors = { 0 };
    outfile_t *out = outfile_open (path, &errors);
    if (!check (t, out != NULL, "open: %s", errtext (&errors, err, sizeof err)))
        return;
    check (t, outfile_write (out, "one\n", 4) == 0 && outfile_flush (out) == 0, "write one");
    check (t, rename (path, rotated) == 0, "rotate");
    check (t, outfile_write (out, "two\n", 4) == 0 && outfile_reopen (out) == 0, "two, reopen");
    check (t, outfile_write (out, "three\n", 6) == 0 && outfile_close (&out) == 0 && !out,
           "three, close");
    check (t, strcmp (slurp (rotated, text, sizeof text), "one\ntwo\n") == 0,
           "the rotated file: '%s'", text);
    check (t, strcmp (slurp (path, text, sizeof text), "three\n") == 0, "the new file: '%s'", text);

    /* append mode: what was there stays (the correlator's threat log)   */
    out = outfile_open_mode (rotated, true, &errors);
    check (t, out && outfile_write (out, "four\n", 5) == 0 && outfile_close (&out) == 0,
           "append: open, write, close");
    check (t, strcmp (slurp (rotated, text, sizeof text), "one\ntwo\nfour\n") == 0,
           "appended: '%s'", text);

    snprintf (path, sizeof path, "%s/no/such/dir/x", dir);
    check (t, !outfile_open (path, &errors), "open in a missing directory fails");
    check (t, strstr (errtext (&errors, err, sizeof err), "/no/such/dir/x: cannot open: ") != NULL,
           "its reason: %s", err);
}

static void
test_full_disk (tally_t *t)
{
    config_errors_t errors = { 0 };
    outfile_t *out = outfile_open ("/dev/full", &errors);
    if (!check (t, out != NULL, "open /dev/full"))
        return;
    check (t, outfile_write (out, "x\n", 2) == 0, "a small write is buffered");
    check (t, outfile_flush (out) == -1 && outfile_errors (out) == 1, "the flush fails, counted");
    char big[65536];
    memset (big, 'y', sizeof big);
    check (t, outfile_write (out, big, sizeof big) == -1 && outfile_errors (out) == 2,
           "a write past the buffer fails, counted");
    check (t, outfile_write (out, "z", 1) == 0, "one more byte, buffered");
    check (t, outfile_close (&out) == -1 && !out, "close: its flush fails, said");
}

/*  A write the disk stops part way (RLIMIT_FSIZE makes write(2) short, then
    EFBIG, as a full disk does with ENOSPC): the part is cut off again, the
    lines are counted lost, the file holds whole lines only.                */
static void
test_cut (tally_t *t, const char *dir)
{
    char path[600], text[256], line[41];
    snprintf (path, sizeof path, "%s/cut.jsonl", dir);
    memset (line, 'a', 39);
    line[39] = '\n';
    line[40] = 0;
    config_errors_t errors = { 0 };
    outfile_t *out = outfile_open_mode (path, true, &errors);
    if (!check (t, out != NULL, "open %s", path))
        return;
    struct rlimit old, small = { 100, 0 };
    getrlimit (RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    signal (SIGXFSZ, SIG_IGN);
    setrlimit (RLIMIT_FSIZE, &small);
    for (int i = 0; i < 3; i++)
        outfile_write (out, line, 40);
    check (t, outfile_flush (out) == -1 && outfile_lines_lost (out) == 3,
           "120 bytes past a 100-byte limit: failed, 3 lines lost (%llu)",
           (unsigned long long) outfile_lines_lost (out));
    check (t, strcmp (slurp (path, text, sizeof text), "") == 0, "the part was cut off: '%s'", text);
    outfile_write (out, line, 40);
    outfile_write (out, line, 40);
    check (t, outfile_flush (out) == 0, "2 lines fit");
    outfile_write (out, line, 40);
    check (t, outfile_flush (out) == -1 && outfile_lines_lost (out) == 4, "the third does not: lost");
    check (t, strlen (slurp (path, text, sizeof text)) == 80 && text[79] == '\n',
           "the file holds the 2 whole lines only (%zu bytes)", strlen (text));
    int fd = open (path, O_WRONLY | O_APPEND);
    check (t, fd >= 0 && outfile_write_whole (fd, line, 40) == -1 && errno == EFBIG,
           "outfile_write_whole past the limit: -1, EFBIG");
    check (t, strlen (slurp (path, text, sizeof text)) == 80, "and nothing of it stays");
    if (fd >= 0)
        close (fd);
    setrlimit (RLIMIT_FSIZE, &old);
    signal (SIGXFSZ, SIG_DFL);
    check (t, outfile_close (&out) == 0, "close");
}

static void
test_snapshot (tally_t *t, const char *dir)
{
    char path[600], text[256];
    snprintf (path, sizeof path, "%s/compat/deep/dpi-flows.json", dir);
    outfile_snapshot_t snap;
    FILE *f = outfile_snapshot_begin (&snap, path, 7);
    if (!check (t, f != NULL, "begin (the directories are made)"))
        return;
    fputs ("{\"v\":1}\n", f);
    check (t, access (path, F_OK) != 0, "nothing at the path before the commit");
    check (t, outfile_snapshot_commit (&snap) == 0, "commit");
    check (t, strcmp (slurp (path, text, sizeof text), "{\"v\":1}\n") == 0, "content: %s", text);
    check (t, access (snap.temp, F_OK) != 0, "no temporary file left");

    /* a path that is a directory: rename fails, the directory stays */
    snprintf (path, sizeof path, "%s/compat", dir);
    f = outfile_snapshot_begin (&snap, path, 1);
    if (f)
        fputs ("new", f);
    struct stat st;
    check (t, f && outfile_snapshot_commit (&snap) == -1, "commit over a directory fails");
    check (t, stat (path, &st) == 0 && S_ISDIR (st.st_mode) && access (snap.temp, F_OK) != 0,
           "the directory is untouched and the temporary file removed");

    snprintf (path, sizeof path, "%s/deep/er/still", dir);
    check (t, paths_mkdir (path, 0755) == 0 && stat (path, &st) == 0 && S_ISDIR (st.st_mode),
           "paths_mkdir makes every level");
    check (t, paths_mkdir (path, 0755) == 0, "paths_mkdir of an existing directory");
    check (t, paths_mkdir ("/proc/no/such", 0755) == -1, "paths_mkdir where it cannot");
}

int
main (void)
{
    tally_t t = { 0 };
    char dir[] = "/tmp/test_outfile.XXXXXX";
    if (!check (&t, mkdtemp (dir) != NULL, "mkdtemp"))
        return tally_report (&t);
    test_stream (&t, dir);
    test_full_disk (&t);
    test_cut (&t, dir);
    test_snapshot (&t, dir);
    check (&t, remove_tree (dir), "remove %s", dir);
    return tally_report (&t);
}
