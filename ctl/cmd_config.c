/*  dpi-dualctl config check [-c FILE | FILE]

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
    .usage = "usage: dpi-dualctl config check [-c FILE | FILE]\n",
    .help =
        "Loads FILE over the built-in defaults, then runs every worker's start-up\n"
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
        "Exit status:\n"
        "  0  the configuration is valid (printed)\n"
        "  1  it has errors (listed), a worker would refuse it, or FILE cannot be read\n"
        CTL_HELP_EXIT_USAGE,
};

int
cmd_config (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_config_command;
    if (argc >= 2 && ctl_is_help (argv[1]))
        return ctl_help (cmd);
    if (argc < 2)
        return ctl_usage_error (cmd, "missing the subcommand (check)");
    if (strcmp (argv[1], "check") != 0)
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
    config_errors_t errors = { 0 };
    int rc = check_workers (cfg, &errors) == 0 && errors.count == 0 ? 0 : 1;
    if (rc == 0)
        config_print (cfg, stdout);
    config_errors_print (&errors, stderr);
    config_errors_clear (&errors);
    config_destroy (&cfg);
    return rc;
}
