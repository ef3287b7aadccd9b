/*  dpi-dualctl mitm-options [-c FILE] [--check]

    mitmdump cannot read the YAML, so the addon's options must repeat four
    keys of it: mitm.socket (dpi_socket), mitm.verdict_deadline_ms
    (dpi_verdict_deadline_ms), mitm.trusted_proxies (dpi_trusted_proxies)
    and mitm.body_bytes (dpi_body_bytes). Without --check, prints them as
    mitmdump's arguments, on one line:
        mitmdump -s dpi_bridge.py $(dpi-dualctl mitm-options) ...
    With --check, reads the command line of every running process that
    loads the addon (an argument ending in dpi_bridge.py; /proc/PID/cmdline,
    read only) and compares its --set values — or the addon's defaults for
    those it does not set — with the YAML, naming each difference. What
    mitmproxy's own config.yaml sets cannot be seen from here (said).

    Exit status: 0 printed, or every such mitmdump agrees; 1 some differ,
    none runs, or the configuration could not be used; 2 usage.

    dpi-dualctl mitmdump [-c FILE] [--dry-run]

    Runs mitm.mitmdump.command -s ADDON, the four options, then
    mitm.mitmdump.args, in the foreground (exec: the same pid), holding
    RUN_DIR/mitmdump.lock, which the exec'd mitmdump inherits: `start`,
    `stop` and `status` find it as they find a worker (procs.c). The
    systemd unit dpi-dual-mitmdump.service runs this; so does `start` as
    a daemon when mitm.mitmdump.start is true.                              */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "paths.h"

const ctl_command_t ctl_mitm_options_command = {
    .name = "mitm-options",
    .usage = "usage: dpi-dualctl mitm-options [-c FILE] [--check]\n",
    .help =
        "The addon's options for mitmdump, from the YAML (mitmdump cannot read it):\n"
        "dpi_socket (mitm.socket), dpi_verdict_deadline_ms (mitm.verdict_deadline_ms),\n"
        "dpi_trusted_proxies (mitm.trusted_proxies), dpi_body_bytes (mitm.body_bytes),\n"
        "printed as --set arguments on one line:\n"
        "    mitmdump -s .../dpi_bridge.py $(dpi-dualctl mitm-options) ...\n"
        "With --check, compares them with every running process that loads\n"
        "dpi_bridge.py (its command line's --set values, else the addon's defaults).\n"
        "\n"
        CTL_HELP_CONFIG
        "  --check            compare with the running mitmdumps instead of printing\n"
        "                     (default: print)\n"
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  printed; with --check, every mitmdump with the addon agrees\n"
        "  1  some differ (each named), none runs, or the configuration could not be\n"
        "     used\n"
        CTL_HELP_EXIT_USAGE,
};

const ctl_command_t ctl_mitmdump_command = {
    .name = "mitmdump",
    .usage = "usage: dpi-dualctl mitmdump [-c FILE] [--dry-run]\n",
    .help =
        "Runs mitmdump with the addon and its options from the YAML, in the\n"
        "foreground (the same pid: exec), holding RUN_DIR/mitmdump.lock:\n"
        "    COMMAND -s ADDON --set dpi_socket=... (the four) ARGS...\n"
        "COMMAND, ADDON and ARGS are mitm.mitmdump.command, .addon (\"\": the\n"
        "installed addon, else the source tree's) and .args. dpi-dualctl start runs\n"
        "this as a daemon when mitm.mitmdump.start is true; the systemd unit\n"
        "dpi-dual-mitmdump.service runs it too.\n"
        "\n"
        CTL_HELP_CONFIG
        "  --dry-run          print the command line instead of running it\n"
        CTL_HELP_HELP
        "\n"
        "Exit status: mitmdump's own once it runs; before:\n"
        "  0  --dry-run: printed\n"
        "  1  the configuration could not be used, no addon was found, another\n"
        "     mitmdump of this run directory holds its lock, or COMMAND cannot run\n"
        CTL_HELP_EXIT_USAGE,
};

/*  The addon's defaults (deploy/mitmproxy/dpi_bridge.py).                  */
#define ADDON_DEFAULT_SOCKET "/run/dpi-dual/bridge-mitm.sock"

enum { OPT_SOCKET, OPT_DEADLINE, OPT_PROXIES, OPT_BODY, OPTS };
static const char *const s_names[OPTS] = { "dpi_socket", "dpi_verdict_deadline_ms",
                                           "dpi_trusted_proxies", "dpi_body_bytes" };
static const char *const s_defaults[OPTS] = { ADDON_DEFAULT_SOCKET, "2", "127.0.0.1,::1",
                                              "16384" };

/*  The values the YAML asks for.                                            */
static void
expected (const config_t *cfg, char values[OPTS][4096])
{
    snprintf (values[OPT_SOCKET], 4096, "%s", cfg->mitm.socket);
    snprintf (values[OPT_DEADLINE], 4096, "%d", cfg->mitm.verdict_deadline_ms);
    size_t used = 0;
    values[OPT_PROXIES][0] = 0;
    for (size_t i = 0; i < cfg->mitm.trusted_proxies.count && used < 4096; i++)
        used += (size_t) snprintf (values[OPT_PROXIES] + used, 4096 - used, "%s%s", i ? "," : "",
                                   cfg->mitm.trusted_proxies.items[i]);
    snprintf (values[OPT_BODY], 4096, "%d", cfg->mitm.body_bytes);
}

/*  WORD on stdout, quoted for a POSIX shell when it needs it.               */
static void
print_word (const char *word)
{
    bool plain = *word != 0;
    for (const char *p = word; *p; p++)
        plain &= isalnum ((unsigned char) *p) || strchr ("/._-,:@+=", *p);
    if (plain) {
        fputs (word, stdout);
        return;
    }
    putchar ('\'');
    for (const char *p = word; *p; p++)
        *p == '\'' ? printf ("'\\''") : putchar (*p);
    putchar ('\'');
}

static void
print_arg (const char *name, const char *value, bool first)
{
    char set[4200];
    snprintf (set, sizeof set, "%s=%s", name, value);
    printf ("%s--set ", first ? "" : " ");
    print_word (set);
}

/*  Compare the process PID's ARGV (COUNT strings) with WANT; 0 agrees.    */
static int
check_one (long pid, char **argv, size_t count, char want[OPTS][4096], const char *prefix)
{
    const char *seen[OPTS] = { NULL };
    for (size_t i = 0; i < count; i++) {
        const char *set = NULL;
        if (strcmp (argv[i], "--set") == 0 && i + 1 < count)
            set = argv[++i];
        else if (strncmp (argv[i], "--set=", 6) == 0)
            set = argv[i] + 6;
        for (int o = 0; set && o < OPTS; o++) {
            size_t len = strlen (s_names[o]);
            if (strncmp (set, s_names[o], len) == 0 && set[len] == '=')
                seen[o] = set + len + 1;
        }
    }
    int rc = 0;
    for (int o = 0; o < OPTS; o++) {
        const char *value = seen[o] ? seen[o] : s_defaults[o];
        if (o == OPT_SOCKET && !*value)
            value = ADDON_DEFAULT_SOCKET;
        if (strcmp (value, want[o]) == 0)
            continue;
        printf ("%smitmdump pid %ld: %s is %s%s, the YAML says %s\n", rc ? prefix : "", pid,
                s_names[o], value,
                seen[o] ? "" : " (the addon's default; mitmproxy's config.yaml not read)",
                want[o]);
        rc = 1;
    }
    if (rc == 0)
        printf ("mitmdump pid %ld: agrees (dpi_socket %s, dpi_verdict_deadline_ms %s, "
                "dpi_trusted_proxies %s, dpi_body_bytes %s)\n", pid, want[OPT_SOCKET],
                want[OPT_DEADLINE], want[OPT_PROXIES], want[OPT_BODY]);
    return rc;
}

/*  Every process loading dpi_bridge.py checked, each line after PREFIX; 0
    when all agree and there is at least one.                                 */
static int
check_all (char want[OPTS][4096], const char *prefix)
{
    DIR *proc = opendir ("/proc");
    if (!proc)
        return 1;
    int rc = 0, found = 0;
    struct dirent *entry;
    while ((entry = readdir (proc))) {
        char *end;
        long pid = strtol (entry->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        static char data[65536];
        char *argv[1024];
        size_t count = ctl_proc_argv (pid, data, sizeof data, argv, 1024);
        if (!ctl_argv_loads_addon (argv, count))
            continue;
        found++;
        fputs (prefix, stdout);
        rc |= check_one (pid, argv, count, want, prefix);
    }
    closedir (proc);
    if (!found)
        fprintf (stderr, "%sno running process loads dpi_bridge.py\n", prefix);
    return found ? rc : 1;
}

int
ctl_mitm_check (const config_t *cfg, const char *prefix)
{
    static char want[OPTS][4096];
    expected (cfg, want);
    return check_all (want, prefix);
}

bool
ctl_mitm_addon (const config_t *cfg, char *out, size_t outlen)
{
    if (*cfg->mitm.mitmdump.addon) {
        snprintf (out, outlen, "%s", cfg->mitm.mitmdump.addon);
        return access (out, R_OK) == 0;
    }
    char self[PATH_MAX];
    if (ctl_self_path (true, self, sizeof self)) {
        snprintf (out, outlen, "%s/../share/dpi-dual/mitmproxy/dpi_bridge.py", self);
        char real[PATH_MAX];
        if (realpath (out, real) && access (real, R_OK) == 0) {
            snprintf (out, outlen, "%s", real);
            return true;
        }
    }
    snprintf (out, outlen, "%s", DPI_SOURCE_ADDON);       /* a build tree's */
    return access (out, R_OK) == 0;
}

/*  mitmdump's argv (COMMAND -s ADDON --set ... ARGS, NULL-terminated, the
    strings in WANT and CFG) into ARGV of MAX; false when it does not fit.  */
static bool
mitmdump_argv (const config_t *cfg, const char *addon, char want[OPTS][4096],
               char sets[OPTS][4200], char **argv, size_t max)
{
    size_t count = 0;
    if (3 + 2 * OPTS + cfg->mitm.mitmdump.args.count + 1 > max)
        return false;
    argv[count++] = cfg->mitm.mitmdump.command;
    argv[count++] = "-s";
    argv[count++] = (char *) addon;
    for (int o = 0; o < OPTS; o++) {
        snprintf (sets[o], 4200, "%s=%.4095s", s_names[o], want[o]);
        argv[count++] = "--set";
        argv[count++] = sets[o];
    }
    for (size_t i = 0; i < cfg->mitm.mitmdump.args.count; i++)
        argv[count++] = cfg->mitm.mitmdump.args.items[i];
    argv[count] = NULL;
    return true;
}

/*  RUN_DIR/mitmdump.lock taken, its descriptor left open across exec (the
    lock is mitmdump's then); false when held by another (said).            */
static bool
take_lock (const config_t *cfg)
{
    char path[4096];
    ctl_run_path (cfg, "mitmdump", "lock", path, sizeof path);
    if (paths_mkdir (cfg->global.run_dir, 0755) != 0) {
        fprintf (stderr, "dpi-dualctl mitmdump: %s: cannot create the run directory: %s\n",
                 cfg->global.run_dir, strerror (errno));
        return false;
    }
    int fd = open (path, O_RDWR | O_CREAT, 0644);          /* no O_CLOEXEC */
    if (fd < 0) {
        fprintf (stderr, "dpi-dualctl mitmdump: %s: %s\n", path, strerror (errno));
        return false;
    }
    if (flock (fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            fprintf (stderr, "dpi-dualctl mitmdump: another mitmdump of this run directory "
                     "runs (pid %ld holds %s)\n", ctl_lock_holder (cfg, "mitmdump"), path);
        else
            fprintf (stderr, "dpi-dualctl mitmdump: %s: %s\n", path, strerror (errno));
        close (fd);
        return false;
    }
    return true;
}

int
cmd_mitmdump (int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "dry-run", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const ctl_command_t *cmd = &ctl_mitmdump_command;
    const char *config_path = NULL;
    bool dry = false;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, "+:c:h", options, NULL)) != -1) {
        switch (opt) {
            case 'h': return ctl_help (cmd);
            case 'c': config_path = optarg; break;
            case 'n': dry = true; break;
            case ':': return ctl_usage_error (cmd, "%s needs a value", argv[optind - 1]);
            default: return ctl_usage_error (cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error (cmd, "unexpected argument '%s'", argv[optind]);
    config_t *cfg = config_load_verbose (config_path);
    if (!cfg)
        return 1;
    static char want[OPTS][4096], sets[OPTS][4200];
    char addon[PATH_MAX];
    char *run[1024];
    expected (cfg, want);
    int rc = 1;
    if (!ctl_mitm_addon (cfg, addon, sizeof addon))
        fprintf (stderr, "dpi-dualctl mitmdump: the addon %s cannot be read%s\n", addon,
                 *cfg->mitm.mitmdump.addon ? " (mitm.mitmdump.addon)"
                 : " (mitm.mitmdump.addon is \"\": the installed one, else the source "
                   "tree's): set mitm.mitmdump.addon");
    else if (!mitmdump_argv (cfg, addon, want, sets, run, 1024))
        fprintf (stderr, "dpi-dualctl mitmdump: mitm.mitmdump.args: too many arguments\n");
    else if (dry) {
        for (size_t i = 0; run[i]; i++) {
            fputs (i ? " " : "", stdout);
            print_word (run[i]);
        }
        putchar ('\n');
        rc = 0;
    }
    else if (take_lock (cfg)) {
        fflush (stdout);
        execvp (run[0], run);
        fprintf (stderr, "dpi-dualctl mitmdump: cannot run %s: %s (mitm.mitmdump.command)\n",
                 run[0], strerror (errno));
    }
    config_destroy (&cfg);
    return rc;
}

int
cmd_mitm_options (int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "check", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = NULL;
    bool check = false;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, "+:c:h", options, NULL)) != -1) {
        switch (opt) {
            case 'h': return ctl_help (&ctl_mitm_options_command);
            case 'c': config_path = optarg; break;
            case 'k': check = true; break;
            case ':':
                return ctl_usage_error (&ctl_mitm_options_command, "%s needs a value",
                                        argv[optind - 1]);
            default:
                return ctl_usage_error (&ctl_mitm_options_command, "unknown option '%s'",
                                        argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error (&ctl_mitm_options_command, "unexpected argument '%s'",
                                argv[optind]);
    config_t *cfg = config_load_verbose (config_path);
    if (!cfg)
        return 1;
    static char want[OPTS][4096];
    expected (cfg, want);
    int rc = 0;
    if (check)
        rc = check_all (want, "");
    else {
        for (int o = 0; o < OPTS; o++)
            print_arg (s_names[o], want[o], o == 0);
        putchar ('\n');
    }
    config_destroy (&cfg);
    return rc;
}
