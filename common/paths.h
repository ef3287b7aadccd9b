/*  paths.h — small helpers on file-system paths.                            */
#ifndef DPI_PATHS_H
#define DPI_PATHS_H

#include <sys/types.h>

/*  mkdir -p DIR: every missing directory of DIR made with MODE. 0, or -1
    (errno set) when one could not be made.                                  */
int paths_mkdir (const char *dir, mode_t mode);

/*  mkdir -p of the directory that holds PATH (nothing when PATH has none). */
int paths_mkdir_parent (const char *path, mode_t mode);

#endif
