/* irpc-slicec: the preprocessor of .ice files.
 *
 * ZeroC runs a C preprocessor over .ice files; this is the part of one that
 * Slice definitions use, line based like pp.c: `#include <...>` and
 * `#include "..."` (searched in the -I directories, a quoted one in the
 * including file's directory first), `#pragma once` (every file is read
 * once anyway, so include guards and `#pragma once` both work), `#define
 * NAME [value]`, `#undef`, `#if`, `#ifdef`, `#ifndef`, `#elif`, `#else`,
 * `#endif`, `#error`, `#warning`, `#line` (ignored). Conditions are C's:
 * `defined NAME`, `defined(NAME)`, integers, macro values, `! ~ - +`,
 * `* / %`, `+ -`, `< <= > >=`, `== !=`, `&&`, `||` with C's precedence,
 * and parentheses. Macros are not expanded in the definitions.
 *
 * Lines inside block comments are never directives. Directive lines and
 * disabled lines are blanked in place, so positions do not move. An
 * included file is preprocessed, lexed and parsed at the #include, before
 * the rest of the including file, as ZeroC's compilers see it; it joins the
 * compilation as a reference file unless it was given as a source. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define ICE_PP_MAX_DEPTH 256   /* #if nesting */
#define ICE_PP_MAX_PARENS 64   /* parentheses in a condition */
#define ICE_PP_MAX_INCLUDES 64 /* #include nesting */

typedef struct ice_macro {
  const char *name;
  const char *value; /* "" when defined without a value */
} ice_macro;

typedef struct ice_pp {
  slicec_context *c;
  sc_file *f;
  sc_vec macros; /* ice_macro* (NULL entries: undefined) */
  uint32_t line;
  const char *s, *end, *line_start;
  bool err;
  int depth;
} ice_pp;

typedef struct ice_cond {
  bool parent_active, taken, active, seen_else;
  uint32_t line;
} ice_cond;

bool sc_is_ice_path(const char *path) {
  size_t n = path ? strlen(path) : 0;
  return n >= 4 && strcmp(path + n - 4, ".ice") == 0;
}

static void pp_err(ice_pp *p, const char *at, const char *fmt, const char *a) {
  if (p->err)
    return;
  p->err = true;
  uint32_t col = (uint32_t)(at - p->line_start) + 1;
  char msg[320];
  snprintf(msg, sizeof msg, fmt, a ? a : "");
  sc_error(p->c, sc_loc(p->f, p->line, col), "E002", "invalid syntax: %s", msg);
}

static ice_macro *find_macro(ice_pp *p, const char *name, size_t n) {
  for (size_t i = p->macros.n; i-- > 0;) {
    ice_macro *m = p->macros.items[i];
    if (m && strlen(m->name) == n && memcmp(m->name, name, n) == 0)
      return m;
  }
  return NULL;
}

static void blanks(ice_pp *p) {
  for (;;) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' ||
                             *p->s == '\v' || *p->s == '\f'))
      p->s++;
    /* A comment ends the directive, or is a blank inside it. */
    if (p->end - p->s >= 2 && p->s[0] == '/' && p->s[1] == '/') {
      p->s = p->end;
    } else if (p->end - p->s >= 2 && p->s[0] == '/' && p->s[1] == '*') {
      const char *e = p->s + 2;
      while (e + 1 < p->end && !(e[0] == '*' && e[1] == '/'))
        e++;
      p->s = e + 1 < p->end ? e + 2 : p->end;
    } else {
      return;
    }
  }
}

static size_t ident_len(const char *s, const char *end) {
  const char *e = s;
  if (e < end && (isalpha((unsigned char)*e) || *e == '_')) {
    e++;
    while (e < end && (isalnum((unsigned char)*e) || *e == '_'))
      e++;
  }
  return (size_t)(e - s);
}

/* ---- conditions ----------------------------------------------------------
 */

static int64_t cond_expr(ice_pp *p, int prec);

/* An integer literal at p->s (C: decimal, 0x hex, 0 octal, u/l suffixes). */
static int64_t number(ice_pp *p) {
  const char *s = p->s;
  int base = 10;
  if (s + 1 < p->end && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  } else if (s[0] == '0') {
    base = 8;
  }
  uint64_t v = 0;
  bool any = false, overflow = false;
  for (; s < p->end; s++) {
    int d;
    if (*s >= '0' && *s <= '9')
      d = *s - '0';
    else if (*s >= 'a' && *s <= 'f')
      d = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'F')
      d = *s - 'A' + 10;
    else
      break;
    if (d >= base)
      break;
    if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
      overflow = true;
    v = v * (uint64_t)base + (uint64_t)d;
    any = true;
  }
  while (s < p->end && (*s == 'u' || *s == 'U' || *s == 'l' || *s == 'L'))
    s++;
  if ((!any && base == 16) || (s < p->end && isalnum((unsigned char)*s)))
    pp_err(p, p->s, "%s", "invalid integer in preprocessor condition");
  else if (overflow)
    pp_err(p, p->s, "%s", "integer too large in preprocessor condition");
  p->s = s;
  return (int64_t)v;
}

/* The value of a macro used in a condition: its value when that is an
 * integer, 0 for an unknown name (as C). */
static int64_t macro_value(ice_pp *p, const char *at, size_t n) {
  ice_macro *m = find_macro(p, at, n);
  if (!m)
    return 0;
  const char *v = m->value;
  if (!*v) {
    pp_err(p, at, "macro '%s' has no value to compare", m->name);
    return 0;
  }
  ice_pp sub = *p;
  sub.s = v;
  sub.end = v + strlen(v);
  sub.line_start = v;
  sub.err = false;
  /* Only an integer is a usable value: no macro expansion. */
  if (!isdigit((unsigned char)*v) && *v != '-') {
    pp_err(p, at, "macro '%s' is not an integer", m->name);
    return 0;
  }
  bool neg = *v == '-';
  if (neg)
    sub.s++;
  int64_t r = number(&sub);
  blanks(&sub);
  if (sub.err || sub.s != sub.end) {
    pp_err(p, at, "macro '%s' is not an integer", m->name);
    return 0;
  }
  return neg ? (int64_t)(0 - (uint64_t)r) : r;
}

static int64_t cond_unary(ice_pp *p) {
  blanks(p);
  if (p->err || p->s >= p->end) {
    pp_err(p, p->s, "%s", "expected a value in preprocessor condition");
    return 0;
  }
  char ch = *p->s;
  if (ch == '!' || ch == '~' || ch == '-' || ch == '+') {
    if (p->depth >= ICE_PP_MAX_PARENS) {
      pp_err(p, p->s, "%s", "preprocessor condition nested too deeply");
      return 0;
    }
    p->s++;
    p->depth++;
    int64_t v = cond_unary(p);
    p->depth--;
    return ch == '!'   ? !v
           : ch == '~' ? (int64_t) ~(uint64_t)v
           : ch == '-' ? (int64_t)(0 - (uint64_t)v)
                       : v;
  }
  if (ch == '(') {
    if (p->depth >= ICE_PP_MAX_PARENS) {
      pp_err(p, p->s, "%s", "preprocessor condition nested too deeply");
      return 0;
    }
    p->s++;
    p->depth++;
    int64_t v = cond_expr(p, 0);
    p->depth--;
    blanks(p);
    if (p->s < p->end && *p->s == ')')
      p->s++;
    else
      pp_err(p, p->s, "%s", "expected ')' in preprocessor condition");
    return v;
  }
  if (isdigit((unsigned char)ch))
    return number(p);
  size_t n = ident_len(p->s, p->end);
  if (!n) {
    char what[2] = {ch, 0};
    pp_err(p, p->s, "unexpected '%s' in preprocessor condition", what);
    return 0;
  }
  const char *at = p->s;
  p->s += n;
  if (n == 7 && memcmp(at, "defined", 7) == 0) {
    blanks(p);
    bool paren = p->s < p->end && *p->s == '(';
    if (paren) {
      p->s++;
      blanks(p);
    }
    size_t m = ident_len(p->s, p->end);
    if (!m) {
      pp_err(p, p->s, "%s", "expected a macro name after 'defined'");
      return 0;
    }
    bool v = find_macro(p, p->s, m) != NULL;
    p->s += m;
    if (paren) {
      blanks(p);
      if (p->s < p->end && *p->s == ')')
        p->s++;
      else
        pp_err(p, p->s, "%s", "expected ')' after 'defined(NAME'");
    }
    return v;
  }
  return macro_value(p, at, n);
}

/* Binary operators by precedence (C's, loosest first). */
static const struct {
  const char *op;
  int prec;
} binops[] = {{"||", 1}, {"&&", 2}, {"==", 3}, {"!=", 3}, {"<=", 4},
              {">=", 4}, {"<", 4},  {">", 4},  {"+", 5},  {"-", 5},
              {"*", 6},  {"/", 6},  {"%", 6}};

static int64_t apply(ice_pp *p, const char *op, int64_t a, int64_t b,
                     const char *at) {
  uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
  switch (op[0]) {
  case '|':
    return a || b;
  case '&':
    return a && b;
  case '=':
    return a == b;
  case '!':
    return a != b;
  case '<':
    return op[1] == '=' ? a <= b : a < b;
  case '>':
    return op[1] == '=' ? a >= b : a > b;
  case '+':
    return (int64_t)(ua + ub);
  case '-':
    return (int64_t)(ua - ub);
  case '*':
    return (int64_t)(ua * ub);
  default:
    if (b == 0 || (a == INT64_MIN && b == -1)) {
      pp_err(p, at, "%s", "division by zero in preprocessor condition");
      return 0;
    }
    return op[0] == '/' ? a / b : a % b;
  }
}

static int64_t cond_expr(ice_pp *p, int prec) {
  int64_t v = cond_unary(p);
  for (;;) {
    blanks(p);
    if (p->err || p->s >= p->end)
      return v;
    size_t k, nops = sizeof binops / sizeof binops[0];
    for (k = 0; k < nops; k++) {
      size_t l = strlen(binops[k].op);
      if ((size_t)(p->end - p->s) >= l && memcmp(p->s, binops[k].op, l) == 0 &&
          /* `|` and `&` alone are not supported; `<`, `>` are not `<<` */
          !(l == 1 && p->s + 1 < p->end && p->s[1] == p->s[0]))
        break;
    }
    if (k == nops || binops[k].prec <= prec)
      return v;
    const char *at = p->s;
    p->s += strlen(binops[k].op);
    int64_t r = cond_expr(p, binops[k].prec);
    v = apply(p, binops[k].op, v, r, at);
  }
}

/* ---- lines and comments --------------------------------------------------
 */

/* Scans [s, e) of source text for comments and strings; returns whether a
 * block comment is still open at the end. */
static bool scan_comments(const char *s, const char *e, bool in_comment) {
  while (s < e) {
    if (in_comment) {
      if (s + 1 < e && s[0] == '*' && s[1] == '/') {
        in_comment = false;
        s += 2;
      } else {
        s++;
      }
    } else if (*s == '"') {
      for (s++; s < e && *s != '"'; s++)
        if (*s == '\\' && s + 1 < e)
          s++;
      s += s < e;
    } else if (s + 1 < e && s[0] == '/' && s[1] == '/') {
      return false;
    } else if (s + 1 < e && s[0] == '/' && s[1] == '*') {
      in_comment = true;
      s += 2;
    } else {
      s++;
    }
  }
  return in_comment;
}

static void blank_out(char *from, char *to) {
  for (char *q = from; q < to; q++)
    if (*q != '\n')
      *q = ' ';
}

static void line_end(ice_pp *p) {
  blanks(p);
  if (p->s < p->end)
    pp_err(p, p->s, "%s", "unexpected text after preprocessor directive");
}

/* The directory part of `path` ("" for none), in the arena. */
static const char *dir_of(slicec_context *c, const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? sc_strndup(&c->arena, path, (size_t)(slash - path + 1)) : "";
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void do_include(ice_pp *p, const char *hash) {
  blanks(p);
  char close = p->s < p->end && *p->s == '<' ? '>' : '"';
  if (p->s >= p->end || (*p->s != '<' && *p->s != '"')) {
    pp_err(p, p->s, "%s", "expected <file> or \"file\" after #include");
    return;
  }
  const char *start = ++p->s;
  while (p->s < p->end && *p->s != close)
    p->s++;
  if (p->s >= p->end) {
    pp_err(p, start - 1, "%s", "unterminated file name after #include");
    return;
  }
  const char *name = sc_strndup(&p->c->arena, start, (size_t)(p->s - start));
  p->s++;
  line_end(p);
  if (p->err || !name)
    return;
  slicec_loc loc = sc_loc(p->f, p->line, (uint32_t)(hash - p->line_start) + 1);
  if (!sc_is_ice_path(name)) {
    sc_error(p->c, loc, "E002",
             "invalid syntax: only .ice files can be included, not '%s'", name);
    return;
  }
  const char *found = NULL;
  if (name[0] == '/') {
    found = name;
  } else {
    /* The including file's directory (a file given by name only), then
     * each -I directory. */
    if (close == '"' && p->f->canon[0] == '/') {
      const char *cand =
          sc_printf(&p->c->arena, "%s%s", dir_of(p->c, p->f->pub->path), name);
      if (cand && is_file(cand))
        found = cand;
    }
    for (size_t i = 0; !found && i < p->c->include_dirs.n; i++) {
      const char *d = p->c->include_dirs.items[i];
      size_t dl = strlen(d);
      const char *cand = sc_printf(&p->c->arena, "%s%s%s", d,
                                   dl && d[dl - 1] == '/' ? "" : "/", name);
      if (cand && is_file(cand))
        found = cand;
    }
  }
  if (!found) {
    sc_error(p->c, loc, "E001",
             "cannot find '%s' to include: add its directory with -I", name);
    return;
  }
  if (p->c->include_depth >= ICE_PP_MAX_INCLUDES) {
    sc_error(p->c, loc, "E002",
             "invalid syntax: #include nested more than %d levels deep",
             ICE_PP_MAX_INCLUDES);
    return;
  }
  p->c->include_depth++;
  sc_include_file(p->c, found, loc);
  p->c->include_depth--;
}

static void do_define(ice_pp *p, bool active) {
  blanks(p);
  size_t m = ident_len(p->s, p->end);
  if (!m) {
    pp_err(p, p->s, "%s", "expected a macro name after #define");
    return;
  }
  const char *name = p->s;
  p->s += m;
  if (p->s < p->end && *p->s == '(') {
    pp_err(p, p->s, "%s", "function-like macros are not supported");
    return;
  }
  blanks(p);
  const char *v = p->s, *ve = p->end;
  /* The value ends at a comment. */
  for (const char *q = v; q + 1 < ve; q++)
    if (q[0] == '/' && (q[1] == '/' || q[1] == '*')) {
      ve = q;
      break;
    }
  while (ve > v && isspace((unsigned char)ve[-1]))
    ve--;
  if (!active)
    return;
  ice_macro *mac = sc_alloc(&p->c->arena, sizeof(*mac));
  if (!mac)
    return;
  mac->name = sc_strndup(&p->c->arena, name, m);
  mac->value = sc_strndup(&p->c->arena, v, (size_t)(ve - v));
  if (mac->name && mac->value)
    sc_vec_push(&p->c->arena, &p->macros, mac);
}

static void do_undef(ice_pp *p, bool active) {
  blanks(p);
  size_t m = ident_len(p->s, p->end);
  if (!m) {
    pp_err(p, p->s, "%s", "expected a macro name after #undef");
    return;
  }
  if (active)
    for (size_t i = 0; i < p->macros.n; i++) {
      ice_macro *mac = p->macros.items[i];
      if (mac && strlen(mac->name) == m && memcmp(mac->name, p->s, m) == 0)
        p->macros.items[i] = NULL;
    }
  p->s += m;
  line_end(p);
}

static const char *rest_of_line(ice_pp *p) {
  blanks(p);
  const char *e = p->end;
  while (e > p->s && isspace((unsigned char)e[-1]))
    e--;
  return sc_strndup(&p->c->arena, p->s, (size_t)(e - p->s));
}

void sc_ice_preprocess(slicec_context *c, sc_file *f) {
  ice_pp p = {.c = c, .f = f};
  for (size_t i = 0; i < c->defines.n; i++) {
    ice_macro *m = sc_alloc(&c->arena, sizeof(*m));
    if (!m)
      return;
    m->name = c->defines.items[i];
    m->value = "1";
    sc_vec_push(&c->arena, &p.macros, m);
  }
  ice_cond conds[ICE_PP_MAX_DEPTH];
  size_t depth = 0;
  bool active = true, in_comment = false;
  char *text = f->text, *tend = f->text + f->len;
  for (char *ls = text; ls < tend;) {
    char *le = memchr(ls, '\n', (size_t)(tend - ls));
    if (!le)
      le = tend;
    p.line++;
    p.line_start = ls;
    p.end = le;
    p.s = ls;
    p.err = false;
    p.depth = 0;
    while (p.s < p.end && (*p.s == ' ' || *p.s == '\t' || *p.s == '\r'))
      p.s++;
    if (in_comment || p.s == p.end || *p.s != '#') {
      in_comment = scan_comments(ls, le, in_comment);
      if (!active)
        blank_out(ls, le);
      ls = le + (le < tend);
      continue;
    }
    const char *hash = p.s++;
    while (p.s < p.end && (*p.s == ' ' || *p.s == '\t'))
      p.s++;
    size_t n = ident_len(p.s, p.end);
    const char *kw = p.s;
    p.s += n;
#define IS(k) (n == sizeof(k) - 1 && memcmp(kw, k, n) == 0)
    if (IS("if") || IS("ifdef") || IS("ifndef")) {
      bool v;
      if (IS("if")) {
        v = active ? cond_expr(&p, 0) != 0 : false;
      } else {
        bool def = IS("ifdef");
        blanks(&p);
        size_t m = ident_len(p.s, p.end);
        if (!m)
          pp_err(&p, p.s, "expected a macro name after #%s",
                 def ? "ifdef" : "ifndef");
        v = (find_macro(&p, p.s, m) != NULL) == def;
        p.s += m;
      }
      if (active)
        line_end(&p);
      if (depth == ICE_PP_MAX_DEPTH) {
        pp_err(&p, hash, "%s", "#if nested too deeply");
      } else {
        ice_cond *k = &conds[depth++];
        k->parent_active = active;
        k->active = active && v && !p.err;
        k->taken = k->active;
        k->seen_else = false;
        k->line = p.line;
        active = k->active;
      }
    } else if (IS("elif") || IS("else")) {
      bool is_else = IS("else");
      if (!depth) {
        pp_err(&p, hash, "%s without #if", is_else ? "#else" : "#elif");
      } else if (conds[depth - 1].seen_else) {
        pp_err(&p, hash, "%s after #else", is_else ? "#else" : "#elif");
      } else {
        ice_cond *k = &conds[depth - 1];
        bool eval = k->parent_active && !k->taken;
        bool v = is_else ? true : eval ? cond_expr(&p, 0) != 0 : false;
        if (eval || is_else)
          line_end(&p);
        k->seen_else = is_else;
        k->active = eval && v && !p.err;
        k->taken = k->taken || k->active;
        active = k->active;
      }
    } else if (IS("endif")) {
      line_end(&p);
      if (!depth)
        pp_err(&p, hash, "%s", "#endif without #if");
      else
        active = conds[--depth].parent_active;
    } else if (!active) {
      /* Other directives in a disabled branch are not read. */
    } else if (IS("include")) {
      do_include(&p, hash);
    } else if (IS("define")) {
      do_define(&p, active);
    } else if (IS("undef")) {
      do_undef(&p, active);
    } else if (IS("pragma") || IS("line") || IS("ident")) {
      /* `#pragma once`: every file is read once. Other pragmas, #line
       * and #ident do not change what is compiled. */
    } else if (IS("error")) {
      const char *msg = rest_of_line(&p);
      sc_error(c, sc_loc(f, p.line, (uint32_t)(hash - ls) + 1), "E002",
               "#error %s", msg ? msg : "");
    } else if (IS("warning")) {
      const char *msg = rest_of_line(&p);
      sc_lint(c, NULL, 0, sc_loc(f, p.line, (uint32_t)(hash - ls) + 1),
              "Warning", "#warning %s", msg ? msg : "");
    } else if (n == 0) {
      blanks(&p);
      if (p.s < p.end)
        pp_err(&p, hash, "%s", "expected a preprocessor directive after '#'");
    } else {
      char name[64];
      size_t m = n < sizeof(name) - 1 ? n : sizeof(name) - 1;
      memcpy(name, kw, m);
      name[m] = 0;
      pp_err(&p, hash, "unknown preprocessor directive #%s", name);
    }
#undef IS
    /* A block comment opened on a directive line goes on. */
    in_comment = scan_comments(hash, le, false);
    blank_out(ls, le);
    ls = le + (le < tend);
  }
  if (depth)
    sc_error(c, sc_loc(f, conds[depth - 1].line, 1), "E002",
             "invalid syntax: #if without #endif");
}
