/*  fuzz_config.c — libFuzzer harness for the YAML config loader
    (common/config.c, config_load) and what the tools do with a loaded file.

    Input: the text of a dpi-dual.yaml. config_load reads a file only, so
    the input is written to /dev/shm/fuzz_config.PID/dpi-dual.yaml (once per
    input; a directory of its own, as relative paths in the file are
    relative to it). Seeds: the .yaml files of tests/data/config and config
    (seeds.sh); dictionary: fuzz_config.dict, every key name of
    config/dpi-dual.yaml and YAML syntax.

    Checks, beyond no crash:
    - a refused file has errors and a loaded one none; every error is one
      non-empty line naming the file (the loader's FILE:LINE:COL: KEY:);
    - a loaded file: config_print gives YAML that config_load accepts and
      that prints the same again (`dpi-dualctl config check` prints it as
      "a configuration that passes"); config_where, config_is_default and
      config_key_type answer for every key; config_host_workers runs only
      workers global.mode runs; capture_check compiles tap.bpf (the one
      start-up check of `config check` that opens no file the config
      names: the others read rules, ban, certificate and token files,
      which a fuzzed path could point anywhere, /dev/zero included).    */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "fuzz_write.h"

static char s_dir[64], s_path[96], s_again[96];

static void
check_errors (const config_t *cfg, const config_errors_t *errors, const char *path)
{
    if ((cfg == NULL) != (errors->count > 0))
        abort ();
    for (size_t i = 0; i < errors->count; i++) {
        const char *m = errors->messages[i];
        if (!m || !*m || strchr (m, '\n') || strncmp (m, path, strlen (path)) != 0)
            abort ();
    }
}

/*  config_print of CFG into a string (caller frees).                       */
static char *
printed (const config_t *cfg, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream (&text, len);
    if (!out)
        abort ();
    config_print (cfg, out);
    if (fclose (out) != 0)
        abort ();
    return text;
}

static void
cleanup (void)
{
    unlink (s_path);
    unlink (s_again);
    rmdir (s_dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_dir[0]) {
        snprintf (s_dir, sizeof s_dir, "/dev/shm/fuzz_config.%d", (int) getpid ());
        snprintf (s_path, sizeof s_path, "%s/dpi-dual.yaml", s_dir);
        snprintf (s_again, sizeof s_again, "%s/printed.yaml", s_dir);
        if (mkdir (s_dir, 0700) != 0 && access (s_dir, W_OK) != 0)
            abort ();
        atexit (cleanup);
    }
    fuzz_write_file (s_path, data, size);
    config_errors_t errors;
    config_t *cfg = config_load (s_path, &errors);
    check_errors (cfg, &errors, s_path);
    config_errors_clear (&errors);
    if (!cfg)
        return 0;

    for (size_t i = 0; config_key_path (i); i++) {
        const char *key = config_key_path (i);
        char where[1200];
        if (config_key_type (key) == CONFIG_KEY_NONE)
            abort ();
        config_where (cfg, key, where, sizeof where);
        if (!memchr (where, 0, sizeof where))
            abort ();
        config_is_default (cfg, key);
    }
    bool run[WORKER_COUNT];
    config_host_workers (cfg, run);
    for (int id = 0; id < WORKER_COUNT; id++)
        if (run[id] && id != WORKER_API && !config_mode_has_worker (cfg->global.mode, id))
            abort ();
    if (!config_mode_name (cfg->global.mode))
        abort ();
    config_errors_t checks = { 0 };
    size_t from = checks.count;
    if (capture_check (cfg, &checks) != 0 && checks.count == from)
        abort ();                       /* refused without saying why */
    config_errors_clear (&checks);

    /* the printed configuration loads, and prints the same */
    size_t len1, len2;
    char *text1 = printed (cfg, &len1);
    fuzz_write_file (s_again, text1, len1);
    config_t *again = config_load (s_again, &errors);
    if (!again) {
        config_errors_print (&errors, stderr);
        abort ();                       /* config_print wrote what config_load refuses */
    }
    config_errors_clear (&errors);
    char *text2 = printed (again, &len2);
    if (len1 != len2 || memcmp (text1, text2, len1) != 0) {
        fprintf (stderr, "printed configuration changed on reload:\n--- first\n%s--- again\n%s",
                 text1, text2);
        abort ();
    }
    free (text1);
    free (text2);
    config_destroy (&again);
    config_destroy (&cfg);
    return 0;
}
