/*  dpi-dualctl config check [-c FILE | FILE]

    Loads the configuration (FILE, else $DPI_DUAL_CONFIG, else the default
    path when it exists, else the defaults), then asks every worker what it
    would refuse at start without starting it: the collector's BPF filter
    compiles, the bridge's rules file compiles and its ban file loads, the
    CURVE certificates load; paths made from global.run_dir fit a unix
    socket (config_load). A configuration that passes starts.

    Prints the effective configuration (exit 0), or every error on stderr,
    one a line, "FILE:LINE:COL: KEY: reason" where a key is to blame
    (exit 1); 2 on a usage error.                                           */
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "capture.h"
#include "ctl.h"

/*  The start-up checks of every worker; 0 or -1 with ERRORS filled.        */
static int
check_workers (const config_t *cfg, config_errors_t *errors)
{
    int rc = bus_check (cfg, errors);
    rc |= capture_check (cfg, errors);
    rc |= bridge_check (cfg, errors);
    return rc;
}

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
    config_errors_t errors = { 0 };
    int rc = check_workers (cfg, &errors) == 0 && errors.count == 0 ? 0 : 1;
    if (rc == 0)
        config_print (cfg, stdout);
    config_errors_print (&errors, stderr);
    config_errors_clear (&errors);
    config_destroy (&cfg);
    return rc;
}
