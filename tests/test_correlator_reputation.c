/*  test_correlator_reputation.c — the correlator's address scores: decay,
    cap, multiplier, threshold, whitelist, bans, LRU bound, prefixes, top,
    and the file.                                                           */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reputation.h"
#include "tally.h"

#define S 1000000000ull             /* one second in ns                      */
#define T0 (1700000000ull * S)
#define HOUR 3600

static reputation_t *
make (size_t max, bool prefixes, double multiplier)
{
    rep_params_t p = { .half_life_s = HOUR, .max_entries = max, .prefixes = prefixes,
                       .multiplier = multiplier, .threshold = 50 };
    return reputation_new (&p);
}

static double
score_of (reputation_t *r, const char *ip, uint64_t now)
{
    rep_entry_t e;
    return reputation_get (r, ip, now, &e) ? e.score : -1;
}

static void
test_decay_cap_multiplier (tally_t *t)
{
    reputation_t *r = make (16, false, 1.0);
    double s = reputation_add (r, "192.0.2.1", 40, "waf_block", T0);
    check (t, fabs (s - 40) < 1e-9, "add returns the score: %g", s);
    s = score_of (r, "192.0.2.1", T0 + HOUR * S);
    check (t, fabs (s - 20) < 1e-6, "half after one half-life: %g", s);
    s = score_of (r, "192.0.2.1", T0 + 2 * HOUR * S);
    check (t, fabs (s - 10) < 1e-6, "a quarter after two: %g", s);
    s = reputation_add (r, "192.0.2.1", 10, "scan", T0 + HOUR * S);
    check (t, fabs (s - 30) < 1e-6, "decayed, then raised: %g", s);
    s = reputation_add (r, "192.0.2.1", 90, "scan", T0 + HOUR * S);
    check (t, s == 100, "capped at 100: %g", s);
    check (t, score_of (r, "192.0.2.1", T0) == 100, "a clock gone back decays nothing");
    rep_entry_t e;
    reputation_get (r, "192.0.2.1", T0 + HOUR * S, &e);
    check (t, e.events == 3 && strcmp (e.last_kind, "scan") == 0 && e.first_seen_ns == T0
                  && e.last_seen_ns == T0 + HOUR * S,
           "entry: events %llu kind %s", (unsigned long long) e.events, e.last_kind);
    check (t, !reputation_get (r, "192.0.2.2", T0, &e), "unknown address");
    reputation_destroy (&r);
    check (t, r == NULL, "destroy NULLs");

    for (int i = 0; i < 3; i++) {
        double m[] = { 0.5, 1.0, 1.5 };
        r = make (16, false, m[i]);
        s = reputation_add (r, "2001:db8::1", 20, "x", T0);
        check (t, fabs (s - 20 * m[i]) < 1e-9, "multiplier %g: %g", m[i], s);
        reputation_destroy (&r);
    }
}

static void
test_threshold_ban (tally_t *t)
{
    reputation_t *r = make (16, false, 1.0);
    reputation_add (r, "198.51.100.9", 49, "x", T0);
    check (t, !reputation_should_ban (r, "198.51.100.9", T0), "49 < 50: no ban");
    reputation_add (r, "198.51.100.9", 1, "x", T0);
    check (t, reputation_should_ban (r, "198.51.100.9", T0), "50: ban");
    check (t, !reputation_should_ban (r, "198.51.100.9", T0 + 60 * S), "decayed under: no ban");
    check (t, !reputation_should_ban (r, "198.51.100.10", T0), "unknown: no ban");
    reputation_add (r, "198.51.100.9", 100, "x", T0);
    reputation_set_banned (r, "198.51.100.9", T0 + 600 * S);
    check (t, !reputation_should_ban (r, "198.51.100.9", T0 + 1 * S), "banned already: no ban");
    rep_entry_t e;
    reputation_get (r, "198.51.100.9", T0 + 599 * S, &e);
    check (t, e.banned_until_ns == T0 + 600 * S, "ban until");
    reputation_get (r, "198.51.100.9", T0 + 600 * S, &e);
    check (t, e.banned_until_ns == 0, "ban expired");
    check (t, reputation_should_ban (r, "198.51.100.9", T0 + 600 * S), "expired ban: ban again");
    reputation_set_banned (r, "203.0.113.5", T0 + S);
    check (t, reputation_get (r, "203.0.113.5", T0, &e) && e.score == 0
                  && e.banned_until_ns == T0 + S, "ban of an unknown address recorded");
    reputation_destroy (&r);
}

static void
test_whitelist (tally_t *t)
{
    reputation_t *r = make (16, false, 1.0);
    char err[128];
    check (t, reputation_whitelist_add (r, "192.0.2.0/25", err, sizeof err) == 0, "add v4");
    check (t, reputation_whitelist_add (r, "2001:db8::/32", err, sizeof err) == 0, "add v6");
    check (t, reputation_whitelist_add (r, "10.1.2.3", err, sizeof err) == 0, "add one");
    check (t, reputation_whitelist_add (r, "10.1.2.3", err, sizeof err) == 0
                  && reputation_whitelist_count (r) == 3, "duplicate listed once");
    check (t, strcmp (reputation_whitelist_item (r, 0), "192.0.2.0/25") == 0
                  && reputation_whitelist_item (r, 3) == NULL, "items");
    check (t, reputation_whitelisted (r, "192.0.2.127"), "in /25");
    check (t, !reputation_whitelisted (r, "192.0.2.128"), "not a /24: real prefix");
    check (t, reputation_whitelisted (r, "::ffff:192.0.2.1"), "mapped is its v4");
    check (t, reputation_whitelisted (r, "2001:db8:ffff::1"), "in v6 /32");
    check (t, !reputation_whitelisted (r, "2001:db9::1"), "outside v6 /32");
    check (t, !reputation_whitelisted (r, "10.1.2.4"), "single address only");
    check (t, !reputation_whitelisted (r, "nonsense"), "nonsense not listed");
    const struct { const char *cidr, *why; } bad[] = {
        { "192.0.2.0/33", "prefix /33 is out of range for IPv4 (0..32)" },
        { "2001:db8::/129", "prefix /129 is out of range for IPv6 (0..128)" },
        { "example.org/8", "'example.org' is not an IP address" },
        { "1.2.3.4/x", "prefix '/x' is not a number" },
        { "::ffff:1.2.3.0/64", "prefix /64 of an IPv4-mapped address must be 96..128" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = reputation_whitelist_add (r, bad[i].cidr, err, sizeof err);
        check (t, rc == -1 && strcmp (err, bad[i].why) == 0, "refused %s: %s", bad[i].cidr, err);
    }
    check (t, reputation_whitelist_add (r, "::ffff:10.9.0.0/112", err, sizeof err) == 0
                  && reputation_whitelisted (r, "10.9.255.1"), "mapped CIDR is a v4 /16");
    double s = reputation_add (r, "192.0.2.5", 100, "waf_block", T0);
    rep_entry_t e;
    check (t, s == 100 && reputation_get (r, "192.0.2.5", T0, &e) && e.whitelisted,
           "whitelisted but recorded");
    check (t, !reputation_should_ban (r, "192.0.2.5", T0), "whitelisted never banned");
    check (t, reputation_stats (r).whitelisted_hits == 1, "whitelisted hit counted");
    check (t, reputation_whitelist_del (r, "192.0.2.0/25") == 0
                  && reputation_whitelist_del (r, "192.0.2.0/25") == -1, "del, then not listed");
    check (t, reputation_should_ban (r, "192.0.2.5", T0), "unlisted: ban");
    reputation_destroy (&r);
}

static void
test_lru_prefixes_top (tally_t *t)
{
    reputation_t *r = make (4, false, 1.0);
    char ip[32];
    for (int i = 1; i <= 6; i++) {
        snprintf (ip, sizeof ip, "192.0.2.%d", i);
        reputation_add (r, ip, (uint32_t) i, "x", T0 + (uint64_t) i * S);
    }
    reputation_add (r, "192.0.2.3", 1, "x", T0 + 10 * S);       /* seen again */
    reputation_add (r, "192.0.2.7", 1, "x", T0 + 11 * S);       /* evicts .4 */
    rep_stats_t st = reputation_stats (r);
    check (t, st.entries == 4 && st.evicted == 3, "bound 4: %llu entries, %llu evicted",
           (unsigned long long) st.entries, (unsigned long long) st.evicted);
    check (t, !reputation_get (r, "192.0.2.4", T0, NULL) && reputation_get (r, "192.0.2.3", T0, NULL),
           "least recently seen evicted");
    reputation_add (r, "bogus", 1, "x", T0);
    check (t, reputation_stats (r).invalid == 1, "invalid counted");
    reputation_destroy (&r);

    r = make (16, true, 1.0);
    reputation_add (r, "192.0.2.7", 10, "x", T0);
    reputation_add (r, "::ffff:192.0.2.200", 15, "x", T0);
    reputation_add (r, "2001:db8:0:1::5", 20, "x", T0);
    reputation_add (r, "2001:db8:0:1:ffff::9", 30, "x", T0);
    check (t, fabs (score_of (r, "192.0.2.0/24", T0) - 25) < 1e-9, "v4 /24 aggregate");
    check (t, fabs (score_of (r, "2001:db8:0:1::/64", T0) - 50) < 1e-9, "v6 /64 aggregate");
    check (t, fabs (score_of (r, "192.0.2.200", T0) - 15) < 1e-9, "mapped scored as v4");
    check (t, reputation_should_ban (r, "2001:db8:0:1::/64", T0), "aggregate can reach it");
    rep_entry_t top[10];
    size_t n = reputation_top (r, T0, top, 10);
    check (t, n == 6, "top: %zu entries", n);
    bool ordered = true;
    for (size_t i = 1; i < n; i++)
        ordered &= top[i - 1].score >= top[i].score;
    check (t, ordered && strcmp (top[0].ip, "2001:db8:0:1::/64") == 0, "top ordering: %s first",
           top[0].ip);
    check (t, reputation_top (r, T0, top, 2) == 2 && strcmp (top[1].ip, "2001:db8:0:1:ffff::9") == 0,
           "top 2: %s", top[1].ip);
    reputation_destroy (&r);
}

static void
test_file (tally_t *t, const char *dir)
{
    char path[600], err[256] = "";
    snprintf (path, sizeof path, "%s/state/reputation", dir);
    reputation_t *r = make (16, true, 1.0);
    check (t, reputation_load (r, path, err, sizeof err) == 0, "missing file: not an error");
    reputation_add (r, "192.0.2.7", 80, "waf block", T0);
    reputation_add (r, "2001:db8::1", 40, "scan", T0 + HOUR * S);
    reputation_set_banned (r, "2001:db8::1", T0 + 3 * HOUR * S);
    reputation_whitelist_add (r, "10.0.0.0/8", err, sizeof err);
    check (t, reputation_save (r, path, T0 + HOUR * S, err, sizeof err) == 0, "save: %s", err);
    reputation_destroy (&r);

    r = make (16, true, 1.0);
    check (t, reputation_load (r, path, err, sizeof err) == 0, "load: %s", err);
    double s = score_of (r, "192.0.2.7", T0 + 2 * HOUR * S);
    check (t, fabs (s - 20) < 1e-6, "decay survives the restart: %g", s);
    rep_entry_t e;
    check (t, reputation_get (r, "2001:db8::1", T0 + HOUR * S, &e) && fabs (e.score - 40) < 1e-9
                  && e.banned_until_ns == T0 + 3 * HOUR * S && strcmp (e.last_kind, "scan") == 0
                  && e.first_seen_ns == T0 + HOUR * S && e.events == 1, "entry round trip");
    check (t, reputation_get (r, "192.0.2.7", T0, &e) && strcmp (e.last_kind, "waf_block") == 0,
           "kind made one token: %s", e.last_kind);
    check (t, reputation_stats (r).entries == 4, "entries and aggregates back");
    check (t, reputation_whitelist_count (r) == 0, "whitelist not persisted");
    reputation_destroy (&r);

    const struct { const char *text, *why; } bad[] = {
        { "dpi-dual-reputation 1\n# c\n\n192.0.2.1 1 1 1 1 1 0 x\n192.0.2.2 zz 1 1 1 1 0 x\n",
          ":5: score: not a number in 0..100" },
        { "dpi-dual-reputation 1\n192.0.2.1 1 1 1 1 1 0\n", ":2: 7 fields, not 8" },
        { "dpi-dual-reputation 1\nexample 1 1 1 1 1 0 x\n", ":2: ip: not an address or prefix" },
        { "dpi-dual-reputation 1\n192.0.2.1 1 1 1 -1 1 0 x\n", ":2: last_seen_ns: not a whole" },
        { "dpi-dual-reputation 2\n", ":1: format version '2' unknown" },
        { "hello\n", ":1: not a reputation file" },
        { "", ":1: empty" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char file[700];
        write_file (dir, "bad", bad[i].text, file, sizeof file);
        r = make (16, false, 1.0);
        reputation_add (r, "198.51.100.1", 5, "x", T0);
        err[0] = 0;
        int rc = reputation_load (r, file, err, sizeof err);
        check (t, rc == -1 && strncmp (err, file, strlen (file)) == 0 && strstr (err, bad[i].why),
               "damaged file %zu: %s", i, err);
        check (t, reputation_stats (r).entries == 1, "damaged file %zu changed nothing", i);
        reputation_destroy (&r);
    }
}

int
main (void)
{
    tally_t t = { 0 };
    char dir[] = "/tmp/test_reputation.XXXXXX";
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        return 1;
    }
    test_decay_cap_multiplier (&t);
    test_threshold_ban (&t);
    test_whitelist (&t);
    test_lru_prefixes_top (&t);
    test_file (&t, dir);
    remove_tree (dir);
    return tally_report (&t);
}
