/* Helpers for the irpc-slicec tests: compile Slice text held in strings and
 * collect the diagnostics as "LINE:COL CODE message" lines. */
#ifndef SLICEC_TESTLIB_H
#define SLICEC_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "slicec.h"

#define ST_MAX_DIAGS 64

typedef struct st_diags {
  char lines[ST_MAX_DIAGS][600];
  char files[ST_MAX_DIAGS][64];
  size_t n, errors, warnings;
} st_diags;

static void st_collect(const slicec_diag *d, void *ud) {
  st_diags *out = ud;
  if (d->severity == SLICEC_ERROR)
    out->errors++;
  else
    out->warnings++;
  if (out->n == ST_MAX_DIAGS)
    return;
  snprintf(out->lines[out->n], sizeof(out->lines[0]), "%u:%u %s %s",
           d->loc.line, d->loc.col, d->code, d->message);
  snprintf(out->files[out->n], sizeof(out->files[0]), "%s",
           d->loc.file ? d->loc.file : "");
  out->n++;
}

/* A context with the diagnostics going to `out`. */
static slicec_context *st_context(st_diags *out) {
  memset(out, 0, sizeof(*out));
  slicec_context *c = slicec_context_new();
  assert_non_null(c);
  slicec_set_diag_callback(c, st_collect, out);
  return c;
}

static void st_add(slicec_context *c, const char *name, const char *src,
                   bool reference) {
  assert_int_equal(slicec_add_buffer(c, name, src, strlen(src), reference), 0);
}

static void st_print(const st_diags *d) {
  for (size_t i = 0; i < d->n; i++)
    print_message("  got: %s\n", d->lines[i]);
}

/* Whether the diagnostic line `got` matches the expectation "L:C CODE text":
 * same position and code, and the message contains text. */
static int st_match(const char *got, const char *want) {
  const char *sp = strchr(want, ' ');
  const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
  size_t head = sp2 ? (size_t)(sp2 - want) : strlen(want);
  if (strncmp(got, want, head) != 0 || (got[head] != ' ' && got[head] != 0))
    return 0;
  return !sp2 || strstr(got + head, sp2 + 1) != NULL;
}

/* Asserts that the diagnostics are exactly the expectations, in any order. */
static void st_expect(const st_diags *d, const char *const *want, size_t n,
                      const char *name) {
  int used[ST_MAX_DIAGS] = {0};
  int ok = d->n == n;
  for (size_t i = 0; i < n && ok; i++) {
    int found = 0;
    for (size_t k = 0; k < d->n && !found; k++)
      if (!used[k] && st_match(d->lines[k], want[i]))
        used[k] = found = 1;
    ok = found;
  }
  if (!ok) {
    print_message("case %s: expected %zu diagnostic(s):\n", name, n);
    for (size_t i = 0; i < n; i++)
      print_message("  want: %s\n", want[i]);
    st_print(d);
    fail();
  }
}

#endif
