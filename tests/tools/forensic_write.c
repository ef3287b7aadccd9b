/*  forensic_write — test tool: appends each line of stdin (a JSON record)
    to the forensic log of the config, through forensic_open, _append and
    _close, as dpi-buffer will.

        dpi-forensic-write -c FILE < records.jsonl

    Exit 0 when every line was appended, 1 otherwise (the reasons on
    stderr), 2 on a usage error.                                             */
#define _GNU_SOURCE                 /* getline                              */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forensic.h"
#include "log.h"

int
main (int argc, char **argv)
{
    log_init ("dpi-forensic-write", "warning");
    if (argc != 3 || strcmp (argv[1], "-c") != 0) {
        fprintf (stderr, "usage: dpi-forensic-write -c FILE < records.jsonl\n");
        return 2;
    }
    config_t *cfg = config_load_verbose (argv[2]);
    if (!cfg)
        return 1;
    config_errors_t errors = { 0 };
    forensic_t *log = forensic_open (cfg, &errors);
    config_destroy (&cfg);
    if (!log) {
        config_errors_print (&errors, stderr);
        config_errors_clear (&errors);
        return 1;
    }
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    int failed = 0;
    while ((len = getline (&line, &size, stdin)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = 0;
        if (len > 0 && forensic_append (log, line, (size_t) len) != 0)
            failed++;
    }
    free (line);
    forensic_close (&log);
    if (failed)
        fprintf (stderr, "dpi-forensic-write: %d records not written\n", failed);
    return failed ? 1 : 0;
}
