/*  dpi-dualctl config check [-c FILE | FILE]

    Loads FILE over the built-in defaults and prints the effective
    configuration, or every error. Exit 0 valid, 1 errors, 2 usage error.  */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

const ctl_command_t ctl_config_command = {
    .name = "config",
    .usage = "usage: dpi-dualctl config check [-c FILE | FILE]\n",
    .help =
        "Loads FILE over the built-in defaults and prints the effective configuration\n"
        "(every key, as YAML) on stdout, or every error on stderr, one a line, as\n"
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
        "  1  it has errors (listed), or FILE cannot be read\n"
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
    config_print (cfg, stdout);
    config_destroy (&cfg);
    return 0;
}
