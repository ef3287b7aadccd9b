/*  test_uci.c — common/uci.c, the reader of OpenWrt UCI files behind
    `dpi-dualctl config import-uci`.

    Catches: a quoting form read wrong (single, double with escapes, none,
    pieces joined), a comment taken for a value, an anonymous section
    given a name, list items lost or merged, a wrong line number, a syntax
    error accepted or not reported with its line, one bad line hiding the
    next one's error, a missing file not named.                              */
#include <string.h>

#include "errtext.h"
#include "tally.h"
#include "uci.h"

static const uci_option_t *
s_option (const uci_section_t *section, size_t i)
{
    return i < section->count ? &section->options[i] : NULL;
}

static void
test_good (tally_t *t)
{
    const char *text =
        "# SecuBox style\n"
        "package dpi-dual\n"
        "\n"
        "config global 'settings'\n"
        "\toption enabled '1'\n"
        "\toption mode dual   # a comment after a value\n"
        "  option stats_dir \"/tmp/a b\\\"c\"\n"
        "config whitelist\n"
        "\tlist ip '192.0.2.0/24'\n"
        "\tlist ip 2001:db8::1\n"
        "\toption joined 'a'\"b\"c\n"
        "\toption empty ''\n"
        "\toption hash 'x#y'\n";
    config_errors_t errors = { 0 };
    char err[1024];
    uci_file_t *uci = uci_parse ("t.uci", text, &errors);
    if (!check (t, uci != NULL, "good file parses: %s", errtext (&errors, err, sizeof err)))
        return;
    check (t, uci->count == 2, "2 sections (got %zu)", uci->count);
    if (uci->count == 2) {
        const uci_section_t *g = &uci->sections[0], *w = &uci->sections[1];
        check (t, strcmp (g->type, "global") == 0 && strcmp (g->name, "settings") == 0
               && g->line == 4, "section 1: global 'settings' at line 4");
        check (t, g->count == 3, "section 1: 3 options (got %zu)", g->count);
        const uci_option_t *o = s_option (g, 1);
        check (t, o && strcmp (o->name, "mode") == 0 && strcmp (o->value, "dual") == 0
               && o->line == 6 && !o->is_list, "unquoted value, comment after it");
        o = s_option (g, 2);
        check (t, o && strcmp (o->value, "/tmp/a b\"c") == 0 && o->line == 7,
               "double quotes with a blank and an escaped quote (got '%s')", o ? o->value : "");
        check (t, strcmp (w->name, "") == 0 && strcmp (w->type, "whitelist") == 0,
               "anonymous section: name \"\"");
        check (t, w->count == 5, "whitelist: 5 options (got %zu)", w->count);
        o = s_option (w, 0);
        check (t, o && o->is_list && strcmp (o->value, "192.0.2.0/24") == 0, "list item 1");
        o = s_option (w, 1);
        check (t, o && o->is_list && strcmp (o->value, "2001:db8::1") == 0 && o->line == 10,
               "list item 2, unquoted, its line");
        o = s_option (w, 2);
        check (t, o && strcmp (o->value, "abc") == 0, "pieces joined: 'a'\"b\"c is abc (got '%s')",
               o ? o->value : "");
        o = s_option (w, 3);
        check (t, o && strcmp (o->value, "") == 0, "'' is the empty value");
        o = s_option (w, 4);
        check (t, o && strcmp (o->value, "x#y") == 0, "# inside quotes is no comment");
    }
    uci_destroy (&uci);
    check (t, uci == NULL, "destroy clears the pointer");
}

static void
test_errors (tally_t *t)
{
    const struct {
        const char *text, *want;
    } cases[] = {
        { "option a 'b'\n", "t.uci:1: option before the first config line" },
        { "config\n", "t.uci:1: config without a section type" },
        { "config tap 'a' 'b'\n", "t.uci:1: config takes TYPE ['NAME']" },
        { "config t@p\n", "t.uci:1: bad section type (letters, digits, _ and - only)" },
        { "config tap\n\toption interface 'eth0\n", "t.uci:2: unterminated ' quote" },
        { "config tap\n\toption interface \"eth0\n", "t.uci:2: unterminated \" quote" },
        { "config tap\n\toption interface\n", "t.uci:2: no value (give '' for an empty one)" },
        { "config tap\n\toption interface eth0 eth1\n",
          "t.uci:2: too many words (quote a value with blanks)" },
        { "config tap\n\toption in-face eth0\n",
          "t.uci:2: bad option name (letters, digits and _ only)" },
        { "config tap\n\toptoin a b\n", "t.uci:2: unknown statement (config, option, list or package)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_errors_t errors = { 0 };
        uci_file_t *uci = uci_parse ("t.uci", cases[i].text, &errors);
        check (t, uci == NULL, "case %zu refused", i);
        check (t, errors.count == 1 && strcmp (errors.messages[0], cases[i].want) == 0,
               "case %zu: '%s' (got %zu: '%s')", i, cases[i].want, errors.count,
               errors.count ? errors.messages[0] : "");
        config_errors_clear (&errors);
        uci_destroy (&uci);
    }
    /* every bad line is reported, not only the first                        */
    config_errors_t errors = { 0 };
    uci_file_t *uci = uci_parse ("t.uci", "config tap\n\toption a\n\toption b 'c\n\toption d e\n",
                                 &errors);
    check (t, uci == NULL && errors.count == 2, "two bad lines: two errors (got %zu)", errors.count);
    check (t, errors.count == 2 && strncmp (errors.messages[1], "t.uci:3: ", 9) == 0,
           "the second names line 3");
    config_errors_clear (&errors);
    uci = uci_load ("/nonexistent/dpi-dual", &errors);
    check (t, uci == NULL && errors.count == 1
           && strcmp (errors.messages[0], "/nonexistent/dpi-dual: cannot open: No such file or directory") == 0,
           "missing file named");
    config_errors_clear (&errors);
}

int
main (void)
{
    tally_t t = { 0 };
    test_good (&t);
    test_errors (&t);
    return tally_report (&t);
}
