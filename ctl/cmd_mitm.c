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
    none runs, or the configuration could not be used; 2 usage.          */
#include <ctype.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

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

static void
print_arg (const char *name, const char *value, bool first)
{
    fputs (first ? "" : " ", stdout);
    bool plain = *value != 0;
    for (const char *p = value; *p; p++)
        plain &= isalnum ((unsigned char) *p) || strchr ("/._-,:@+=", *p);
    if (plain)
        printf ("--set %s=%s", name, value);
    else {
        printf ("--set '%s=", name);
        for (const char *p = value; *p; p++)
            *p == '\'' ? printf ("'\\''") : putchar (*p);
        putchar ('\'');
    }
}

/*  Compare the process PID's ARGV (COUNT strings) with WANT; 0 agrees.    */
static int
check_one (long pid, char **argv, size_t count, char want[OPTS][4096])
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
        printf ("mitmdump pid %ld: %s is %s%s, the YAML says %s\n", pid, s_names[o], value,
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

/*  Every process loading dpi_bridge.py checked; 0 when all agree and there
    is at least one.                                                          */
static int
check_all (char want[OPTS][4096])
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
        char path[64], data[65536];
        snprintf (path, sizeof path, "/proc/%ld/cmdline", pid);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        size_t n = fread (data, 1, sizeof data - 1, file);
        fclose (file);
        data[n] = 0;
        char *argv[1024];
        size_t count = 0;
        bool addon = false;
        for (size_t at = 0; at < n && count < 1024; at += strlen (data + at) + 1) {
            argv[count++] = data + at;
            size_t len = strlen (data + at);
            addon |= len >= 13 && strcmp (data + at + len - 13, "dpi_bridge.py") == 0;
        }
        if (!addon)
            continue;
        found++;
        rc |= check_one (pid, argv, count, want);
    }
    closedir (proc);
    if (!found)
        fprintf (stderr, "dpi-dualctl mitm-options: no running process loads dpi_bridge.py\n");
    return found ? rc : 1;
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
        rc = check_all (want);
    else {
        for (int o = 0; o < OPTS; o++)
            print_arg (s_names[o], want[o], o == 0);
        putchar ('\n');
    }
    config_destroy (&cfg);
    return rc;
}
