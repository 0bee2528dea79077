/* irpc-slicec: what the two lexers share (lex_common.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lex_common.h"

void sc_lexer_init(sc_lexer *lx, slicec_context *c, sc_file *f) {
  memset(lx, 0, sizeof(*lx));
  lx->c = c;
  lx->f = f;
  lx->s = f->text;
  lx->end = f->text + f->len;
  lx->line = 1;
  lx->line_start = f->text;
}

sc_tok *sc_lexer_push(sc_lexer *lx, sc_tok_kind kind, const char *at,
                      const char *end) {
  if (lx->n == lx->cap) {
    size_t cap = lx->cap ? lx->cap * 2 : 256;
    sc_tok *t = realloc(lx->toks, cap * sizeof(*t));
    if (!t) {
      lx->oom = true;
      return NULL;
    }
    lx->toks = t;
    lx->cap = cap;
  }
  sc_tok *t = &lx->toks[lx->n++];
  memset(t, 0, sizeof(*t));
  t->kind = kind;
  t->line = lx->line;
  t->col = (uint32_t)(at - lx->line_start) + 1;
  t->off = (size_t)(at - lx->f->text);
  t->raw_len = (size_t)(end - at);
  return t;
}

void sc_lexer_error_at(sc_lexer *lx, const char *at, uint32_t line,
                       const char *line_start, const char *msg) {
  sc_tok *t = sc_lexer_push(lx, T_ERROR, at, at);
  uint32_t col = (uint32_t)(at - line_start) + 1;
  if (t) {
    t->line = line;
    t->col = col;
  }
  sc_error(lx->c, sc_loc(lx->f, line, col), "E002", "invalid syntax: %s", msg);
}

void sc_lexer_error(sc_lexer *lx, const char *at, const char *msg) {
  sc_lexer_error_at(lx, at, lx->line, lx->line_start, msg);
}

void sc_lexer_text(sc_lexer *lx, sc_tok *t, const char *s, size_t n) {
  if (!t)
    return;
  t->text = sc_strndup(&lx->c->arena, s, n);
  t->len = n;
  if (!t->text)
    lx->oom = true;
}

static void newline(sc_lexer *lx, const char *nl) {
  lx->line++;
  lx->line_start = nl + 1;
}

bool sc_lexer_blank(sc_lexer *lx) {
  char ch = *lx->s;
  if (ch == '\n') {
    newline(lx, lx->s);
    lx->s++;
    return true;
  }
  if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f') {
    lx->s++;
    return true;
  }
  return false;
}

static void line_comment(sc_lexer *lx) {
  const char *s = lx->s;
  const char *e = memchr(s, '\n', (size_t)(lx->end - s));
  if (!e)
    e = lx->end;
  if (e - s >= 3 && s[2] == '/' && (e - s == 3 || s[3] != '/')) {
    sc_tok *t = sc_lexer_push(lx, T_DOC, s, e);
    size_t n = (size_t)(e - s - 3);
    if (n && s[3 + n - 1] == '\r')
      n--;
    sc_lexer_text(lx, t, s + 3, n);
  }
  lx->s = e;
}

void sc_lexer_comment(sc_lexer *lx, bool block_docs) {
  const char *s = lx->s;
  if (s[1] == '/') {
    line_comment(lx);
    return;
  }
  uint32_t line = lx->line;
  const char *ls = lx->line_start;
  bool doc = block_docs && lx->end - s > 4 && s[2] == '*' && s[3] != '*' &&
             s[3] != '/';
  for (const char *q = s + 2; q + 1 < lx->end; q++) {
    if (q[0] == '*' && q[1] == '/') {
      if (doc) {
        sc_tok *t = sc_lexer_push(lx, T_DOC, s, q + 2);
        if (t) {
          t->line = line;
          t->col = (uint32_t)(s - ls) + 1;
          t->escaped = true;
        }
        sc_lexer_text(lx, t, s + 3, (size_t)(q - s - 3));
      }
      lx->s = q + 2;
      return;
    }
    if (*q == '\n')
      newline(lx, q);
  }
  sc_lexer_error_at(lx, s, line, ls, "unterminated block comment");
  lx->s = lx->end;
}

sc_tok_kind sc_lexer_punct(const sc_lexer *lx, size_t *n) {
  const char *s = lx->s;
  char c1 = s + 1 < lx->end ? s[1] : 0;
  *n = 1;
  switch (s[0]) {
  case '(':
    return T_LPAREN;
  case ')':
    return T_RPAREN;
  case '[':
    return c1 == '[' ? (*n = 2, T_LLBRACKET) : T_LBRACKET;
  case ']':
    return c1 == ']' ? (*n = 2, T_RRBRACKET) : T_RBRACKET;
  case '{':
    return T_LBRACE;
  case '}':
    return T_RBRACE;
  case '<':
    return T_LT;
  case '>':
    return T_GT;
  case ',':
    return T_COMMA;
  case ':':
    return c1 == ':' ? (*n = 2, T_DCOLON) : T_COLON;
  case '=':
    return T_EQ;
  case ';':
    return T_SEMI;
  default:
    *n = 0;
    return T_EOF;
  }
}

size_t sc_utf8_decode(const char *s, size_t avail, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC2 ? 2 : 0;
  if (n == 0 || n > avail || u[0] > 0xF4)
    return 0;
  uint32_t v = u[0] & (0x7F >> n);
  for (size_t i = 1; i < n; i++) {
    if ((u[i] & 0xC0) != 0x80)
      return 0;
    v = (v << 6) | (u[i] & 0x3F);
  }
  *cp = v;
  return n;
}

void sc_lexer_unknown(sc_lexer *lx, bool name_utf8) {
  const char *s = lx->s;
  char msg[48];
  unsigned char ch = (unsigned char)s[0];
  uint32_t cp;
  size_t n8 = name_utf8 ? sc_utf8_decode(s, (size_t)(lx->end - s), &cp) : 0;
  if (ch >= 0x21 && ch < 0x7f)
    snprintf(msg, sizeof(msg), "unknown symbol '%c'", s[0]);
  else if (n8)
    snprintf(msg, sizeof(msg), "unknown symbol '%.*s'", (int)n8, s);
  else
    snprintf(msg, sizeof(msg), "unknown symbol (byte 0x%02X)", ch);
  sc_lexer_error(lx, s, msg);
  lx->s = s + 1;
  while (lx->s < lx->end && ((unsigned char)*lx->s & 0xC0) == 0x80)
    lx->s++;
}

sc_tok *sc_lexer_finish(sc_lexer *lx, size_t *ntoks) {
  sc_lexer_push(lx, T_EOF, lx->s, lx->s);
  if (lx->oom) {
    free(lx->toks);
    return NULL;
  }
  *ntoks = lx->n;
  return lx->toks;
}
