/* irpc-slicec: the C code generator (see gen_c.h and
 * docs/internals/SLICE_GEN.md, which this file implements). */
#include "gen_c.h"
#include "gen_c_const.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable strings ---------------------------------------------------- */

typedef struct sb {
  char *p;
  size_t n, cap;
  bool oom;
} sb;

static void sb_putn(sb *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void sb_puts(sb *b, const char *s) {
  sb_putn(b, s, strlen(s));
}

static void sb_vprintf(sb *b, const char *fmt, va_list ap) {
  char tmp[512];
  va_list aq;
  va_copy(aq, ap);
  int n = vsnprintf(tmp, sizeof tmp, fmt, aq);
  va_end(aq);
  if (n < 0) {
    b->oom = true;
    return;
  }
  if ((size_t)n < sizeof tmp) {
    sb_putn(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = true;
    return;
  }
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  sb_putn(b, big, (size_t)n);
  free(big);
}

static void sb_printf(sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(b, fmt, ap);
  va_end(ap);
}

/* One line at indentation level `ind` (2 spaces a level). */
static void out(sb *b, int ind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void out(sb *b, int ind, const char *fmt, ...) {
  for (int i = 0; i < ind; i++)
    sb_puts(b, "  ");
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(b, fmt, ap);
  va_end(ap);
  sb_puts(b, "\n");
}

static void blank(sb *b) {
  sb_puts(b, "\n");
}

/* ---- generator state ----------------------------------------------------- */

enum { MK_DEF, MK_PROXY, MK_IFACE, MK_FWD };

typedef struct mark {
  const void *key;
  int kind;
  int state; /* 1 emitting, 2 emitted */
} mark;

typedef struct inst {
  const slicec_type_ref *t; /* a Sequence, Dictionary or Result use */
  const char *cname;
  int state;     /* 0 pending, 1 emitting, 2 emitted */
  bool deferred; /* type emitted, codecs waiting for the element type */
} inst;

typedef struct gen {
  const slicec_ast *ast;
  const slicec_file *file; /* the file whose names are being spelled */
  const char *mod;         /* C prefix of that file's module */
  const slicec_file *out;  /* the file being generated */
  /* Files whose types and this file's depend on each other (an include
   * cycle), in_cycle[i] for ast->files[i]; NULL when there are none. */
  bool *in_cycle;
  const char *base;
  sb h, c;
  inst *insts;
  size_t ninsts, cinsts;
  mark *marks;
  size_t nmarks, cmarks;
  const slicec_file **incs;
  size_t nincs, cincs;
  char **pool;
  size_t npool, cpool;
  int in_iface;
  const slicec_def *deps_of; /* the interface whose needs are being met */
  bool op_members;           /* naming parameters and return members */
  /* Members being emitted are Slice1's (Ice encoding 1.1): tagged ones in
   * the 1.1 format, no bit sequence, optional proxies as null proxies. */
  bool enc11;
  /* When set, the condition under which tagged members are decoded (an
   * exception slice says whether it has any). */
  const char *tag_guard;
  bool oom;
  slicec_diag_fn fn;
  void *ud;
  size_t errors;
  /* Operations returning a stream, as generated: a copy without the
   * stream member, and that member. */
  struct stream_op *sops;
  size_t nsops, csops;
} gen;

typedef struct stream_op {
  const slicec_operation *orig;
  slicec_operation *copy;
  const slicec_member *param;  /* the stream parameter, or NULL */
  const slicec_member *stream; /* the returned stream, or NULL */
} stream_op;

static void *grow(gen *g, void *arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return arr;
  size_t nc = *cap ? *cap * 2 : 16;
  void *p = realloc(arr, nc * elem);
  if (!p) {
    g->oom = true;
    return NULL;
  }
  *cap = nc;
  return p;
}

/* A formatted string that lives as long as the generator. */
static const char *S(gen *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *S(gen *g, const char *fmt, ...) {
  sb b = {0};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&b, fmt, ap);
  va_end(ap);
  char **pool = grow(g, g->pool, &g->cpool, g->npool, sizeof(char *));
  if (b.oom || !b.p || !pool) {
    free(b.p);
    g->oom = true;
    return "";
  }
  g->pool = pool;
  g->pool[g->npool++] = b.p;
  return b.p;
}

static void diag(gen *g, slicec_loc loc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void diag(gen *g, slicec_loc loc, const char *code, const char *fmt,
                 ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  slicec_diag d = {SLICEC_ERROR, code, msg, loc};
  if (g->fn)
    g->fn(&d, g->ud);
  else
    slicec_format_diag(&d, stderr);
  g->errors++;
}

static mark *mark_find(gen *g, const void *key, int kind) {
  for (size_t i = 0; i < g->nmarks; i++)
    if (g->marks[i].key == key && g->marks[i].kind == kind)
      return &g->marks[i];
  return NULL;
}

static int mark_state(gen *g, const void *key, int kind) {
  mark *m = mark_find(g, key, kind);
  return m ? m->state : 0;
}

static void mark_set(gen *g, const void *key, int kind, int state) {
  mark *m = mark_find(g, key, kind);
  if (m) {
    m->state = state;
    return;
  }
  mark *arr = grow(g, g->marks, &g->cmarks, g->nmarks, sizeof(mark));
  if (!arr)
    return;
  g->marks = arr;
  g->marks[g->nmarks++] = (mark){key, kind, state};
}

static void add_include(gen *g, const slicec_file *f) {
  if (!f || f == g->out)
    return;
  for (size_t i = 0; i < g->nincs; i++)
    if (g->incs[i] == f)
      return;
  const slicec_file **arr =
      grow(g, (void *)g->incs, &g->cincs, g->nincs, sizeof(*arr));
  if (!arr)
    return;
  g->incs = arr;
  g->incs[g->nincs++] = f;
}

/* ---- names --------------------------------------------------------------- */

static const char *const c_keywords[] = {
    "auto",       "break",     "case",           "char",
    "const",      "continue",  "default",        "do",
    "double",     "else",      "enum",           "extern",
    "float",      "for",       "goto",           "if",
    "inline",     "int",       "long",           "register",
    "restrict",   "return",    "short",          "signed",
    "sizeof",     "static",    "struct",         "switch",
    "typedef",    "union",     "unsigned",       "void",
    "volatile",   "while",     "bool",           "true",
    "false",      "NULL",      "_Alignas",       "_Alignof",
    "_Atomic",    "_Bool",     "_Complex",       "_Generic",
    "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
    "asm",        "typeof"};

static bool is_keyword(const char *s) {
  for (size_t i = 0; i < sizeof c_keywords / sizeof c_keywords[0]; i++)
    if (strcmp(s, c_keywords[i]) == 0)
      return true;
  return false;
}

static const char *attr_arg(slicec_attr_list l, const char *directive) {
  const slicec_attr *a = slicec_attr_find(l, directive);
  return a && a->nargs > 0 ? a->args[0] : NULL;
}

static const char *mod_cname(gen *g, const slicec_module *m) {
  if (!m)
    return "";
  const char *id = attr_arg(m->attrs, "c::identifier");
  if (id)
    return id;
  sb b = {0};
  for (const char *s = m->scoped_name; *s; s++) {
    if (s[0] == ':' && s[1] == ':') {
      sb_putn(&b, "_", 1);
      s++;
    } else {
      sb_putn(&b, s, 1);
    }
  }
  const char *r = S(g, "%s", b.p ? b.p : "");
  free(b.p);
  return r;
}

static const char *def_own(const slicec_def *d) {
  const char *id = attr_arg(d->attrs, "c::identifier");
  return id ? id : d->name;
}

static const char *def_cname(gen *g, const slicec_def *d) {
  const char *m = mod_cname(g, d->module);
  return *m ? S(g, "%s_%s", m, def_own(d)) : def_own(d);
}

static const char *upper(gen *g, const char *s) {
  const char *r = S(g, "%s", s);
  for (char *p = (char *)r; *p; p++) {
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
    else if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
      *p = '_';
  }
  return r;
}

/* Names the generated functions of an operation use for themselves (the
 * call, its wrappers for inherited operations, the reply). */
static const char *const call_locals[] = {"proxy", "opts", "cb", "user_data",
                                          "a",     "sd",   "r",  "base"};

static const char *member_cname(gen *g, const slicec_member *m) {
  const char *id = attr_arg(m->attrs, "c::identifier");
  const char *n = id ? id : m->name;
  bool clash = is_keyword(n);
  for (size_t i = 0;
       g->op_members && i < sizeof call_locals / sizeof call_locals[0]; i++)
    clash |= strcmp(n, call_locals[i]) == 0;
  return clash ? S(g, "%s_", n) : n;
}

static const char *op_cname(gen *g, const slicec_operation *op) {
  const char *id = attr_arg(op->attrs, "c::identifier");
  const char *n = id ? id : op->name;
  return is_keyword(n) ? S(g, "%s_", n) : n;
}

/* ---- types --------------------------------------------------------------- */

static const struct prim {
  const char *c;  /* C type */
  const char *up; /* irpc_slice_type suffix */
  unsigned size;  /* fixed wire size; 0 for variable */
  bool is_unsigned;
} prims[] = {
    [SLICEC_BOOL] = {"bool", "BOOL", 1, true},
    [SLICEC_INT8] = {"int8_t", "INT8", 1, false},
    [SLICEC_UINT8] = {"uint8_t", "UINT8", 1, true},
    [SLICEC_INT16] = {"int16_t", "INT16", 2, false},
    [SLICEC_UINT16] = {"uint16_t", "UINT16", 2, true},
    [SLICEC_INT32] = {"int32_t", "INT32", 4, false},
    [SLICEC_UINT32] = {"uint32_t", "UINT32", 4, true},
    [SLICEC_VARINT32] = {"int32_t", "VARINT32", 0, false},
    [SLICEC_VARUINT32] = {"uint32_t", "VARUINT32", 0, true},
    [SLICEC_INT64] = {"int64_t", "INT64", 8, false},
    [SLICEC_UINT64] = {"uint64_t", "UINT64", 8, true},
    [SLICEC_VARINT62] = {"int64_t", "VARINT62", 0, false},
    [SLICEC_VARUINT62] = {"uint64_t", "VARUINT62", 0, true},
    [SLICEC_FLOAT32] = {"float", "FLOAT32", 4, false},
    [SLICEC_FLOAT64] = {"double", "FLOAT64", 8, false},
    [SLICEC_STRING] = {"irpc_str", "", 0, false},
    [SLICEC_ANYCLASS] = {"void *", "", 0, false},
};

enum kind {
  K_PRIM,
  K_STR,
  K_BYTES,
  K_ENUM,
  K_VARIANT,
  K_STRUCT,
  K_CUSTOM,
  K_PROXY,
  K_SEQ,
  K_DICT,
  K_RESULT,
  K_BAD
};

static const slicec_type_ref *ua(const slicec_type_ref *t) {
  return slicec_type_unalias(t);
}

static bool is_alias_use(const slicec_type_ref *t) {
  return t->kind == SLICEC_TYPE_DEFINED && t->def &&
         t->def->kind == SLICEC_DEF_ALIAS;
}

/* The interface `I` of a `custom IProxy`, or NULL. */
static const slicec_def *proxy_iface(gen *g, const slicec_def *custom) {
  size_t n = strlen(custom->scoped_name);
  if (n <= 5 || strcmp(custom->scoped_name + n - 5, "Proxy") != 0)
    return NULL;
  for (size_t i = 0; i < g->ast->nfiles; i++) {
    const slicec_file *f = g->ast->files[i];
    for (size_t j = 0; j < f->ndefs; j++) {
      const slicec_def *d = f->defs[j];
      if (d->kind == SLICEC_DEF_INTERFACE && strlen(d->scoped_name) == n - 5 &&
          strncmp(d->scoped_name, custom->scoped_name, n - 5) == 0)
        return d;
    }
  }
  return NULL;
}

/* A Slice1 enum: no underlying type, encoded as a size. */
static bool is_enum1(const slicec_def *d) {
  return d->kind == SLICEC_DEF_ENUM && !d->u.en.underlying && d->file &&
         d->file->mode == SLICEC_MODE_SLICE1;
}

static enum kind tkind(gen *g, const slicec_type_ref *t) {
  const slicec_type_ref *u = ua(t);
  if (!u)
    return K_BAD;
  switch (u->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    if (u->primitive == SLICEC_ANYCLASS)
      return K_BAD;
    return u->primitive == SLICEC_STRING ? K_STR : K_PRIM;
  case SLICEC_TYPE_SEQUENCE: {
    const slicec_type_ref *e = ua(u->element);
    if (e && !u->element->optional && e->kind == SLICEC_TYPE_PRIMITIVE &&
        e->primitive == SLICEC_UINT8)
      return K_BYTES;
    return K_SEQ;
  }
  case SLICEC_TYPE_DICTIONARY:
    return K_DICT;
  case SLICEC_TYPE_RESULT:
    return K_RESULT;
  case SLICEC_TYPE_DEFINED:
    if (!u->def)
      return K_BAD;
    switch (u->def->kind) {
    case SLICEC_DEF_STRUCT:
      return K_STRUCT;
    case SLICEC_DEF_ENUM:
      return u->def->u.en.underlying || is_enum1(u->def) ? K_ENUM : K_VARIANT;
    case SLICEC_DEF_CUSTOM:
      return proxy_iface(g, u->def) ? K_PROXY : K_CUSTOM;
    default:
      return K_BAD;
    }
  }
  return K_BAD;
}

/* The Slice spelling of a type use, for comments. */
static const char *spell(gen *g, const slicec_type_ref *t) {
  const char *s = "?";
  switch (t->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    s = slicec_primitive_name(t->primitive);
    break;
  case SLICEC_TYPE_SEQUENCE:
    s = S(g, "Sequence<%s>", spell(g, t->element));
    break;
  case SLICEC_TYPE_DICTIONARY:
    s = S(g, "Dictionary<%s, %s>", spell(g, t->key), spell(g, t->value));
    break;
  case SLICEC_TYPE_RESULT:
    s = S(g, "Result<%s, %s>", spell(g, t->success), spell(g, t->failure));
    break;
  case SLICEC_TYPE_DEFINED:
    s = t->spelled ? t->spelled : t->def ? t->def->name : "?";
    break;
  }
  return t->optional ? S(g, "%s?", s) : s;
}

/* The spelling of an instantiation (never optional). */
static const char *spell_inst(gen *g, const slicec_type_ref *t) {
  const char *s = spell(g, t);
  size_t n = strlen(s);
  return t->optional && n ? S(g, "%.*s", (int)(n - 1), s) : s;
}

static bool same_module(gen *g, const slicec_def *d) {
  return d->module && g->file->module &&
         strcmp(d->module->scoped_name, g->file->module->scoped_name) == 0;
}

/* The part of a generic instantiation's name that stands for `t`. */
static const char *argname(gen *g, const slicec_type_ref *t) {
  const char *s = "?";
  switch (t->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    s = slicec_primitive_name(t->primitive);
    break;
  case SLICEC_TYPE_SEQUENCE:
    s = S(g, "Seq_%s", argname(g, t->element));
    break;
  case SLICEC_TYPE_DICTIONARY:
    s = S(g, "Dict_%s_%s", argname(g, t->key), argname(g, t->value));
    break;
  case SLICEC_TYPE_RESULT:
    s = S(g, "Result_%s_%s", argname(g, t->success), argname(g, t->failure));
    break;
  case SLICEC_TYPE_DEFINED:
    if (t->def)
      s = same_module(g, t->def) ? def_own(t->def) : def_cname(g, t->def);
    break;
  }
  return t->optional ? S(g, "Opt_%s", s) : s;
}

static inst *inst_get(gen *g, const slicec_type_ref *t) {
  const char *name = S(g, "%s_%s", g->mod, argname(g, t));
  if (t->optional) /* the instantiation itself is never optional */
    name = S(g, "%s_%s", g->mod, argname(g, t) + 4);
  for (size_t i = 0; i < g->ninsts; i++)
    if (strcmp(g->insts[i].cname, name) == 0)
      return &g->insts[i];
  inst *arr = grow(g, g->insts, &g->cinsts, g->ninsts, sizeof(inst));
  if (!arr)
    return NULL;
  g->insts = arr;
  g->insts[g->ninsts] = (inst){t, name, 0, false};
  return &g->insts[g->ninsts++];
}

static const char *proxy_cname(gen *g, const slicec_def *iface) {
  return S(g, "%sProxy", def_cname(g, iface));
}

/* IceRPC's well-known custom types, whose codecs the generator writes
 * itself when they have no [c::type]: the scoped name, the C type (NULL:
 * a struct of the same name, `typedef`), and the statements of the encode
 * and decode functions (`e`, `in`, `v`). */
static const struct known_custom {
  const char *scoped;
  const char *ctype;
  const char *typedef_body;
  const char *enc;
  const char *dec;
} known_customs[] = {
    {"WellKnownTypes::TimeStamp", "int64_t", NULL,
     "return irpc_slice_encode_int64(e, *v);",
     "return irpc_slice_decode_int64(&in->dec, v);"},
    {"WellKnownTypes::Duration", "int64_t", NULL,
     "return irpc_slice_encode_varint62(e, *v);",
     "return irpc_slice_decode_varint62(&in->dec, v);"},
    {"WellKnownTypes::Uri", "irpc_str", NULL,
     "return irpc_slice_encode_str(e, *v);",
     "return irpc_slice_decode_str(in, v);"},
    {"WellKnownTypes::Uuid", NULL, "uint8_t bytes[16]; /* .NET Guid order */",
     "return irpc_slice_encode_bytes(e, v->bytes, 16);",
     "return irpc_slice_decode_bytes(&in->dec, v->bytes, 16);"},
    {"IceRpc::ServiceAddress", "irpc_slice_proxy", NULL,
     "return irpc_slice_encode_proxy(e, v, NULL);",
     "return irpc_slice_decode_proxy(in, v);"},
};

static const struct known_custom *known_custom(const slicec_def *d) {
  if (attr_arg(d->attrs, "c::type"))
    return NULL;
  for (size_t i = 0; i < sizeof known_customs / sizeof known_customs[0]; i++)
    if (strcmp(d->scoped_name, known_customs[i].scoped) == 0)
      return &known_customs[i];
  return NULL;
}

/* The C type of a value of `t` (optional or not). */
static const char *ctype(gen *g, const slicec_type_ref *t) {
  if (is_alias_use(t))
    return def_cname(g, t->def);
  const slicec_type_ref *u = ua(t);
  switch (tkind(g, t)) {
  case K_PRIM:
  case K_STR:
    return prims[u->primitive].c;
  case K_BYTES:
    return "irpc_bytes";
  case K_ENUM:
  case K_VARIANT:
  case K_STRUCT:
    return def_cname(g, u->def);
  case K_PROXY:
    return proxy_cname(g, proxy_iface(g, u->def));
  case K_CUSTOM: {
    const char *ct = attr_arg(u->def->attrs, "c::type");
    const struct known_custom *k = known_custom(u->def);
    if (k && k->ctype)
      ct = k->ctype;
    return ct ? ct : def_cname(g, u->def);
  }
  case K_SEQ:
  case K_DICT:
  case K_RESULT: {
    inst *in = inst_get(g, u);
    return in ? in->cname : "?";
  }
  case K_BAD:
    break;
  }
  return "void";
}

/* The prefix of a generated X_encode / X_decode for `t`. */
static const char *codec(gen *g, const slicec_type_ref *t) {
  const slicec_type_ref *u = ua(t);
  switch (tkind(g, t)) {
  case K_PROXY:
    return proxy_cname(g, proxy_iface(g, u->def));
  case K_ENUM:
  case K_VARIANT:
  case K_STRUCT:
  case K_CUSTOM:
    return def_cname(g, u->def);
  case K_SEQ:
  case K_DICT:
  case K_RESULT: {
    inst *in = inst_get(g, u);
    return in ? in->cname : "?";
  }
  default:
    return "?";
  }
}

static bool by_value(gen *g, const slicec_type_ref *t) {
  enum kind k = tkind(g, t);
  return k == K_PRIM || k == K_STR || k == K_BYTES || k == K_ENUM;
}

/* A value whose encoding may fail without the encoder recording the error
 * (an unknown variant, user code), or a sequence or dictionary whose
 * elements go through generated functions (which stops at the first
 * failure): the enclosing encoder checks what it returns. */
static bool enc_checked(gen *g, const slicec_type_ref *t) {
  const slicec_type_ref *u = ua(t);
  switch (tkind(g, t)) {
  case K_VARIANT:
  case K_CUSTOM:
  case K_RESULT:
    return true;
  case K_SEQ: {
    enum kind e = tkind(g, u->element);
    return !(e == K_PRIM || e == K_STR || e == K_BYTES);
  }
  case K_DICT: {
    enum kind k = tkind(g, u->key), v = tkind(g, u->value);
    return !((k == K_PRIM || k == K_STR || k == K_BYTES) &&
             (v == K_PRIM || v == K_STR || v == K_BYTES));
  }
  case K_STRUCT: {
    const slicec_member_list *ml = &u->def->u.st.fields;
    for (size_t i = 0; i < ml->n; i++)
      if (enc_checked(g, ml->items[i]->type))
        return true;
    return false;
  }
  default:
    return false;
  }
}

/* Decoders stop before a sequence or dictionary when something failed. */
static bool dec_checked(gen *g, const slicec_type_ref *t) {
  enum kind k = tkind(g, t);
  return k == K_SEQ || k == K_DICT;
}

static size_t minwire(gen *g, const slicec_type_ref *t);

static size_t members_min(gen *g, const slicec_member_list *ml) {
  size_t n = 0, nopt = 0;
  for (size_t i = 0; i < ml->n; i++) {
    const slicec_member *m = ml->items[i];
    if (m->tagged)
      continue;
    if (m->type->optional)
      nopt++;
    else
      n += minwire(g, m->type);
  }
  return n + (nopt + 7) / 8;
}

static size_t minwire(gen *g, const slicec_type_ref *t) {
  const slicec_type_ref *u = ua(t);
  switch (tkind(g, t)) {
  case K_PRIM:
    return prims[u->primitive].size ? prims[u->primitive].size : 1;
  case K_ENUM: {
    const slicec_type_ref *ut = u->def->u.en.underlying;
    if (!ut) /* Slice1: a size */
      return 1;
    return prims[ut->primitive].size ? prims[ut->primitive].size : 1;
  }
  case K_STRUCT:
    return members_min(g, &u->def->u.st.fields) +
           (u->def->u.st.compact ? 0 : 1);
  case K_VARIANT: {
    const slicec_enum_def *en = &u->def->u.en;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < en->nenumerators; i++) {
      size_t n =
          members_min(g, &en->enumerators[i]->fields) + (en->compact ? 0 : 1);
      best = n < best ? n : best;
    }
    if (best == SIZE_MAX)
      best = 0;
    return 1 + (en->unchecked ? 1 : 0) + best;
  }
  case K_RESULT: {
    size_t s = u->success->optional ? 1 : minwire(g, u->success);
    size_t f = u->failure->optional ? 1 : minwire(g, u->failure);
    return 1 + (s < f ? s : f);
  }
  default:
    return 1;
  }
}

static const char *lit_i64(gen *g, int64_t v) {
  if (v >= INT32_MIN && v <= INT32_MAX)
    return S(g, "%lld", (long long)v);
  if (v == INT64_MIN)
    return "(-INT64_C(9223372036854775807) - 1)";
  return S(g, "INT64_C(%lld)", (long long)v);
}

static const char *lit_u64(gen *g, uint64_t v) {
  if (v <= INT32_MAX)
    return S(g, "%llu", (unsigned long long)v);
  return S(g, "UINT64_C(%llu)", (unsigned long long)v);
}

/* ---- doc comments -------------------------------------------------------- */

/* Appends `s` with every "*" "/" broken up. */
static void put_comment_text(sb *b, const char *s) {
  for (; *s; s++) {
    sb_putn(b, s, 1);
    if (s[0] == '*' && s[1] == '/')
      sb_putn(b, " ", 1);
  }
}

/* A C comment: `head` (may be NULL) as its first line, then the doc. */
static void emit_comment(gen *g, sb *o, int ind, const char *head,
                         const slicec_doc *doc) {
  sb lines = {0};
  if (head)
    sb_printf(&lines, "%s\n", head);
  if (doc) {
    if (head && (doc->overview[0] || doc->ntags))
      sb_puts(&lines, "\n");
    if (doc->overview[0])
      sb_printf(&lines, "%s\n", doc->overview);
    for (size_t i = 0; i < doc->ntags; i++) {
      const slicec_doc_tag *t = doc->tags[i];
      static const char *const kw[] = {"@param", "@returns", "@throws", "@see"};
      sb_puts(&lines, kw[t->kind]);
      if (t->name)
        sb_printf(&lines, " %s", t->name);
      if (t->text && t->text[0])
        sb_printf(&lines, "%s %s", t->kind == SLICEC_DOC_SEE ? "" : ":",
                  t->text);
      sb_puts(&lines, "\n");
    }
  }
  if (!lines.p || lines.n == 0) {
    free(lines.p);
    return;
  }
  /* Drop the trailing newline, then one line of the comment per line. */
  lines.p[--lines.n] = 0;
  char *s = lines.p;
  bool first = true;
  while (s) {
    char *nl = strchr(s, '\n');
    if (nl)
      *nl = 0;
    for (int i = 0; i < ind; i++)
      sb_puts(o, "  ");
    sb_puts(o, first ? "/*" : " *");
    if (*s)
      sb_puts(o, " ");
    put_comment_text(o, s);
    if (!nl)
      sb_puts(o, " */");
    sb_puts(o, "\n");
    first = false;
    s = nl ? nl + 1 : NULL;
  }
  free(lines.p);
  (void)g;
}

static void emit_doc(gen *g, sb *o, int ind, const slicec_doc *doc) {
  if (doc && (doc->overview[0] || doc->ntags))
    emit_comment(g, o, ind, NULL, doc);
}

/* A C string literal's content for `s`. */
static const char *cstr(gen *g, const char *s) {
  sb b = {0};
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      sb_putn(&b, "\\", 1);
    if (*s == '\n')
      sb_puts(&b, "\\n");
    else
      sb_putn(&b, s, 1);
  }
  const char *r = S(g, "%s", b.p ? b.p : "");
  free(b.p);
  return r;
}

/* ---- member codecs --------------------------------------------------------
 *
 * Members are the fields of a struct or an enumerator, the parameters of an
 * operation, or its return members; they are encoded alike: a bit sequence
 * for the non-tagged optional ones, those in order, the tagged ones by
 * tag. */

/* The statements encoding the value `lv` of `t` (optional or not, the
 * value itself): 1 or 2, the last one's value being the result. */
static int enc_stmts(gen *g, const slicec_type_ref *t, const char *lv,
                     const char *st[2]) {
  const slicec_type_ref *u = ua(t);
  switch (tkind(g, t)) {
  case K_PRIM:
    st[0] = S(g, "irpc_slice_encode_%s(e, %s)",
              slicec_primitive_name(u->primitive), lv);
    return 1;
  case K_STR:
    st[0] = S(g, "irpc_slice_encode_str(e, %s)", lv);
    return 1;
  case K_BYTES:
    st[0] = S(g, "irpc_slice_encode_size(e, %s.len)", lv);
    st[1] = S(g, "irpc_slice_encode_bytes(e, %s.base, %s.len)", lv, lv);
    return 2;
  case K_ENUM:
    st[0] = S(g, "%s_encode(e, %s)", codec(g, t), lv);
    return 1;
  default:
    st[0] = S(g, "%s_encode(e, &%s)", codec(g, t), lv);
    return 1;
  }
}

static const char *dec_expr(gen *g, const slicec_type_ref *t, const char *lv,
                            const char *dvar) {
  const slicec_type_ref *u = ua(t);
  switch (tkind(g, t)) {
  case K_PRIM:
    return S(g, "irpc_slice_decode_%s(%s, &%s)",
             slicec_primitive_name(u->primitive), dvar, lv);
  case K_STR:
    return S(g, "irpc_slice_decode_str(in, &%s)", lv);
  case K_BYTES:
    return S(g, "irpc_slice_decode_byte_seq(in, &%s)", lv);
  default:
    return S(g, "%s_decode(in, &%s)", codec(g, t), lv);
  }
}

/* Member order: non-tagged in order, then tagged by tag. */
static size_t order_members(const slicec_member_list *ml,
                            const slicec_member **plain, size_t *nplain,
                            const slicec_member **tagged, size_t *ntagged) {
  size_t nopt = 0;
  *nplain = *ntagged = 0;
  for (size_t i = 0; i < ml->n; i++) {
    const slicec_member *m = ml->items[i];
    if (m->stream)
      continue;
    if (m->tagged) {
      size_t j = (*ntagged)++;
      while (j > 0 && tagged[j - 1]->tag > m->tag) {
        tagged[j] = tagged[j - 1];
        j--;
      }
      tagged[j] = m;
    } else {
      plain[(*nplain)++] = m;
      nopt += m->type->optional;
    }
  }
  return nopt;
}

enum enc_mode { ENC_FC, ENC_RETURN, ENC_CASE };

/* Encodes one checked or plain statement list; `rc` tracks the declaration
 * of the local `rc`. */
static void enc_put(gen *g, sb *o, int ind, const slicec_type_ref *t,
                    const char *lv, bool *rc_declared) {
  const char *st[2];
  int n = enc_stmts(g, t, lv, st);
  for (int i = 0; i < n - 1; i++)
    out(o, ind, "%s;", st[i]);
  if (enc_checked(g, t)) {
    out(o, ind, "%s%s;", *rc_declared ? "rc = " : "int rc = ", st[n - 1]);
    *rc_declared = true;
    out(o, ind, "if (rc)");
    out(o, ind + 1, "return rc;");
  } else {
    out(o, ind, "%s;", st[n - 1]);
  }
}

/* ---- Slice1 (Ice encoding 1.1) members ---------------------------------- */

/* The irpc_slice_proxy inside a value `lv` of a proxy type (a generated
 * proxy struct or IceRpc::ServiceAddress), or NULL for another type: in
 * Slice1 those may be optional without a tag (the null proxy). */
static const char *proxy_lv(gen *g, const slicec_type_ref *t, const char *lv) {
  enum kind k = tkind(g, t);
  if (k == K_PROXY)
    return S(g, "%s.p", lv);
  const slicec_type_ref *u = ua(t);
  if (k == K_CUSTOM && known_custom(u->def) &&
      strcmp(u->def->scoped_name, "IceRpc::ServiceAddress") == 0)
    return lv;
  return NULL;
}

/* Ice's fixed encoded size of `t`, 0 when it varies (enums, strings,
 * sequences, ... and structs holding one). */
static size_t fixed11(gen *g, const slicec_type_ref *t) {
  const slicec_type_ref *u = ua(t);
  switch (tkind(g, t)) {
  case K_PRIM:
    return prims[u->primitive].size;
  case K_STRUCT: {
    const slicec_member_list *ml = &u->def->u.st.fields;
    size_t n = 0;
    for (size_t i = 0; i < ml->n; i++) {
      size_t f = fixed11(g, ml->items[i]->type);
      if (!f || ml->items[i]->tagged || ml->items[i]->type->optional)
        return 0;
      n += f;
    }
    return n;
  }
  default:
    return 0;
  }
}

/* The 1.1 tag format of `t` ("IRPC_SLICE_TAG_..."), and for VSIZE the
 * expression of the value's size (*vsize, NULL otherwise). */
static const char *tag11_format(gen *g, const slicec_type_ref *t,
                                const char *lv, const char **vsize) {
  const slicec_type_ref *u = ua(t);
  *vsize = NULL;
  switch (tkind(g, t)) {
  case K_PRIM:
    switch (prims[u->primitive].size) {
    case 1:
      return "IRPC_SLICE_TAG_F1";
    case 2:
      return "IRPC_SLICE_TAG_F2";
    case 4:
      return "IRPC_SLICE_TAG_F4";
    default:
      return "IRPC_SLICE_TAG_F8";
    }
  case K_STR:
  case K_BYTES:
    return "IRPC_SLICE_TAG_OVSIZE";
  case K_ENUM:
    return "IRPC_SLICE_TAG_SIZE";
  case K_STRUCT: {
    size_t f = fixed11(g, t);
    if (!f)
      return "IRPC_SLICE_TAG_FSIZE";
    *vsize = S(g, "%zu", f);
    return "IRPC_SLICE_TAG_VSIZE";
  }
  case K_SEQ: {
    size_t f = u->element->optional ? 0 : fixed11(g, u->element);
    if (f == 1)
      return "IRPC_SLICE_TAG_OVSIZE";
    if (!f)
      return "IRPC_SLICE_TAG_FSIZE";
    *vsize = S(g, "%s.n * %zu + (%s.n > 254 ? 5 : 1)", lv, f, lv);
    return "IRPC_SLICE_TAG_VSIZE";
  }
  case K_DICT: {
    size_t k = fixed11(g, u->key);
    size_t v = u->value->optional ? 0 : fixed11(g, u->value);
    if (!k || !v)
      return "IRPC_SLICE_TAG_FSIZE";
    *vsize = S(g, "%s.n * %zu + (%s.n > 254 ? 5 : 1)", lv, k + v, lv);
    return "IRPC_SLICE_TAG_VSIZE";
  }
  default:
    return "IRPC_SLICE_TAG_FSIZE";
  }
}

/* Whether a found 1.1 tagged value of this format has a scope to end. */
static bool tag11_scoped(const char *fmt) {
  return strcmp(fmt, "IRPC_SLICE_TAG_SIZE") != 0 &&
         strcmp(fmt, "IRPC_SLICE_TAG_OVSIZE") != 0;
}

static void emit_enc_members(gen *g, sb *o, int ind,
                             const slicec_member_list *ml, const char *pfx,
                             enum enc_mode mode) {
  const slicec_member **plain = calloc(ml->n + 1, sizeof(*plain));
  const slicec_member **tagged = calloc(ml->n + 1, sizeof(*tagged));
  if (!plain || !tagged) {
    g->oom = true;
    free(plain);
    free(tagged);
    return;
  }
  size_t np, nt;
  size_t nopt = order_members(ml, plain, &np, tagged, &nt);
  if (g->enc11) /* no bit sequence: optional proxies are null proxies */
    nopt = 0;
  bool rc_declared = false, returned = false;
  bool nested_check = false;
  /* A last optional Slice1 proxy is returned, not checked: it needs no rc. */
  size_t np_checked =
      g->enc11 && mode == ENC_RETURN && nt == 0 && np > 0 ? np - 1 : np;
  for (size_t i = 0; i < np_checked; i++)
    nested_check |= plain[i]->type->optional && enc_checked(g, plain[i]->type);
  for (size_t i = 0; i < nt; i++)
    nested_check |= enc_checked(g, tagged[i]->type);
  /* The last member, when optional, returns what its bit and value gave. */
  bool last_opt = !g->enc11 && mode == ENC_RETURN && nt == 0 && np > 0 &&
                  plain[np - 1]->type->optional;
  if (nopt)
    out(o, ind, "irpc_slice_bit_writer bits;");
  if (nested_check || (last_opt && nopt > 1)) {
    out(o, ind, "int rc;");
    rc_declared = true;
  }
  if (nopt)
    out(o, ind, "irpc_slice_encode_bitseq(e, %zu, &bits);", nopt);
  for (size_t i = 0; i < np; i++) {
    const slicec_member *m = plain[i];
    const char *name = member_cname(g, m);
    const char *lv = S(g, "%s%s", pfx, name);
    if (m->type->optional && g->enc11) {
      /* Slice1: only proxies are optional without a tag (the checker and
       * check_slice1 saw to it): absent is the null proxy. */
      if (mode == ENC_RETURN && i == np - 1 && nt == 0) {
        const char *st[2];
        enc_stmts(g, m->type, lv, st);
        out(o, ind, "if (%shas_%s)", pfx, name);
        out(o, ind + 1, "return %s;", st[0]);
        out(o, ind, "return irpc_slice_encode_proxy(e, NULL, NULL);");
        returned = true;
        continue;
      }
      out(o, ind, "if (%shas_%s) {", pfx, name);
      enc_put(g, o, ind + 1, m->type, lv, &rc_declared);
      out(o, ind, "} else {");
      out(o, ind + 1, "irpc_slice_encode_proxy(e, NULL, NULL);");
      out(o, ind, "}");
      continue;
    }
    if (m->type->optional) {
      bool last = last_opt && i == np - 1;
      const char *st[2];
      int n = enc_stmts(g, m->type, lv, st);
      if (last) {
        out(o, ind, "%sirpc_slice_bit_writer_put(e, &bits, %shas_%s);",
            rc_declared ? "rc = " : "int rc = ", pfx, name);
        rc_declared = true;
        if (n == 1) {
          out(o, ind, "if (%shas_%s)", pfx, name);
          out(o, ind + 1, "rc = %s;", st[0]);
        } else {
          out(o, ind, "if (%shas_%s) {", pfx, name);
          out(o, ind + 1, "%s;", st[0]);
          out(o, ind + 1, "rc = %s;", st[1]);
          out(o, ind, "}");
        }
        out(o, ind, "return rc;");
        returned = true;
        continue;
      }
      out(o, ind, "irpc_slice_bit_writer_put(e, &bits, %shas_%s);", pfx, name);
      if (n == 1 && !enc_checked(g, m->type)) {
        out(o, ind, "if (%shas_%s)", pfx, name);
        out(o, ind + 1, "%s;", st[0]);
      } else {
        out(o, ind, "if (%shas_%s) {", pfx, name);
        enc_put(g, o, ind + 1, m->type, lv, &rc_declared);
        out(o, ind, "}");
      }
    } else if (mode == ENC_RETURN && i == np - 1 && nt == 0) {
      const char *st[2];
      int n = enc_stmts(g, m->type, lv, st);
      for (int k = 0; k < n - 1; k++)
        out(o, ind, "%s;", st[k]);
      out(o, ind, "return %s;", st[n - 1]);
      returned = true;
    } else {
      enc_put(g, o, ind, m->type, lv, &rc_declared);
    }
  }
  for (size_t i = 0; i < nt; i++) {
    const slicec_member *m = tagged[i];
    const char *name = member_cname(g, m);
    const char *lv = S(g, "%s%s", pfx, name);
    const slicec_type_ref *u = ua(m->type);
    out(o, ind, "if (%shas_%s) {", pfx, name);
    if (g->enc11) {
      const char *vsize;
      const char *fmt = tag11_format(g, m->type, lv, &vsize);
      bool fsize = strcmp(fmt, "IRPC_SLICE_TAG_FSIZE") == 0;
      if (fsize) {
        out(o, ind + 1, "irpc_slice_mark m;");
        out(o, ind + 1, "irpc_slice_encode_tag11_fsize_begin(e, %d, &m);",
            (int)m->tag);
      } else {
        out(o, ind + 1, "irpc_slice_encode_tag11(e, %d, %s);", (int)m->tag,
            fmt);
      }
      if (vsize)
        out(o, ind + 1, "irpc_slice_encode_size(e, %s);", vsize);
      enc_put(g, o, ind + 1, m->type, lv, &rc_declared);
      if (fsize)
        out(o, ind + 1, "irpc_slice_encode_tag11_fsize_end(e, &m);");
    } else if (tkind(g, m->type) == K_PRIM && prims[u->primitive].size) {
      out(o, ind + 1, "irpc_slice_encode_tag_sized(e, %d, %u);", (int)m->tag,
          prims[u->primitive].size);
      enc_put(g, o, ind + 1, m->type, lv, &rc_declared);
    } else {
      out(o, ind + 1, "irpc_slice_mark m;");
      out(o, ind + 1, "irpc_slice_encode_tag_begin(e, %d, &m);", (int)m->tag);
      enc_put(g, o, ind + 1, m->type, lv, &rc_declared);
      out(o, ind + 1, "irpc_slice_encode_tag_end(e, &m);");
    }
    out(o, ind, "}");
  }
  if (mode == ENC_FC)
    out(o, ind, "return irpc_slice_encode_tag_end_marker(e);");
  else if (mode == ENC_RETURN && !returned)
    out(o, ind, "return 0;");
  free(plain);
  free(tagged);
}

/* Whether the members need local variables (and a case braces). */
static bool members_need_locals(gen *g, const slicec_member_list *ml,
                                bool encode) {
  for (size_t i = 0; i < ml->n; i++) {
    const slicec_member *m = ml->items[i];
    if ((!m->tagged && m->type->optional) ||
        (encode && enc_checked(g, m->type)))
      return true;
    if (!encode && m->tagged)
      return true;
  }
  return false;
}

/* Struct decoding ends with the tags and the end marker; compact decoding
 * (compact structs, arguments and return values, whose segment the runtime
 * ends) returns the last decode; case decoding leaves the end to the
 * caller. */
enum dec_mode { DEC_STRUCT, DEC_COMPACT, DEC_CASE };

static void emit_dec_one(gen *g, sb *o, int ind, const slicec_type_ref *t,
                         const char *lv, const char *dvar) {
  const char *x = dec_expr(g, t, lv, dvar);
  if (dec_checked(g, t)) {
    out(o, ind, "if (%s)", x);
    out(o, ind + 1, "return irpc_slice_decoder_error(%s);", dvar);
  } else {
    out(o, ind, "%s;", x);
  }
}

static void emit_dec_members(gen *g, sb *o, int ind,
                             const slicec_member_list *ml, const char *pfx,
                             enum dec_mode mode) {
  const slicec_member **plain = calloc(ml->n + 1, sizeof(*plain));
  const slicec_member **tagged = calloc(ml->n + 1, sizeof(*tagged));
  if (!plain || !tagged) {
    g->oom = true;
    free(plain);
    free(tagged);
    return;
  }
  size_t np, nt;
  size_t nopt = order_members(ml, plain, &np, tagged, &nt);
  if (g->enc11)
    nopt = 0;
  /* Compact decoding reads through &in->dec, the others through `d`. */
  const char *dv = mode == DEC_COMPACT ? "&in->dec" : "d";
  if (mode == DEC_STRUCT)
    out(o, ind, "irpc_slice_decoder *d = &in->dec;");
  if (nopt)
    out(o, ind, "irpc_slice_bit_reader bits;");
  if (nopt || nt)
    out(o, ind, "bool present = false;");
  if (nt)
    out(o, ind, "irpc_slice_scope scope;");
  if (nopt)
    out(o, ind, "irpc_slice_decode_bitseq(%s, %zu, &bits);", dv, nopt);
  bool used_present = false, returned = false;
  for (size_t i = 0; i < np; i++) {
    const slicec_member *m = plain[i];
    const char *name = member_cname(g, m);
    const char *lv = S(g, "%s%s", pfx, name);
    bool last = mode == DEC_COMPACT && i == np - 1 && nt == 0;
    if (m->type->optional && g->enc11) {
      const char *plv = proxy_lv(g, m->type, lv);
      const char *x = S(g, "irpc_slice_decode_proxy_opt(in, &%s, &%shas_%s)",
                        plv ? plv : lv, pfx, name);
      if (last) {
        out(o, ind, "return %s;", x);
        returned = true;
      } else {
        out(o, ind, "%s;", x);
      }
      continue;
    }
    if (m->type->optional) {
      used_present = true;
      if (last) {
        out(o, ind, "int rc = irpc_slice_bit_reader_get(%s, &bits, &present);",
            dv);
        out(o, ind, "if ((%shas_%s = present))", pfx, name);
        out(o, ind + 1, "rc = %s;", dec_expr(g, m->type, lv, dv));
        out(o, ind, "return rc;");
        returned = true;
        continue;
      }
      out(o, ind, "irpc_slice_bit_reader_get(%s, &bits, &present);", dv);
      if (dec_checked(g, m->type)) {
        out(o, ind, "if ((%shas_%s = present)) {", pfx, name);
        emit_dec_one(g, o, ind + 1, m->type, lv, dv);
        out(o, ind, "}");
      } else {
        out(o, ind, "if ((%shas_%s = present))", pfx, name);
        out(o, ind + 1, "%s;", dec_expr(g, m->type, lv, dv));
      }
    } else if (last) {
      out(o, ind, "return %s;", dec_expr(g, m->type, lv, dv));
      returned = true;
    } else {
      emit_dec_one(g, o, ind, m->type, lv, dv);
    }
  }
  int tind = ind;
  if (nt && g->tag_guard) {
    out(o, ind, "if (%s) {", g->tag_guard);
    tind++;
  }
  for (size_t i = 0; i < nt; i++) {
    const slicec_member *m = tagged[i];
    const char *name = member_cname(g, m);
    const char *lv = S(g, "%s%s", pfx, name);
    if (used_present)
      out(o, tind, "present = false;");
    used_present = true;
    const char *fmt = NULL, *vsize;
    if (g->enc11) {
      fmt = tag11_format(g, m->type, lv, &vsize);
      out(o, tind, "irpc_slice_decode_tag11(%s, %d, %s, &present, &scope);", dv,
          (int)m->tag, fmt);
    } else {
      out(o, tind, "irpc_slice_decode_tag(%s, %d, &present, &scope);", dv,
          (int)m->tag);
    }
    out(o, tind, "if ((%shas_%s = present)) {", pfx, name);
    emit_dec_one(g, o, tind + 1, m->type, lv, dv);
    if (!fmt || tag11_scoped(fmt))
      out(o, tind + 1, "irpc_slice_decode_scope_end(%s, &scope);", dv);
    out(o, tind, "}");
  }
  if (nt && g->tag_guard)
    out(o, ind, "}");
  if (mode == DEC_STRUCT)
    out(o, ind, "irpc_slice_decode_tags_end(d);");
  if (mode != DEC_CASE && !returned)
    out(o, ind, "return irpc_slice_decoder_error(%s);", dv);
  free(plain);
  free(tagged);
}

/* The fields of a struct, an enumerator, an _args or _ret struct. */
static void emit_fields(gen *g, sb *o, int ind, const slicec_member_list *ml) {
  for (size_t i = 0; i < ml->n; i++) {
    const slicec_member *m = ml->items[i];
    if (m->stream)
      continue;
    const char *name = member_cname(g, m);
    emit_doc(g, o, ind, m->doc);
    if (m->type->optional) {
      if (m->tagged)
        out(o, ind, "bool has_%s; /* tag(%d) */", name, (int)m->tag);
      else
        out(o, ind, "bool has_%s;", name);
    }
    out(o, ind, "%s %s;", ctype(g, m->type), name);
  }
}

/* ---- ordering: what is emitted before what --------------------------------
 */

static void need_type(gen *g, const slicec_type_ref *t);
static void need_def(gen *g, const slicec_def *d);
static void need_iface(gen *g, const slicec_def *d);
static void need_proxy(gen *g, const slicec_def *d);
static void emit_inst(gen *g, inst *in);
static void emit_inst_codecs(gen *g, inst *in);

/* Names and instantiations as the file declaring `d` spells them. */
typedef struct ctx_save {
  const char *mod;
  const slicec_file *file;
} ctx_save;

static ctx_save ctx_enter(gen *g, const slicec_def *d) {
  ctx_save s = {g->mod, g->file};
  g->file = d->file;
  g->mod = d->file->module ? mod_cname(g, d->file->module) : "";
  return s;
}

static void ctx_leave(gen *g, ctx_save s) {
  g->mod = s.mod;
  g->file = s.file;
}

/* Registers the generic instantiations `t` uses, innermost first. */
static void scan_type(gen *g, const slicec_type_ref *t) {
  if (!t || is_alias_use(t))
    return;
  switch (t->kind) {
  case SLICEC_TYPE_SEQUENCE:
    scan_type(g, t->element);
    if (tkind(g, t) == K_SEQ)
      inst_get(g, t);
    break;
  case SLICEC_TYPE_DICTIONARY:
    scan_type(g, t->key);
    scan_type(g, t->value);
    inst_get(g, t);
    break;
  case SLICEC_TYPE_RESULT:
    scan_type(g, t->success);
    scan_type(g, t->failure);
    inst_get(g, t);
    break;
  default:
    break;
  }
}

static void scan_members(gen *g, const slicec_member_list *ml) {
  for (size_t i = 0; i < ml->n; i++)
    scan_type(g, ml->items[i]->type);
}

static bool op_has_stream(const slicec_operation *op) {
  for (size_t i = 0; i < op->params.n; i++)
    if (op->params.items[i]->stream)
      return true;
  for (size_t i = 0; i < op->returns.n; i++)
    if (op->returns.items[i]->stream)
      return true;
  return false;
}

/* The element of a stream the generator writes: any Slice2 type, optional
 * or not (AnyClass and classes are Slice1's, and Slice1 has no streams). */
static bool stream_elem_ok(const slicec_type_ref *t) {
  const slicec_type_ref *u = ua(t);
  if (!u)
    return false;
  if (u->kind == SLICEC_TYPE_PRIMITIVE)
    return u->primitive != SLICEC_ANYCLASS;
  if (u->kind == SLICEC_TYPE_DEFINED)
    return u->def && (u->def->kind == SLICEC_DEF_STRUCT ||
                      u->def->kind == SLICEC_DEF_ENUM ||
                      u->def->kind == SLICEC_DEF_CUSTOM);
  return true;
}

/* The stream member ending `ml`, if any; *ok false when a stream is not
 * one the generator writes (not last, or not of a primitive). */
static const slicec_member *last_stream(const slicec_member_list *ml,
                                        bool *ok) {
  for (size_t i = 0; i + 1 < ml->n; i++)
    if (ml->items[i]->stream)
      *ok = false;
  if (ml->n == 0 || !ml->items[ml->n - 1]->stream)
    return NULL;
  const slicec_member *m = ml->items[ml->n - 1];
  if (!stream_elem_ok(m->type))
    *ok = false;
  return m;
}

/* The streams the generator writes, of a Slice2 operation: a last
 * parameter and/or a last return member `stream T`. False when the
 * operation has another kind of stream. */
static bool op_streams(const slicec_operation *op, const slicec_member **par,
                       const slicec_member **ret) {
  bool ok = true;
  *par = last_stream(&op->params, &ok);
  *ret = last_stream(&op->returns, &ok);
  if (op->iface && op->iface->file &&
      op->iface->file->mode == SLICEC_MODE_SLICE1)
    ok = false;
  return ok;
}

/* An operation left out: a stream the generator does not write. */
static bool op_skipped(const slicec_operation *op) {
  const slicec_member *par, *ret;
  return op_has_stream(op) && !op_streams(op, &par, &ret);
}

/* The operation as generated: for one returning a stream, a copy
 * without the stream member (NULL on allocation failure: g->oom). */
static const slicec_operation *op_gen(gen *g, const slicec_operation *op) {
  const slicec_member *par = NULL, *ret = NULL;
  if (!op_has_stream(op) || !op_streams(op, &par, &ret))
    return op;
  for (size_t i = 0; i < g->nsops; i++)
    if (g->sops[i].orig == op)
      return g->sops[i].copy;
  if (g->nsops == g->csops) {
    size_t c = g->csops ? 2 * g->csops : 8;
    stream_op *n = realloc(g->sops, c * sizeof(*n));
    if (!n) {
      g->oom = true;
      return NULL;
    }
    g->sops = n;
    g->csops = c;
  }
  slicec_operation *copy = malloc(sizeof(*copy));
  if (!copy) {
    g->oom = true;
    return NULL;
  }
  *copy = *op;
  if (par)
    copy->params.n--;
  if (ret)
    copy->returns.n--;
  g->sops[g->nsops++] = (stream_op){op, copy, par, ret};
  return copy;
}

/* The stream member of a generated copy, or NULL. */
static const stream_op *op_stream(const gen *g, const slicec_operation *op) {
  for (size_t i = 0; i < g->nsops; i++)
    if (g->sops[i].copy == op)
      return &g->sops[i];
  return NULL;
}

static void scan_def(gen *g, const slicec_def *d) {
  switch (d->kind) {
  case SLICEC_DEF_STRUCT:
    scan_members(g, &d->u.st.fields);
    break;
  case SLICEC_DEF_ENUM:
    for (size_t i = 0; i < d->u.en.nenumerators; i++)
      scan_members(g, &d->u.en.enumerators[i]->fields);
    break;
  case SLICEC_DEF_ALIAS:
    scan_type(g, d->u.alias.type);
    break;
  case SLICEC_DEF_EXCEPTION:
    scan_members(g, &d->u.exc.fields);
    break;
  case SLICEC_DEF_INTERFACE:
    for (size_t i = 0; i < d->u.iface.nops; i++) {
      if (op_skipped(d->u.iface.ops[i]))
        continue;
      scan_members(g, &d->u.iface.ops[i]->params);
      scan_members(g, &d->u.iface.ops[i]->returns);
    }
    break;
  default:
    break;
  }
}

static void need_members(gen *g, const slicec_member_list *ml) {
  for (size_t i = 0; i < ml->n; i++)
    if (!ml->items[i]->stream)
      need_type(g, ml->items[i]->type);
}

static bool cycle_file(gen *g, const slicec_file *f) {
  if (!g->in_cycle || f == g->out)
    return false;
  for (size_t i = 0; i < g->ast->nfiles; i++)
    if (g->ast->files[i] == f)
      return g->in_cycle[i];
  return false;
}

static void need_type(gen *g, const slicec_type_ref *t) {
  if (!t)
    return;
  if (t->kind == SLICEC_TYPE_DEFINED) {
    const slicec_def *d = t->def;
    if (!d)
      return;
    if (d->kind == SLICEC_DEF_CUSTOM) {
      const slicec_def *i = proxy_iface(g, d);
      if (i) {
        if (i->file != g->out)
          add_include(g, i->file);
        else if (i == g->deps_of)
          ; /* its own section starts with it */
        else if (g->in_iface && mark_state(g, i, MK_IFACE) == 0)
          need_iface(g, i);
        else
          need_proxy(g, i);
        return;
      }
    }
    if (d->file != g->out) {
      add_include(g, d->file);
      /* A file whose types and ours depend on each other includes ours
       * too, so whichever header comes first, it cannot see what the
       * other defines: each header defines what it needs, guarded. */
      if (cycle_file(g, d->file))
        need_def(g, d);
      return;
    }
    need_def(g, d);
    return;
  }
  if (t->kind == SLICEC_TYPE_PRIMITIVE || tkind(g, t) == K_BYTES)
    return;
  inst *in = inst_get(g, t);
  if (!in)
    return;
  /* An instantiation comes out just before the first unit that uses it. */
  size_t k = (size_t)(in - g->insts);
  for (size_t j = k; j <= k && !g->oom; j++) {
    inst *x = &g->insts[j];
    if (x->state != 0)
      continue;
    x->state = 1;
    const slicec_type_ref *u = x->t;
    if (u->kind == SLICEC_TYPE_SEQUENCE) {
      need_type(g, u->element);
    } else if (u->kind == SLICEC_TYPE_DICTIONARY) {
      need_type(g, u->key);
      need_type(g, u->value);
    } else {
      need_type(g, u->success);
      need_type(g, u->failure);
    }
    emit_inst(&*g, &g->insts[j]);
    g->insts[j].state = 2;
  }
}

/* The element definition a deferred sequence waits for, if still being
 * emitted. */
static const slicec_def *pending_elem(gen *g, const inst *in) {
  const slicec_type_ref *e = ua(in->t->element);
  if (in->t->kind != SLICEC_TYPE_SEQUENCE || !e ||
      e->kind != SLICEC_TYPE_DEFINED || !e->def)
    return NULL;
  return mark_state(g, e->def, MK_DEF) == 1 ? e->def : NULL;
}

static void flush_deferred(gen *g) {
  for (size_t i = 0; i < g->ninsts; i++) {
    inst *in = &g->insts[i];
    if (in->deferred && !pending_elem(g, in)) {
      in->deferred = false;
      sb_printf(&g->h, "\n/* ---- %s: functions ---- */\n\n",
                spell_inst(g, in->t));
      sb_printf(&g->h, "#ifndef %s_CODECS_DEFINED\n#define %s_CODECS_DEFINED\n",
                upper(g, in->cname), upper(g, in->cname));
      emit_inst_codecs(g, in);
      sb_puts(&g->h, "#endif\n");
    }
  }
}

/* ---- definitions -----------------------------------------------------------
 */

/* The C enum of `en`'s enumerators, named <c>_<name>, into h; 0 (and
 * nothing written) when it has none. */
static int emit_enumerators(gen *g, sb *h, const char *c,
                            const slicec_enum_def *en) {
  if (!en->nenumerators)
    return 0;
  out(h, 0, "enum {");
  for (size_t i = 0; i < en->nenumerators; i++) {
    const slicec_enumerator *x = en->enumerators[i];
    emit_doc(g, h, 1, x->doc);
    out(h, 1, "%s_%s = %s%s", c, x->name, lit_i64(g, x->value),
        i + 1 < en->nenumerators ? "," : "");
  }
  out(h, 0, "};");
  return 1;
}

static const char *enum_banner(gen *g, const slicec_def *d) {
  const slicec_enum_def *en = &d->u.en;
  const char *pre = S(g, "%s%s", en->compact ? "compact " : "",
                      en->unchecked ? "unchecked " : "");
  if (en->underlying)
    return S(g, "%senum %s : %s", pre, d->scoped_name,
             slicec_primitive_name(en->underlying->primitive));
  return S(g, "%senum %s (variant)", pre, d->scoped_name);
}

static void emit_struct(gen *g, const slicec_def *d) {
  const char *c = def_cname(g, d);
  const slicec_struct_def *st = &d->u.st;
  const char *banner =
      S(g, "%sstruct %s", st->compact ? "compact " : "", d->scoped_name);
  sb *h = &g->h, *o = &g->c;
  sb_printf(h, "\n/* ---- %s ---- */\n\n", banner);
  emit_doc(g, h, 0, d->doc);
  out(h, 0, "typedef struct %s {", c);
  if (st->fields.n == 0)
    out(h, 1, "char empty_; /* no fields */");
  emit_fields(g, h, 1, &st->fields);
  out(h, 0, "} %s;", c);
  blank(h);
  out(h, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v);", c, c);
  out(h, 0, "int %s_decode(irpc_slice_in *in, %s *v);", c, c);

  sb_printf(o, "\n/* ---- %s ---- */\n\n", banner);
  bool enc11 = g->enc11;
  g->enc11 = d->file->mode == SLICEC_MODE_SLICE1;
  out(o, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v) {", c, c);
  if (st->fields.n == 0 && st->compact) {
    out(o, 1, "(void)e;");
    out(o, 1, "(void)v;");
  } else if (st->fields.n == 0) {
    out(o, 1, "(void)v;");
  }
  emit_enc_members(g, o, 1, &st->fields, "v->",
                   st->compact ? ENC_RETURN : ENC_FC);
  out(o, 0, "}");
  blank(o);
  out(o, 0, "int %s_decode(irpc_slice_in *in, %s *v) {", c, c);
  if (st->fields.n == 0)
    out(o, 1, "v->empty_ = 0;");
  emit_dec_members(g, o, 1, &st->fields, "v->",
                   st->compact ? DEC_COMPACT : DEC_STRUCT);
  out(o, 0, "}");
  g->enc11 = enc11;
}

/* A Slice1 enum: an int32_t and its enumerators, encoded as a size. */
static void emit_enum1(gen *g, const slicec_def *d) {
  const char *c = def_cname(g, d);
  const slicec_enum_def *en = &d->u.en;
  const char *banner = S(g, "%senum %s (Slice1: a size)",
                         en->unchecked ? "unchecked " : "", d->scoped_name);
  sb *h = &g->h, *o = &g->c;
  sb_printf(h, "\n/* ---- %s ---- */\n\n", banner);
  emit_doc(g, h, 0, d->doc);
  out(h, 0, "typedef int32_t %s;", c);
  emit_enumerators(g, h, c, en);
  blank(h);
  out(h, 0, "int %s_encode(irpc_slice_encoder *e, %s v);", c, c);
  out(h, 0, "int %s_decode(irpc_slice_in *in, %s *v);", c, c);

  sb_printf(o, "\n/* ---- %s ---- */\n\n", banner);
  out(o, 0, "int %s_encode(irpc_slice_encoder *e, %s v) {", c, c);
  out(o, 1, "/* A negative value is past any size: IRPC_EOVERFLOW. */");
  out(o, 1, "return irpc_slice_encode_size(e, v < 0 ? SIZE_MAX : (size_t)v);");
  out(o, 0, "}");
  blank(o);
  int64_t min = 0, max = 0;
  for (size_t i = 0; i < en->nenumerators; i++) {
    int64_t v = en->enumerators[i]->value;
    if (i == 0 || v < min)
      min = v;
    if (i == 0 || v > max)
      max = v;
  }
  bool contiguous = en->nenumerators > 0 &&
                    (uint64_t)max - (uint64_t)min == en->nenumerators - 1;
  out(o, 0, "int %s_decode(irpc_slice_in *in, %s *v) {", c, c);
  out(o, 1, "size_t x = 0;");
  out(o, 1, "int rc = irpc_slice_decode_size(&in->dec, &x);");
  if (!en->unchecked) {
    if (contiguous) {
      if (min > 0)
        out(o, 1, "if (rc == 0 && (x < %s || x > %s))", lit_i64(g, min),
            lit_i64(g, max));
      else
        out(o, 1, "if (rc == 0 && x > %s)", lit_i64(g, max));
      out(o, 2, "rc = irpc_slice_in_fail(in, IRPC_EENUM);");
    } else {
      out(o, 1, "switch (x) {");
      for (size_t i = 0; i < en->nenumerators; i++)
        out(o, 1, "case %s:", lit_i64(g, en->enumerators[i]->value));
      if (en->nenumerators)
        out(o, 2, "break;");
      out(o, 1, "default:");
      out(o, 2, "if (rc == 0)");
      out(o, 3, "rc = irpc_slice_in_fail(in, IRPC_EENUM);");
      out(o, 1, "}");
    }
  }
  out(o, 1, "*v = (%s)x;", c);
  out(o, 1, "return rc;");
  out(o, 0, "}");
}

static void emit_basic_enum(gen *g, const slicec_def *d) {
  if (is_enum1(d)) {
    emit_enum1(g, d);
    return;
  }
  const char *c = def_cname(g, d);
  const slicec_enum_def *en = &d->u.en;
  const slicec_primitive up = en->underlying->primitive;
  const struct prim *p = &prims[up];
  const char *banner = enum_banner(g, d);
  sb *h = &g->h, *o = &g->c;
  bool fits_int = true;
  for (size_t i = 0; i < en->nenumerators; i++) {
    int64_t v = en->enumerators[i]->value;
    if (p->is_unsigned ? (uint64_t)v > INT32_MAX
                       : (v < INT32_MIN || v > INT32_MAX))
      fits_int = false;
  }
  sb_printf(h, "\n/* ---- %s ---- */\n\n", banner);
  emit_doc(g, h, 0, d->doc);
  out(h, 0, "typedef %s %s;", p->c, c);
  if (en->nenumerators && fits_int) {
    out(h, 0, "enum {");
    for (size_t i = 0; i < en->nenumerators; i++) {
      const slicec_enumerator *x = en->enumerators[i];
      emit_doc(g, h, 1, x->doc);
      out(h, 1, "%s_%s = %s%s", c, x->name,
          p->is_unsigned ? lit_u64(g, (uint64_t)x->value)
                         : lit_i64(g, x->value),
          i + 1 < en->nenumerators ? "," : "");
    }
    out(h, 0, "};");
  } else {
    for (size_t i = 0; i < en->nenumerators; i++) {
      const slicec_enumerator *x = en->enumerators[i];
      emit_doc(g, h, 0, x->doc);
      out(h, 0, "#define %s_%s ((%s)%s)", c, x->name, c,
          p->is_unsigned ? lit_u64(g, (uint64_t)x->value)
                         : lit_i64(g, x->value));
    }
  }
  blank(h);
  out(h, 0, "int %s_encode(irpc_slice_encoder *e, %s v);", c, c);
  out(h, 0, "int %s_decode(irpc_slice_in *in, %s *v);", c, c);

  sb_printf(o, "\n/* ---- %s ---- */\n\n", banner);
  const char *pn = slicec_primitive_name(up);
  /* Contiguous values decode with a range check, others with a switch. */
  int64_t min = 0, max = 0;
  for (size_t i = 0; i < en->nenumerators; i++) {
    int64_t v = en->enumerators[i]->value;
    if (i == 0 || v < min)
      min = v;
    if (i == 0 || v > max)
      max = v;
  }
  bool contiguous = en->nenumerators > 0 &&
                    (uint64_t)max - (uint64_t)min == en->nenumerators - 1;
  bool u64 = up == SLICEC_UINT64;
  if (!en->unchecked && !u64 && !contiguous) {
    out(o, 0, "static int %s_valid(int64_t value, void *user_data) {", c);
    out(o, 1, "(void)user_data;");
    out(o, 1, "switch (value) {");
    for (size_t i = 0; i < en->nenumerators; i++)
      out(o, 1, "case %s:", lit_i64(g, en->enumerators[i]->value));
    if (en->nenumerators)
      out(o, 2, "return 1;");
    out(o, 1, "default:");
    out(o, 2, "return 0;");
    out(o, 1, "}");
    out(o, 0, "}");
    blank(o);
  }
  out(o, 0, "int %s_encode(irpc_slice_encoder *e, %s v) {", c, c);
  if (en->unchecked || u64)
    out(o, 1, "return irpc_slice_encode_%s(e, v);", pn);
  else
    out(o, 1, "return irpc_slice_encode_enum(e, IRPC_SLICE_%s, v);", p->up);
  out(o, 0, "}");
  blank(o);
  out(o, 0, "int %s_decode(irpc_slice_in *in, %s *v) {", c, c);
  if (en->unchecked) {
    out(o, 1, "return irpc_slice_decode_%s(&in->dec, v);", pn);
  } else if (u64) {
    out(o, 1, "uint64_t x = 0;");
    out(o, 1, "int rc = irpc_slice_decode_uint64(&in->dec, &x);");
    out(o, 1, "switch (x) {");
    for (size_t i = 0; i < en->nenumerators; i++)
      out(o, 1, "case %s:", lit_u64(g, (uint64_t)en->enumerators[i]->value));
    if (en->nenumerators)
      out(o, 2, "break;");
    out(o, 1, "default:");
    out(o, 2, "if (rc == 0)");
    out(o, 3, "rc = irpc_slice_in_fail(in, IRPC_EENUM);");
    out(o, 1, "}");
    out(o, 1, "*v = x;");
    out(o, 1, "return rc;");
  } else {
    out(o, 1, "int64_t x = 0;");
    if (contiguous)
      out(o, 1,
          "int rc = irpc_slice_decode_enum_range(&in->dec, IRPC_SLICE_%s, %s, "
          "%s, &x);",
          p->up, lit_i64(g, min), lit_i64(g, max));
    else
      out(o, 1,
          "int rc = irpc_slice_decode_enum_fn(&in->dec, IRPC_SLICE_%s, "
          "%s_valid, NULL, &x);",
          p->up, c);
    out(o, 1, "*v = (%s)x;", c);
    out(o, 1, "return rc;");
  }
  out(o, 0, "}");
}

static void emit_variant(gen *g, const slicec_def *d) {
  const char *c = def_cname(g, d);
  const slicec_enum_def *en = &d->u.en;
  const char *banner = enum_banner(g, d);
  sb *h = &g->h, *o = &g->c;
  sb_printf(h, "\n/* ---- %s ---- */\n\n", banner);
  emit_doc(g, h, 0, d->doc);
  if (emit_enumerators(g, h, c, en))
    blank(h);
  bool any_fields = false;
  for (size_t i = 0; i < en->nenumerators; i++)
    any_fields |= en->enumerators[i]->fields.n > 0;
  out(h, 0, "typedef struct %s {", c);
  out(h, 1, "int32_t tag; /* %s_* */", c);
  if (any_fields) {
    out(h, 1, "union {");
    for (size_t i = 0; i < en->nenumerators; i++) {
      const slicec_enumerator *x = en->enumerators[i];
      if (!x->fields.n)
        continue;
      out(h, 2, "struct {");
      emit_fields(g, h, 3, &x->fields);
      out(h, 2, "} %s;", x->name);
    }
    out(h, 1, "} u;");
  }
  if (en->unchecked)
    out(h, 1, "irpc_bytes unknown; /* the fields of an unknown tag */");
  out(h, 0, "} %s;", c);
  blank(h);
  out(h, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v);", c, c);
  out(h, 0, "int %s_decode(irpc_slice_in *in, %s *v);", c, c);

  sb_printf(o, "\n/* ---- %s ---- */\n\n", banner);
  out(o, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v) {", c, c);
  if (en->unchecked)
    out(o, 1, "irpc_slice_mark size;");
  out(o, 1, "irpc_slice_encode_varint32(e, v->tag);");
  if (en->unchecked)
    out(o, 1, "irpc_slice_encode_size_begin(e, 4, &size);");
  out(o, 1, "switch (v->tag) {");
  for (size_t i = 0; i < en->nenumerators; i++) {
    const slicec_enumerator *x = en->enumerators[i];
    const char *pfx = S(g, "v->u.%s.", x->name);
    bool braces = members_need_locals(g, &x->fields, true);
    out(o, 1, "case %s_%s:%s", c, x->name, braces ? " {" : "");
    emit_enc_members(g, o, 2, &x->fields, pfx, ENC_CASE);
    out(o, 2, "break;");
    if (braces)
      out(o, 1, "}");
  }
  out(o, 1, "default:");
  if (en->unchecked) {
    out(o, 2, "irpc_slice_encode_bytes(e, v->unknown.base, v->unknown.len);");
    out(o, 2, "return irpc_slice_encode_size_end(e, &size);");
  } else {
    out(o, 2, "return IRPC_EENUM;");
  }
  out(o, 1, "}");
  if (en->unchecked) {
    if (!en->compact)
      out(o, 1, "irpc_slice_encode_tag_end_marker(e);");
    out(o, 1, "return irpc_slice_encode_size_end(e, &size);");
  } else if (!en->compact) {
    out(o, 1, "return irpc_slice_encode_tag_end_marker(e);");
  } else {
    out(o, 1, "return 0;");
  }
  out(o, 0, "}");
  blank(o);
  out(o, 0, "int %s_decode(irpc_slice_in *in, %s *v) {", c, c);
  out(o, 1, "irpc_slice_decoder *d = &in->dec;");
  out(o, 1, "int32_t tag = -1;");
  if (en->unchecked) {
    out(o, 1, "irpc_slice_scope size;");
    out(o, 1,
        "if (irpc_slice_decode_varint32(d, &tag) || "
        "irpc_slice_decode_sized_begin(d, &size))");
  } else {
    out(o, 1, "if (irpc_slice_decode_varint32(d, &tag))");
  }
  out(o, 2, "return irpc_slice_decoder_error(d);");
  out(o, 1, "v->tag = tag;");
  if (en->unchecked) {
    out(o, 1, "v->unknown.base = NULL;");
    out(o, 1, "v->unknown.len = 0;");
  }
  out(o, 1, "switch (tag) {");
  for (size_t i = 0; i < en->nenumerators; i++) {
    const slicec_enumerator *x = en->enumerators[i];
    const char *pfx = S(g, "v->u.%s.", x->name);
    bool braces = members_need_locals(g, &x->fields, false);
    out(o, 1, "case %s_%s:%s", c, x->name, braces ? " {" : "");
    emit_dec_members(g, o, 2, &x->fields, pfx, DEC_CASE);
    out(o, 2, "break;");
    if (braces)
      out(o, 1, "}");
  }
  if (en->unchecked) {
    out(o, 1, "default: {");
    out(o, 2, "size_t n = irpc_slice_decoder_remaining(d);");
    out(o, 2, "uint8_t *p = irpc_slice_in_alloc(in, n);");
    out(o, 2, "if (!p)");
    out(o, 3, "return irpc_slice_decoder_error(d);");
    out(o, 2, "irpc_slice_decode_bytes(d, p, n);");
    out(o, 2, "v->unknown.base = p;");
    out(o, 2, "v->unknown.len = n;");
    out(o, 2, "return irpc_slice_decode_scope_end(d, &size);");
    out(o, 1, "}");
  } else {
    out(o, 1, "default:");
    out(o, 2, "return irpc_slice_in_fail(in, IRPC_EENUM);");
  }
  out(o, 1, "}");
  if (!en->compact)
    out(o, 1, "irpc_slice_decode_tags_end(d);");
  if (en->unchecked)
    out(o, 1, "irpc_slice_decode_scope_end(d, &size);");
  out(o, 1, "return irpc_slice_decoder_error(d);");
  out(o, 0, "}");
}

static void emit_custom(gen *g, const slicec_def *d) {
  if (proxy_iface(g, d))
    return; /* the interface's proxy type */
  const char *c = def_cname(g, d);
  const char *ct = attr_arg(d->attrs, "c::type");
  const struct known_custom *k = known_custom(d);
  if (k) {
    sb *h = &g->h, *o = &g->c;
    const char *kt = k->ctype ? k->ctype : c;
    sb_printf(h, "\n/* ---- custom %s ---- */\n\n", d->scoped_name);
    emit_doc(g, h, 0, d->doc);
    if (!k->ctype)
      out(h, 0, "typedef struct %s {\n  %s\n} %s;\n", c, k->typedef_body, c);
    out(h, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v);", c, kt);
    out(h, 0, "int %s_decode(irpc_slice_in *in, %s *v);", c, kt);
    sb_printf(o, "\n/* ---- custom %s ---- */\n\n", d->scoped_name);
    out(o, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v) {", c, kt);
    out(o, 1, "%s", k->enc);
    out(o, 0, "}");
    blank(o);
    out(o, 0, "int %s_decode(irpc_slice_in *in, %s *v) {", c, kt);
    out(o, 1, "%s", k->dec);
    out(o, 0, "}");
    return;
  }
  if (!ct) {
    diag(g, d->loc, "E201",
         "custom type '%s' needs [c::type(\"...\")] naming its C type (and "
         "its encode and decode functions, %s_encode and %s_decode, written "
         "by hand)",
         d->scoped_name, c, c);
    ct = c;
  }
  sb *h = &g->h;
  sb_printf(h, "\n/* ---- custom %s ---- */\n\n", d->scoped_name);
  emit_comment(
      g, h, 0,
      S(g, "%s is %s: the application provides these two.", d->name, ct),
      d->doc);
  out(h, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v);", c, ct);
  out(h, 0, "int %s_decode(irpc_slice_in *in, %s *v);", c, ct);
}

static void emit_alias(gen *g, const slicec_def *d) {
  sb *h = &g->h;
  sb_printf(h, "\n/* ---- typealias %s = %s ---- */\n\n", d->scoped_name,
            spell(g, d->u.alias.type));
  emit_doc(g, h, 0, d->doc);
  out(h, 0, "typedef %s %s;", ctype(g, d->u.alias.type), def_cname(g, d));
}

/* A forward declaration, so that a sequence can point to a type being
 * emitted. */
static void forward(gen *g, const slicec_def *d) {
  if (mark_state(g, d, MK_FWD) ||
      (d->kind != SLICEC_DEF_STRUCT && d->kind != SLICEC_DEF_ENUM))
    return;
  if (d->kind == SLICEC_DEF_ENUM && (d->u.en.underlying || is_enum1(d)))
    return;
  mark_set(g, d, MK_FWD, 2);
  const char *c = def_cname(g, d);
  sb_printf(&g->h, "\ntypedef struct %s %s;\n", c, c);
  out(&g->h, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v);", c, c);
  out(&g->h, 0, "int %s_decode(irpc_slice_in *in, %s *v);", c, c);
}

static void emit_def(gen *g, const slicec_def *d) {
  switch (d->kind) {
  case SLICEC_DEF_STRUCT:
    emit_struct(g, d);
    break;
  case SLICEC_DEF_ENUM:
    if (d->u.en.underlying || is_enum1(d))
      emit_basic_enum(g, d);
    else
      emit_variant(g, d);
    break;
  case SLICEC_DEF_CUSTOM:
    emit_custom(g, d);
    break;
  case SLICEC_DEF_ALIAS:
    emit_alias(g, d);
    break;
  case SLICEC_DEF_CONST: {
    /* .ice constants: gen_c_const.c. */
    const slicec_type_ref *u = ua(d->u.cnst.type);
    char *text = slicec_gen_c_const(
        d, def_cname(g, d),
        u && u->kind == SLICEC_TYPE_DEFINED && u->def ? def_cname(g, u->def)
                                                      : NULL);
    if (text) {
      sb_puts(&g->h, "\n");
      sb_puts(&g->h, text);
    } else {
      g->oom = true;
    }
    free(text);
    break;
  }
  default:
    break;
  }
}

static void need_def(gen *g, const slicec_def *d) {
  if (d->kind == SLICEC_DEF_INTERFACE) {
    need_iface(g, d);
    return;
  }
  int st = mark_state(g, d, MK_DEF);
  if (st == 2)
    return;
  if (st == 1) {
    forward(g, d);
    return;
  }
  mark_set(g, d, MK_DEF, 1);
  ctx_save saved = ctx_enter(g, d);
  switch (d->kind) {
  case SLICEC_DEF_STRUCT:
    need_members(g, &d->u.st.fields);
    break;
  case SLICEC_DEF_ENUM:
    for (size_t i = 0; i < d->u.en.nenumerators; i++)
      need_members(g, &d->u.en.enumerators[i]->fields);
    break;
  case SLICEC_DEF_ALIAS:
    need_type(g, d->u.alias.type);
    break;
  case SLICEC_DEF_CONST:
    need_type(g, d->u.cnst.type);
    break;
  default:
    break;
  }
  /* In an include cycle, each definition is guarded: the headers of the
   * cycle each define what they need. The functions of another file's
   * type are that file's. */
  bool guard =
      g->in_cycle &&
      !(d->kind == SLICEC_DEF_CUSTOM &&
        (proxy_iface(g, d) || (!known_custom(d) && d->file != g->out)));
  if (guard)
    sb_printf(&g->h, "\n#ifndef %s_DEFINED\n#define %s_DEFINED",
              def_cname(g, d), def_cname(g, d));
  if (d->kind == SLICEC_DEF_CUSTOM && !known_custom(d) && d->file != g->out) {
    /* declared by its own header, its C type by its c::include */
  } else if (d->file != g->out) {
    sb own = g->c;
    g->c = (sb){0};
    emit_def(g, d);
    g->oom |= g->c.oom;
    free(g->c.p);
    g->c = own;
  } else {
    emit_def(g, d);
  }
  if (guard)
    sb_puts(&g->h, "#endif\n");
  ctx_leave(g, saved);
  mark_set(g, d, MK_DEF, 2);
  flush_deferred(g);
}

/* ---- exceptions (Slice1) --------------------------------------------------
 */

enum { MK_EXC = MK_FWD + 1 };

static void emit_wrapped(sb *o, const char *text);

static void emit_exception(gen *g, const slicec_def *d) {
  const char *c = def_cname(g, d);
  const char *U = upper(g, c);
  const slicec_exception_def *x = &d->u.exc;
  const slicec_member_list *ml = &x->fields;
  sb *h = &g->h, *o = &g->c;
  const char *banner =
      S(g, "exception %s%s%s", d->scoped_name, x->base ? " : " : "",
        x->base ? x->base->scoped_name : "");
  sb_printf(h, "\n/* ---- %s ---- */\n\n", banner);
  emit_doc(g, h, 0, d->doc);
  out(h, 0, "#define %s_TYPE_ID \"::%s\"", U, d->scoped_name);
  blank(h);
  out(h, 0, "typedef struct %s {", c);
  if (x->base)
    out(h, 1, "%s base; /* ::%s */", def_cname(g, x->base),
        x->base->scoped_name);
  else if (ml->n == 0)
    out(h, 1, "char empty_; /* no fields */");
  emit_fields(g, h, 1, ml);
  out(h, 0, "} %s;", c);
  blank(h);
  out(h, 0, "extern const irpc_slice_exception_desc %s_desc;", c);
  blank(h);
  out(h, 0, "/* The whole exception, in the sliced format. */");
  out(h, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v);", c, c);
  blank(h);
  emit_wrapped(h, S(g,
                    "The %s a call's reply carries (the callback's err is "
                    "IRPC_ESTATUS), as itself or one derived from it, or "
                    "NULL.",
                    d->name));
  out(h, 0,
      "static inline const %s *%s_from_reply(const irpc_slice_reply *reply) "
      "{",
      c, c);
  out(h, 1, "const irpc_slice_exception_desc *d;");
  out(h, 1, "const void *v = irpc_slice_reply_exception(reply, &d);");
  out(h, 1,
      "return v && irpc_slice_exception_is(d, &%s_desc) ? (const %s *)v : "
      "NULL;",
      c, c);
  out(h, 0, "}");
  blank(h);
  out(h, 0,
      "/* Completes a dispatch by throwing it (irpc_slice_dispatch_throw). */");
  out(h, 0,
      "static inline int %s_throw(irpc_slice_dispatch *sd, const %s *v) {", c,
      c);
  out(h, 1, "return irpc_slice_dispatch_throw(sd, &%s_desc, v);", c);
  out(h, 0, "}");

  bool saved = g->enc11;
  g->enc11 = true;
  sb_printf(o, "\n/* ---- %s ---- */\n\n", banner);
  out(o, 0,
      "static int %s_encode_slice(irpc_slice_encoder *e, const void *value, "
      "bool last) {",
      c);
  out(o, 1, "const %s *v = value;", c);
  if (ml->n == 0)
    out(o, 1, "(void)v;");
  out(o, 1, "irpc_slice_mark slice;");
  sb tg = {0};
  for (size_t i = 0; i < ml->n; i++)
    if (ml->items[i]->tagged)
      sb_printf(&tg, "%sv->has_%s", tg.n ? " || " : "",
                member_cname(g, ml->items[i]));
  out(o, 1, "bool tagged = %s;", tg.n ? tg.p : "false");
  free(tg.p);
  out(o, 1,
      "irpc_slice_encode_exception_slice_begin_flags(e, %s_TYPE_ID, "
      "sizeof(%s_TYPE_ID) - 1, IRPC_SLICE_EXC_HAS_SLICE_SIZE | (last ? "
      "IRPC_SLICE_EXC_IS_LAST_SLICE : 0) | (tagged ? "
      "IRPC_SLICE_EXC_HAS_TAGGED_FIELDS : 0), &slice);",
      U, U);
  emit_enc_members(g, o, 1, ml, "v->", ENC_CASE);
  out(o, 1, "if (tagged)");
  out(o, 2, "irpc_slice_encode_uint8(e, IRPC_SLICE1_TAG_END_MARKER);");
  out(o, 1, "return irpc_slice_encode_exception_slice_end(e, &slice);");
  out(o, 0, "}");
  blank(o);
  out(o, 0,
      "static int %s_decode_slice(irpc_slice_in *in, void *value, uint8_t "
      "flags) {",
      c);
  out(o, 1, "%s *v = value;", c);
  out(o, 1, "irpc_slice_decoder *d = &in->dec;");
  if (ml->n == 0)
    out(o, 1, "(void)v;");
  g->tag_guard = "flags & IRPC_SLICE_EXC_HAS_TAGGED_FIELDS";
  emit_dec_members(g, o, 1, ml, "v->", DEC_CASE);
  g->tag_guard = NULL;
  out(o, 1, "if (flags & IRPC_SLICE_EXC_HAS_TAGGED_FIELDS)");
  out(o, 2, "irpc_slice_decode_tags11_end(d, true);");
  out(o, 1, "return irpc_slice_decoder_error(d);");
  out(o, 0, "}");
  blank(o);
  out(o, 0, "const irpc_slice_exception_desc %s_desc = {", c);
  out(o, 2, ".struct_size = sizeof(irpc_slice_exception_desc),");
  out(o, 2, ".type_id = %s_TYPE_ID,", U);
  out(o, 2, ".base = %s,",
      x->base ? S(g, "&%s_desc", def_cname(g, x->base)) : "NULL");
  out(o, 2, ".size = sizeof(%s),", c);
  out(o, 2, ".encode_slice = %s_encode_slice,", c);
  out(o, 2, ".decode_slice = %s_decode_slice};", c);
  blank(o);
  out(o, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v) {", c, c);
  out(o, 1, "return irpc_slice_encode_exception(e, &%s_desc, v);", c);
  out(o, 0, "}");
  g->enc11 = saved;
}

static void need_exception(gen *g, const slicec_def *d) {
  if (mark_state(g, d, MK_EXC))
    return;
  mark_set(g, d, MK_EXC, 1);
  const slicec_def *b = d->u.exc.base;
  if (b) {
    if (b->file == g->out)
      need_exception(g, b);
    else
      add_include(g, b->file);
  }
  need_members(g, &d->u.exc.fields);
  emit_exception(g, d);
  mark_set(g, d, MK_EXC, 2);
}

/* ---- generic instantiations -----------------------------------------------
 */

static void emit_seq_codecs(gen *g, inst *in) {
  sb *h = &g->h;
  const char *c = in->cname;
  const slicec_type_ref *el = in->t->element;
  const char *et = ctype(g, el);
  enum kind ek = tkind(g, el);
  if (!el->optional && ek == K_PRIM) {
    const char *up = prims[ua(el)->primitive].up;
    out(h, 0,
        "static inline int %s_encode(irpc_slice_encoder *e, const %s *v) {", c,
        c);
    out(h, 1, "return irpc_slice_encode_seq(e, IRPC_SLICE_%s, v->items, v->n);",
        up);
    out(h, 0, "}");
    blank(h);
    out(h, 0, "static inline int %s_decode(irpc_slice_in *in, %s *v) {", c, c);
    out(h, 1, "void *items = NULL;");
    out(h, 1,
        "int rc = irpc_slice_decode_seq_in(in, IRPC_SLICE_%s, &items, &v->n);",
        up);
    out(h, 1, "v->items = items;");
    out(h, 1, "return rc;");
    out(h, 0, "}");
    return;
  }
  const char *st[2];
  int n = enc_stmts(g, el, "v->items[i]", st);
  out(h, 0, "static inline int %s_encode(irpc_slice_encoder *e, const %s *v) {",
      c, c);
  /* Optional proxies in Ice 1.1: a null proxy for each absent one. */
  const char *plv = el->optional ? proxy_lv(g, el, "v->items[i]") : NULL;
  if (plv) {
    out(h, 1,
        "if (irpc_slice_encoder_encoding(e) == IRPC_SLICE_ENCODING_1_1) {");
    out(h, 2, "int rc = irpc_slice_encode_size(e, v->n);");
    out(h, 2, "for (size_t i = 0; i < v->n && rc == 0; i++)");
    out(h, 3,
        "rc = !v->present || ((v->present[i >> 3] >> (i & 7)) & 1) ? %s : "
        "irpc_slice_encode_proxy(e, NULL, NULL);",
        st[0]);
    out(h, 2, "return rc;");
    out(h, 1, "}");
  }
  if (el->optional) {
    out(h, 1, "irpc_slice_bit_writer bits;");
    out(h, 1, "int rc = irpc_slice_encode_size(e, v->n);");
    out(h, 1, "irpc_slice_encode_bitseq(e, v->n, &bits);");
    out(h, 1, "for (size_t i = 0; i < v->n && rc == 0; i++) {");
    out(h, 2,
        "bool has = !v->present || ((v->present[i >> 3] >> (i & 7)) & 1);");
    out(h, 2, "irpc_slice_bit_writer_put(e, &bits, has);");
    out(h, 2, "if (!has)");
    out(h, 3, "continue;");
    for (int k = 0; k < n - 1; k++)
      out(h, 2, "%s;", st[k]);
    out(h, 2, "rc = %s;", st[n - 1]);
    out(h, 1, "}");
  } else {
    out(h, 1, "int rc = irpc_slice_encode_size(e, v->n);");
    if (n == 1) {
      out(h, 1, "for (size_t i = 0; i < v->n && rc == 0; i++)");
      out(h, 2, "rc = %s;", st[0]);
    } else {
      out(h, 1, "for (size_t i = 0; i < v->n && rc == 0; i++) {");
      out(h, 2, "%s;", st[0]);
      out(h, 2, "rc = %s;", st[1]);
      out(h, 1, "}");
    }
  }
  out(h, 1, "return rc;");
  out(h, 0, "}");
  blank(h);
  out(h, 0, "static inline int %s_decode(irpc_slice_in *in, %s *v) {", c, c);
  const char *x = dec_expr(g, el, "v->items[i]", "&in->dec");
  if (plv) {
    out(h, 1,
        "if (irpc_slice_decoder_encoding(&in->dec) == IRPC_SLICE_ENCODING_1_1) "
        "{");
    out(h, 2, "void *items;");
    out(h, 2, "uint8_t *present = NULL;");
    out(h, 2,
        "int rc = irpc_slice_decode_array(in, 2, sizeof(%s), &v->n, &items);",
        et);
    out(h, 2, "v->items = items;");
    out(h, 2, "if (rc == 0 && v->n)");
    out(h, 3, "present = irpc_slice_in_alloc(in, (v->n + 7) / 8);");
    out(h, 2, "if (rc == 0 && v->n && !present)");
    out(h, 3, "return irpc_slice_decoder_error(&in->dec);");
    out(h, 2, "if (present)");
    out(h, 3, "memset(present, 0, (v->n + 7) / 8);");
    out(h, 2, "v->present = present;");
    out(h, 2, "for (size_t i = 0; i < v->n && rc == 0; i++) {");
    out(h, 3, "bool has = false;");
    out(h, 3, "rc = irpc_slice_decode_proxy_opt(in, &%s, &has);", plv);
    out(h, 3, "if (has)");
    out(h, 4, "present[i >> 3] |= (uint8_t)(1u << (i & 7));");
    out(h, 2, "}");
    out(h, 2, "return rc;");
    out(h, 1, "}");
  }
  if (el->optional) {
    out(h, 1, "irpc_slice_decoder *d = &in->dec;");
    out(h, 1, "irpc_slice_bit_reader bits;");
    out(h, 1, "uint8_t *present;");
    out(h, 1, "size_t n = 0;");
    out(h, 1, "int rc = irpc_slice_decode_size(d, &n);");
    out(h, 1, "if (rc)");
    out(h, 2, "return rc;");
    out(h, 1,
        "if ((n + 7) / 8 > irpc_slice_decoder_remaining(d) || n > SIZE_MAX / "
        "sizeof(%s))",
        et);
    out(h, 2, "return irpc_slice_in_fail(in, IRPC_ETRUNCATED);");
    out(h, 1, "v->n = n;");
    out(h, 1, "v->items = irpc_slice_in_alloc(in, n * sizeof(%s));", et);
    out(h, 1, "v->present = present = irpc_slice_in_alloc(in, (n + 7) / 8);");
    out(h, 1, "if (!v->items || !present)");
    out(h, 2, "return irpc_slice_decoder_error(d);");
    out(h, 1, "memset(present, 0, (n + 7) / 8);");
    out(h, 1, "rc = irpc_slice_decode_bitseq(d, n, &bits);");
    out(h, 1, "for (size_t i = 0; i < n && rc == 0; i++) {");
    out(h, 2, "bool has = false;");
    out(h, 2, "rc = irpc_slice_bit_reader_get(d, &bits, &has);");
    out(h, 2, "if (rc || !has)");
    out(h, 3, "continue;");
    out(h, 2, "present[i >> 3] |= (uint8_t)(1u << (i & 7));");
    out(h, 2, "rc = %s;", x);
    out(h, 1, "}");
    out(h, 1, "return rc;");
  } else {
    out(h, 1, "void *items;");
    out(h, 1,
        "int rc = irpc_slice_decode_array(in, %zu, sizeof(%s), &v->n, "
        "&items);",
        minwire(g, el), et);
    out(h, 1, "v->items = items;");
    out(h, 1, "for (size_t i = 0; i < v->n && rc == 0; i++)");
    out(h, 2, "rc = %s;", x);
    out(h, 1, "return rc;");
  }
  out(h, 0, "}");
}

static void emit_dict_codecs(gen *g, inst *in) {
  sb *h = &g->h;
  const char *c = in->cname;
  const slicec_type_ref *k = in->t->key, *v = in->t->value;
  const char *st[2];
  out(h, 0, "static inline int %s_encode(irpc_slice_encoder *e, const %s *v) {",
      c, c);
  const char *vlv = v->optional ? proxy_lv(g, v, "x->value") : NULL;
  if (vlv) { /* Ice 1.1: a null proxy for each absent value */
    out(h, 1,
        "if (irpc_slice_encoder_encoding(e) == IRPC_SLICE_ENCODING_1_1) {");
    out(h, 2, "int rc = irpc_slice_encode_size(e, v->n);");
    out(h, 2, "for (size_t i = 0; i < v->n && rc == 0; i++) {");
    out(h, 3, "const %s_entry *x = &v->items[i];", c);
    int kn = enc_stmts(g, k, "x->key", st);
    for (int i = 0; i < kn; i++)
      out(h, 3, "%s;", st[i]);
    enc_stmts(g, v, "x->value", st);
    out(h, 3,
        "rc = x->has_value ? %s : irpc_slice_encode_proxy(e, NULL, NULL);",
        st[0]);
    out(h, 2, "}");
    out(h, 2, "return rc;");
    out(h, 1, "}");
  }
  out(h, 1, "int rc = irpc_slice_encode_size(e, v->n);");
  out(h, 1, "for (size_t i = 0; i < v->n && rc == 0; i++) {");
  out(h, 2, "const %s_entry *x = &v->items[i];", c);
  /* An optional value: the entry's 1-byte bit sequence comes first. */
  if (v->optional) {
    out(h, 2, "irpc_slice_bit_writer bits;");
    out(h, 2, "irpc_slice_encode_bitseq(e, 1, &bits);");
  }
  int n = enc_stmts(g, k, "x->key", st);
  for (int i = 0; i < n; i++)
    out(h, 2, "%s;", st[i]);
  n = enc_stmts(g, v, "x->value", st);
  if (v->optional) {
    out(h, 2, "rc = irpc_slice_bit_writer_put(e, &bits, x->has_value);");
    if (n == 1) {
      out(h, 2, "if (x->has_value)");
      out(h, 3, "rc = %s;", st[0]);
    } else {
      out(h, 2, "if (x->has_value) {");
      out(h, 3, "%s;", st[0]);
      out(h, 3, "rc = %s;", st[1]);
      out(h, 2, "}");
    }
  } else {
    for (int i = 0; i < n - 1; i++)
      out(h, 2, "%s;", st[i]);
    out(h, 2, "rc = %s;", st[n - 1]);
  }
  out(h, 1, "}");
  out(h, 1, "return rc;");
  out(h, 0, "}");
  blank(h);
  out(h, 0, "static inline int %s_decode(irpc_slice_in *in, %s *v) {", c, c);
  if (vlv) {
    out(h, 1,
        "if (irpc_slice_decoder_encoding(&in->dec) == IRPC_SLICE_ENCODING_1_1) "
        "{");
    out(h, 2, "void *items;");
    out(h, 2,
        "int rc = irpc_slice_decode_array(in, %zu, sizeof(%s_entry), &v->n, "
        "&items);",
        minwire(g, k) + 2, c);
    out(h, 2, "v->items = items;");
    out(h, 2, "for (size_t i = 0; i < v->n && rc == 0; i++) {");
    out(h, 3, "%s_entry *x = &v->items[i];", c);
    out(h, 3, "%s;", dec_expr(g, k, "x->key", "&in->dec"));
    out(h, 3, "rc = irpc_slice_decode_proxy_opt(in, &%s, &x->has_value);", vlv);
    out(h, 2, "}");
    out(h, 2, "return rc;");
    out(h, 1, "}");
  }
  out(h, 1, "void *items;");
  out(h, 1,
      "int rc = irpc_slice_decode_array(in, %zu, sizeof(%s_entry), &v->n, "
      "&items);",
      minwire(g, k) + (v->optional ? 1 : minwire(g, v)), c);
  out(h, 1, "v->items = items;");
  out(h, 1, "for (size_t i = 0; i < v->n && rc == 0; i++) {");
  out(h, 2, "%s_entry *x = &v->items[i];", c);
  if (v->optional) {
    out(h, 2, "irpc_slice_bit_reader bits;");
    out(h, 2, "bool present = false;");
    out(h, 2, "irpc_slice_decode_bitseq(&in->dec, 1, &bits);");
  }
  out(h, 2, "%s;", dec_expr(g, k, "x->key", "&in->dec"));
  if (v->optional) {
    out(h, 2, "rc = irpc_slice_bit_reader_get(&in->dec, &bits, &present);");
    out(h, 2, "if ((x->has_value = present))");
    out(h, 3, "rc = %s;", dec_expr(g, v, "x->value", "&in->dec"));
  } else {
    out(h, 2, "rc = %s;", dec_expr(g, v, "x->value", "&in->dec"));
  }
  out(h, 1, "}");
  out(h, 1, "return rc;");
  out(h, 0, "}");
}

/* One side of a Result: statements ending in a return. */
static void emit_result_side_enc(gen *g, sb *h, int ind,
                                 const slicec_type_ref *t, const char *lv) {
  const char *st[2];
  if (t->optional) {
    out(h, ind, "irpc_slice_bit_writer bits;");
    out(h, ind, "irpc_slice_encode_bitseq(e, 1, &bits);");
    out(h, ind, "irpc_slice_bit_writer_put(e, &bits, v->has_value);");
    out(h, ind, "if (!v->has_value)");
    out(h, ind + 1, "return 0;");
  }
  int n = enc_stmts(g, t, lv, st);
  for (int i = 0; i < n - 1; i++)
    out(h, ind, "%s;", st[i]);
  out(h, ind, "return %s;", st[n - 1]);
}

static void emit_result_side_dec(gen *g, sb *h, const slicec_type_ref *t,
                                 const char *lv, bool ok) {
  if (!t->optional) {
    out(h, 1, "case %d:", ok ? 0 : 1);
    out(h, 2, "v->ok = %s;", ok ? "true" : "false");
    out(h, 2, "return %s;", dec_expr(g, t, lv, "&in->dec"));
    return;
  }
  out(h, 1, "case %d: {", ok ? 0 : 1);
  out(h, 2, "irpc_slice_bit_reader bits;");
  out(h, 2, "bool present = false;");
  out(h, 2, "v->ok = %s;", ok ? "true" : "false");
  out(h, 2, "irpc_slice_decode_bitseq(&in->dec, 1, &bits);");
  out(h, 2, "irpc_slice_bit_reader_get(&in->dec, &bits, &present);");
  out(h, 2, "if (!(v->has_value = present))");
  out(h, 3, "return irpc_slice_decoder_error(&in->dec);");
  out(h, 2, "return %s;", dec_expr(g, t, lv, "&in->dec"));
  out(h, 1, "}");
}

static void emit_result_codecs(gen *g, inst *in) {
  sb *h = &g->h;
  const char *c = in->cname;
  const slicec_type_ref *s = in->t->success, *f = in->t->failure;
  const char *ss[2], *fs[2];
  out(h, 0, "static inline int %s_encode(irpc_slice_encoder *e, const %s *v) {",
      c, c);
  out(h, 1, "irpc_slice_encode_varint32(e, v->ok ? 0 : 1);");
  if (!s->optional && !f->optional &&
      enc_stmts(g, s, "v->u.success", ss) == 1 &&
      enc_stmts(g, f, "v->u.failure", fs) == 1) {
    out(h, 1, "return v->ok ? %s : %s;", ss[0], fs[0]);
  } else {
    out(h, 1, "if (v->ok) {");
    emit_result_side_enc(g, h, 2, s, "v->u.success");
    out(h, 1, "}");
    emit_result_side_enc(g, h, 1, f, "v->u.failure");
  }
  out(h, 0, "}");
  blank(h);
  out(h, 0, "static inline int %s_decode(irpc_slice_in *in, %s *v) {", c, c);
  out(h, 1, "int32_t disc = -1;");
  out(h, 1, "irpc_slice_decode_varint32(&in->dec, &disc);");
  out(h, 1, "switch (disc) {");
  emit_result_side_dec(g, h, s, "v->u.success", true);
  emit_result_side_dec(g, h, f, "v->u.failure", false);
  out(h, 1, "default:");
  out(h, 2, "return irpc_slice_in_fail(in, IRPC_EENUM);");
  out(h, 1, "}");
  out(h, 0, "}");
}

static void emit_inst_codecs(gen *g, inst *in) {
  blank(&g->h);
  if (in->t->kind == SLICEC_TYPE_SEQUENCE)
    emit_seq_codecs(g, in);
  else if (in->t->kind == SLICEC_TYPE_DICTIONARY)
    emit_dict_codecs(g, in);
  else
    emit_result_codecs(g, in);
}

static void emit_inst(gen *g, inst *in) {
  sb *h = &g->h;
  const char *c = in->cname;
  const char *U = upper(g, c);
  const slicec_type_ref *t = in->t;
  sb_printf(h, "\n/* ---- %s ---- */\n\n", spell_inst(g, t));
  const slicec_def *wait = pending_elem(g, in);
  if (wait)
    forward(g, wait);
  out(h, 0, "#ifndef %s_DEFINED", U);
  out(h, 0, "#define %s_DEFINED", U);
  if (t->kind == SLICEC_TYPE_SEQUENCE) {
    out(h, 0, "typedef struct %s {", c);
    out(h, 1, "size_t n;");
    out(h, 1, "%s *items;", ctype(g, t->element));
    if (t->element->optional)
      out(h, 1, "const uint8_t *present; /* bit i: items[i] is set */");
    out(h, 0, "} %s;", c);
  } else if (t->kind == SLICEC_TYPE_DICTIONARY) {
    out(h, 0, "typedef struct %s_entry {", c);
    out(h, 1, "%s key;", ctype(g, t->key));
    if (t->value->optional)
      out(h, 1, "bool has_value;");
    out(h, 1, "%s value;", ctype(g, t->value));
    out(h, 0, "} %s_entry;", c);
    blank(h);
    out(h, 0, "typedef struct %s {", c);
    out(h, 1, "size_t n;");
    out(h, 1, "%s_entry *items; /* in wire order */", c);
    out(h, 0, "} %s;", c);
  } else {
    out(h, 0, "typedef struct %s {", c);
    out(h, 1, "bool ok;");
    if (t->success->optional || t->failure->optional)
      out(h, 1, "bool has_value; /* for an optional success or failure */");
    out(h, 1, "union {");
    out(h, 2, "%s success;", ctype(g, t->success));
    out(h, 2, "%s failure;", ctype(g, t->failure));
    out(h, 1, "} u;");
    out(h, 0, "} %s;", c);
  }
  if (wait) {
    in->deferred = true;
    out(h, 0, "#endif");
    return;
  }
  emit_inst_codecs(g, in);
  out(h, 0, "#endif");
}

/* ---- interfaces ------------------------------------------------------------
 */

typedef struct opinfo {
  const slicec_operation *op;
  const char *name;            /* C name of the operation (suffix) */
  const char *full;            /* M_I_name */
  bool ret_struct;             /* returns through M_I_op_ret */
  bool tuple;                  /* ... declared in the header */
  const slicec_type_ref *ret1; /* the single return type, or NULL */
} opinfo;

static void op_info(gen *g, const slicec_def *d, const slicec_operation *op,
                    opinfo *oi) {
  oi->op = op;
  oi->name = op_cname(g, op);
  oi->full = S(g, "%s_%s", def_cname(g, d), oi->name);
  oi->tuple = op->returns.n > 1 || op->returns_tuple;
  oi->ret1 =
      !oi->tuple && op->returns.n == 1 ? op->returns.items[0]->type : NULL;
  oi->ret_struct =
      oi->tuple ||
      (oi->ret1 && (oi->ret1->optional || op->returns.items[0]->tagged));
}

static const char *param_decl(gen *g, const slicec_member *m) {
  const char *t = ctype(g, m->type);
  if (m->type->optional || !by_value(g, m->type))
    return S(g, "const %s *%s", t, member_cname(g, m));
  return S(g, "%s %s", t, member_cname(g, m));
}

/* ", T a, const U *b" for a member list. */
static const char *members_decl(gen *g, const slicec_member_list *ml) {
  sb b = {0};
  for (size_t i = 0; i < ml->n; i++)
    sb_printf(&b, ", %s", param_decl(g, ml->items[i]));
  const char *r = S(g, "%s", b.p ? b.p : "");
  free(b.p);
  return r;
}

static const char *params_decl(gen *g, const slicec_operation *op) {
  return members_decl(g, &op->params);
}

/* ", a, b" : the members passed on as they were received. */
static const char *members_pass(gen *g, const slicec_member_list *ml) {
  sb b = {0};
  for (size_t i = 0; i < ml->n; i++)
    sb_printf(&b, ", %s", member_cname(g, ml->items[i]));
  const char *r = S(g, "%s", b.p ? b.p : "");
  free(b.p);
  return r;
}

/* The `ret` parameter of the callback (with its leading ", "), "" for a
 * void operation. */
static const char *ret_param(gen *g, const opinfo *oi) {
  if (oi->tuple)
    return S(g, ", const %s_ret *ret", oi->full);
  if (!oi->ret1)
    return "";
  return S(g, ", const %s *ret", ctype(g, oi->ret1));
}

static const char *reply_param(gen *g, const opinfo *oi) {
  if (oi->tuple)
    return members_decl(g, &oi->op->returns);
  if (!oi->ret1)
    return "";
  if (oi->ret1->optional || !by_value(g, oi->ret1))
    return S(g, ", const %s *ret", ctype(g, oi->ret1));
  return S(g, ", %s ret", ctype(g, oi->ret1));
}

static bool is_ident(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9'))
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
      return false;
  return true;
}

static const char *member_sig(gen *g, const slicec_member *m) {
  return S(g, "%s%s: %s%s", m->tagged ? S(g, "tag(%d) ", (int)m->tag) : "",
           m->name, m->stream ? "stream " : "", spell(g, m->type));
}

/* `[attrs] [idempotent ]name(params)[ -> returns]`, the return on a line
 * of its own when the whole does not fit in a comment line. */
static const char *op_sig(gen *g, const slicec_operation *op) {
  const stream_op *so = op_stream(g, op);
  if (so)
    op = so->orig;
  sb b = {0};
  for (size_t i = 0; i < op->attrs.n; i++) {
    const slicec_attr *a = op->attrs.items[i];
    sb_printf(&b, "[%s", a->directive);
    if (a->nargs) {
      sb_puts(&b, "(");
      for (size_t j = 0; j < a->nargs; j++)
        sb_printf(&b, is_ident(a->args[j]) ? "%s%s" : "%s\"%s\"", j ? ", " : "",
                  a->args[j]);
      sb_puts(&b, ")");
    }
    sb_puts(&b, "] ");
  }
  sb_printf(&b, "%s%s(", op->idempotent ? "idempotent " : "", op->name);
  for (size_t i = 0; i < op->params.n; i++)
    sb_printf(&b, "%s%s", i ? ", " : "", member_sig(g, op->params.items[i]));
  sb_puts(&b, ")");
  size_t before_ret = b.n;
  if (op->returns.n == 1 && !op->returns_tuple) {
    const slicec_member *m = op->returns.items[0];
    sb_printf(&b, " -> %s%s", m->stream ? "stream " : "", spell(g, m->type));
  } else if (op->returns.n) {
    sb_puts(&b, " -> (");
    for (size_t i = 0; i < op->returns.n; i++)
      sb_printf(&b, "%s%s", i ? ", " : "", member_sig(g, op->returns.items[i]));
    sb_puts(&b, ")");
  }
  const char *r = S(g, "%s", b.p ? b.p : "");
  if (b.n + 6 > 80 && b.n > before_ret)
    r = S(g, "%.*s\n    ->%s", (int)before_ret, b.p, b.p + before_ret + 3);
  free(b.p);
  /* A comment cannot hold the end of a comment. */
  for (char *p = (char *)r; *p; p++)
    if (p[0] == '*' && p[1] == '/')
      p[1] = ' ';
  return r;
}

static const char *deprecation(gen *g, const slicec_def *d,
                               const slicec_operation *op) {
  const slicec_attr *a = slicec_attr_find(op->attrs, "deprecated");
  if (a)
    return S(g, "IRPC_DEPRECATED(\"%s\") ",
             cstr(g, a->nargs ? a->args[0]
                              : S(g, "%s::%s is deprecated",
                                  op->iface->scoped_name, op->name)));
  if (d->deprecated)
    return S(g, "IRPC_DEPRECATED(\"%s\") ",
             cstr(g, d->deprecation_reason
                         ? d->deprecation_reason
                         : S(g, "%s is deprecated", d->scoped_name)));
  return "";
}

/* A comment wrapped at 80 columns (greedy, as clang-format does). */
static void emit_wrapped(sb *o, const char *text) {
  size_t col = 0;
  const char *s = text;
  sb_puts(o, "/*");
  col = 2;
  while (*s) {
    const char *w = s;
    while (*w && *w != ' ')
      w++;
    size_t len = (size_t)(w - s);
    bool lastw = !*w;
    if (col + 1 + len + (lastw ? 3 : 0) > 80) {
      sb_puts(o, "\n *");
      col = 2;
    }
    sb_puts(o, " ");
    sb_putn(o, s, len);
    col += 1 + len;
    s = *w ? w + 1 : w;
  }
  sb_puts(o, " */\n");
}

/* The operations an interface declares, as generated (op_gen), those
 * left out (op_skipped) left out. */
static size_t own_ops(gen *g, const slicec_def *d,
                      const slicec_operation **ops) {
  size_t n = 0;
  for (size_t i = 0; i < d->u.iface.nops; i++)
    if (!op_skipped(d->u.iface.ops[i])) {
      if (ops) {
        const slicec_operation *op = op_gen(g, d->u.iface.ops[i]);
        ops[n] = op ? op : d->u.iface.ops[i];
      }
      n++;
    }
  return n;
}

/* The operations `d` declares, streams left out, in a new array (*n of
 * them); NULL when there are none, or on allocation failure (g->oom). */
static const slicec_operation **own_ops_new(gen *g, const slicec_def *d,
                                            size_t *n) {
  *n = own_ops(g, d, NULL);
  if (!*n)
    return NULL;
  const slicec_operation **ops = calloc(*n, sizeof(*ops));
  if (!ops) {
    g->oom = true;
    *n = 0;
    return NULL;
  }
  own_ops(g, d, ops);
  return ops;
}

/* The member path from D's ops table to base X's: "B" or "B.A". */
static const char *ops_path(gen *g, const slicec_def *d, const slicec_def *x) {
  const slicec_interface_def *in = &d->u.iface;
  for (size_t i = 0; i < in->nbases; i++) {
    const slicec_def *b = in->bases[i];
    if (b == x)
      return def_own(b);
    for (size_t j = 0; j < b->u.iface.nall_bases; j++)
      if (b->u.iface.all_bases[j] == x)
        return S(g, "%s.%s", def_own(b), ops_path(g, b, x));
  }
  return "?";
}

static void need_proxy(gen *g, const slicec_def *d);
static int opinfo_cmp(const void *a, const void *b);

static void emit_proxy_part(gen *g, const slicec_def *d, bool own_banner) {
  const slicec_interface_def *id = &d->u.iface;
  for (size_t i = 0; i < id->nall_bases; i++)
    if (id->all_bases[i]->file == g->file)
      need_proxy(g, id->all_bases[i]);
    else
      add_include(g, id->all_bases[i]->file);
  mark_set(g, d, MK_PROXY, 2);
  sb *h = &g->h, *o = &g->c;
  const char *c = def_cname(g, d);
  const char *U = upper(g, c);
  const char *p = proxy_cname(g, d);
  sb b = {0};
  for (size_t i = 0; i < id->nbases; i++)
    sb_printf(&b, "%s%s", i ? ", " : " : ", id->bases[i]->scoped_name);
  const char *banner = S(g, "interface %s%s%s", d->scoped_name, b.p ? b.p : "",
                         own_banner ? " (proxy)" : "");
  free(b.p);
  sb_printf(h, "\n/* ---- %s ---- */\n\n", banner);
  emit_doc(g, h, 0, d->doc);
  const char *path = S(g, "%s", d->scoped_name);
  char *w = (char *)path;
  for (const char *s = d->scoped_name; *s; s++) {
    if (s[0] == ':' && s[1] == ':') {
      *w++ = '.';
      s++;
    } else {
      *w++ = *s;
    }
  }
  *w = 0;
  out(h, 0, "#define %s_TYPE_ID \"::%s\"", U, d->scoped_name);
  out(h, 0, "#define %s_DEFAULT_PATH \"/%s\"", U, path);
  blank(h);
  out(h, 0, "extern const irpc_slice_iface %s_iface;", c);
  blank(h);
  size_t n;
  const slicec_operation **ops = own_ops_new(g, d, &n);
  if (g->oom)
    return;
  if (ops) {
    opinfo *oi = calloc(n, sizeof(*oi));
    if (!oi) {
      free(ops);
      g->oom = true;
      return;
    }
    for (size_t i = 0; i < n; i++)
      op_info(g, d, ops[i], &oi[i]);
    qsort(oi, n, sizeof(*oi), opinfo_cmp);
    out(h, 0,
        "/* Operation descriptors (also used by interfaces deriving from "
        "%s). */",
        d->name);
    for (size_t i = 0; i < n; i++) {
      out(h, 0, "extern const irpc_slice_op %s_desc;", oi[i].full);
      const stream_op *so = op_stream(g, oi[i].op);
      if (so && so->param)
        out(h, 0,
            "/* The elements of its stream parameter (irpc/slice_stream.h). "
            "*/\n"
            "extern const irpc_slice_stream_elem %s_param_elem;",
            oi[i].full);
      if (so && so->stream)
        out(h, 0,
            "/* The elements of its stream (irpc/slice_stream.h). */\n"
            "extern const irpc_slice_stream_elem %s_return_elem;",
            oi[i].full);
    }
    blank(h);
    free(ops);
    free(oi);
  }
  out(h, 0, "typedef struct %s {", p);
  out(h, 1, "irpc_slice_proxy p;");
  out(h, 0, "} %s;", p);
  blank(h);
  out(h, 0,
      "static inline %s %s_from(irpc_invoker *invoker, const char *path) {", p,
      p);
  out(h, 1, "%s r = {{.invoker = invoker, .path = path}};", p);
  out(h, 1, "return r;");
  out(h, 0, "}");
  blank(h);
  for (size_t i = 0; i < id->nall_bases; i++) {
    const slicec_def *x = id->all_bases[i];
    const char *xp = proxy_cname(g, x);
    if (i == 0) {
      out(h, 0,
          "/* The same service as a proxy of a base interface (its "
          "default path kept");
      out(h, 0, " * when it has none): one per direct or indirect base. */");
    }
    out(h, 0, "static inline %s %s_to_%s(const %s *v) {", xp, p, def_own(x), p);
    out(h, 1, "%s r = {v->p};", xp);
    out(h, 1, "if (!r.p.path && !r.p.address)");
    out(h, 2, "r.p.path = %s_DEFAULT_PATH;", U);
    out(h, 1, "r.p.owned = 0;");
    out(h, 1, "return r;");
    out(h, 0, "}");
    blank(h);
  }
  out(h, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v);", p, p);
  out(h, 0, "int %s_decode(irpc_slice_in *in, %s *v);", p, p);

  sb_printf(o, "\n/* ---- %s ---- */\n\n", banner);
  out(o, 0, "int %s_encode(irpc_slice_encoder *e, const %s *v) {", p, p);
  out(o, 1, "return irpc_slice_encode_proxy(e, &v->p, %s_DEFAULT_PATH);", U);
  out(o, 0, "}");
  blank(o);
  out(o, 0, "int %s_decode(irpc_slice_in *in, %s *v) {", p, p);
  out(o, 1, "return irpc_slice_decode_proxy(in, &v->p);");
  out(o, 0, "}");
}

static void need_proxy(gen *g, const slicec_def *d) {
  if (mark_state(g, d, MK_PROXY))
    return;
  emit_proxy_part(g, d, true);
}

/* The single return value: how encode_return and decode_return read it. */
static void emit_single_return(gen *g, sb *o, const opinfo *oi) {
  const slicec_type_ref *t = oi->ret1;
  const char *ct = ctype(g, t);
  enum kind k = tkind(g, t);
  const char *f = oi->full;
  out(o, 0,
      "static int %s_encode_return(irpc_slice_encoder *e, const void *values) "
      "{",
      f);
  if (k == K_BYTES) {
    out(o, 1, "const irpc_bytes *v = values;");
    out(o, 1, "irpc_slice_encode_size(e, v->len);");
    out(o, 1, "return irpc_slice_encode_bytes(e, v->base, v->len);");
  } else if (by_value(g, t)) {
    const char *st[2];
    enc_stmts(g, t, S(g, "*(const %s *)values", ct), st);
    out(o, 1, "return %s;", st[0]);
  } else {
    out(o, 1, "return %s_encode(e, values);", codec(g, t));
  }
  out(o, 0, "}");
  blank(o);
  out(o, 0, "static int %s_decode_return(irpc_slice_in *in, void *values) {",
      f);
  if (k == K_PRIM)
    out(o, 1, "return irpc_slice_decode_%s(&in->dec, (%s *)values);",
        slicec_primitive_name(ua(t)->primitive), ct);
  else if (k == K_STR)
    out(o, 1, "return irpc_slice_decode_str(in, (irpc_str *)values);");
  else if (k == K_BYTES)
    out(o, 1, "return irpc_slice_decode_byte_seq(in, (irpc_bytes *)values);");
  else if (k == K_ENUM)
    out(o, 1, "return %s_decode(in, (%s *)values);", codec(g, t), ct);
  else
    out(o, 1, "return %s_decode(in, values);", codec(g, t));
  out(o, 0, "}");
}

/* The encode and decode functions of an operation's arguments (what =
 * "args", type "args", variable a) or return tuple ("return", "ret", r). */
static void emit_members_codec(gen *g, sb *o, const char *f, const char *what,
                               const char *type, const slicec_member_list *ml,
                               bool enc11) {
  const char *var = what[0] == 'a' ? "a" : "r";
  bool saved = g->enc11;
  g->enc11 = enc11;
  out(o, 0,
      "static int %s_encode_%s(irpc_slice_encoder *e, const void *values) {", f,
      what);
  out(o, 1, "const %s_%s *%s = values;", f, type, var);
  emit_enc_members(g, o, 1, ml, S(g, "%s->", var), ENC_RETURN);
  out(o, 0, "}");
  blank(o);
  out(o, 0, "static int %s_decode_%s(irpc_slice_in *in, void *values) {", f,
      what);
  out(o, 1, "%s_%s *%s = values;", f, type, var);
  emit_dec_members(g, o, 1, ml, S(g, "%s->", var), DEC_COMPACT);
  out(o, 0, "}");
  blank(o);
  g->enc11 = saved;
}

static bool op_slice1(const slicec_operation *op) {
  return op->iface && op->iface->file &&
         op->iface->file->mode == SLICEC_MODE_SLICE1;
}

/* The exceptions an operation may throw: its `throws` clause and the
 * exceptions of the generated files derived from them. */
static size_t op_exceptions(gen *g, const slicec_operation *op,
                            const slicec_def ***out) {
  size_t n = 0, cap = 0;
  const slicec_def **list = NULL;
  for (size_t fi = 0; fi < g->ast->nfiles; fi++) {
    const slicec_file *f = g->ast->files[fi];
    for (size_t j = 0; j < f->ndefs; j++) {
      const slicec_def *x = f->defs[j];
      if (x->kind != SLICEC_DEF_EXCEPTION)
        continue;
      bool take = false;
      for (size_t k = 0; k < op->nthrows && !take; k++) {
        if (x == op->throws[k]) {
          take = true;
          break;
        }
        if (f->reference)
          continue;
        for (const slicec_def *b = x->u.exc.base; b && !take; b = b->u.exc.base)
          take = b == op->throws[k];
      }
      if (!take)
        continue;
      const slicec_def **arr = grow(g, (void *)list, &cap, n, sizeof(*list));
      if (!arr)
        break;
      list = arr;
      list[n++] = x;
    }
  }
  *out = list;
  return n;
}

static void emit_op_c(gen *g, const slicec_def *d, const opinfo *oi) {
  sb *o = &g->c;
  const slicec_operation *op = oi->op;
  const char *f = oi->full;
  const char *ic = def_cname(g, d);
  out(o, 0, "/* %s */", op->name);
  blank(o);
  bool params = op->params.n > 0;
  if (params) {
    out(o, 0, "typedef struct %s_args {", f);
    emit_fields(g, o, 1, &op->params);
    out(o, 0, "} %s_args;", f);
    blank(o);
    emit_members_codec(g, o, f, "args", "args", &op->params, op_slice1(op));
  }
  if (oi->ret_struct) {
    if (!oi->tuple) {
      out(o, 0, "typedef struct %s_ret {", f);
      emit_fields(g, o, 1, &op->returns);
      out(o, 0, "} %s_ret;", f);
      blank(o);
    }
    emit_members_codec(g, o, f, "return", "ret", &op->returns, op_slice1(op));
  } else if (oi->ret1) {
    emit_single_return(g, o, oi);
    blank(o);
  }
  out(o, 0,
      "static void %s_deliver(irpc_slice_reply *reply, int err, const void "
      "*ret, void (*cb)(void), void *user_data) {",
      f);
  if (oi->tuple) {
    out(o, 1, "((%s_cb)cb)(reply, err, (const %s_ret *)ret, user_data);", f, f);
  } else if (oi->ret_struct) {
    const char *rn = member_cname(g, op->returns.items[0]);
    out(o, 1, "const %s_ret *r = ret;", f);
    out(o, 1,
        "((%s_cb)cb)(reply, err, r && r->has_%s ? &r->%s : NULL, user_data);",
        f, rn, rn);
  } else if (oi->ret1) {
    out(o, 1, "((%s_cb)cb)(reply, err, (const %s *)ret, user_data);", f,
        ctype(g, oi->ret1));
  } else {
    out(o, 1, "(void)ret;");
    out(o, 1, "((%s_cb)cb)(reply, err, user_data);", f);
  }
  out(o, 0, "}");
  blank(o);
  out(o, 0,
      "static int %s_call(const void *ops, void *impl, irpc_slice_dispatch "
      "*sd, void *args) {",
      f);
  out(o, 1, "const %s_ops *o = ops;", ic);
  if (params)
    out(o, 1, "%s_args *a = args;", f);
  else
    out(o, 1, "(void)args;");
  out(o, 1, "if (!o->%s)", oi->name);
  out(o, 2, "return IRPC_ENOTSUP;");
  sb call = {0};
  sb_printf(&call, "o->%s(impl, sd", oi->name);
  for (size_t i = 0; i < op->params.n; i++) {
    const slicec_member *m = op->params.items[i];
    const char *n = member_cname(g, m);
    if (m->type->optional)
      sb_printf(&call, ", a->has_%s ? &a->%s : NULL", n, n);
    else if (by_value(g, m->type))
      sb_printf(&call, ", a->%s", n);
    else
      sb_printf(&call, ", &a->%s", n);
  }
  sb_puts(&call, ")");
  out(o, 1, "%s;", call.p ? call.p : "");
  free(call.p);
  out(o, 1, "return 0;");
  out(o, 0, "}");
  blank(o);
  if (op_slice1(op)) {
    const slicec_def **exc;
    size_t ne = op_exceptions(g, op, &exc);
    if (ne) {
      out(o, 0,
          "static const irpc_slice_exception_desc *const %s_exceptions[] = {",
          f);
      for (size_t i = 0; i < ne; i++) {
        add_include(g, exc[i]->file);
        out(o, 2, "&%s_desc%s", def_cname(g, exc[i]), i + 1 < ne ? "," : "");
      }
      out(o, 0, "};");
      blank(o);
    }
    free(exc);
  }
}

static const char *op_flags(gen *g, const slicec_operation *op) {
  sb fl = {0};
  if (op->idempotent)
    sb_printf(&fl, "%sIRPC_SLICE_OP_IDEMPOTENT", fl.n ? " | " : "");
  if (op->oneway)
    sb_printf(&fl, "%sIRPC_SLICE_OP_ONEWAY", fl.n ? " | " : "");
  if (op->compress_args)
    sb_printf(&fl, "%sIRPC_SLICE_OP_COMPRESS_ARGS", fl.n ? " | " : "");
  if (op->compress_return)
    sb_printf(&fl, "%sIRPC_SLICE_OP_COMPRESS_RETURN", fl.n ? " | " : "");
  const char *r = S(g, "%s", fl.n ? fl.p : "0");
  free(fl.p);
  return r;
}

/* The fixed size of `t` on the wire in Slice2 (as slicec computes it),
 * 0 when it varies: fixed-size primitives, enums with a fixed-size
 * underlying type, and structs of fixed-size members only (plus the end
 * marker of a non-compact one). */
static size_t fixed2(gen *g, const slicec_type_ref *t) {
  const slicec_type_ref *u = ua(t);
  if (t->optional || !u || u->optional)
    return 0;
  switch (tkind(g, t)) {
  case K_PRIM:
    return prims[u->primitive].size;
  case K_ENUM: {
    const slicec_type_ref *ut = u->def->u.en.underlying;
    return ut ? prims[ua(ut)->primitive].size : 0;
  }
  case K_STRUCT: {
    const slicec_member_list *ml = &u->def->u.st.fields;
    size_t n = u->def->u.st.compact ? 0 : 1;
    for (size_t i = 0; i < ml->n; i++) {
      size_t f = ml->items[i]->tagged ? 0 : fixed2(g, ml->items[i]->type);
      if (f == 0)
        return 0;
      n += f;
    }
    return n;
  }
  default:
    return 0;
  }
}

/* `stream uint8`: raw bytes. */
static bool stream_raw(const slicec_type_ref *t) {
  const slicec_type_ref *u = ua(t);
  return !t->optional && u->kind == SLICEC_TYPE_PRIMITIVE &&
         u->primitive == SLICEC_UINT8;
}

/* The runtime's function that starts the consumer of a stream parameter
 * (the server's) or of a returned stream (the client's). */
static const char *take_runtime(bool param) {
  return param ? "irpc_slice_dispatch_take_stream"
               : "irpc_slice_reply_take_stream";
}

/* M_I_op_which_take's signature: `f` is M_I_op_which. */
static const char *take_sig(gen *g, const char *f, bool param) {
  return S(g, "int %s_take(%s, %s_handler *h, irpc_slice_stream_reader **out)",
           f, param ? "irpc_slice_dispatch *sd" : "irpc_slice_reply *reply", f);
}

/* The header's part of a stream member: its item type, M_I_op_which_item
 * (a `T?` element is {bool has_value; T value;}, the compact struct IceRPC
 * encodes it as), a typed writer, and a typed consumer: a handler whose
 * on_items takes that item type and the function that starts it. */
static void emit_stream_item(gen *g, const opinfo *x, const slicec_member *m,
                             const char *which) {
  sb *h = &g->h;
  const char *f = S(g, "%s_%s", x->full, which);
  const slicec_type_ref *t = m->type;
  blank(h);
  out(h, 0, "/* The items of its %s (%s%s): %s_elem, irpc/slice_stream.h. */",
      strcmp(which, "param") == 0 ? "stream parameter" : "stream", "stream ",
      spell(g, t), f);
  if (t->optional) {
    out(h, 0, "typedef struct %s_item {", f);
    out(h, 1, "bool has_value;");
    out(h, 1, "%s value;", ctype(g, t));
    out(h, 0, "} %s_item;", f);
  } else {
    out(h, 0, "typedef %s %s_item;", ctype(g, t), f);
  }
  emit_wrapped(
      h, strcmp(which, "param") == 0
             ? S(g,
                 "The client writes them with %s_write on an "
                 "irpc_slice_stream_writer_new(&s, w, &%s_elem) whose `w` is "
                 "irpc_slice_call_opts.stream; the operation reads them with "
                 "%s_take.",
                 f, f, f)
             : S(g,
                 "The operation writes them with %s_write on an "
                 "irpc_slice_stream_writer_new(&s, w, &%s_elem) whose `w` it "
                 "attaches with irpc_slice_dispatch_set_stream; the call's "
                 "callback reads them with %s_take.",
                 f, f, f));
  out(h, 0,
      "static inline int %s_write(irpc_slice_stream_writer *s, const %s_item "
      "*items, size_t n) {",
      f, f);
  out(h, 1, "return irpc_slice_stream_write(s, items, n);");
  out(h, 0, "}");
  bool param = strcmp(which, "param") == 0;
  blank(h);
  emit_wrapped(h, S(g,
                    "Its consumer, typed: %s with a handler whose on_items "
                    "takes %s_item (valid until on_items returns). `h` is "
                    "not copied: it must stay valid until on_end or "
                    "irpc_slice_stream_reader_free (keep it in the state "
                    "its user_data points to); *out is the caller's to free "
                    "with irpc_slice_stream_reader_free.",
                    take_runtime(param), f));
  out(h, 0,
      "typedef void %s_items_fn(void *user_data, const %s_item *items, "
      "size_t n);",
      f, f);
  out(h, 0, "typedef struct %s_handler {", f);
  out(h, 1, "%s_items_fn *on_items;", f);
  out(h, 1, "void (*on_end)(void *user_data, int err);");
  out(h, 1, "void *user_data;");
  out(h, 0, "} %s_handler;", f);
  out(h, 0, "%s;", take_sig(g, f, param));
}

/* The `.c` part of a stream's typed consumer: the handler the runtime
 * calls, which calls the typed one, and M_I_op_which_take. */
static void emit_stream_take(gen *g, const char *f, bool param) {
  sb *o = &g->c;
  out(o, 0,
      "static void %s_typed_items(void *ud, const void *items, size_t n) {", f);
  out(o, 1, "const %s_handler *h = ud;", f);
  out(o, 1, "h->on_items(h->user_data, items, n);");
  out(o, 0, "}");
  blank(o);
  out(o, 0, "static void %s_typed_end(void *ud, int err) {", f);
  out(o, 1, "const %s_handler *h = ud;", f);
  out(o, 1, "h->on_end(h->user_data, err);");
  out(o, 0, "}");
  blank(o);
  out(o, 0, "static const irpc_slice_stream_handler %s_typed = {", f);
  out(o, 2, ".struct_size = sizeof(irpc_slice_stream_handler),");
  out(o, 2, ".on_items = %s_typed_items,", f);
  out(o, 2, ".on_end = %s_typed_end};", f);
  blank(o);
  out(o, 0, "%s {", take_sig(g, f, param));
  out(o, 1, "if (!h || !h->on_items || !h->on_end)");
  out(o, 2, "return IRPC_EINVAL;");
  out(o, 1, "return %s(%s, &%s_typed, h, out);", take_runtime(param),
      param ? "sd" : "reply", f);
  out(o, 0, "}");
  blank(o);
}

/* The element descriptor of a stream: raw bytes for `stream uint8`, else
 * an encode and a decode_in function of one item. */
static void emit_stream_elem(gen *g, const opinfo *x, const slicec_member *m,
                             const char *which) {
  sb *o = &g->c;
  const slicec_type_ref *t = m->type;
  const char *f = S(g, "%s_%s", x->full, which);
  emit_stream_take(g, f, strcmp(which, "param") == 0);
  if (stream_raw(t)) {
    out(o, 0, "const irpc_slice_stream_elem %s_elem = {", f);
    out(o, 2, ".struct_size = sizeof(irpc_slice_stream_elem),");
    out(o, 2, ".item_size = 1,");
    out(o, 2, ".wire_size = 1};");
    blank(o);
    return;
  }
  const char *st[2];
  out(o, 0,
      "static int %s_elem_encode(irpc_slice_encoder *e, const void *item) {",
      f);
  out(o, 1, "const %s_item *v = item;", f);
  if (t->optional) {
    /* a compact struct {value: T?}: a one-bit bit sequence, the value */
    int n = enc_stmts(g, t, "v->value", st);
    out(o, 1, "irpc_slice_bit_writer bits;");
    out(o, 1, "irpc_slice_encode_bitseq(e, 1, &bits);");
    out(o, 1, "int rc = irpc_slice_bit_writer_put(e, &bits, v->has_value);");
    out(o, 1, "if (v->has_value) {");
    for (int i = 0; i < n - 1; i++)
      out(o, 2, "%s;", st[i]);
    out(o, 2, "rc = %s;", st[n - 1]);
    out(o, 1, "}");
    out(o, 1, "return rc;");
  } else {
    int n = enc_stmts(g, t, "(*v)", st);
    for (int i = 0; i < n - 1; i++)
      out(o, 1, "%s;", st[i]);
    out(o, 1, "return %s;", st[n - 1]);
  }
  out(o, 0, "}");
  blank(o);
  out(o, 0, "static int %s_elem_decode(irpc_slice_in *in, void *item) {", f);
  out(o, 1, "%s_item *v = item;", f);
  if (t->optional) {
    out(o, 1, "irpc_slice_bit_reader bits;");
    out(o, 1, "bool present = false;");
    out(o, 1, "irpc_slice_decode_bitseq(&in->dec, 1, &bits);");
    out(o, 1, "int rc = irpc_slice_bit_reader_get(&in->dec, &bits, &present);");
    out(o, 1, "if (rc == 0 && (v->has_value = present))");
    out(o, 2, "rc = %s;", dec_expr(g, t, "v->value", "&in->dec"));
  } else {
    out(o, 1, "int rc = %s;", dec_expr(g, t, "(*v)", "&in->dec"));
  }
  out(o, 1, "return rc ? rc : irpc_slice_decoder_error(&in->dec);");
  out(o, 0, "}");
  blank(o);
  out(o, 0, "const irpc_slice_stream_elem %s_elem = {", f);
  out(o, 2, ".struct_size = sizeof(irpc_slice_stream_elem),");
  out(o, 2, ".item_size = sizeof(%s_item),", f);
  out(o, 2, ".wire_size = %zu,", fixed2(g, t));
  out(o, 2, ".encode = %s_elem_encode,", f);
  out(o, 2, ".decode = NULL,");
  out(o, 2, ".decode_in = %s_elem_decode};", f);
  blank(o);
}

static void emit_desc(gen *g, const opinfo *x) {
  sb *o = &g->c;
  const slicec_operation *op = x->op;
  const stream_op *so = op_stream(g, op);
  if (so && so->param)
    emit_stream_elem(g, x, so->param, "param");
  if (so && so->stream)
    emit_stream_elem(g, x, so->stream, "return");
  bool params = op->params.n > 0;
  bool ret = x->ret1 || x->tuple;
  const char *rs = !ret            ? "0"
                   : x->ret_struct ? S(g, "sizeof(%s_ret)", x->full)
                                   : S(g, "sizeof(%s)", ctype(g, x->ret1));
  out(o, 0, "const irpc_slice_op %s_desc = {", x->full);
  out(o, 2, ".struct_size = sizeof(irpc_slice_op),");
  out(o, 2, ".name = \"%s\",", op->name);
  out(o, 2, ".flags = %s,", op_flags(g, op));
  out(o, 2, ".encode_args = %s,",
      params ? S(g, "%s_encode_args", x->full) : "NULL");
  out(o, 2, ".decode_return = %s,",
      ret ? S(g, "%s_decode_return", x->full) : "NULL");
  out(o, 2, ".return_size = %s,", rs);
  out(o, 2, ".deliver = %s_deliver,", x->full);
  out(o, 2, ".decode_args = %s,",
      params ? S(g, "%s_decode_args", x->full) : "NULL");
  out(o, 2, ".args_size = %s,",
      params ? S(g, "sizeof(%s_args)", x->full) : "0");
  out(o, 2, ".encode_return = %s,",
      ret ? S(g, "%s_encode_return", x->full) : "NULL");
  if (so) {
    out(o, 2, ".call = %s_call,", x->full);
    out(o, 2, ".return_stream = %s,",
        so->stream ? S(g, "&%s_return_elem", x->full) : "NULL");
    out(o, 2, ".param_stream = %s};",
        so->param ? S(g, "&%s_param_elem", x->full) : "NULL");
    blank(o);
    return;
  }
  if (!op_slice1(op)) {
    out(o, 2, ".call = %s_call};", x->full);
    blank(o);
    return;
  }
  out(o, 2, ".call = %s_call,", x->full);
  out(o, 2, ".encoding = IRPC_SLICE_ENCODING_1_1,");
  const slicec_def **exc;
  size_t ne = op_exceptions(g, op, &exc);
  out(o, 2, ".exceptions = %s,", ne ? S(g, "%s_exceptions", x->full) : "NULL");
  out(o, 2, ".nexceptions = %zu};", ne);
  free(exc);
  blank(o);
}

/* Fills a local `var` of type `type` from members passed as parameters
 * (the parameter convention): positional when none is optional. */
static void emit_fill(gen *g, sb *o, const char *type, const char *var,
                      const slicec_member_list *ml) {
  bool any_opt = false;
  for (size_t j = 0; j < ml->n; j++)
    any_opt |= ml->items[j]->type->optional;
  sb init = {0};
  for (size_t j = 0; j < ml->n; j++) {
    const slicec_member *m = ml->items[j];
    const char *mn = member_cname(g, m);
    const char *deref = by_value(g, m->type) ? "" : "*";
    if (!any_opt)
      sb_printf(&init, "%s%s%s", j ? ", " : "", deref, mn);
    else if (m->type->optional)
      sb_printf(&init, "%s.has_%s = %s != NULL", j ? ", " : "", mn, mn);
    else
      sb_printf(&init, "%s.%s = %s%s", j ? ", " : "", mn, deref, mn);
  }
  out(o, 1, "%s %s = {%s};", type, var, init.p ? init.p : "");
  free(init.p);
  for (size_t j = 0; j < ml->n; j++) {
    const slicec_member *m = ml->items[j];
    if (!m->type->optional)
      continue;
    const char *mn = member_cname(g, m);
    out(o, 1, "if (%s)", mn);
    out(o, 2, "%s.%s = *%s;", var, mn, mn);
  }
}

static void emit_call(gen *g, const slicec_def *d, const opinfo *x) {
  sb *o = &g->c;
  const char *c = def_cname(g, d);
  const slicec_operation *op = x->op;
  out(o, 0,
      "int %s(const %s *proxy%s, const irpc_slice_call_opts *opts, %s_cb cb, "
      "void *user_data) {",
      x->full, proxy_cname(g, d), params_decl(g, op), x->full);
  for (size_t j = 0; j < op->params.n; j++) {
    const slicec_member *m = op->params.items[j];
    if (!m->type->optional && !by_value(g, m->type)) {
      out(o, 1, "if (!%s)", member_cname(g, m));
      out(o, 2, "return IRPC_EINVAL;");
    }
  }
  if (op->params.n)
    emit_fill(g, o, S(g, "%s_args", x->full), "a", &op->params);
  out(o, 1,
      "return irpc_slice_invoke(proxy ? &proxy->p : NULL, &%s_iface, "
      "&%s_desc, %s, opts, (void (*)(void))cb, user_data);",
      c, x->full, op->params.n ? "&a" : "NULL");
  out(o, 0, "}");
  blank(o);
}

static void emit_reply(gen *g, const opinfo *x) {
  sb *o = &g->c;
  out(o, 0, "int %s_reply(irpc_slice_dispatch *sd%s) {", x->full,
      reply_param(g, x));
  if (x->tuple) {
    const slicec_member_list *ml = &x->op->returns;
    sb cond = {0};
    for (size_t j = 0; j < ml->n; j++) {
      const slicec_member *m = ml->items[j];
      if (!m->type->optional && !by_value(g, m->type))
        sb_printf(&cond, "%s!%s", cond.n ? " || " : "", member_cname(g, m));
    }
    if (cond.n) {
      out(o, 1,
          "if (%s) { /* a required value missing: fails as an encoding "
          "would */",
          cond.p);
      out(o, 2,
          "irpc_slice_dispatch_fail(sd, IRPC_STATUS_INTERNAL_ERROR, \"The "
          "return value of '%s' is incomplete.\");",
          cstr(g, x->op->name));
      out(o, 2, "return IRPC_EINVAL;");
      out(o, 1, "}");
    }
    free(cond.p);
    emit_fill(g, o, S(g, "%s_ret", x->full), "r", ml);
    out(o, 1, "return irpc_slice_dispatch_reply(sd, &r);");
  } else if (x->ret_struct) {
    const char *rn = member_cname(g, x->op->returns.items[0]);
    out(o, 1, "%s_ret r = {.has_%s = ret != NULL};", x->full, rn);
    out(o, 1, "if (ret)");
    out(o, 2, "r.%s = *ret;", rn);
    out(o, 1, "return irpc_slice_dispatch_reply(sd, &r);");
  } else if (!x->ret1) {
    out(o, 1, "return irpc_slice_dispatch_reply(sd, NULL);");
  } else if (by_value(g, x->ret1)) {
    out(o, 1, "return irpc_slice_dispatch_reply(sd, &ret);");
  } else {
    out(o, 1, "return irpc_slice_dispatch_reply(sd, ret);");
  }
  out(o, 0, "}");
  blank(o);
}

/* The inherited operations of `d`, base by base (all_bases order). */
static void emit_inherited_header(gen *g, const slicec_def *d) {
  sb *h = &g->h;
  const slicec_interface_def *id = &d->u.iface;
  bool first = true;
  for (size_t i = 0; i < id->nall_bases; i++) {
    const slicec_def *x = id->all_bases[i];
    size_t n;
    const slicec_operation **ops = own_ops_new(g, x, &n);
    if (g->oom)
      return;
    if (!ops)
      continue;
    blank(h);
    if (first)
      emit_wrapped(h, S(g,
                        "Inherited from %s: the same calls on a %s proxy, "
                        "with the base's callback types; servers answer them "
                        "with the base's _reply.",
                        x->name, d->name));
    else
      out(h, 0, "/* Inherited from %s. */", x->name);
    first = false;
    for (size_t k = 0; k < n; k++) {
      ctx_save cs = ctx_enter(g, x);
      const char *pd = params_decl(g, ops[k]);
      const char *xc = def_cname(g, x);
      ctx_leave(g, cs);
      out(h, 0,
          "%sint %s_%s(const %s *proxy%s, const irpc_slice_call_opts *opts, "
          "%s_%s_cb cb, void *user_data);",
          deprecation(g, x, ops[k]), def_cname(g, d), op_cname(g, ops[k]),
          proxy_cname(g, d), pd, xc, op_cname(g, ops[k]));
    }
    free(ops);
  }
}

static void emit_inherited_c(gen *g, const slicec_def *d) {
  sb *o = &g->c;
  const slicec_interface_def *id = &d->u.iface;
  bool first = true;
  for (size_t i = 0; i < id->nall_bases; i++) {
    const slicec_def *x = id->all_bases[i];
    size_t n;
    const slicec_operation **ops = own_ops_new(g, x, &n);
    if (g->oom)
      return;
    if (!ops)
      continue;
    if (first) {
      out(o, 0,
          "/* Inherited operations: the base's call on the same service. */");
      blank(o);
    }
    first = false;
    for (size_t k = 0; k < n; k++) {
      ctx_save cs = ctx_enter(g, x);
      const char *pd = params_decl(g, ops[k]);
      const char *pass = members_pass(g, &ops[k]->params);
      const char *xc = def_cname(g, x);
      ctx_leave(g, cs);
      const char *on = op_cname(g, ops[k]);
      out(o, 0,
          "int %s_%s(const %s *proxy%s, const irpc_slice_call_opts *opts, "
          "%s_%s_cb cb, void *user_data) {",
          def_cname(g, d), on, proxy_cname(g, d), pd, xc, on);
      out(o, 1, "if (!proxy)");
      out(o, 2, "return IRPC_EINVAL;");
      out(o, 1, "%s base = %s_to_%s(proxy);", proxy_cname(g, x),
          proxy_cname(g, d), def_own(x));
      out(o, 1, "return %s_%s(&base%s, opts, cb, user_data);", xc, on, pass);
      out(o, 0, "}");
      blank(o);
    }
    free(ops);
  }
}

typedef struct opref {
  const slicec_operation *op;
  const char *desc;
  const char *offset;
} opref;

static int opref_cmp(const void *a, const void *b) {
  return strcmp(((const opref *)a)->op->name, ((const opref *)b)->op->name);
}

static int opinfo_cmp(const void *a, const void *b) {
  return strcmp(((const opinfo *)a)->op->name, ((const opinfo *)b)->op->name);
}

static void emit_iface(gen *g, const slicec_def *d) {
  sb *h = &g->h, *o = &g->c;
  const char *c = def_cname(g, d);
  const char *p = proxy_cname(g, d);
  const slicec_interface_def *id = &d->u.iface;
  size_t n = own_ops(g, d, NULL);
  size_t total = n;
  for (size_t i = 0; i < id->nall_bases; i++)
    total += own_ops(g, id->all_bases[i], NULL);
  const slicec_operation **ops = calloc(n + 1, sizeof(*ops));
  opinfo *oi = calloc(n + 1, sizeof(*oi));
  opinfo *sorted = calloc(n + 1, sizeof(*sorted));
  opref *refs = calloc(total + 1, sizeof(*refs));
  if (!ops || !oi || !sorted || !refs) {
    g->oom = true;
    free(ops);
    free(oi);
    free(sorted);
    free(refs);
    return;
  }
  own_ops(g, d, ops);
  g->op_members = true;
  for (size_t i = 0; i < n; i++)
    op_info(g, d, ops[i], &oi[i]);
  if (mark_state(g, d, MK_PROXY)) {
    /* The proxy part came earlier, for a type that uses it. */
    sb_printf(h, "\n/* ---- interface %s ---- */\n", d->scoped_name);
    sb_printf(o, "\n/* ---- interface %s ---- */\n", d->scoped_name);
  } else {
    emit_proxy_part(g, d, false);
  }

  /* Header. */
  emit_inherited_header(g, d);
  for (size_t i = 0; i < n; i++) {
    const opinfo *x = &oi[i];
    const slicec_operation *op = x->op;
    blank(h);
    emit_comment(g, h, 0, op_sig(g, op), op->doc);
    if (x->tuple) {
      out(h, 0, "typedef struct %s_ret {", x->full);
      emit_fields(g, h, 1, &op->returns);
      out(h, 0, "} %s_ret;", x->full);
      blank(h);
    }
    out(h, 0,
        "typedef void (*%s_cb)(irpc_slice_reply *reply, int err%s, void "
        "*user_data);",
        x->full, ret_param(g, x));
    out(h, 0,
        "%sint %s(const %s *proxy%s, const irpc_slice_call_opts *opts, %s_cb "
        "cb, void *user_data);",
        deprecation(g, d, op), x->full, p, params_decl(g, op), x->full);
    const stream_op *so = op_stream(g, op);
    if (so && so->param)
      emit_stream_item(g, x, so->param, "param");
    if (so && so->stream)
      emit_stream_item(g, x, so->stream, "return");
  }
  if (d->file->mode == SLICEC_MODE_SLICE1) {
    static const char *const ice_ops[][3] = {
        {"ice_ping", "", "ping"},
        {"ice_isA", ", irpc_str type_id", "isA"},
        {"ice_id", "", "id"},
        {"ice_ids", "", "ids"}};
    blank(h);
    emit_wrapped(h, S(g,
                      "The operations of ::Ice::Object on a %s proxy "
                      "(irpc_slice_ice_ping...); servers answer them.",
                      d->name));
    for (size_t i = 0; i < 4; i++) {
      out(h, 0,
          "static inline int %s_%s(const %s *proxy%s, const "
          "irpc_slice_call_opts *opts, irpc_slice_ice_%s_cb cb, void "
          "*user_data) {",
          c, ice_ops[i][0], p, ice_ops[i][1], ice_ops[i][2]);
      out(h, 1,
          "return irpc_slice_%s(proxy ? &proxy->p : NULL, &%s_iface%s, "
          "opts, cb, user_data);",
          ice_ops[i][0], c, i == 1 ? ", type_id" : "");
      out(h, 0, "}");
    }
  }
  blank(h);
  out(h, 0, "typedef struct %s_ops {", c);
  if (n == 0 && id->nbases == 0)
    out(h, 1, "char empty_; /* no operations */");
  for (size_t i = 0; i < id->nbases; i++) {
    const char *note = "";
    if (id->nbases == 1)
      note = " /* inherited */";
    else if (i == 0)
      note = " /* inherited: one member per direct base, */";
    else if (i == 1)
      note = " /* in declaration order */";
    out(h, 1, "%s_ops %s;%s", def_cname(g, id->bases[i]), def_own(id->bases[i]),
        note);
  }
  for (size_t i = 0; i < n; i++)
    out(h, 1, "void (*%s)(void *impl, irpc_slice_dispatch *sd%s);", oi[i].name,
        params_decl(g, oi[i].op));
  out(h, 0, "} %s_ops;", c);
  blank(h);
  for (size_t i = 0; i < n; i++)
    out(h, 0, "int %s_reply(irpc_slice_dispatch *sd%s);", oi[i].full,
        reply_param(g, &oi[i]));
  if (n)
    blank(h);
  out(h, 0,
      "int %s_dispatcher_new(irpc_dispatcher **out, uv_loop_t *loop, const "
      "%s_ops *ops, void *impl);",
      c, c);
  out(h, 0,
      "int %s_map(irpc_router *r, const char *path, const %s_ops *ops, void "
      "*impl, irpc_dispatcher **out);",
      c, c);

  /* Source. */
  blank(o);
  emit_inherited_c(g, d);
  for (size_t i = 0; i < n; i++)
    emit_op_c(g, d, &oi[i]);
  memcpy(sorted, oi, n * sizeof(*oi));
  qsort(sorted, n, sizeof(*sorted), opinfo_cmp);
  for (size_t i = 0; i < n; i++)
    emit_desc(g, &sorted[i]);
  size_t nr = 0;
  for (size_t i = 0; i < id->nall_bases; i++) {
    const slicec_def *x = id->all_bases[i];
    size_t m = own_ops(g, x, NULL);
    const slicec_operation **xo = calloc(m + 1, sizeof(*xo));
    if (!xo) {
      g->oom = true;
      break;
    }
    own_ops(g, x, xo);
    for (size_t k = 0; k < m; k++)
      refs[nr++] =
          (opref){xo[k], S(g, "%s_%s", def_cname(g, x), op_cname(g, xo[k])),
                  S(g, "offsetof(%s_ops, %s)", c, ops_path(g, d, x))};
    free(xo);
  }
  for (size_t i = 0; i < n; i++)
    refs[nr++] = (opref){oi[i].op, oi[i].full, "0"};
  qsort(refs, nr, sizeof(*refs), opref_cmp);
  if (nr) {
    if (id->nall_bases)
      emit_wrapped(o, "Sorted by name; inherited operations with the offset "
                      "of their base's table.");
    else
      out(o, 0, "/* Sorted by name. */");
    out(o, 0, "static const irpc_slice_op_ref %s_op_refs[] = {", c);
    for (size_t i = 0; i < nr; i++)
      out(o, 2, "{&%s_desc, %s},", refs[i].desc, refs[i].offset);
    out(o, 0, "};");
    blank(o);
  }
  if (id->nbases) {
    sb b = {0};
    for (size_t i = 0; i < id->nbases; i++) {
      sb_printf(&b, "%s&%s_iface", i ? ", " : "", def_cname(g, id->bases[i]));
      add_include(g, id->bases[i]->file);
    }
    out(o, 0, "static const irpc_slice_iface *const %s_bases[] = {%s};", c,
        b.p ? b.p : "");
    free(b.p);
    blank(o);
  }
  const char *U = upper(g, c);
  out(o, 0, "const irpc_slice_iface %s_iface = {", c);
  out(o, 1, ".struct_size = sizeof(irpc_slice_iface),");
  out(o, 1, ".magic = IRPC_SLICE_IFACE_MAGIC,");
  out(o, 1, ".type_id = %s_TYPE_ID,", U);
  out(o, 1, ".default_path = %s_DEFAULT_PATH,", U);
  out(o, 1, ".ops = %s,", nr ? S(g, "%s_op_refs", c) : "NULL");
  out(o, 1, ".nops = %zu,", nr);
  out(o, 1, ".bases = %s,", id->nbases ? S(g, "%s_bases", c) : "NULL");
  out(o, 1, ".nbases = %zu,", id->nbases);
  if (d->file->mode == SLICEC_MODE_SLICE1)
    out(o, 1, ".encoding = IRPC_SLICE_ENCODING_1_1,");
  out(o, 0, "};");
  blank(o);
  for (size_t i = 0; i < n; i++)
    emit_call(g, d, &oi[i]);
  for (size_t i = 0; i < n; i++)
    emit_reply(g, &oi[i]);
  out(o, 0,
      "int %s_dispatcher_new(irpc_dispatcher **out, uv_loop_t *loop, const "
      "%s_ops *ops, void *impl) {",
      c, c);
  out(o, 1,
      "return irpc_slice_dispatcher_new(out, loop, &%s_iface, ops, impl);", c);
  out(o, 0, "}");
  blank(o);
  out(o, 0,
      "int %s_map(irpc_router *r, const char *path, const %s_ops *ops, void "
      "*impl, irpc_dispatcher **out) {",
      c, c);
  out(o, 1, "return irpc_slice_map(r, path, &%s_iface, ops, impl, out);", c);
  out(o, 0, "}");
  g->op_members = false;
  free(ops);
  free(oi);
  free(sorted);
  free(refs);
}

static void need_iface(gen *g, const slicec_def *d) {
  if (mark_state(g, d, MK_IFACE))
    return;
  mark_set(g, d, MK_IFACE, 1);
  g->in_iface++;
  /* Bases first: the inherited calls use their callback types. */
  for (size_t i = 0; i < d->u.iface.nall_bases; i++) {
    const slicec_def *b = d->u.iface.all_bases[i];
    if (b->file == g->file)
      need_iface(g, b);
    else
      add_include(g, b->file);
  }
  size_t n = own_ops(g, d, NULL);
  const slicec_operation **ops = calloc(n + 1, sizeof(*ops));
  if (!ops) {
    g->oom = true;
    g->in_iface--;
    return;
  }
  own_ops(g, d, ops);
  const slicec_def *saved = g->deps_of;
  g->deps_of = d;
  for (size_t i = 0; i < n; i++) {
    need_members(g, &ops[i]->params);
    need_members(g, &ops[i]->returns);
    const stream_op *so = op_stream(g, ops[i]);
    if (so && so->param)
      need_type(g, so->param->type);
    if (so && so->stream)
      need_type(g, so->stream->type);
  }
  g->deps_of = saved;
  free(ops);
  emit_iface(g, d);
  g->in_iface--;
  mark_set(g, d, MK_IFACE, 2);
}

/* ---- files ------------------------------------------------------------------
 */

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* Two definitions with one C name, among this file's and those before. */
static void check_names(gen *g) {
  const slicec_file *f = g->file;
  for (size_t i = 0; i < f->ndefs; i++) {
    const slicec_def *a = f->defs[i];
    const char *ca = def_cname(g, a);
    bool done = false;
    for (size_t fi = 0; fi < g->ast->nfiles && !done; fi++) {
      const slicec_file *f2 = g->ast->files[fi];
      for (size_t j = 0; j < f2->ndefs; j++) {
        const slicec_def *b = f2->defs[j];
        if (b == a) {
          done = true;
          break;
        }
        if (strcmp(ca, def_cname(g, b)) == 0 &&
            strcmp(a->scoped_name, b->scoped_name) != 0) {
          diag(g, a->loc, "E203",
               "'%s' and '%s' (%s:%u) both map to the C name '%s': rename "
               "one with [c::identifier(\"...\")]",
               a->scoped_name, b->scoped_name, b->loc.file,
               (unsigned)b->loc.line, ca);
          done = true;
          break;
        }
      }
    }
  }
}

static int write_file(gen *g, const char *dir, const char *name, const sb *b) {
  const char *path = S(g, "%s/%s", dir, name);
  FILE *fp = fopen(path, "wb");
  int rc = 0;
  if (!fp || fwrite(b->p ? b->p : "", 1, b->n, fp) != b->n)
    rc = -1;
  if (fp && fclose(fp) != 0)
    rc = -1;
  if (rc) {
    slicec_loc loc = {g->file->path, 0, 0};
    diag(g, loc, "E200", "cannot write %s: %s", path, strerror(errno));
  }
  return rc;
}

/* The files the types used by `t` are defined in. */
static void type_files(gen *g, const slicec_type_ref *t, bool *row) {
  if (!t)
    return;
  switch (t->kind) {
  case SLICEC_TYPE_SEQUENCE:
    type_files(g, t->element, row);
    return;
  case SLICEC_TYPE_DICTIONARY:
    type_files(g, t->key, row);
    type_files(g, t->value, row);
    return;
  case SLICEC_TYPE_RESULT:
    type_files(g, t->success, row);
    type_files(g, t->failure, row);
    return;
  case SLICEC_TYPE_DEFINED:
    break;
  default:
    return;
  }
  const slicec_def *d = t->def;
  if (!d)
    return;
  if (d->kind == SLICEC_DEF_CUSTOM && proxy_iface(g, d))
    d = proxy_iface(g, d);
  for (size_t i = 0; i < g->ast->nfiles; i++)
    if (g->ast->files[i] == d->file)
      row[i] = true;
}

static void member_files(gen *g, const slicec_member_list *ml, bool *row) {
  for (size_t i = 0; i < ml->n; i++)
    type_files(g, ml->items[i]->type, row);
}

/* Marks the files that include the file being generated back, directly or
 * not (an include cycle); leaves g->in_cycle NULL when there are none. */
static void find_cycle(gen *g) {
  size_t n = g->ast->nfiles, self = n;
  bool *r = calloc(n * n + 1, sizeof(bool));
  if (!r) {
    g->oom = true;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const slicec_file *f = g->ast->files[i];
    bool *row = r + i * n;
    if (f == g->out)
      self = i;
    for (size_t j = 0; j < f->ndefs; j++) {
      const slicec_def *d = f->defs[j];
      switch (d->kind) {
      case SLICEC_DEF_STRUCT:
        member_files(g, &d->u.st.fields, row);
        break;
      case SLICEC_DEF_ENUM:
        for (size_t k = 0; k < d->u.en.nenumerators; k++)
          member_files(g, &d->u.en.enumerators[k]->fields, row);
        break;
      case SLICEC_DEF_ALIAS:
        type_files(g, d->u.alias.type, row);
        break;
      case SLICEC_DEF_INTERFACE:
        for (size_t k = 0; k < d->u.iface.nops; k++) {
          member_files(g, &d->u.iface.ops[k]->params, row);
          member_files(g, &d->u.iface.ops[k]->returns, row);
        }
        for (size_t k = 0; k < d->u.iface.nbases; k++)
          type_files(g,
                     &(slicec_type_ref){.kind = SLICEC_TYPE_DEFINED,
                                        .def = d->u.iface.bases[k]},
                     row);
        break;
      default:
        break;
      }
    }
  }
  /* Transitive closure (a few files). */
  for (size_t k = 0; k < n; k++)
    for (size_t i = 0; i < n; i++)
      if (r[i * n + k])
        for (size_t j = 0; j < n; j++)
          r[i * n + j] |= r[k * n + j];
  bool any = false;
  bool *cyc = calloc(n + 1, sizeof(bool));
  for (size_t j = 0; cyc && self < n && j < n; j++) {
    cyc[j] = j != self && r[self * n + j] && r[j * n + self];
    any |= cyc[j];
  }
  free(r);
  if (!cyc)
    g->oom = true;
  if (any)
    g->in_cycle = cyc;
  else
    free(cyc);
}

/* A type use the Slice1 generator cannot encode: a class, AnyClass, or an
 * optional element or value (Slice1 has no bit sequence for them). */
static const char *slice1_bad(gen *g, const slicec_type_ref *t, int depth) {
  if (!t || depth > 100)
    return NULL;
  const slicec_type_ref *u = ua(t);
  if (!u)
    return NULL;
  switch (u->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    return u->primitive == SLICEC_ANYCLASS ? "AnyClass (classes are not "
                                             "supported)"
                                           : NULL;
  case SLICEC_TYPE_SEQUENCE:
    if (u->element->optional && !proxy_lv(g, u->element, "x"))
      return "a sequence of optional elements other than proxies";
    return slice1_bad(g, u->element, depth + 1);
  case SLICEC_TYPE_DICTIONARY:
    if (u->value->optional && !proxy_lv(g, u->value, "x"))
      return "a dictionary of optional values other than proxies";
    return slice1_bad(g, u->value, depth + 1);
  case SLICEC_TYPE_DEFINED:
    if (u->def && u->def->kind == SLICEC_DEF_CLASS)
      return S(g, "class '%s' (classes are not supported)",
               u->def->scoped_name);
    return NULL;
  default:
    return NULL;
  }
}

static void check_slice1_members(gen *g, const slicec_member_list *ml,
                                 const char *where) {
  for (size_t i = 0; i < ml->n; i++) {
    const slicec_member *m = ml->items[i];
    const char *bad = slice1_bad(g, m->type, 0);
    if (!bad && m->type->optional && !m->tagged && !proxy_lv(g, m->type, "x"))
      bad = S(g, "an optional %s without a tag (only proxies may be null)",
              spell_inst(g, m->type));
    if (bad)
      diag(g, m->loc, "E205",
           "'%s' of %s uses %s, which the C generator "
           "cannot encode in Slice1",
           m->name, where, bad);
  }
}

/* What the Slice1 generator refuses, reported where it is declared. */
static void check_slice1(gen *g, const slicec_file *f) {
  for (size_t i = 0; i < f->ndefs; i++) {
    const slicec_def *d = f->defs[i];
    const char *where = S(g, "'%s'", d->scoped_name);
    switch (d->kind) {
    case SLICEC_DEF_STRUCT:
      check_slice1_members(g, &d->u.st.fields, where);
      break;
    case SLICEC_DEF_EXCEPTION:
      check_slice1_members(g, &d->u.exc.fields, where);
      break;
    case SLICEC_DEF_INTERFACE:
      for (size_t j = 0; j < d->u.iface.nops; j++) {
        const slicec_operation *op = d->u.iface.ops[j];
        const char *w = S(g, "'%s::%s'", d->scoped_name, op->name);
        check_slice1_members(g, &op->params, w);
        check_slice1_members(g, &op->returns, w);
      }
      break;
    default:
      break;
    }
  }
}

static void gen_file(gen *g, const slicec_file *f, const char *dir) {
  g->file = f;
  g->out = f;
  g->mod = f->module ? mod_cname(g, f->module) : "";
  g->base = base_name(f->path);
  find_cycle(g);
  check_names(g);
  if (f->mode == SLICEC_MODE_SLICE1)
    check_slice1(g, f);
  /* Streams, reported once each, where they are declared. */
  for (size_t i = 0; i < f->ndefs; i++) {
    const slicec_def *d = f->defs[i];
    if (d->kind != SLICEC_DEF_INTERFACE)
      continue;
    for (size_t j = 0; j < d->u.iface.nops; j++) {
      const slicec_operation *op = d->u.iface.ops[j];
      if (op_skipped(op))
        diag(g, op->loc, "E202",
             "operation '%s' of '%s' is not generated: the C generator "
             "does not write a stream of this element type",
             op->name, d->scoped_name);
    }
  }
  for (size_t i = 0; i < f->ndefs; i++) {
    const slicec_def *d = f->defs[i];
    if (d->kind == SLICEC_DEF_CLASS)
      diag(g, d->loc, "E204",
           "class '%s' is not generated: classes are not supported by the C "
           "generator",
           d->scoped_name);
  }
  for (size_t i = 0; i < f->ndefs; i++)
    scan_def(g, f->defs[i]);
  for (size_t i = 0; i < f->ndefs; i++)
    if (f->defs[i]->kind != SLICEC_DEF_INTERFACE &&
        f->defs[i]->kind != SLICEC_DEF_EXCEPTION &&
        f->defs[i]->kind != SLICEC_DEF_CLASS)
      need_def(g, f->defs[i]);
  for (size_t i = 0; i < f->ndefs; i++)
    if (f->defs[i]->kind == SLICEC_DEF_EXCEPTION)
      need_exception(g, f->defs[i]);
  for (size_t i = 0; i < f->ndefs; i++)
    if (f->defs[i]->kind == SLICEC_DEF_INTERFACE)
      need_iface(g, f->defs[i]);

  sb hdr = {0}, src = {0};
  const char *hname = S(g, "%s.h", g->base);
  const char *guard = S(g, "%s_H", upper(g, g->base));
  sb_printf(&hdr, "/* Generated by irpc-slicec from %s. Do not edit. */\n",
            g->base);
  sb_printf(&hdr, "#ifndef %s\n#define %s\n\n", guard, guard);
  sb_puts(&hdr, "#include <irpc/slice_gen.h>\n");
  for (size_t i = 0; i < g->nincs; i++)
    sb_printf(&hdr, "#include \"%s.h\"\n", base_name(g->incs[i]->path));
  for (size_t i = 0; i < f->ndefs; i++) {
    const char *inc = attr_arg(f->defs[i]->attrs, "c::include");
    if (inc)
      sb_printf(&hdr, "#include \"%s\"\n", inc);
  }
  /* The C types of the custom types of the other files of a cycle, whose
   * types this header may define. */
  for (size_t j = 0; g->in_cycle && j < g->ast->nfiles; j++) {
    const slicec_file *x = g->ast->files[j];
    for (size_t i = 0; g->in_cycle[j] && i < x->ndefs; i++) {
      const char *inc = attr_arg(x->defs[i]->attrs, "c::include");
      if (inc)
        sb_printf(&hdr, "#include \"%s\"\n", inc);
    }
  }
  sb_printf(&hdr,
            "\n#if IRPC_SLICE_GEN_VERSION != 1\n#error \"%s needs "
            "IRPC_SLICE_GEN_VERSION 1: regenerate it\"\n#endif\n",
            hname);
  sb_puts(&hdr, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
  sb_putn(&hdr, g->h.p ? g->h.p : "", g->h.n);
  sb_puts(&hdr, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");

  sb_printf(&src, "/* Generated by irpc-slicec from %s. Do not edit. */\n",
            g->base);
  bool offsets = false; /* offsetof, for inherited operations */
  for (size_t i = 0; i < f->ndefs; i++)
    offsets |= f->defs[i]->kind == SLICEC_DEF_INTERFACE &&
               f->defs[i]->u.iface.nall_bases > 0;
  if (offsets)
    sb_puts(&src, "#include <stddef.h>\n\n");
  sb_printf(&src, "#include \"%s\"\n", hname);
  sb_putn(&src, g->c.p ? g->c.p : "", g->c.n);

  if (hdr.oom || src.oom || g->h.oom || g->c.oom)
    g->oom = true;
  if (!g->oom) {
    write_file(g, dir, hname, &hdr);
    write_file(g, dir, S(g, "%s.c", g->base), &src);
  }
  free(hdr.p);
  free(src.p);
}

size_t slicec_gen_c(const slicec_ast *ast, const char *output_dir,
                    slicec_diag_fn fn, void *user_data) {
  size_t errors = 0;
  for (size_t i = 0; i < ast->nfiles; i++) {
    const slicec_file *f = ast->files[i];
    if (f->reference)
      continue;
    gen g = {.ast = ast, .fn = fn, .ud = user_data};
    gen_file(&g, f, output_dir ? output_dir : ".");
    if (g.oom) {
      slicec_loc loc = {f->path, 0, 0};
      diag(&g, loc, "E200", "out of memory while generating C");
    }
    errors += g.errors;
    free(g.h.p);
    free(g.c.p);
    free(g.insts);
    free(g.marks);
    free(g.in_cycle);
    free((void *)g.incs);
    for (size_t k = 0; k < g.npool; k++)
      free(g.pool[k]);
    free(g.pool);
    for (size_t k = 0; k < g.nsops; k++)
      free(g.sops[k].copy);
    free(g.sops);
  }
  return errors;
}
