/* irpc-slicec: what .ice files need once names are resolved.
 *
 * sc_ice_resolve_values checks each constant's value and each data
 * member's default against its type (E122): an integer fits byte, short,
 * int or long, a float is finite in float or double, a bool is true or
 * false, an enum's value is one of its enumerators, and a name may stand for
 * a constant of the same type.
 *
 * sc_ice_check reports, in the .ice files that are compiled (not those
 * only included), what the C generator cannot do yet: classes. A type
 * definition that needs them (a class, or an alias or struct containing
 * one) is left out of the file's definitions, with the UnsupportedClass
 * warning; an operation, exception member or other use of `Object` or
 * `Value` by value, of an interface by value, of a class or of a type that
 * contains one is an error (E120), as the definition holding it cannot be
 * generated without it. Included files may use classes freely as long as
 * the compiled files do not use those definitions. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- values ----------------------------------------------------------------
 */

static bool int_range(slicec_primitive p, int64_t *min, int64_t *max) {
  switch (p) {
  case SLICEC_UINT8:
    *min = 0;
    *max = 255;
    return true;
  case SLICEC_INT16:
    *min = INT16_MIN;
    *max = INT16_MAX;
    return true;
  case SLICEC_INT32:
    *min = INT32_MIN;
    *max = INT32_MAX;
    return true;
  case SLICEC_INT64:
    *min = INT64_MIN;
    *max = INT64_MAX;
    return true;
  default:
    return false;
  }
}

static const char *ice_type_name(const slicec_type_ref *u) {
  if (u->kind == SLICEC_TYPE_PRIMITIVE) {
    switch (u->primitive) {
    case SLICEC_UINT8:
      return "byte";
    case SLICEC_INT16:
      return "short";
    case SLICEC_INT32:
      return "int";
    case SLICEC_INT64:
      return "long";
    case SLICEC_FLOAT32:
      return "float";
    case SLICEC_FLOAT64:
      return "double";
    case SLICEC_ANYCLASS:
      return "Object";
    default:
      return slicec_primitive_name(u->primitive);
    }
  }
  if (u->kind == SLICEC_TYPE_DEFINED && u->def)
    return u->def->scoped_name;
  return u->kind == SLICEC_TYPE_SEQUENCE ? "sequence" : "dictionary";
}

/* An integer literal (decimal, 0x hex, 0 octal) with its sign; false when
 * it does not fit 64 bits. */
static bool parse_int(const char *text, bool negative, int64_t *out) {
  errno = 0;
  char *end = NULL;
  unsigned long long m = strtoull(text, &end, 0);
  if (errno || !end || *end)
    return false;
  if (negative) {
    if (m > (unsigned long long)INT64_MAX + 1)
      return false;
    *out = (int64_t)(0 - (uint64_t)m);
  } else {
    if (m > (unsigned long long)INT64_MAX)
      return false;
    *out = (int64_t)m;
  }
  return true;
}

static sc_value_ref *ref_of(slicec_context *c, const slicec_value *v) {
  for (size_t i = 0; i < c->values.n; i++) {
    sc_value_ref *q = c->values.items[i];
    if (q->value == v)
      return q;
  }
  return NULL;
}

/* Whether a value of kind `k` suits the unaliased type `u` (ints and floats
 * are range-checked by the caller). */
static bool suits(const slicec_type_ref *u, slicec_value_kind k) {
  if (u->kind == SLICEC_TYPE_DEFINED)
    return k == SLICEC_VALUE_ENUMERATOR;
  switch (u->primitive) {
  case SLICEC_BOOL:
    return k == SLICEC_VALUE_BOOL;
  case SLICEC_STRING:
    return k == SLICEC_VALUE_STRING;
  case SLICEC_FLOAT32:
  case SLICEC_FLOAT64:
    return k == SLICEC_VALUE_FLOAT || k == SLICEC_VALUE_INT;
  default:
    return k == SLICEC_VALUE_INT;
  }
}

/* Range checks on a value of the right kind; false after reporting. */
static bool fits(slicec_context *c, sc_value_ref *q, const slicec_type_ref *u,
                 slicec_value *v) {
  int64_t min, max;
  if (u->kind != SLICEC_TYPE_PRIMITIVE)
    return true;
  if (v->kind == SLICEC_VALUE_INT && int_range(u->primitive, &min, &max) &&
      (v->i < min || v->i > max)) {
    sc_error(c, v->loc, "E122",
             "invalid value for %s: %s is out of the range of %s", q->what,
             v->literal, ice_type_name(u));
    return false;
  }
  if (u->primitive == SLICEC_FLOAT32 || u->primitive == SLICEC_FLOAT64) {
    if (v->kind == SLICEC_VALUE_INT) {
      v->kind = SLICEC_VALUE_FLOAT;
      v->f = (double)v->i;
    }
    double lim = u->primitive == SLICEC_FLOAT32 ? FLT_MAX : DBL_MAX;
    if (!isfinite(v->f) || fabs(v->f) > lim) {
      sc_error(c, v->loc, "E122",
               "invalid value for %s: %s is out of the range of %s", q->what,
               v->literal, ice_type_name(u));
      return false;
    }
  }
  return true;
}

static void resolve_value(slicec_context *c, sc_value_ref *q) {
  slicec_value *v = q->value;
  const slicec_type_ref *u = q->type ? slicec_type_unalias(q->type) : NULL;
  if (!u)
    return; /* the type did not resolve: reported */
  bool is_enum = u->kind == SLICEC_TYPE_DEFINED && u->def &&
                 u->def->kind == SLICEC_DEF_ENUM;
  bool prim =
      u->kind == SLICEC_TYPE_PRIMITIVE && u->primitive != SLICEC_ANYCLASS;
  if ((!prim && !is_enum) || q->type->optional) {
    sc_error(c, v->loc, "E122",
             "invalid value for %s: only built-in types other than Object, "
             "and enums, can have a value; '%s' cannot",
             q->what, ice_type_name(u));
    return;
  }
  if (q->tok == T_IDENT && is_enum) {
    /* An enumerator, unscoped or scoped (`Pear`, `Fruit::Pear`,
     * `::M::Fruit::Pear`): its own name is the last segment. */
    const char *last = strrchr(q->text, ':');
    last = last ? last + 1 : q->text;
    const slicec_enum_def *en = &u->def->u.en;
    for (size_t i = 0; i < en->nenumerators; i++)
      if (strcmp(en->enumerators[i]->name, last) == 0) {
        v->kind = SLICEC_VALUE_ENUMERATOR;
        v->enumerator = en->enumerators[i];
        return;
      }
  }
  if (q->tok == T_IDENT &&
      (strcmp(q->text, "true") == 0 || strcmp(q->text, "false") == 0)) {
    v->kind = SLICEC_VALUE_BOOL;
    v->b = q->text[0] == 't';
  } else if (q->tok == T_IDENT) {
    sc_sym *s = sc_lookup(c, q->scope, q->text);
    const slicec_def *d = s && s->kind == SC_SYM_DEF ? s->def : NULL;
    if (!d || d->kind != SLICEC_DEF_CONST || !d->u.cnst.value) {
      sc_error(c, v->loc, "E122",
               "invalid value for %s: '%s' is neither a constant nor %s",
               q->what, q->text,
               is_enum ? "an enumerator of its enum" : "a literal");
      return;
    }
    sc_value_ref *cq = ref_of(c, d->u.cnst.value);
    const slicec_type_ref *cu = slicec_type_unalias(d->u.cnst.type);
    if (!cq || cq == q || !cu) {
      sc_error(c, v->loc, "E122",
               "invalid value for %s: constant '%s' is defined after it",
               q->what, q->text);
      return;
    }
    bool same_enum =
        is_enum && cu->kind == SLICEC_TYPE_DEFINED && cu->def == u->def;
    if ((is_enum && !same_enum) ||
        (!is_enum && (cu->kind != SLICEC_TYPE_PRIMITIVE ||
                      !suits(u, d->u.cnst.value->kind)))) {
      sc_error(c, v->loc, "E122",
               "invalid value for %s: constant '%s' is a %s, not a %s", q->what,
               q->text, ice_type_name(cu), ice_type_name(u));
      return;
    }
    slicec_loc loc = v->loc;
    const char *lit = v->literal;
    *v = *d->u.cnst.value;
    v->loc = loc;
    v->literal = lit;
    fits(c, q, u, v);
    return;
  } else if (q->tok == T_INT) {
    v->kind = SLICEC_VALUE_INT;
    if (!parse_int(q->text, q->negative, &v->i)) {
      sc_error(c, v->loc, "E122",
               "invalid value for %s: %s does not fit in 64 bits", q->what,
               v->literal);
      return;
    }
  } else if (q->tok == T_FLOAT) {
    v->kind = SLICEC_VALUE_FLOAT;
    v->f = strtod(q->text, NULL);
    if (q->negative)
      v->f = -v->f;
  } else {
    v->kind = SLICEC_VALUE_STRING;
    v->str = q->text;
    v->len = q->len;
  }
  if (!suits(u, v->kind)) {
    sc_error(c, v->loc, "E122", "invalid value for %s: %s is not a%s %s",
             q->what, v->literal, is_enum ? "n enumerator of" : "",
             ice_type_name(u));
    return;
  }
  fits(c, q, u, v);
}

void sc_ice_resolve_values(slicec_context *c) {
  for (size_t i = 0; i < c->values.n; i++)
    resolve_value(c, c->values.items[i]);
}

/* ---- classes -------------------------------------------------------------
 */

/* Why `t` needs classes: "a class", "contains a class", or NULL. */
static const char *needs_class(const slicec_type_ref *t, int depth) {
  if (!t || depth > 64)
    return NULL;
  switch (t->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    return t->primitive == SLICEC_ANYCLASS ? "is a class" : NULL;
  case SLICEC_TYPE_SEQUENCE:
    return needs_class(t->element, depth + 1) ? "contains a class" : NULL;
  case SLICEC_TYPE_DICTIONARY:
    return needs_class(t->key, depth + 1) || needs_class(t->value, depth + 1)
               ? "contains a class"
               : NULL;
  case SLICEC_TYPE_RESULT:
    return NULL;
  case SLICEC_TYPE_DEFINED:
    break;
  }
  const slicec_def *d = t->def;
  if (!d)
    return NULL;
  switch (d->kind) {
  case SLICEC_DEF_CLASS:
    return "is a class";
  case SLICEC_DEF_ALIAS: {
    const char *why = needs_class(d->u.alias.type, depth + 1);
    return why ? (strcmp(why, "is a class") == 0 &&
                          d->u.alias.type->kind == SLICEC_TYPE_DEFINED
                      ? why
                      : "contains a class")
               : NULL;
  }
  case SLICEC_DEF_STRUCT:
    for (size_t i = 0; i < d->u.st.fields.n; i++)
      if (needs_class(d->u.st.fields.items[i]->type, depth + 1))
        return "contains a class";
    return NULL;
  default:
    return NULL;
  }
}

/* `owner` names what holds t when t has no name of its own (the alias
 * of a sequence or dictionary). */
static void check_type(slicec_context *c, const slicec_type_ref *t,
                       slicec_loc at, const char *owner) {
  const char *why = needs_class(t, 0);
  if (!why)
    return;
  const char *name = t->kind == SLICEC_TYPE_DEFINED && t->def
                         ? t->def->scoped_name
                     : t->spelled                       ? t->spelled
                     : t->kind == SLICEC_TYPE_PRIMITIVE ? "Object"
                                                        : owner;
  if (t->kind == SLICEC_TYPE_PRIMITIVE)
    sc_error(c, at, "E120",
             "'%s' by value is a class instance: classes are not supported "
             "yet (a proxy is written '%s*')",
             name, name);
  else
    sc_error(c, at, "E120", "'%s' %s: classes are not supported yet", name,
             why);
}

static void check_members(slicec_context *c, slicec_member_list l) {
  for (size_t i = 0; i < l.n; i++)
    check_type(c, l.items[i]->type, l.items[i]->type->loc, l.items[i]->name);
}

/* Why a type definition needs classes, or NULL. */
static const char *def_needs_class(const slicec_def *d) {
  switch (d->kind) {
  case SLICEC_DEF_CLASS:
    return "is a class";
  case SLICEC_DEF_ALIAS:
    return needs_class(d->u.alias.type, 0) ? "contains a class" : NULL;
  case SLICEC_DEF_STRUCT:
    for (size_t i = 0; i < d->u.st.fields.n; i++)
      if (needs_class(d->u.st.fields.items[i]->type, 0))
        return "contains a class";
    return NULL;
  default:
    return NULL;
  }
}

/* Leaves out of a source .ice file the type definitions that need classes
 * (`sequence<Object> ObjectSeq;` in ZeroC's BuiltinSequences.ice), with a
 * warning, so that the rest of the file is generated; they stay in the
 * symbol table, so that a use of one is reported where it is. */
static void leave_out_classes(slicec_context *c, sc_file *f) {
  size_t kept = 0;
  const slicec_def **defs = (const slicec_def **)f->pub->defs;
  for (size_t i = 0; i < f->pub->ndefs; i++) {
    const slicec_def *d = defs[i];
    const char *why = def_needs_class(d);
    if (why)
      sc_lint(c, NULL, 0, d->loc, "UnsupportedClass",
              "%s '%s' is left out of the generated code: it %s, and classes "
              "are not supported yet",
              slicec_def_kind_name(d->kind), d->scoped_name, why);
    else
      defs[kept++] = d;
  }
  f->pub->ndefs = kept;
}

void sc_ice_check(slicec_context *c) {
  for (size_t i = 0; i < c->all_defs.n; i++) {
    const sc_def *sd = c->all_defs.items[i];
    const slicec_def *d = &sd->pub;
    if (!sd->file->ice || d->file->reference || def_needs_class(d))
      continue;
    switch (d->kind) {
    case SLICEC_DEF_STRUCT:
      check_members(c, d->u.st.fields);
      break;
    case SLICEC_DEF_EXCEPTION:
      check_members(c, d->u.exc.fields);
      for (const slicec_def *b = d->u.exc.base; b; b = b->u.exc.base) {
        if (b->file->reference)
          for (size_t k = 0; k < b->u.exc.fields.n; k++)
            if (needs_class(b->u.exc.fields.items[k]->type, 0)) {
              sc_error(c, d->loc, "E120",
                       "base exception '%s' has a member that needs classes: "
                       "classes are not supported yet",
                       b->scoped_name);
              break;
            }
        if (b == d)
          break;
      }
      break;
    case SLICEC_DEF_INTERFACE:
      for (size_t k = 0; k < d->u.iface.nops; k++) {
        check_members(c, d->u.iface.ops[k]->params);
        check_members(c, d->u.iface.ops[k]->returns);
      }
      for (size_t b = 0; b < d->u.iface.nall_bases; b++) {
        const slicec_def *base = d->u.iface.all_bases[b];
        if (!base || !base->file->reference)
          continue;
        for (size_t k = 0; k < base->u.iface.nops; k++) {
          const slicec_operation *op = base->u.iface.ops[k];
          bool bad = false;
          for (size_t m = 0; m < op->params.n && !bad; m++)
            bad = needs_class(op->params.items[m]->type, 0) != NULL;
          for (size_t m = 0; m < op->returns.n && !bad; m++)
            bad = needs_class(op->returns.items[m]->type, 0) != NULL;
          if (bad)
            sc_error(c, d->loc, "E120",
                     "operation '%s' of base interface '%s' uses classes: "
                     "classes are not supported yet",
                     op->name, base->scoped_name);
        }
      }
      break;
    default:
      break;
    }
  }
  for (size_t i = 0; i < c->files.n; i++) {
    sc_file *f = c->files.items[i];
    if (f->ice && !f->pub->reference && f->pub->defs)
      leave_out_classes(c, f);
  }
}
