/* irpc-slicec: attribute validation.
 *
 * slicec owns the attributes without a prefix: allow, compress, deprecated,
 * oneway and slicedFormat. Any other unprefixed attribute is an error
 * (E024). Prefixed ones (`cs::`, `c::`, ...) belong to the generator of
 * that language and are kept as written. For the known ones this checks
 * the argument count (E028) and values (E027), repetition (E026) and
 * placement (E023), and sets the flags the model exposes (deprecated,
 * oneway, compress_args, ...). */
#include <string.h>

#include "internal.h"

typedef enum site {
  SITE_FILE,
  SITE_MODULE,
  SITE_DEF,
  SITE_FIELD,
  SITE_PARAM,
  SITE_ENUMERATOR,
  SITE_OPERATION,
  SITE_TYPEREF
} site;

static const char *const lint_names[] = {"All", "BrokenDocLink", "Deprecated",
                                         "IncorrectDocComment",
                                         "MalformedDocComment"};

static bool count_ok(slicec_context *c, const slicec_attr *a, size_t min,
                     size_t max) {
  if (a->nargs >= min && a->nargs <= max)
    return true;
  if (max == 0)
    sc_error(c, a->loc, "E028",
             "attribute '%s' does not take any arguments, but %zu %s "
             "provided",
             a->directive, a->nargs, a->nargs == 1 ? "was" : "were");
  else if (min == max)
    sc_error(c, a->loc, "E028",
             "attribute '%s' takes exactly %zu %s, but %zu %s provided",
             a->directive, min, min == 1 ? "argument" : "arguments", a->nargs,
             a->nargs == 1 ? "was" : "were");
  else if (max == SIZE_MAX)
    sc_error(c, a->loc, "E028",
             "attribute '%s' requires at least %zu %s, but only %zu %s "
             "provided",
             a->directive, min, min == 1 ? "argument" : "arguments", a->nargs,
             a->nargs == 1 ? "was" : "were");
  else
    sc_error(c, a->loc, "E028",
             "attribute '%s' takes between %zu and %zu arguments "
             "(inclusive), but %zu %s provided",
             a->directive, min, max, a->nargs, a->nargs == 1 ? "was" : "were");
  return false;
}

static void invalid_here(slicec_context *c, const slicec_attr *a,
                         const char *why) {
  sc_error(c, a->loc, "E023", "invalid attribute '%s'%s%s", a->directive,
           why ? ": " : "", why ? why : "");
}

/* Args/Return for compress and slicedFormat. */
static void args_return(slicec_context *c, const slicec_attr *a, bool *args,
                        bool *ret) {
  if (!count_ok(c, a, 1, SIZE_MAX))
    return;
  for (size_t i = 0; i < a->nargs; i++) {
    if (strcmp(a->args[i], "Args") == 0)
      *args = true;
    else if (strcmp(a->args[i], "Return") == 0)
      *ret = true;
    else
      sc_error(c, a->loc, "E027",
               "'%s' is not a valid argument to the '%s' attribute", a->args[i],
               a->directive);
  }
}

/* Checks one list; `op` and `def` receive the flags when the list is
 * theirs. */
static void check_list(slicec_context *c, slicec_attr_list l, site s,
                       slicec_operation *op, slicec_def *def) {
  for (size_t i = 0; i < l.n; i++) {
    const slicec_attr *a = l.items[i];
    const char *d = a->directive;
    if (strstr(d, "::"))
      continue; /* a language's own attribute */
    bool repeatable = strcmp(d, "allow") == 0;
    bool known = repeatable || strcmp(d, "compress") == 0 ||
                 strcmp(d, "deprecated") == 0 || strcmp(d, "oneway") == 0 ||
                 strcmp(d, "slicedFormat") == 0;
    if (!known) {
      sc_error(c, a->loc, "E024", "unknown attribute '%s'", d);
      continue;
    }
    if (!repeatable) {
      bool dup = false;
      for (size_t k = 0; k < i && !dup; k++)
        dup = strcmp(l.items[k]->directive, d) == 0;
      if (dup) {
        sc_error(c, a->loc, "E026", "duplicate attribute '%s'", d);
        continue;
      }
    }
    if (strcmp(d, "allow") == 0) {
      count_ok(c, a, 1, SIZE_MAX);
      for (size_t k = 0; k < a->nargs; k++) {
        bool ok = false;
        for (size_t j = 0; j < sizeof(lint_names) / sizeof(lint_names[0]); j++)
          ok |= strcmp(a->args[k], lint_names[j]) == 0;
        if (!ok)
          sc_error(c, a->loc, "E027",
                   "'%s' is not a valid argument to the 'allow' attribute",
                   a->args[k]);
      }
      if (s == SITE_MODULE || s == SITE_TYPEREF)
        invalid_here(c, a, NULL);
    } else if (strcmp(d, "deprecated") == 0) {
      count_ok(c, a, 0, 1);
      if (s == SITE_MODULE || s == SITE_TYPEREF || s == SITE_FILE)
        invalid_here(c, a, NULL);
      else if (s == SITE_PARAM)
        invalid_here(c, a, "parameters cannot be individually deprecated");
      else if (def) {
        def->deprecated = true;
        def->deprecation_reason = a->nargs ? a->args[0] : NULL;
      }
    } else if (strcmp(d, "oneway") == 0) {
      count_ok(c, a, 0, 0);
      if (s != SITE_OPERATION)
        invalid_here(c, a,
                     "the oneway attribute can only be applied to "
                     "operations");
      else if (op->returns.n)
        invalid_here(c, a, "operations that return values cannot be oneway");
      else
        op->oneway = true;
    } else {
      bool is_compress = strcmp(d, "compress") == 0;
      if (s != SITE_OPERATION) {
        invalid_here(c, a,
                     is_compress ? "the compress attribute can only be applied "
                                   "to operations"
                                 : "the slicedFormat attribute can only be "
                                   "applied to operations");
        continue;
      }
      if (is_compress)
        args_return(c, a, &op->compress_args, &op->compress_return);
      else
        args_return(c, a, &op->sliced_args, &op->sliced_return);
    }
  }
}

static void check_type_attrs(slicec_context *c, const slicec_type_ref *t) {
  if (!t)
    return;
  check_list(c, t->attrs, SITE_TYPEREF, NULL, NULL);
  check_type_attrs(c, t->element);
  check_type_attrs(c, t->key);
  check_type_attrs(c, t->value);
  check_type_attrs(c, t->success);
  check_type_attrs(c, t->failure);
}

static void check_members(slicec_context *c, slicec_member_list l, site s) {
  for (size_t i = 0; i < l.n; i++) {
    check_list(c, l.items[i]->attrs, s, NULL, NULL);
    check_type_attrs(c, l.items[i]->type);
  }
}

void sc_check_attributes(slicec_context *c) {
  for (size_t i = 0; i < c->files.n; i++) {
    sc_file *f = c->files.items[i];
    check_list(c, f->pub->attrs, SITE_FILE, NULL, NULL);
    if (f->pub->module && !f->modules.n)
      check_list(c, f->pub->module->attrs, SITE_MODULE, NULL, NULL);
    for (size_t k = 0; k < f->modules.n; k++)
      check_list(c, ((const slicec_module *)f->modules.items[k])->attrs,
                 SITE_MODULE, NULL, NULL);
  }
  for (size_t i = 0; i < c->all_defs.n; i++) {
    slicec_def *d = &((sc_def *)c->all_defs.items[i])->pub;
    check_list(c, d->attrs, SITE_DEF, NULL, d);
    switch (d->kind) {
    case SLICEC_DEF_STRUCT:
      check_members(c, d->u.st.fields, SITE_FIELD);
      break;
    case SLICEC_DEF_CLASS:
      check_members(c, d->u.cls.fields, SITE_FIELD);
      break;
    case SLICEC_DEF_EXCEPTION:
      check_members(c, d->u.exc.fields, SITE_FIELD);
      break;
    case SLICEC_DEF_ENUM:
      check_type_attrs(c, d->u.en.underlying);
      for (size_t k = 0; k < d->u.en.nenumerators; k++) {
        const slicec_enumerator *e = d->u.en.enumerators[k];
        check_list(c, e->attrs, SITE_ENUMERATOR, NULL, NULL);
        check_members(c, e->fields, SITE_FIELD);
      }
      break;
    case SLICEC_DEF_ALIAS:
      check_type_attrs(c, d->u.alias.type);
      break;
    case SLICEC_DEF_INTERFACE:
      for (size_t k = 0; k < d->u.iface.nops; k++) {
        slicec_operation *op = (slicec_operation *)d->u.iface.ops[k];
        check_list(c, op->attrs, SITE_OPERATION, op, NULL);
        check_members(c, op->params, SITE_PARAM);
        check_members(c, op->returns, SITE_PARAM);
      }
      break;
    case SLICEC_DEF_CONST:
      check_type_attrs(c, d->u.cnst.type);
      break;
    case SLICEC_DEF_CUSTOM:
      break;
    }
  }
}
