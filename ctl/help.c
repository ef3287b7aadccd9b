/*  help.c — see ctl.h: how each command describes itself (--help on stdout,
    exit 0) and a usage error (the short usage on stderr, exit 2).          */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

bool
ctl_is_help (const char *arg)
{
    return strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0;
}

int
ctl_help (const ctl_command_t *cmd)
{
    printf ("%s\n%s", cmd->usage, cmd->help);
    return 0;
}

int
ctl_usage_error (const ctl_command_t *cmd, const char *format, ...)
{
    if (format) {
        fprintf (stderr, "dpi-dualctl %s: ", cmd->name);
        va_list args;
        va_start (args, format);
        vfprintf (stderr, format, args);
        va_end (args);
        fputc ('\n', stderr);
    }
    fprintf (stderr, "%s(dpi-dualctl %s --help for the options and exit codes)\n", cmd->usage,
             cmd->name);
    return 2;
}
