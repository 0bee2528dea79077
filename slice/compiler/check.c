/* irpc-slicec: the checker (slicec's validators and mode rules).
 *
 * Runs over the resolved model: self-containment cycles (E032), names in
 * containers (E010) and inherited names (E011), tagged members (E012,
 * E016, E110, E111), compact structs (E015, E018), enums (E007, E008, E009,
 * E015, E020, E022, E035, E036), dictionary keys (E003-E006), streams
 * (E013, E029), aliases of optionals (E034), and the Slice1 mode rules
 * (E101-E104). docs/internals/SLICEC.md maps each to slicec's rule. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ---- helpers
 * ----------------------------------------------------------------- */

static slicec_mode def_mode(const slicec_def *d) {
  return d->file->mode;
}

/* A type's display name: "int32", "Sequence<...>", "M::S". */
static const char *type_name(const slicec_type_ref *t) {
  switch (t->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    return slicec_primitive_name(t->primitive);
  case SLICEC_TYPE_SEQUENCE:
    return "sequence";
  case SLICEC_TYPE_DICTIONARY:
    return "dictionary";
  case SLICEC_TYPE_RESULT:
    return "result";
  case SLICEC_TYPE_DEFINED:
    return t->def ? t->def->scoped_name : t->spelled;
  }
  return "?";
}

/* Whether a type is or contains a class (or AnyClass); through aliases,
 * generics and struct and enumerator fields. */
static bool contains_class(const slicec_type_ref *t, int depth) {
  if (!t || depth > 64)
    return false;
  switch (t->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    return t->primitive == SLICEC_ANYCLASS;
  case SLICEC_TYPE_SEQUENCE:
    return contains_class(t->element, depth + 1);
  case SLICEC_TYPE_DICTIONARY:
    return contains_class(t->key, depth + 1) ||
           contains_class(t->value, depth + 1);
  case SLICEC_TYPE_RESULT:
    return contains_class(t->success, depth + 1) ||
           contains_class(t->failure, depth + 1);
  case SLICEC_TYPE_DEFINED:
    break;
  }
  const slicec_def *d = t->def;
  if (!d)
    return false;
  switch (d->kind) {
  case SLICEC_DEF_CLASS:
    return true;
  case SLICEC_DEF_ALIAS:
    return contains_class(d->u.alias.type, depth + 1);
  case SLICEC_DEF_STRUCT:
    for (size_t i = 0; i < d->u.st.fields.n; i++)
      if (contains_class(d->u.st.fields.items[i]->type, depth + 1))
        return true;
    return false;
  case SLICEC_DEF_ENUM:
    for (size_t i = 0; i < d->u.en.nenumerators; i++) {
      slicec_member_list f = d->u.en.enumerators[i]->fields;
      for (size_t k = 0; k < f.n; k++)
        if (contains_class(f.items[k]->type, depth + 1))
          return true;
    }
    return false;
  default:
    return false;
  }
}

/* ---- V1: no struct, enum or alias contains itself
 * ---------------------------- */

typedef struct cycle_walk {
  slicec_context *c;
  const slicec_def *root;
  const slicec_def *path[64];
  size_t depth;
  bool found;
} cycle_walk;

static void walk_def(cycle_walk *w, const slicec_def *d);

static void walk_type(cycle_walk *w, const slicec_type_ref *t) {
  if (!t || w->found)
    return;
  switch (t->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    return;
  case SLICEC_TYPE_SEQUENCE:
    walk_type(w, t->element);
    return;
  case SLICEC_TYPE_DICTIONARY:
    walk_type(w, t->key);
    walk_type(w, t->value);
    return;
  case SLICEC_TYPE_RESULT:
    walk_type(w, t->success);
    walk_type(w, t->failure);
    return;
  case SLICEC_TYPE_DEFINED:
    if (t->def)
      walk_def(w, t->def);
    return;
  }
}

static void walk_members(cycle_walk *w, slicec_member_list l) {
  for (size_t i = 0; i < l.n && !w->found; i++)
    walk_type(w, l.items[i]->type);
}

static void report_cycle(cycle_walk *w) {
  char path[1024];
  size_t n = 0;
  for (size_t i = 0; i < w->depth && n < sizeof(path); i++)
    n += (size_t)snprintf(path + n, sizeof(path) - n, "%s -> ",
                          w->path[i]->scoped_name);
  if (n < sizeof(path))
    snprintf(path + n, sizeof(path) - n, "%s", w->root->scoped_name);
  sc_error(w->c, w->root->loc, "E032",
           "type %s illegally references itself: %s", w->root->scoped_name,
           path);
  w->found = true;
}

static void walk_def(cycle_walk *w, const slicec_def *d) {
  if (w->found)
    return;
  if (d == w->root && w->depth > 0) {
    report_cycle(w);
    return;
  }
  sc_def *sd = (sc_def *)d;
  if (sd->mark || w->depth >= sizeof(w->path) / sizeof(w->path[0]))
    return; /* already explored from this root */
  if (d->kind != SLICEC_DEF_STRUCT && d->kind != SLICEC_DEF_ENUM &&
      d->kind != SLICEC_DEF_ALIAS)
    return; /* classes break cycles; custom types are opaque */
  if (w->depth > 0)
    sd->mark = 1;
  w->path[w->depth++] = d;
  switch (d->kind) {
  case SLICEC_DEF_STRUCT:
    walk_members(w, d->u.st.fields);
    break;
  case SLICEC_DEF_ENUM:
    for (size_t i = 0; i < d->u.en.nenumerators && !w->found; i++)
      walk_members(w, d->u.en.enumerators[i]->fields);
    break;
  case SLICEC_DEF_ALIAS:
    walk_type(w, d->u.alias.type);
    break;
  default:
    break;
  }
  w->depth--;
}

static void check_cycles(slicec_context *c) {
  for (size_t i = 0; i < c->all_defs.n; i++) {
    sc_def *root = c->all_defs.items[i];
    if (root->pub.kind != SLICEC_DEF_STRUCT &&
        root->pub.kind != SLICEC_DEF_ENUM && root->pub.kind != SLICEC_DEF_ALIAS)
      continue;
    for (size_t k = 0; k < c->all_defs.n; k++)
      ((sc_def *)c->all_defs.items[k])->mark = 0;
    cycle_walk w = {.c = c, .root = &root->pub};
    walk_def(&w, &root->pub);
    if (w.found && root->pub.kind == SLICEC_DEF_ALIAS)
      ((slicec_type_ref *)root->pub.u.alias.type)->def = NULL; /* cut */
  }
}

/* ---- V2/V3: names
 * ----------------------------------------------------------------- */

static void unique_names(slicec_context *c, slicec_member_list l) {
  for (size_t i = 0; i < l.n; i++)
    for (size_t k = 0; k < i; k++)
      if (strcmp(l.items[i]->name, l.items[k]->name) == 0) {
        sc_error(c, l.items[i]->loc, "E010", "redefinition of '%s'",
                 l.items[i]->name);
        break;
      }
}

static const slicec_member *find_field(slicec_member_list l, const char *n) {
  for (size_t i = 0; i < l.n; i++)
    if (strcmp(l.items[i]->name, n) == 0)
      return l.items[i];
  return NULL;
}

static void inherited_fields(slicec_context *c, const slicec_def *d) {
  bool cls = d->kind == SLICEC_DEF_CLASS;
  slicec_member_list own = cls ? d->u.cls.fields : d->u.exc.fields;
  const slicec_def *b = cls ? d->u.cls.base : d->u.exc.base;
  for (size_t steps = 0; b && steps < 1000; steps++) {
    slicec_member_list bf = cls ? b->u.cls.fields : b->u.exc.fields;
    for (size_t i = 0; i < own.n; i++)
      if (find_field(bf, own.items[i]->name))
        sc_error(c, own.items[i]->loc, "E011",
                 "'%s' shadows another symbol (inherited from '%s')",
                 own.items[i]->name, b->scoped_name);
    b = cls ? b->u.cls.base : b->u.exc.base;
  }
}

static void interface_names(slicec_context *c, const slicec_def *d) {
  const slicec_interface_def *in = &d->u.iface;
  for (size_t i = 0; i < in->nops; i++) {
    const slicec_operation *op = in->ops[i];
    bool dup = false;
    for (size_t k = 0; k < i && !dup; k++)
      dup = strcmp(in->ops[k]->name, op->name) == 0;
    if (dup)
      sc_error(c, op->loc, "E010", "redefinition of '%s'", op->name);
    for (size_t b = 0; b < in->nall_bases && !dup; b++) {
      const slicec_def *base = in->all_bases[b];
      if (!base)
        continue;
      for (size_t k = 0; k < base->u.iface.nops; k++)
        if (strcmp(base->u.iface.ops[k]->name, op->name) == 0) {
          sc_error(c, op->loc, "E011",
                   "'%s' shadows another symbol (inherited from '%s')",
                   op->name, base->scoped_name);
          dup = true;
          break;
        }
    }
    unique_names(c, op->params);
    if (op->returns_tuple)
      unique_names(c, op->returns);
  }
}

/* ---- V4/V5: tags and compact containers
 * ---------------------------------------------- */

static void tagged_members(slicec_context *c, slicec_member_list l) {
  for (size_t i = 0; i < l.n; i++) {
    const slicec_member *m = l.items[i];
    if (!m->tagged)
      continue;
    if (!m->type->optional)
      sc_error(c, m->loc, "E016",
               "invalid tag on member '%s': tagged members must be optional",
               m->name);
    else if (contains_class(m->type, 0)) {
      const slicec_type_ref *u = slicec_type_unalias(m->type);
      bool is_class = u && ((u->kind == SLICEC_TYPE_DEFINED && u->def &&
                             u->def->kind == SLICEC_DEF_CLASS) ||
                            (u->kind == SLICEC_TYPE_PRIMITIVE &&
                             u->primitive == SLICEC_ANYCLASS));
      if (is_class)
        sc_error(c, m->loc, "E110",
                 "invalid tag on member '%s': tagged members cannot be "
                 "classes",
                 m->name);
      else
        sc_error(c, m->loc, "E111",
                 "invalid tag on member '%s': tagged members cannot contain "
                 "classes",
                 m->name);
    }
    for (size_t k = 0; k < i; k++)
      if (l.items[k]->tagged && l.items[k]->tag == m->tag) {
        sc_error(c, m->loc, "E012",
                 "invalid tag on member '%s': tags must be unique", m->name);
        break;
      }
  }
}

static void no_tags_in_compact(slicec_context *c, slicec_member_list l,
                               const char *kind) {
  for (size_t i = 0; i < l.n; i++)
    if (l.items[i]->tagged)
      sc_error(c, l.items[i]->loc, "E015",
               "tagged fields are not supported in compact %ss; consider "
               "removing the tag, or making the %s non-compact",
               kind, kind);
}

/* ---- V6: enums
 * ------------------------------------------------------------------------ */

typedef struct range {
  bool neg_ok;
  uint64_t neg_max; /* magnitude of the minimum */
  uint64_t max;
  const char *min_s, *max_s;
} range;

static range enum_range(const slicec_def *d, bool *ok) {
  static const struct {
    slicec_primitive p;
    range r;
  } ranges[] = {
      {SLICEC_INT8, {true, 128, 127, "-128", "127"}},
      {SLICEC_UINT8, {false, 0, 255, "0", "255"}},
      {SLICEC_INT16, {true, 32768, 32767, "-32768", "32767"}},
      {SLICEC_UINT16, {false, 0, 65535, "0", "65535"}},
      {SLICEC_INT32,
       {true, 2147483648u, 2147483647, "-2147483648", "2147483647"}},
      {SLICEC_VARINT32,
       {true, 2147483648u, 2147483647, "-2147483648", "2147483647"}},
      {SLICEC_UINT32, {false, 0, 4294967295u, "0", "4294967295"}},
      {SLICEC_VARUINT32, {false, 0, 4294967295u, "0", "4294967295"}},
      {SLICEC_INT64,
       {true, 9223372036854775808u, 9223372036854775807u,
        "-9223372036854775808", "9223372036854775807"}},
      {SLICEC_UINT64, {false, 0, UINT64_MAX, "0", "18446744073709551615"}},
      {SLICEC_VARINT62,
       {true, 2305843009213693952u, 2305843009213693951u,
        "-2305843009213693952", "2305843009213693951"}},
      {SLICEC_VARUINT62,
       {false, 0, 4611686018427387903u, "0", "4611686018427387903"}},
  };
  static const range def = {false, 0, 2147483647, "0", "2147483647"};
  *ok = true;
  const slicec_type_ref *u =
      d->u.en.underlying ? slicec_type_unalias(d->u.en.underlying) : NULL;
  if (!u)
    return def;
  for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
    if (u->kind == SLICEC_TYPE_PRIMITIVE && ranges[i].p == u->primitive)
      return ranges[i].r;
  *ok = false;
  return def;
}

static void check_enum(slicec_context *c, const slicec_def *d) {
  const slicec_enum_def *en = &d->u.en;
  bool slice1 = def_mode(d) == SLICEC_MODE_SLICE1;
  bool underlying_ok = true;
  if (en->underlying) {
    const slicec_type_ref *u = slicec_type_unalias(en->underlying);
    if (en->underlying->optional)
      sc_error(c, en->underlying->loc, "E007",
               "invalid enum '%s': enums cannot have optional underlying "
               "types",
               d->name);
    if (u &&
        !(u->kind == SLICEC_TYPE_PRIMITIVE && sc_is_integral(u->primitive))) {
      sc_error(c, en->underlying->loc, "E009",
               "invalid enum '%s': underlying type '%s' is not supported",
               d->name, type_name(u));
      underlying_ok = false;
    } else if (!u) {
      underlying_ok = false;
    }
    if (slice1)
      sc_error(c, en->underlying->loc, "E101",
               "enums with an underlying type are not supported in Slice1 "
               "mode");
  }
  if (en->compact) {
    if (en->underlying || en->unchecked)
      sc_error(c, d->loc, "E036", "'enum' '%s' cannot be marked compact%s",
               d->name,
               en->underlying ? ": compact enums cannot have an underlying "
                                "type"
                              : ": compact enums cannot be unchecked");
    if (slice1)
      sc_error(c, d->loc, "E101",
               "compact enums are not supported in Slice1 mode");
  }
  if (!en->unchecked && en->nenumerators == 0)
    sc_error(c, d->loc, "E008",
             "invalid enum '%s': enums must contain at least one enumerator",
             d->name);
  bool ok;
  range r = enum_range(d, &ok);
  for (size_t i = 0; i < en->nenumerators; i++) {
    const sc_enumerator *e = (const sc_enumerator *)en->enumerators[i];
    const slicec_enumerator *pe = &e->pub;
    if (pe->has_fields) {
      if (en->underlying)
        sc_error(c, pe->loc, "E035",
                 "invalid enumerator '%s': fields cannot be declared within "
                 "enums that specify an underlying type",
                 pe->name);
      else if (slice1)
        sc_error(c, pe->loc, "E101",
                 "enumerators with fields are not supported in Slice1 mode");
      if (en->compact)
        no_tags_in_compact(c, pe->fields, "enum");
      unique_names(c, pe->fields);
      tagged_members(c, pe->fields);
    }
    if (underlying_ok) {
      bool in = e->v.negative ? (r.neg_ok && !e->v.big && e->v.mag <= r.neg_max)
                              : (!e->v.big && e->v.mag <= r.max);
      if (!in) {
        char v[32];
        snprintf(v, sizeof(v), e->v.big ? "%s(more than 2^64)" : "%s%llu",
                 e->v.negative ? "-" : "", (unsigned long long)e->v.mag);
        sc_error(c, e->value_loc, "E020",
                 "invalid enumerator '%s': enumerator value '%s' is out of "
                 "bounds. The value must be between '%s..%s', inclusive",
                 pe->name, v, r.min_s, r.max_s);
      }
    }
    for (size_t k = 0; k < i; k++) {
      const sc_enumerator *o = (const sc_enumerator *)en->enumerators[k];
      if (strcmp(o->pub.name, pe->name) == 0) {
        sc_error(c, pe->loc, "E010", "redefinition of '%s'", pe->name);
        break;
      }
    }
    for (size_t k = 0; k < i; k++) {
      const sc_enumerator *o = (const sc_enumerator *)en->enumerators[k];
      if (o->v.negative == e->v.negative && o->v.big == e->v.big &&
          o->v.mag == e->v.mag) {
        sc_error(c, e->value_loc, "E022",
                 "enumerator values must be unique; the value '%s%llu' is "
                 "already in use",
                 e->v.negative ? "-" : "", (unsigned long long)e->v.mag);
        break;
      }
    }
  }
}

/* ---- V7: dictionary keys
 * ----------------------------------------------------------- */

/* Whether t is a valid key; reports why not at `at`. `in_struct` names the
 * struct whose field is checked (E006 instead of E005). */
static bool key_ok(slicec_context *c, const slicec_type_ref *t, int depth,
                   bool report, slicec_loc at) {
  if (depth > 32)
    return true;
  const slicec_type_ref *u = slicec_type_unalias(t);
  if (!u)
    return true; /* unresolved: reported elsewhere */
  const char *bad = NULL;
  switch (u->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    if (u->primitive == SLICEC_FLOAT32 || u->primitive == SLICEC_FLOAT64 ||
        u->primitive == SLICEC_ANYCLASS)
      bad = slicec_primitive_name(u->primitive);
    break;
  case SLICEC_TYPE_SEQUENCE:
    bad = "sequence";
    break;
  case SLICEC_TYPE_DICTIONARY:
    bad = "dictionary";
    break;
  case SLICEC_TYPE_RESULT:
    bad = "result";
    break;
  case SLICEC_TYPE_DEFINED: {
    const slicec_def *d = u->def;
    if (d->kind == SLICEC_DEF_CUSTOM)
      break;
    if (d->kind == SLICEC_DEF_ENUM) {
      if (!d->u.en.underlying && def_mode(d) != SLICEC_MODE_SLICE1)
        bad = "enum with no underlying type";
      break;
    }
    if (d->kind == SLICEC_DEF_STRUCT) {
      if (!d->u.st.compact) {
        if (report)
          sc_error(c, at, "E004",
                   "structs must be compact to be used as a dictionary key "
                   "type");
        return false;
      }
      bool all = true;
      for (size_t i = 0; i < d->u.st.fields.n; i++) {
        const slicec_member *f = d->u.st.fields.items[i];
        if (f->type->optional || !key_ok(c, f->type, depth + 1, false, at))
          all = false;
      }
      if (!all && report)
        sc_error(c, at, "E006",
                 "struct '%s' contains fields that are not a valid "
                 "dictionary key types",
                 d->name);
      return all;
    }
    bad = d->kind == SLICEC_DEF_CLASS ? "class" : slicec_def_kind_name(d->kind);
    break;
  }
  }
  if (bad && report)
    sc_error(c, at, "E005", "invalid dictionary key type: %s", bad);
  return !bad;
}

/* ---- walking every type use, with its context
 * ------------------------------------------ */

typedef struct use_ctx {
  slicec_context *c;
  slicec_mode mode;
  bool tagged; /* the member being walked is tagged (Slice1 optionals) */
} use_ctx;

static bool slice2_only_primitive(slicec_primitive p) {
  switch (p) {
  case SLICEC_INT8:
  case SLICEC_UINT16:
  case SLICEC_UINT32:
  case SLICEC_VARINT32:
  case SLICEC_VARUINT32:
  case SLICEC_UINT64:
  case SLICEC_VARINT62:
  case SLICEC_VARUINT62:
    return true;
  default:
    return false;
  }
}

static void check_use(use_ctx *u, const slicec_type_ref *t, bool top) {
  if (!t)
    return;
  slicec_context *c = u->c;
  const slicec_type_ref *base = slicec_type_unalias(t);
  if (u->mode == SLICEC_MODE_SLICE1) {
    if (t->kind == SLICEC_TYPE_PRIMITIVE && slice2_only_primitive(t->primitive))
      sc_error(c, t->loc, "E102", "the type '%s' cannot be used in Slice1 mode",
               slicec_primitive_name(t->primitive));
    if (t->kind == SLICEC_TYPE_RESULT)
      sc_error(c, t->loc, "E102",
               "the type 'Result' cannot be used in Slice1 mode");
    if (t->kind == SLICEC_TYPE_DEFINED && t->def && base &&
        base->kind == SLICEC_TYPE_DEFINED && base->def &&
        base->def->kind != SLICEC_DEF_CUSTOM &&
        def_mode(base->def) != SLICEC_MODE_SLICE1)
      sc_error(c, t->loc, "E102",
               "the type '%s' cannot be used in Slice1 mode: it is defined "
               "in a Slice2 file",
               base->def->scoped_name);
    if (t->optional && !(top && u->tagged)) {
      bool allowed = base && ((base->kind == SLICEC_TYPE_PRIMITIVE &&
                               base->primitive == SLICEC_ANYCLASS) ||
                              (base->kind == SLICEC_TYPE_DEFINED && base->def &&
                               (base->def->kind == SLICEC_DEF_CLASS ||
                                base->def->kind == SLICEC_DEF_CUSTOM)));
      if (!allowed && base)
        sc_error(c, t->loc, "E103",
                 "optionals of type '%s' cannot be used in Slice1 mode",
                 type_name(base));
    }
  } else {
    if (t->kind == SLICEC_TYPE_PRIMITIVE && t->primitive == SLICEC_ANYCLASS)
      sc_error(c, t->loc, "E102",
               "the type 'AnyClass' cannot be used in Slice2 mode");
    if (t->kind == SLICEC_TYPE_DEFINED && base &&
        base->kind == SLICEC_TYPE_DEFINED && base->def &&
        base->def->kind == SLICEC_DEF_CLASS)
      sc_error(c, t->loc, "E102",
               "the type '%s' cannot be used in Slice2 mode: classes are "
               "Slice1 only",
               base->def->scoped_name);
  }
  if (t->kind == SLICEC_TYPE_DICTIONARY) {
    if (t->key->optional)
      sc_error(c, t->key->loc, "E003",
               "optional types are not valid dictionary key types");
    else
      key_ok(c, t->key, 0, true, t->key->loc);
  }
  check_use(u, t->element, false);
  check_use(u, t->key, false);
  check_use(u, t->value, false);
  check_use(u, t->success, false);
  check_use(u, t->failure, false);
}

static void check_member_uses(use_ctx *u, slicec_member_list l) {
  for (size_t i = 0; i < l.n; i++) {
    u->tagged = l.items[i]->tagged;
    check_use(u, l.items[i]->type, true);
  }
  u->tagged = false;
}

/* ---- V8: streams
 * -------------------------------------------------------------------------- */

static void check_streams(slicec_context *c, slicec_member_list l,
                          slicec_mode mode) {
  size_t streams = 0;
  for (size_t i = 0; i < l.n; i++) {
    const slicec_member *m = l.items[i];
    if (!m->stream)
      continue;
    if (mode == SLICEC_MODE_SLICE1) {
      sc_error(c, m->loc, "E104",
               "streamed parameters cannot be used in Slice1 mode");
      continue;
    }
    if (++streams == 2)
      sc_error(c, m->loc, "E029", "cannot have multiple streamed members");
    if (i + 1 != l.n)
      sc_error(c, m->loc, "E013",
               "invalid parameter '%s': only the last parameter in an "
               "operation can use the stream modifier",
               m->name);
  }
}

/* ---- per definition
 * ---------------------------------------------------------------------- */

static void check_def(slicec_context *c, const slicec_def *d) {
  use_ctx u = {c, def_mode(d), false};
  bool slice1 = u.mode == SLICEC_MODE_SLICE1;
  switch (d->kind) {
  case SLICEC_DEF_STRUCT:
    unique_names(c, d->u.st.fields);
    tagged_members(c, d->u.st.fields);
    if (d->u.st.compact) {
      if (d->u.st.fields.n == 0)
        sc_error(c, d->loc, "E018", "compact structs must be non-empty");
      no_tags_in_compact(c, d->u.st.fields, "struct");
    } else if (slice1) {
      sc_error(c, d->loc, "E101", "struct '%s' must be compact in Slice1 mode",
               d->name);
    }
    check_member_uses(&u, d->u.st.fields);
    break;
  case SLICEC_DEF_CLASS:
  case SLICEC_DEF_EXCEPTION: {
    slicec_member_list f =
        d->kind == SLICEC_DEF_CLASS ? d->u.cls.fields : d->u.exc.fields;
    unique_names(c, f);
    tagged_members(c, f);
    inherited_fields(c, d);
    check_member_uses(&u, f);
    break;
  }
  case SLICEC_DEF_ENUM:
    check_enum(c, d);
    for (size_t i = 0; i < d->u.en.nenumerators; i++)
      check_member_uses(&u, d->u.en.enumerators[i]->fields);
    break;
  case SLICEC_DEF_ALIAS:
    if (d->u.alias.type->optional)
      sc_error(c, d->u.alias.type->loc, "E034",
               "optional types cannot be aliased");
    check_use(&u, d->u.alias.type, true);
    break;
  case SLICEC_DEF_INTERFACE:
    interface_names(c, d);
    for (size_t i = 0; i < d->u.iface.nops; i++) {
      const slicec_operation *op = d->u.iface.ops[i];
      tagged_members(c, op->params);
      tagged_members(c, op->returns);
      check_streams(c, op->params, u.mode);
      check_streams(c, op->returns, u.mode);
      check_member_uses(&u, op->params);
      check_member_uses(&u, op->returns);
    }
    break;
  case SLICEC_DEF_CUSTOM:
    break;
  }
}

void sc_check(slicec_context *c) {
  check_cycles(c);
  for (size_t i = 0; i < c->all_defs.n; i++) {
    sc_def *d = c->all_defs.items[i];
    if (d->pub.kind == SLICEC_DEF_CLASS || d->pub.kind == SLICEC_DEF_EXCEPTION)
      continue;
    check_def(c, &d->pub);
  }
  for (size_t i = 0; i < c->all_defs.n; i++) {
    sc_def *d = c->all_defs.items[i];
    if (d->pub.kind == SLICEC_DEF_CLASS || d->pub.kind == SLICEC_DEF_EXCEPTION)
      check_def(c, &d->pub);
  }
}
