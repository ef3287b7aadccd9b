/*  capture.c — see capture.h.                                               */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "decode.h"

struct capture_t {
    pcap_t *pcap;                   /* live, libpcap's file reader, or dead */
    bool live;
    char name[512];
    /* classic pcap files are read by our own reader: large pread(2)s into
       one buffer in huge pages, records parsed in place (no stdio, no copy
       per packet, no page fault per 64 KiB as a mapping of the file had).
       pcapng files go through libpcap.                                      */
    int fd;                         /* -1: libpcap reads (or live)           */
    uint8_t *buf;                   /* BUF_BYTES                             */
    uint64_t buf_off;               /* file offset of buf[0]                 */
    size_t buf_len;                 /* bytes valid in buf                    */
    uint64_t file_size, offset;     /* offset: the next record               */
    bool swapped, nanos;
    struct bpf_program filter;
    bool filtered;
    char error[256];
};

/*  A read is at most this much; the buffer also holds the largest record.  */
#define READ_BYTES ((size_t) 4 << 20)
#define BUF_BYTES  (READ_BYTES + 2 * (262144 + 16))

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
    if (self->fd >= 0) {                /* applied by file_dispatch */
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

static capture_t *
open_live (const config_t *cfg, const char *interface, char *err, size_t errlen)
{
    capture_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = -1;
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

/*  Read PATH ourselves when it is a classic pcap file: 1 yes, 0 no (libpcap
    will read it), -1 cannot open (ERR).                                     */
static int
file_open (capture_t *self, const char *path, char *err, size_t errlen)
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
    uint32_t snaplen = get32 (head + 16, swapped);
    /* file LINKTYPE_ values are DLT_ values but for a few: raw IP is 101 */
    int linktype = (int) (get32 (head + 20, swapped) & 0xffff);
    self->buf = bigmem_alloc (BUF_BYTES);
    self->pcap = self->buf ? pcap_open_dead (linktype == 101 ? DLT_RAW : linktype,
                                             snaplen > 0 && snaplen <= 262144 ? (int) snaplen : 262144)
                           : NULL;
    if (!self->pcap) {
        bigmem_free (self->buf, BUF_BYTES);
        self->buf = NULL;
        close (fd);
        return 0;
    }
    posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    self->fd = fd;
    self->file_size = (uint64_t) st.st_size;
    self->offset = self->buf_off = 24;
    self->swapped = swapped;
    self->nanos = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
    return 1;
}

/*  The bytes from the next record on, at least NEED of them unless the file
    ends first (*AVAIL says how many there are); NULL on a read error (in
    self->error).                                                            */
static const uint8_t *
file_window (capture_t *self, size_t need, size_t *avail)
{
    uint64_t end = self->buf_off + self->buf_len;
    if (self->offset + need > end && end < self->file_size) {
        size_t keep = (size_t) (end - self->offset);
        memmove (self->buf, self->buf + (self->offset - self->buf_off), keep);
        self->buf_off = self->offset;
        self->buf_len = keep;
        while (self->buf_len < need || self->buf_len < READ_BYTES) {
            size_t want = BUF_BYTES - self->buf_len;
            want = want > READ_BYTES ? READ_BYTES : want;
            ssize_t got = pread (self->fd, self->buf + self->buf_len, want,
                                 (off_t) (self->buf_off + self->buf_len));
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                snprintf (self->error, sizeof self->error, "error reading dump file: %s",
                          strerror (errno));
                return NULL;
            }
            if (got == 0)
                break;                  /* the file ends (or shrank) here */
            self->buf_len += (size_t) got;
        }
        end = self->buf_off + self->buf_len;
    }
    *avail = (size_t) (end - self->offset);
    return self->buf + (self->offset - self->buf_off);
}

/*  pcap_dispatch over our reader: same results, same errors as libpcap.   */
static int
file_dispatch (capture_t *self, int count, pcap_handler handler, u_char *user)
{
    int n = 0;
    size_t left;
    while (n < count && self->offset < self->file_size) {
        const uint8_t *rec = file_window (self, 16, &left);
        if (!rec)
            return -1;
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
        if (!(rec = file_window (self, 16 + (size_t) h.caplen, &left)))
            return -1;
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
    return n == 0 ? -2 : n;
}

static capture_t *
open_file (const config_t *cfg, const char *path, char *err, size_t errlen)
{
    capture_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = -1;
    snprintf (self->name, sizeof self->name, "%s", path);
    int ours = file_open (self, path, err, errlen);
    if (ours < 0) {
        free (self);
        return NULL;
    }
    if (ours)
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

/*  SELF, or the reason ERR in ERRORS when the open failed.                  */
static capture_t *
reported (capture_t *self, const char *err, config_errors_t *errors)
{
    if (!self)
        config_errors_add (errors, "%s", err);
    return self;
}

capture_t *
capture_open_live (const config_t *cfg, const char *interface, config_errors_t *errors)
{
    char err[PCAP_ERRBUF_SIZE + 512] = "out of memory";
    return reported (open_live (cfg, interface, err, sizeof err), err, errors);
}

capture_t *
capture_open_file (const config_t *cfg, const char *path, config_errors_t *errors)
{
    char err[PCAP_ERRBUF_SIZE + 512] = "out of memory";
    return reported (open_file (cfg, path, err, sizeof err), err, errors);
}

int
capture_check (const config_t *cfg, config_errors_t *errors)
{
    const char *bpf = cfg->tap.bpf;
    if (!*bpf)
        return 0;
    pcap_t *dead = pcap_open_dead (DLT_EN10MB, cfg->tap.snaplen);
    struct bpf_program prog;
    if (!dead) {
        config_errors_add (errors, "tap.bpf: out of memory");
        return -1;
    }
    int rc = pcap_compile (dead, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN);
    size_t from = errors ? errors->count : 0;
    if (rc != 0)
        config_errors_add (errors, "'%s': %s", bpf, pcap_geterr (dead));
    else
        pcap_freecode (&prog);
    config_errors_blame (errors, from, cfg, "tap.bpf");
    pcap_close (dead);
    return rc != 0 ? -1 : 0;
}

int
capture_fd (capture_t *self)
{
    return self->live ? pcap_get_selectable_fd (self->pcap) : -1;
}

void
capture_close (capture_t **self_p)
{
    capture_t *self = *self_p;
    if (!self)
        return;
    if (self->pcap)
        pcap_close (self->pcap);
    if (self->fd >= 0)
        close (self->fd);
    bigmem_free (self->buf, BUF_BYTES);
    if (self->filtered)
        pcap_freecode (&self->filter);
    free (self);
    *self_p = NULL;
}

int capture_datalink (capture_t *self) { return pcap_datalink (self->pcap); }
const char *capture_name (capture_t *self) { return self->name; }
const char *capture_error (capture_t *self) { return self->fd >= 0 ? self->error : pcap_geterr (self->pcap); }

int
capture_dispatch (capture_t *self, int count, pcap_handler handler, u_char *user)
{
    if (self->fd >= 0)
        return file_dispatch (self, count, handler, user);
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
