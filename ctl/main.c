/*  dpi-dualctl — the operator's command line for dpi-dual.

    dpi-dualctl --help: what each command does, its options and exit codes
    (each command's own --help, in turn); a usage error prints the short
    usage on stderr and exits 2.                                            */
#include <stdio.h>
#include <string.h>

#include <czmq.h>

#include "ctl.h"
#include "log.h"

typedef struct {
    const ctl_command_t *command;
    int (*run) (int argc, char **argv);
    const char *summary;
} entry_t;

static const entry_t s_commands[] = {
    { &ctl_config_command, cmd_config, "check a configuration file; convert a UCI file to YAML" },
    { &ctl_keys_command, cmd_keys, "write a CURVE certificate pair, or the forensic log's key" },
    { &ctl_tail_command, cmd_tail, "print bus messages as JSON lines" },
    { &ctl_flows_command, cmd_flows, "the most recent flows from tap.flow, as a table" },
    { &ctl_status_command, cmd_status, "which workers run, from their heartbeats and tap.stats" },
    { &ctl_topology_command, cmd_topology, "hosts, workers, who feeds whom (tree, JSON, Graphviz)" },
    { &ctl_start_command, cmd_start, "start this host's workers (systemd, procd, or as daemons)" },
    { &ctl_stop_command, cmd_stop, "stop the workers start started (pid file checked by lock)" },
    { &ctl_restart_command, cmd_restart, "stop, then start" },
    { &ctl_mitm_options_command, cmd_mitm_options, "mitmdump's addon options from the YAML; --check the running ones" },
    { &ctl_mitmdump_command, cmd_mitmdump, "run mitmdump with the addon and its options from the YAML" },
    { &ctl_context_command, cmd_context, "dpi-buffer: the recent requests of a client address" },
    { &ctl_replay_command, cmd_replay, "dpi-buffer: analyse a client's requests again" },
    { &ctl_buffer_command, cmd_buffer, "dpi-buffer: its counters (stats), its newest requests (dump)" },
    { &ctl_forensic_command, cmd_forensic, "decrypt the forensic log of dpi-buffer as JSON lines" },
    { &ctl_threats_command, cmd_threats, "dpi-correlator: its newest correlated threats" },
    { &ctl_reputation_command, cmd_reputation, "dpi-correlator: an address's reputation, or the worst" },
    { &ctl_ban_command, cmd_ban, "dpi-correlator: ban an address or range" },
    { &ctl_unban_command, cmd_unban, "dpi-correlator: lift a ban" },
    { &ctl_whitelist_command, cmd_whitelist, "dpi-correlator: the ranges never banned" },
};
#define COMMANDS (sizeof s_commands / sizeof s_commands[0])

/*  The commands, one line each; with DETAILS, then each one's help.        */
static void
usage (FILE *out, bool details)
{
    fprintf (out, "usage: dpi-dualctl COMMAND [ARGS]    (dpi-dualctl COMMAND --help: its own help)\n"
                  "\n");
    for (size_t i = 0; i < COMMANDS; i++)
        fprintf (out, "  %-12s %s\n", s_commands[i].command->name, s_commands[i].summary);
    fprintf (out, "\nEvery command but keys new takes -c FILE (default: $DPI_DUAL_CONFIG, else "
                  CONFIG_DEFAULT_PATH " when it exists).\n"
                  "Exit status: 0 done, 1 failed (see each command), 2 usage error,\n"
                  "3 damaged data (forensic export), workers left running (stop).\n");
    for (size_t i = 0; i < COMMANDS; i++) {
        if (details)
            fprintf (out, "\n");
        fprintf (out, "%s", s_commands[i].command->usage);
        if (details)
            fprintf (out, "\n%s", s_commands[i].command->help);
    }
}

int
main (int argc, char **argv)
{
    log_init ("dpi-dualctl", "warning");
    zsys_init ();
    zsys_set_logstream (stderr);        /* stdout is for the command's output */
    if (argc >= 2 && ctl_is_help (argv[1])) {
        usage (stdout, true);
        return 0;
    }
    if (argc < 2) {
        usage (stderr, false);
        return 2;
    }
    for (size_t i = 0; i < COMMANDS; i++)
        if (strcmp (argv[1], s_commands[i].command->name) == 0)
            return s_commands[i].run (argc - 1, argv + 1);
    fprintf (stderr, "dpi-dualctl: unknown command '%s'\n", argv[1]);
    usage (stderr, false);
    return 2;
}
