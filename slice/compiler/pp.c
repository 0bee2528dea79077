/* irpc-slicec: the preprocessor.
 *
 * Line based, like slicec's: a line whose first non-blank character is '#'
 * is a directive (#define, #undef, #if, #elif, #else, #endif). Conditions
 * combine symbols with !, && and || (equal precedence, left to right) and
 * parentheses. There is no #include and no macro expansion.
 *
 * The text is edited in place: directive lines and lines in a disabled
 * branch are overwritten with blanks, newlines kept, so the lexer sees the
 * same lines and columns as the user. */
#include <ctype.h>
#include <string.h>

#include "internal.h"

typedef struct pp_state {
  slicec_context *c;
  sc_file *f;
  sc_vec syms; /* char*: the symbols defined now */
  uint32_t line;
  const char *s; /* cursor in the directive line */
  const char *end;
  const char *line_start;
  bool err;
  int depth; /* parentheses in a condition */
} pp_state;

#define PP_MAX_PARENS 64

typedef struct pp_cond {
  bool parent_active;
  bool taken;  /* a branch of this #if was taken */
  bool active; /* the current branch is */
  bool seen_else;
  uint32_t line;
} pp_cond;

static bool pp_defined(pp_state *p, const char *name, size_t n) {
  for (size_t i = 0; i < p->syms.n; i++) {
    const char *s = p->syms.items[i];
    if (s && strlen(s) == n && memcmp(s, name, n) == 0)
      return true;
  }
  return false;
}

static void pp_undef(pp_state *p, const char *name, size_t n) {
  for (size_t i = 0; i < p->syms.n; i++) {
    const char *s = p->syms.items[i];
    if (s && strlen(s) == n && memcmp(s, name, n) == 0)
      p->syms.items[i] = NULL;
  }
}

static void pp_err(pp_state *p, const char *at, const char *msg,
                   const char *detail) {
  if (p->err)
    return;
  p->err = true;
  uint32_t col = (uint32_t)(at - p->line_start) + 1;
  sc_error(p->c, sc_loc(p->f, p->line, col), "E002", "invalid syntax: %s%s",
           msg, detail ? detail : "");
}

static void pp_blanks(pp_state *p) {
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' ||
                           *p->s == '\v' || *p->s == '\f'))
    p->s++;
  /* A directive may end with a // comment. */
  if (p->end - p->s >= 2 && p->s[0] == '/' && p->s[1] == '/')
    p->s = p->end;
}

static size_t pp_ident(pp_state *p) {
  const char *s = p->s;
  if (s < p->end && isalpha((unsigned char)*s)) {
    s++;
    while (s < p->end && (isalnum((unsigned char)*s) || *s == '_'))
      s++;
  }
  return (size_t)(s - p->s);
}

static bool pp_expr(pp_state *p);

static bool pp_term(pp_state *p) {
  pp_blanks(p);
  if (p->s < p->end && *p->s == '(') {
    if (p->depth >= PP_MAX_PARENS) {
      pp_err(p, p->s, "preprocessor condition nested too deeply", NULL);
      p->s = p->end;
      return false;
    }
    p->s++;
    p->depth++;
    bool v = pp_expr(p);
    p->depth--;
    pp_blanks(p);
    if (p->s < p->end && *p->s == ')')
      p->s++;
    else
      pp_err(p, p->s, "expected ')' in preprocessor condition", NULL);
    return v;
  }
  size_t n = pp_ident(p);
  if (!n) {
    pp_err(p, p->s, "expected a symbol in preprocessor condition", NULL);
    return false;
  }
  bool v = pp_defined(p, p->s, n);
  p->s += n;
  return v;
}

static bool pp_unary(pp_state *p) {
  pp_blanks(p);
  if (p->s < p->end && *p->s == '!') {
    p->s++;
    return !pp_term(p);
  }
  return pp_term(p);
}

static bool pp_expr(pp_state *p) {
  bool v = pp_unary(p);
  for (;;) {
    pp_blanks(p);
    if (p->end - p->s >= 2 && p->s[0] == '&' && p->s[1] == '&') {
      p->s += 2;
      bool r = pp_unary(p);
      v = v && r;
    } else if (p->end - p->s >= 2 && p->s[0] == '|' && p->s[1] == '|') {
      p->s += 2;
      bool r = pp_unary(p);
      v = v || r;
    } else {
      return v;
    }
  }
}

static void pp_line_end(pp_state *p) {
  pp_blanks(p);
  if (p->s < p->end)
    pp_err(p, p->s, "unexpected text after preprocessor directive", NULL);
}

static void pp_blank_out(char *from, char *to) {
  for (char *q = from; q < to; q++)
    if (*q != '\n')
      *q = ' ';
}

#define PP_MAX_DEPTH 256

void sc_preprocess(slicec_context *c, sc_file *f) {
  pp_state p = {.c = c, .f = f};
  for (size_t i = 0; i < c->defines.n; i++)
    sc_vec_push(&c->arena, &p.syms, c->defines.items[i]);
  pp_cond conds[PP_MAX_DEPTH];
  size_t depth = 0;
  bool active = true;
  char *text = f->text, *tend = f->text + f->len;
  p.line = 0;
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
    if (p.s == p.end || *p.s != '#') {
      if (!active)
        pp_blank_out(ls, le);
      ls = le + (le < tend);
      continue;
    }
    const char *hash = p.s;
    p.s++;
    while (p.s < p.end && (*p.s == ' ' || *p.s == '\t'))
      p.s++;
    size_t n = pp_ident(&p);
    const char *kw = p.s;
    p.s += n;
#define IS(k) (n == sizeof(k) - 1 && memcmp(kw, k, n) == 0)
    if (IS("define") || IS("undef")) {
      bool def = IS("define");
      pp_blanks(&p);
      size_t m = pp_ident(&p);
      if (!m) {
        pp_err(&p, p.s, "expected a symbol after #", def ? "define" : "undef");
      } else {
        const char *name = p.s;
        p.s += m;
        pp_line_end(&p);
        if (active && def && !pp_defined(&p, name, m))
          sc_vec_push(&c->arena, &p.syms, sc_strndup(&c->arena, name, m));
        else if (active && !def)
          pp_undef(&p, name, m);
      }
    } else if (IS("if")) {
      bool v = pp_expr(&p);
      pp_line_end(&p);
      if (depth == PP_MAX_DEPTH) {
        pp_err(&p, hash, "#if nested too deeply", NULL);
      } else {
        pp_cond *k = &conds[depth++];
        k->parent_active = active;
        k->active = active && v;
        k->taken = k->active;
        k->seen_else = false;
        k->line = p.line;
        active = k->active;
      }
    } else if (IS("elif") || IS("else")) {
      bool is_else = IS("else");
      bool v = is_else ? true : pp_expr(&p);
      pp_line_end(&p);
      if (!depth) {
        pp_err(&p, hash, is_else ? "#else" : "#elif", " without #if");
      } else if (conds[depth - 1].seen_else) {
        pp_err(&p, hash, is_else ? "#else" : "#elif", " after #else");
      } else {
        pp_cond *k = &conds[depth - 1];
        k->seen_else = is_else;
        k->active = k->parent_active && !k->taken && v;
        k->taken = k->taken || k->active;
        active = k->active;
      }
    } else if (IS("endif")) {
      pp_line_end(&p);
      if (!depth) {
        pp_err(&p, hash, "#endif without #if", NULL);
      } else {
        active = conds[--depth].parent_active;
      }
    } else if (n == 0) {
      pp_err(&p, hash, "expected a preprocessor directive after '#'", NULL);
    } else {
      char name[64];
      size_t m = n < sizeof(name) - 1 ? n : sizeof(name) - 1;
      memcpy(name, kw, m);
      name[m] = 0;
      pp_err(&p, hash, "unknown preprocessor directive #", name);
    }
#undef IS
    pp_blank_out(ls, le);
    ls = le + (le < tend);
  }
  if (depth) {
    p.err = false;
    sc_error(c, sc_loc(f, conds[depth - 1].line, 1), "E002",
             "invalid syntax: #if without #endif");
  }
}
