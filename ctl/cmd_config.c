/*  dpi-dualctl config check [-c FILE | FILE]                                */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

int
cmd_config (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv[1], "check") != 0) {
        fprintf (stderr, "usage: dpi-dualctl config check [-c FILE | FILE]\n");
        return 2;
    }
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp (argv[i], "-c") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf (stderr, "dpi-dualctl config check: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    config_t *cfg = config_load_verbose (path);
    if (!cfg)
        return 1;
    config_print (cfg, stdout);
    config_destroy (&cfg);
    return 0;
}
