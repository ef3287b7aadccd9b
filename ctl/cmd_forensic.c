/*  dpi-dualctl forensic export [-c FILE] [--key KEYFILE] [--ip IP]
                                [--since T] [PATH...]

    Decrypts the forensic log of dpi-buffer (buffer/forensic.h) and prints
    its records as JSON lines on stdout, file after file (a directory's log
    files in name order, which is their order of creation). --ip and --since
    parse each record (jansson) and keep those whose "client_ip" is IP and
    whose "ts_ns" is at or after T. A file that was tampered with or cut
    short is said on stderr (file, offset, what) after the records before
    the damage; the export goes on with the next file and exits 3.          */
#define _GNU_SOURCE                 /* strptime, timegm                     */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "ctl.h"
#include "forensic.h"

const ctl_command_t ctl_forensic_command = {
    .name = "forensic",
    .usage = "usage: dpi-dualctl forensic export [-c FILE] [--key KEYFILE] [--ip IP] [--since T]\n"
             "                                   [PATH...]\n",
    .help =
        "Decrypts the forensic log written by dpi-buffer (buffer.forensic.*) and prints\n"
        "its records on stdout, one JSON object a line, in the order they were written.\n"
        "A file that was tampered with or cut short (a crash, a full disk) is reported\n"
        "on stderr with its offset and what is wrong; the records before that point are\n"
        "printed, nothing after it in that file. The file dpi-buffer is writing (it\n"
        "holds a lock on it) is read up to its last record and is not an error.\n"
        "\n"
        "  PATH...            log files, or directories whose forensic-*.log files are\n"
        "                     read in name order (default: buffer.forensic.dir)\n"
        "  --key KEYFILE      the key (default: buffer.forensic.key_file); it must\n"
        "                     have mode 0600\n"
        "  --ip IP            only the records whose \"client_ip\" is IP\n"
        "                     (default: every client)\n"
        "  --since T          only the records whose \"ts_ns\" is at or after T: an\n"
        "                     ISO-8601 UTC time (2026-12-05T10:00:00Z) or a time ago,\n"
        "                     -Ns, -Nm, -Nh or -Nd (-30m, -1h, -2d) (default: all)\n"
        CTL_HELP_CONFIG
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  every file read to its end\n"
        "  1  the config does not load, the key or a PATH cannot be read, or stdout\n"
        "     cannot be written\n"
        CTL_HELP_EXIT_USAGE
        "  3  a file was tampered with or cut short (said on stderr; every file is\n"
        "     read first)\n",
};

typedef struct {
    const char *config_path;
    const char *key_path;
    const char *ip;
    bool since_set;
    uint64_t since_ns;
    char **paths;
    int npaths;
} export_opts_t;

typedef struct {
    const export_opts_t *o;
    const char *path;               /* the file being read                  */
    uint64_t index;                 /* of the record in it                  */
    bool failed, data_error;
} export_t;

/*  T of --since into *NS: an ISO-8601 UTC time, or -N[smhd] ago. 0 or -1. */
static int
parse_since (const char *arg, uint64_t *ns)
{
    struct tm tm = { 0 };
    const char *end = strptime (arg, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end && !*end) {
        time_t t = timegm (&tm);
        if (t < 0)
            return -1;
        *ns = (uint64_t) t * 1000000000ull;
        return 0;
    }
    char unit = 0, extra = 0;
    unsigned long n = 0;
    if (arg[0] != '-' || arg[1] < '0' || arg[1] > '9'
        || sscanf (arg + 1, "%lu%c%c", &n, &unit, &extra) != 2)
        return -1;
    uint64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    if (!scale || n > 100ul * 366 * 86400 / scale)
        return -1;
    uint64_t ago = (uint64_t) n * scale;
    *ns = (uint64_t) now.tv_sec > ago ? ((uint64_t) now.tv_sec - ago) * 1000000000ull : 0;
    return 0;
}

/*  ARGV after "export" into O. 0, or 2 (a usage error, said).               */
static int
parse_options (const ctl_command_t *cmd, int argc, char **argv, export_opts_t *o)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        bool takes = !strcmp (arg, "-c") || !strcmp (arg, "--config") || !strcmp (arg, "--key")
                     || !strcmp (arg, "--ip") || !strcmp (arg, "--since");
        if (takes && i + 1 == argc)
            return ctl_usage_error (cmd, "%s needs a value", arg);
        const char *value = takes ? argv[++i] : NULL;
        struct in6_addr addr;
        if (!strcmp (arg, "-c") || !strcmp (arg, "--config"))
            o->config_path = value;
        else if (!strcmp (arg, "--key"))
            o->key_path = value;
        else if (!strcmp (arg, "--ip")) {
            if (inet_pton (AF_INET, value, &addr) != 1 && inet_pton (AF_INET6, value, &addr) != 1)
                return ctl_usage_error (cmd, "bad value '%s' for --ip: an IPv4 or IPv6 address",
                                        value);
            o->ip = value;
        } else if (!strcmp (arg, "--since")) {
            if (parse_since (value, &o->since_ns) != 0)
                return ctl_usage_error (cmd, "bad value '%s' for --since: 2026-12-05T10:00:00Z, "
                                        "or -N with s, m, h or d", value);
            o->since_set = true;
        } else if (arg[0] == '-' && arg[1])
            return ctl_usage_error (cmd, "unknown option '%s'", arg);
        else
            o->paths[o->npaths++] = argv[i];
    }
    return 0;
}

/*  Does the record pass --ip and --since? A record that is not a JSON
    object is said and makes the export's status 3.                         */
static bool
keep (export_t *e, const char *record, size_t len)
{
    if (!e->o->ip && !e->o->since_set)
        return true;
    json_error_t error;
    json_t *root = json_loadb (record, len, 0, &error);
    if (!json_is_object (root)) {
        fprintf (stderr, "dpi-dualctl forensic: %s: record %" PRIu64 ": not a JSON object%s%s\n",
                 e->path, e->index, root ? "" : ": ", root ? "" : error.text);
        e->data_error = true;
        json_decref (root);
        return false;
    }
    const char *ip = json_string_value (json_object_get (root, "client_ip"));
    json_t *ts = json_object_get (root, "ts_ns");
    uint64_t ts_ns = 0;
    if (json_is_integer (ts) && json_integer_value (ts) > 0)
        ts_ns = (uint64_t) json_integer_value (ts);
    else if (json_is_string (ts))
        ts_ns = strtoull (json_string_value (ts), NULL, 10);
    bool ok = (!e->o->ip || (ip && strcmp (ip, e->o->ip) == 0))
              && (!e->o->since_set || ts_ns >= e->o->since_ns);
    json_decref (root);
    return ok;
}

static int
print_record (void *arg, const char *record, size_t len)
{
    export_t *e = arg;
    e->index++;
    if (keep (e, record, len)) {
        fwrite (record, 1, len, stdout);
        fputc ('\n', stdout);
    }
    return 0;
}

static void
export_file (export_t *e, const char *path, const uint8_t *key)
{
    char error[4200];
    forensic_read_t r;
    e->path = path;
    e->index = 0;
    if (forensic_read_file (path, key, print_record, e, &r, error, sizeof error) == 0)
        return;
    if (r.live && r.truncated && !r.tampered) {
        fprintf (stderr, "dpi-dualctl forensic: %s: being written by dpi-buffer: its %llu "
                 "records so far exported\n", path, (unsigned long long) r.records);
        return;
    }
    fprintf (stderr, "dpi-dualctl forensic: %s%s\n", error,
             r.tampered ? " (tampered: nothing after it is trusted)"
             : r.truncated ? " (truncated)" : "");
    if (r.tampered || r.truncated)
        e->data_error = true;
    else
        e->failed = true;
}

static int
log_name (const struct dirent *de)
{
    size_t len = strlen (de->d_name);
    return strncmp (de->d_name, "forensic-", 9) == 0 && len > 13
           && strcmp (de->d_name + len - 4, ".log") == 0;
}

/*  PATH: a file, or a directory of log files (name order).                */
static void
export_path (export_t *e, const char *path, const uint8_t *key)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        fprintf (stderr, "dpi-dualctl forensic: %s: %s\n", path, strerror (errno));
        e->failed = true;
        return;
    }
    if (!S_ISDIR (st.st_mode)) {
        export_file (e, path, key);
        return;
    }
    struct dirent **list;
    int n = scandir (path, &list, log_name, alphasort);
    if (n < 0) {
        fprintf (stderr, "dpi-dualctl forensic: %s: cannot list: %s\n", path, strerror (errno));
        e->failed = true;
        return;
    }
    for (int i = 0; i < n; i++) {
        char file[8192];
        snprintf (file, sizeof file, "%s/%s", path, list[i]->d_name);
        export_file (e, file, key);
        free (list[i]);
    }
    free (list);
}

/*  Read every PATH (or buffer.forensic.dir) with the key. The exit code.  */
static int
export (export_opts_t *o)
{
    config_t *cfg = NULL;
    if (!o->key_path || !o->npaths) {
        if (!(cfg = config_load_verbose (o->config_path)))
            return 1;
        if (!o->key_path)
            o->key_path = cfg->buffer.forensic.key_file;
        if (!o->npaths)
            o->paths[o->npaths++] = cfg->buffer.forensic.dir;
    }
    uint8_t key[FORENSIC_KEY_BYTES];
    char error[4200];
    export_t e = { .o = o };
    if (forensic_key_load (o->key_path, key, error, sizeof error) != 0) {
        fprintf (stderr, "dpi-dualctl forensic: %s\n", error);
        e.failed = true;
    } else
        for (int i = 0; i < o->npaths; i++)
            export_path (&e, o->paths[i], key);
    sodium_memzero (key, sizeof key);
    config_destroy (&cfg);
    if (fflush (stdout) != 0 || ferror (stdout)) {
        fprintf (stderr, "dpi-dualctl forensic: cannot write stdout: %s\n", strerror (errno));
        e.failed = true;
    }
    return e.failed ? 1 : e.data_error ? 3 : 0;
}

int
cmd_forensic (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_forensic_command;
    for (int i = 1; i < argc; i++)
        if (ctl_is_help (argv[i]))
            return ctl_help (cmd);
    if (argc < 2)
        return ctl_usage_error (cmd, "missing the subcommand (export)");
    if (strcmp (argv[1], "export") != 0)
        return ctl_usage_error (cmd, "unknown subcommand '%s'", argv[1]);
    export_opts_t o = { .paths = calloc ((size_t) argc + 1, sizeof (char *)) };
    if (!o.paths) {
        fprintf (stderr, "dpi-dualctl forensic: out of memory\n");
        return 1;
    }
    int rc = parse_options (cmd, argc, argv, &o);
    if (rc == 0)
        rc = export (&o);
    free (o.paths);
    return rc;
}
