/*  test_query — the query service (common/query.h) over real sockets: a
    server thread with a stub handler on ipc:// and tcp://, calls through
    query_call (echo, a refusal), bad requests sent raw (not JSON, an array,
    no "cmd", over QUERY_MAX_REQUEST, several frames) answered ok:false and
    counted, random frames from a DEALER never stop the server, a timeout
    when nobody serves (its text), CURVE: a listed client is answered, an
    unlisted or plain one is not. The server thread polls query_fd and
    drains only when it signals, so a lost edge shows as a timeout.        */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <czmq.h>

#include "log.h"
#include "query.h"
#include "bustest.h"
#include "tally.h"

static char s_dir[256];

typedef struct {
    query_t *query;
    pthread_t thread;
    atomic_int stop;
    query_stats_t stats;            /* after server_stop                     */
} server_t;

/*  The stub: "echo" returns the request under "args", "refuse" refuses,
    "ok-false" sets ok itself, anything else is unknown.                    */
static json_t *
stub_handler (void *arg, const char *cmd, json_t *request)
{
    (void) arg;
    if (strcmp (cmd, "echo") == 0)
        return json_pack ("{s:O}", "args", request);
    if (strcmp (cmd, "refuse") == 0)
        return json_pack ("{s:b,s:s}", "ok", 0, "error", "refused by the stub");
    return json_pack ("{s:b,s:s}", "ok", 0, "error", "unknown command");
}

static void *
server_loop (void *arg)
{
    server_t *s = arg;
    struct pollfd pfd = { .fd = query_fd (s->query), .events = POLLIN };
    while (!atomic_load (&s->stop)) {
        if (poll (&pfd, 1, 20) <= 0)
            continue;
        while (query_drain (s->query, 8) == 8 || query_pending (s->query))
            ;
    }
    return NULL;
}

/*  Serve ENDPOINT in a thread; false if query_new failed.                   */
static bool
server_start (server_t *s, const config_t *cfg, const char *endpoint)
{
    memset (s, 0, sizeof *s);
    config_errors_t errors = { 0 };
    s->query = query_new (cfg, endpoint, stub_handler, NULL, &errors);
    config_errors_print (&errors, stdout);
    config_errors_clear (&errors);
    return s->query && pthread_create (&s->thread, NULL, server_loop, s) == 0;
}

static void
server_stop (server_t *s)
{
    atomic_store (&s->stop, 1);
    pthread_join (s->thread, NULL);
    s->stats = query_stats (s->query);
    query_destroy (&s->query);
}

/*  A config with the run directory (so the ipc endpoints) under s_dir.     */
static config_t *
test_config (void)
{
    return test_config_in (s_dir);
}

/*  query_call of {"cmd":CMD,"n":N}; NULL with ERROR filled.                 */
static json_t *
call (const config_t *cfg, const char *ep, const char *cmd, int n, int timeout_ms, char *error)
{
    json_t *req = json_pack ("{s:s,s:i}", "cmd", cmd, "n", n);
    json_t *reply = query_call (cfg, ep, req, timeout_ms, error, 512);
    json_decref (req);
    return reply;
}

static bool
reply_ok (json_t *reply)
{
    return json_is_true (json_object_get (reply, "ok"));
}

static const char *
reply_error (json_t *reply)
{
    const char *e = json_string_value (json_object_get (reply, "error"));
    return e ? e : "";
}

/*  Echo and refusal through query_call on EP.                               */
static void
check_calls (tally_t *t, const config_t *cfg, const char *ep)
{
    char error[512] = "";
    json_t *reply = call (cfg, ep, "echo", 42, 3000, error);
    json_t *args = json_object_get (reply, "args");
    check (t, reply && reply_ok (reply), "%s: echo answered ok (%s)", ep, error);
    check (t, json_integer_value (json_object_get (args, "n")) == 42
              && strcmp (json_string_value (json_object_get (args, "cmd")) ?: "", "echo") == 0,
           "%s: echo carries the arguments", ep);
    json_decref (reply);
    reply = call (cfg, ep, "refuse", 0, 3000, error);
    check (t, reply && json_is_false (json_object_get (reply, "ok"))
              && strcmp (reply_error (reply), "refused by the stub") == 0,
           "%s: a refusal keeps the handler's ok:false and error", ep);
    json_decref (reply);
}

/*  Send FRAMES raw from a REQ socket; the reply's error, "" if ok, NULL if
    none came.                                                               */
static char *
raw_request (const char *ep, const char *const *frames, const size_t *sizes, size_t n)
{
    zsock_t *req = zsock_new_req (ep);
    zmsg_t *msg = zmsg_new ();
    for (size_t i = 0; i < n; i++)
        zmsg_addmem (msg, frames[i], sizes[i]);
    zmsg_send (&msg, req);
    zsock_set_rcvtimeo (req, 3000);
    char *text = zstr_recv (req);
    zsock_destroy (&req);
    json_t *reply = text ? json_loads (text, 0, NULL) : NULL;
    char *error = NULL;
    if (reply)
        error = strdup (reply_ok (reply) ? "" : reply_error (reply));
    json_decref (reply);
    zstr_free (&text);
    return error;
}

static void
check_bad_requests (tally_t *t, const config_t *cfg, const char *ep)
{
    static const char *const bodies[] = { "not json", "[1,2]", "{\"x\":1}", "{\"cmd\":5}", "" };
    static const char *const expect[] = { "not JSON", "string \"cmd\"", "string \"cmd\"",
                                          "string \"cmd\"", "not JSON" };
    for (size_t i = 0; i < 5; i++) {
        size_t size = strlen (bodies[i]);
        char *error = raw_request (ep, &bodies[i], &size, 1);
        check (t, error && strstr (error, expect[i]), "'%s' answered '%s'", bodies[i],
               error ? error : "(nothing)");
        free (error);
    }
    const char *two[] = { "{\"cmd\":\"echo\"}", "{\"cmd\":\"echo\"}" };
    size_t sizes[] = { strlen (two[0]), strlen (two[1]) };
    char *error = raw_request (ep, two, sizes, 2);
    check (t, error && strstr (error, "one frame"), "two frames answered '%s'",
           error ? error : "(nothing)");
    free (error);

    /* at the limit: served; one byte over: refused */
    char *big = malloc (QUERY_MAX_REQUEST + 2);
    for (size_t extra = 0; extra < 2; extra++) {
        size_t size = QUERY_MAX_REQUEST + extra;
        memset (big, 'x', size);
        memcpy (big, "{\"cmd\":\"echo\",\"pad\":\"", 21);
        memcpy (big + size - 2, "\"}", 2);
        const char *frame = big;
        error = raw_request (ep, &frame, &size, 1);
        check (t, error && (extra ? strstr (error, "over 65536") != NULL : *error == '\0'),
               "a request of %zu bytes answered '%s'", size, error ? error : "(nothing)");
        free (error);
    }
    free (big);
    (void) cfg;
}

/*  A DEALER sends random frames; a second one goes away without reading.  */
static void
send_garbage (const char *ep)
{
    uint32_t seed = 12345;
    zsock_t *dealer = zsock_new_dealer (ep);
    char data[300];
    for (int m = 0; m < 300; m++) {
        zmsg_t *msg = zmsg_new ();
        uint32_t frames = 1 + tally_random (&seed) % 5;
        for (uint32_t f = 0; f < frames; f++) {
            size_t size = tally_random (&seed) % sizeof data;
            for (size_t i = 0; i < size; i++)
                data[i] = (char) tally_random (&seed);
            zmsg_addmem (msg, data, m % 7 == 0 && f == 0 ? 0 : size);
        }
        zmsg_send (&msg, dealer);
    }
    zsock_t *gone = zsock_new_dealer (ep);
    for (int m = 0; m < 200; m++) {
        zstr_sendm (gone, "");
        zstr_send (gone, "{\"cmd\":\"echo\"}");
    }
    zclock_sleep (200);
    zsock_destroy (&gone);
    zsock_destroy (&dealer);
}

static void
test_ipc (tally_t *t)
{
    config_t *cfg = test_config ();
    char ep[320], path[300];
    snprintf (path, sizeof path, "%s/q/buffer.query", s_dir);
    snprintf (ep, sizeof ep, "ipc://%s", path);
    server_t s;
    if (!check (t, server_start (&s, cfg, ep), "serves on %s", ep))
        return;
    check (t, strcmp (query_endpoint (s.query), ep) == 0, "endpoint %s", query_endpoint (s.query));
    check_calls (t, cfg, ep);
    check_bad_requests (t, cfg, ep);
    send_garbage (ep);
    check_calls (t, cfg, ep);           /* still serving */
    server_stop (&s);
    /* 4 calls, the one at the limit, and what came from the DEALER that left */
    check (t, s.stats.requests >= 5 && s.stats.requests <= 205, "requests %llu",
           (unsigned long long) s.stats.requests);
    check (t, s.stats.bad_requests == 7 + 300, "bad requests %llu (expected 307)",
           (unsigned long long) s.stats.bad_requests);
    check (t, access (path, F_OK) != 0, "socket file removed at destroy");
    config_destroy (&cfg);
}

/*  A tcp port free just now on 127.0.0.1.                                   */
static int
free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind (fd, (struct sockaddr *) &a, sizeof a) == 0
        && getsockname (fd, (struct sockaddr *) &a, &len) == 0)
        port = ntohs (a.sin_port);
    if (fd >= 0)
        close (fd);
    return port;
}

static void
test_tcp_and_timeout (tally_t *t)
{
    config_t *cfg = test_config ();
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", free_port ());
    server_t s;
    if (check (t, server_start (&s, cfg, ep), "serves on %s", ep)) {
        check_calls (t, cfg, ep);
        server_stop (&s);
    }
    if (check (t, server_start (&s, cfg, "tcp://127.0.0.1:*"), "serves on port *")) {
        const char *bound = query_endpoint (s.query);
        check (t, !strchr (bound, '*'), "port resolved: %s", bound);
        check_calls (t, cfg, bound);
        server_stop (&s);
    }

    char nobody[300], error[512] = "", want[400];
    snprintf (nobody, sizeof nobody, "ipc://%s/nobody.query", s_dir);
    int64_t start = zclock_mono ();
    json_t *reply = call (cfg, nobody, "echo", 1, 300, error);
    int64_t took = zclock_mono () - start;
    snprintf (want, sizeof want, "no answer from %s after 300 ms", nobody);
    check (t, !reply && strstr (error, want), "timeout said '%s'", error);
    check (t, took >= 290 && took < 2000, "timeout took %lld ms", (long long) took);
    config_errors_t errors = { 0 };
    check (t, !query_new (cfg, "udp://1.2.3.4:5", stub_handler, NULL, &errors)
              && errors.count == 1, "a bad endpoint is refused with a reason");
    config_errors_clear (&errors);
    config_destroy (&cfg);
}

static void
test_curve (tally_t *t)
{
    test_certs_t c;
    test_certs_make (s_dir, &c);        /* allow/client is allowed, keys/stranger not */
    const char *allow = c.allow;
    const char *server = c.server, *client = c.client, *stranger = c.stranger;

    config_t *scfg = test_config (), *ccfg = test_config (), *xcfg = test_config ();
    config_t *plain = test_config ();
    scfg->bus.curve.enabled = ccfg->bus.curve.enabled = xcfg->bus.curve.enabled = true;
    test_set_str (&scfg->bus.curve.cert, server);
    test_set_str (&scfg->bus.curve.allow_dir, allow);
    test_set_str (&ccfg->bus.curve.cert, client);
    test_set_str (&ccfg->bus.curve.server_cert, server);
    test_set_str (&xcfg->bus.curve.cert, stranger);
    test_set_str (&xcfg->bus.curve.server_cert, server);

    char ep[64], error[512] = "";
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", free_port ());
    server_t s;
    if (!check (t, server_start (&s, scfg, ep), "CURVE service on %s", ep))
        return;
    check_calls (t, ccfg, ep);
    json_t *reply = call (xcfg, ep, "echo", 1, 700, error);
    check (t, !reply && strstr (error, "no answer from"), "unlisted client: '%s'", error);
    json_decref (reply);
    reply = call (plain, ep, "echo", 1, 700, error);
    check (t, !reply && strstr (error, "no answer from"), "plain client: '%s'", error);
    json_decref (reply);
    check_calls (t, ccfg, ep);
    server_stop (&s);
    check (t, s.stats.requests == 4, "only the listed client's 4 requests reached the handler");
    config_destroy (&plain);
    config_destroy (&scfg);
    config_destroy (&ccfg);
    config_destroy (&xcfg);
}

int
main (void)
{
    tally_t t = { 0 };
    log_init ("test_query", "error");
    zsys_init ();
    zsys_set_logstream (stdout);
    snprintf (s_dir, sizeof s_dir, "/tmp/dpi-test-query.%d", (int) getpid ());
    zsys_dir_create ("%s", s_dir);
    test_ipc (&t);
    test_tcp_and_timeout (&t);
    test_curve (&t);
    char cmd[700];
    snprintf (cmd, sizeof cmd, "rm -rf '%s' '%s.yaml'", s_dir, s_dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_dir);
    return tally_report (&t);
}
