/*  dpi-dualctl keys new NAME [DIR]
    dpi-dualctl keys forensic [-c FILE] [KEYFILE]
    dpi-dualctl keys api-token [-c FILE] [TOKENFILE]

    new writes DIR/NAME.cert (public key) and DIR/NAME.cert_secret (both
    keys, mode 0600) in zcert's format: the public file goes into the
    allow_dir of a CURVE server, the secret one is bus.curve.cert of its
    owner. DIR must exist: a missing one is an error (exit 1), never created.
    forensic writes the key of the forensic log (forensic_key_new: 64 hex
    digits, mode 0600), by default at buffer.forensic.key_file. api-token
    writes dpi-api's bearer token (64 hex digits from getrandom, mode 0600),
    by default at api.token_file.                                           */
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>

#include "ctl.h"
#include "forensic.h"

const ctl_command_t ctl_keys_command = {
    .name = "keys",
    .usage = "usage: dpi-dualctl keys new NAME [DIR]\n"
             "       dpi-dualctl keys forensic [-c FILE] [KEYFILE]\n"
             "       dpi-dualctl keys api-token [-c FILE] [TOKENFILE]\n",
    .help =
        "Writes a new CURVE key pair in zcert's format: DIR/NAME.cert (the public key,\n"
        "for the bus.curve.allow_dir of a server that must accept NAME) and\n"
        "DIR/NAME.cert_secret (both keys, mode 0600, for bus.curve.cert of NAME\n"
        "itself); prints their paths and the public key. Existing files are never\n"
        "overwritten.\n"
        "\n"
        "keys forensic writes a new key for the forensic log of dpi-buffer: 64 hex\n"
        "digits and a newline, mode 0600; prints its path. An existing file is never\n"
        "overwritten.\n"
        "\n"
        "keys api-token writes a new bearer token for dpi-api: 64 hex digits and a\n"
        "newline, mode 0600; prints its path (never the token). An existing file is\n"
        "never overwritten.\n"
        "\n"
        "  NAME               the certificate's name (no '/'), kept in its metadata\n"
        "  DIR                an existing directory to write in, never created\n"
        "                     (default: the current directory)\n"
        "  KEYFILE            where keys forensic writes the key\n"
        "                     (default: buffer.forensic.key_file of the config)\n"
        "  TOKENFILE          where keys api-token writes the token\n"
        "                     (default: api.token_file of the config)\n"
        CTL_HELP_CONFIG
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  both files written (new), the key written (forensic, api-token)\n"
        "  1  DIR does not exist or is not a directory, NAME.cert or NAME.cert_secret\n"
        "     already exists in DIR, KEYFILE or TOKENFILE already exists, the config\n"
        "     does not load, or a file could not be written\n"
        CTL_HELP_EXIT_USAGE,
};

/*  keys new NAME [DIR]                                                      */
static int
keys_new (const ctl_command_t *cmd, int argc, char **argv)
{
    if (argc < 3 || argc > 4)
        return ctl_usage_error (cmd, "new takes NAME and, optionally, DIR");
    const char *name = argv[2];
    const char *dir = argc == 4 ? argv[3] : ".";
    if (!*name || strchr (name, '/'))
        return ctl_usage_error (cmd, "bad name '%s': not empty, no '/'", name);
    struct stat st;
    int missing = stat (dir, &st) != 0 ? errno : 0;
    if (missing || !S_ISDIR (st.st_mode)) {
        fprintf (stderr, "dpi-dualctl keys new: %s: %s (DIR must exist; it is not created)\n", dir,
                 missing ? strerror (missing) : "not a directory");
        return 1;
    }
    char path[4096], secret[4200];
    snprintf (path, sizeof path, "%s/%s.cert", dir, name);
    snprintf (secret, sizeof secret, "%s_secret", path);
    const char *exists = access (path, F_OK) == 0 ? path : access (secret, F_OK) == 0 ? secret : NULL;
    if (exists) {
        fprintf (stderr, "dpi-dualctl keys new: %s already exists; not overwriting\n", exists);
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

/*  A new token (64 hex digits and a newline) at PATH, mode 0600, never
    over an existing file. 0, or -1 with the reason in ERROR.              */
static int
api_token_new (const char *path, char *error, size_t errlen)
{
    unsigned char raw[32];
    if (getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw) {
        snprintf (error, errlen, "getrandom: %s", strerror (errno));
        return -1;
    }
    char text[2 * sizeof raw + 2];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf (text + 2 * i, 3, "%02x", raw[i]);
    text[2 * sizeof raw] = '\n';
    text[2 * sizeof raw + 1] = 0;
    memset (raw, 0, sizeof raw);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf (error, errlen, "%s: %s%s", path, strerror (errno),
                  errno == EEXIST ? "; not overwriting" : "");
        memset (text, 0, sizeof text);
        return -1;
    }
    size_t len = strlen (text);
    bool ok = write (fd, text, len) == (ssize_t) len;
    memset (text, 0, sizeof text);
    if (close (fd) != 0 || !ok) {
        snprintf (error, errlen, "%s: cannot write: %s", path, strerror (errno));
        unlink (path);
        return -1;
    }
    return 0;
}

/*  keys forensic [-c FILE] [KEYFILE], keys api-token [-c FILE] [TOKENFILE] */
static int
keys_forensic (const ctl_command_t *cmd, int argc, char **argv)
{
    bool token = strcmp (argv[1], "api-token") == 0;
    const char *config_path = NULL, *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp (argv[i], "-c") == 0 || strcmp (argv[i], "--config") == 0) {
            if (++i == argc)
                return ctl_usage_error (cmd, "%s needs a FILE", argv[i - 1]);
            config_path = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1])
            return ctl_usage_error (cmd, "unknown option '%s'", argv[i]);
        else if (path)
            return ctl_usage_error (cmd, "%s takes one %s at most", argv[1],
                                    token ? "TOKENFILE" : "KEYFILE");
        else
            path = argv[i];
    }
    config_t *cfg = NULL;
    if (!path) {
        cfg = config_load_verbose (config_path);
        if (!cfg)
            return 1;
        path = token ? cfg->api.token_file : cfg->buffer.forensic.key_file;
    }
    char error[4200];
    int rc = token ? api_token_new (path, error, sizeof error)
                   : forensic_key_new (path, error, sizeof error);
    if (rc == 0)
        printf ("%s\n", path);
    else
        fprintf (stderr, "dpi-dualctl keys %s: %s\n", argv[1], error);
    config_destroy (&cfg);
    return rc == 0 ? 0 : 1;
}

int
cmd_keys (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_keys_command;
    for (int i = 1; i < argc; i++)
        if (ctl_is_help (argv[i]))
            return ctl_help (cmd);
    if (argc < 2)
        return ctl_usage_error (cmd, "missing the subcommand (new, forensic, api-token)");
    if (strcmp (argv[1], "new") == 0)
        return keys_new (cmd, argc, argv);
    if (strcmp (argv[1], "forensic") == 0 || strcmp (argv[1], "api-token") == 0)
        return keys_forensic (cmd, argc, argv);
    return ctl_usage_error (cmd, "unknown subcommand '%s'", argv[1]);
}
