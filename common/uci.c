/*  uci.c — see uci.h.                                                       */
#define _GNU_SOURCE
#include "uci.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 4

/*  Split LINE into words (uci.h). 0 and the words (malloc'd) into WORDS,
    or -1 with a reason; a comment ends the line.                           */
static int
s_split (const char *line, char *words[MAX_WORDS + 1], size_t *count, const char **reason)
{
    *count = 0;
    const char *p = line;
    while (true) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0' || *p == '\n' || *p == '#')
            return 0;
        if (*count == MAX_WORDS + 1) {
            *reason = "too many words";
            return -1;
        }
        size_t cap = strlen (p) + 1, len = 0;
        char *word = malloc (cap);
        if (!word) {
            *reason = "out of memory";
            return -1;
        }
        while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            if (*p == '\'') {
                const char *end = strchr (p + 1, '\'');
                if (!end) {
                    free (word);
                    *reason = "unterminated ' quote";
                    return -1;
                }
                memcpy (word + len, p + 1, (size_t) (end - p - 1));
                len += (size_t) (end - p - 1);
                p = end + 1;
            }
            else if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && p[1])
                        p++;
                    word[len++] = *p++;
                }
                if (*p != '"') {
                    free (word);
                    *reason = "unterminated \" quote";
                    return -1;
                }
                p++;
            }
            else if (*p == '\\' && p[1] && p[1] != '\n') {
                word[len++] = p[1];
                p += 2;
            }
            else
                word[len++] = *p++;
        }
        word[len] = '\0';
        words[(*count)++] = word;
    }
}

static bool
s_valid_name (const char *text, bool dash)
{
    if (!*text)
        return false;
    for (const char *c = text; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '_' && !(dash && *c == '-'))
            return false;
    return true;
}

/*  One statement; 0, or -1 with a reason (a static string, or *OWNED).     */
static int
s_statement (uci_file_t *self, char **words, size_t count, int line, const char **reason)
{
    const char *cmd = words[0];
    if (strcmp (cmd, "package") == 0) {
        if (count != 2) {
            *reason = "package takes one name";
            return -1;
        }
        return 0;
    }
    if (strcmp (cmd, "config") == 0) {
        if (count < 2 || count > 3) {
            *reason = count < 2 ? "config without a section type" : "config takes TYPE ['NAME']";
            return -1;
        }
        if (!s_valid_name (words[1], true)) {
            *reason = "bad section type (letters, digits, _ and - only)";
            return -1;
        }
        if (count == 3 && !s_valid_name (words[2], true)) {
            *reason = "bad section name (letters, digits, _ and - only)";
            return -1;
        }
        uci_section_t *grown = realloc (self->sections, (self->count + 1) * sizeof *grown);
        if (!grown) {
            *reason = "out of memory";
            return -1;
        }
        self->sections = grown;
        uci_section_t *section = &self->sections[self->count++];
        *section = (uci_section_t) { .type = strdup (words[1]),
                                     .name = strdup (count == 3 ? words[2] : ""), .line = line };
        return section->type && section->name ? 0 : (*reason = "out of memory", -1);
    }
    bool list = strcmp (cmd, "list") == 0;
    if (!list && strcmp (cmd, "option") != 0) {
        *reason = "unknown statement (config, option, list or package)";
        return -1;
    }
    if (self->count == 0) {
        *reason = list ? "list before the first config line" : "option before the first config line";
        return -1;
    }
    if (count != 3) {
        *reason = count < 3 ? (count < 2 ? "no option name" : "no value (give '' for an empty one)")
                            : "too many words (quote a value with blanks)";
        return -1;
    }
    if (!s_valid_name (words[1], false)) {
        *reason = "bad option name (letters, digits and _ only)";
        return -1;
    }
    uci_section_t *section = &self->sections[self->count - 1];
    uci_option_t *grown = realloc (section->options, (section->count + 1) * sizeof *grown);
    if (!grown) {
        *reason = "out of memory";
        return -1;
    }
    section->options = grown;
    uci_option_t *option = &section->options[section->count++];
    *option = (uci_option_t) { .name = strdup (words[1]), .value = strdup (words[2]),
                               .is_list = list, .line = line };
    return option->name && option->value ? 0 : (*reason = "out of memory", -1);
}

uci_file_t *
uci_parse (const char *file, const char *text, config_errors_t *errors)
{
    uci_file_t *self = calloc (1, sizeof *self);
    if (!self || !(self->file = strdup (file))) {
        free (self);
        config_errors_add (errors, "%s: out of memory", file);
        return NULL;
    }
    bool bad = false;
    int line = 0;
    const char *p = text;
    while (*p) {
        line++;
        const char *end = strchr (p, '\n');
        size_t length = end ? (size_t) (end - p) : strlen (p);
        char *copy = strndup (p, length);
        p += length + (end ? 1 : 0);
        if (!copy) {
            config_errors_add (errors, "%s: out of memory", file);
            bad = true;
            break;
        }
        char *words[MAX_WORDS + 1];
        size_t count = 0;
        const char *reason = NULL;
        int rc = s_split (copy, words, &count, &reason);
        if (rc == 0 && count > 0)
            rc = s_statement (self, words, count, line, &reason);
        if (rc != 0) {
            config_errors_add (errors, "%s:%d: %s", file, line, reason);
            bad = true;
        }
        for (size_t i = 0; i < count; i++)
            free (words[i]);
        free (copy);
    }
    if (bad)
        uci_destroy (&self);
    return self;
}

uci_file_t *
uci_load (const char *path, config_errors_t *errors)
{
    FILE *in = fopen (path, "r");
    if (!in) {
        config_errors_add (errors, "%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *buf = open_memstream (&text, &size);
    char chunk[4096];
    size_t n;
    bool nul = false;
    while (buf && (n = fread (chunk, 1, sizeof chunk, in)) > 0) {
        nul |= memchr (chunk, '\0', n) != NULL;
        fwrite (chunk, 1, n, buf);
    }
    bool failed = ferror (in) != 0;
    int saved = errno;
    fclose (in);
    if (!buf || fclose (buf) != 0 || failed) {
        config_errors_add (errors, "%s: cannot read: %s", path, strerror (failed ? saved : ENOMEM));
        free (text);
        return NULL;
    }
    if (nul) {
        config_errors_add (errors, "%s: not a text file (holds a NUL byte)", path);
        free (text);
        return NULL;
    }
    uci_file_t *self = uci_parse (path, text, errors);
    free (text);
    return self;
}

void
uci_destroy (uci_file_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    uci_file_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        uci_section_t *section = &self->sections[i];
        for (size_t j = 0; j < section->count; j++) {
            free (section->options[j].name);
            free (section->options[j].value);
        }
        free (section->options);
        free (section->type);
        free (section->name);
    }
    free (self->sections);
    free (self->file);
    free (self);
    *self_p = NULL;
}
