/*  dpi-dualctl config check [-c FILE | FILE]
    dpi-dualctl config import-uci FILE [-o OUT]     (cmd_uci.c)
    dpi-dualctl config workers [-c FILE | FILE]

    workers: this host's workers (config_host_workers), one name a line,
    for /etc/init.d/dpi-dual (openwrt/).

    check:

    Loads the configuration (FILE, else $DPI_DUAL_CONFIG, else the default
    path when it exists, else the defaults), then asks every worker what it
    would refuse at start without starting it: the collector's BPF filter
    compiles, the bridge's rules file compiles and its ban file loads, the
    buffer's modsecurity.conf and CRS load (at buffer.paranoia and
    buffer.replay_paranoia) and its forensic key is usable, the CURVE
    certificates load; paths made from global.run_dir fit a unix
    socket (config_load). A configuration that passes starts.

    Prints the effective configuration (exit 0), or every error on stderr,
    one a line, "FILE:LINE:COL: KEY: reason" where a key is to blame
    (exit 1); 2 on a usage error.                                           */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "bridge.h"
#include "buffer.h"
#include "correlator.h"
#include "capture.h"
#include "ctl.h"

/*  The start-up checks of every worker; 0 or -1 with ERRORS filled.        */
static int
check_workers (const config_t *cfg, config_errors_t *errors)
{
    int rc = bus_check (cfg, errors);
    rc |= capture_check (cfg, errors);
    rc |= bridge_check (cfg, errors);
    rc |= buffer_check (cfg, errors);
    rc |= correlator_check (cfg, errors);
    bool here[WORKER_COUNT];
    config_host_workers (cfg, here);
    if (here[WORKER_API])           /* the token file exists only where it runs */
        rc |= api_check (cfg, errors);
    return rc;
}

const ctl_command_t ctl_config_command = {
    .name = "config",
    .usage = "usage: dpi-dualctl config check [-c FILE | FILE]\n"
             "       dpi-dualctl config import-uci UCI-FILE [-o OUT]\n"
             "       dpi-dualctl config workers [-c FILE | FILE]\n",
    .help =
        "check: loads FILE over the built-in defaults, then runs every worker's start-up\n"
        "checks without starting anything (the collector's tap.bpf compiles, the\n"
        "bridge's rules file compiles and its ban file loads, the CURVE certificates\n"
        "load, socket paths made from global.run_dir fit): a configuration that\n"
        "passes starts. Prints the effective configuration (every key, as YAML) on\n"
        "stdout, or every error on stderr, one a line, as\n"
        "FILE:LINE:COL: KEY: reason (or FILE: cannot open: reason).\n"
        "\n"
        "  FILE, -c, --config FILE\n"
        "                     the file to check (default: $DPI_DUAL_CONFIG, else\n"
        "                     " CONFIG_DEFAULT_PATH "; when that one does not\n"
        "                     exist, the built-in defaults are printed)\n"
        CTL_HELP_HELP
        "\n"
        "import-uci: converts an OpenWrt UCI file — SecuBox's /etc/config/dpi-dual, or\n"
        "this package's own (config TYPE = a YAML section, option NAME = a key of it,\n"
        "a nested key joined by _: option curve_enabled of config bus is\n"
        "bus.curve.enabled) — to the YAML, on stdout. Each SecuBox option becomes:\n"
        "  settings.enabled            (read by /etc/init.d/dpi-dual: 0 starts nothing)\n"
        "  settings.mode               global.mode\n"
        "  settings.stats_dir          global.compat_dir, and global.compat: true\n"
        "  settings.correlation, correlation.enabled, tap.enabled, mitm.enabled\n"
        "                              '0': global.workers without the correlator,\n"
        "                              collector, bridge-mitm and buffer\n"
        "  mitm.buffer_size            buffer.size\n"
        "  mitm.replay_on_alert        '0': buffer.replay_on_score 0\n"
        "  tap.interface               tap.interface\n"
        "  correlation.window, .output, .auto_ban, .sensitivity (custom: medium)\n"
        "                              the correlation key of the same name\n"
        "  correlation.auto_ban_threshold  correlation.threat_threshold\n"
        "  correlation.auto_ban_duration   correlation.ban_duration (4h, 30m: seconds)\n"
        "  correlation.watch_crowdsec  crowdsec.enabled (only with a key file given)\n"
        "  scoring.*                   correlation.scoring.*\n"
        "  whitelist: list ip          correlation.whitelist\n"
        "and these have no equivalent (a warning each, FILE:LINE, and a comment in the\n"
        "YAML): settings.flow_dir, mitm.async_analysis, mitm.buffer_dir, mitm.log_file,\n"
        "tap.mirror_source, tap.mirror_mode (mirror-setup.sh does the mirror),\n"
        "tap.flow_retention, tap.netifyd_instance, correlation.notifications,\n"
        "correlation.notification_threshold, correlation.reputation_decay and\n"
        "correlation.decay_interval (points taken every interval; a score here halves\n"
        "every correlation.reputation_decay seconds, given in UCI as option\n"
        "reputation_half_life), scoring.default, every option of section lan. An\n"
        "unknown section or option is a warning too. Values are checked as the YAML\n"
        "loader checks them; an error names UCI-FILE:LINE and nothing is written.\n"
        "\n"
        "  UCI-FILE           the UCI file to convert\n"
        "  -o, --output OUT   write the YAML to OUT (replaced atomically) instead of\n"
        "                     stdout (default: stdout)\n"
        "\n"
        "workers: prints this host's workers, one a line: global.workers, else those of\n"
        "global.mode (what dpi-dualctl start starts; the init script's instances).\n"
        "\n"
        "Exit status:\n"
        "  0  check: the configuration is valid (printed); import-uci: converted\n"
        "     (warnings allowed); workers: printed\n"
        "  1  it has errors (listed; import-uci: UCI-FILE:LINE: reason, a syntax error\n"
        "     or a bad value), a worker would refuse it, or FILE cannot be read\n"
        CTL_HELP_EXIT_USAGE,
};

/*  import-uci UCI-FILE [-o OUT]                                            */
static int
s_import_uci (const ctl_command_t *cmd, int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        bool option = strcmp (argv[i], "-o") == 0 || strcmp (argv[i], "--output") == 0;
        if (ctl_is_help (argv[i]))
            return ctl_help (cmd);
        if (option && i + 1 == argc)
            return ctl_usage_error (cmd, "%s needs a file", argv[i]);
        if (option) {
            if (out)
                return ctl_usage_error (cmd, "%s given twice", argv[i]);
            out = argv[++i];
            continue;
        }
        if (file || (argv[i][0] == '-' && argv[i][1]))
            return ctl_usage_error (cmd, "unexpected argument '%s'", argv[i]);
        file = argv[i];
    }
    if (!file)
        return ctl_usage_error (cmd, "import-uci: missing the UCI file");
    return ctl_import_uci (file, out);
}

int
cmd_config (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_config_command;
    if (argc >= 2 && ctl_is_help (argv[1]))
        return ctl_help (cmd);
    if (argc < 2)
        return ctl_usage_error (cmd, "missing the subcommand (check, import-uci, workers)");
    if (strcmp (argv[1], "import-uci") == 0)
        return s_import_uci (cmd, argc, argv);
    bool workers = strcmp (argv[1], "workers") == 0;
    if (!workers && strcmp (argv[1], "check") != 0)
        return ctl_usage_error (cmd, "unknown subcommand '%s'", argv[1]);
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        bool option = strcmp (argv[i], "-c") == 0 || strcmp (argv[i], "--config") == 0;
        if (ctl_is_help (argv[i]))
            return ctl_help (cmd);
        if (option && i + 1 == argc)
            return ctl_usage_error (cmd, "%s needs a FILE", argv[i]);
        if (path || (!option && argv[i][0] == '-'))
            return ctl_usage_error (cmd, "unexpected argument '%s'", argv[i]);
        path = option ? argv[++i] : argv[i];
    }
    config_t *cfg = config_load_verbose (path);
    if (!cfg)
        return 1;
    if (workers) {
        bool run[WORKER_COUNT];
        config_host_workers (cfg, run);
        for (int id = 0; id < WORKER_COUNT; id++)
            if (run[id])
                printf ("%s\n", worker_info (id)->name);
        config_destroy (&cfg);
        return fflush (stdout) == 0 ? 0 : 1;
    }
    config_errors_t errors = { 0 };
    int rc = check_workers (cfg, &errors) == 0 && errors.count == 0 ? 0 : 1;
    if (rc == 0)
        config_print (cfg, stdout);
    config_errors_print (&errors, stderr);
    config_errors_clear (&errors);
    config_destroy (&cfg);
    return rc;
}
