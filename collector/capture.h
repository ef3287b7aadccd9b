/*  capture.h — packets from a live interface or from capture files.

    Live: pcap_create + the tap.* options (snaplen, promiscuous, immediate
    mode, kernel buffer size, BPF filter), read non-blocking: the caller
    polls capture_fd and dispatches what is there, so its loop keeps running
    when no packet comes. Offline: pcap and pcapng files (libpcap reads
    both), the same BPF filter. Errors name the interface or file.          */
#ifndef DPI_CAPTURE_H
#define DPI_CAPTURE_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct capture_t capture_t;

/*  NULL on error, with the reason added to ERRORS.                          */
capture_t *capture_open_live (const config_t *cfg, const char *interface, config_errors_t *errors);
capture_t *capture_open_file (const config_t *cfg, const char *path, config_errors_t *errors);
void capture_close (capture_t **self_p);

/*  What the open would refuse in CFG without opening anything: tap.bpf
    compiles. 0, or -1 with the reason (naming the key) in ERRORS.           */
int capture_check (const config_t *cfg, config_errors_t *errors);

/*  The descriptor to poll for packets of a live capture; -1 offline.       */
int capture_fd (capture_t *self);

int capture_datalink (capture_t *self);
const char *capture_name (capture_t *self);

/*  Hand up to COUNT packets to HANDLER, without waiting. Returns the number
    handled; 0 when no packet is there (live); -1 on a read error (a truncated
    or corrupt file: capture_error says what), -2 at the end of a file.     */
int capture_dispatch (capture_t *self, int count, pcap_handler handler, u_char *user);
const char *capture_error (capture_t *self);

/*  pcap_stats of a live capture; false offline.                             */
bool capture_stats (capture_t *self, uint64_t *received, uint64_t *dropped, uint64_t *if_dropped);

#endif
