/* irpc-slicec: the resolver.
 *
 * 1. Registers every module (and each of its parent scopes) and every
 *    definition under its scoped name, across all files; a second
 *    definition of a name is a redefinition (E010).
 * 2. Resolves each name recorded by the parser, as slicec does: a name
 *    starting with `::` is absolute; any other is tried in the module of
 *    the file where it is written, then in each enclosing module, then at
 *    the top (`A::B` used in module `X::Y` tries X::Y::A::B, X::A::B,
 *    A::B). The definition found must be of the kind the place requires
 *    (E017); a name that matches nothing is E033. Using a [deprecated]
 *    definition is the Deprecated lint.
 * 3. Flags type aliases that never reach a concrete type (E019), and
 *    computes each interface's transitive bases, reporting inheritance
 *    cycles (E109). */
#include <string.h>

#include "internal.h"

static void register_module(slicec_context *c, const slicec_module *m) {
  const char *name = m->scoped_name;
  for (const char *s = name;; s++) {
    if (*s == ':' || *s == 0) {
      char *prefix = sc_strndup(&c->arena, name, (size_t)(s - name));
      bool existed;
      sc_sym *sym =
          prefix ? sc_map_put(&c->arena, &c->syms, prefix, &existed) : NULL;
      if (!sym) {
        sc_oom(c);
        return;
      }
      if (!existed) {
        sym->kind = SC_SYM_MODULE;
        sym->loc = m->loc;
      }
      if (*s == 0)
        return;
      s++; /* the second ':' */
    }
  }
}

static void register_def(slicec_context *c, sc_def *d) {
  bool existed;
  sc_sym *sym = sc_map_put(&c->arena, &c->syms, d->pub.scoped_name, &existed);
  if (!sym) {
    sc_oom(c);
    return;
  }
  if (!existed) {
    sym->kind = SC_SYM_DEF;
    sym->def = &d->pub;
    sym->loc = d->pub.loc;
    return;
  }
  if (sym->kind == SC_SYM_MODULE)
    sc_error(c, d->pub.loc, "E010",
             "redefinition of '%s': it is already the name of a module",
             d->pub.name);
  else
    sc_error(c, d->pub.loc, "E010",
             "redefinition of '%s' (first defined at %s:%u:%u)", d->pub.name,
             sym->loc.file, sym->loc.line, sym->loc.col);
}

/* Looks `name` up from `scope` outwards. */
sc_sym *sc_lookup(slicec_context *c, const char *scope, const char *name) {
  if (name[0] == ':' && name[1] == ':')
    return sc_map_get(&c->syms, name + 2);
  size_t sl = strlen(scope);
  char stack[512];
  size_t need = sl + strlen(name) + 3;
  char *buf = need <= sizeof(stack) ? stack : sc_alloc(&c->arena, need);
  if (!buf)
    return NULL;
  for (;;) {
    if (sl) {
      memcpy(buf, scope, sl);
      memcpy(buf + sl, "::", 2);
      strcpy(buf + sl + 2, name);
    } else {
      strcpy(buf, name);
    }
    sc_sym *s = sc_map_get(&c->syms, buf);
    if (s || !sl)
      return s;
    /* Drop the last segment of the scope. */
    while (sl && !(sl >= 2 && scope[sl - 1] == ':' && scope[sl - 2] == ':'))
      sl--;
    sl = sl >= 2 ? sl - 2 : 0;
  }
}

static const char *article_kind(slicec_def_kind k) {
  switch (k) {
  case SLICEC_DEF_ENUM:
    return "an enum";
  case SLICEC_DEF_INTERFACE:
    return "an interface";
  case SLICEC_DEF_EXCEPTION:
    return "an exception";
  case SLICEC_DEF_CUSTOM:
    return "a custom type";
  case SLICEC_DEF_ALIAS:
    return "a type alias";
  case SLICEC_DEF_STRUCT:
    return "a struct";
  case SLICEC_DEF_CLASS:
    return "a class";
  case SLICEC_DEF_CONST:
    return "a constant";
  }
  return "?";
}

static bool role_accepts(sc_ref_role role, slicec_def_kind k) {
  switch (role) {
  case SC_REF_TYPE:
    return k != SLICEC_DEF_INTERFACE && k != SLICEC_DEF_EXCEPTION &&
           k != SLICEC_DEF_CONST;
  case SC_REF_IFACE_BASE:
    return k == SLICEC_DEF_INTERFACE;
  case SC_REF_CLASS_BASE:
    return k == SLICEC_DEF_CLASS;
  case SC_REF_EXC_BASE:
  case SC_REF_THROWS:
    return k == SLICEC_DEF_EXCEPTION;
  case SC_REF_ICE_TYPE:
    return k != SLICEC_DEF_EXCEPTION && k != SLICEC_DEF_CONST;
  case SC_REF_PROXY:
    return k == SLICEC_DEF_INTERFACE;
  }
  return false;
}

static const char *role_expects(sc_ref_role role) {
  switch (role) {
  case SC_REF_TYPE:
  case SC_REF_ICE_TYPE:
    return "a type";
  case SC_REF_PROXY:
    return "an interface";
  case SC_REF_IFACE_BASE:
    return "an interface";
  case SC_REF_CLASS_BASE:
    return "a class";
  default:
    return "an exception";
  }
}

static void resolve_ref(slicec_context *c, sc_ref *q) {
  slicec_type_ref *r = q->ref;
  sc_sym *s = sc_lookup(c, q->scope, r->spelled);
  if (!s) {
    sc_error(c, r->loc, "E033", "no element with identifier '%s' exists",
             r->spelled);
    return;
  }
  if (s->kind == SC_SYM_MODULE) {
    sc_error(c, r->loc, "E017",
             "type mismatch: expected %s but found a module '%s'",
             role_expects(q->role), s->name);
    return;
  }
  if (s->kind == SC_SYM_LOCAL) {
    sc_error(c, r->loc, "E033",
             "'%s' is a local definition (%s:%u:%u): local definitions are "
             "not compiled, and only other local definitions can use them",
             s->name, s->loc.file, s->loc.line, s->loc.col);
    return;
  }
  const slicec_def *d = s->def;
  /* .ice: an interface by value is an instance of a class that implements
   * it; a class reference may be null. */
  if (q->role == SC_REF_ICE_TYPE && d->kind == SLICEC_DEF_INTERFACE) {
    r->kind = SLICEC_TYPE_PRIMITIVE;
    r->primitive = SLICEC_ANYCLASS;
    r->optional = true;
    return;
  }
  if (q->role == SC_REF_ICE_TYPE && d->kind == SLICEC_DEF_CLASS)
    r->optional = true;
  if (q->role == SC_REF_PROXY && d->kind == SLICEC_DEF_CLASS) {
    sc_error(c, r->loc, "E120",
             "'%s*': proxies of classes are not supported: use an interface",
             r->spelled);
    return;
  }
  /* A base or throws entry may go through aliases of the right kind. */
  if (q->role != SC_REF_TYPE && d->kind == SLICEC_DEF_ALIAS) {
    const slicec_type_ref *u = NULL;
    if (d->u.alias.type)
      u = slicec_type_unalias(d->u.alias.type);
    if (u && u->kind == SLICEC_TYPE_DEFINED && u->def)
      d = u->def;
  }
  if (!role_accepts(q->role, d->kind)) {
    sc_error(c, r->loc, "E017", "type mismatch: expected %s but found %s '%s'",
             role_expects(q->role), article_kind(d->kind), d->scoped_name);
    return;
  }
  r->def = s->def;
  if (q->role == SC_REF_PROXY) {
    /* The proxy type made for a .ice interface, or the `custom IProxy`
     * declared beside a .slice one. */
    const sc_def *px = ((const sc_def *)d)->proxy;
    const slicec_def *pd = px ? &px->pub : NULL;
    if (!pd) {
      const char *name = sc_printf(&c->arena, "%sProxy", d->scoped_name);
      sc_sym *ps = name ? sc_map_get(&c->syms, name) : NULL;
      if (ps && ps->kind == SC_SYM_DEF && ps->def->kind == SLICEC_DEF_CUSTOM)
        pd = ps->def;
    }
    r->def = pd;
    if (!pd) {
      sc_error(c, r->loc, "E033",
               "'%s*' has no proxy type: declare 'custom %sProxy' beside "
               "interface '%s'",
               r->spelled, d->name, d->scoped_name);
      return;
    }
    d = pd;
  }
  if (q->out)
    *q->out = d;
  if (d->deprecated)
    sc_lint(c, q->allow, 3, r->loc, "Deprecated",
            d->deprecation_reason ? "'%s' is deprecated: %s"
                                  : "'%s' is deprecated%s",
            d->name, d->deprecation_reason ? d->deprecation_reason : "");
}

/* ---- alias cycles
 * ------------------------------------------------------------ */

/* Whether the chain of aliases from d comes back to d. */
static bool alias_cycles(slicec_context *c, sc_def *d) {
  const slicec_def *cur = &d->pub;
  for (size_t steps = 0; steps <= c->all_defs.n; steps++) {
    const slicec_type_ref *t = cur->u.alias.type;
    if (!t || t->kind != SLICEC_TYPE_DEFINED || !t->def ||
        t->def->kind != SLICEC_DEF_ALIAS)
      return false;
    cur = t->def;
    if (cur == &d->pub)
      return true;
  }
  return false;
}

static void check_aliases(slicec_context *c) {
  sc_vec cyclic = {0};
  for (size_t i = 0; i < c->all_defs.n; i++) {
    sc_def *d = c->all_defs.items[i];
    if (d->pub.kind == SLICEC_DEF_ALIAS && alias_cycles(c, d)) {
      sc_error(c, d->pub.loc, "E019",
               "self-referential type alias '%s' has no concrete type",
               d->pub.scoped_name);
      sc_vec_push(&c->arena, &cyclic, d);
    }
  }
  /* Cut every cycle, so that later walks end. */
  for (size_t i = 0; i < cyclic.n; i++) {
    sc_def *d = cyclic.items[i];
    ((slicec_type_ref *)d->pub.u.alias.type)->def = NULL;
  }
}

/* ---- interface bases
 * ----------------------------------------------------------- */

enum { MARK_NONE, MARK_ACTIVE, MARK_DONE };

/* Interfaces deriving from interfaces deeper than this are refused, which
 * bounds the recursion below. */
#define MAX_INHERITANCE_DEPTH 500

static void collect_bases(slicec_context *c, sc_def *root, sc_def *d,
                          sc_vec *out, bool *cycle, int depth) {
  const slicec_interface_def *in = &d->pub.u.iface;
  d->mark = MARK_ACTIVE;
  for (size_t i = 0; i < in->nbases; i++) {
    sc_def *b = (sc_def *)in->bases[i];
    if (!b)
      continue;
    if (b->mark == MARK_ACTIVE) {
      *cycle |= b == root; /* others are reported from their own walk */
      continue;
    }
    if (b->mark == MARK_DONE)
      continue;
    if (depth >= MAX_INHERITANCE_DEPTH) {
      *cycle = true;
      continue;
    }
    collect_bases(c, root, b, out, cycle, depth + 1);
    sc_vec_push(&c->arena, out, b);
  }
  d->mark = MARK_DONE;
}

static bool compute_bases(slicec_context *c, sc_def *d) {
  for (size_t i = 0; i < c->all_defs.n; i++)
    ((sc_def *)c->all_defs.items[i])->mark = MARK_NONE;
  sc_vec out = {0};
  bool cycle = false;
  collect_bases(c, d, d, &out, &cycle, 0);
  if (cycle) {
    sc_error(c, d->pub.loc, "E109",
             "interface '%s' inherits from itself, directly or through its "
             "bases (or through more than %d levels)",
             d->pub.scoped_name, MAX_INHERITANCE_DEPTH);
    out.n = 0;
  }
  d->pub.u.iface.all_bases = (const slicec_def *const *)out.items;
  d->pub.u.iface.nall_bases = out.n;
  return cycle;
}

/* A class or exception whose base chain comes back to it. */
static void check_base_chain(slicec_context *c, sc_def *d) {
  const slicec_def *cur = &d->pub;
  for (size_t steps = 0; steps <= c->all_defs.n; steps++) {
    const slicec_def *b =
        cur->kind == SLICEC_DEF_CLASS ? cur->u.cls.base : cur->u.exc.base;
    if (!b)
      return;
    if (b == &d->pub) {
      sc_error(c, d->pub.loc, "E109",
               "%s '%s' inherits from itself, directly or through its bases",
               slicec_def_kind_name(d->pub.kind), d->pub.scoped_name);
      if (d->pub.kind == SLICEC_DEF_CLASS)
        d->pub.u.cls.base = NULL;
      else
        d->pub.u.exc.base = NULL;
      return;
    }
    cur = b;
  }
}

/* `Object*` in a .ice file is `::IceRpc::ServiceAddress?`: when no file
 * declares that custom type, a built-in file does, as IceRPC's
 * ServiceAddress.slice (`module IceRpc`, `custom ServiceAddress`). It is
 * a source, so that its C (ServiceAddress.slice.h and .c) is generated
 * beside the files that use it, when a source .ice file does; else a
 * reference. */
void sc_add_service_address(slicec_context *c) {
  for (size_t i = 0; i < c->all_defs.n; i++)
    if (strcmp(((sc_def *)c->all_defs.items[i])->pub.scoped_name,
               "IceRpc::ServiceAddress") == 0)
      return;
  sc_file *f = sc_alloc(&c->arena, sizeof(*f));
  slicec_file *pub = sc_alloc(&c->arena, sizeof(*pub));
  slicec_module *m = sc_alloc(&c->arena, sizeof(*m));
  sc_def *d = sc_alloc(&c->arena, sizeof(*d));
  if (!f || !pub || !m || !d)
    return;
  pub->path = "<built-in>/IceRpc/ServiceAddress.slice";
  pub->reference = !c->source_service_address;
  pub->mode = SLICEC_MODE_SLICE1;
  f->pub = pub;
  f->canon = pub->path;
  f->processed = true;
  m->scoped_name = "IceRpc";
  m->loc = (slicec_loc){pub->path, 1, 1};
  pub->module = m;
  d->file = f;
  d->pub.kind = SLICEC_DEF_CUSTOM;
  d->pub.name = "ServiceAddress";
  d->pub.scoped_name = "IceRpc::ServiceAddress";
  d->pub.module = m;
  d->pub.file = pub;
  d->pub.loc = (slicec_loc){pub->path, 2, 8};
  const slicec_def **defs = sc_alloc(&c->arena, sizeof(*defs));
  if (!defs)
    return;
  defs[0] = &d->pub;
  pub->defs = defs;
  pub->ndefs = 1;
  d->index = c->all_defs.n;
  sc_vec_push(&c->arena, &c->all_defs, d);
  sc_vec_push(&c->arena, &c->files, f);
}

void sc_resolve(slicec_context *c) {
  for (size_t i = 0; i < c->files.n; i++) {
    sc_file *f = c->files.items[i];
    if (f->pub->module)
      register_module(c, f->pub->module);
    for (size_t k = 0; k < f->modules.n; k++)
      register_module(c, f->modules.items[k]);
  }
  for (size_t i = 0; i < c->all_defs.n; i++)
    register_def(c, c->all_defs.items[i]);
  for (size_t i = 0; i < c->locals.n; i++) {
    sc_local *l = c->locals.items[i];
    bool existed;
    sc_sym *sym = sc_map_put(&c->arena, &c->syms, l->scoped_name, &existed);
    if (sym && !existed) {
      sym->kind = SC_SYM_LOCAL;
      sym->loc = l->loc;
    }
  }
  for (size_t i = 0; i < c->refs.n; i++)
    resolve_ref(c, c->refs.items[i]);
  check_aliases(c);
  /* Interfaces on an inheritance cycle lose their bases, once every one
   * of them is reported, so that the model stays finite. */
  sc_vec cyclic = {0};
  for (size_t i = 0; i < c->all_defs.n; i++) {
    sc_def *d = c->all_defs.items[i];
    if (d->pub.kind == SLICEC_DEF_INTERFACE && compute_bases(c, d))
      sc_vec_push(&c->arena, &cyclic, d);
  }
  for (size_t i = 0; i < cyclic.n; i++)
    ((sc_def *)cyclic.items[i])->pub.u.iface.nbases = 0;
  for (size_t i = 0; i < c->all_defs.n; i++) {
    sc_def *d = c->all_defs.items[i];
    if (d->pub.kind == SLICEC_DEF_INTERFACE)
      continue;
    else if (d->pub.kind == SLICEC_DEF_CLASS ||
             d->pub.kind == SLICEC_DEF_EXCEPTION)
      check_base_chain(c, d);
  }
}
