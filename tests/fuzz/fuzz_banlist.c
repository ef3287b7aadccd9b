/*  fuzz_banlist.c — libFuzzer harness for bridge-mitm/banlist.c: the ban
    file loader, the parsing of a decision's value, and the table itself.

    Input: the text of a ban file ("IP[/PREFIX] [DURATION_S]" a line, #
    comments; deploy/bridge-mitm/bans.example). Seeds: that example, the
    unit test's ban files (corpus/fuzz_banlist) and dictionary
    fuzz_banlist.dict.

    1. The file (written once to /dev/shm/fuzz_banlist.PID) is loaded with
       banlist_load: its error count must be the number of lines the
       harness finds bad (read as banlist.h describes them), every error a
       "FILE:LINE: reason" of a bad line, and nothing added on error; else
       one entry per distinct range.
    2. Each line is then a decision, as bridge_decision takes one: its
       first word through banlist_parse_net (printed by banlist_format_net,
       the text must parse back to the same range; a plain address also
       through banlist_parse_addr, same address), added with its duration,
       and the ranges of every other line removed again — against a model,
       a plain array searched linearly.
    3. Lookups of every range's address, one inside and one outside it, at
       three times (before, between and after the expiries), and of an
       unknown family: banlist_lookup must say what the model says (banned
       or not, and the most specific live range as text), its lazy purge
       included; then banlist_purge and the counters (size, expired) must
       match the model.                                                   */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "banlist.h"
#include "fuzz_write.h"

#define T0 1764110000000000000ull      /* "now" of the load, ns          */
#define SEC 1000000000ull
#define MAX_LINES 256

typedef struct {
    banlist_net_t net;
    uint64_t expires;                   /* 0 = never                       */
    bool present;
} entry_t;

static entry_t s_model[MAX_LINES];
static size_t s_count;

static bool
same_net (const banlist_net_t *a, const banlist_net_t *b)
{
    return a->family == b->family && a->prefix == b->prefix
           && memcmp (a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

static entry_t *
model_find (const banlist_net_t *net)
{
    for (size_t i = 0; i < s_count; i++)
        if (s_model[i].present && same_net (&s_model[i].net, net))
            return &s_model[i];
    return NULL;
}

/*  One line as banlist.h describes the file: 1 an entry (NET, DURATION),
    0 blank, -1 bad. LINE is changed (comment cut, words split).            */
static int
read_line (char *line, banlist_net_t *net, uint64_t *duration)
{
    char *hash = strchr (line, '#'), *save = NULL, err[160];
    if (hash)
        *hash = 0;
    const char *seps = " \t\r\n\v\f";
    char *word = strtok_r (line, seps, &save);
    if (!word)
        return 0;
    if (banlist_parse_net (word, net, err, sizeof err) != 0)
        return -1;
    char *d = strtok_r (NULL, seps, &save);
    *duration = 0;
    if (d) {
        if (strspn (d, "0123456789") != strlen (d) || strlen (d) > 10)
            return -1;
        *duration = strtoull (d, NULL, 10);
    }
    return strtok_r (NULL, seps, &save) ? -1 : 1;
}

/*  The model's answer: the live entry with the longest prefix holding ADDR. */
static const entry_t *
model_lookup (int family, const uint8_t *addr, uint64_t now)
{
    const entry_t *best = NULL;
    for (size_t i = 0; i < s_count; i++) {
        const entry_t *e = &s_model[i];
        if (!e->present || (e->expires && e->expires <= now) || e->net.family != family
            || !ipnet_contains (&e->net, family, addr))
            continue;
        if (!best || e->net.prefix > best->net.prefix)
            best = e;
    }
    return best;
}

static void
check_lookup (banlist_t *list, int family, const uint8_t *addr, uint64_t now)
{
    const entry_t *want = model_lookup (family, addr, now);
    banlist_hit_t hit;
    bool got = banlist_lookup (list, family, addr, now, &hit);
    if (got != (want != NULL))
        abort ();
    if (got) {
        char text[64];
        banlist_format_net (&want->net, text, sizeof text);
        if (strcmp (text, hit.net) != 0 || hit.expires_ns != want->expires)
            abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file ("fuzz_banlist", data, size);

    /* the lines as getline gives them, each read as a C string */
    char *copy = malloc (size + 1);
    if (!copy)
        abort ();
    memcpy (copy, data, size);
    copy[size] = 0;
    char *lines[MAX_LINES];
    size_t nlines = 0;
    bool too_many = false;
    for (size_t at = 0; at < size;) {
        char *nl = memchr (copy + at, '\n', size - at);
        size_t end = nl ? (size_t) (nl - copy) : size;
        copy[end] = 0;
        if (nlines == MAX_LINES) {
            too_many = true;
            break;
        }
        lines[nlines++] = copy + at;
        at = end + 1;
    }

    /* 1. the loader */
    banlist_net_t nets[MAX_LINES];
    uint64_t durations[MAX_LINES];
    int kinds[MAX_LINES], bad = 0;
    for (size_t i = 0; i < nlines; i++) {
        char line[strlen (lines[i]) + 1];
        strcpy (line, lines[i]);
        kinds[i] = read_line (line, &nets[i], &durations[i]);
        bad += kinds[i] < 0;
    }
    banlist_t *file = banlist_new ();
    config_errors_t errors = { 0 };
    int rc = banlist_load (file, path, T0, &errors);
    if (!too_many) {
        if (rc != bad || errors.count != (size_t) bad)
            abort ();
        size_t plen = strlen (path), e = 0;
        for (size_t i = 0; i < nlines; i++) {
            if (kinds[i] >= 0)
                continue;
            char want[96];
            snprintf (want, sizeof want, "%s:%zu: ", path, i + 1);
            if (e >= errors.count || strncmp (errors.messages[e], want, plen) != 0
                || strncmp (errors.messages[e], want, strlen (want)) != 0
                || strchr (errors.messages[e], '\n'))
                abort ();
            e++;
        }
    }
    if (rc != 0 && banlist_size (file) != 0)
        abort ();                       /* nothing added on error */
    config_errors_clear (&errors);

    /* 2. decisions, against the model */
    banlist_t *list = banlist_new ();
    s_count = 0;
    size_t distinct = 0;
    for (size_t i = 0; i < nlines; i++) {
        if (kinds[i] != 1)
            continue;
        banlist_net_t back;
        char text[64], err[160];
        banlist_format_net (&nets[i], text, sizeof text);
        if (banlist_parse_net (text, &back, err, sizeof err) != 0 || !same_net (&back, &nets[i]))
            abort ();                   /* format and parse disagree */
        if (!strchr (text, '/')) {
            int family;
            uint8_t addr[16];
            if (banlist_parse_addr (text, &family, addr) != 0 || family != nets[i].family
                || memcmp (addr, nets[i].addr, family == AF_INET ? 4 : 16) != 0)
                abort ();
        }
        uint64_t expires = durations[i] ? T0 + durations[i] * SEC : 0;
        if (banlist_add (list, &nets[i], expires) != 0)
            abort ();
        entry_t *e = model_find (&nets[i]);
        if (!e) {
            s_model[s_count++] = (entry_t) { nets[i], expires, true };
            distinct++;
        }
        else if (e->expires != 0 && (expires == 0 || expires > e->expires))
            e->expires = expires;
    }
    if (rc == 0 && !too_many && banlist_size (file) != distinct)
        abort ();
    banlist_destroy (&file);
    for (size_t i = 1; i < nlines; i += 2) {
        if (kinds[i] != 1)
            continue;
        entry_t *e = model_find (&nets[i]);
        if (banlist_remove (list, &nets[i]) != (e != NULL))
            abort ();
        if (e)
            e->present = false;
    }
    size_t live = 0, forever = 0;
    for (size_t i = 0; i < s_count; i++) {
        live += s_model[i].present;
        forever += s_model[i].present && s_model[i].expires == 0;
    }
    if (banlist_size (list) != live)
        abort ();

    /* 3. lookups: at the load, after the shortest durations, after all */
    const uint64_t times[] = { T0, T0 + 2 * SEC, T0 + 10000000000ull * SEC };
    for (size_t t = 0; t < 3; t++)
        for (size_t i = 0; i < s_count; i++) {
            const banlist_net_t *n = &s_model[i].net;
            unsigned bits = n->family == AF_INET ? 32 : 128;
            uint8_t inside[16], outside[16];
            memcpy (inside, n->addr, 16);
            memcpy (outside, n->addr, 16);
            if (n->prefix < bits)       /* the last host bit: still inside */
                inside[bits / 8 - 1] ^= 1;
            if (n->prefix > 0)          /* the last network bit: outside */
                outside[(n->prefix - 1) / 8] ^= (uint8_t) (0x80 >> ((n->prefix - 1) % 8));
            check_lookup (list, n->family, n->addr, times[t]);
            check_lookup (list, n->family, inside, times[t]);
            check_lookup (list, n->family, outside, times[t]);
        }
    if (banlist_lookup (list, AF_UNIX, (const uint8_t *) "0123456789abcdef", T0, NULL))
        abort ();
    size_t purged = banlist_purge (list, T0 + 10000000000ull * SEC);
    if (banlist_size (list) != forever || banlist_expired (list) != live - forever
        || purged > live - forever)
        abort ();
    banlist_destroy (&list);
    free (copy);
    return 0;
}
