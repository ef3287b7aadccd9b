/*  ctl.h — the subcommands of dpi-dualctl, one file each.                   */
#ifndef DPI_CTL_H
#define DPI_CTL_H

#include "config.h"

/*  Each returns the process exit code. ARGV[0] is the subcommand name.      */
int cmd_config (int argc, char **argv);
int cmd_keys (int argc, char **argv);
int cmd_tail (int argc, char **argv);

/*  Load the config named by -c (NULL: the default path, else defaults),
    printing the errors on stderr; NULL on error.                           */
config_t *ctl_load_config (const char *path);

#endif
