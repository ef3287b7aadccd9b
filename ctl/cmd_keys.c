/*  dpi-dualctl keys new NAME [DIR]

    Writes DIR/NAME.cert (public key) and DIR/NAME.cert_secret (both keys,
    mode 0600) in zcert's format: the public file goes into the allow_dir of
    a CURVE server, the secret one is bus.curve.cert of its owner.           */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>

#include "ctl.h"

int
cmd_keys (int argc, char **argv)
{
    if (argc < 3 || argc > 4 || strcmp (argv[1], "new") != 0) {
        fprintf (stderr, "usage: dpi-dualctl keys new NAME [DIR]\n");
        return 2;
    }
    const char *name = argv[2];
    const char *dir = argc == 4 ? argv[3] : ".";
    if (!*name || strchr (name, '/')) {
        fprintf (stderr, "dpi-dualctl keys new: bad name '%s'\n", name);
        return 2;
    }
    char path[4096], secret[4200];
    snprintf (path, sizeof path, "%s/%s.cert", dir, name);
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (access (path, F_OK) == 0 || access (secret, F_OK) == 0) {
        fprintf (stderr, "dpi-dualctl keys new: %s already exists; not overwriting\n", path);
        return 1;
    }
    if (zsys_dir_create ("%s", dir) != 0) {
        fprintf (stderr, "dpi-dualctl keys new: cannot create %s\n", dir);
        return 1;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "dpi-dualctl keys new: cannot generate a key pair\n");
        return 1;
    }
    zcert_set_meta (cert, "name", "%s", name);
    mode_t old = umask (077);
    int rc = zcert_save_secret (cert, secret);
    umask (old);
    if (rc == 0)
        rc = zcert_save_public (cert, path);
    if (rc != 0)
        fprintf (stderr, "dpi-dualctl keys new: cannot write %s\n", path);
    else
        printf ("public: %s\nsecret: %s\nkey: %s\n", path, secret, zcert_public_txt (cert));
    zcert_destroy (&cert);
    return rc == 0 ? 0 : 1;
}
