/*  soak_feed.c — the endless capture of bench/soak: a classic pcap stream
    on stdout that never ends, for `dpi-collector -r /dev/stdin` (one
    collector process reading offline at its full rate, for as long as the
    soak lasts; the pipe's back-pressure is the only brake).

    soak-feed [FLOWS]

    One round is FLOWS (default 20000) short TCP flows of 6 packets each
    (SYN, SYN-ACK, ACK+GET, 200, FIN, FIN; distinct client addresses and
    ports), 100 µs apart; the rounds repeat forever, each one's timestamps
    after the last's, with the second octet of the client addresses moved
    by r (mod 200), so the collector sees new flows every
    round while its flow table and its counters stay bounded. The round is
    built once; a later round only rewrites the record timestamps and the
    second octet (and the IP checksum) in place. Exits 0 when stdout closes
    (EPIPE), 1 on another write error.                                     */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ETH = 14, IP = 20, TCP = 20, PACKETS = 6 };

static uint16_t
csum (const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t) (p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t) p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t) ~s;
}

static void
put16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static void
put32 (uint8_t *p, uint32_t v)
{
    put16 (p, (uint16_t) (v >> 16));
    put16 (p + 2, (uint16_t) v);
}

/*  One Ethernet/IPv4/TCP frame at OUT: its length. (TCP checksum left 0:
    the collector does not check it.)                                       */
static size_t
frame (uint8_t *out, const uint8_t src[4], const uint8_t dst[4], uint16_t sp, uint16_t dp,
       uint32_t seq, uint32_t ack, uint8_t flags, const char *data)
{
    size_t len = data ? strlen (data) : 0;
    static const uint8_t eth[ETH] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0 };
    memcpy (out, eth, ETH);
    uint8_t *ip = out + ETH, *tcp = ip + IP;
    memset (ip, 0, IP + TCP);
    ip[0] = 0x45;
    put16 (ip + 2, (uint16_t) (IP + TCP + len));
    put16 (ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    memcpy (ip + 12, src, 4);
    memcpy (ip + 16, dst, 4);
    put16 (ip + 10, csum (ip, IP));
    put16 (tcp, sp);
    put16 (tcp + 2, dp);
    put32 (tcp + 4, seq);
    put32 (tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16 (tcp + 14, 65535);
    if (len)
        memcpy (tcp + TCP, data, len);
    return ETH + IP + TCP + len;
}

static void
put_le32 (uint8_t *p, uint32_t v)
{
    memcpy (p, &v, 4);   /* the pcap is written in host order (magic a1b2c3d4) */
}

/*  Writes N bytes at P to stdout: false on an error (errno).             */
static bool
put_all (const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write (STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w, n -= (size_t) w;
    }
    return true;
}

int
main (int argc, char **argv)
{
    long flows = argc > 1 ? strtol (argv[1], NULL, 10) : 20000;
    if (argc > 2 || flows < 1 || flows > 1000000) {
        fprintf (stderr, "usage: soak-feed [FLOWS (1..1000000)]\n");
        return 2;
    }
    signal (SIGPIPE, SIG_IGN);
    static const char req[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\n\r\n";
    size_t per = PACKETS * (16 + ETH + IP + TCP) + sizeof req + sizeof resp;
    uint8_t *round = malloc ((size_t) flows * per);
    size_t *ip_at = malloc ((size_t) flows * PACKETS * sizeof *ip_at);   /* record offsets */
    if (!round || !ip_at) {
        fprintf (stderr, "soak-feed: out of memory\n");
        return 1;
    }
    size_t n = 0, k = 0;
    uint64_t usec = 0;
    for (long i = 0; i < flows; i++) {
        uint8_t c[4] = { 10, (uint8_t) (1 + (i >> 16) % 200), (uint8_t) (i >> 8), (uint8_t) i };
        uint8_t s[4] = { 192, 0, 2, (uint8_t) (1 + i % 250) };
        uint16_t sp = (uint16_t) (1024 + i % 60000);
        uint32_t rl = (uint32_t) strlen (req);
        struct { const uint8_t *a, *b; uint16_t pa, pb; uint32_t seq, ack; uint8_t fl; const char *d; } p[PACKETS] = {
            { c, s, sp, 80, 1, 0, 0x02, NULL },
            { s, c, 80, sp, 1, 2, 0x12, NULL },
            { c, s, sp, 80, 2, 2, 0x18, req },
            { s, c, 80, sp, 2, 2 + rl, 0x18, resp },
            { c, s, sp, 80, 2 + rl, 21, 0x11, NULL },
            { s, c, 80, sp, 21, 3 + rl, 0x11, NULL },
        };
        for (int j = 0; j < PACKETS; j++) {
            uint8_t *rec = round + n;
            size_t len = frame (rec + 16, p[j].a, p[j].b, p[j].pa, p[j].pb, p[j].seq, p[j].ack,
                                p[j].fl, p[j].d);
            usec += 100;
            put_le32 (rec, (uint32_t) (usec / 1000000));
            put_le32 (rec + 4, (uint32_t) (usec % 1000000));
            put_le32 (rec + 8, (uint32_t) len);
            put_le32 (rec + 12, (uint32_t) len);
            ip_at[k++] = n;
            n += 16 + len;
        }
    }
    uint32_t span = (uint32_t) (usec / 1000000) + 1;   /* whole seconds per round */
    uint8_t head[24];
    put_le32 (head, 0xa1b2c3d4);
    head[4] = 2, head[5] = 0, head[6] = 4, head[7] = 0;
    memset (head + 8, 0, 8);
    put_le32 (head + 16, 65535);
    put_le32 (head + 20, 1);
    const uint32_t t0 = 1700000000;
    for (uint64_t r = 0;; r++) {
        for (size_t j = 0; j < k; j++) {
            uint8_t *rec = round + ip_at[j], *ip = rec + 16 + ETH;
            uint32_t base = (uint32_t) ((j * 100 + 100) / 1000000);
            put_le32 (rec, t0 + (uint32_t) (r * span) + base);
            /* the client is the source of packets 0, 2, 4 and the destination of 1, 3, 5 */
            uint8_t *client = ip + ((j % PACKETS) % 2 == 0 ? 12 : 16);
            long flow = (long) (j / PACKETS);
            client[1] = (uint8_t) (1 + ((flow >> 16) + r) % 200);
            put16 (ip + 10, 0);
            put16 (ip + 10, csum (ip, IP));
        }
        if (r == 0 && !put_all (head, sizeof head))
            break;
        if (!put_all (round, n))
            break;
    }
    int err = errno;
    free (round);
    free (ip_at);
    if (err == EPIPE)
        return 0;
    fprintf (stderr, "soak-feed: write: %s\n", strerror (err));
    return 1;
}
