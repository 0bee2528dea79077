/* irpc-slicec: what the two lexers share (lex.c for .slice files,
 * ice_lex.c for .ice files): the token array, positions, diagnostics,
 * blanks, comments and doc comments, punctuation and the end. Each lexer
 * keeps its own words, literals and the symbols only its syntax has. */
#ifndef IRPC_SLICEC_LEX_COMMON_H
#define IRPC_SLICEC_LEX_COMMON_H

#include "internal.h"

typedef struct sc_lexer {
  slicec_context *c;
  sc_file *f;
  const char *s, *end; /* the next character, the end of the text */
  uint32_t line;
  const char *line_start;
  sc_tok *toks;
  size_t n, cap;
  bool oom;
} sc_lexer;

void sc_lexer_init(sc_lexer *lx, slicec_context *c, sc_file *f);

/* Appends a token of `kind` for the text [at, end) of the current line;
 * NULL when out of memory (recorded in lx->oom). */
sc_tok *sc_lexer_push(sc_lexer *lx, sc_tok_kind kind, const char *at,
                      const char *end);

/* Reports E002 "invalid syntax: msg" at `at` (on `line`, which starts at
 * `line_start`) and leaves a T_ERROR token there. */
void sc_lexer_error_at(sc_lexer *lx, const char *at, uint32_t line,
                       const char *line_start, const char *msg);

/* The same at `at` on the current line. */
void sc_lexer_error(sc_lexer *lx, const char *at, const char *msg);

/* Sets the text of `t` (may be NULL) to an arena copy of s[0..n). */
void sc_lexer_text(sc_lexer *lx, sc_tok *t, const char *s, size_t n);

/* Skips a newline or an ASCII blank at lx->s; false when there is none. */
bool sc_lexer_blank(sc_lexer *lx);

/* A comment at lx->s ("//" or "/" then "*"): skipped; a `///` line (not
 * four slashes) is a T_DOC token, and with `block_docs` a block opening
 * with exactly two stars (not the empty comment) is one too, `escaped`
 * set. An unterminated block is reported where it opens. */
void sc_lexer_comment(sc_lexer *lx, bool block_docs);

/* The punctuation both syntaxes have at lx->s: ( ) [ [[ ] ]] { } < > ,
 * : :: = ;. Returns its kind and sets *n to its length, or T_EOF (nothing
 * consumed) for another character. */
sc_tok_kind sc_lexer_punct(const sc_lexer *lx, size_t *n);

/* Reports the unknown symbol at lx->s and skips it, a whole UTF-8
 * sequence at once; with `name_utf8` a valid non-ASCII character is named
 * as written, else by its first byte. */
void sc_lexer_unknown(sc_lexer *lx, bool name_utf8);

/* Decodes the UTF-8 sequence at s (at most `avail` bytes); returns its
 * length, or 0 when it is not valid UTF-8. */
size_t sc_utf8_decode(const char *s, size_t avail, uint32_t *cp);

/* Appends T_EOF and returns the tokens (*ntoks of them), or NULL, with
 * everything freed, when memory ran out. */
sc_tok *sc_lexer_finish(sc_lexer *lx, size_t *ntoks);

#endif
