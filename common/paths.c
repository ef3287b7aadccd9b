/*  paths.c — see paths.h.                                                   */
#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int
paths_mkdir (const char *dir, mode_t mode)
{
    char path[4096];
    if (snprintf (path, sizeof path, "%s", dir) >= (int) sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (path, mode) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir (path, mode) != 0 && errno != EEXIST ? -1 : 0;
}

int
paths_mkdir_parent (const char *path, mode_t mode)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s", path);
    char *slash = strrchr (dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    return paths_mkdir (dir, mode);
}
