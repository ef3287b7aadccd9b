/*  fuzz_uci.c — libFuzzer harness for common/uci.c, the reader of OpenWrt
    UCI files behind `dpi-dualctl config import-uci`.

    Input: the text of a UCI file (/etc/config/NAME). uci_load refuses a
    file holding a NUL byte and hands the rest to uci_parse, so the harness
    gives uci_parse the text up to the first NUL (a copy of exactly that
    size, for ASan). Seeds: the files of tests/data/uci (seeds.sh); dictionary:
    fuzz_uci.dict.

    Checks, beyond no crash:
    - a refused file has errors and a parsed one none; every error is one
      line "FILE:LINE: reason" with LINE a line of the file;
    - a parsed file holds what uci.h promises: section types and names of
      letters, digits, _ and -, option names of letters, digits and _,
      lines increasing and within the file, no newline in any value;
    - written back as UCI (every word single-quoted, a ' as '\'', as uci
      export writes it) it parses again into the same sections and
      options: the quoting rules read what they write.                   */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uci.h"

#define FILE_NAME "fuzz.uci"

static bool
valid_name (const char *text, bool dash, bool empty_ok)
{
    if (!*text)
        return empty_ok;
    for (const char *c = text; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '_' && !(dash && *c == '-'))
            return false;
    return true;
}

static void
quoted (FILE *out, const char *word)
{
    fputc ('\'', out);
    for (const char *c = word; *c; c++)
        if (*c == '\'')
            fputs ("'\\''", out);
        else
            fputc (*c, out);
    fputc ('\'', out);
}

static char *
write_back (const uci_file_t *u)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    if (!out)
        abort ();
    fputs ("package 'fuzz'\n", out);
    for (size_t i = 0; i < u->count; i++) {
        const uci_section_t *s = &u->sections[i];
        fprintf (out, "\nconfig %s", s->type);
        if (*s->name)
            fprintf (out, " '%s'", s->name);
        fputc ('\n', out);
        for (size_t j = 0; j < s->count; j++) {
            fprintf (out, "\t%s %s ", s->options[j].is_list ? "list" : "option", s->options[j].name);
            quoted (out, s->options[j].value);
            fputc ('\n', out);
        }
    }
    if (fclose (out) != 0)
        abort ();
    return text;
}

static void
check_same (const uci_file_t *a, const uci_file_t *b)
{
    if (a->count != b->count)
        abort ();
    for (size_t i = 0; i < a->count; i++) {
        const uci_section_t *s = &a->sections[i], *t = &b->sections[i];
        if (strcmp (s->type, t->type) || strcmp (s->name, t->name) || s->count != t->count)
            abort ();
        for (size_t j = 0; j < s->count; j++)
            if (strcmp (s->options[j].name, t->options[j].name)
                || strcmp (s->options[j].value, t->options[j].value)
                || s->options[j].is_list != t->options[j].is_list)
                abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    size_t len = strnlen ((const char *) data, size);
    char *text = malloc (len + 1);
    if (!text)
        abort ();
    memcpy (text, data, len);
    text[len] = 0;
    int lines = 0;
    for (const char *p = text; *p; lines++) {
        const char *nl = strchr (p, '\n');
        p = nl ? nl + 1 : p + strlen (p);
    }

    config_errors_t errors = { 0 };
    uci_file_t *u = uci_parse (FILE_NAME, text, &errors);
    if ((u == NULL) != (errors.count > 0))
        abort ();
    for (size_t i = 0; i < errors.count; i++) {
        const char *m = errors.messages[i];
        int line = 0, n = 0;
        if (strchr (m, '\n') || sscanf (m, FILE_NAME ":%d: %n", &line, &n) != 1 || n == 0
            || line < 1 || line > lines || !m[n])
            abort ();
    }
    config_errors_clear (&errors);
    if (u) {
        int last = 0;
        for (size_t i = 0; i < u->count; i++) {
            const uci_section_t *s = &u->sections[i];
            if (!valid_name (s->type, true, false) || !valid_name (s->name, true, true)
                || s->line <= last || s->line > lines)
                abort ();
            last = s->line;
            for (size_t j = 0; j < s->count; j++) {
                const uci_option_t *o = &s->options[j];
                if (!valid_name (o->name, false, false) || strchr (o->value, '\n')
                    || o->line <= last || o->line > lines)
                    abort ();
                last = o->line;
            }
        }
        char *back = write_back (u);
        uci_file_t *again = uci_parse (FILE_NAME, back, &errors);
        if (!again) {
            config_errors_print (&errors, stderr);
            fprintf (stderr, "written back:\n%s", back);
            abort ();                   /* uci_parse refuses what it read, quoted */
        }
        check_same (u, again);
        uci_destroy (&again);
        free (back);
        uci_destroy (&u);
    }
    free (text);
    return 0;
}
