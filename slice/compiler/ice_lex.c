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

#include "lex_common.h"

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

static void string_lit(sc_lexer *lx) {
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
    sc_lexer_error(lx, start, "unterminated string literal");
    lx->s = s;
    return;
  }
  lx->s = s + 1;
  if (bad) {
    sc_lexer_error(lx, bad, why);
    return;
  }
  sc_tok *t = sc_lexer_push(lx, T_STRING, start, lx->s);
  if (t) {
    buf[n] = 0;
    t->text = buf;
    t->len = n;
  }
}

static void number(sc_lexer *lx) {
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
    sc_lexer_error(lx, s, "invalid number literal");
    return;
  }
  sc_tok *t = sc_lexer_push(lx, is_float ? T_FLOAT : T_INT, s, e);
  sc_lexer_text(lx, t, s, (size_t)(e - s));
}

static void word(sc_lexer *lx, bool escaped, const char *at) {
  const char *s = lx->s, *e = s;
  while (e < lx->end && sc_is_word(*e))
    e++;
  lx->s = e;
  if (*s == '_') {
    sc_lexer_error(lx, at, "identifiers cannot start with '_'");
    return;
  }
  sc_tok *t = sc_lexer_push(lx, T_IDENT, at, e);
  sc_lexer_text(lx, t, s, (size_t)(e - s));
  if (t)
    t->escaped = escaped;
}

/* The symbols of .ice files: the common ones, '*', '-' and '+'. */
static void punct(sc_lexer *lx) {
  const char *s = lx->s;
  size_t n;
  sc_tok_kind k = sc_lexer_punct(lx, &n);
  if (k == T_EOF) {
    n = 1;
    k = s[0] == '*'   ? T_STAR
        : s[0] == '-' ? T_MINUS
        : s[0] == '+' ? T_PLUS
                      : T_EOF;
  }
  if (k == T_EOF) {
    sc_lexer_unknown(lx, false);
    return;
  }
  sc_lexer_push(lx, k, s, s + n);
  lx->s = s + n;
}

sc_tok *sc_ice_lex(slicec_context *c, sc_file *f, size_t *ntoks) {
  sc_lexer lx;
  sc_lexer_init(&lx, c, f);
  while (lx.s < lx.end && !lx.oom) {
    char ch = *lx.s;
    if (sc_lexer_blank(&lx)) {
      /* skipped */
    } else if (ch == '/' && lx.s + 1 < lx.end &&
               (lx.s[1] == '/' || lx.s[1] == '*')) {
      sc_lexer_comment(&lx, true);
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
        sc_lexer_error(&lx, at, "'\\' must be followed by an identifier");
        lx.s++;
      }
    } else {
      punct(&lx);
    }
  }
  return sc_lexer_finish(&lx, ntoks);
}
