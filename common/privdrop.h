/*  privdrop.h — a worker started as root gives root up.

    After a worker has opened what needs root (a capture, its sockets, its
    files), privdrop_to turns it into global.user for good: the
    directories it must still write in (the run directory, where its
    sockets are removed at exit, the compat directory, when compat files
    are on, the state directory, where the correlator saves its reputation
    every minute, and the forensic log's directory, when the log is on)
    are handed to that user first, then the supplementary
    groups, the group and the user are set (initgroups, setgid, setuid),
    and the drop is checked (setuid (0) must fail).

    Not running as root, or global.user "": nothing to do.                  */
#ifndef DPI_PRIVDROP_H
#define DPI_PRIVDROP_H

#include "config.h"

/*  0, or -1 with the reason in ERRORS. *DROPPED tells whether it did.     */
int privdrop_to (const config_t *cfg, bool *dropped, config_errors_t *errors);

#endif
