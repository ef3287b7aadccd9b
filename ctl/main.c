/*  dpi-dualctl — the operator's command line for dpi-dual.                  */
#include <stdio.h>
#include <string.h>

#include <czmq.h>

#include "ctl.h"
#include "log.h"

static void
usage (FILE *out)
{
    fprintf (out,
        "usage: dpi-dualctl COMMAND [ARGS]\n"
        "\n"
        "  config check [-c FILE | FILE]   print the effective configuration, or its errors\n"
        "  keys new NAME [DIR]             write a CURVE certificate pair (DIR/NAME.cert{,_secret})\n"
        "  tail [-c FILE] [--connect EP]... [-n COUNT] [--timeout SEC] [--count-only]\n"
        "       [TOPIC-PREFIX...]\n"
        "                                  print bus messages as JSON lines\n"
        "  flows [-c FILE] [--connect EP]... [-n N] [--timeout SEC] [--json]\n"
        "                                  recent flows from tap.flow, newest first\n"
        "  status [-c FILE] [--connect EP]... [--timeout SEC] [--json]\n"
        "                                  which workers run, from their heartbeats\n"
        "\n"
        "Every command but keys takes -c FILE (default " CONFIG_DEFAULT_PATH " when it exists).\n");
}

int
main (int argc, char **argv)
{
    log_init ("dpi-dualctl", "warning");
    zsys_init ();
    zsys_set_logstream (stderr);        /* stdout is for the command's output */
    if (argc < 2 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0) {
        usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp (cmd, "config") == 0)
        return cmd_config (argc - 1, argv + 1);
    if (strcmp (cmd, "keys") == 0)
        return cmd_keys (argc - 1, argv + 1);
    if (strcmp (cmd, "tail") == 0)
        return cmd_tail (argc - 1, argv + 1);
    if (strcmp (cmd, "flows") == 0)
        return cmd_flows (argc - 1, argv + 1);
    if (strcmp (cmd, "status") == 0)
        return cmd_status (argc - 1, argv + 1);
    fprintf (stderr, "dpi-dualctl: unknown command '%s'\n", cmd);
    usage (stderr);
    return 2;
}
