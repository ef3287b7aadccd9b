/*  test_community_id.c — unit test for common/community_id.c.

    Checks the SHA-1 on the FIPS 180 vectors, then the Community ID on the
    values published by corelight/community-id-spec (baseline/README.md and
    baseline/baseline_*.json) and by its reference implementation's test
    suite (corelight/pycommunityid tests/communityid_test.py). Every expected
    string in s_vectors is copied from those files, not produced by this code;
    the few other expected values name their independent source (FIPS 180,
    coreutils sha1sum, Python hashlib). Then the properties the correlator
    relies on: direction independence, equal addresses ordered by port, bad
    input rejected with -1.

    Exits non-zero on any failure; the last line is "N passed, M failed".    */
#include "community_id.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"


/*  ---------------------------------------------------------------------
    SHA-1                                                                    */

static void
to_hex (const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf (out + 2 * i, "%02x", in[i]);
}

static void
check_sha1 (tally_t *self, const char *label, const void *data, size_t len,
            const char *expected)
{
    uint8_t digest[COMMUNITY_ID_SHA1_LEN];
    char hex[2 * COMMUNITY_ID_SHA1_LEN + 1];
    community_id_sha1 (data, len, digest);
    to_hex (digest, sizeof digest, hex);
    check (self, strcmp (hex, expected) == 0, "sha1 %s: got %s, want %s",
           label, hex, expected);
}

static void
test_sha1 (tally_t *self)
{
    /*  FIPS 180-1 appendices A and B, FIPS 180-2 / RFC 3174 test 2, the
        empty message, and the million 'a' of FIPS 180-1 appendix C.       */
    check_sha1 (self, "empty", "", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check_sha1 (self, "NULL/0", NULL, 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check_sha1 (self, "abc", "abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha1 (self, "448-bit", m448, strlen (m448),
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                       "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_sha1 (self, "896-bit", m896, strlen (m896),
                "a49b2446a02c645bf419f995b67091253a04a259");

    size_t million = 1000000;
    char *a = malloc (million);
    if (!a) {
        check (self, false, "sha1: out of memory");
        return;
    }
    memset (a, 'a', million);
    check_sha1 (self, "million a", a, million, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");

    /*  Padding boundaries (one or two tail blocks), expected values from
        coreutils sha1sum over the same number of 'a' bytes.                */
    static const struct {
        size_t len;
        const char *digest;
    } boundaries[] = {
        {  55, "c1c8bbdc22796e28c0e15163d20899b65621d65a" },
        {  63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5" },
        {  64, "0098ba824b5c16427bd7a1122a5a442a25ec644d" },
        {  65, "11655326c708d70319be2610e8a57d9a5b959d3b" },
        { 119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56" },
        { 120, "f34c1488385346a55709ba056ddd08280dd4c6d6" },
    };
    for (size_t i = 0; i < sizeof boundaries / sizeof boundaries[0]; i++) {
        char label[32];
        snprintf (label, sizeof label, "%zu x 'a'", boundaries[i].len);
        check_sha1 (self, label, a, boundaries[i].len, boundaries[i].digest);
    }
    free (a);
}

/*  ---------------------------------------------------------------------
    Published Community ID vectors                                          */

typedef struct {
    uint8_t proto;
    const char *saddr, *daddr;
    uint16_t sport, dport;      /* ICMP/ICMPv6: type, code */
    uint16_t seed;
    bool hex;
    const char *expected;
} vector_t;

static const vector_t s_vectors[] = {
    /* community-id-spec baseline/README.md: "Default settings", "A custom
       seed=1 value" and "No base64-encoding" tables. */
    {   6, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 0, false, "1:wCb3OG7yAFWelaUydu0D+125CLM=" },
    {   6, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 0, false, "1:wCb3OG7yAFWelaUydu0D+125CLM=" },
    {  17, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 0, false, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=" },
    {  17, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 0, false, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=" },
    { 132, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 0, false, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=" },
    { 132, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 0, false, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=" },
    {   1, "1.2.3.4",                                 "5.6.7.8",                                     8,     0, 0, false, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=" },
    {   1, "5.6.7.8",                                 "1.2.3.4",                                     0,     0, 0, false, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=" },
    {   1, "1.2.3.4",                                 "5.6.7.8",                                    11,     0, 0, false, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=" },
    {  58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",   128,     0, 0, false, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=" },
    {  58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",   129,     0, 0, false, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=" },
    {  58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",   146,     0, 0, false, "1:fYC8+pz24E+EhANP1EZhpX0Dw10=" },
    {  46, "1.2.3.4",                                 "5.6.7.8",                                     0,     0, 0, false, "1:ikv3kmf89luf73WPz1jOs49S768=" },
    {  46, "5.6.7.8",                                 "1.2.3.4",                                     0,     0, 0, false, "1:ikv3kmf89luf73WPz1jOs49S768=" },
    {  46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",     0,     0, 0, false, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=" },
    {  46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",     0,     0, 0, false, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=" },
    {   6, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 1, false, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=" },
    {   6, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 1, false, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=" },
    {  17, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 1, false, "1:OShq+iKDAMVouh/4bMxB9Sz4amw=" },
    {  17, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 1, false, "1:OShq+iKDAMVouh/4bMxB9Sz4amw=" },
    { 132, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 1, false, "1:uitchpn5MMGAQKBJh7bIr/bAr7s=" },
    { 132, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 1, false, "1:uitchpn5MMGAQKBJh7bIr/bAr7s=" },
    {   1, "1.2.3.4",                                 "5.6.7.8",                                     8,     0, 1, false, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=" },
    {   1, "5.6.7.8",                                 "1.2.3.4",                                     0,     0, 1, false, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=" },
    {   1, "1.2.3.4",                                 "5.6.7.8",                                    11,     0, 1, false, "1:1DD7cWGC/Yg91YGsQeni8du3pIA=" },
    {  58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",   128,     0, 1, false, "1:IO27GQzPuCtNnwFvjWALMHu5tJE=" },
    {  58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",   129,     0, 1, false, "1:IO27GQzPuCtNnwFvjWALMHu5tJE=" },
    {  58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",   146,     0, 1, false, "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=" },
    {  46, "1.2.3.4",                                 "5.6.7.8",                                     0,     0, 1, false, "1:/buhqeOmaRCopOZFy9HnoJd5XW8=" },
    {  46, "5.6.7.8",                                 "1.2.3.4",                                     0,     0, 1, false, "1:/buhqeOmaRCopOZFy9HnoJd5XW8=" },
    {  46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",     0,     0, 1, false, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=" },
    {  46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",     0,     0, 1, false, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=" },
    {   6, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 0, true , "1:c026f7386ef200559e95a53276ed03fb5db908b3" },
    {   6, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 0, true , "1:c026f7386ef200559e95a53276ed03fb5db908b3" },
    {  17, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 0, true , "1:d0cbbd227431eb3e1988264cffb1d78b658c84e8" },
    {  17, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 0, true , "1:d0cbbd227431eb3e1988264cffb1d78b658c84e8" },
    { 132, "1.2.3.4",                                 "5.6.7.8",                                  1122,  3344, 0, true , "1:10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f" },
    { 132, "5.6.7.8",                                 "1.2.3.4",                                  3344,  1122, 0, true , "1:10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f" },
    {   1, "1.2.3.4",                                 "5.6.7.8",                                     8,     0, 0, true , "1:72ba1d4472f6144b078dbbf752446b7dbb386d9d" },
    {   1, "5.6.7.8",                                 "1.2.3.4",                                     0,     0, 0, true , "1:72ba1d4472f6144b078dbbf752446b7dbb386d9d" },
    {   1, "1.2.3.4",                                 "5.6.7.8",                                    11,     0, 0, true , "1:7ff6224b25aa733ad381f5026650549ef1d170f9" },
    {  58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",   128,     0, 0, true , "1:d1b7fb872309530b777cc103ef3f0b21f46905ea" },
    {  58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",   129,     0, 0, true , "1:d1b7fb872309530b777cc103ef3f0b21f46905ea" },
    {  58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",   146,     0, 0, true , "1:7d80bcfa9cf6e04f8484034fd44661a57d03c35d" },
    {  46, "1.2.3.4",                                 "5.6.7.8",                                     0,     0, 0, true , "1:8a4bf79267fcf65b9fef758fcf58ceb38f52efaf" },
    {  46, "5.6.7.8",                                 "1.2.3.4",                                     0,     0, 0, true , "1:8a4bf79267fcf65b9fef758fcf58ceb38f52efaf" },
    {  46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",     0,     0, 0, true , "1:c10ff69b0ae75cfe259897077462f978f8d1f9ed" },
    {  46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",     0,     0, 0, true , "1:c10ff69b0ae75cfe259897077462f978f8d1f9ed" },
    /* community-id-spec baseline/baseline_deflt.json (pcaps/combined.pcap.gz through
       pycommunityid's community-id-pcap; ICMP ports are type and counterpart
       type, or type and code for one-way types; null ports written as 0). */
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  135,   136, 0, false, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  136,   135, 0, false, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  135,   136, 0, false, "1:zavyT/cezQr1fmImYCwYnMXbgck=" },
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  136,   135, 0, false, "1:zavyT/cezQr1fmImYCwYnMXbgck=" },
    {  58, "3ffe:501:1800:2345::2",                   "3ffe:507:0:1:200:86ff:fe05:80da",             3,     0, 0, false, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=" },
    {  58, "3ffe:501:410:0:2c0:dfff:fe47:33e",        "3ffe:507:0:1:200:86ff:fe05:80da",             1,     4, 0, false, "1:hLZd0XGWojozrvxqE0dWB1iM6R0=" },
    {  58, "3ffe:507:0:1:200:86ff:fe05:80da",         "3ffe:501:0:1001::2",                        128,   129, 0, false, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=" },
    {  58, "3ffe:501:0:1001::2",                      "3ffe:507:0:1:200:86ff:fe05:80da",           129,   128, 0, false, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=" },
    {  58, "fe80::200:86ff:fe05:80da",                "ff02::2",                                   133,   134, 0, false, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=" },
    {  58, "fe80::260:97ff:fe07:69ea",                "ff02::1",                                   134,   133, 0, false, "1:pkvHqCL88/tg1k4cPigmZXUtL00=" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                 8,     0, 0, false, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,     8, 0, false, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=" },
    {   1, "10.0.0.1",                                "10.0.0.2",                                   11,     0, 0, false, "1:YHxtAirCG//0OzkcVAukqKQN9xM=" },
    {   6, "2001:470:e5bf:dead:4957:2174:e82c:4887",  "2607:f8b0:400c:c03::1a",                  63943,    25, 0, false, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=" },
    {   6, "2607:f8b0:400c:c03::1a",                  "2001:470:e5bf:dead:4957:2174:e82c:4887",     25, 63943, 0, false, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=" },
    { 132, "192.168.170.8",                           "192.168.170.56",                              7,     7, 0, false, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=" },
    { 132, "192.168.170.56",                          "192.168.170.8",                               7,     7, 0, false, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=" },
    {   6, "128.232.110.120",                         "66.35.250.204",                           34855,    80, 0, false, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=" },
    {   6, "66.35.250.204",                           "128.232.110.120",                            80, 34855, 0, false, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=" },
    {  17, "192.168.1.52",                            "8.8.8.8",                                 54585,    53, 0, false, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=" },
    {  17, "8.8.8.8",                                 "192.168.1.52",                               53, 54585, 0, false, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=" },
    {  46, "10.1.12.1",                               "10.1.12.2",                                   0,     0, 0, false, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=" },
    {  46, "10.1.12.2",                               "10.1.12.1",                                   0,     0, 0, false, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=" },
    /* community-id-spec baseline/baseline_seed1.json (pcaps/combined.pcap.gz through
       pycommunityid's community-id-pcap; ICMP ports are type and counterpart
       type, or type and code for one-way types; null ports written as 0). */
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  135,   136, 1, false, "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  136,   135, 1, false, "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  135,   136, 1, false, "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM=" },
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  136,   135, 1, false, "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM=" },
    {  58, "3ffe:501:1800:2345::2",                   "3ffe:507:0:1:200:86ff:fe05:80da",             3,     0, 1, false, "1:lVEtCZpYu84Xqaa++3lXFyuu2n4=" },
    {  58, "3ffe:501:410:0:2c0:dfff:fe47:33e",        "3ffe:507:0:1:200:86ff:fe05:80da",             1,     4, 1, false, "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8=" },
    {  58, "3ffe:507:0:1:200:86ff:fe05:80da",         "3ffe:501:0:1001::2",                        128,   129, 1, false, "1:GfZxjAkDk2MkegpBYHV6tadtFXQ=" },
    {  58, "3ffe:501:0:1001::2",                      "3ffe:507:0:1:200:86ff:fe05:80da",           129,   128, 1, false, "1:GfZxjAkDk2MkegpBYHV6tadtFXQ=" },
    {  58, "fe80::200:86ff:fe05:80da",                "ff02::2",                                   133,   134, 1, false, "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8=" },
    {  58, "fe80::260:97ff:fe07:69ea",                "ff02::1",                                   134,   133, 1, false, "1:K/ee5UCqAMAQXDorP5nSa2CGLjc=" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                 8,     0, 1, false, "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,     8, 1, false, "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
    {   1, "10.0.0.1",                                "10.0.0.2",                                   11,     0, 1, false, "1:XjUibYHaafLQ3pxQeiMI8g25q20=" },
    {   6, "2001:470:e5bf:dead:4957:2174:e82c:4887",  "2607:f8b0:400c:c03::1a",                  63943,    25, 1, false, "1:eJYTW6AOzFLlSUoESovMjnu7rMw=" },
    {   6, "2607:f8b0:400c:c03::1a",                  "2001:470:e5bf:dead:4957:2174:e82c:4887",     25, 63943, 1, false, "1:eJYTW6AOzFLlSUoESovMjnu7rMw=" },
    { 132, "192.168.170.8",                           "192.168.170.56",                              7,     7, 1, false, "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=" },
    { 132, "192.168.170.56",                          "192.168.170.8",                               7,     7, 1, false, "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=" },
    {   6, "128.232.110.120",                         "66.35.250.204",                           34855,    80, 1, false, "1:3V71V58M3Ksw/yuFALMcW0LAHvc=" },
    {   6, "66.35.250.204",                           "128.232.110.120",                            80, 34855, 1, false, "1:3V71V58M3Ksw/yuFALMcW0LAHvc=" },
    {  17, "192.168.1.52",                            "8.8.8.8",                                 54585,    53, 1, false, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=" },
    {  17, "8.8.8.8",                                 "192.168.1.52",                               53, 54585, 1, false, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=" },
    {  46, "10.1.12.1",                               "10.1.12.2",                                   0,     0, 1, false, "1:rYir8gphR31noO9iDRQmF/BteEI=" },
    {  46, "10.1.12.2",                               "10.1.12.1",                                   0,     0, 1, false, "1:rYir8gphR31noO9iDRQmF/BteEI=" },
    /* community-id-spec baseline/baseline_nob64.json (pcaps/combined.pcap.gz through
       pycommunityid's community-id-pcap; ICMP ports are type and counterpart
       type, or type and code for one-way types; null ports written as 0). */
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  135,   136, 0, true , "1:7461f21af8cc7e58e0e81a69c26ddb8342cef136" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  136,   135, 0, true , "1:7461f21af8cc7e58e0e81a69c26ddb8342cef136" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  135,   136, 0, true , "1:cdabf24ff71ecd0af57e6226602c189cc5db81c9" },
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  136,   135, 0, true , "1:cdabf24ff71ecd0af57e6226602c189cc5db81c9" },
    {  58, "3ffe:501:1800:2345::2",                   "3ffe:507:0:1:200:86ff:fe05:80da",             3,     0, 0, true , "1:d8e6d5060227dbca19be26d866164c06087b59d4" },
    {  58, "3ffe:501:410:0:2c0:dfff:fe47:33e",        "3ffe:507:0:1:200:86ff:fe05:80da",             1,     4, 0, true , "1:84b65dd17196a23a33aefc6a13475607588ce91d" },
    {  58, "3ffe:507:0:1:200:86ff:fe05:80da",         "3ffe:501:0:1001::2",                        128,   129, 0, true , "1:f935be1ed2c7bd5d719c6855d65bfb5e826ba908" },
    {  58, "3ffe:501:0:1001::2",                      "3ffe:507:0:1:200:86ff:fe05:80da",           129,   128, 0, true , "1:f935be1ed2c7bd5d719c6855d65bfb5e826ba908" },
    {  58, "fe80::200:86ff:fe05:80da",                "ff02::2",                                   133,   134, 0, true , "1:84efac3781fe306e4c63ff2122b5cfa9ce19433d" },
    {  58, "fe80::260:97ff:fe07:69ea",                "ff02::1",                                   134,   133, 0, true , "1:a64bc7a822fcf3fb60d64e1c3e282665752d2f4d" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                 8,     0, 0, true , "1:5f4b27617a60c22bfd4d9b6a83ae2c833527e839" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,     8, 0, true , "1:5f4b27617a60c22bfd4d9b6a83ae2c833527e839" },
    {   1, "10.0.0.1",                                "10.0.0.2",                                   11,     0, 0, true , "1:607c6d022ac21bfff43b391c540ba4a8a40df713" },
    {   6, "2001:470:e5bf:dead:4957:2174:e82c:4887",  "2607:f8b0:400c:c03::1a",                  63943,    25, 0, true , "1:fea15a78047e8057b52988cccd50ec32ffb0814e" },
    {   6, "2607:f8b0:400c:c03::1a",                  "2001:470:e5bf:dead:4957:2174:e82c:4887",     25, 63943, 0, true , "1:fea15a78047e8057b52988cccd50ec32ffb0814e" },
    { 132, "192.168.170.8",                           "192.168.170.56",                              7,     7, 0, true , "1:30fd84b5108050866f4f0e8cc491cb57b37b243b" },
    { 132, "192.168.170.56",                          "192.168.170.8",                               7,     7, 0, true , "1:30fd84b5108050866f4f0e8cc491cb57b37b243b" },
    {   6, "128.232.110.120",                         "66.35.250.204",                           34855,    80, 0, true , "1:2d053da9994af81e45dca0e67afea6e4f3226eb8" },
    {   6, "66.35.250.204",                           "128.232.110.120",                            80, 34855, 0, true , "1:2d053da9994af81e45dca0e67afea6e4f3226eb8" },
    {  17, "192.168.1.52",                            "8.8.8.8",                                 54585,    53, 0, true , "1:77f14fe445b7c22635bc29dd87095e451287a304" },
    {  17, "8.8.8.8",                                 "192.168.1.52",                               53, 54585, 0, true , "1:77f14fe445b7c22635bc29dd87095e451287a304" },
    {  46, "10.1.12.1",                               "10.1.12.2",                                   0,     0, 0, true , "1:28794b920a095bb89f513c934a0c957e4147ccac" },
    {  46, "10.1.12.2",                               "10.1.12.1",                                   0,     0, 0, true , "1:28794b920a095bb89f513c934a0c957e4147ccac" },
    /* pycommunityid tests/communityid_test.py (the reference implementation the
       spec names): one-way ICMP with codes, one-way ICMPv6 in both directions,
       SCTP with distinct ports, TCP (pycommunityid issue #3), IP proto 46. */
    {   1, "192.168.0.89",                            "192.168.0.1",                                 8,     0, 0, false, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                 8,     0, 0, true , "1:5f4b27617a60c22bfd4d9b6a83ae2c833527e839" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                 8,     0, 1, false, "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,     8, 0, false, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,     8, 0, true , "1:5f4b27617a60c22bfd4d9b6a83ae2c833527e839" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,     8, 1, false, "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                20,     0, 0, false, "1:3o2RFccXzUgjl7zDpqmY7yJi8rI=" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                20,     0, 0, true , "1:de8d9115c717cd482397bcc3a6a998ef2262f2b2" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                20,     0, 1, false, "1:lCXHHxavE1Vq3oX9NH5ladQg02o=" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                20,     1, 0, false, "1:tz/fHIDUHs19NkixVVoOZywde+I=" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                20,     1, 0, true , "1:b73fdf1c80d41ecd7d3648b1555a0e672c1d7be2" },
    {   1, "192.168.0.89",                            "192.168.0.1",                                20,     1, 1, false, "1:Ie3wmFyxiEyikbsbcO03d2nh+PM=" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,    20, 0, false, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,    20, 0, true , "1:5f4b27617a60c22bfd4d9b6a83ae2c833527e839" },
    {   1, "192.168.0.1",                             "192.168.0.89",                                0,    20, 1, false, "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  135,     0, 0, false, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=" },
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  135,     0, 0, true , "1:7461f21af8cc7e58e0e81a69c26ddb8342cef136" },
    {  58, "fe80::200:86ff:fe05:80da",                "fe80::260:97ff:fe07:69ea",                  135,     0, 1, false, "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  136,     0, 0, false, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  136,     0, 0, true , "1:7461f21af8cc7e58e0e81a69c26ddb8342cef136" },
    {  58, "fe80::260:97ff:fe07:69ea",                "fe80::200:86ff:fe05:80da",                  136,     0, 1, false, "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=" },
    {  58, "3ffe:507:0:1:260:97ff:fe07:69ea",         "3ffe:507:0:1:200:86ff:fe05:80da",             3,     0, 0, false, "1:NdobDX8PQNJbAyfkWxhtL2Pqp5w=" },
    {  58, "3ffe:507:0:1:260:97ff:fe07:69ea",         "3ffe:507:0:1:200:86ff:fe05:80da",             3,     0, 0, true , "1:35da1b0d7f0f40d25b0327e45b186d2f63eaa79c" },
    {  58, "3ffe:507:0:1:260:97ff:fe07:69ea",         "3ffe:507:0:1:200:86ff:fe05:80da",             3,     0, 1, false, "1:OlOWx9psIbBFi7lOCw/4MhlKR9M=" },
    {  58, "3ffe:507:0:1:200:86ff:fe05:80da",         "3ffe:507:0:1:260:97ff:fe07:69ea",             3,     0, 0, false, "1:/OGBt9BN1ofenrmSPWYicpij2Vc=" },
    {  58, "3ffe:507:0:1:200:86ff:fe05:80da",         "3ffe:507:0:1:260:97ff:fe07:69ea",             3,     0, 0, true , "1:fce181b7d04dd687de9eb9923d66227298a3d957" },
    {  58, "3ffe:507:0:1:200:86ff:fe05:80da",         "3ffe:507:0:1:260:97ff:fe07:69ea",             3,     0, 1, false, "1:Ij4ZxnC87/MXzhOjvH2vHu7LRmE=" },
    { 132, "192.168.170.8",                           "192.168.170.56",                              7,    80, 0, false, "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ=" },
    { 132, "192.168.170.8",                           "192.168.170.56",                              7,    80, 0, true , "1:8d0802c5b92efa9346c3c58f6c473f4d2fee4e94" },
    { 132, "192.168.170.8",                           "192.168.170.56",                              7,    80, 1, false, "1:Y1/0jQg6e+I3ZwZZ9LP65DNbTXU=" },
    { 132, "192.168.170.56",                          "192.168.170.8",                              80,     7, 0, false, "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ=" },
    { 132, "192.168.170.56",                          "192.168.170.8",                              80,     7, 0, true , "1:8d0802c5b92efa9346c3c58f6c473f4d2fee4e94" },
    { 132, "192.168.170.56",                          "192.168.170.8",                              80,     7, 1, false, "1:Y1/0jQg6e+I3ZwZZ9LP65DNbTXU=" },
    {   6, "128.232.110.120",                         "66.35.250.204",                           34855,    80, 0, false, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=" },
    {   6, "128.232.110.120",                         "66.35.250.204",                           34855,    80, 0, true , "1:2d053da9994af81e45dca0e67afea6e4f3226eb8" },
    {   6, "128.232.110.120",                         "66.35.250.204",                           34855,    80, 1, false, "1:3V71V58M3Ksw/yuFALMcW0LAHvc=" },
    {   6, "66.35.250.204",                           "128.232.110.120",                            80, 34855, 0, false, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=" },
    {   6, "66.35.250.204",                           "128.232.110.120",                            80, 34855, 0, true , "1:2d053da9994af81e45dca0e67afea6e4f3226eb8" },
    {   6, "66.35.250.204",                           "128.232.110.120",                            80, 34855, 1, false, "1:3V71V58M3Ksw/yuFALMcW0LAHvc=" },
    {   6, "10.0.0.1",                                "10.0.0.2",                                   10, 11569, 0, false, "1:SXBGMX1lBOwhhoDrZynfROxnhnM=" },
    {   6, "10.0.0.1",                                "10.0.0.2",                                   10, 11569, 0, true , "1:497046317d6504ec218680eb6729df44ec678673" },
    {   6, "10.0.0.1",                                "10.0.0.2",                                   10, 11569, 1, false, "1:HmBRGR+fUyXF4t8WEtal7Y0gEAo=" },
    {  17, "192.168.1.52",                            "8.8.8.8",                                 54585,    53, 0, false, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=" },
    {  17, "192.168.1.52",                            "8.8.8.8",                                 54585,    53, 0, true , "1:77f14fe445b7c22635bc29dd87095e451287a304" },
    {  17, "192.168.1.52",                            "8.8.8.8",                                 54585,    53, 1, false, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=" },
    {  17, "8.8.8.8",                                 "192.168.1.52",                               53, 54585, 0, false, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=" },
    {  17, "8.8.8.8",                                 "192.168.1.52",                               53, 54585, 0, true , "1:77f14fe445b7c22635bc29dd87095e451287a304" },
    {  17, "8.8.8.8",                                 "192.168.1.52",                               53, 54585, 1, false, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=" },
    {  46, "10.1.24.4",                               "10.1.12.1",                                   0,     0, 0, false, "1:/nQI4Rh/TtY3mf0R2gJFBkVlgS4=" },
    {  46, "10.1.24.4",                               "10.1.12.1",                                   0,     0, 0, true , "1:fe7408e1187f4ed63799fd11da0245064565812e" },
    {  46, "10.1.24.4",                               "10.1.12.1",                                   0,     0, 1, false, "1:BK3BVW3U2eemuwVQVN3zd/GULno=" },
    {  46, "10.1.12.1",                               "10.1.24.4",                                   0,     0, 0, false, "1:/nQI4Rh/TtY3mf0R2gJFBkVlgS4=" },
    {  46, "10.1.12.1",                               "10.1.24.4",                                   0,     0, 0, true , "1:fe7408e1187f4ed63799fd11da0245064565812e" },
    {  46, "10.1.12.1",                               "10.1.24.4",                                   0,     0, 1, false, "1:BK3BVW3U2eemuwVQVN3zd/GULno=" },
};

#define VECTOR_COUNT (sizeof s_vectors / sizeof s_vectors[0])

static bool
proto_has_ports (uint8_t proto)
{
    return proto == 1 || proto == 6 || proto == 17 || proto == 58 || proto == 132;
}

static void
test_vectors (tally_t *self)
{
    for (size_t i = 0; i < VECTOR_COUNT; i++) {
        const vector_t *v = &s_vectors[i];
        char id[COMMUNITY_ID_V1_BUFSIZE];
        int rc = community_id_v1_str (v->saddr, v->sport, v->daddr, v->dport,
                                      v->proto, v->seed, v->hex, id, sizeof id);
        check (self, rc == (int) strlen (v->expected) && strcmp (id, v->expected) == 0,
               "vector %zu: proto %u %s:%u -> %s:%u seed %u %s: rc %d, got %s, want %s",
               i, v->proto, v->saddr, v->sport, v->daddr, v->dport, v->seed,
               v->hex ? "hex" : "base64", rc, rc < 0 ? "-" : id, v->expected);
    }
}

/*  The same vectors through the tuple API, as the collector calls it.      */
static void
test_vectors_tuple (tally_t *self)
{
    for (size_t i = 0; i < VECTOR_COUNT; i++) {
        const vector_t *v = &s_vectors[i];
        community_id_tuple_t t;
        memset (&t, 0, sizeof t);
        t.family = strchr (v->saddr, ':') ? AF_INET6 : AF_INET;
        bool parsed = inet_pton (t.family, v->saddr, t.src) == 1
                   && inet_pton (t.family, v->daddr, t.dst) == 1;
        t.proto = v->proto;
        t.sport = v->sport;
        t.dport = v->dport;
        char id[COMMUNITY_ID_V1_BUFSIZE];
        int rc = parsed ? community_id_v1 (&t, v->seed, v->hex, id, sizeof id) : -1;
        check (self, rc > 0 && strcmp (id, v->expected) == 0,
               "tuple vector %zu: rc %d, got %s, want %s",
               i, rc, rc < 0 ? "-" : id, v->expected);
    }
}

/*  Swapping source and destination gives the same id for every protocol
    but ICMP/ICMPv6 (whose reverse direction is a different type; the
    tables hold both directions of those explicitly). Port-less protocols
    ignore whatever ports are passed.                                        */
static void
test_direction_independence (tally_t *self)
{
    for (size_t i = 0; i < VECTOR_COUNT; i++) {
        const vector_t *v = &s_vectors[i];
        if (v->proto == 1 || v->proto == 58)
            continue;
        char id[COMMUNITY_ID_V1_BUFSIZE];
        int rc = community_id_v1_str (v->daddr, v->dport, v->saddr, v->sport,
                                      v->proto, v->seed, v->hex, id, sizeof id);
        check (self, rc > 0 && strcmp (id, v->expected) == 0,
               "swapped vector %zu: got %s, want %s", i, rc < 0 ? "-" : id, v->expected);
        if (!proto_has_ports (v->proto)) {
            rc = community_id_v1_str (v->saddr, 4321, v->daddr, 99,
                                      v->proto, v->seed, v->hex, id, sizeof id);
            check (self, rc > 0 && strcmp (id, v->expected) == 0,
                   "port-less vector %zu with ports: got %s, want %s",
                   i, rc < 0 ? "-" : id, v->expected);
        }
    }
}

/*  Equal addresses: the ports decide (spec README, "If the IP addresses are
    equal, the ports decide"). Expected values: Python hashlib.sha1 over the
    spec's byte layout with the smaller port first, e.g. for the first one
    00 00 | 0a 00 00 01 | 0a 00 00 01 | 06 00 | 00 50 | 04 d2.              */
static void
test_equal_addresses (tally_t *self)
{
    static const vector_t cases[] = {
        { 6,  "10.0.0.1", "10.0.0.1", 1234, 80,   0, false, "1:WaobEo3Uyp/JjlL9QX3lvrl1Oag=" },
        { 6,  "10.0.0.1", "10.0.0.1", 80,   1234, 0, false, "1:WaobEo3Uyp/JjlL9QX3lvrl1Oag=" },
        { 6,  "10.0.0.1", "10.0.0.1", 1234, 80,   0, true,  "1:59aa1b128dd4ca9fc98e52fd417de5beb97539a8" },
        { 17, "::1",      "::1",      5353, 53,   0, false, "1:WZ30zOwJJSUFy1VkfKdgMFatXTM=" },
        { 17, "::1",      "::1",      53,   5353, 0, true,  "1:599df4ccec09252505cb55647ca7603056ad5d33" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const vector_t *v = &cases[i];
        char id[COMMUNITY_ID_V1_BUFSIZE];
        int rc = community_id_v1_str (v->saddr, v->sport, v->daddr, v->dport,
                                      v->proto, v->seed, v->hex, id, sizeof id);
        check (self, rc > 0 && strcmp (id, v->expected) == 0,
               "equal addresses %zu: got %s, want %s", i, rc < 0 ? "-" : id, v->expected);
    }
}

/*  One-way ICMP types are never flipped: the two directions of a
    destination-unreachable differ (the published ICMPv6 type 3 pair above
    shows the same with expected values).                                   */
static void
test_icmp_one_way (tally_t *self)
{
    char there[COMMUNITY_ID_V1_BUFSIZE], back[COMMUNITY_ID_V1_BUFSIZE];
    int rc1 = community_id_v1_str ("10.0.0.2", 3, "10.0.0.1", 1, 1, 0, false, there, sizeof there);
    int rc2 = community_id_v1_str ("10.0.0.1", 3, "10.0.0.2", 1, 1, 0, false, back, sizeof back);
    check (self, rc1 > 0 && rc2 > 0 && strcmp (there, back) != 0,
           "ICMP type 3 must not be flipped: %s vs %s", there, back);
}

static void
test_bad_input (tally_t *self)
{
    static const char *bad[] = {
        "", "hello", "10.0.0.256", "1.2.3", "1.2.3.4.5", "fe80::1%eth0",
        "::g", " 10.0.0.1", "10.0.0.1 ",
    };
    char id[COMMUNITY_ID_V1_BUFSIZE];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        check (self, community_id_v1_str (bad[i], 1, "10.0.0.1", 2, 6, 0, false, id, sizeof id) == -1,
               "bad source address \"%s\" accepted", bad[i]);
        check (self, community_id_v1_str ("10.0.0.1", 1, bad[i], 2, 6, 0, false, id, sizeof id) == -1,
               "bad destination address \"%s\" accepted", bad[i]);
    }
    check (self, community_id_v1_str (NULL, 1, "10.0.0.1", 2, 6, 0, false, id, sizeof id) == -1,
           "NULL source address accepted");
    check (self, community_id_v1_str ("10.0.0.1", 1, NULL, 2, 6, 0, false, id, sizeof id) == -1,
           "NULL destination address accepted");
    check (self, community_id_v1_str ("10.0.0.1", 1, "::1", 2, 6, 0, false, id, sizeof id) == -1,
           "mixed address families accepted");

    community_id_tuple_t t;
    memset (&t, 0, sizeof t);
    t.family = AF_UNIX;
    t.proto = 6;
    check (self, community_id_v1 (&t, 0, false, id, sizeof id) == -1, "bad family accepted");
    check (self, community_id_v1 (NULL, 0, false, id, sizeof id) == -1, "NULL tuple accepted");
    t.family = AF_INET;
    check (self, community_id_v1 (&t, 0, false, NULL, sizeof id) == -1, "NULL output accepted");
}

/*  Exact buffer sizes: "1:" + 28 base64 + NUL = 31, "1:" + 40 hex + NUL = 43.
    One byte less fails and leaves the buffer untouched.                    */
static void
test_buffer_sizes (tally_t *self)
{
    const char *want64 = "1:wCb3OG7yAFWelaUydu0D+125CLM=";
    const char *wanthex = "1:c026f7386ef200559e95a53276ed03fb5db908b3";
    char buf[64];

    memset (buf, 'x', sizeof buf);
    int rc = community_id_v1_str ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 0, false,
                                  buf, COMMUNITY_ID_V1_BASE64_SIZE - 1);
    check (self, rc == -1 && buf[0] == 'x', "base64 into 30 bytes: rc %d", rc);
    check (self, community_id_v1_str ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 0, false, buf, 0) == -1,
           "base64 into 0 bytes accepted");
    rc = community_id_v1_str ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 0, false,
                              buf, COMMUNITY_ID_V1_BASE64_SIZE);
    check (self, rc == 30 && strcmp (buf, want64) == 0 && buf[31] == 'x',
           "base64 into 31 bytes: rc %d, %s", rc, rc < 0 ? "-" : buf);

    memset (buf, 'x', sizeof buf);
    rc = community_id_v1_str ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 0, true,
                              buf, COMMUNITY_ID_V1_HEX_SIZE - 1);
    check (self, rc == -1 && buf[0] == 'x', "hex into 42 bytes: rc %d", rc);
    rc = community_id_v1_str ("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 0, true,
                              buf, COMMUNITY_ID_V1_HEX_SIZE);
    check (self, rc == 42 && strcmp (buf, wanthex) == 0 && buf[43] == 'x',
           "hex into 43 bytes: rc %d, %s", rc, rc < 0 ? "-" : buf);
}

int
main (void)
{
    tally_t tally = { 0 };
    test_sha1 (&tally);
    test_vectors (&tally);
    test_vectors_tuple (&tally);
    test_direction_independence (&tally);
    test_equal_addresses (&tally);
    test_icmp_one_way (&tally);
    test_bad_input (&tally);
    test_buffer_sizes (&tally);
    return tally_report (&tally);
}
