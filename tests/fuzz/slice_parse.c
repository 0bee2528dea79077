/* libFuzzer target for both front ends of the Slice compiler: each input
 * is compiled as a .ice file (ZeroC's syntax: C-like preprocessor,
 * modules in braces, constants, Javadoc comments) and as a .slice file,
 * from memory. Every phase runs (preprocessor, lexer, parser, resolver,
 * checker, the .ice checks, doc comments), then the model is printed,
 * whether errors were reported or not: it must stay walkable either way.
 *
 * Checks, beyond the sanitizers: the compile result agrees with the
 * diagnostics (it fails exactly when an error was reported), and every
 * diagnostic has a code, a message and, in the input itself, a position
 * inside it. An `#include` looks in no directory: only an absolute path
 * can name a file, which the fuzzer hardly writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slicec.h"

typedef struct seen {
  const char *name;
  size_t errors;
  size_t lines; /* lines in the input, for the position check */
} seen;

static void on_diag(const slicec_diag *d, void *ud) {
  seen *s = ud;
  if (!d->code || !d->code[0] || !d->message || !d->message[0])
    abort();
  if (d->loc.file && strcmp(d->loc.file, s->name) == 0 &&
      d->loc.line > s->lines)
    abort();
  if (d->severity == SLICEC_ERROR)
    s->errors++;
}

static void run(const char *name, const unsigned char *data, size_t size,
                size_t lines, FILE *null_out) {
  seen s = {name, 0, lines};
  slicec_context *c = slicec_context_new();
  if (!c)
    return;
  slicec_set_diag_callback(c, on_diag, &s);
  slicec_define(c, "A");
  if (slicec_add_buffer(c, name, (const char *)data, size, false) == 0) {
    int rc = slicec_compile(c);
    if ((rc != 0) != (s.errors != 0))
      abort();
    if (null_out)
      slicec_dump_ast(slicec_get_ast(c), null_out);
  }
  slicec_context_free(c);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static FILE *null_out;
  if (!null_out)
    null_out = fopen("/dev/null", "w");
  size_t lines = 1;
  for (size_t i = 0; i < size; i++)
    lines += data[i] == '\n';
  run("fuzz.ice", data, size, lines, null_out);
  run("fuzz.slice", data, size, lines, null_out);
  return 0;
}
