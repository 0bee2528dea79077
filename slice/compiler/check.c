/* irpc-slicec: the checker (slicec's validators and mode rules).
 *
 * Runs over the resolved model: self-containment cycles (E032), names in
 * containers (E010) and inherited names (E011), tagged members (E012,
 * E016, E110, E111), compact structs (E015, E018), enums (E007, E008, E009,
 * E015, E020, E022, E035, E036), dictionary keys (E003-E006), streams
 * (E013, E029), aliases of optionals (E034), and the Slice1 mode rules
 * (E101-E104). docs/internals/SLICEC.md maps each to slicec's rule. */
#include <stdio.h>
#include <stdlib.h>
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
 * ----------------------------
 *
 * As slicec: every distinct cycle is reported once, from the struct or
 * enum of the cycle that was defined first, and two cycles through the same
 * set of types count as one. Aliases are looked through. A walk stops after
 * a fixed number of steps, so that hostile input cannot make it explode
 * (there can be exponentially many cycles); by then errors were reported. */

#define CYCLE_MAX_DEPTH 64
#define CYCLE_MAX_REPORTS 100
#define CYCLE_BUDGET 1000000 /* steps for the whole compilation */

typedef struct cycle_walk {
  slicec_context *c;
  const sc_def *root;
  const sc_def *path[CYCLE_MAX_DEPTH];
  size_t depth;
  size_t budget;
  bool alias_root;   /* follow aliases and generics only */
  size_t *found;     /* cycles reported so far, all roots */
  const size_t *scc; /* strongly connected component of each definition */
  sc_vec reported;   /* size_t* node sets, sorted, first entry the count */
} cycle_walk;

static void walk_def(cycle_walk *w, const sc_def *d);

static void walk_type(cycle_walk *w, const slicec_type_ref *t) {
  if (!t)
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
      walk_def(w, (const sc_def *)t->def);
    return;
  }
}

static void walk_members(cycle_walk *w, slicec_member_list l) {
  for (size_t i = 0; i < l.n; i++)
    walk_type(w, l.items[i]->type);
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

static void found_cycle(cycle_walk *w) {
  size_t n = w->depth;
  size_t *set = sc_alloc(&w->c->arena, (n + 1) * sizeof(*set));
  if (!set)
    return;
  set[0] = n;
  for (size_t i = 0; i < n; i++)
    set[i + 1] = w->path[i]->index;
  qsort(set + 1, n, sizeof(*set), cmp_size);
  for (size_t i = 0; i < w->reported.n; i++) {
    const size_t *o = w->reported.items[i];
    if (o[0] == n && memcmp(o + 1, set + 1, n * sizeof(*set)) == 0)
      return;
  }
  sc_vec_push(&w->c->arena, &w->reported, set);
  if (++*w->found == CYCLE_MAX_REPORTS)
    w->budget = 0; /* enough said: the compilation has failed */
  char path[1024];
  size_t len = 0;
  for (size_t i = 0; i < n && len < sizeof(path); i++)
    len += (size_t)snprintf(path + len, sizeof(path) - len, "%s -> ",
                            w->path[i]->pub.scoped_name);
  if (len < sizeof(path))
    snprintf(path + len, sizeof(path) - len, "%s", w->root->pub.scoped_name);
  sc_error(w->c, w->root->pub.loc, "E032",
           "type %s illegally references itself: %s", w->root->pub.scoped_name,
           path);
}

static void walk_def(cycle_walk *w, const sc_def *d) {
  if (w->budget == 0)
    return;
  w->budget--;
  const slicec_def *p = &d->pub;
  if (d == w->root && w->depth > 0) {
    found_cycle(w);
    return;
  }
  if (p->kind == SLICEC_DEF_ALIAS) {
    if (d->mark)
      return; /* an alias loop not through the root: its own walk */
    ((sc_def *)d)->mark = 1;
    if (d == w->root)
      w->path[w->depth++] = d;
    walk_type(w, p->u.alias.type);
    if (d == w->root)
      w->depth--;
    ((sc_def *)d)->mark = 0;
    return;
  }
  if ((p->kind != SLICEC_DEF_STRUCT && p->kind != SLICEC_DEF_ENUM) ||
      w->alias_root)
    return; /* classes break cycles; custom types are opaque */
  /* A cycle through a type defined before the root is that type's; one
   * that does not come back to the root is found from its own types; a
   * type outside the root's strongly connected component cannot lead back
   * to it (this keeps the walk linear on large acyclic schemas). */
  if (d->mark || d->index < w->root->index || w->depth == CYCLE_MAX_DEPTH ||
      w->scc[d->index] != w->scc[w->root->index])
    return;
  ((sc_def *)d)->mark = 1;
  w->path[w->depth++] = d;
  if (p->kind == SLICEC_DEF_STRUCT) {
    walk_members(w, p->u.st.fields);
  } else {
    for (size_t i = 0; i < p->u.en.nenumerators; i++)
      walk_members(w, p->u.en.enumerators[i]->fields);
  }
  w->depth--;
  ((sc_def *)d)->mark = 0;
}

/* The struct and enum definitions that a type use reaches directly,
 * looking through aliases and generics. */
static void edges_of(slicec_context *c, const slicec_type_ref *t, sc_vec *out) {
  if (!t)
    return;
  switch (t->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    return;
  case SLICEC_TYPE_SEQUENCE:
    edges_of(c, t->element, out);
    return;
  case SLICEC_TYPE_DICTIONARY:
    edges_of(c, t->key, out);
    edges_of(c, t->value, out);
    return;
  case SLICEC_TYPE_RESULT:
    edges_of(c, t->success, out);
    edges_of(c, t->failure, out);
    return;
  case SLICEC_TYPE_DEFINED:
    break;
  }
  sc_def *d = (sc_def *)t->def;
  if (!d)
    return;
  if (d->pub.kind == SLICEC_DEF_STRUCT || d->pub.kind == SLICEC_DEF_ENUM) {
    sc_vec_push(&c->arena, out, d);
  } else if (d->pub.kind == SLICEC_DEF_ALIAS && !d->mark) {
    d->mark = 1; /* on the path: an alias loop stops here */
    edges_of(c, d->pub.u.alias.type, out);
    d->mark = 0;
  }
}

static void def_edges(slicec_context *c, const slicec_def *d, sc_vec *out) {
  if (d->kind == SLICEC_DEF_STRUCT) {
    for (size_t i = 0; i < d->u.st.fields.n; i++)
      edges_of(c, d->u.st.fields.items[i]->type, out);
  } else if (d->kind == SLICEC_DEF_ENUM) {
    for (size_t i = 0; i < d->u.en.nenumerators; i++)
      for (size_t k = 0; k < d->u.en.enumerators[i]->fields.n; k++)
        edges_of(c, d->u.en.enumerators[i]->fields.items[k]->type, out);
  } else if (d->kind == SLICEC_DEF_ALIAS) {
    edges_of(c, d->u.alias.type, out);
  }
}

/* Tarjan's strongly connected components, iteratively (no recursion, so no
 * depth limit on long chains of types). Returns the component of each
 * definition by index, or NULL when out of memory. */
static size_t *components(slicec_context *c) {
  size_t n = c->all_defs.n;
  sc_vec *adj = sc_alloc(&c->arena, (n + 1) * sizeof(*adj));
  size_t *num = sc_alloc(&c->arena, (n + 1) * sizeof(*num));
  size_t *low = sc_alloc(&c->arena, (n + 1) * sizeof(*low));
  size_t *comp = sc_alloc(&c->arena, (n + 1) * sizeof(*comp));
  size_t *stack = sc_alloc(&c->arena, (n + 1) * sizeof(*stack));
  size_t *call = sc_alloc(&c->arena, (n + 1) * sizeof(*call));
  size_t *pos = sc_alloc(&c->arena, (n + 1) * sizeof(*pos));
  bool *on = sc_alloc(&c->arena, (n + 1) * sizeof(*on));
  if (!adj || !num || !low || !comp || !stack || !call || !pos || !on)
    return NULL;
  for (size_t i = 0; i < n; i++)
    def_edges(c, &((sc_def *)c->all_defs.items[i])->pub, &adj[i]);
  size_t counter = 1, sp = 0, ncomp = 0;
  for (size_t r = 0; r < n; r++) {
    if (num[r])
      continue;
    size_t depth = 0;
    call[depth++] = r;
    num[r] = low[r] = counter++;
    stack[sp++] = r;
    on[r] = true;
    pos[r] = 0;
    while (depth) {
      size_t v = call[depth - 1];
      if (pos[v] < adj[v].n) {
        size_t w = ((sc_def *)adj[v].items[pos[v]++])->index;
        if (!num[w]) {
          num[w] = low[w] = counter++;
          stack[sp++] = w;
          on[w] = true;
          pos[w] = 0;
          call[depth++] = w;
        } else if (on[w] && num[w] < low[v]) {
          low[v] = num[w];
        }
        continue;
      }
      if (low[v] == num[v]) {
        size_t w;
        do {
          w = stack[--sp];
          on[w] = false;
          comp[w] = ncomp;
        } while (w != v);
        ncomp++;
      }
      depth--;
      if (depth) {
        size_t u = call[depth - 1];
        if (low[v] < low[u])
          low[u] = low[v];
      }
    }
  }
  return comp;
}

static void check_cycles(slicec_context *c) {
  for (size_t k = 0; k < c->all_defs.n; k++)
    ((sc_def *)c->all_defs.items[k])->mark = 0;
  size_t budget = CYCLE_BUDGET, found = 0;
  const size_t *scc = components(c);
  if (!scc)
    return; /* out of memory: reported at the end of the compilation */
  for (size_t i = 0; i < c->all_defs.n; i++) {
    sc_def *root = c->all_defs.items[i];
    slicec_def_kind k = root->pub.kind;
    if (k != SLICEC_DEF_STRUCT && k != SLICEC_DEF_ENUM && k != SLICEC_DEF_ALIAS)
      continue;
    cycle_walk w = {.c = c,
                    .root = root,
                    .budget = budget,
                    .alias_root = k == SLICEC_DEF_ALIAS,
                    .found = &found,
                    .scc = scc};
    size_t before = c->nerrors;
    walk_def(&w, root);
    budget = w.budget;
    if (c->nerrors > before && k == SLICEC_DEF_ALIAS)
      ((slicec_type_ref *)root->pub.u.alias.type)->def = NULL; /* cut */
    if (budget == 0) {
      /* Not every path was followed: refuse rather than let a cycle by. */
      if (found < CYCLE_MAX_REPORTS)
        sc_error(c, root->pub.loc, "E032",
                 "too many paths between types to check them for cycles");
      return;
    }
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
      /* Values past 64 bits are out of every range, reported above. */
      if (!o->v.big && !e->v.big && o->v.negative == e->v.negative &&
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
  case SLICEC_DEF_CONST:
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
