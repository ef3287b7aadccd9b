/*  test_privdrop.c — common/privdrop.c. As root (as the test suite runs),
    a child process drops to nobody and checks what it became; not as root,
    the drop is a no-op.

    Catches: a drop that keeps root (uid, gid, groups, or setuid (0) still
    working), a run directory not handed over (the worker could not remove
    its sockets), a state directory not handed over (the correlator could
    not save its reputation), an unknown user accepted, "" not meaning
    "stay".                                                                  */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errtext.h"
#include "privdrop.h"
#include "tally.h"

/*  In a child: drop to USER with RUN_DIR; exit 0 when it became USER for
    good and RUN_DIR and STATE_DIR are USER's, else a code saying what
    failed.                                                                   */
static int
drop_in_child (config_t *cfg, const char *user)
{
    pid_t child = fork ();
    if (child == 0) {
        bool dropped = false;
        struct passwd *pw = getpwnam (user);
        if (!pw || privdrop_to (cfg, &dropped, NULL) != 0 || !dropped)
            _exit (2);
        if (getuid () != pw->pw_uid || geteuid () != pw->pw_uid || getgid () != pw->pw_gid)
            _exit (3);
        gid_t groups[64];
        int n = getgroups (64, groups);
        for (int i = 0; i < n; i++)
            if (groups[i] == 0)
                _exit (4);
        if (setuid (0) == 0)
            _exit (5);
        struct stat st;
        if (stat (cfg->global.run_dir, &st) != 0 || st.st_uid != pw->pw_uid)
            _exit (6);
        _exit (stat (cfg->global.state_dir, &st) == 0 && st.st_uid == pw->pw_uid ? 0 : 7);
    }
    int status = -1;
    waitpid (child, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 100;
}

static void
set_user (config_t *cfg, const char *user)
{
    free (cfg->global.user);
    cfg->global.user = strdup (user);
}

int
main (void)
{
    tally_t t = { 0 };
    config_t *cfg = config_new ();
    char dir[] = "/tmp/test_privdrop.XXXXXX", err[512];
    if (!check (&t, cfg && mkdtemp (dir), "config, mkdtemp"))
        return tally_report (&t);
    free (cfg->global.run_dir);
    cfg->global.run_dir = strdup (dir);
    char state[64];
    snprintf (state, sizeof state, "%s/state", dir);
    mkdir (state, 0755);
    free (cfg->global.state_dir);
    cfg->global.state_dir = strdup (state);
    bool dropped = true;
    check (&t, privdrop_to (cfg, &dropped, NULL) == 0 && !dropped, "user \"\": stay");
    if (geteuid () == 0) {
        set_user (cfg, "nobody");
        int rc = drop_in_child (cfg, "nobody");
        check (&t, rc == 0, "the child became nobody for good, run_dir and state_dir are its "
                            "(code %d)", rc);
        set_user (cfg, "no-such-user-here");
        config_errors_t errors = { 0 };
        check (&t, privdrop_to (cfg, &dropped, &errors) == -1 && !dropped
                      && strcmp (errtext (&errors, err, sizeof err),
                                 "global.user: no such user 'no-such-user-here'") == 0,
               "an unknown user: '%s'", err);
        check (&t, geteuid () == 0, "still root here");
    }
    else {
        set_user (cfg, "nobody");
        check (&t, privdrop_to (cfg, &dropped, NULL) == 0 && !dropped, "not root: nothing to do");
    }
    check (&t, remove_tree (dir), "remove %s", dir);
    config_destroy (&cfg);
    return tally_report (&t);
}
