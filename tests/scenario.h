/*  scenario.h — the frames of a dpi-pcapgen scenario, for the collector's
    unit tests (test_decode, test_classify).

        char dir[] = "/tmp/test_x.XXXXXX";
        scenario_mkdtemp (dir);
        scenario_t sc;
        if (scenario_load (dir, "dns", &sc)) {
            ... sc.dlt, sc.frames[i].data / .caplen / .len / .ts_us ...
            scenario_free (&sc);
        }

    scenario_load runs BINARY_DIR/tests/dpi-pcapgen to write the capture
    into DIR (remove_tree of tally.h removes it), then reads it back
    with libpcap. Each frame is copied into a buffer of exactly its captured
    length, so that AddressSanitizer reports any read past it.              */
#ifndef DPI_TESTS_SCENARIO_H
#define DPI_TESTS_SCENARIO_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;                  /* caplen bytes, malloc'd to that size   */
    uint32_t caplen, len;
    uint64_t ts_us;
} scenario_frame_t;

typedef struct {
    int dlt;                        /* pcap_datalink of the capture          */
    size_t count;
    scenario_frame_t *frames;
} scenario_t;

/*  mkdtemp DIR ("/tmp/NAME.XXXXXX"); the test cannot go on without it.    */
static inline void
scenario_mkdtemp (char *dir)
{
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        exit (2);
    }
}

/*  A copy of the LEN bytes at DATA in a buffer of exactly LEN bytes (one
    byte is allocated for LEN 0, so the pointer is valid and unreadable
    past its end all the same).                                              */
static inline uint8_t *
exact_copy (const uint8_t *data, uint32_t len)
{
    uint8_t *copy = malloc (len ? len : 1);
    if (!copy) {
        perror ("malloc");
        exit (2);
    }
    if (len)
        memcpy (copy, data, len);
    return copy;
}

static inline void
scenario_free (scenario_t *sc)
{
    for (size_t i = 0; i < sc->count; i++)
        free (sc->frames[i].data);
    free (sc->frames);
    memset (sc, 0, sizeof *sc);
}

/*  Append the frame H/DATA to SC.                                           */
static inline void
scenario_append (scenario_t *sc, const struct pcap_pkthdr *h, const uint8_t *data)
{
    scenario_frame_t *grown = realloc (sc->frames, (sc->count + 1) * sizeof *grown);
    if (!grown) {
        perror ("realloc");
        exit (2);
    }
    sc->frames = grown;
    scenario_frame_t *f = &sc->frames[sc->count++];
    f->data = exact_copy (data, h->caplen);
    f->caplen = h->caplen;
    f->len = h->len;
    f->ts_us = (uint64_t) h->ts.tv_sec * 1000000u + (uint64_t) h->ts.tv_usec;
}

/*  Write scenario NAME into DIR with dpi-pcapgen and read all its frames
    into SC. False (with a message) when either step fails.                 */
static inline bool
scenario_load (const char *dir, const char *name, scenario_t *sc)
{
    char path[512], cmd[1200], err[PCAP_ERRBUF_SIZE];
    memset (sc, 0, sizeof *sc);
    snprintf (path, sizeof path, "%s/%s.pcap", dir, name);
    snprintf (cmd, sizeof cmd, "'%s/tests/dpi-pcapgen' '%s' '%s'", BINARY_DIR, name, path);
    if (system (cmd) != 0) {
        printf ("could not run: %s\n", cmd);
        return false;
    }
    pcap_t *p = pcap_open_offline (path, err);
    if (!p) {
        printf ("%s: %s\n", path, err);
        return false;
    }
    sc->dlt = pcap_datalink (p);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex (p, &h, &data)) == 1)
        scenario_append (sc, h, data);
    pcap_close (p);
    if (rc != PCAP_ERROR_BREAK) {
        printf ("%s: read error %d after %zu frames\n", path, rc, sc->count);
        scenario_free (sc);
        return false;
    }
    return true;
}

#endif
