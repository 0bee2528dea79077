/* irpc-slicec: the recursive-descent parser.
 *
 * One function per grammar rule (docs/internals/SLICEC.md has the grammar).
 * Each file is parsed on its own into the model; names are only recorded
 * (sc_ref) and resolved once every file is parsed.
 *
 * Errors: the first syntax error inside a definition is reported, then the
 * parser skips to the next token that can start a definition outside any
 * braces, and goes on. Checks that need only the text at hand (tag and
 * compact ID ranges, integer literals, return tuple sizes, doc comments on
 * modules and parameters, the file's mode) are made here. */
#include <string.h>

#include "parse_common.h"

typedef struct parser {
  sc_cursor k;
  const slicec_module *module;
  const char *scope; /* the module's scoped name, "" when none */
  slicec_mode mode;
  /* The attributes around the element being parsed: allow(Deprecated) on
   * any of them silences the lint for a deprecated type used inside. */
  const slicec_attr_list *allow_def, *allow_inner;
  int type_depth; /* nesting of Sequence<...> and the like */
} parser;

/* Deeper nesting of generic types is refused rather than risking the
 * stack on hostile input. */
#define MAX_TYPE_DEPTH 100

typedef struct prelude {
  sc_vec docs;  /* const sc_tok* */
  sc_vec attrs; /* slicec_attr* */
  slicec_loc loc;
} prelude;

/* ---- tokens ----------------------------------------------------------------
 */

static const char *tok_name(const sc_tok *t) {
  static char buf[96];
  if (t->kind == T_IDENT)
    snprintf(buf, sizeof(buf), "identifier '%.60s'", t->text);
  else if (t->kind == T_INT)
    snprintf(buf, sizeof(buf), "integer literal '%.60s'", t->text);
  else if (t->kind >= T_MODULE && t->kind < T_LPAREN)
    snprintf(buf, sizeof(buf), "keyword '%s'", sc_tok_describe(t->kind));
  else
    return sc_tok_describe(t->kind);
  return buf;
}

static void unexpected(parser *p, const char *expected) {
  if (p->k.failed)
    return;
  char msg[256];
  snprintf(msg, sizeof(msg), "expected %s, found %s", expected,
           tok_name(sc_peek(&p->k)));
  sc_syntax(&p->k, sc_peek(&p->k), "%s", msg);
}

static bool expect(parser *p, sc_tok_kind k) {
  if (p->k.failed)
    return false;
  if (sc_at(&p->k, k)) {
    sc_next(&p->k);
    return true;
  }
  unexpected(p, sc_tok_describe(k));
  return false;
}

static const sc_tok *expect_ident(parser *p) {
  if (p->k.failed)
    return NULL;
  if (sc_at(&p->k, T_IDENT))
    return sc_next(&p->k);
  unexpected(p, "identifier");
  return NULL;
}

/* ---- integers --------------------------------------------------------------
 */

/* Multiplies the 128-bit value hi:lo by base and adds d; false on overflow
 * past 2^127 - 1. */
static bool mul_add(uint64_t *hi, uint64_t *lo, unsigned base, unsigned d) {
  uint64_t l0 = *lo & 0xffffffffu, l1 = *lo >> 32;
  uint64_t p0 = l0 * base + d;
  uint64_t p1 = l1 * base + (p0 >> 32);
  uint64_t nlo = (p0 & 0xffffffffu) | (p1 << 32);
  uint64_t carry = p1 >> 32;
  if (*hi > (UINT64_MAX - carry) / base)
    return false;
  uint64_t nhi = *hi * base + carry;
  if (nhi >> 63)
    return false;
  *hi = nhi;
  *lo = nlo;
  return true;
}

static bool parse_int_text(parser *p, const sc_tok *t, sc_int *out) {
  memset(out, 0, sizeof(*out));
  char digits[256];
  size_t n = 0;
  for (size_t i = 0; i < t->len && n < sizeof(digits) - 1; i++)
    if (t->text[i] != '_')
      digits[n++] = t->text[i];
  digits[n] = 0;
  unsigned base = 10;
  const char *s = digits;
  if (n > 2 && s[0] == '0' && s[1] == 'x') {
    base = 16;
    s += 2;
  } else if (n > 2 && s[0] == '0' && s[1] == 'b') {
    base = 2;
    s += 2;
  }
  uint64_t hi = 0, lo = 0;
  bool overflow = false;
  for (; *s; s++) {
    unsigned d;
    char ch = *s;
    if (ch >= '0' && ch <= '9')
      d = (unsigned)(ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      d = (unsigned)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F')
      d = (unsigned)(ch - 'A' + 10);
    else
      d = 99;
    if (d >= base) {
      sc_error(p->k.c, sc_loc_of(&p->k, t), "E031",
               "integer literal contains illegal characters for base-%u", base);
      return false;
    }
    if (!overflow && !mul_add(&hi, &lo, base, d))
      overflow = true;
  }
  if (overflow || t->len >= sizeof(digits) - 1) {
    sc_error(p->k.c, sc_loc_of(&p->k, t), "E030",
             "integer literal is outside the parsable range of -2^127 <= i "
             "<= 2^127 - 1");
    return false;
  }
  out->big = hi != 0;
  out->mag = lo;
  return true;
}

/* SignedInt = [ "-" ] int_lit. Returns false on a syntax error; *ok tells
 * whether the value itself is usable. */
static bool parse_signed(parser *p, sc_int *v, slicec_loc *loc, bool *ok) {
  const sc_tok *first = sc_peek(&p->k);
  bool neg = false;
  if (sc_at(&p->k, T_MINUS)) {
    sc_next(&p->k);
    neg = true;
  }
  if (!sc_at(&p->k, T_INT)) {
    unexpected(p, "integer literal");
    return false;
  }
  const sc_tok *t = sc_next(&p->k);
  *loc = sc_loc_of(&p->k, first);
  *ok = parse_int_text(p, t, v);
  v->negative = neg && (v->mag || v->big);
  return true;
}

/* Whether v is within [0, 2^31 - 1]. */
static bool in_i32_range(const sc_int *v) {
  return !v->negative && !v->big && v->mag <= INT32_MAX;
}

/* ---- attributes and preludes
 * --------------------------------------------------- */

static const char *scoped_name(parser *p, const sc_tok **first) {
  const sc_tok *t = expect_ident(p);
  if (!t)
    return NULL;
  if (first)
    *first = t;
  if (!sc_at(&p->k, T_DCOLON))
    return t->text;
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s", t->text);
  while (sc_at(&p->k, T_DCOLON)) {
    sc_next(&p->k);
    const sc_tok *s = expect_ident(p);
    if (!s)
      return NULL;
    size_t l = strlen(buf);
    snprintf(buf + l, sizeof(buf) - l, "::%s", s->text);
  }
  return sc_strdup(&p->k.c->arena, buf);
}

/* Attribute = ScopedName [ "(" [ AttrArg { "," AttrArg } [","] ] ")" ] */
static slicec_attr *attribute(parser *p) {
  const sc_tok *first = NULL;
  const char *name = scoped_name(p, &first);
  if (!name)
    return NULL;
  slicec_attr *a = sc_alloc(&p->k.c->arena, sizeof(*a));
  if (!a)
    return NULL;
  a->directive = name;
  a->loc = sc_loc_of(&p->k, first);
  if (sc_at(&p->k, T_LPAREN)) {
    sc_next(&p->k);
    sc_vec args = {0};
    while (!sc_at(&p->k, T_RPAREN)) {
      if (sc_at(&p->k, T_STRING) || sc_at(&p->k, T_IDENT)) {
        sc_vec_push(&p->k.c->arena, &args, (void *)sc_next(&p->k)->text);
      } else {
        unexpected(p, "string literal or identifier");
        return NULL;
      }
      if (sc_at(&p->k, T_COMMA))
        sc_next(&p->k);
      else if (!sc_at(&p->k, T_RPAREN)) {
        unexpected(p, "',' or ')'");
        return NULL;
      }
    }
    sc_next(&p->k);
    a->args = (const char *const *)args.items;
    a->nargs = args.n;
  }
  return a;
}

static slicec_attr *local_attr(parser *p) {
  sc_next(&p->k); /* [ */
  slicec_attr *a = attribute(p);
  if (!a || !expect(p, T_RBRACKET))
    return NULL;
  return a;
}

static void parse_prelude(parser *p, prelude *pr) {
  memset(pr, 0, sizeof(*pr));
  pr->loc = sc_loc_of(&p->k, sc_peek(&p->k));
  for (;;) {
    if (sc_at(&p->k, T_DOC)) {
      sc_vec_push(&p->k.c->arena, &pr->docs, (void *)sc_next(&p->k));
    } else if (sc_at(&p->k, T_LBRACKET)) {
      slicec_attr *a = local_attr(p);
      if (!a)
        return;
      sc_vec_push(&p->k.c->arena, &pr->attrs, a);
    } else {
      return;
    }
  }
}

static const slicec_doc *prelude_doc(parser *p, prelude *pr) {
  if (!pr->docs.n)
    return NULL;
  return sc_doc_parse(p->k.c, p->k.f, (const sc_tok *const *)pr->docs.items,
                      pr->docs.n);
}

/* ---- type references
 * --------------------------------------------------------- */

static void queue_ref(parser *p, slicec_type_ref *r, sc_ref_role role,
                      const slicec_def **out) {
  sc_ref *q = sc_alloc(&p->k.c->arena, sizeof(*q));
  if (!q)
    return;
  q->ref = r;
  q->role = role;
  q->scope = p->scope;
  q->file = p->k.f;
  q->out = out;
  q->allow[0] = p->allow_inner;
  q->allow[1] = p->allow_def;
  q->allow[2] = &p->k.f->attrs;
  sc_vec_push(&p->k.c->arena, &p->k.c->refs, q);
}

static slicec_type_ref *type_ref(parser *p);

static bool primitive_of(sc_tok_kind k, slicec_primitive *out) {
  static const struct {
    sc_tok_kind k;
    slicec_primitive p;
  } map[] = {{T_BOOL, SLICEC_BOOL},           {T_INT8, SLICEC_INT8},
             {T_UINT8, SLICEC_UINT8},         {T_INT16, SLICEC_INT16},
             {T_UINT16, SLICEC_UINT16},       {T_INT32, SLICEC_INT32},
             {T_UINT32, SLICEC_UINT32},       {T_VARINT32, SLICEC_VARINT32},
             {T_VARUINT32, SLICEC_VARUINT32}, {T_INT64, SLICEC_INT64},
             {T_UINT64, SLICEC_UINT64},       {T_VARINT62, SLICEC_VARINT62},
             {T_VARUINT62, SLICEC_VARUINT62}, {T_FLOAT32, SLICEC_FLOAT32},
             {T_FLOAT64, SLICEC_FLOAT64},     {T_STRING_KW, SLICEC_STRING}};
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (map[i].k == k) {
      *out = map[i].p;
      return true;
    }
  return false;
}

static slicec_type_ref *type_ref_body(parser *p);

/* TypeRef = { LocalAttr } TypeBody [ "?" ] */
static slicec_type_ref *type_ref(parser *p) {
  if (p->type_depth >= MAX_TYPE_DEPTH) {
    sc_syntax(&p->k, sc_peek(&p->k), "%s", "types are nested too deeply");
    return NULL;
  }
  p->type_depth++;
  slicec_type_ref *r = type_ref_body(p);
  p->type_depth--;
  return r;
}

static slicec_type_ref *type_ref_body(parser *p) {
  slicec_type_ref *r = sc_alloc(&p->k.c->arena, sizeof(*r));
  if (!r)
    return NULL;
  sc_vec attrs = {0};
  while (sc_at(&p->k, T_LBRACKET)) {
    slicec_attr *a = local_attr(p);
    if (!a)
      return NULL;
    sc_vec_push(&p->k.c->arena, &attrs, a);
  }
  r->attrs = sc_freeze_attrs(p->k.c, &attrs);
  const sc_tok *t = sc_peek(&p->k);
  r->loc = sc_loc_of(&p->k, t);
  if (primitive_of(t->kind, &r->primitive)) {
    sc_next(&p->k);
    r->kind = SLICEC_TYPE_PRIMITIVE;
  } else if (sc_at_word(&p->k, "AnyClass")) {
    sc_next(&p->k);
    r->kind = SLICEC_TYPE_PRIMITIVE;
    r->primitive = SLICEC_ANYCLASS;
  } else if (t->kind == T_SEQUENCE) {
    sc_next(&p->k);
    r->kind = SLICEC_TYPE_SEQUENCE;
    if (!expect(p, T_LT) || !(r->element = type_ref(p)) || !expect(p, T_GT))
      return NULL;
  } else if (t->kind == T_DICTIONARY || t->kind == T_RESULT) {
    sc_next(&p->k);
    slicec_type_ref *a, *b;
    if (!expect(p, T_LT) || !(a = type_ref(p)) || !expect(p, T_COMMA) ||
        !(b = type_ref(p)) || !expect(p, T_GT))
      return NULL;
    if (t->kind == T_DICTIONARY) {
      r->kind = SLICEC_TYPE_DICTIONARY;
      r->key = a;
      r->value = b;
    } else {
      r->kind = SLICEC_TYPE_RESULT;
      r->success = a;
      r->failure = b;
    }
  } else if (t->kind == T_IDENT || t->kind == T_DCOLON) {
    bool global = t->kind == T_DCOLON;
    if (global)
      sc_next(&p->k);
    const char *name = scoped_name(p, NULL);
    if (!name)
      return NULL;
    r->kind = SLICEC_TYPE_DEFINED;
    r->spelled = global ? sc_printf(&p->k.c->arena, "::%s", name) : name;
    queue_ref(p, r, SC_REF_TYPE, NULL);
  } else {
    unexpected(p, "a type");
    return NULL;
  }
  if (sc_at(&p->k, T_QUESTION)) {
    sc_next(&p->k);
    r->optional = true;
  }
  return r;
}

/* ---- members
 * ------------------------------------------------------------------------ */

/* Tag = "tag" "(" SignedInt ")" */
static bool tag(parser *p, slicec_member *m) {
  sc_next(&p->k); /* tag */
  if (!expect(p, T_LPAREN))
    return false;
  sc_int v;
  slicec_loc loc;
  bool ok;
  if (!parse_signed(p, &v, &loc, &ok) || !expect(p, T_RPAREN))
    return false;
  m->tagged = true;
  if (ok && !in_i32_range(&v))
    sc_error(p->k.c, loc, "E021",
             "tag values must be within the range 0 <= value <= 2147483647");
  else if (ok)
    m->tag = (int32_t)v.mag;
  return true;
}

/* Field = Prelude [ Tag ] ident ":" TypeRef; with `param`, a Param with an
 * optional `stream` before the type, and no doc comment allowed. */
static slicec_member *member(parser *p, bool param, size_t index) {
  prelude pr;
  parse_prelude(p, &pr);
  if (p->k.failed)
    return NULL;
  slicec_member *m = sc_alloc(&p->k.c->arena, sizeof(*m));
  if (!m)
    return NULL;
  m->index = index;
  m->attrs = sc_freeze_attrs(p->k.c, &pr.attrs);
  const slicec_attr_list *outer = p->allow_inner;
  if (!outer)
    p->allow_inner = &m->attrs;
  if (param && pr.docs.n) {
    const sc_tok *d = pr.docs.items[0];
    sc_error(p->k.c, sc_loc_of(&p->k, d), "E002",
             "invalid syntax: doc comments cannot be applied to parameters; "
             "use '@param' on the operation instead");
  } else {
    m->doc = prelude_doc(p, &pr);
  }
  if (sc_at(&p->k, T_TAG) && !tag(p, m))
    return NULL;
  const sc_tok *name = expect_ident(p);
  if (!name || !expect(p, T_COLON))
    return NULL;
  m->name = name->text;
  m->loc = sc_loc_of(&p->k, name);
  if (param && sc_at(&p->k, T_STREAM)) {
    sc_next(&p->k);
    m->stream = true;
  }
  m->type = type_ref(p);
  p->allow_inner = outer;
  return m->type ? m : NULL;
}

/* { Member [","] } until `close`. */
static bool member_list(parser *p, bool param, sc_tok_kind close,
                        slicec_member_list *out) {
  sc_vec v = {0};
  while (!sc_at(&p->k, close)) {
    if (sc_at(&p->k, T_EOF)) {
      unexpected(p, sc_tok_describe(close));
      return false;
    }
    slicec_member *m = member(p, param, v.n);
    if (!m)
      return false;
    sc_vec_push(&p->k.c->arena, &v, m);
    if (sc_at(&p->k, T_COMMA))
      sc_next(&p->k);
  }
  sc_next(&p->k);
  out->items = (const slicec_member *const *)v.items;
  out->n = v.n;
  return true;
}

/* ---- definitions
 * -------------------------------------------------------------------- */

static sc_def *new_def(parser *p, slicec_def_kind kind, prelude *pr,
                       const sc_tok *name) {
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
  pub->attrs = sc_freeze_attrs(p->k.c, &pr->attrs);
  pub->doc = prelude_doc(p, pr);
  pub->loc = sc_loc_of(&p->k, name);
  p->allow_def = &pub->attrs;
  p->allow_inner = NULL;
  return d;
}

static sc_def *def_struct(parser *p, prelude *pr, bool compact) {
  sc_next(&p->k); /* struct */
  const sc_tok *name = expect_ident(p);
  if (!name || !expect(p, T_LBRACE))
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_STRUCT, pr, name);
  if (!d)
    return NULL;
  d->pub.u.st.compact = compact;
  if (!member_list(p, false, T_RBRACE, &d->pub.u.st.fields))
    return NULL;
  return d;
}

static sc_enumerator *enumerator(parser *p, size_t index, sc_int *prev,
                                 bool *have_prev) {
  prelude pr;
  parse_prelude(p, &pr);
  const sc_tok *name = expect_ident(p);
  if (!name)
    return NULL;
  sc_enumerator *e = sc_alloc(&p->k.c->arena, sizeof(*e));
  if (!e)
    return NULL;
  slicec_enumerator *pub = &e->pub;
  pub->name = name->text;
  pub->index = index;
  pub->attrs = sc_freeze_attrs(p->k.c, &pr.attrs);
  pub->doc = prelude_doc(p, &pr);
  pub->loc = sc_loc_of(&p->k, name);
  e->value_loc = pub->loc;
  p->allow_inner = &pub->attrs;
  if (sc_at(&p->k, T_LPAREN)) {
    sc_next(&p->k);
    pub->has_fields = true;
    if (!member_list(p, false, T_RPAREN, &pub->fields))
      return NULL;
  }
  if (sc_at(&p->k, T_EQ)) {
    sc_next(&p->k);
    bool ok;
    if (!parse_signed(p, &e->v, &e->value_loc, &ok))
      return NULL;
    pub->explicit_value = true;
    if (!ok) /* already reported; count on from 0 */
      memset(&e->v, 0, sizeof(e->v));
  } else if (*have_prev) {
    /* The previous value plus one. */
    e->v = *prev;
    if (e->v.negative) {
      e->v.mag--;
      if (e->v.mag == 0)
        e->v.negative = false;
    } else if (e->v.mag == UINT64_MAX) {
      e->v.mag = 0;
      e->v.big = true;
    } else if (!e->v.big) {
      e->v.mag++;
    }
  }
  *prev = e->v;
  *have_prev = true;
  p->allow_inner = NULL;
  pub->value = e->v.negative ? (int64_t)(0 - e->v.mag) : (int64_t)e->v.mag;
  return e;
}

static sc_def *def_enum(parser *p, prelude *pr, bool compact, bool unchecked) {
  sc_next(&p->k); /* enum */
  const sc_tok *name = expect_ident(p);
  if (!name)
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_ENUM, pr, name);
  if (!d)
    return NULL;
  slicec_enum_def *en = &d->pub.u.en;
  en->compact = compact;
  en->unchecked = unchecked;
  if (sc_at(&p->k, T_COLON)) {
    sc_next(&p->k);
    if (!(en->underlying = type_ref(p)))
      return NULL;
  }
  if (!expect(p, T_LBRACE))
    return NULL;
  sc_vec v = {0};
  sc_int prev = {0};
  bool have_prev = false;
  while (!sc_at(&p->k, T_RBRACE)) {
    if (sc_at(&p->k, T_EOF)) {
      unexpected(p, "'}'");
      return NULL;
    }
    sc_enumerator *e = enumerator(p, v.n, &prev, &have_prev);
    if (!e)
      return NULL;
    sc_vec_push(&p->k.c->arena, &v, e);
    if (sc_at(&p->k, T_COMMA))
      sc_next(&p->k);
  }
  sc_next(&p->k);
  en->enumerators = (const slicec_enumerator *const *)v.items;
  en->nenumerators = v.n;
  return d;
}

static sc_def *def_custom(parser *p, prelude *pr) {
  sc_next(&p->k);
  const sc_tok *name = expect_ident(p);
  return name ? new_def(p, SLICEC_DEF_CUSTOM, pr, name) : NULL;
}

static sc_def *def_alias(parser *p, prelude *pr) {
  sc_next(&p->k);
  const sc_tok *name = expect_ident(p);
  if (!name || !expect(p, T_EQ))
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_ALIAS, pr, name);
  if (!d || !(d->pub.u.alias.type = type_ref(p)))
    return NULL;
  return d;
}

/* A base or throws entry: a TypeRef that must name a definition of one
 * kind. Returns false on a syntax error; *out is the queued name, or NULL
 * for a built-in type (reported here). */
static bool def_ref(parser *p, sc_ref_role role, sc_ref **out) {
  size_t before = p->k.c->refs.n;
  *out = NULL;
  slicec_type_ref *r = type_ref(p);
  if (!r)
    return false;
  if (r->kind == SLICEC_TYPE_DEFINED && p->k.c->refs.n > before) {
    sc_ref *q = p->k.c->refs.items[p->k.c->refs.n - 1];
    q->role = role;
    *out = q;
  } else {
    const char *what = role == SC_REF_IFACE_BASE   ? "an interface"
                       : role == SC_REF_CLASS_BASE ? "a class"
                                                   : "an exception";
    sc_error(p->k.c, r->loc, "E017",
             "type mismatch: expected %s but found a built-in type", what);
  }
  return true;
}

/* The resolved definitions of a list of def_ref names: an array the
 * resolver fills in. */
static const slicec_def *const *def_slots(parser *p, sc_vec *refs) {
  const slicec_def **arr =
      sc_alloc(&p->k.c->arena, (refs->n ? refs->n : 1) * sizeof(*arr));
  if (!arr)
    return NULL;
  for (size_t i = 0; i < refs->n; i++) {
    sc_ref *q = refs->items[i];
    if (q)
      q->out = &arr[i];
  }
  return arr;
}

static bool returns(parser *p, slicec_operation *op) {
  const sc_tok *arrow = sc_next(&p->k); /* -> */
  (void)arrow;
  if (sc_at(&p->k, T_LPAREN)) {
    const sc_tok *open = sc_next(&p->k);
    if (!member_list(p, true, T_RPAREN, &op->returns))
      return false;
    op->returns_tuple = true;
    if (op->returns.n < 2)
      sc_error(p->k.c, sc_loc_of(&p->k, open), "E014",
               "return tuples must have at least 2 elements");
    return true;
  }
  slicec_member *m = sc_alloc(&p->k.c->arena, sizeof(*m));
  if (!m)
    return false;
  m->name = "returnValue";
  m->loc = sc_loc_of(&p->k, sc_peek(&p->k));
  if (sc_at(&p->k, T_TAG) && !tag(p, m))
    return false;
  if (sc_at(&p->k, T_STREAM)) {
    sc_next(&p->k);
    m->stream = true;
  }
  if (!(m->type = type_ref(p)))
    return false;
  const slicec_member **one = sc_alloc(&p->k.c->arena, sizeof(*one));
  if (!one)
    return false;
  one[0] = m;
  op->returns.items = one;
  op->returns.n = 1;
  return true;
}

static bool throws_clause(parser *p, slicec_operation *op) {
  const sc_tok *kw = sc_next(&p->k); /* throws */
  if (p->mode != SLICEC_MODE_SLICE1)
    sc_error(p->k.c, sc_loc_of(&p->k, kw), "E108",
             "exceptions can only be thrown by operations defined in Slice1 "
             "mode");
  sc_vec v = {0};
  bool list = sc_at(&p->k, T_LPAREN);
  if (list)
    sc_next(&p->k);
  do {
    sc_ref *q;
    if (!def_ref(p, SC_REF_THROWS, &q))
      return false;
    sc_vec_push(&p->k.c->arena, &v, q);
    if (list && sc_at(&p->k, T_COMMA))
      sc_next(&p->k);
  } while (list && !sc_at(&p->k, T_RPAREN) && !sc_at(&p->k, T_EOF));
  if (list && !expect(p, T_RPAREN))
    return false;
  op->throws = def_slots(p, &v);
  op->nthrows = v.n;
  return true;
}

static slicec_operation *operation(parser *p, const slicec_def *iface) {
  prelude pr;
  parse_prelude(p, &pr);
  if (p->k.failed)
    return NULL;
  slicec_operation *op = sc_alloc(&p->k.c->arena, sizeof(*op));
  if (!op)
    return NULL;
  if (sc_at(&p->k, T_IDEMPOTENT)) {
    sc_next(&p->k);
    op->idempotent = true;
  }
  const sc_tok *name = expect_ident(p);
  if (!name || !expect(p, T_LPAREN))
    return NULL;
  op->name = name->text;
  op->loc = sc_loc_of(&p->k, name);
  op->iface = iface;
  op->attrs = sc_freeze_attrs(p->k.c, &pr.attrs);
  p->allow_inner = &op->attrs;
  op->doc = prelude_doc(p, &pr);
  if (!member_list(p, true, T_RPAREN, &op->params))
    return NULL;
  if (sc_at(&p->k, T_ARROW) && !returns(p, op))
    return NULL;
  /* `throws` is a keyword of Slice1 files only; elsewhere it is taken as
   * one when a name follows, since no operation can start that way. */
  if (sc_at_word(&p->k, "throws") &&
      (p->mode == SLICEC_MODE_SLICE1 || sc_peek_at(&p->k, 1)->kind == T_IDENT ||
       sc_peek_at(&p->k, 1)->kind == T_DCOLON) &&
      !throws_clause(p, op))
    return NULL;
  p->allow_inner = NULL;
  return op;
}

static sc_def *def_interface(parser *p, prelude *pr) {
  sc_next(&p->k); /* interface */
  const sc_tok *name = expect_ident(p);
  if (!name)
    return NULL;
  sc_def *d = new_def(p, SLICEC_DEF_INTERFACE, pr, name);
  if (!d)
    return NULL;
  slicec_interface_def *in = &d->pub.u.iface;
  if (sc_at(&p->k, T_COLON)) {
    sc_next(&p->k);
    sc_vec v = {0};
    do {
      sc_ref *q;
      if (!def_ref(p, SC_REF_IFACE_BASE, &q))
        return NULL;
      sc_vec_push(&p->k.c->arena, &v, q);
      if (!sc_at(&p->k, T_COMMA))
        break;
      sc_next(&p->k);
    } while (!sc_at(&p->k, T_LBRACE));
    in->bases = def_slots(p, &v);
    in->nbases = v.n;
  }
  if (!expect(p, T_LBRACE))
    return NULL;
  sc_vec ops = {0};
  while (!sc_at(&p->k, T_RBRACE)) {
    if (sc_at(&p->k, T_EOF)) {
      unexpected(p, "'}'");
      return NULL;
    }
    slicec_operation *op = operation(p, &d->pub);
    if (!op)
      return NULL;
    sc_vec_push(&p->k.c->arena, &ops, op);
  }
  sc_next(&p->k);
  in->ops = (const slicec_operation *const *)ops.items;
  in->nops = ops.n;
  return d;
}

static sc_def *def_class_or_exception(parser *p, prelude *pr, bool is_class) {
  const sc_tok *kw = sc_next(&p->k);
  const sc_tok *name = expect_ident(p);
  if (!name)
    return NULL;
  sc_def *d =
      new_def(p, is_class ? SLICEC_DEF_CLASS : SLICEC_DEF_EXCEPTION, pr, name);
  if (!d)
    return NULL;
  if (p->mode != SLICEC_MODE_SLICE1)
    sc_error(p->k.c, sc_loc_of(&p->k, kw), "E101",
             "%s '%s' cannot be defined in Slice2 mode",
             is_class ? "class" : "exception", name->text);
  const slicec_def **base;
  slicec_member_list *fields;
  if (is_class) {
    base = &d->pub.u.cls.base;
    fields = &d->pub.u.cls.fields;
    if (sc_at(&p->k, T_LPAREN)) {
      sc_next(&p->k);
      sc_int v;
      slicec_loc loc;
      bool ok;
      if (!parse_signed(p, &v, &loc, &ok) || !expect(p, T_RPAREN))
        return NULL;
      d->pub.u.cls.has_compact_id = true;
      if (ok && !in_i32_range(&v))
        sc_error(p->k.c, loc, "E105",
                 "compact IDs must be within the range 0 <= ID <= "
                 "2147483647");
      else if (ok)
        d->pub.u.cls.compact_id = (int32_t)v.mag;
    }
  } else {
    base = &d->pub.u.exc.base;
    fields = &d->pub.u.exc.fields;
  }
  if (sc_at(&p->k, T_COLON)) {
    sc_next(&p->k);
    sc_ref *q;
    if (!def_ref(p, is_class ? SC_REF_CLASS_BASE : SC_REF_EXC_BASE, &q))
      return NULL;
    if (q)
      q->out = base;
  }
  if (!expect(p, T_LBRACE) || !member_list(p, false, T_RBRACE, fields))
    return NULL;
  return d;
}

static bool starts_definition(parser *p) {
  switch (sc_peek(&p->k)->kind) {
  case T_STRUCT:
  case T_ENUM:
  case T_INTERFACE:
  case T_CUSTOM:
  case T_TYPEALIAS:
  case T_COMPACT:
  case T_UNCHECKED:
    return true;
  case T_IDENT:
    return (sc_at_word(&p->k, "class") || sc_at_word(&p->k, "exception")) &&
           sc_peek_at(&p->k, 1)->kind == T_IDENT;
  default:
    return false;
  }
}

static sc_def *definition(parser *p, prelude *pr) {
  bool compact = false, unchecked = false;
  if (sc_at(&p->k, T_COMPACT)) {
    sc_next(&p->k);
    compact = true;
  }
  if (sc_at(&p->k, T_UNCHECKED)) {
    sc_next(&p->k);
    unchecked = true;
  }
  if (sc_at(&p->k, T_ENUM))
    return def_enum(p, pr, compact, unchecked);
  if (unchecked) {
    unexpected(p, "keyword 'enum'");
    return NULL;
  }
  if (sc_at(&p->k, T_STRUCT))
    return def_struct(p, pr, compact);
  if (compact) {
    unexpected(p, "keyword 'struct' or 'enum'");
    return NULL;
  }
  switch (sc_peek(&p->k)->kind) {
  case T_INTERFACE:
    return def_interface(p, pr);
  case T_CUSTOM:
    return def_custom(p, pr);
  case T_TYPEALIAS:
    return def_alias(p, pr);
  default:
    break;
  }
  if (starts_definition(p))
    return def_class_or_exception(p, pr, sc_at_word(&p->k, "class"));
  if (sc_at_word(&p->k, "mode") && sc_peek_at(&p->k, 1)->kind == T_EQ) {
    sc_syntax(&p->k, sc_peek(&p->k), "%s",
              "the compilation mode must come before the module declaration "
              "and every definition");
    return NULL;
  }
  if (sc_at(&p->k, T_MODULE)) {
    sc_syntax(&p->k, sc_peek(&p->k), "%s",
              "a file can only contain one module declaration");
    return NULL;
  }
  unexpected(p, "a definition (struct, enum, interface, custom, typealias)");
  return NULL;
}

/* After an error: skip to the next definition outside any braces. `depth`
 * is the brace depth at the point of the error, counted from the start of
 * the failed definition. */
static void recover(parser *p, size_t start) {
  int depth = 0;
  for (size_t i = start; i < p->k.i; i++) {
    if (p->k.t[i].kind == T_LBRACE)
      depth++;
    else if (p->k.t[i].kind == T_RBRACE)
      depth--;
  }
  /* Always make progress, and never restart at the token that failed. */
  if (p->k.i == start || starts_definition(p))
    sc_next(&p->k);
  while (!sc_at(&p->k, T_EOF)) {
    if (depth <= 0 && starts_definition(p))
      break;
    if (sc_at(&p->k, T_LBRACE))
      depth++;
    else if (sc_at(&p->k, T_RBRACE))
      depth--;
    sc_next(&p->k);
  }
}

/* ---- file
 * -------------------------------------------------------------------------------
 */

static void mode_stmt(parser *p) {
  const sc_tok *kw = sc_next(&p->k); /* mode */
  sc_next(&p->k);                    /* = */
  const sc_tok *v = expect_ident(p);
  if (!v)
    return;
  if (p->k.f->has_mode) {
    sc_error(p->k.c, sc_loc_of(&p->k, kw), "E107",
             "the compilation mode can only be specified once per file");
    return;
  }
  p->k.f->has_mode = true;
  if (strcmp(v->text, "Slice1") == 0)
    p->mode = SLICEC_MODE_SLICE1;
  else if (strcmp(v->text, "Slice2") == 0)
    p->mode = SLICEC_MODE_SLICE2;
  else
    sc_error(p->k.c, sc_loc_of(&p->k, v), "E106",
             "'%s' is not a valid Slice compilation mode", v->text);
}

static void module_decl(parser *p, prelude *pr) {
  const sc_tok *kw = sc_next(&p->k); /* module */
  const char *name = scoped_name(p, NULL);
  if (!name)
    return;
  slicec_module *m = sc_alloc(&p->k.c->arena, sizeof(*m));
  if (!m)
    return;
  m->scoped_name = name;
  m->attrs = sc_freeze_attrs(p->k.c, &pr->attrs);
  m->loc = sc_loc_of(&p->k, kw);
  if (pr->docs.n) {
    const sc_tok *d = pr->docs.items[0];
    sc_error(p->k.c, sc_loc_of(&p->k, d), "E002",
             "invalid syntax: doc comments cannot be applied to modules");
  }
  p->module = m;
  p->scope = name;
  p->k.f->pub->module = m;
}

void sc_parse(slicec_context *c, sc_file *f, const sc_tok *toks, size_t n) {
  parser p = {.k = {.c = c, .f = f, .t = toks, .n = n},
              .scope = "",
              .mode = SLICEC_MODE_SLICE2};
  /* File prelude: file attributes and the mode, in any order. */
  for (;;) {
    if (sc_at(&p.k, T_LLBRACKET)) {
      size_t start = p.k.i;
      sc_next(&p.k);
      slicec_attr *a = attribute(&p);
      if (a && expect(&p, T_RRBRACKET)) {
        sc_vec_push(&c->arena, &f->file_attrs, a);
        continue;
      }
      recover(&p, start);
      p.k.failed = false;
    } else if (sc_at_word(&p.k, "mode") && sc_peek_at(&p.k, 1)->kind == T_EQ) {
      mode_stmt(&p);
      p.k.failed = false;
    } else {
      break;
    }
  }
  f->pub->mode = p.mode;
  f->pub->attrs = sc_freeze_attrs(c, &f->file_attrs);
  f->attrs = f->pub->attrs;

  bool first = true;
  while (!sc_at(&p.k, T_EOF)) {
    size_t start = p.k.i;
    prelude pr;
    p.k.failed = false;
    parse_prelude(&p, &pr);
    if (!p.k.failed && first && sc_at(&p.k, T_MODULE)) {
      module_decl(&p, &pr);
      first = false;
      if (p.k.failed)
        recover(&p, start);
      continue;
    }
    sc_def *d = p.k.failed ? NULL : definition(&p, &pr);
    if (d && first && !p.module)
      sc_error(c, d->pub.loc, "E002",
               "invalid syntax: module declaration is required");
    first = false;
    if (d) {
      d->index = c->all_defs.n;
      sc_vec_push(&c->arena, &f->defs, d);
      sc_vec_push(&c->arena, &c->all_defs, d);
    } else {
      recover(&p, start);
    }
  }
  f->pub->defs = (const slicec_def *const *)f->defs.items;
  f->pub->ndefs = f->defs.n;
}
