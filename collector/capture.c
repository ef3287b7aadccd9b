/*  capture.c — see capture.h.                                               */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

struct capture_t {
    pcap_t *pcap;                   /* live, libpcap's file reader, or dead */
    bool live;
    char name[512];
    /* classic pcap files are read from a read-only mapping: no copy through
       read(2) and stdio. Pages behind the reader are dropped every
       MAP_WINDOW bytes, so the mapping adds at most that much to the RSS.
       pcapng files go through libpcap.                                      */
    const uint8_t *map;
    size_t map_size, offset, released;
    bool swapped, nanos;
    struct bpf_program filter;
    bool filtered;
    char error[256];
};

#define MAP_WINDOW (4u << 20)

static int
apply_filter (capture_t *self, const char *bpf, char *err, size_t errlen)
{
    if (!bpf || !*bpf)
        return 0;
    struct bpf_program prog;
    if (pcap_compile (self->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf (err, errlen, "%s: tap.bpf '%s': %s", self->name, bpf, pcap_geterr (self->pcap));
        return -1;
    }
    if (self->map) {                    /* applied by map_dispatch */
        self->filter = prog;
        self->filtered = true;
        return 0;
    }
    int rc = pcap_setfilter (self->pcap, &prog);
    pcap_freecode (&prog);
    if (rc != 0) {
        snprintf (err, errlen, "%s: cannot set the filter: %s", self->name, pcap_geterr (self->pcap));
        return -1;
    }
    return 0;
}

static capture_t *
finish_open (capture_t *self, const config_t *cfg, char *err, size_t errlen)
{
    int dlt = pcap_datalink (self->pcap);
    if (!decode_link_supported (dlt)) {
        const char *name = pcap_datalink_val_to_name (dlt);
        snprintf (err, errlen, "%s: link type %s (%d) is not supported", self->name,
                  name ? name : "unknown", dlt);
        capture_close (&self);
        return NULL;
    }
    if (apply_filter (self, cfg->tap.bpf, err, errlen) != 0)
        capture_close (&self);
    return self;
}

capture_t *
capture_open_live (const config_t *cfg, const char *interface, char *err, size_t errlen)
{
    capture_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->live = true;
    snprintf (self->name, sizeof self->name, "%s", interface);
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    self->pcap = pcap_create (interface, pcap_err);
    if (!self->pcap) {
        snprintf (err, errlen, "%s: %s", interface, pcap_err);
        free (self);
        return NULL;
    }
    pcap_set_snaplen (self->pcap, cfg->tap.snaplen);
    pcap_set_promisc (self->pcap, cfg->tap.promisc);
    pcap_set_immediate_mode (self->pcap, cfg->tap.immediate);
    pcap_set_buffer_size (self->pcap, cfg->tap.buffer_mb * 1024 * 1024);
    pcap_set_timeout (self->pcap, 100);
    int rc = pcap_activate (self->pcap);
    if (rc < 0) {
        snprintf (err, errlen, "%s: cannot capture: %s", interface,
                  rc == PCAP_ERROR ? pcap_geterr (self->pcap) : pcap_statustostr (rc));
        capture_close (&self);
        return NULL;
    }
    /* non-blocking, and poll with a timeout: in immediate mode libpcap's
       own read would wait for the next packet however long it takes, and
       an idle collector must still tick, send heartbeats and stop */
    if (pcap_setnonblock (self->pcap, 1, pcap_err) != 0) {
        snprintf (err, errlen, "%s: %s", interface, pcap_err);
        capture_close (&self);
        return NULL;
    }
    return finish_open (self, cfg, err, errlen);
}

static uint32_t
get32 (const uint8_t *p, bool swapped)
{
    uint32_t v;
    memcpy (&v, p, 4);
    return swapped ? __builtin_bswap32 (v) : v;
}

/*  Map PATH when it is a classic pcap file: 1 mapped, 0 not (libpcap will
    read it), -1 cannot open (ERR).                                          */
static int
map_open (capture_t *self, const char *path, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    uint8_t head[24];
    uint32_t magic = 0;
    if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && st.st_size >= 24
        && pread (fd, head, 24, 0) == 24)
        memcpy (&magic, head, 4);
    bool swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
    if (!swapped && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
        close (fd);
        return 0;
    }
    void *map = mmap (NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close (fd);
    if (map == MAP_FAILED)
        return 0;
    madvise (map, (size_t) st.st_size, MADV_SEQUENTIAL);
    uint32_t snaplen = get32 (head + 16, swapped);
    /* file LINKTYPE_ values are DLT_ values but for a few: raw IP is 101 */
    int linktype = (int) (get32 (head + 20, swapped) & 0xffff);
    self->pcap = pcap_open_dead (linktype == 101 ? DLT_RAW : linktype,
                                 snaplen > 0 && snaplen <= 262144 ? (int) snaplen : 262144);
    if (!self->pcap) {
        munmap (map, (size_t) st.st_size);
        return 0;
    }
    self->map = map;
    self->map_size = (size_t) st.st_size;
    self->offset = self->released = 24;
    self->swapped = swapped;
    self->nanos = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
    return 1;
}

/*  pcap_dispatch over the mapping: same results, same errors as libpcap.   */
static int
map_dispatch (capture_t *self, int count, pcap_handler handler, u_char *user)
{
    int n = 0;
    while (n < count && self->offset < self->map_size) {
        const uint8_t *rec = self->map + self->offset;
        size_t left = self->map_size - self->offset;
        if (left < 16) {
            snprintf (self->error, sizeof self->error,
                      "truncated dump file; tried to read 16 header bytes, only got %zu", left);
            return -1;
        }
        struct pcap_pkthdr h;
        uint32_t frac = get32 (rec + 4, self->swapped);
        h.ts.tv_sec = get32 (rec, self->swapped);
        h.ts.tv_usec = self->nanos ? frac / 1000 : frac;
        h.caplen = get32 (rec + 8, self->swapped);
        h.len = get32 (rec + 12, self->swapped);
        if (h.caplen > 262144) {
            snprintf (self->error, sizeof self->error,
                      "invalid packet capture length %u, bigger than the maximum of 262144",
                      h.caplen);
            return -1;
        }
        if (left - 16 < h.caplen) {
            snprintf (self->error, sizeof self->error,
                      "truncated dump file; tried to read %u captured bytes, only got %zu",
                      h.caplen, left - 16);
            return -1;
        }
        self->offset += 16 + (size_t) h.caplen;
        if (!self->filtered || pcap_offline_filter (&self->filter, &h, rec + 16))
            handler (user, &h, rec + 16);
        n++;
    }
    /* drop the pages read (they stay in the page cache, not in our RSS) */
    size_t page = 4096, behind = self->offset & ~(page - 1);
    if (behind >= self->released + MAP_WINDOW) {
        size_t from = self->released & ~(page - 1);
        madvise ((void *) (self->map + from), behind - from, MADV_DONTNEED);
        self->released = behind;
    }
    return n == 0 ? -2 : n;
}

capture_t *
capture_open_file (const config_t *cfg, const char *path, char *err, size_t errlen)
{
    capture_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->name, sizeof self->name, "%s", path);
    int mapped = map_open (self, path, err, errlen);
    if (mapped < 0) {
        free (self);
        return NULL;
    }
    if (mapped)
        return finish_open (self, cfg, err, errlen);
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    /* libpcap reads a file record by record through stdio: a large buffer
       saves a system call every 4 KiB */
    FILE *file = fopen (path, "rb");
    if (file)
        setvbuf (file, NULL, _IOFBF, 1 << 20);
    else
        snprintf (pcap_err, sizeof pcap_err, "%s", strerror (errno));
    self->pcap = file ? pcap_fopen_offline_with_tstamp_precision (file, PCAP_TSTAMP_PRECISION_MICRO,
                                                                  pcap_err)
                      : NULL;
    if (!self->pcap) {
        if (file)
            fclose (file);
        snprintf (err, errlen, "%s: %s", path, pcap_err);
        free (self);
        return NULL;
    }
    return finish_open (self, cfg, err, errlen);
}

void
capture_close (capture_t **self_p)
{
    capture_t *self = *self_p;
    if (!self)
        return;
    if (self->pcap)
        pcap_close (self->pcap);
    if (self->map)
        munmap ((void *) self->map, self->map_size);
    if (self->filtered)
        pcap_freecode (&self->filter);
    free (self);
    *self_p = NULL;
}

int capture_datalink (capture_t *self) { return pcap_datalink (self->pcap); }
const char *capture_name (capture_t *self) { return self->name; }
const char *capture_error (capture_t *self) { return self->map ? self->error : pcap_geterr (self->pcap); }

int
capture_dispatch (capture_t *self, int count, pcap_handler handler, u_char *user)
{
    if (self->live) {
        struct pollfd pfd = { pcap_get_selectable_fd (self->pcap), POLLIN, 0 };
        if (pfd.fd >= 0 && poll (&pfd, 1, 100) <= 0)
            return 0;                   /* timeout or a signal: let the caller run */
    }
    if (self->map)
        return map_dispatch (self, count, handler, user);
    int n = pcap_dispatch (self->pcap, count, handler, user);
    if (n == PCAP_ERROR)
        return -1;
    if (n == 0 && !self->live)
        return -2;
    return n < 0 ? 0 : n;
}

bool
capture_stats (capture_t *self, uint64_t *received, uint64_t *dropped, uint64_t *if_dropped)
{
    struct pcap_stat ps;
    if (!self->live || pcap_stats (self->pcap, &ps) != 0)
        return false;
    *received = ps.ps_recv;
    *dropped = ps.ps_drop;
    *if_dropped = ps.ps_ifdrop;
    return true;
}
