/* irpc-slicec: what the two parsers share (parse.c for .slice files,
 * ice_parse.c for .ice files): the cursor over a file's tokens and the
 * syntax error of a definition. Each parser keeps its grammar, how it
 * names tokens in messages and what it expects. */
#ifndef IRPC_SLICEC_PARSE_COMMON_H
#define IRPC_SLICEC_PARSE_COMMON_H

#include <string.h>

#include "internal.h"

typedef struct sc_cursor {
  slicec_context *c;
  sc_file *f;
  const sc_tok *t; /* ends with T_EOF */
  size_t i, n;
  bool failed; /* a syntax error in the current definition */
} sc_cursor;

/* The token `ahead` places after the current one (T_EOF past the end). */
static inline const sc_tok *sc_peek_at(const sc_cursor *k, size_t ahead) {
  return &k->t[k->i + ahead < k->n ? k->i + ahead : k->n - 1];
}
static inline const sc_tok *sc_peek(const sc_cursor *k) {
  return &k->t[k->i];
}
static inline bool sc_at(const sc_cursor *k, sc_tok_kind kind) {
  return k->t[k->i].kind == kind;
}
/* The current token; the cursor moves past it (never past T_EOF). */
static inline const sc_tok *sc_next(sc_cursor *k) {
  const sc_tok *t = &k->t[k->i];
  if (k->i + 1 < k->n)
    k->i++;
  return t;
}
static inline slicec_loc sc_loc_of(const sc_cursor *k, const sc_tok *t) {
  return sc_loc(k->f, t->line, t->col);
}
/* `t` is the word `w`, not escaped. */
static inline bool sc_tok_word(const sc_tok *t, const char *w) {
  return t->kind == T_IDENT && !t->escaped && strcmp(t->text, w) == 0;
}
static inline bool sc_at_word(const sc_cursor *k, const char *w) {
  return sc_tok_word(sc_peek(k), w);
}

/* The first syntax error of a definition: E002 "invalid syntax: " then
 * `fmt` with `a`, at `t`; later ones, and one at a T_ERROR token (the
 * lexer reported it), only mark the definition failed. */
void sc_syntax(sc_cursor *k, const sc_tok *t, const char *fmt, const char *a);

#endif
