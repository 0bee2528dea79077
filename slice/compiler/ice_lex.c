/* irpc-slicec: the lexer of .ice files (ZeroC's Slice syntax).
 *
 * Every word is a T_IDENT (`escaped` when written `\name`): the parser
 * tells keywords by their text, so that it can name them in messages.
 * Integers (decimal, 0x hex, 0 octal) are T_INT and floating-point
 * literals (`1.5`, `.5`, `1e3`, `2.5f`) T_FLOAT, both without their sign;
 * strings are T_STRING with C's escapes applied (`\n`, `\x41`, `\101`,
 * `\u00e9`, ...; the bytes may include NUL, `len` counts them). a doc block
 * (`/` then two stars ... star `/`) is one T_DOC token (`escaped` set) holding
 * the text between the markers, and each `///` line one T_DOC token, as in
 * .slice files. Errors are reported with their position and leave a T_ERROR
 * token. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct ilexer {
  slicec_context *c;
  sc_file *f;
  const char *s, *end;
  uint32_t line;
  const char *line_start;
  sc_tok *toks;
  size_t n, cap;
  bool oom;
} ilexer;

static sc_tok *push(ilexer *lx, sc_tok_kind kind, const char *at,
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

static void error_at(ilexer *lx, const char *at, uint32_t line,
                     const char *line_start, const char *msg) {
  sc_tok *t = push(lx, T_ERROR, at, at);
  if (t) {
    t->line = line;
    t->col = (uint32_t)(at - line_start) + 1;
  }
  sc_error(lx->c, sc_loc(lx->f, line, (uint32_t)(at - line_start) + 1), "E002",
           "invalid syntax: %s", msg);
}

static void set_text(ilexer *lx, sc_tok *t, const char *s, size_t n) {
  if (!t)
    return;
  t->text = sc_strndup(&lx->c->arena, s, n);
  t->len = n;
  if (!t->text)
    lx->oom = true;
}

static void newline(ilexer *lx, const char *nl) {
  lx->line++;
  lx->line_start = nl + 1;
}

static void comment(ilexer *lx) {
  const char *s = lx->s;
  if (s[1] == '/') {
    const char *e = memchr(s, '\n', (size_t)(lx->end - s));
    if (!e)
      e = lx->end;
    if (e - s >= 3 && s[2] == '/' && (e - s == 3 || s[3] != '/')) {
      sc_tok *t = push(lx, T_DOC, s, e);
      size_t n = (size_t)(e - s - 3);
      if (n && s[3 + n - 1] == '\r')
        n--;
      set_text(lx, t, s + 3, n);
    }
    lx->s = e;
    return;
  }
  /* A block comment; a doc comment when it starts with exactly two stars
   * and is not the empty comment. */
  uint32_t line = lx->line;
  const char *ls = lx->line_start;
  bool doc = lx->end - s > 4 && s[2] == '*' && s[3] != '*' && s[3] != '/';
  for (const char *q = s + 2; q + 1 < lx->end; q++) {
    if (q[0] == '*' && q[1] == '/') {
      if (doc) {
        sc_tok *t = push(lx, T_DOC, s, q + 2);
        if (t) {
          t->line = line;
          t->col = (uint32_t)(s - ls) + 1;
          t->escaped = true;
        }
        set_text(lx, t, s + 3, (size_t)(q - s - 3));
      }
      lx->s = q + 2;
      return;
    }
    if (*q == '\n')
      newline(lx, q);
  }
  error_at(lx, s, line, ls, "unterminated block comment");
  lx->s = lx->end;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static void string_lit(ilexer *lx) {
  const char *start = lx->s;
  /* Escapes never make the text longer than its source, except \u and \U
   * (at most 4 bytes for 6 or 10 characters). */
  char *buf = sc_alloc(&lx->c->arena, (size_t)(lx->end - start) + 1);
  if (!buf) {
    lx->oom = true;
    lx->s = lx->end;
    return;
  }
  size_t n = 0;
  const char *s = start + 1;
  const char *bad = NULL, *why = NULL;
  while (s < lx->end && *s != '"' && *s != '\n') {
    if (*s != '\\') {
      buf[n++] = *s++;
      continue;
    }
    const char *esc = s++;
    if (s >= lx->end || *s == '\n')
      break;
    char ch = *s++;
    switch (ch) {
    case 'n':
      buf[n++] = '\n';
      break;
    case 't':
      buf[n++] = '\t';
      break;
    case 'r':
      buf[n++] = '\r';
      break;
    case 'a':
      buf[n++] = '\a';
      break;
    case 'b':
      buf[n++] = '\b';
      break;
    case 'f':
      buf[n++] = '\f';
      break;
    case 'v':
      buf[n++] = '\v';
      break;
    case '\\':
    case '"':
    case '\'':
    case '?':
      buf[n++] = ch;
      break;
    case 'x': {
      unsigned v = 0;
      int digits = 0;
      while (s < lx->end && hexval(*s) >= 0 && digits < 2) {
        v = v * 16 + (unsigned)hexval(*s++);
        digits++;
      }
      if (!digits && !bad) {
        bad = esc;
        why = "'\\x' needs hexadecimal digits";
      }
      buf[n++] = (char)v;
      break;
    }
    case 'u':
    case 'U': {
      int want = ch == 'u' ? 4 : 8;
      uint32_t v = 0;
      int digits = 0;
      while (s < lx->end && digits < want && hexval(*s) >= 0) {
        v = v * 16 + (uint32_t)hexval(*s++);
        digits++;
      }
      if ((digits != want || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) &&
          !bad) {
        bad = esc;
        why = ch == 'u' ? "'\\u' needs 4 hexadecimal digits of a code point"
                        : "'\\U' needs 8 hexadecimal digits of a code point";
      }
      n += put_utf8(buf + n, v <= 0x10FFFF ? v : 0xFFFD);
      break;
    }
    default:
      if (ch >= '0' && ch <= '7') {
        unsigned v = (unsigned)(ch - '0');
        for (int k = 0; k < 2 && s < lx->end && *s >= '0' && *s <= '7'; k++)
          v = v * 8 + (unsigned)(*s++ - '0');
        if (v > 255 && !bad) {
          bad = esc;
          why = "octal escape out of range";
        }
        buf[n++] = (char)v;
      } else if (!bad) {
        bad = esc;
        why = "unknown escape sequence";
      }
    }
  }
  if (s >= lx->end || *s != '"') {
    error_at(lx, start, lx->line, lx->line_start,
             "unterminated string literal");
    lx->s = s;
    return;
  }
  lx->s = s + 1;
  if (bad) {
    error_at(lx, bad, lx->line, lx->line_start, why);
    return;
  }
  sc_tok *t = push(lx, T_STRING, start, lx->s);
  if (t) {
    buf[n] = 0;
    t->text = buf;
    t->len = n;
  }
}

static void number(ilexer *lx) {
  const char *s = lx->s, *e = s;
  bool is_float = false;
  if (e + 1 < lx->end && e[0] == '0' && (e[1] == 'x' || e[1] == 'X')) {
    e += 2;
    while (e < lx->end && hexval(*e) >= 0)
      e++;
  } else {
    while (e < lx->end && sc_is_digit(*e))
      e++;
    if (e < lx->end && *e == '.') {
      is_float = true;
      e++;
      while (e < lx->end && sc_is_digit(*e))
        e++;
    }
    if (e < lx->end && (*e == 'e' || *e == 'E')) {
      const char *x = e + 1;
      if (x < lx->end && (*x == '+' || *x == '-'))
        x++;
      if (x < lx->end && sc_is_digit(*x)) {
        is_float = true;
        e = x;
        while (e < lx->end && sc_is_digit(*e))
          e++;
      }
    }
    if (is_float && e < lx->end && (*e == 'f' || *e == 'F'))
      e++;
  }
  /* Letters or digits right after a literal make it invalid (`12ab`). */
  const char *w = e;
  while (w < lx->end && (sc_is_word(*w) || *w == '.'))
    w++;
  lx->s = w;
  if (w != e) {
    error_at(lx, s, lx->line, lx->line_start, "invalid number literal");
    return;
  }
  sc_tok *t = push(lx, is_float ? T_FLOAT : T_INT, s, e);
  set_text(lx, t, s, (size_t)(e - s));
}

static void word(ilexer *lx, bool escaped, const char *at) {
  const char *s = lx->s, *e = s;
  while (e < lx->end && sc_is_word(*e))
    e++;
  lx->s = e;
  if (*s == '_') {
    error_at(lx, at, lx->line, lx->line_start,
             "identifiers cannot start with '_'");
    return;
  }
  sc_tok *t = push(lx, T_IDENT, at, e);
  set_text(lx, t, s, (size_t)(e - s));
  if (t)
    t->escaped = escaped;
}

static void punct(ilexer *lx) {
  const char *s = lx->s;
  char c0 = s[0], c1 = s + 1 < lx->end ? s[1] : 0;
  sc_tok_kind k;
  size_t n = 1;
  switch (c0) {
  case '(':
    k = T_LPAREN;
    break;
  case ')':
    k = T_RPAREN;
    break;
  case '[':
    k = c1 == '[' ? (n = 2, T_LLBRACKET) : T_LBRACKET;
    break;
  case ']':
    k = c1 == ']' ? (n = 2, T_RRBRACKET) : T_RBRACKET;
    break;
  case '{':
    k = T_LBRACE;
    break;
  case '}':
    k = T_RBRACE;
    break;
  case '<':
    k = T_LT;
    break;
  case '>':
    k = T_GT;
    break;
  case ',':
    k = T_COMMA;
    break;
  case ':':
    k = c1 == ':' ? (n = 2, T_DCOLON) : T_COLON;
    break;
  case '=':
    k = T_EQ;
    break;
  case ';':
    k = T_SEMI;
    break;
  case '*':
    k = T_STAR;
    break;
  case '-':
    k = T_MINUS;
    break;
  case '+':
    k = T_PLUS;
    break;
  default: {
    char msg[48];
    unsigned char ch = (unsigned char)c0;
    if (ch >= 0x21 && ch < 0x7f)
      snprintf(msg, sizeof(msg), "unknown symbol '%c'", c0);
    else
      snprintf(msg, sizeof(msg), "unknown symbol (byte 0x%02X)", ch);
    error_at(lx, s, lx->line, lx->line_start, msg);
    lx->s = s + 1;
    while (lx->s < lx->end && ((unsigned char)*lx->s & 0xC0) == 0x80)
      lx->s++;
    return;
  }
  }
  push(lx, k, s, s + n);
  lx->s = s + n;
}

sc_tok *sc_ice_lex(slicec_context *c, sc_file *f, size_t *ntoks) {
  ilexer lx = {.c = c,
               .f = f,
               .s = f->text,
               .end = f->text + f->len,
               .line = 1,
               .line_start = f->text};
  while (lx.s < lx.end && !lx.oom) {
    char ch = *lx.s;
    if (ch == '\n') {
      newline(&lx, lx.s);
      lx.s++;
    } else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' ||
               ch == '\f') {
      lx.s++;
    } else if (ch == '/' && lx.s + 1 < lx.end &&
               (lx.s[1] == '/' || lx.s[1] == '*')) {
      comment(&lx);
    } else if (ch == '"') {
      string_lit(&lx);
    } else if (sc_is_alpha(ch) || ch == '_') {
      word(&lx, false, lx.s);
    } else if (sc_is_digit(ch) ||
               (ch == '.' && lx.s + 1 < lx.end && sc_is_digit(lx.s[1]))) {
      number(&lx);
    } else if (ch == '\\') {
      const char *at = lx.s;
      if (lx.s + 1 < lx.end && (sc_is_alpha(lx.s[1]) || lx.s[1] == '_')) {
        lx.s++;
        word(&lx, true, at);
      } else {
        error_at(&lx, at, lx.line, lx.line_start,
                 "'\\' must be followed by an identifier");
        lx.s++;
      }
    } else {
      punct(&lx);
    }
  }
  push(&lx, T_EOF, lx.s, lx.s);
  if (lx.oom) {
    free(lx.toks);
    return NULL;
  }
  *ntoks = lx.n;
  return lx.toks;
}
