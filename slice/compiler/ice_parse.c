/* irpc-slicec: the parser of .ice files (ZeroC's Slice syntax).
 *
 * Builds the same model that a `.slice` file in Slice1 mode gives, so that
 * one generator serves both (docs/internals/SLICEC.md lists the mapping):
 * a struct is a compact struct, `sequence<T> N;` and `dictionary<K,V> N;`
 * are type aliases, `optional(n)` is a tag with an optional type, out
 * parameters and the return value make the return members (the outs in
 * order, then the return value, the encoding 1.1 order), `Name*` is the
 * optional `custom NameProxy` made for each interface, `Object*` is
 * `::IceRpc::ServiceAddress?`, `Object` and `Value` are `AnyClass?`. A
 * `local` definition is read and left out. Constants are definitions of
 * their own kind (SLICEC_DEF_CONST).
 *
 * Errors: the first syntax error inside a definition is reported, then the
 * parser skips to the end of that definition and goes on. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse_common.h"

typedef struct iparser {
  sc_cursor k;       /* over the tokens without doc comments */
  const sc_tok *all; /* every token, doc comments included */
  size_t *orig;      /* t[i] is all[orig[i]] */
  const slicec_module *module;
  const char *scope;      /* the module's scoped name, "" at the top */
  int local;              /* inside a `local` definition: nothing is kept */
  const sc_tok *def_name; /* the name of the definition being read */
  int depth;              /* module nesting */
} iparser;

#define MAX_MODULE_DEPTH 100

static const char *const keywords[] = {
    "bool",     "byte",        "class",      "const",   "dictionary",
    "double",   "enum",        "exception",  "extends", "false",
    "float",    "idempotent",  "implements", "int",     "interface",
    "local",    "LocalObject", "long",       "module",  "Object",
    "optional", "out",         "sequence",   "short",   "string",
    "struct",   "throws",      "true",       "Value",   "void"};

/* The keyword `s` is, or NULL. (Ice 3.7 accepts names that differ from a
 * keyword only in case, `value` for instance.) */
static const char *keyword_of(const char *s, bool *exact) {
  for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
    if (strcmp(keywords[i], s) == 0) {
      *exact = true;
      return keywords[i];
    }
  return NULL;
}

/* ---- tokens ---------------------------------------------------------------
 */

static const char *tok_name(const sc_tok *t) {
  static char buf[96];
  bool exact;
  switch (t->kind) {
  case T_IDENT:
    if (!t->escaped && keyword_of(t->text, &exact) && exact)
      snprintf(buf, sizeof(buf), "keyword '%.60s'", t->text);
    else
      snprintf(buf, sizeof(buf), "identifier '%.60s'", t->text);
    return buf;
  case T_INT:
  case T_FLOAT:
    snprintf(buf, sizeof(buf), "number '%.60s'", t->text);
    return buf;
  case T_SEMI:
    return "';'";
  case T_STAR:
    return "'*'";
  case T_PLUS:
    return "'+'";
  default:
    return sc_tok_describe(t->kind);
  }
}

static void unexpected(iparser *p, const char *expected) {
  if (p->k.failed)
    return;
  char msg[256];
  snprintf(msg, sizeof(msg), "expected %s, found %s", expected,
           tok_name(sc_peek(&p->k)));
  sc_syntax(&p->k, sc_peek(&p->k), "%s", msg);
}

static bool expect(iparser *p, sc_tok_kind k, const char *what) {
  if (p->k.failed)
    return false;
  if (sc_at(&p->k, k)) {
    sc_next(&p->k);
    return true;
  }
  unexpected(p, what);
  return false;
}

/* A name being defined: an identifier that is not a keyword. */
static const sc_tok *expect_name(iparser *p) {
  if (p->k.failed)
    return NULL;
  const sc_tok *t = sc_peek(&p->k);
  if (t->kind != T_IDENT) {
    unexpected(p, "a name");
    return NULL;
  }
  bool exact;
  const char *kw = t->escaped ? NULL : keyword_of(t->text, &exact);
  if (kw && exact) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "keyword '%s' cannot be used as a name; escape it as '\\%s'", kw,
             kw);
    sc_syntax(&p->k, t, "%s", msg);
    return NULL;
  }
  return sc_next(&p->k);
}

/* ScopedName = ["::"] ident {"::" ident}; the text as written. */
static const char *scoped(iparser *p, const sc_tok **first) {
  bool global = sc_at(&p->k, T_DCOLON);
  const sc_tok *f0 = sc_peek(&p->k);
  if (global)
    sc_next(&p->k);
  const sc_tok *t = expect_name(p);
  if (!t)
    return NULL;
  if (first)
    *first = f0;
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s%s", global ? "::" : "", t->text);
  while (sc_at(&p->k, T_DCOLON)) {
    sc_next(&p->k);
    const sc_tok *s = expect_name(p);
    if (!s)
      return NULL;
    size_t l = strlen(buf);
    snprintf(buf + l, sizeof(buf) - l, "::%s", s->text);
  }
  return sc_strdup(&p->k.c->arena, buf);
}

/* ---- metadata and doc comments ---------------------------------------------
 */

typedef struct prelude {
  sc_vec attrs; /* slicec_attr*: the metadata that is ours */
  const slicec_doc *doc;
  const sc_tok *first;
} prelude;

static slicec_attr *new_attr(iparser *p, const char *directive,
                             slicec_loc loc) {
  slicec_attr *a = sc_alloc(&p->k.c->arena, sizeof(*a));
  if (a) {
    a->directive = directive;
    a->loc = loc;
  }
  return a;
}

/* Splits "a,b" into trimmed arguments. */
static void split_args(iparser *p, slicec_attr *a, const char *s) {
  sc_vec args = {0};
  while (*s) {
    const char *e = strchr(s, ',');
    if (!e)
      e = s + strlen(s);
    const char *b = s;
    while (b < e && isspace((unsigned char)*b))
      b++;
    const char *q = e;
    while (q > b && isspace((unsigned char)q[-1]))
      q--;
    sc_vec_push(&p->k.c->arena, &args,
                sc_strndup(&p->k.c->arena, b, (size_t)(q - b)));
    s = *e ? e + 1 : e;
  }
  a->args = (const char *const *)args.items;
  a->nargs = args.n;
}

/* One metadata string: ours become attributes, others are ignored.
 *   deprecate, deprecated[:reason]  -> deprecated[("reason")]
 *   format:sliced                   -> slicedFormat(Args, Return)
 *   c:oneway, c:compress:Args,...   -> oneway, compress(Args, ...)
 *   c:NAME[:ARG]                    -> c::NAME[("ARG")] */
static void metadata(iparser *p, const char *md, slicec_loc loc, sc_vec *out) {
  slicec_context *c = p->k.c;
  slicec_attr *a = NULL;
  if (strcmp(md, "deprecate") == 0 || strcmp(md, "deprecated") == 0) {
    a = new_attr(p, "deprecated", loc);
  } else if (strncmp(md, "deprecate:", 10) == 0 ||
             strncmp(md, "deprecated:", 11) == 0) {
    a = new_attr(p, "deprecated", loc);
    if (a) {
      const char **arg = sc_alloc(&c->arena, sizeof(*arg));
      if (arg) {
        *arg = sc_strdup(&c->arena, strchr(md, ':') + 1);
        a->args = arg;
        a->nargs = 1;
      }
    }
  } else if (strcmp(md, "format:sliced") == 0) {
    a = new_attr(p, "slicedFormat", loc);
    if (a)
      split_args(p, a, "Args,Return");
  } else if (strncmp(md, "c:", 2) == 0 && md[2]) {
    const char *name = md + 2, *colon = strchr(name, ':');
    size_t nl = colon ? (size_t)(colon - name) : strlen(name);
    static const char *const neutral[] = {"oneway", "compress", "slicedFormat",
                                          "allow"};
    bool is_neutral = false;
    for (size_t i = 0; i < sizeof neutral / sizeof neutral[0]; i++)
      is_neutral |=
          strlen(neutral[i]) == nl && memcmp(neutral[i], name, nl) == 0;
    const char *dir = is_neutral
                          ? sc_strndup(&c->arena, name, nl)
                          : sc_printf(&c->arena, "c::%.*s", (int)nl, name);
    a = dir ? new_attr(p, dir, loc) : NULL;
    if (a && colon && is_neutral) {
      split_args(p, a, colon + 1);
    } else if (a && colon) {
      const char **arg = sc_alloc(&c->arena, sizeof(*arg));
      if (arg) {
        *arg = sc_strdup(&c->arena, colon + 1);
        a->args = arg;
        a->nargs = 1;
      }
    }
  }
  if (a && !p->local)
    sc_vec_push(&c->arena, out, a);
}

/* `[` STRING {, STRING} `]`, or with `[[ ]]` for file metadata. */
static bool metadata_list(iparser *p, sc_vec *out, bool file) {
  sc_next(&p->k); /* [ or [[ */
  for (;;) {
    if (!sc_at(&p->k, T_STRING)) {
      unexpected(p, "a metadata string");
      return false;
    }
    const sc_tok *s = sc_next(&p->k);
    if (strlen(s->text) != s->len) {
      sc_syntax(&p->k, s, "%s", "metadata cannot contain NUL characters");
      return false;
    }
    metadata(p, s->text, sc_loc_of(&p->k, s), out);
    if (sc_at(&p->k, T_COMMA)) {
      sc_next(&p->k);
      continue;
    }
    return expect(p, file ? T_RRBRACKET : T_RBRACKET, file ? "']]'" : "']'");
  }
}

/* Appends [from, to) to out at *o, with `#` as `::` (a leading `#`, a
 * member of the element itself, dropped): everywhere, or only inside
 * `{@link ...}`. */
static void put_text(char *out, size_t *o, const char *from, const char *to,
                     bool everywhere) {
  bool in_link = everywhere;
  for (const char *q = from; q < to; q++) {
    if (!everywhere && to - q >= 6 && memcmp(q, "{@link", 6) == 0)
      in_link = true;
    else if (!everywhere && *q == '}')
      in_link = false;
    if (in_link && *q == '#') {
      bool lead = q == from || q[-1] == ' ' || q[-1] == '\t';
      if (!lead) {
        out[(*o)++] = ':';
        out[(*o)++] = ':';
      }
      continue;
    }
    out[(*o)++] = *q;
  }
}

/* Javadoc (a `/ ** ... * /` block) to the doc-comment lines of .slice
 * files: `*` margins removed, `@param x text` -> `@param x: text`,
 * `@return` -> `@returns:`, `@throws E text` and `@exception E text` ->
 * `@throws E: text`, `#` in links -> `::`; other block tags (`@deprecated`,
 * ...) and their text are left out. */
static void javadoc_lines(iparser *p, const sc_tok *d, sc_vec *lines) {
  slicec_context *c = p->k.c;
  const char *s = d->text, *end = d->text + d->len;
  uint32_t line = d->line;
  bool skipping = false, tagged = false;
  for (;;) {
    const char *e = memchr(s, '\n', (size_t)(end - s));
    if (!e)
      e = end;
    const char *b = s;
    while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
      b++;
    while (b < e && *b == '*')
      b++;
    const char *be = e;
    while (be > b && isspace((unsigned char)be[-1]))
      be--;
    const char *t = b;
    while (t < be && (*t == ' ' || *t == '\t'))
      t++;
    /* '#' -> '::' at most doubles the text. */
    char *out = sc_alloc(&c->arena, 2 * (size_t)(be - b) + 24);
    if (!out)
      return;
    size_t o = 0;
    bool emit = false;
    if (t < be && *t == '@') {
      const char *kw = t + 1, *kwe = kw;
      while (kwe < be && isalpha((unsigned char)*kwe))
        kwe++;
      size_t kl = (size_t)(kwe - kw);
      const char *tag = NULL;
      bool named = false;
      if (kl == 5 && memcmp(kw, "param", 5) == 0) {
        tag = "param";
        named = true;
      } else if ((kl == 6 && memcmp(kw, "return", 6) == 0) ||
                 (kl == 7 && memcmp(kw, "returns", 7) == 0)) {
        tag = "returns";
      } else if ((kl == 6 && memcmp(kw, "throws", 6) == 0) ||
                 (kl == 9 && memcmp(kw, "exception", 9) == 0)) {
        tag = "throws";
        named = true;
      } else if (kl == 3 && memcmp(kw, "see", 3) == 0) {
        tag = "see";
        named = true;
      }
      skipping = tag == NULL;
      tagged = true;
      if (tag) {
        emit = true;
        size_t tl = strlen(tag);
        out[o++] = ' ';
        out[o++] = '@';
        memcpy(out + o, tag, tl);
        o += tl;
        const char *r = kwe;
        while (r < be && (*r == ' ' || *r == '\t'))
          r++;
        if (named) {
          const char *nm = r;
          while (r < be && !isspace((unsigned char)*r))
            r++;
          out[o++] = ' ';
          put_text(out, &o, nm, r, true);
        }
        if (strcmp(tag, "see") != 0)
          out[o++] = ':';
        while (r < be && (*r == ' ' || *r == '\t'))
          r++;
        if (r < be) {
          out[o++] = ' ';
          put_text(out, &o, r, be, false);
        }
      }
    } else if (!skipping && !(tagged && t == be)) {
      /* Blank lines between block tags separate nothing. */
      emit = true;
      out[o++] = ' ';
      put_text(out, &o, t, be, false);
    }
    if (emit) {
      sc_tok *lt = sc_alloc(&c->arena, sizeof(*lt));
      if (!lt)
        return;
      out[o] = 0;
      lt->kind = T_DOC;
      lt->text = out;
      lt->len = o;
      lt->line = line;
      lt->col = d->col;
      sc_vec_push(&c->arena, lines, lt);
    }
    line++;
    if (e == end)
      return;
    s = e + 1;
  }
}

/* The doc comment just before the token t[idx]: the last doc block,
 * or the `///` lines after it. */
static const slicec_doc *doc_before(iparser *p, size_t idx) {
  size_t o = p->orig[idx];
  size_t start = o;
  while (start > 0 && p->all[start - 1].kind == T_DOC)
    start--;
  if (start == o)
    return NULL;
  sc_vec lines = {0};
  size_t last_block = SIZE_MAX;
  for (size_t k = start; k < o; k++)
    if (p->all[k].escaped)
      last_block = k;
  if (last_block != SIZE_MAX && last_block == o - 1) {
    javadoc_lines(p, &p->all[last_block], &lines);
  } else {
    for (size_t k = last_block == SIZE_MAX ? start : last_block + 1; k < o; k++)
      sc_vec_push(&p->k.c->arena, &lines, (void *)&p->all[k]);
  }
  if (!lines.n)
    return NULL;
  return sc_doc_parse(p->k.c, p->k.f, (const sc_tok *const *)lines.items,
                      lines.n);
}

/* Prelude = { "[" metadata "]" }, with the doc comment before it. */
static void parse_prelude(iparser *p, prelude *pr) {
  memset(pr, 0, sizeof(*pr));
  pr->first = sc_peek(&p->k);
  size_t idx = p->k.i;
  while (sc_at(&p->k, T_LBRACKET) && !p->k.failed)
    metadata_list(p, &pr->attrs, false);
  if (!p->local)
    pr->doc = doc_before(p, idx);
}

/* ---- definitions ------------------------------------------------------------
 */

static sc_def *new_def(iparser *p, slicec_def_kind kind, prelude *pr,
                       const sc_tok *name) {
  if (!p->def_name)
    p->def_name = name;
  if (p->local)
    return NULL;
  sc_def *d = sc_alloc(&p->k.c->arena, sizeof(*d));
  if (!d)
    return NULL;
  d->file = p->k.f;
  slicec_def *pub = &d->pub;
  pub->kind = kind;
  pub->name = name->text;
  pub->scoped_name =
      *p->scope ? sc_printf(&p->k.c->arena, "%s::%s", p->scope, name->text)
                : name->text;
  pub->module = p->module;
  pub->file = p->k.f->pub;
  pub->attrs = pr ? sc_freeze_attrs(p->k.c, &pr->attrs)
                  : sc_freeze_attrs(p->k.c, &(sc_vec){0});
  pub->doc = pr ? pr->doc : NULL;
  pub->loc = sc_loc_of(&p->k, name);
  if (!p->k.f->pub->module)
    p->k.f->pub->module = p->module;
  return d;
}

static void add_def(iparser *p, sc_def *d) {
  if (!d)
    return;
  d->index = p->k.c->all_defs.n;
  sc_vec_push(&p->k.c->arena, &p->k.f->defs, d);
  sc_vec_push(&p->k.c->arena, &p->k.c->all_defs, d);
}

static void add_local(iparser *p, const sc_tok *name) {
  sc_local *l = sc_alloc(&p->k.c->arena, sizeof(*l));
  if (!l)
    return;
  l->scoped_name =
      *p->scope ? sc_printf(&p->k.c->arena, "%s::%s", p->scope, name->text)
                : name->text;
  l->loc = sc_loc_of(&p->k, name);
  sc_vec_push(&p->k.c->arena, &p->k.c->locals, l);
}

static sc_ref *queue_ref(iparser *p, slicec_type_ref *r, sc_ref_role role) {
  if (p->local)
    return NULL;
  sc_ref *q = sc_alloc(&p->k.c->arena, sizeof(*q));
  if (!q)
    return NULL;
  q->ref = r;
  q->role = role;
  q->scope = p->scope;
  q->file = p->k.f;
  q->allow[0] = q->allow[1] = q->allow[2] = &p->k.f->attrs;
  sc_vec_push(&p->k.c->arena, &p->k.c->refs, q);
  return q;
}

static bool is_builtin(const sc_tok *t, slicec_primitive *out) {
  static const struct {
    const char *w;
    slicec_primitive p;
  } map[] = {{"bool", SLICEC_BOOL},      {"byte", SLICEC_UINT8},
             {"short", SLICEC_INT16},    {"int", SLICEC_INT32},
             {"long", SLICEC_INT64},     {"float", SLICEC_FLOAT32},
             {"double", SLICEC_FLOAT64}, {"string", SLICEC_STRING}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (sc_tok_word(t, map[i].w)) {
      *out = map[i].p;
      return true;
    }
  return false;
}

/* Type = [metadata] (builtin | "Object" ["*"] | "Value" | "LocalObject"
 *        | ScopedName ["*"]). */
static slicec_type_ref *type_ref(iparser *p) {
  slicec_type_ref *r = sc_alloc(&p->k.c->arena, sizeof(*r));
  if (!r)
    return NULL;
  sc_vec attrs = {0};
  while (sc_at(&p->k, T_LBRACKET) && !p->k.failed)
    metadata_list(p, &attrs, false);
  if (p->k.failed)
    return NULL;
  r->attrs = sc_freeze_attrs(p->k.c, &attrs);
  const sc_tok *t = sc_peek(&p->k);
  r->loc = sc_loc_of(&p->k, t);
  if (is_builtin(t, &r->primitive)) {
    sc_next(&p->k);
    r->kind = SLICEC_TYPE_PRIMITIVE;
    if (sc_at(&p->k, T_STAR)) {
      sc_syntax(&p->k, sc_peek(&p->k),
                "'%s*' is not a proxy: only interfaces have proxies", t->text);
      return NULL;
    }
    return r;
  }
  if (sc_tok_word(t, "Object") && sc_peek_at(&p->k, 1)->kind == T_STAR) {
    sc_next(&p->k);
    sc_next(&p->k);
    r->kind = SLICEC_TYPE_DEFINED;
    r->optional = true;
    r->spelled = "::IceRpc::ServiceAddress";
    if (!p->local) {
      p->k.c->need_service_address = true;
      p->k.c->source_service_address |= !p->k.f->pub->reference;
    }
    queue_ref(p, r, SC_REF_TYPE);
    return r;
  }
  if (sc_tok_word(t, "Object") || sc_tok_word(t, "Value")) {
    sc_next(&p->k);
    r->kind = SLICEC_TYPE_PRIMITIVE;
    r->primitive = SLICEC_ANYCLASS;
    r->optional = true;
    r->spelled = t->text;
    return r;
  }
  if (sc_tok_word(t, "LocalObject")) {
    sc_next(&p->k);
    if (!p->local) {
      sc_syntax(&p->k, t, "%s",
                "'LocalObject' can only be used in local definitions");
      return NULL;
    }
    r->kind = SLICEC_TYPE_PRIMITIVE;
    r->primitive = SLICEC_ANYCLASS;
    return r;
  }
  if (t->kind != T_IDENT && t->kind != T_DCOLON) {
    unexpected(p, "a type");
    return NULL;
  }
  const char *name = scoped(p, NULL);
  if (!name)
    return NULL;
  r->kind = SLICEC_TYPE_DEFINED;
  r->spelled = name;
  if (sc_at(&p->k, T_STAR)) {
    sc_next(&p->k);
    r->optional = true;
    queue_ref(p, r, SC_REF_PROXY);
  } else {
    queue_ref(p, r, SC_REF_ICE_TYPE);
  }
  return r;
}

/* "optional" "(" int ")": the tag, or -1 after an error. */
static bool optional_tag(iparser *p, slicec_member *m) {
  sc_next(&p->k); /* optional */
  if (!expect(p, T_LPAREN, "'('"))
    return false;
  bool neg = false;
  if (sc_at(&p->k, T_MINUS)) {
    sc_next(&p->k);
    neg = true;
  }
  if (!sc_at(&p->k, T_INT)) {
    unexpected(p, "an integer tag");
    return false;
  }
  const sc_tok *t = sc_next(&p->k);
  if (!expect(p, T_RPAREN, "')'"))
    return false;
  m->tagged = true;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(t->text, &end, 0);
  if (neg || errno || !end || *end || v > INT32_MAX)
    sc_error(p->k.c, sc_loc_of(&p->k, t), "E021",
             "tag values must be within the range 0 <= value <= 2147483647");
  else
    m->tag = (int32_t)v;
  return true;
}

/* A value after `=`: queued, checked once names are resolved. */
static slicec_value *value(iparser *p, const slicec_type_ref *type,
                           const char *what) {
  const sc_tok *first = sc_peek(&p->k);
  bool neg = false;
  if (sc_at(&p->k, T_MINUS) || sc_at(&p->k, T_PLUS)) {
    neg = sc_at(&p->k, T_MINUS);
    sc_next(&p->k);
    if (!sc_at(&p->k, T_INT) && !sc_at(&p->k, T_FLOAT)) {
      unexpected(p, "a number");
      return NULL;
    }
  }
  const sc_tok *t = sc_peek(&p->k);
  const char *text;
  size_t len;
  if (t->kind == T_INT || t->kind == T_FLOAT || t->kind == T_STRING) {
    sc_next(&p->k);
    text = t->text;
    len = t->len;
  } else if (t->kind == T_IDENT || t->kind == T_DCOLON) {
    if (sc_tok_word(t, "true") || sc_tok_word(t, "false")) {
      sc_next(&p->k);
      text = t->text;
    } else if (!(text = scoped(p, NULL))) {
      return NULL;
    }
    len = strlen(text);
  } else {
    unexpected(p, "a value");
    return NULL;
  }
  if (p->local)
    return NULL;
  slicec_value *v = sc_alloc(&p->k.c->arena, sizeof(*v));
  sc_value_ref *q = sc_alloc(&p->k.c->arena, sizeof(*q));
  if (!v || !q)
    return NULL;
  v->loc = sc_loc_of(&p->k, first);
  const sc_tok *last = &p->k.t[p->k.i - 1];
  v->literal = sc_strndup(&p->k.c->arena, p->k.f->text + first->off,
                          last->off + last->raw_len - first->off);
  q->value = v;
  q->type = type;
  q->tok = t->kind == T_DCOLON ? T_IDENT : t->kind;
  q->text = text;
  q->len = len;
  q->negative = neg;
  q->scope = p->scope;
  q->what = what;
  sc_vec_push(&p->k.c->arena, &p->k.c->values, q);
  return v;
}

/* A data member: prelude [optional(n)] Type name [= value] ";". */
static slicec_member *data_member(iparser *p, size_t index, bool in_struct) {
  prelude pr;
  parse_prelude(p, &pr);
  if (p->k.failed)
    return NULL;
  slicec_member *m = sc_alloc(&p->k.c->arena, sizeof(*m));
  if (!m)
    return NULL;
  m->index = index;
  m->attrs = sc_freeze_attrs(p->k.c, &pr.attrs);
  m->doc = pr.doc;
  if (sc_at_word(&p->k, "optional")) {
    if (in_struct) {
      sc_syntax(&p->k, sc_peek(&p->k), "%s",
                "struct members cannot be optional: only class and exception "
                "members can");
      return NULL;
    }
    if (!optional_tag(p, m))
      return NULL;
  }
  if (!(m->type = type_ref(p)))
    return NULL;
  if (m->tagged)
    ((slicec_type_ref *)m->type)->optional = true;
  const sc_tok *name = expect_name(p);
  if (!name)
    return NULL;
  m->name = name->text;
  m->loc = sc_loc_of(&p->k, name);
  if (sc_at(&p->k, T_EQ)) {
    sc_next(&p->k);
    const char *what = sc_printf(&p->k.c->arena, "data member '%s'", m->name);
    m->default_value = value(p, m->type, what);
    if (p->k.failed)
      return NULL;
  }
  if (!expect(p, T_SEMI, "';'"))
    return NULL;
  return m;
}

static bool members(iparser *p, bool in_struct, slicec_member_list *out) {
  sc_vec v = {0};
  while (!sc_at(&p->k, T_RBRACE)) {
    if (sc_at(&p->k, T_EOF)) {
      unexpected(p, "'}'");
      return false;
    }
    slicec_member *m = data_member(p, v.n, in_struct);
    if (!m)
      return false;
    sc_vec_push(&p->k.c->arena, &v, m);
  }
  sc_next(&p->k);
  out->items = (const slicec_member *const *)v.items;
  out->n = v.n;
  return true;
}

/* The end of a braced definition: an optional ';'. */
static void end_braces(iparser *p) {
  if (sc_at(&p->k, T_SEMI))
    sc_next(&p->k);
}

static sc_def *def_struct(iparser *p, prelude *pr) {
  sc_next(&p->k); /* struct */
  const sc_tok *name = expect_name(p);
  if (!name || !expect(p, T_LBRACE, "'{'"))
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_STRUCT, pr, name);
  slicec_member_list fields;
  if (!members(p, true, &fields))
    return NULL;
  end_braces(p);
  if (d) {
    d->pub.u.st.compact = true;
    d->pub.u.st.fields = fields;
  }
  return d;
}

static sc_def *def_exception(iparser *p, prelude *pr) {
  sc_next(&p->k); /* exception */
  const sc_tok *name = expect_name(p);
  if (!name)
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_EXCEPTION, pr, name);
  if (sc_at_word(&p->k, "extends")) {
    sc_next(&p->k);
    slicec_type_ref *r = sc_alloc(&p->k.c->arena, sizeof(*r));
    if (!r)
      return NULL;
    r->loc = sc_loc_of(&p->k, sc_peek(&p->k));
    r->kind = SLICEC_TYPE_DEFINED;
    if (!(r->spelled = scoped(p, NULL)))
      return NULL;
    sc_ref *q = queue_ref(p, r, SC_REF_EXC_BASE);
    if (q && d)
      q->out = &d->pub.u.exc.base;
  }
  slicec_member_list fields;
  if (!expect(p, T_LBRACE, "'{'") || !members(p, false, &fields))
    return NULL;
  end_braces(p);
  if (d)
    d->pub.u.exc.fields = fields;
  return d;
}

/* The value of the integer constant `name`, seen from `scope`, among the
 * constants parsed so far (an enumerator's value is needed at once). */
static bool const_int(iparser *p, const char *name, const char *scope,
                      int64_t *out, int depth) {
  const slicec_def *cd = NULL;
  const char *want = name[0] == ':' ? name + 2 : name;
  size_t wl = strlen(want);
  for (size_t k = 0; k < p->k.c->all_defs.n && !cd; k++) {
    const slicec_def *x = &((sc_def *)p->k.c->all_defs.items[k])->pub;
    if (x->kind != SLICEC_DEF_CONST)
      continue;
    size_t sl = strlen(x->scoped_name);
    /* `A::K` from scope `M::N` names M::N::A::K, M::A::K or A::K. */
    if (strcmp(x->scoped_name, want) == 0 ||
        (name[0] != ':' && sl > wl + 2 &&
         strcmp(x->scoped_name + sl - wl, want) == 0 &&
         x->scoped_name[sl - wl - 1] == ':' &&
         strncmp(scope, x->scoped_name, sl - wl - 2) == 0 &&
         (scope[sl - wl - 2] == 0 || scope[sl - wl - 2] == ':')))
      cd = x;
  }
  const slicec_value *cv = cd ? cd->u.cnst.value : NULL;
  for (size_t k = 0; cv && k < p->k.c->values.n; k++) {
    const sc_value_ref *q = p->k.c->values.items[k];
    if (q->value != cv)
      continue;
    if (q->tok == T_INT) {
      char *endp = NULL;
      errno = 0;
      unsigned long long m = strtoull(q->text, &endp, 0);
      if (errno || !endp || *endp || m > (unsigned long long)INT64_MAX)
        return false;
      *out = q->negative ? -(int64_t)m : (int64_t)m;
      return true;
    }
    if (q->tok == T_IDENT && depth < 16)
      return const_int(p, q->text, q->scope, out, depth + 1);
    return false;
  }
  return false;
}

static sc_def *def_enum(iparser *p, prelude *pr) {
  sc_next(&p->k); /* enum */
  const sc_tok *name = expect_name(p);
  if (!name || !expect(p, T_LBRACE, "'{'"))
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_ENUM, pr, name);
  sc_vec v = {0};
  sc_int prev = {0};
  bool have_prev = false;
  while (!sc_at(&p->k, T_RBRACE)) {
    prelude epr;
    parse_prelude(p, &epr);
    const sc_tok *en = expect_name(p);
    if (!en)
      return NULL;
    sc_enumerator *e = sc_alloc(&p->k.c->arena, sizeof(*e));
    if (!e)
      return NULL;
    e->pub.name = en->text;
    e->pub.index = v.n;
    e->pub.attrs = sc_freeze_attrs(p->k.c, &epr.attrs);
    e->pub.doc = epr.doc;
    e->pub.loc = sc_loc_of(&p->k, en);
    e->value_loc = e->pub.loc;
    if (sc_at(&p->k, T_EQ)) {
      sc_next(&p->k);
      const sc_tok *vt = sc_peek(&p->k);
      bool neg = false;
      if (sc_at(&p->k, T_MINUS)) {
        neg = true;
        sc_next(&p->k);
      }
      e->value_loc = sc_loc_of(&p->k, vt);
      e->pub.explicit_value = true;
      if (sc_at(&p->k, T_INT)) {
        const sc_tok *it = sc_next(&p->k);
        char *endp = NULL;
        errno = 0;
        unsigned long long x = strtoull(it->text, &endp, 0);
        if (errno || !endp || *endp)
          e->v.big = true;
        e->v.mag = x;
        e->v.negative = neg && x;
      } else if (!neg && (sc_at(&p->k, T_IDENT) || sc_at(&p->k, T_DCOLON))) {
        /* A constant defined before. */
        const sc_tok *ct = sc_peek(&p->k);
        const char *cn = scoped(p, NULL);
        if (!cn)
          return NULL;
        int64_t iv;
        if (!p->local && !const_int(p, cn, p->scope, &iv, 0)) {
          sc_error(p->k.c, sc_loc_of(&p->k, ct), "E033",
                   "'%s' is not an integer constant defined before this "
                   "enumerator",
                   cn);
        } else if (!p->local) {
          e->v.negative = iv < 0;
          e->v.mag = iv < 0 ? 0 - (uint64_t)iv : (uint64_t)iv;
        }
      } else {
        unexpected(p, "an integer");
        return NULL;
      }
    } else if (have_prev) {
      e->v = prev;
      if (e->v.negative) {
        e->v.mag--;
        e->v.negative = e->v.mag != 0;
      } else if (e->v.mag == UINT64_MAX) {
        e->v.mag = 0;
        e->v.big = true;
      } else if (!e->v.big) {
        e->v.mag++;
      }
    }
    prev = e->v;
    have_prev = true;
    e->pub.value = e->v.negative ? (int64_t)(0 - e->v.mag) : (int64_t)e->v.mag;
    sc_vec_push(&p->k.c->arena, &v, e);
    if (sc_at(&p->k, T_COMMA))
      sc_next(&p->k);
    else if (!sc_at(&p->k, T_RBRACE)) {
      unexpected(p, "',' or '}'");
      return NULL;
    }
  }
  sc_next(&p->k);
  end_braces(p);
  if (d) {
    d->pub.u.en.enumerators = (const slicec_enumerator *const *)v.items;
    d->pub.u.en.nenumerators = v.n;
  }
  return d;
}

static sc_def *def_sequence_or_dictionary(iparser *p, prelude *pr, bool seq) {
  sc_next(&p->k); /* sequence or dictionary */
  slicec_type_ref *r = sc_alloc(&p->k.c->arena, sizeof(*r));
  if (!r)
    return NULL;
  r->loc = sc_loc_of(&p->k, sc_peek(&p->k));
  if (!expect(p, T_LT, "'<'"))
    return NULL;
  if (seq) {
    r->kind = SLICEC_TYPE_SEQUENCE;
    if (!(r->element = type_ref(p)))
      return NULL;
  } else {
    r->kind = SLICEC_TYPE_DICTIONARY;
    if (!(r->key = type_ref(p)) || !expect(p, T_COMMA, "','") ||
        !(r->value = type_ref(p)))
      return NULL;
  }
  if (!expect(p, T_GT, "'>'"))
    return NULL;
  const sc_tok *name = expect_name(p);
  if (!name || !expect(p, T_SEMI, "';'"))
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_ALIAS, pr, name);
  if (d)
    d->pub.u.alias.type = r;
  return d;
}

static sc_def *def_const(iparser *p, prelude *pr) {
  sc_next(&p->k); /* const */
  slicec_type_ref *type = type_ref(p);
  if (!type)
    return NULL;
  const sc_tok *name = expect_name(p);
  if (!name || !expect(p, T_EQ, "'='"))
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_CONST, pr, name);
  const char *what = sc_printf(&p->k.c->arena, "constant '%s'", name->text);
  slicec_value *v = value(p, type, what);
  if (p->k.failed || !expect(p, T_SEMI, "';'"))
    return NULL;
  if (d) {
    d->pub.u.cnst.type = type;
    d->pub.u.cnst.value = v;
  }
  return d;
}

/* A parameter: [metadata] ["out"] [metadata] [optional(n)] Type name. */
static slicec_member *param(iparser *p, bool *out) {
  prelude pr;
  parse_prelude(p, &pr);
  *out = false;
  if (sc_at_word(&p->k, "out")) {
    sc_next(&p->k);
    *out = true;
    while (sc_at(&p->k, T_LBRACKET) && !p->k.failed)
      metadata_list(p, &pr.attrs, false);
  }
  if (p->k.failed)
    return NULL;
  slicec_member *m = sc_alloc(&p->k.c->arena, sizeof(*m));
  if (!m)
    return NULL;
  m->attrs = sc_freeze_attrs(p->k.c, &pr.attrs);
  if (sc_at_word(&p->k, "optional") && !optional_tag(p, m))
    return NULL;
  if (!(m->type = type_ref(p)))
    return NULL;
  if (m->tagged)
    ((slicec_type_ref *)m->type)->optional = true;
  const sc_tok *name = expect_name(p);
  if (!name)
    return NULL;
  m->name = name->text;
  m->loc = sc_loc_of(&p->k, name);
  return m;
}

static const slicec_member *const *freeze_members(iparser *p, sc_vec *v) {
  for (size_t i = 0; i < v->n; i++)
    ((slicec_member *)v->items[i])->index = i;
  return (const slicec_member *const *)v->items;
}

/* The return members: out parameters in order, then the return value. */
static void return_members(iparser *p, slicec_operation *op, sc_vec *outs,
                           slicec_member *ret) {
  if (ret) {
    const char *name = "returnValue";
    for (bool clash = true; clash;) {
      clash = false;
      for (size_t i = 0; i < outs->n; i++)
        clash |= strcmp(((slicec_member *)outs->items[i])->name, name) == 0;
      if (clash)
        name = sc_printf(&p->k.c->arena, "%s_", name);
    }
    ret->name = name;
    sc_vec_push(&p->k.c->arena, outs, ret);
  }
  if (outs->n == 1)
    ((slicec_member *)outs->items[0])->name = "returnValue";
  op->returns_tuple = outs->n > 1;
  op->returns.items = freeze_members(p, outs);
  op->returns.n = outs->n;
}

/* Operation = prelude ["idempotent"] ("void" | [optional(n)] Type) name
 *             "(" [param {"," param}] ")" ["throws" Scoped {"," Scoped}] ";"
 * Starts after the prelude. */
static slicec_operation *operation(iparser *p, prelude *pr,
                                   const slicec_def *iface) {
  slicec_operation *op = sc_alloc(&p->k.c->arena, sizeof(*op));
  if (!op)
    return NULL;
  if (sc_at_word(&p->k, "idempotent")) {
    sc_next(&p->k);
    op->idempotent = true;
  }
  slicec_member *ret = NULL;
  if (sc_at_word(&p->k, "void")) {
    sc_next(&p->k);
  } else {
    ret = sc_alloc(&p->k.c->arena, sizeof(*ret));
    if (!ret)
      return NULL;
    ret->loc = sc_loc_of(&p->k, sc_peek(&p->k));
    if (sc_at_word(&p->k, "optional") && !optional_tag(p, ret))
      return NULL;
    if (!(ret->type = type_ref(p)))
      return NULL;
    if (ret->tagged)
      ((slicec_type_ref *)ret->type)->optional = true;
  }
  const sc_tok *name = expect_name(p);
  if (!name || !expect(p, T_LPAREN, "'('"))
    return NULL;
  op->name = name->text;
  op->loc = sc_loc_of(&p->k, name);
  op->iface = iface;
  op->attrs = sc_freeze_attrs(p->k.c, &pr->attrs);
  op->doc = pr->doc;
  sc_vec ins = {0}, outs = {0};
  while (!sc_at(&p->k, T_RPAREN)) {
    bool out;
    slicec_member *m = param(p, &out);
    if (!m)
      return NULL;
    if (!out && outs.n) {
      sc_error(p->k.c, m->loc, "E002",
               "invalid syntax: in parameter '%s' follows an out parameter: "
               "out parameters must come last",
               m->name);
    }
    sc_vec_push(&p->k.c->arena, out ? &outs : &ins, m);
    if (sc_at(&p->k, T_COMMA))
      sc_next(&p->k);
    else if (!sc_at(&p->k, T_RPAREN)) {
      unexpected(p, "',' or ')'");
      return NULL;
    }
  }
  sc_next(&p->k); /* ) */
  op->params.items = freeze_members(p, &ins);
  op->params.n = ins.n;
  return_members(p, op, &outs, ret);
  if (sc_at_word(&p->k, "throws")) {
    sc_next(&p->k);
    sc_vec refs = {0};
    do {
      if (sc_at(&p->k, T_COMMA))
        sc_next(&p->k);
      slicec_type_ref *r = sc_alloc(&p->k.c->arena, sizeof(*r));
      if (!r)
        return NULL;
      r->loc = sc_loc_of(&p->k, sc_peek(&p->k));
      r->kind = SLICEC_TYPE_DEFINED;
      if (!(r->spelled = scoped(p, NULL)))
        return NULL;
      sc_vec_push(&p->k.c->arena, &refs, queue_ref(p, r, SC_REF_THROWS));
    } while (sc_at(&p->k, T_COMMA));
    const slicec_def **arr =
        sc_alloc(&p->k.c->arena, (refs.n ? refs.n : 1) * sizeof(*arr));
    if (!arr)
      return NULL;
    for (size_t i = 0; i < refs.n; i++)
      if (refs.items[i])
        ((sc_ref *)refs.items[i])->out = &arr[i];
    op->throws = arr;
    op->nthrows = refs.n;
  }
  if (!expect(p, T_SEMI, "';'"))
    return NULL;
  return op;
}

/* A base list: Scoped {"," Scoped}; `Object` (every interface's base) is
 * left out. */
static bool bases(iparser *p, sc_ref_role role, sc_vec *out) {
  do {
    if (sc_at(&p->k, T_COMMA))
      sc_next(&p->k);
    if (sc_at_word(&p->k, "Object")) {
      sc_next(&p->k);
      continue;
    }
    slicec_type_ref *r = sc_alloc(&p->k.c->arena, sizeof(*r));
    if (!r)
      return false;
    r->loc = sc_loc_of(&p->k, sc_peek(&p->k));
    r->kind = SLICEC_TYPE_DEFINED;
    if (!(r->spelled = scoped(p, NULL)))
      return false;
    sc_ref *q = queue_ref(p, r, role);
    if (q)
      sc_vec_push(&p->k.c->arena, out, q);
  } while (sc_at(&p->k, T_COMMA));
  return true;
}

static sc_def *def_interface(iparser *p, prelude *pr) {
  sc_next(&p->k); /* interface */
  const sc_tok *name = expect_name(p);
  if (!name)
    return NULL;
  if (sc_at(&p->k, T_SEMI)) { /* a forward declaration */
    sc_next(&p->k);
    p->def_name = name;
    return NULL;
  }
  sc_def *d = new_def(p, SLICEC_DEF_INTERFACE, pr, name);
  sc_vec refs = {0};
  if (sc_at_word(&p->k, "extends")) {
    sc_next(&p->k);
    if (!bases(p, SC_REF_IFACE_BASE, &refs))
      return NULL;
  }
  if (!expect(p, T_LBRACE, "'{'"))
    return NULL;
  sc_vec ops = {0};
  while (!sc_at(&p->k, T_RBRACE)) {
    if (sc_at(&p->k, T_EOF)) {
      unexpected(p, "'}'");
      return NULL;
    }
    prelude opr;
    parse_prelude(p, &opr);
    if (p->k.failed)
      return NULL;
    slicec_operation *op = operation(p, &opr, d ? &d->pub : NULL);
    if (!op)
      return NULL;
    sc_vec_push(&p->k.c->arena, &ops, op);
  }
  sc_next(&p->k);
  end_braces(p);
  if (!d)
    return NULL;
  slicec_interface_def *in = &d->pub.u.iface;
  const slicec_def **arr =
      sc_alloc(&p->k.c->arena, (refs.n ? refs.n : 1) * sizeof(*arr));
  if (!arr)
    return NULL;
  for (size_t i = 0; i < refs.n; i++)
    ((sc_ref *)refs.items[i])->out = &arr[i];
  in->bases = arr;
  in->nbases = refs.n;
  in->ops = (const slicec_operation *const *)ops.items;
  in->nops = ops.n;
  /* `["format:sliced"]` on an interface is for each of its operations. */
  const slicec_attr *fmt = slicec_attr_find(d->pub.attrs, "slicedFormat");
  if (fmt) {
    sc_vec keep = {0};
    for (size_t i = 0; i < d->pub.attrs.n; i++)
      if (d->pub.attrs.items[i] != fmt)
        sc_vec_push(&p->k.c->arena, &keep, (void *)d->pub.attrs.items[i]);
    d->pub.attrs = sc_freeze_attrs(p->k.c, &keep);
    for (size_t i = 0; i < ops.n; i++) {
      slicec_operation *op = ops.items[i];
      if (slicec_attr_find(op->attrs, "slicedFormat"))
        continue;
      sc_vec a = {0};
      for (size_t k = 0; k < op->attrs.n; k++)
        sc_vec_push(&p->k.c->arena, &a, (void *)op->attrs.items[k]);
      sc_vec_push(&p->k.c->arena, &a, (void *)fmt);
      op->attrs = sc_freeze_attrs(p->k.c, &a);
    }
  }
  /* The proxy type, `custom NameProxy`, right after the interface. */
  sc_tok pt = *name;
  pt.text = sc_printf(&p->k.c->arena, "%sProxy", name->text);
  if (!pt.text)
    return d;
  add_def(p, d);
  sc_def *px = new_def(p, SLICEC_DEF_CUSTOM, NULL, &pt);
  d->proxy = px;
  add_def(p, px);
  return NULL; /* both added */
}

/* A class: read whole (operations too), kept with its fields so that names
 * resolve; the checker reports classes in source files. */
static sc_def *def_class(iparser *p, prelude *pr) {
  sc_next(&p->k); /* class */
  const sc_tok *name = expect_name(p);
  if (!name)
    return NULL;
  if (sc_at(&p->k, T_SEMI)) {
    sc_next(&p->k);
    p->def_name = name;
    return NULL;
  }
  sc_def *d = new_def(p, SLICEC_DEF_CLASS, pr, name);
  if (sc_at(&p->k, T_LPAREN)) {
    sc_next(&p->k);
    if (!sc_at(&p->k, T_INT)) {
      unexpected(p, "a compact ID");
      return NULL;
    }
    const sc_tok *t = sc_next(&p->k);
    if (!expect(p, T_RPAREN, "')'"))
      return NULL;
    unsigned long long v = strtoull(t->text, NULL, 0);
    if (v > INT32_MAX)
      sc_error(p->k.c, sc_loc_of(&p->k, t), "E105",
               "compact IDs must be within the range 0 <= ID <= 2147483647");
    else if (d) {
      d->pub.u.cls.has_compact_id = true;
      d->pub.u.cls.compact_id = (int32_t)v;
    }
  }
  if (sc_at_word(&p->k, "extends")) {
    sc_next(&p->k);
    sc_vec refs = {0};
    if (!bases(p, SC_REF_CLASS_BASE, &refs))
      return NULL;
    if (refs.n > 1)
      sc_error(p->k.c, d ? d->pub.loc : sc_loc_of(&p->k, name), "E002",
               "invalid syntax: a class extends at most one class");
    if (refs.n && d)
      ((sc_ref *)refs.items[0])->out = &d->pub.u.cls.base;
  }
  if (sc_at_word(&p->k, "implements")) {
    sc_next(&p->k);
    p->local++; /* interfaces a class implements: not modelled */
    sc_vec refs = {0};
    bool ok = bases(p, SC_REF_IFACE_BASE, &refs);
    p->local--;
    if (!ok)
      return NULL;
  }
  if (!expect(p, T_LBRACE, "'{'"))
    return NULL;
  sc_vec fields = {0};
  while (!sc_at(&p->k, T_RBRACE)) {
    if (sc_at(&p->k, T_EOF)) {
      unexpected(p, "'}'");
      return NULL;
    }
    /* An operation has '(' after its name. */
    size_t k = p->k.i;
    bool is_op = false;
    for (; k < p->k.n && p->k.t[k].kind != T_SEMI &&
           p->k.t[k].kind != T_RBRACE && p->k.t[k].kind != T_EOF;
         k++)
      if (p->k.t[k].kind == T_LPAREN && k > 0 &&
          p->k.t[k - 1].kind == T_IDENT &&
          !sc_tok_word(&p->k.t[k - 1], "optional")) {
        is_op = true;
        break;
      }
    if (is_op) {
      prelude opr;
      parse_prelude(p, &opr);
      p->local++;
      slicec_operation *op = operation(p, &opr, NULL);
      p->local--;
      if (!op)
        return NULL;
    } else {
      slicec_member *m = data_member(p, fields.n, false);
      if (!m)
        return NULL;
      sc_vec_push(&p->k.c->arena, &fields, m);
    }
  }
  sc_next(&p->k);
  end_braces(p);
  if (!d)
    return NULL;
  d->pub.u.cls.fields.items = (const slicec_member *const *)fields.items;
  d->pub.u.cls.fields.n = fields.n;
  return d;
}

static bool starts_definition(const sc_tok *t) {
  static const char *const w[] = {
      "module", "interface", "class",      "exception", "struct",
      "enum",   "sequence",  "dictionary", "const",     "local"};
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
    if (sc_tok_word(t, w[i]))
      return true;
  return false;
}

/* After an error: skip to the end of the definition that started at
 * `start` (its ';' or its closing brace), or to the '}' that closes the
 * enclosing module. */
static void recover(iparser *p, size_t start) {
  int depth = 0;
  for (size_t i = start; i < p->k.i; i++) {
    if (p->k.t[i].kind == T_LBRACE)
      depth++;
    else if (p->k.t[i].kind == T_RBRACE)
      depth--;
  }
  if (p->k.i == start && !sc_at(&p->k, T_RBRACE))
    sc_next(&p->k);
  while (!sc_at(&p->k, T_EOF)) {
    if (sc_at(&p->k, T_SEMI) && depth <= 0) {
      sc_next(&p->k);
      return;
    }
    if (sc_at(&p->k, T_LBRACE)) {
      depth++;
    } else if (sc_at(&p->k, T_RBRACE)) {
      if (depth <= 0)
        return;
      if (--depth == 0) {
        sc_next(&p->k);
        if (sc_at(&p->k, T_SEMI))
          sc_next(&p->k);
        return;
      }
    } else if (depth <= 0 && starts_definition(sc_peek(&p->k)) &&
               p->k.i > start) {
      return;
    }
    sc_next(&p->k);
  }
}

static void definitions(iparser *p, bool top);

static void def_module(iparser *p, prelude *pr) {
  const sc_tok *kw = sc_next(&p->k); /* module */
  const sc_tok *first = NULL;
  const char *name = scoped(p, &first);
  if (!name)
    return;
  if (name[0] == ':') {
    sc_syntax(&p->k, first, "%s", "a module name cannot start with '::'");
    return;
  }
  if (!expect(p, T_LBRACE, "'{'"))
    return;
  if (p->depth >= MAX_MODULE_DEPTH) {
    sc_syntax(&p->k, kw, "modules nested more than %s levels deep", "100");
    return;
  }
  slicec_module *m = sc_alloc(&p->k.c->arena, sizeof(*m));
  if (!m)
    return;
  m->scoped_name =
      *p->scope ? sc_printf(&p->k.c->arena, "%s::%s", p->scope, name) : name;
  m->attrs = sc_freeze_attrs(p->k.c, &pr->attrs);
  m->loc = sc_loc_of(&p->k, kw);
  if (!m->scoped_name)
    return;
  sc_vec_push(&p->k.c->arena, &p->k.f->modules, m);
  const slicec_module *outer = p->module;
  const char *outer_scope = p->scope;
  p->module = m;
  p->scope = m->scoped_name;
  p->depth++;
  definitions(p, false);
  p->depth--;
  p->module = outer;
  p->scope = outer_scope;
  if (sc_at(&p->k, T_RBRACE)) {
    sc_next(&p->k);
    end_braces(p);
  } else {
    unexpected(p, "'}'");
  }
}

/* One definition, its prelude included. */
static void definition(iparser *p, bool top) {
  size_t start = p->k.i;
  p->k.failed = false;
  prelude pr;
  parse_prelude(p, &pr);
  bool local = false;
  const sc_tok *kw = sc_peek(&p->k);
  if (!p->k.failed && sc_at_word(&p->k, "local")) {
    sc_next(&p->k);
    local = true;
    kw = sc_peek(&p->k);
  }
  if (p->k.failed) {
    recover(p, start);
    return;
  }
  if (sc_tok_word(kw, "module")) {
    if (local)
      sc_syntax(&p->k, kw, "%s", "a module cannot be local");
    else
      def_module(p, &pr);
    if (p->k.failed)
      recover(p, start);
    return;
  }
  if (top && starts_definition(kw)) {
    sc_syntax(&p->k, kw, "'%s' definitions must be inside a module", kw->text);
    recover(p, start);
    return;
  }
  if (local)
    p->local++;
  p->def_name = NULL;
  sc_def *d = NULL;
  if (sc_tok_word(kw, "interface"))
    d = def_interface(p, &pr);
  else if (sc_tok_word(kw, "class"))
    d = def_class(p, &pr);
  else if (sc_tok_word(kw, "exception"))
    d = def_exception(p, &pr);
  else if (sc_tok_word(kw, "struct"))
    d = def_struct(p, &pr);
  else if (sc_tok_word(kw, "enum"))
    d = def_enum(p, &pr);
  else if (sc_tok_word(kw, "sequence"))
    d = def_sequence_or_dictionary(p, &pr, true);
  else if (sc_tok_word(kw, "dictionary"))
    d = def_sequence_or_dictionary(p, &pr, false);
  else if (sc_tok_word(kw, "const"))
    d = def_const(p, &pr);
  else
    unexpected(p, "a definition (module, interface, exception, struct, "
                  "enum, sequence, dictionary, const)");
  if (local) {
    p->local--;
    /* The name of a local definition, for a clear error on its use. */
    if (p->def_name)
      add_local(p, p->def_name);
  }
  if (p->k.failed) {
    recover(p, start);
    return;
  }
  add_def(p, d);
}

static void definitions(iparser *p, bool top) {
  while (!sc_at(&p->k, T_EOF) && (top || !sc_at(&p->k, T_RBRACE))) {
    if (top && sc_at(&p->k, T_RBRACE)) {
      p->k.failed = false;
      sc_syntax(&p->k, sc_peek(&p->k), "%s", "'}' closes nothing");
      sc_next(&p->k);
      continue;
    }
    if (sc_at(&p->k, T_LLBRACKET)) {
      const sc_tok *t = sc_peek(&p->k);
      p->k.failed = false;
      if (!top || p->k.f->defs.n || p->k.f->modules.n)
        sc_syntax(&p->k, t, "%s",
                  "file metadata '[[...]]' must come before any definition");
      else
        metadata_list(p, &p->k.f->file_attrs, true);
      if (p->k.failed)
        recover(p, p->k.i);
      continue;
    }
    if (sc_at(&p->k, T_SEMI)) { /* a stray ';' */
      sc_next(&p->k);
      continue;
    }
    definition(p, top);
  }
}

void sc_ice_parse(slicec_context *c, sc_file *f, const sc_tok *toks, size_t n) {
  f->pub->mode = SLICEC_MODE_SLICE1;
  f->has_mode = true;
  /* Doc comments are taken from beside the tokens, not parsed as tokens. */
  sc_tok *t = malloc(n * sizeof(*t));
  size_t *orig = malloc(n * sizeof(*orig));
  if (!t || !orig) {
    free(t);
    free(orig);
    sc_oom(c);
    return;
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (toks[i].kind != T_DOC) {
      orig[m] = i;
      t[m++] = toks[i];
    }
  iparser p = {.k = {.c = c, .f = f, .t = t, .n = m},
               .all = toks,
               .orig = orig,
               .scope = ""};
  /* ZeroC's compilers check neither doc comments nor their links, and
   * ZeroC's files link to local definitions, which are not in the model:
   * lints are off in .ice files. */
  slicec_attr *all = sc_alloc(&c->arena, sizeof(*all));
  const char **arg = sc_alloc(&c->arena, sizeof(*arg));
  sc_vec allow = {0};
  if (all && arg) {
    *arg = "All";
    all->directive = "allow";
    all->args = arg;
    all->nargs = 1;
    sc_vec_push(&c->arena, &allow, all);
  }
  f->attrs = sc_freeze_attrs(c, &allow);
  definitions(&p, true);
  f->pub->attrs = sc_freeze_attrs(c, &f->file_attrs);
  f->pub->defs = (const slicec_def *const *)f->defs.items;
  f->pub->ndefs = f->defs.n;
  free(t);
  free(orig);
}
