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

#include "internal.h"

typedef struct lexer {
  slicec_context *c;
  sc_file *f;
  const char *s, *end;
  uint32_t line;
  const char *line_start;
  sc_tok *toks;
  size_t n, cap;
  int attr_depth; /* inside [ ... ] */
  bool oom;
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

/* Decodes the UTF-8 sequence at s (at most `avail` bytes); returns its
 * length, or 0 when it is not valid UTF-8. */
static size_t utf8_decode(const char *s, size_t avail, uint32_t *cp) {
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

/* Unicode White_Space outside ASCII: skipped like blanks, as slicec does. */
static bool utf8_space(lexer *lx) {
  uint32_t cp;
  size_t n = utf8_decode(lx->s, (size_t)(lx->end - lx->s), &cp);
  if (!n)
    return false;
  bool space = cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
               (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
               cp == 0x202F || cp == 0x205F || cp == 0x3000;
  if (space)
    lx->s += n;
  return space;
}

static sc_tok *lx_push(lexer *lx, sc_tok_kind kind, const char *at) {
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
  return t;
}

static void lx_error(lexer *lx, const char *at, const char *msg) {
  sc_tok *t = lx_push(lx, T_ERROR, at);
  sc_error(lx->c,
           sc_loc(lx->f, t ? t->line : lx->line,
                  t ? t->col : (uint32_t)(at - lx->line_start) + 1),
           "E002", "invalid syntax: %s", msg);
}

static void lx_newline(lexer *lx, const char *nl) {
  lx->line++;
  lx->line_start = nl + 1;
}

static void lx_text(lexer *lx, sc_tok *t, const char *s, size_t n) {
  if (!t)
    return;
  t->text = sc_strndup(&lx->c->arena, s, n);
  t->len = n;
  if (!t->text)
    lx->oom = true;
}

/* Skips a comment starting at lx->s ('/' seen); emits doc comments. */
static void lx_comment(lexer *lx) {
  const char *s = lx->s;
  if (s + 1 < lx->end && s[1] == '/') {
    const char *e = memchr(s, '\n', (size_t)(lx->end - s));
    if (!e)
      e = lx->end;
    bool doc = e - s >= 3 && s[2] == '/' && (e - s == 3 || s[3] != '/');
    if (doc) {
      sc_tok *t = lx_push(lx, T_DOC, s);
      size_t n = (size_t)(e - s - 3);
      if (n && s[3 + n - 1] == '\r')
        n--;
      lx_text(lx, t, s + 3, n);
    }
    lx->s = e;
    return;
  }
  if (s + 1 < lx->end && s[1] == '*') {
    const char *start = s;
    uint32_t line = lx->line;
    const char *ls = lx->line_start;
    for (s += 2; s + 1 < lx->end; s++) {
      if (s[0] == '*' && s[1] == '/') {
        lx->s = s + 2;
        return;
      }
      if (*s == '\n')
        lx_newline(lx, s);
    }
    /* Report at the opening of the comment. */
    lx->line = line;
    const char *cur_ls = lx->line_start;
    lx->line_start = ls;
    lx_error(lx, start, "unterminated block comment");
    lx->line_start = cur_ls;
    lx->s = lx->end;
    return;
  }
  lx_error(lx, s, "unknown symbol '/', try using '//' instead");
  lx->s = s + 1;
}

static void lx_string(lexer *lx) {
  const char *start = lx->s;
  char *buf = sc_alloc(&lx->c->arena, (size_t)(lx->end - start));
  if (!buf) {
    lx->oom = true;
    lx->s = lx->end;
    return;
  }
  size_t n = 0;
  const char *s = start + 1;
  for (; s < lx->end && *s != '"' && *s != '\n'; s++) {
    if (*s == '\\' && s + 1 < lx->end && s[1] != '\n')
      s++;
    buf[n++] = *s;
  }
  if (s >= lx->end || *s != '"') {
    lx_error(lx, start, "unterminated string literal");
    lx->s = s;
    return;
  }
  sc_tok *t = lx_push(lx, T_STRING, start);
  if (t) {
    buf[n] = 0;
    t->text = buf;
    t->len = n;
  }
  lx->s = s + 1;
}

static void lx_word(lexer *lx, bool escaped, const char *at) {
  const char *s = lx->s, *e = s;
  while (e < lx->end && sc_is_word(*e))
    e++;
  size_t n = (size_t)(e - s);
  sc_tok_kind kind = T_IDENT;
  if (!escaped && lx->attr_depth == 0) {
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
      if (strlen(keywords[i].word) == n && memcmp(keywords[i].word, s, n) == 0)
        kind = keywords[i].kind;
  }
  sc_tok *t = lx_push(lx, kind, at);
  lx_text(lx, t, s, n);
  if (t)
    t->escaped = escaped;
  lx->s = e;
}

static void lx_punct(lexer *lx) {
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
    lx->attr_depth++;
    break;
  case ']':
    k = c1 == ']' ? (n = 2, T_RRBRACKET) : T_RBRACKET;
    if (lx->attr_depth > 0)
      lx->attr_depth--;
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
  case '?':
    k = T_QUESTION;
    break;
  case '-':
    k = c1 == '>' ? (n = 2, T_ARROW) : T_MINUS;
    break;
  default: {
    char msg[48];
    unsigned char ch = (unsigned char)c0;
    uint32_t cp;
    size_t n8 = utf8_decode(s, (size_t)(lx->end - s), &cp);
    if (ch >= 0x21 && ch < 0x7f)
      snprintf(msg, sizeof(msg), "unknown symbol '%c'", c0);
    else if (n8)
      snprintf(msg, sizeof(msg), "unknown symbol '%.*s'", (int)n8, s);
    else
      snprintf(msg, sizeof(msg), "unknown symbol (byte 0x%02X)", ch);
    lx_error(lx, s, msg);
    /* Skip a whole UTF-8 sequence at once. */
    lx->s = s + 1;
    while (lx->s < lx->end && ((unsigned char)*lx->s & 0xC0) == 0x80)
      lx->s++;
    return;
  }
  }
  lx_push(lx, k, s);
  lx->s = s + n;
}

sc_tok *sc_lex(slicec_context *c, sc_file *f, size_t *ntoks) {
  lexer lx = {.c = c,
              .f = f,
              .s = f->text,
              .end = f->text + f->len,
              .line = 1,
              .line_start = f->text};
  while (lx.s < lx.end && !lx.oom) {
    char ch = *lx.s;
    if (ch == '\n') {
      lx_newline(&lx, lx.s);
      lx.s++;
    } else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' ||
               ch == '\f') {
      lx.s++;
    } else if ((unsigned char)ch >= 0x80 && utf8_space(&lx)) {
      /* skipped */
    } else if (ch == '/') {
      lx_comment(&lx);
    } else if (ch == '"') {
      lx_string(&lx);
    } else if (sc_is_alpha(ch)) {
      lx_word(&lx, false, lx.s);
    } else if (sc_is_digit(ch)) {
      const char *e = lx.s;
      while (e < lx.end && sc_is_word(*e))
        e++;
      sc_tok *t = lx_push(&lx, T_INT, lx.s);
      lx_text(&lx, t, lx.s, (size_t)(e - lx.s));
      lx.s = e;
    } else if (ch == '\\') {
      const char *at = lx.s;
      if (lx.s + 1 < lx.end && sc_is_alpha(lx.s[1])) {
        lx.s++;
        lx_word(&lx, true, at);
      } else {
        lx_error(&lx, at, "'\\' must be followed by an identifier");
        lx.s++;
      }
    } else {
      lx_punct(&lx);
    }
  }
  lx_push(&lx, T_EOF, lx.s);
  if (lx.oom) {
    free(lx.toks);
    return NULL;
  }
  *ntoks = lx.n;
  return lx.toks;
}
