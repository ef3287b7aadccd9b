/*  replay.c — resend a replayed request to the sandbox backend
    (buffer.replay_target), on a pool thread, with libcurl. Never the real
    site: the target is a separate address the operator names. The body
    sent is the body window (a truncated body is sent truncated); hop-by-hop
    headers and Content-Length are left to libcurl.                          */
#include <curl/curl.h>
#include <strings.h>
#include <string.h>

#include "buffer.h"

#define REPLAY_TIMEOUT_MS 2000

static const char *const s_skip[] = {
    "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer",
    "upgrade", "proxy-connection", "proxy-authorization", "expect", NULL,
};

static bool
skipped (const char *name)
{
    for (size_t i = 0; s_skip[i]; i++)
        if (strcasecmp (name, s_skip[i]) == 0)
            return true;
    return false;
}

static size_t
discard (char *data, size_t size, size_t n, void *arg)
{
    (void) data, (void) arg;
    return size * n;
}

static struct curl_slist *
replay_headers (const Dpidual__V1__HttpRequest *req)
{
    struct curl_slist *list = curl_slist_append (NULL, "X-DPI-Replay: 1");
    for (size_t i = 0; list && i < req->n_headers; i++) {
        const Dpidual__V1__HttpHeader *h = req->headers[i];
        if (!h->name || skipped (h->name))
            continue;
        char line[8448];
        snprintf (line, sizeof line, "%s: %s", h->name, h->value ? h->value : "");
        struct curl_slist *next = curl_slist_append (list, line);
        if (next)
            list = next;
    }
    return list;
}

void
replay_send (const config_t *cfg, job_t *job)
{
    const Dpidual__V1__HttpRequest *req = job->req;
    CURL *curl = curl_easy_init ();
    if (!curl) {
        snprintf (job->replay_error, sizeof job->replay_error, "curl_easy_init failed");
        return;
    }
    char url[10240];
    snprintf (url, sizeof url, "%s%s%s%s", cfg->buffer.replay_target, req->path ? req->path : "/",
              req->query && req->query[0] ? "?" : "", req->query ? req->query : "");
    struct curl_slist *headers = replay_headers (req);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, req->method ? req->method : "GET");
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) REPLAY_TIMEOUT_MS);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, discard);
    if (req->body_prefix.len) {
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, (const char *) req->body_prefix.data);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) req->body_prefix.len);
    }
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf (job->replay_error, sizeof job->replay_error, "%s", curl_easy_strerror (rc));
    job->replay_status = (uint32_t) status;
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
}
