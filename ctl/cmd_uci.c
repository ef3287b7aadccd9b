/*  dpi-dualctl config import-uci FILE [-o OUT]

    Converts a UCI file (common/uci.h) to the YAML configuration: SecuBox's
    /etc/config/dpi-dual (the original this project replaces; its sections
    and options as its package shipped and its scripts read them) and this
    project's own /etc/config/dpi-dual (openwrt/dpi-dual/files/dpi-dual.config),
    whose sections are the YAML's (config TYPE = the YAML section, option
    NAME = the key below it, a nested key joined by _: `option curve_enabled`
    of `config bus` is bus.curve.enabled).

    Sections are known by their type; SecuBox's scoring, whitelist and lan
    sections by their name too (its scripts read them by name). Every
    SecuBox option is in s_secubox below: a key of ours, a conversion, or
    no equivalent — then a warning names FILE:LINE and the option, and the
    YAML lists it in a comment: nothing is dropped silently. An unknown
    section or option is a warning too. A syntax error, a value of the
    wrong type, or a value the loader refuses (the YAML is loaded before it
    is written, each error traced back to its UCI line) is an error: FILE:LINE,
    nothing written, exit 1 (as `config check` for a YAML file with errors).

    The mapping table is in docs/DESIGN.md §5 and in the help below: keep
    the three in step.                                                      */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"
#include "uci.h"

/*  --------------------------------------------------------------------------
    SecuBox's options                                                        */

typedef enum {
    MAP_KEY,            /* the value, typed as KEY is                        */
    MAP_NONE,           /* no equivalent: warned, listed in a comment        */
    MAP_INIT,           /* read by the init script, not by the workers       */
    MAP_WORKERS,        /* bool: false drops WORKERS from global.workers     */
    MAP_COMPAT_DIR,     /* global.compat_dir, and global.compat: true        */
    MAP_REPLAY,         /* bool: false is buffer.replay_on_score 0           */
    MAP_CROWDSEC,       /* bool: crowdsec.enabled, when a key file is given  */
    MAP_DURATION,       /* 4h, 30m, 1h30m, 90s, 3600: seconds into KEY       */
    MAP_SENSITIVITY,    /* low|medium|high; custom is medium (1x)            */
    MAP_WHITELIST,      /* list ip: items of correlation.whitelist           */
} map_t;

typedef struct {
    const char *section;            /* the section's type (or name)          */
    const char *option;
    map_t map;
    const char *key;                /* MAP_KEY & co: the YAML key            */
    unsigned workers;               /* MAP_WORKERS: bits of worker_id_t      */
    const char *why;                /* MAP_NONE: what to do instead          */
} secubox_t;

#define W(ID) (1u << WORKER_##ID)

static const secubox_t s_secubox[] = {
    { "global", "enabled", MAP_INIT, NULL, 0, NULL },
    { "global", "mode", MAP_KEY, "global.mode", 0, NULL },
    { "global", "correlation", MAP_WORKERS, NULL, W (CORRELATOR), NULL },
    { "global", "stats_dir", MAP_COMPAT_DIR, "global.compat_dir", 0, NULL },
    { "global", "flow_dir", MAP_NONE, NULL, 0,
      "netifyd's per-flow files: dpi-collector publishes its flows on the bus (tap.flow)" },
    { "mitm", "enabled", MAP_WORKERS, NULL, W (BRIDGE_MITM) | W (BUFFER), NULL },
    { "mitm", "buffer_size", MAP_KEY, "buffer.size", 0, NULL },
    { "mitm", "async_analysis", MAP_NONE, NULL, 0,
      "dpi-buffer always analyses off the request path" },
    { "mitm", "replay_on_alert", MAP_REPLAY, "buffer.replay_on_score", 0, NULL },
    { "mitm", "buffer_dir", MAP_NONE, NULL, 0,
      "the request ring is in memory (buffer.size, buffer.memory_mb)" },
    { "mitm", "log_file", MAP_NONE, NULL, 0,
      "mitmproxy's access log is not read: the addon hands every request to dpi-bridge-mitm" },
    { "tap", "enabled", MAP_WORKERS, NULL, W (COLLECTOR), NULL },
    { "tap", "interface", MAP_KEY, "tap.interface", 0, NULL },
    { "tap", "mirror_source", MAP_NONE, NULL, 0,
      "the mirror is set up outside the workers: mirror-setup.sh start --source IFACE" },
    { "tap", "mirror_mode", MAP_NONE, NULL, 0,
      "the mirror is set up outside the workers: mirror-setup.sh start --mode MODE" },
    { "tap", "flow_retention", MAP_NONE, NULL, 0,
      "the age of netifyd's flow files; flows expire by tap.*_idle_timeout" },
    { "tap", "netifyd_instance", MAP_NONE, NULL, 0, "no netifyd: dpi-collector runs nDPI itself" },
    { "correlation", "enabled", MAP_WORKERS, NULL, W (CORRELATOR), NULL },
    { "correlation", "window", MAP_KEY, "correlation.window", 0, NULL },
    { "correlation", "output", MAP_KEY, "correlation.output", 0, NULL },
    { "correlation", "watch_crowdsec", MAP_CROWDSEC, "crowdsec.enabled", 0, NULL },
    { "correlation", "auto_ban", MAP_KEY, "correlation.auto_ban", 0, NULL },
    { "correlation", "auto_ban_threshold", MAP_KEY, "correlation.threat_threshold", 0, NULL },
    { "correlation", "auto_ban_duration", MAP_DURATION, "correlation.ban_duration", 0, NULL },
    { "correlation", "notifications", MAP_NONE, NULL, 0,
      "no notification file: correlated threats go to correlation.output and the bus" },
    { "correlation", "notification_threshold", MAP_NONE, NULL, 0,
      "no notification file: correlated threats go to correlation.output and the bus" },
    { "correlation", "sensitivity", MAP_SENSITIVITY, "correlation.sensitivity", 0, NULL },
    { "correlation", "reputation_decay", MAP_NONE, NULL, 0,
      "points taken every decay_interval; a score here halves every "
      "correlation.reputation_decay seconds (option reputation_half_life)" },
    { "correlation", "decay_interval", MAP_NONE, NULL, 0,
      "scores decay continuously (option reputation_half_life)" },
    { "correlation", "reputation_half_life", MAP_KEY, "correlation.reputation_decay", 0, NULL },
    { "scoring", "default", MAP_NONE, NULL, 0,
      "every kind of evidence has its own weight (correlation.scoring.*)" },
    { "whitelist", "ip", MAP_WHITELIST, "correlation.whitelist", 0, NULL },
    { "lan", "enabled", MAP_NONE, NULL, 0, NULL },
    { "lan", "interface", MAP_NONE, NULL, 0, NULL },
    { "lan", "realtime", MAP_NONE, NULL, 0, NULL },
    { "lan", "track_clients", MAP_NONE, NULL, 0, NULL },
    { "lan", "track_destinations", MAP_NONE, NULL, 0, NULL },
    { "lan", "track_protocols", MAP_NONE, NULL, 0, NULL },
    { "lan", "aggregate_interval", MAP_NONE, NULL, 0, NULL },
    { "lan", "client_retention", MAP_NONE, NULL, 0, NULL },
};
#define SECUBOX_COUNT (sizeof s_secubox / sizeof s_secubox[0])

static const char s_lan_why[] =
    "SecuBox's dpi-lan-collector (ARP and conntrack summaries of the LAN bridge) has no "
    "counterpart";

/*  Section types known: the YAML's sections, SecuBox's, and SecuBox's
    sections it reads by name (scoring, whitelist, lan).                     */
static const char *const s_kinds[] = { "global", "bus", "tap", "mitm", "buffer", "correlation",
                                       "crowdsec", "decision", "scoring", "whitelist", "lan",
                                       NULL };

static const char *
s_kind (const uci_section_t *section)
{
    for (int i = 0; s_kinds[i]; i++)
        if (strcmp (section->type, s_kinds[i]) == 0)
            return s_kinds[i];
    for (int i = 0; s_kinds[i]; i++)
        if (strcmp (section->name, s_kinds[i]) == 0)
            return s_kinds[i];
    return NULL;
}

/*  --------------------------------------------------------------------------
    The conversion                                                           */

typedef struct {
    bool set;
    char *value;                    /* scalar, already checked for its type */
    char **items;                   /* list                                 */
    size_t count;
    int line;                       /* UCI line that set it (the first item) */
    char what[160];                 /* "option 'mode' of section 'settings'" */
} slot_t;

typedef struct {
    const uci_file_t *uci;
    size_t nkeys;
    slot_t *slots;
    config_errors_t errors;
    size_t warnings;
    char *notes;                    /* comment lines of what was not converted */
    size_t notes_len;
    FILE *notes_out;
    unsigned disabled;              /* workers turned off                    */
    int disabled_line;
    char disabled_what[512];
    int watch_crowdsec;             /* -1 not given, 0, 1                    */
    int watch_line;
    int stats_line;
} conv_t;

static void
s_warn (conv_t *self, int line, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static void
s_warn (conv_t *self, int line, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fprintf (stderr, "%s:%d: warning: ", self->uci->file, line);
    vfprintf (stderr, fmt, args);
    fputc ('\n', stderr);
    va_end (args);
    self->warnings++;
}

static int
s_key_index (const conv_t *self, const char *key)
{
    for (size_t i = 0; i < self->nkeys; i++)
        if (strcmp (config_key_path (i), key) == 0)
            return (int) i;
    return -1;
}

/*  UCI's booleans (uci_validate bool, config_get_bool): 1 for true, 0 for
    false, -1 for neither.                                                   */
static int
s_bool (const char *text)
{
    static const char *const yes[] = { "1", "on", "true", "yes", "enabled", NULL };
    static const char *const no[] = { "0", "off", "false", "no", "disabled", NULL };
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp (text, yes[i]) == 0)
            return 1;
        if (strcasecmp (text, no[i]) == 0)
            return 0;
    }
    return -1;
}

#define BOOL_FORMS "0/1, no/yes, off/on, false/true or disabled/enabled"

static bool
s_is_integer (const char *text)
{
    const char *p = text + (*text == '-');
    if (!*p)
        return false;
    for (; *p; p++)
        if (!isdigit ((unsigned char) *p))
            return false;
    return true;
}

/*  A duration as cscli takes it (4h, 30m, 1h30m, 90s, 1d) or plain
    seconds: the seconds, or -1.                                             */
static long
s_duration (const char *text)
{
    if (!*text)
        return -1;
    if (s_is_integer (text))
        return *text == '-' ? -1 : strtol (text, NULL, 10);
    long total = 0;
    const char *p = text;
    while (*p) {
        if (!isdigit ((unsigned char) *p))
            return -1;
        char *end;
        long n = strtol (p, &end, 10);
        long unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60
                  : *end == 's' ? 1 : 0;
        if (!unit || n > 100000000L / unit)
            return -1;
        total += n * unit;
        if (total > 1000000000L)
            return -1;
        p = end + 1;
    }
    return total;
}

/*  Set KEY from OPTION of SECTION (VALUE replaces TEXT when not NULL).      */
static void
s_set (conv_t *self, const char *key, const uci_section_t *section, const uci_option_t *option,
       const char *value)
{
    int k = s_key_index (self, key);
    if (k < 0)
        return;
    slot_t *slot = &self->slots[k];
    config_key_type_t type = config_key_type (key);
    const char *text = value ? value : option->value;
    char what[160];
    snprintf (what, sizeof what, "%s '%s' of section '%s'", option->is_list ? "list" : "option",
              option->name, *section->name ? section->name : section->type);
    if (type == CONFIG_KEY_LIST) {
        if (!option->is_list) {
            config_errors_add (&self->errors, "%s:%d: %s: %s is a list: give each item on a "
                               "line of its own, list %s '...'", self->uci->file, option->line,
                               what, key, option->name);
            return;
        }
        char **grown = realloc (slot->items, (slot->count + 1) * sizeof *grown);
        if (!grown || !(grown[slot->count] = strdup (text))) {
            config_errors_add (&self->errors, "%s: out of memory", self->uci->file);
            if (grown)
                slot->items = grown;
            return;
        }
        slot->items = grown;
        if (slot->count++ == 0) {
            slot->line = option->line;
            snprintf (slot->what, sizeof slot->what, "%s", what);
        }
        slot->set = true;
        return;
    }
    if (option->is_list) {
        config_errors_add (&self->errors, "%s:%d: %s: %s takes one value: give it with option, "
                           "not list", self->uci->file, option->line, what, key);
        return;
    }
    char buf[32];
    if (type == CONFIG_KEY_BOOL) {
        int b = s_bool (text);
        if (b < 0) {
            config_errors_add (&self->errors, "%s:%d: %s: '%s' is not a boolean (" BOOL_FORMS ")",
                               self->uci->file, option->line, what, text);
            return;
        }
        text = b ? "true" : "false";
    }
    else if (type == CONFIG_KEY_INT && !s_is_integer (text)) {
        config_errors_add (&self->errors, "%s:%d: %s: '%s' is not a whole number (%s)",
                           self->uci->file, option->line, what, text, key);
        return;
    }
    if (type == CONFIG_KEY_INT) {
        snprintf (buf, sizeof buf, "%s", text);
        text = buf;
    }
    if (slot->set)
        s_warn (self, option->line, "%s sets %s again (first set by %s at line %d): this one "
                "is used", what, key, slot->what, slot->line);
    free (slot->value);
    slot->value = strdup (text);
    slot->set = slot->value != NULL;
    slot->line = option->line;
    snprintf (slot->what, sizeof slot->what, "%s", what);
}

static void
s_not_converted (conv_t *self, const uci_section_t *section, const uci_option_t *option,
                 const char *why)
{
    const char *sname = *section->name ? section->name : section->type;
    s_warn (self, option->line, "%s '%s' of section '%s' has no equivalent, not converted%s%s",
            option->is_list ? "list" : "option", option->name, sname, why ? ": " : "",
            why ? why : "");
    fprintf (self->notes_out, "#   %s:%d: %s.%s '%s'\n", self->uci->file, option->line, sname,
             option->name, option->value);
}

/*  OPTION of our own sections: KIND.NAME, or KIND.A.B for NAME = A_B.       */
static bool
s_own_key (const char *kind, const char *name, char *key, size_t size)
{
    const char *prefix = strcmp (kind, "scoring") == 0 ? "correlation.scoring" : kind;
    snprintf (key, size, "%s.%s", prefix, name);
    if (config_key_type (key) != CONFIG_KEY_NONE)
        return true;
    for (const char *u = strchr (name, '_'); u; u = strchr (u + 1, '_')) {
        snprintf (key, size, "%s.%.*s.%s", prefix, (int) (u - name), name, u + 1);
        if (config_key_type (key) != CONFIG_KEY_NONE)
            return true;
    }
    return false;
}

static void
s_option (conv_t *self, const char *kind, const uci_section_t *section, const uci_option_t *option)
{
    const secubox_t *row = NULL;
    for (size_t i = 0; i < SECUBOX_COUNT && !row; i++)
        if (strcmp (s_secubox[i].section, kind) == 0 && strcmp (s_secubox[i].option, option->name) == 0)
            row = &s_secubox[i];
    char key[128];
    const char *sname = *section->name ? section->name : section->type;
    if (!row) {
        if (strcmp (kind, "lan") == 0 || strcmp (kind, "whitelist") == 0
            || !s_own_key (kind, option->name, key, sizeof key)) {
            s_warn (self, option->line, "unknown option '%s' of section '%s' (type %s): not "
                    "converted", option->name, sname, section->type);
            fprintf (self->notes_out, "#   %s:%d: %s.%s '%s' (unknown)\n", self->uci->file,
                     option->line, sname, option->name, option->value);
            return;
        }
        s_set (self, key, section, option, NULL);
        return;
    }
    char what[160];
    snprintf (what, sizeof what, "option '%s' of section '%s'", option->name, sname);
    int b = -1;
    if (row->map == MAP_WORKERS || row->map == MAP_REPLAY || row->map == MAP_CROWDSEC
        || row->map == MAP_INIT) {
        b = s_bool (option->value);
        if (b < 0 || option->is_list) {
            config_errors_add (&self->errors, "%s:%d: %s: '%s' is not a boolean (" BOOL_FORMS ")",
                               self->uci->file, option->line, what, option->value);
            return;
        }
    }
    switch (row->map) {
        case MAP_KEY:
            s_set (self, row->key, section, option, NULL);
            break;
        case MAP_NONE:
            s_not_converted (self, section, option, row->why ? row->why : s_lan_why);
            break;
        case MAP_INIT:
            fprintf (self->notes_out, "#   %s:%d: %s.%s '%s' is read by /etc/init.d/dpi-dual "
                     "(0: it starts nothing)\n", self->uci->file, option->line, sname,
                     option->name, option->value);
            break;
        case MAP_WORKERS:
            if (!b) {
                self->disabled |= row->workers;
                self->disabled_line = option->line;
                size_t used = strlen (self->disabled_what);
                snprintf (self->disabled_what + used, sizeof self->disabled_what - used, "%s%s.%s",
                          used ? ", " : "", sname, option->name);
            }
            break;
        case MAP_COMPAT_DIR:
            s_set (self, row->key, section, option, NULL);
            self->stats_line = option->line;
            break;
        case MAP_REPLAY:
            if (!b)
                s_set (self, row->key, section, option, "0");
            else
                fprintf (self->notes_out, "#   %s:%d: %s.%s '%s': buffer.replay_on_score keeps "
                         "its default\n", self->uci->file, option->line, sname, option->name,
                         option->value);
            break;
        case MAP_CROWDSEC:
            self->watch_crowdsec = b;
            self->watch_line = option->line;
            break;
        case MAP_DURATION: {
            long seconds = s_duration (option->value);
            if (seconds < 0 || option->is_list) {
                config_errors_add (&self->errors, "%s:%d: %s: '%s' is not a duration (seconds, "
                                   "or as cscli takes it: 4h, 30m, 1h30m, 90s, 1d)",
                                   self->uci->file, option->line, what, option->value);
                return;
            }
            char text[32];
            snprintf (text, sizeof text, "%ld", seconds);
            s_set (self, row->key, section, option, text);
            break;
        }
        case MAP_SENSITIVITY:
            if (strcmp (option->value, "custom") == 0) {
                s_warn (self, option->line, "%s: 'custom' (SecuBox's weights as given, 1x) is "
                        "medium here", what);
                s_set (self, row->key, section, option, "medium");
            }
            else
                s_set (self, row->key, section, option, NULL);
            break;
        case MAP_WHITELIST:
            s_set (self, row->key, section, option, NULL);
            break;
    }
}

/*  What the options imply together: compat, crowdsec, workers.             */
static void
s_finish (conv_t *self)
{
    int compat = s_key_index (self, "global.compat");
    if (self->stats_line && !self->slots[compat].set) {
        self->slots[compat].set = true;
        self->slots[compat].value = strdup ("true");
        self->slots[compat].line = self->stats_line;
        snprintf (self->slots[compat].what, sizeof self->slots[compat].what,
                  "stats_dir (SecuBox always wrote its status files)");
    }
    int enabled = s_key_index (self, "crowdsec.enabled");
    if (self->watch_crowdsec == 1 && !self->slots[enabled].set) {
        bool key = false;
        const char *files[] = { "crowdsec.api_key_file", "crowdsec.machine_credentials_file" };
        for (int i = 0; i < 2; i++) {
            slot_t *slot = &self->slots[s_key_index (self, files[i])];
            key |= slot->set && slot->value && *slot->value;
        }
        if (key) {
            slot_t *slot = &self->slots[enabled];
            slot->set = true;
            slot->value = strdup ("true");
            slot->line = self->watch_line;
            snprintf (slot->what, sizeof slot->what, "option 'watch_crowdsec'");
        }
        else {
            s_warn (self, self->watch_line, "option 'watch_crowdsec' is on, but crowdsec.enabled "
                    "needs a key: crowdsec.api_key_file (cscli bouncers add NAME -o raw) or "
                    "crowdsec.machine_credentials_file (option api_key_file of a section "
                    "crowdsec): left off");
            fprintf (self->notes_out, "#   %s:%d: correlation.watch_crowdsec '1': no CrowdSec "
                     "key file given, crowdsec.enabled left false\n", self->uci->file,
                     self->watch_line);
        }
    }
    if (!self->disabled)
        return;
    slot_t *mode_slot = &self->slots[s_key_index (self, "global.mode")];
    int mode = CONFIG_MODE_DUAL;
    for (int m = 0; m < 3 && mode_slot->set; m++)
        if (strcmp (mode_slot->value, config_mode_name (m)) == 0)
            mode = m;
    slot_t *slot = &self->slots[s_key_index (self, "global.workers")];
    bool run[WORKER_COUNT] = { 0 };
    if (slot->set)
        for (size_t i = 0; i < slot->count; i++) {
            const worker_info_t *info = worker_find (slot->items[i]);
            if (!info)
                return;     /* not a worker: the loader says so, at its line */
            run[info->id] = true;
        }
    else {          /* the mode's workers; dpi-api only when api.enabled says so */
        const slot_t *api = &self->slots[s_key_index (self, "api.enabled")];
        bool api_on = api->set && strcmp (api->value, "true") == 0;
        for (int id = 0; id < WORKER_COUNT; id++)
            run[id] = config_mode_has_worker (mode, id) && (id != WORKER_API || api_on);
    }
    size_t count = 0;
    for (int id = 0; id < WORKER_COUNT; id++)
        count += (run[id] = run[id] && !(self->disabled & (1u << id)));
    if (count == 0) {
        config_errors_add (&self->errors, "%s:%d: %s turn off every worker of mode %s: give "
                           "enabled '0' in the global section to start nothing",
                           self->uci->file, self->disabled_line, self->disabled_what,
                           config_mode_name (mode));
        return;
    }
    for (size_t i = 0; i < slot->count; i++)
        free (slot->items[i]);
    free (slot->items);
    slot->items = calloc (WORKER_COUNT, sizeof *slot->items);
    slot->count = 0;
    for (int id = 0; id < WORKER_COUNT && slot->items; id++)
        if (run[id])
            slot->items[slot->count++] = strdup (worker_info (id)->name);
    if (!slot->set) {
        slot->line = self->disabled_line;
        snprintf (slot->what, sizeof slot->what, "%.150s", self->disabled_what);
    }
    slot->set = true;
}

/*  VALUE as a YAML double-quoted scalar.                                    */
static void
s_quoted (FILE *out, const char *value)
{
    fputc ('"', out);
    for (const unsigned char *c = (const unsigned char *) value; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf (out, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            fprintf (out, "\\x%02x", *c);
        else
            fputc (*c, out);
    }
    fputc ('"', out);
}

/*  The YAML on OUT; LINES[n] is 1 + the key index of YAML line n (0: none). */
static void
s_emit (conv_t *self, FILE *out, int *lines, size_t max_lines)
{
    size_t line = 0;
#define NEWLINE(UCI) do { fputc ('\n', out); if (++line < max_lines) lines[line] = (UCI); } while (0)
    fprintf (out, "# Generated by dpi-dualctl config import-uci from %s:", self->uci->file);
    NEWLINE (0);
    fprintf (out, "# edit that file, not this one (docs/DESIGN.md, section 5, has the mapping).");
    NEWLINE (0);
    fflush (self->notes_out);
    if (self->notes_len) {
        fprintf (out, "# Not converted, or read by the init script only:");
        NEWLINE (0);
        for (const char *p = self->notes; *p; ) {
            const char *end = strchr (p, '\n');
            fprintf (out, "%.*s", (int) (end ? end - p : (long) strlen (p)), p);
            NEWLINE (0);
            p = end ? end + 1 : p + strlen (p);
        }
    }
    /* global.mode always: a file that sets nothing is refused               */
    int mode = s_key_index (self, "global.mode");
    if (!self->slots[mode].set) {
        self->slots[mode].set = true;
        self->slots[mode].value = strdup (config_mode_name (CONFIG_MODE_DUAL));
        snprintf (self->slots[mode].what, sizeof self->slots[mode].what, "the default");
    }
    char open[128] = "";            /* sections open, "bus.curve"            */
    for (size_t k = 0; k < self->nkeys; k++) {
        const slot_t *slot = &self->slots[k];
        if (!slot->set)
            continue;
        const char *path = config_key_path (k);
        const char *leaf = strrchr (path, '.') + 1;
        size_t plen = (size_t) (leaf - 1 - path);
        /* the sections of the key, and how many of them are open already */
        char parts[4][48], was[4][48];
        size_t nparts = 0, nwas = 0;
        for (const char *p = path; p < leaf - 1 && nparts < 4; ) {
            const char *dot = memchr (p, '.', (size_t) (leaf - 1 - p));
            size_t n = dot ? (size_t) (dot - p) : (size_t) (leaf - 1 - p);
            snprintf (parts[nparts++], sizeof parts[0], "%.*s", (int) n, p);
            p += n + 1;
        }
        for (const char *p = open; *p && nwas < 4; ) {
            size_t n = strcspn (p, ".");
            snprintf (was[nwas++], sizeof was[0], "%.*s", (int) n, p);
            p += n + (p[n] == '.');
        }
        size_t common = 0;
        while (common < nparts && common < nwas && strcmp (parts[common], was[common]) == 0)
            common++;
        for (size_t i = common; i < nparts; i++) {
            fprintf (out, "%*s%s:", (int) (2 * i), "", parts[i]);
            NEWLINE (0);
        }
        size_t depth = nparts;
        snprintf (open, sizeof open, "%.*s", (int) plen, path);
        fprintf (out, "%*s%s: ", (int) (2 * depth), "", leaf);
        config_key_type_t type = config_key_type (path);
        if (type == CONFIG_KEY_LIST) {
            fputc ('[', out);
            for (size_t i = 0; i < slot->count; i++) {
                if (i)
                    fputs (", ", out);
                s_quoted (out, slot->items[i]);
            }
            fputc (']', out);
        }
        else if (type == CONFIG_KEY_BOOL || type == CONFIG_KEY_INT)
            fputs (slot->value, out);
        else
            s_quoted (out, slot->value);
        if (slot->line)
            fprintf (out, "    # %s:%d", self->uci->file, slot->line);
        NEWLINE ((int) k + 1);
    }
#undef NEWLINE
}

/*  Load the YAML (in a temporary file) as the workers would; its errors
    traced back to the UCI lines.                                            */
static void
s_verify (conv_t *self, const char *yaml, size_t length, const int *lines, size_t max_lines)
{
    const char *tmpdir = getenv ("TMPDIR");
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/dpi-dual-uci.XXXXXX.yaml", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemps (path, 5);
    if (fd < 0 || write (fd, yaml, length) != (ssize_t) length) {
        config_errors_add (&self->errors, "%s: cannot write a temporary file to check the "
                           "result: %s", path, strerror (errno));
        if (fd >= 0) {
            close (fd);
            unlink (path);
        }
        return;
    }
    close (fd);
    config_errors_t errors = { 0 };
    config_t *cfg = config_load (path, &errors);
    unlink (path);
    config_destroy (&cfg);
    size_t plen = strlen (path);
    for (size_t i = 0; i < errors.count; i++) {
        const char *message = errors.messages[i];
        unsigned long line = 0;
        int used = 0;
        if (strncmp (message, path, plen) == 0 && message[plen] == ':'
            && sscanf (message + plen, ":%lu:%*u: %n", &line, &used) == 1 && used > 0) {
            int k = line < max_lines ? lines[line] - 1 : -1;
            const slot_t *slot = k >= 0 ? &self->slots[k] : NULL;
            const char *rest = message + plen + used;
            if (slot && slot->line)
                config_errors_add (&self->errors, "%s:%d: %s -> %s", self->uci->file, slot->line,
                                   slot->what, rest);
            else
                config_errors_add (&self->errors, "%s: %s", self->uci->file, rest);
        }
        else if (strncmp (message, path, plen) == 0)
            config_errors_add (&self->errors, "%s (converted)%s", self->uci->file, message + plen);
        else
            config_errors_add (&self->errors, "%s", message);
    }
    config_errors_clear (&errors);
}

/*  Write TEXT to OUT atomically (a temporary file beside it, renamed).      */
static int
s_write_out (const char *out, const char *text, size_t length)
{
    char tmp[PATH_MAX];
    if (snprintf (tmp, sizeof tmp, "%s.XXXXXX", out) >= (int) sizeof tmp) {
        fprintf (stderr, "dpi-dualctl config import-uci: %s: path too long\n", out);
        return -1;
    }
    int fd = mkstemp (tmp);
    if (fd < 0) {
        fprintf (stderr, "dpi-dualctl config import-uci: %s: cannot create: %s\n", tmp,
                 strerror (errno));
        return -1;
    }
    bool ok = fchmod (fd, 0644) == 0 && write (fd, text, length) == (ssize_t) length
              && fsync (fd) == 0;
    int saved = errno;
    ok = close (fd) == 0 && ok;
    if (!ok || rename (tmp, out) != 0) {
        fprintf (stderr, "dpi-dualctl config import-uci: %s: cannot write: %s\n", out,
                 strerror (ok ? errno : saved));
        unlink (tmp);
        return -1;
    }
    return 0;
}

int
ctl_import_uci (const char *file, const char *out)
{
    config_errors_t perrors = { 0 };
    uci_file_t *uci = uci_load (file, &perrors);
    if (!uci) {
        config_errors_print (&perrors, stderr);
        config_errors_clear (&perrors);
        return 1;
    }
    conv_t self = { .uci = uci, .watch_crowdsec = -1 };
    while (config_key_path (self.nkeys))
        self.nkeys++;
    self.slots = calloc (self.nkeys, sizeof *self.slots);
    self.notes_out = open_memstream (&self.notes, &self.notes_len);
    if (!self.slots || !self.notes_out) {
        fprintf (stderr, "dpi-dualctl config import-uci: out of memory\n");
        return 1;
    }
    for (size_t s = 0; s < uci->count; s++) {
        const uci_section_t *section = &uci->sections[s];
        const char *kind = s_kind (section);
        if (!kind) {
            s_warn (&self, section->line, "unknown section type '%s'%s%s%s: its %zu option%s not "
                    "converted", section->type, *section->name ? " ('" : "", section->name,
                    *section->name ? "')" : "", section->count, section->count == 1 ? "" : "s");
            fprintf (self.notes_out, "#   %s:%d: section %s%s%s (unknown, %zu options)\n",
                     uci->file, section->line, section->type, *section->name ? " " : "",
                     section->name, section->count);
            continue;
        }
        for (size_t o = 0; o < section->count; o++)
            s_option (&self, kind, section, &section->options[o]);
    }
    s_finish (&self);

    char *yaml = NULL;
    size_t length = 0;
    size_t max_lines = 64 + 2 * self.nkeys + 8 * uci->count;
    for (size_t s = 0; s < uci->count; s++)
        max_lines += uci->sections[s].count;
    int *lines = calloc (max_lines, sizeof *lines);
    FILE *buf = open_memstream (&yaml, &length);
    if (self.errors.count == 0 && buf && lines) {
        s_emit (&self, buf, lines, max_lines);
        fflush (buf);
        s_verify (&self, yaml, length, lines, max_lines);
    }
    if (buf)
        fclose (buf);
    int rc = 0;
    if (self.errors.count) {
        config_errors_print (&self.errors, stderr);
        rc = 1;
    }
    else if (out)
        rc = s_write_out (out, yaml, length) == 0 ? 0 : 1;
    else
        rc = fwrite (yaml, 1, length, stdout) == length && fflush (stdout) == 0 ? 0 : 1;

    free (yaml);
    free (lines);
    fclose (self.notes_out);
    free (self.notes);
    for (size_t k = 0; k < self.nkeys; k++) {
        free (self.slots[k].value);
        for (size_t i = 0; i < self.slots[k].count; i++)
            free (self.slots[k].items[i]);
        free (self.slots[k].items);
    }
    free (self.slots);
    config_errors_clear (&self.errors);
    uci_destroy (&uci);
    return rc;
}
