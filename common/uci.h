/*  uci.h — a reader of OpenWrt UCI files (/etc/config/NAME), for
    `dpi-dualctl config import-uci`.

    The syntax of uci's own parser (libuci file.c), one statement a line:

        package NAME                  (accepted, ignored)
        config TYPE ['NAME']          a section; without NAME, anonymous
        option KEY 'VALUE'            a value of the current section
        list KEY 'VALUE'              one item of a list (repeat the line)

    A word is unquoted (ends at a blank; a backslash escapes the next
    character), 'single quoted' (nothing escaped inside) or "double
    quoted" (a backslash escapes the next character); adjacent pieces join
    into one word ('a'"b"c is abc). A # where a word would start begins a
    comment to the end of the line. TYPE, NAME and KEY are letters, digits
    and _ (TYPE and NAME may also hold -); no line continuation.

    Errors ("FILE:LINE: reason") are collected for every bad line; a file
    with any is refused (NULL). Ownership: the caller destroys the result. */
#ifndef DPI_UCI_H
#define DPI_UCI_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct {
    char *name;
    char *value;
    bool is_list;                   /* a `list` line: one item              */
    int line;
} uci_option_t;

typedef struct {
    char *type;
    char *name;                     /* "" for an anonymous section          */
    int line;
    uci_option_t *options;
    size_t count;
} uci_section_t;

typedef struct {
    char *file;                     /* as given, for messages               */
    uci_section_t *sections;
    size_t count;
} uci_file_t;

/*  Parse TEXT (the contents of FILE); NULL with ERRORS filled on a syntax
    error (or no memory).                                                    */
uci_file_t *uci_parse (const char *file, const char *text, config_errors_t *errors);

/*  Read and parse PATH ("PATH: cannot open: reason" when it cannot be read). */
uci_file_t *uci_load (const char *path, config_errors_t *errors);

void uci_destroy (uci_file_t **self_p);

#endif
