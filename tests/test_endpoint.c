/*  test_endpoint.c — common/endpoint.c (the [@|>]ipc|tcp:// parser) and
    common/workers.c (the table of workers).

    Catches: a prefix read the wrong way round, the default direction
    ignored, a transport the bus does not take (udp, inproc) let through, an
    ipc path one byte over what sun_path holds accepted (or one at the limit
    refused), a worker row out of step with its id.                          */
#include <string.h>

#include "endpoint.h"
#include "tally.h"
#include "workers.h"

static void
test_good (tally_t *t)
{
    endpoint_t ep;
    const char *why = NULL;
    check (t, endpoint_parse ("@tcp://*:7001", false, &ep, &why) == 0 && ep.bind && ep.prefixed
                  && ep.transport == ENDPOINT_TCP && strcmp (ep.address, "tcp://*:7001") == 0
                  && ep.path == NULL, "@tcp binds");
    check (t, endpoint_parse (">ipc:///run/x.pub", true, &ep, &why) == 0 && !ep.bind
                  && ep.transport == ENDPOINT_IPC && strcmp (ep.path, "/run/x.pub") == 0,
           ">ipc connects, path /run/x.pub");
    check (t, endpoint_parse ("tcp://10.0.0.1:5", true, &ep, &why) == 0 && ep.bind && !ep.prefixed,
           "no prefix: the default (bind)");
    check (t, endpoint_parse ("tcp://10.0.0.1:5", false, &ep, &why) == 0 && !ep.bind,
           "no prefix: the default (connect)");
    check (t, strcmp (endpoint_address ("@ipc:///a"), "ipc:///a") == 0
                  && strcmp (endpoint_address ("ipc:///a"), "ipc:///a") == 0, "endpoint_address");
}

static void
test_bad (tally_t *t)
{
    const char *bad[] = { "", "udp://0.0.0.0:1", "tcp://", "ipc://", "inproc://x", "@@ipc:///x",
                          "tcp:/x", "IPC:///x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        endpoint_t ep;
        const char *why = NULL;
        check (t, endpoint_parse (bad[i], true, &ep, &why) == -1 && why
                      && strstr (why, "is not an endpoint"), "'%s' refused: %s", bad[i],
               why ? why : "(no reason)");
    }
}

/*  ipc:// + a path of LEN bytes.                                            */
static int
parse_path_of (size_t len, const char **why)
{
    char text[300] = "ipc://";
    memset (text + 6, 'p', len);
    text[6] = '/';
    text[6 + len] = 0;
    endpoint_t ep;
    return endpoint_parse (text, true, &ep, why);
}

static void
test_path_length (tally_t *t)
{
    const char *why = NULL;
    check (t, parse_path_of (ENDPOINT_IPC_PATH_MAX, &why) == 0, "a path of 107 bytes fits");
    check (t, parse_path_of (ENDPOINT_IPC_PATH_MAX + 1, &why) == -1 && strstr (why, "too long"),
           "a path of 108 bytes does not: %s", why ? why : "");
}

static void
test_workers (tally_t *t)
{
    for (int i = 0; i < WORKER_COUNT; i++) {
        const worker_info_t *w = worker_info ((worker_id_t) i);
        check (t, w->id == (worker_id_t) i && worker_find (w->name) == w
                      && strncmp (w->endpoint_key, "bus.endpoints.", 14) == 0
                      && (*w->publishes || w->id == WORKER_API),   /* api: heartbeats only */
               "row %d (%s) in step", i, w->name);
    }
    const worker_info_t *b = worker_find ("bridge-mitm");
    check (t, b && b->id == WORKER_BRIDGE_MITM
                  && strcmp (b->endpoint_key, "bus.endpoints.bridge_mitm") == 0
                  && strstr (b->publishes, "mitm.verdict"), "bridge-mitm's row");
    check (t, worker_find ("collector")->id == WORKER_COLLECTOR, "collector's row");
    check (t, worker_find ("nobody") == NULL && worker_find ("") == NULL, "unknown names");
}

int
main (void)
{
    tally_t t = { 0 };
    test_good (&t);
    test_bad (&t);
    test_path_length (&t);
    test_workers (&t);
    return tally_report (&t);
}
