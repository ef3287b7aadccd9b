/*  capture.c — see capture.h.                                               */
#include "capture.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

struct capture_t {
    pcap_t *pcap;
    bool live;
    char name[512];
};

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

capture_t *
capture_open_file (const config_t *cfg, const char *path, char *err, size_t errlen)
{
    capture_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->name, sizeof self->name, "%s", path);
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
    free (self);
    *self_p = NULL;
}

int capture_datalink (capture_t *self) { return pcap_datalink (self->pcap); }
const char *capture_name (capture_t *self) { return self->name; }
const char *capture_error (capture_t *self) { return pcap_geterr (self->pcap); }

int
capture_dispatch (capture_t *self, int count, pcap_handler handler, u_char *user)
{
    if (self->live) {
        struct pollfd pfd = { pcap_get_selectable_fd (self->pcap), POLLIN, 0 };
        if (pfd.fd >= 0 && poll (&pfd, 1, 100) <= 0)
            return 0;                   /* timeout or a signal: let the caller run */
    }
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
