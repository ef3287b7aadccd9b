/*  crs.c — see crs.h.                                                      */
#include <stdlib.h>

#include "crs.h"

crs_t *
crs_load (const config_t *cfg, size_t count, config_errors_t *errors)
{
    crs_t *self = calloc (1, sizeof *self);
    if (self) {
        self->waf = calloc (count, sizeof *self->waf);
        self->replay = calloc (count, sizeof *self->replay);
    }
    if (!self || !self->waf || !self->replay) {
        config_errors_add (errors, "dpi-buffer: out of memory for the CRS rule sets");
        crs_free (&self);
        return NULL;
    }
    const char *conf = cfg->buffer.modsecurity_conf;
    int threshold = cfg->buffer.inbound_threshold;
    bool same = cfg->buffer.replay_paranoia == cfg->buffer.paranoia;
    for (; self->count < count; self->count++) {
        size_t i = self->count;
        self->waf[i] = waf_new (conf, cfg->buffer.paranoia, threshold, errors);
        self->replay[i] = same || !self->waf[i] ? self->waf[i]
                        : waf_new (conf, cfg->buffer.replay_paranoia, threshold, errors);
        if (!self->waf[i] || !self->replay[i]) {
            self->count++;                  /* so crs_free sees the half-made set */
            crs_free (&self);
            return NULL;
        }
    }
    return self;
}

void
crs_free (crs_t **self_p)
{
    crs_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        if (self->replay[i] != self->waf[i])
            waf_destroy (&self->replay[i]);
        waf_destroy (&self->waf[i]);
    }
    free (self->waf);
    free (self->replay);
    free (self);
    *self_p = NULL;
}

waf_t *
crs_for (const crs_t *self, bool replay, size_t thread)
{
    size_t i = thread < self->count ? thread : 0;
    return replay ? self->replay[i] : self->waf[i];
}
