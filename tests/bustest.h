/*  bustest.h — what the unit tests of the bus and of the query service
    (test_bus, test_query) both need: a config whose run directory is a
    test's own, and CURVE certificates.

    test_config_in (DIR) loads a config with host "testhost" and run_dir
    DIR (written to DIR.yaml); exits 1 when it does not load.
    test_set_str (&field, value) replaces a config string.

    test_certs_make (DIR, &c) writes three certificate pairs with czmq:
    DIR/keys/server.cert{,_secret}, DIR/keys/stranger.cert{,_secret} (a key
    nobody allows) and DIR/allow/client.cert{,_secret} (DIR/allow is the
    server's allow_dir: its client is allowed). The paths of the public
    files land in C.                                                          */
#ifndef DPI_TESTS_BUSTEST_H
#define DPI_TESTS_BUSTEST_H

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static inline config_t *
test_config_in (const char *dir)
{
    char yaml[300];
    snprintf (yaml, sizeof yaml, "%s.yaml", dir);
    FILE *f = fopen (yaml, "w");
    if (f) {
        fprintf (f, "global:\n  host: testhost\n  run_dir: %s\n", dir);
        fclose (f);
    }
    config_t *cfg = config_load_verbose (yaml);
    if (!cfg)
        exit (1);
    return cfg;
}

static inline void
test_set_str (char **field, const char *value)
{
    free (*field);
    *field = strdup (value);
}

typedef struct {
    char keys[300], allow[300];     /* the two directories                   */
    char server[512], client[512], stranger[512];   /* public cert files      */
} test_certs_t;

/*  Write a certificate pair DIR/NAME.cert{,_secret}; PATH gets the public one. */
static inline void
test_cert_make (const char *dir, const char *name, char *path, size_t len)
{
    zsys_dir_create ("%s", dir);
    snprintf (path, len, "%s/%s.cert", dir, name);
    zcert_t *cert = zcert_new ();
    char secret[600];
    snprintf (secret, sizeof secret, "%s_secret", path);
    zcert_save_secret (cert, secret);
    zcert_save_public (cert, path);
    zcert_destroy (&cert);
}

static inline void
test_certs_make (const char *dir, test_certs_t *c)
{
    snprintf (c->keys, sizeof c->keys, "%s/keys", dir);
    snprintf (c->allow, sizeof c->allow, "%s/allow", dir);
    test_cert_make (c->keys, "server", c->server, sizeof c->server);
    test_cert_make (c->keys, "stranger", c->stranger, sizeof c->stranger);
    test_cert_make (c->allow, "client", c->client, sizeof c->client);
}

#endif
