/* libFuzzer target for the Slice compiler's front end: the input is one
 * Slice file. It goes through every phase (preprocessor, lexer, parser,
 * resolver, checker, doc comments), then the model is printed, whether
 * errors were reported or not: the model must stay walkable either way.
 *
 * Checks, beyond the sanitizers: the compile result agrees with the
 * diagnostics (it fails exactly when an error was reported), and every
 * diagnostic has a code, a message and a position inside the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slicec.h"

typedef struct seen {
  size_t errors;
  size_t lines; /* lines in the input, for the position check */
} seen;

static void on_diag(const slicec_diag *d, void *ud) {
  seen *s = ud;
  if (!d->code || !d->code[0] || !d->message || !d->message[0])
    abort();
  if (d->loc.line > s->lines)
    abort();
  if (d->severity == SLICEC_ERROR)
    s->errors++;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static FILE *null_out;
  if (!null_out)
    null_out = fopen("/dev/null", "w");
  seen s = {0, 1};
  for (size_t i = 0; i < size; i++)
    s.lines += data[i] == '\n';
  slicec_context *c = slicec_context_new();
  if (!c)
    return 0;
  slicec_set_diag_callback(c, on_diag, &s);
  slicec_define(c, "A");
  if (slicec_add_buffer(c, "fuzz.slice", (const char *)data, size, false) ==
      0) {
    int rc = slicec_compile(c);
    if ((rc != 0) != (s.errors != 0))
      abort();
    if (null_out)
      slicec_dump_ast(slicec_get_ast(c), null_out);
  }
  slicec_context_free(c);
  return 0;
}
