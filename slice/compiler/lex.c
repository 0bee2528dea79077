/* irpc-slicec: the lexer.
 *
 * Produces the whole token array of a preprocessed file. Keywords are
 * case-sensitive; between '[' (or '[[') and the matching ']' (or ']]') words
 * are never keywords, so attributes like [deprecated] or [cs::type(...)]
 * cannot collide with them. Errors are reported with their position and
 * leave a T_ERROR token, so the parser can resynchronise without reporting
 * the same problem twice. */
#include <stdlib.h>
#include <string.h>

#include "lex_common.h"

typedef struct lexer {
  sc_lexer b;
  int attr_depth; /* inside [ ... ] */
} lexer;

static const struct {
  const char *word;
  sc_tok_kind kind;
} keywords[] = {
    {"module", T_MODULE},
    {"struct", T_STRUCT},
    {"interface", T_INTERFACE},
    {"enum", T_ENUM},
    {"custom", T_CUSTOM},
    {"typealias", T_TYPEALIAS},
    {"Result", T_RESULT},
    {"Sequence", T_SEQUENCE},
    {"Dictionary", T_DICTIONARY},
    {"bool", T_BOOL},
    {"int8", T_INT8},
    {"uint8", T_UINT8},
    {"int16", T_INT16},
    {"uint16", T_UINT16},
    {"int32", T_INT32},
    {"uint32", T_UINT32},
    {"varint32", T_VARINT32},
    {"varuint32", T_VARUINT32},
    {"int64", T_INT64},
    {"uint64", T_UINT64},
    {"varint62", T_VARINT62},
    {"varuint62", T_VARUINT62},
    {"float32", T_FLOAT32},
    {"float64", T_FLOAT64},
    {"string", T_STRING_KW},
    {"compact", T_COMPACT},
    {"idempotent", T_IDEMPOTENT},
    {"stream", T_STREAM},
    {"tag", T_TAG},
    {"unchecked", T_UNCHECKED},
};

const char *sc_tok_describe(sc_tok_kind k) {
  switch (k) {
  case T_EOF:
    return "end of file";
  case T_IDENT:
    return "identifier";
  case T_INT:
    return "integer literal";
  case T_STRING:
    return "string literal";
  case T_DOC:
    return "doc comment";
  case T_LPAREN:
    return "'('";
  case T_RPAREN:
    return "')'";
  case T_LBRACKET:
    return "'['";
  case T_RBRACKET:
    return "']'";
  case T_LLBRACKET:
    return "'[['";
  case T_RRBRACKET:
    return "']]'";
  case T_LBRACE:
    return "'{'";
  case T_RBRACE:
    return "'}'";
  case T_LT:
    return "'<'";
  case T_GT:
    return "'>'";
  case T_COMMA:
    return "','";
  case T_COLON:
    return "':'";
  case T_DCOLON:
    return "'::'";
  case T_EQ:
    return "'='";
  case T_QUESTION:
    return "'?'";
  case T_ARROW:
    return "'->'";
  case T_MINUS:
    return "'-'";
  case T_ERROR:
    return "invalid token";
  default:
    break;
  }
  for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
    if (keywords[i].kind == k)
      return keywords[i].word;
  return "token";
}

/* Unicode White_Space outside ASCII: skipped like blanks, as slicec does. */
static bool utf8_space(sc_lexer *b) {
  uint32_t cp;
  size_t n = sc_utf8_decode(b->s, (size_t)(b->end - b->s), &cp);
  if (!n)
    return false;
  bool space = cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
               (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
               cp == 0x202F || cp == 0x205F || cp == 0x3000;
  if (space)
    b->s += n;
  return space;
}

/* A comment at b->s ('/' seen); a lone '/' is an error. */
static void lx_comment(sc_lexer *b) {
  const char *s = b->s;
  if (s + 1 < b->end && (s[1] == '/' || s[1] == '*')) {
    sc_lexer_comment(b, false);
    return;
  }
  sc_lexer_error(b, s, "unknown symbol '/', try using '//' instead");
  b->s = s + 1;
}

static void lx_string(sc_lexer *b) {
  const char *start = b->s;
  char *buf = sc_alloc(&b->c->arena, (size_t)(b->end - start));
  if (!buf) {
    b->oom = true;
    b->s = b->end;
    return;
  }
  size_t n = 0;
  const char *s = start + 1;
  for (; s < b->end && *s != '"' && *s != '\n'; s++) {
    if (*s == '\\' && s + 1 < b->end && s[1] != '\n')
      s++;
    buf[n++] = *s;
  }
  if (s >= b->end || *s != '"') {
    sc_lexer_error(b, start, "unterminated string literal");
    b->s = s;
    return;
  }
  sc_tok *t = sc_lexer_push(b, T_STRING, start, s + 1);
  if (t) {
    buf[n] = 0;
    t->text = buf;
    t->len = n;
  }
  b->s = s + 1;
}

static void lx_word(lexer *lx, bool escaped, const char *at) {
  sc_lexer *b = &lx->b;
  const char *s = b->s, *e = s;
  while (e < b->end && sc_is_word(*e))
    e++;
  size_t n = (size_t)(e - s);
  sc_tok_kind kind = T_IDENT;
  if (!escaped && lx->attr_depth == 0) {
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
      if (strlen(keywords[i].word) == n && memcmp(keywords[i].word, s, n) == 0)
        kind = keywords[i].kind;
  }
  sc_tok *t = sc_lexer_push(b, kind, at, e);
  sc_lexer_text(b, t, s, n);
  if (t)
    t->escaped = escaped;
  b->s = e;
}

/* The symbols of .slice files: the common ones (the attribute brackets
 * counted), '?', '-' and '->'; ';' is not one. */
static void lx_punct(lexer *lx) {
  sc_lexer *b = &lx->b;
  const char *s = b->s;
  size_t n;
  sc_tok_kind k = s[0] == ';' ? T_EOF : sc_lexer_punct(b, &n);
  if (k == T_LBRACKET || k == T_LLBRACKET)
    lx->attr_depth++;
  else if ((k == T_RBRACKET || k == T_RRBRACKET) && lx->attr_depth > 0)
    lx->attr_depth--;
  if (k == T_EOF && s[0] == '?') {
    k = T_QUESTION;
    n = 1;
  } else if (k == T_EOF && s[0] == '-') {
    bool arrow = s + 1 < b->end && s[1] == '>';
    k = arrow ? T_ARROW : T_MINUS;
    n = arrow ? 2 : 1;
  }
  if (k == T_EOF) {
    sc_lexer_unknown(b, true);
    return;
  }
  sc_lexer_push(b, k, s, s + n);
  b->s = s + n;
}

sc_tok *sc_lex(slicec_context *c, sc_file *f, size_t *ntoks) {
  lexer lx = {.attr_depth = 0};
  sc_lexer *b = &lx.b;
  sc_lexer_init(b, c, f);
  while (b->s < b->end && !b->oom) {
    char ch = *b->s;
    if (sc_lexer_blank(b)) {
      /* skipped */
    } else if ((unsigned char)ch >= 0x80 && utf8_space(b)) {
      /* skipped */
    } else if (ch == '/') {
      lx_comment(b);
    } else if (ch == '"') {
      lx_string(b);
    } else if (sc_is_alpha(ch)) {
      lx_word(&lx, false, b->s);
    } else if (sc_is_digit(ch)) {
      const char *e = b->s;
      while (e < b->end && sc_is_word(*e))
        e++;
      sc_tok *t = sc_lexer_push(b, T_INT, b->s, e);
      sc_lexer_text(b, t, b->s, (size_t)(e - b->s));
      b->s = e;
    } else if (ch == '\\') {
      const char *at = b->s;
      if (b->s + 1 < b->end && sc_is_alpha(b->s[1])) {
        b->s++;
        lx_word(&lx, true, at);
      } else {
        sc_lexer_error(b, at, "'\\' must be followed by an identifier");
        b->s++;
      }
    } else {
      lx_punct(&lx);
    }
  }
  return sc_lexer_finish(b, ntoks);
}
