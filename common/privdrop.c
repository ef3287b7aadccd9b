/*  privdrop.c — see privdrop.h.                                             */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/*  Hand DIR (when it exists and root owns it) to PW's user.                */
static int
hand_over (const char *dir, const struct passwd *pw, config_errors_t *errors)
{
    struct stat st;
    if (stat (dir, &st) != 0 || st.st_uid != 0)
        return 0;
    if (chown (dir, pw->pw_uid, pw->pw_gid) != 0) {
        config_errors_add (errors, "global.user: cannot give %s to '%s': %s", dir,
                           pw->pw_name, strerror (errno));
        return -1;
    }
    return 0;
}

int
privdrop_to (const config_t *cfg, bool *dropped, config_errors_t *errors)
{
    const char *user = cfg->global.user;
    *dropped = false;
    if (!*user || geteuid () != 0)
        return 0;
    errno = 0;
    struct passwd *pw = getpwnam (user);
    if (!pw) {
        config_errors_add (errors, "global.user: no such user '%s'%s%s", user,
                           errno ? ": " : "", errno ? strerror (errno) : "");
        return -1;
    }
    /* where workers keep writing after the drop: sockets, compat files, the
       correlator's state (saved every minute), the forensic log (new files) */
    bool forensic = cfg->buffer.forensic.mode != CONFIG_FORENSIC_OFF;
    if (hand_over (cfg->global.run_dir, pw, errors) != 0
        || (cfg->global.compat && hand_over (cfg->global.compat_dir, pw, errors) != 0)
        || hand_over (cfg->global.state_dir, pw, errors) != 0
        || (forensic && hand_over (cfg->buffer.forensic.dir, pw, errors) != 0))
        return -1;
    if (initgroups (pw->pw_name, pw->pw_gid) != 0 || setgid (pw->pw_gid) != 0
        || setuid (pw->pw_uid) != 0) {
        config_errors_add (errors, "global.user: cannot become '%s': %s", user, strerror (errno));
        return -1;
    }
    if (pw->pw_uid != 0 && setuid (0) == 0) {
        config_errors_add (errors, "global.user: '%s' could become root again", user);
        return -1;
    }
    *dropped = true;
    log_info ("running as %s (uid %u)", user, (unsigned) pw->pw_uid);
    return 0;
}
