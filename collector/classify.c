/*  classify.c — see classify.h.                                             */
#include "classify.h"

#include <stdlib.h>
#include <string.h>

#include <ndpi/ndpi_api.h>

#include "bigmem.h"

#define SLAB_BYTES  ((size_t) 2 << 20)          /* one huge page of states   */
#define STATE_BYTES ((SIZEOF_FLOW_STRUCT + 63) / 64 * 64)
#define SLAB_FIRST  64                          /* the chunk link, then states */

struct classifier_t {
    struct ndpi_detection_module_struct *ndpi;
    unsigned max_packets;
    size_t live_states;             /* flows holding an ndpi_flow_struct     */
    /* per-flow states come from 2 MiB slabs in huge pages (bigmem.h) and go
       back to a free list: no malloc per flow, one page fault per 2 MiB.
       nDPI's own per-flow data (buffers it hangs on a state) is its own.   */
    unsigned char *slabs;           /* newest slab; each links the previous  */
    size_t slab_used;               /* bytes carved from the newest slab     */
    void *free_states;              /* linked through their first bytes      */
};

classifier_t *
classifier_new (unsigned max_packets)
{
    classifier_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ndpi = ndpi_init_detection_module (ndpi_no_prefs);
    if (!self->ndpi) {
        free (self);
        return NULL;
    }
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL (all);
    ndpi_set_protocol_detection_bitmask2 (self->ndpi, &all);
    ndpi_finalize_initialization (self->ndpi);
    self->max_packets = max_packets;
    return self;
}

void
classifier_destroy (classifier_t **self_p)
{
    classifier_t *self = *self_p;
    if (!self)
        return;
    ndpi_exit_detection_module (self->ndpi);
    while (self->slabs) {
        unsigned char *slab = self->slabs;
        memcpy (&self->slabs, slab, sizeof self->slabs);
        bigmem_free (slab, SLAB_BYTES);
    }
    free (self);
    *self_p = NULL;
}

static bool
is_tls_like (uint16_t id)
{
    return id == NDPI_PROTOCOL_TLS || id == NDPI_PROTOCOL_QUIC || id == NDPI_PROTOCOL_DTLS
           || id == NDPI_PROTOCOL_MAIL_IMAPS || id == NDPI_PROTOCOL_MAIL_POPS
           || id == NDPI_PROTOCOL_MAIL_SMTPS;
}

/*  Copy the strings worth keeping into one allocation hung on FLOW.        */
static void
keep_metadata (flow_t *flow, struct ndpi_flow_struct *nf)
{
    char version[32] = "", status_unused = 0;
    (void) status_unused;
    const char *host = nf->host_server_name[0] ? nf->host_server_name : NULL;
    const char *ja3c = NULL, *ja3s = NULL, *alpn = NULL, *tls_version = NULL;
    if (is_tls_like (flow->master) || is_tls_like (flow->app)) {
        ja3c = nf->protos.tls_quic.ja3_client[0] ? nf->protos.tls_quic.ja3_client : NULL;
        ja3s = nf->protos.tls_quic.ja3_server[0] ? nf->protos.tls_quic.ja3_server : NULL;
        alpn = nf->protos.tls_quic.alpn;
        if (nf->protos.tls_quic.ssl_version) {
            uint8_t unknown = 0;
            tls_version = ndpi_ssl_version2str (version, sizeof version,
                                                nf->protos.tls_quic.ssl_version, &unknown);
        }
    }
    const char *method = nf->http.method != NDPI_HTTP_METHOD_UNKNOWN
                         ? ndpi_http_method2str (nf->http.method) : NULL;
    const char *dns = (flow->master == NDPI_PROTOCOL_DNS || flow->app == NDPI_PROTOCOL_DNS) ? host : NULL;
    const char *fields[] = { host, tls_version, ja3c, ja3s, alpn, method, nf->http.url,
                             nf->http.user_agent, dns };
    size_t total = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        total += fields[i] && *fields[i] ? strlen (fields[i]) + 1 : 0;
    if (total == 0 && nf->http.response_status_code == 0)
        return;
    flow_meta_t *meta = calloc (1, sizeof *meta + total);
    if (!meta)
        return;
    char *out = (char *) (meta + 1);
    char **slots[] = { &meta->host_server_name, &meta->tls_version, &meta->ja3_client,
                       &meta->ja3_server, &meta->alpn, &meta->http_method, &meta->http_url,
                       &meta->http_user_agent, &meta->dns_query };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!fields[i] || !*fields[i])
            continue;
        size_t n = strlen (fields[i]) + 1;
        memcpy (out, fields[i], n);
        *slots[i] = out;
        out += n;
    }
    meta->http_status = nf->http.response_status_code;
    flow->meta = meta;
}

/*  A cleared per-flow state, or NULL when out of memory.                  */
static struct ndpi_flow_struct *
take_state (classifier_t *self)
{
    void *state = self->free_states;
    if (state) {
        memcpy (&self->free_states, state, sizeof self->free_states);
        memset (state, 0, SIZEOF_FLOW_STRUCT);
        return state;
    }
    if (!self->slabs || self->slab_used + STATE_BYTES > SLAB_BYTES) {
        unsigned char *slab = bigmem_alloc (SLAB_BYTES);     /* zeroed */
        if (!slab)
            return NULL;
        memcpy (slab, &self->slabs, sizeof self->slabs);
        self->slabs = slab;
        self->slab_used = SLAB_FIRST;
    }
    state = self->slabs + self->slab_used;
    self->slab_used += STATE_BYTES;
    return state;
}

/*  Free nDPI's data of FLOW and put the state itself on the free list.     */
static void
release_state (classifier_t *self, flow_t *flow)
{
    if (!flow->ndpi)
        return;
    ndpi_free_flow_data (flow->ndpi);   /* frees, does not clear, its pointers */
    memcpy (flow->ndpi, &self->free_states, sizeof self->free_states);
    self->free_states = flow->ndpi;
    flow->ndpi = NULL;
    self->live_states--;
}

/*  Classification of FLOW ended with PROTO: keep the facts, free nDPI.     */
static void
finish (classifier_t *self, flow_t *flow, ndpi_protocol proto)
{
    struct ndpi_flow_struct *nf = flow->ndpi;
    flow->master = proto.master_protocol;
    flow->app = proto.app_protocol;
    flow->category = (uint16_t) proto.category;
    flow->confidence = (uint8_t) nf->confidence;
    flow->risk = nf->risk;
    flow->classified = true;
    keep_metadata (flow, nf);
    release_state (self, flow);
}

int
classifier_feed (classifier_t *self, flow_t *flow, const packet_t *pkt, uint64_t ts_ms)
{
    if (flow->classified)
        return 0;
    if (!flow->ndpi) {
        if (!(flow->ndpi = take_state (self)))
            return -1;
        self->live_states++;
    }
    flow->dissected++;
    ndpi_protocol proto = ndpi_detection_process_packet (self->ndpi, flow->ndpi, pkt->l3,
                                                         pkt->l3_len, ts_ms);
    bool enough = flow->dissected >= self->max_packets;
    if (!enough && proto.app_protocol == NDPI_PROTOCOL_UNKNOWN)
        return 0;
    if (!enough && ndpi_extra_dissection_possible (self->ndpi, flow->ndpi))
        return 0;
    if (proto.app_protocol == NDPI_PROTOCOL_UNKNOWN) {
        uint8_t guessed = 0;
        proto = ndpi_detection_giveup (self->ndpi, flow->ndpi, 1, &guessed);
        flow->guessed = guessed || proto.app_protocol == NDPI_PROTOCOL_UNKNOWN;
    }
    finish (self, flow, proto);
    return 1;
}

void
classifier_giveup (classifier_t *self, flow_t *flow)
{
    if (flow->classified || !flow->ndpi)
        return;
    uint8_t guessed = 0;
    ndpi_protocol proto = ndpi_detection_giveup (self->ndpi, flow->ndpi, 1, &guessed);
    /* nDPI's flag stays 0 when the protocol had been found already */
    flow->guessed = guessed || proto.app_protocol == NDPI_PROTOCOL_UNKNOWN;
    finish (self, flow, proto);
}

void
classifier_release (classifier_t *self, flow_t *flow)
{
    release_state (self, flow);
    free (flow->meta);
    flow->meta = NULL;
}

const char *
classifier_proto_name (classifier_t *self, const flow_t *flow, char *buf, size_t len)
{
    ndpi_protocol p = { .master_protocol = flow->master, .app_protocol = flow->app,
                        .category = (ndpi_protocol_category_t) flow->category };
    return ndpi_protocol2name (self->ndpi, p, buf, (u_int) len);
}

const char *
classifier_id_name (classifier_t *self, uint16_t id)
{
    return ndpi_get_proto_name (self->ndpi, id);
}

const char *
classifier_category_name (classifier_t *self, uint16_t category)
{
    return ndpi_category_get_name (self->ndpi, (ndpi_protocol_category_t) category);
}

const char *
classifier_confidence_name (uint8_t confidence)
{
    return ndpi_confidence_get_name ((ndpi_confidence_t) confidence);
}

const char *
classifier_risk_name (unsigned bit)
{
    return bit > 0 && bit < NDPI_MAX_RISK ? ndpi_risk2str ((ndpi_risk_enum) bit) : NULL;
}

size_t
classifier_state_bytes (classifier_t *self)
{
    return self->live_states * SIZEOF_FLOW_STRUCT;
}
