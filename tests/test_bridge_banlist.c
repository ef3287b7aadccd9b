/*  test_bridge_banlist.c — unit test for bridge-mitm/banlist.c.

    Exact addresses and CIDR ranges, IPv4 and IPv6 (and IPv4-mapped IPv6),
    the most specific entry reported, expiry (lazy purge on lookup, sweep,
    counted), extension of an existing ban, removal (UNBAN), address and
    prefix parse errors, the ban file (comments, durations, every error
    with FILE:LINE, nothing added when a line is wrong, the shipped
    example), and a table grown to 20000 entries.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "banlist.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errtext.h"
#include "tally.h"

#define SEC 1000000000ull
#define NOW (1764110000ull * SEC)



/*  banlist_load, its errors as one text in ERR.                             */
static int
load_bans (banlist_t *list, const char *path, uint64_t now, char *err, size_t errlen)
{
    config_errors_t errors = { 0 };
    int rc = banlist_load (list, path, now, &errors);
    errtext (&errors, err, errlen);
    return rc;
}
static int
ban (banlist_t *b, const char *text, uint64_t expires)
{
    banlist_net_t net;
    char err[128];
    if (banlist_parse_net (text, &net, err, sizeof err) != 0)
        return -1;
    return banlist_add (b, &net, expires);
}

static int
unban (banlist_t *b, const char *text)
{
    banlist_net_t net;
    char err[128];
    if (banlist_parse_net (text, &net, err, sizeof err) != 0)
        return -1;
    return banlist_remove (b, &net);
}

/*  Is TEXT banned at WHEN? The hit's text in HIT (may be NULL).           */
static bool
banned (banlist_t *b, const char *text, uint64_t when, char *hit_text)
{
    int family;
    uint8_t addr[16];
    if (banlist_parse_addr (text, &family, addr) != 0)
        return false;
    banlist_hit_t hit;
    bool yes = banlist_lookup (b, family, addr, when, &hit);
    if (yes && hit_text)
        strcpy (hit_text, hit.net);
    return yes;
}

static void
test_match (tally_t *t)
{
    banlist_t *b = banlist_new ();
    char hit[64];
    check (t, !banned (b, "192.0.2.1", NOW, NULL), "empty list bans nothing");
    check (t, ban (b, "192.0.2.1", 0) == 0, "add v4");
    check (t, ban (b, "198.51.100.77/24", 0) == 0, "add v4 /24 with host bits");
    check (t, ban (b, "10.0.0.0/8", 0) == 0, "add v4 /8");
    check (t, ban (b, "2001:db8::7", 0) == 0, "add v6");
    check (t, ban (b, "2001:db8:bad::/48", 0) == 0, "add v6 /48");
    check (t, banlist_size (b) == 5, "size 5");

    check (t, banned (b, "192.0.2.1", NOW, hit) && strcmp (hit, "192.0.2.1") == 0, "v4 exact: %s", hit);
    check (t, !banned (b, "192.0.2.2", NOW, NULL), "v4 neighbour passes");
    check (t, banned (b, "198.51.100.1", NOW, hit) && strcmp (hit, "198.51.100.0/24") == 0,
           "v4 in /24: %s", hit);
    check (t, banned (b, "198.51.100.255", NOW, NULL), "v4 /24 top");
    check (t, !banned (b, "198.51.101.0", NOW, NULL), "v4 next /24 passes");
    check (t, banned (b, "10.200.3.4", NOW, hit) && strcmp (hit, "10.0.0.0/8") == 0, "v4 /8");
    check (t, !banned (b, "11.0.0.0", NOW, NULL), "v4 outside /8");
    check (t, banned (b, "2001:db8::7", NOW, hit) && strcmp (hit, "2001:db8::7") == 0, "v6 exact");
    check (t, banned (b, "2001:0db8:0000::0007", NOW, NULL), "v6 exact, other spelling");
    check (t, !banned (b, "2001:db8::8", NOW, NULL), "v6 neighbour passes");
    check (t, banned (b, "2001:db8:bad:ffff::1", NOW, hit) && strcmp (hit, "2001:db8:bad::/48") == 0,
           "v6 in /48: %s", hit);
    check (t, !banned (b, "2001:db8:bae::1", NOW, NULL), "v6 outside /48");
    check (t, banned (b, "::ffff:192.0.2.1", NOW, NULL), "IPv4-mapped IPv6 is IPv4");
    check (t, !banned (b, "::192.0.2.1", NOW, NULL), "IPv4-compatible is IPv6");
    check (t, !banned (b, "::", NOW, NULL), "v6 any passes");

    /* the most specific entry is reported */
    check (t, ban (b, "10.1.2.3", 0) == 0 && banned (b, "10.1.2.3", NOW, hit)
                  && strcmp (hit, "10.1.2.3") == 0, "most specific first: %s", hit);
    /* a mapped range, and everything */
    check (t, ban (b, "::ffff:203.0.113.0/120", 0) == 0 && banned (b, "203.0.113.9", NOW, hit)
                  && strcmp (hit, "203.0.113.0/24") == 0, "mapped /120 is a v4 /24: %s", hit);
    banlist_t *all = banlist_new ();
    check (t, ban (all, "0.0.0.0/0", 0) == 0 && banned (all, "255.255.255.255", NOW, NULL)
                  && !banned (all, "::1", NOW, NULL), "v4 /0 bans all v4, no v6");
    check (t, ban (all, "::/0", 0) == 0 && banned (all, "::1", NOW, NULL), "v6 /0");
    banlist_destroy (&all);

    /* UNBAN: exact key only */
    check (t, unban (b, "198.51.100.0/24") == 1 && !banned (b, "198.51.100.1", NOW, NULL),
           "unban the /24");
    check (t, unban (b, "198.51.100.0/24") == 0, "unban twice: not there");
    check (t, unban (b, "10.0.0.0/16") == 0 && banned (b, "10.9.9.9", NOW, NULL),
           "unban of another prefix leaves the /8");
    check (t, unban (b, "2001:db8::7") == 1 && !banned (b, "2001:db8::7", NOW, NULL), "unban v6");
    banlist_destroy (&b);
    check (t, b == NULL, "destroy clears the pointer");
}

static void
test_expiry (tally_t *t)
{
    banlist_t *b = banlist_new ();
    ban (b, "192.0.2.10", NOW + 10 * SEC);
    ban (b, "192.0.2.0/24", NOW + 100 * SEC);
    ban (b, "2001:db8::/32", NOW + 5 * SEC);
    ban (b, "192.0.2.99", 0);
    check (t, banned (b, "192.0.2.10", NOW, NULL), "live before expiry");
    char hit[64];
    /* at +10 s the exact entry expired: the /24 still covers the address */
    check (t, banned (b, "192.0.2.10", NOW + 10 * SEC, hit) && strcmp (hit, "192.0.2.0/24") == 0,
           "expired exact entry purged on lookup, the range answers: %s", hit);
    check (t, banlist_expired (b) == 1 && banlist_size (b) == 3, "one purged lazily");
    check (t, !banned (b, "2001:db8::1", NOW + 6 * SEC, NULL), "v6 range expired");
    check (t, banlist_expired (b) == 2, "two purged");
    check (t, banned (b, "192.0.2.99", UINT64_MAX, NULL), "no expiry: forever");

    /* extension: the later expiry wins; "never" beats any time */
    ban (b, "192.0.2.0/24", NOW + 50 * SEC);
    check (t, banned (b, "192.0.2.1", NOW + 99 * SEC, NULL), "a shorter ban does not shorten");
    ban (b, "192.0.2.0/24", NOW + 200 * SEC);
    check (t, banned (b, "192.0.2.1", NOW + 199 * SEC, NULL), "a longer ban extends");
    ban (b, "192.0.2.0/24", 0);
    check (t, banned (b, "192.0.2.1", NOW + 1000 * SEC, NULL), "a permanent ban extends forever");
    ban (b, "192.0.2.0/24", NOW + 1 * SEC);
    check (t, banned (b, "192.0.2.1", NOW + 1000 * SEC, NULL), "and stays permanent");

    /* the sweep */
    ban (b, "198.51.100.1", NOW + 1 * SEC);
    ban (b, "198.51.100.2", NOW + 2 * SEC);
    ban (b, "198.51.100.3", NOW + 3 * SEC);
    size_t before = banlist_size (b);
    check (t, banlist_purge (b, NOW + 2 * SEC) == 2 && banlist_size (b) == before - 2,
           "purge sweeps two");
    check (t, banlist_expired (b) == 4, "expired counts lazy and swept: %llu",
           (unsigned long long) banlist_expired (b));
    check (t, banned (b, "198.51.100.3", NOW + 2 * SEC, NULL), "the third still live");
    banlist_destroy (&b);
}

static void
test_parse (tally_t *t)
{
    struct {
        const char *text, *error;
    } bad[] = {
        { "", "'' is not an IP address" },
        { "300.1.1.1", "'300.1.1.1' is not an IP address" },
        { "1.2.3", "'1.2.3' is not an IP address" },
        { "example.com", "'example.com' is not an IP address" },
        { "1.2.3.4/", "prefix '/' is not a number" },
        { "1.2.3.4/-1", "prefix '/-1' is not a number" },
        { "1.2.3.4/33", "prefix /33 is out of range for IPv4 (0..32)" },
        { "2001:db8::/129", "prefix /129 is out of range for IPv6 (0..128)" },
        { "::ffff:1.2.3.4/64", "prefix /64 of an IPv4-mapped address must be 96..128" },
        { "1.2.3.4/8/8", "prefix '/8/8' is not a number" },
        { " 1.2.3.4", "' 1.2.3.4' is not an IP address" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        banlist_net_t net;
        char err[128] = "";
        int rc = banlist_parse_net (bad[i].text, &net, err, sizeof err);
        check (t, rc == -1 && strcmp (err, bad[i].error) == 0, "parse '%s': '%s'", bad[i].text, err);
    }
    banlist_net_t net;
    char err[128], text[64];
    check (t, banlist_parse_net ("192.0.2.77/26", &net, err, sizeof err) == 0 && net.prefix == 26,
           "parse /26");
    banlist_format_net (&net, text, sizeof text);
    check (t, strcmp (text, "192.0.2.64/26") == 0, "host bits cleared: %s", text);
    banlist_parse_net ("2001:db8:0:0:1::/128", &net, err, sizeof err);
    banlist_format_net (&net, text, sizeof text);
    check (t, strcmp (text, "2001:db8:0:0:1::") == 0, "full v6 prefix printed bare: %s", text);
}

static void
test_file (tally_t *t, const char *dir)
{
    char path[512], err[2048];
    banlist_t *b = banlist_new ();
    write_file (dir, "good.bans",
                "# a comment\n"
                "\n"
                "192.0.2.1\n"
                "   198.51.100.0/24   60   # a day? no, a minute\n"
                "2001:db8::/32 0\n"
                "\t203.0.113.5\t3600\r\n",
                path, sizeof path);
    check (t, load_bans (b, path, NOW, err, sizeof err) == 0 && *err == 0, "good file: %s", err);
    check (t, banlist_size (b) == 4, "4 entries: %zu", banlist_size (b));
    check (t, banned (b, "198.51.100.9", NOW + 59 * SEC, NULL)
                  && !banned (b, "198.51.100.9", NOW + 60 * SEC, NULL), "duration counts from load");
    check (t, banned (b, "2001:db8:1::1", NOW + 1000000 * SEC, NULL), "0 = no expiry");
    check (t, banned (b, "203.0.113.5", NOW, NULL), "tabs and CRLF");

    banlist_t *c = banlist_new ();
    write_file (dir, "bad.bans",
                "192.0.2.1\n"
                "# fine\n"
                "192.0.2.300\n"
                "192.0.2.0/24 soon\n"
                "10.0.0.0/40\n"
                "10.0.0.1 60 extra\n"
                "10.0.0.2 -5\n"
                "10.0.0.3 # ok\n",
                path, sizeof path);
    int errors = load_bans (c, path, NOW, err, sizeof err);
    check (t, errors == 5, "5 errors: %d", errors);
    char want[5][700];
    snprintf (want[0], sizeof want[0], "%s:3: '192.0.2.300' is not an IP address", path);
    snprintf (want[1], sizeof want[1], "%s:4: 'soon' is not a duration in seconds", path);
    snprintf (want[2], sizeof want[2], "%s:5: prefix /40 is out of range for IPv4 (0..32)", path);
    snprintf (want[3], sizeof want[3], "%s:6: unexpected 'extra' after the duration", path);
    snprintf (want[4], sizeof want[4], "%s:7: '-5' is not a duration in seconds", path);
    for (int i = 0; i < 5; i++)
        check (t, strstr (err, want[i]) != NULL, "expected '%s' in:\n%s", want[i], err);
    check (t, banlist_size (c) == 0, "nothing added from a file with errors");
    banlist_destroy (&c);

    c = banlist_new ();
    check (t, load_bans (c, "/nonexistent/bans", NOW, err, sizeof err) == 1
                  && strstr (err, "/nonexistent/bans: cannot open: ") == err, "missing file: %s", err);
    check (t, load_bans (c, SOURCE_DIR "/deploy/bridge-mitm/bans.example", NOW, err,
                            sizeof err) == 0 && banlist_size (c) == 4,
           "the shipped example loads: %s", err);
    banlist_destroy (&c);
    banlist_destroy (&b);
}

static void
test_many (tally_t *t)
{
    banlist_t *b = banlist_new ();
    for (unsigned i = 0; i < 10000; i++) {
        banlist_net_t v4 = { .family = AF_INET, .prefix = 32 };
        uint32_t a = htonl (0x0a000000u | i * 7);
        memcpy (v4.addr, &a, 4);
        banlist_add (b, &v4, 0);
        banlist_net_t v6 = { .family = AF_INET6, .prefix = (i % 3) ? 128 : 64 };
        v6.addr[0] = 0x20, v6.addr[1] = 0x01, v6.addr[6] = (uint8_t) (i >> 8),
        v6.addr[7] = (uint8_t) i, v6.addr[15] = 1;
        banlist_add (b, &v6, (i % 2) ? 0 : NOW + SEC);
    }
    check (t, banlist_size (b) == 20000, "20000 entries: %zu", banlist_size (b));
    unsigned found = 0;
    for (unsigned i = 0; i < 10000 * 7; i++) {
        uint32_t a = htonl (0x0a000000u | i);
        found += banlist_lookup (b, AF_INET, (uint8_t *) &a, NOW, NULL);
    }
    check (t, found == 10000, "each v4 found once: %u", found);
    check (t, banlist_purge (b, NOW + SEC) == 5000 && banlist_size (b) == 15000, "purge half the v6");
    banlist_destroy (&b);
}

int
main (void)
{
    tally_t t = { 0 };
    char dir[] = "/tmp/test_bridge_banlist.XXXXXX";
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        return 1;
    }
    test_match (&t);
    test_expiry (&t);
    test_parse (&t);
    test_file (&t, dir);
    test_many (&t);
    remove_tree (dir);
    return tally_report (&t);
}
