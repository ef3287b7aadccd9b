/*  threatlog.c — see threatlog.h.                                           */
#include "threatlog.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "outfile.h"
#include "paths.h"

struct threatlog_t {
    char path[4096];
    int fd;
};

threatlog_t *
threatlog_new (const char *dir, config_errors_t *errors)
{
    threatlog_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "out of memory");
        return NULL;
    }
    self->fd = -1;
    if (snprintf (self->path, sizeof self->path, "%s/threats.log", dir)
        >= (int) sizeof self->path) {
        config_errors_add (errors, "%s: path too long", dir);
        free (self);
        return NULL;
    }
    if (paths_mkdir (dir, 0755) != 0) {
        config_errors_add (errors, "%s: cannot create the directory: %s", dir, strerror (errno));
        free (self);
        return NULL;
    }
    if (threatlog_reopen (self) != 0) {
        config_errors_add (errors, "%s: %s", self->path, strerror (errno));
        free (self);
        return NULL;
    }
    return self;
}

void
threatlog_destroy (threatlog_t **self_p)
{
    threatlog_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close (self->fd);
    free (self);
    *self_p = NULL;
}

int
threatlog_reopen (threatlog_t *self)
{
    int fd = open (self->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (self->fd >= 0)
        close (self->fd);
    self->fd = fd;
    return 0;
}

const char *
threatlog_path (threatlog_t *self)
{
    return self->path;
}

const char *
threatlog_severity_word (unsigned severity)
{
    return severity <= 3 ? "low" : severity <= 6 ? "medium" : severity <= 8 ? "high" : "critical";
}

static const char *
or_empty (const char *s)
{
    return s ? s : "";
}

char *
threatlog_format (const threatlog_entry_t *e)
{
    char when[32];
    time_t secs = (time_t) (e->ts_ns / 1000000000ull);
    struct tm tm;
    gmtime_r (&secs, &tm);
    strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);

    const char *query = or_empty (e->query);
    size_t request_len = strlen (or_empty (e->method)) + strlen (or_empty (e->path))
                         + strlen (query) + 3;
    char *request = malloc (request_len);
    if (!request)
        return NULL;
    snprintf (request, request_len, "%s %s%s%s", or_empty (e->method), or_empty (e->path),
              *query ? "?" : "", query);

    json_t *o = json_object ();
    int rc = o ? 0 : -1;
    rc |= json_object_set_new (o, "timestamp", json_string (when));
    rc |= json_object_set_new (o, "source_ip", json_string (or_empty (e->source_ip)));
    rc |= json_object_set_new (o, "request", json_string (request));
    rc |= json_object_set_new (o, "host", json_string (or_empty (e->host)));
    rc |= json_object_set_new (o, "user_agent", json_string (or_empty (e->user_agent)));
    rc |= json_object_set_new (o, "type", json_string (or_empty (e->category)));
    rc |= json_object_set_new (o, "pattern", json_string (or_empty (e->pattern)));
    rc |= json_object_set_new (o, "category", json_string (or_empty (e->category)));
    rc |= json_object_set_new (o, "severity", json_string (threatlog_severity_word (e->severity)));
    rc |= json_object_set_new (o, "severity_score", json_integer (e->severity));
    rc |= json_object_set_new (o, "reason", json_string (or_empty (e->reason)));
    rc |= json_object_set_new (o, "matched", json_string (or_empty (e->matched)));
    rc |= json_object_set_new (o, "request_id", json_string (or_empty (e->request_id)));
    rc |= json_object_set_new (o, "community_id", json_string (or_empty (e->community_id)));
    rc |= json_object_set_new (o, "flow_id", json_string (or_empty (e->flow_id)));
    rc |= json_object_set_new (o, "action", json_string ("blocked"));
    free (request);
    char *text = rc == 0 ? json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref (o);
    if (!text)
        return NULL;
    size_t len = strlen (text);
    char *line = realloc (text, len + 2);
    if (!line) {
        free (text);
        return NULL;
    }
    line[len] = '\n';
    line[len + 1] = 0;
    return line;
}

int
threatlog_write (threatlog_t *self, const threatlog_entry_t *entry)
{
    char *line = threatlog_format (entry);
    if (!line)
        return -1;
    int rc = outfile_write_whole (self->fd, line, strlen (line));     /* never half a line */
    free (line);
    return rc;
}
