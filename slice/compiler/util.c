/* irpc-slicec: arena, lists, symbol table, diagnostics and model helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- arena ----------------------------------------------------------------
 */

struct sc_block {
  sc_block *next;
  size_t used, cap;
  max_align_t data[];
};

#define SC_BLOCK_SIZE (64 * 1024)

void *sc_alloc(sc_arena *a, size_t size) {
  size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
  if (size == 0)
    size = sizeof(max_align_t);
  sc_block *b = a->head;
  if (!b || b->cap - b->used < size) {
    size_t cap = size > SC_BLOCK_SIZE ? size : SC_BLOCK_SIZE;
    b = malloc(sizeof(*b) + cap);
    if (!b) {
      a->failed = true;
      return NULL;
    }
    b->used = 0;
    b->cap = cap;
    /* A big allocation gets its own block behind the current one, so the
     * current block's free room stays usable. */
    if (a->head && size > SC_BLOCK_SIZE) {
      b->next = a->head->next;
      a->head->next = b;
    } else {
      b->next = a->head;
      a->head = b;
    }
  }
  void *p = (char *)b->data + b->used;
  b->used += size;
  memset(p, 0, size);
  return p;
}

char *sc_strndup(sc_arena *a, const char *s, size_t n) {
  char *p = sc_alloc(a, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

char *sc_strdup(sc_arena *a, const char *s) {
  return sc_strndup(a, s, strlen(s));
}

char *sc_printf(sc_arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  char *p = sc_alloc(a, (size_t)n + 1);
  if (!p)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void sc_arena_free(sc_arena *a) {
  sc_block *b = a->head;
  while (b) {
    sc_block *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
}

/* ---- lists ----------------------------------------------------------------
 */

void sc_vec_push(sc_arena *a, sc_vec *v, void *item) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 4;
    void **items = sc_alloc(a, cap * sizeof(*items));
    if (!items)
      return;
    if (v->n)
      memcpy(items, v->items, v->n * sizeof(*items));
    v->items = items;
    v->cap = cap;
  }
  v->items[v->n++] = item;
}

void **sc_freeze(slicec_context *c, sc_vec *v) {
  (void)c;
  return v->items;
}

slicec_attr_list sc_freeze_attrs(slicec_context *c, sc_vec *v) {
  slicec_attr_list l = {SC_LIST(c, v, slicec_attr), v->n};
  return l;
}

/* ---- symbol table (open addressing, FNV-1a) ---------------------------------
 */

static size_t sc_hash(const char *s) {
  size_t h = 1469598103934665603ull & SIZE_MAX;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * (size_t)1099511628211ull;
  return h;
}

sc_sym *sc_map_get(const sc_map *m, const char *name) {
  if (!m->cap)
    return NULL;
  for (size_t i = sc_hash(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    sc_sym *s = m->slots[i];
    if (!s)
      return NULL;
    if (strcmp(s->name, name) == 0)
      return s;
  }
}

static bool sc_map_grow(sc_arena *a, sc_map *m) {
  size_t cap = m->cap ? m->cap * 2 : 256;
  sc_sym **slots = sc_alloc(a, cap * sizeof(*slots));
  if (!slots)
    return false;
  for (size_t i = 0; i < m->cap; i++) {
    sc_sym *s = m->slots[i];
    if (!s)
      continue;
    size_t j = sc_hash(s->name) & (cap - 1);
    while (slots[j])
      j = (j + 1) & (cap - 1);
    slots[j] = s;
  }
  m->slots = slots;
  m->cap = cap;
  return true;
}

sc_sym *sc_map_put(sc_arena *a, sc_map *m, const char *name, bool *existed) {
  *existed = false;
  sc_sym *s = sc_map_get(m, name);
  if (s) {
    *existed = true;
    return s;
  }
  if ((m->n + 1) * 2 > m->cap && !sc_map_grow(a, m))
    return NULL;
  s = sc_alloc(a, sizeof(*s));
  if (!s)
    return NULL;
  s->name = name;
  size_t i = sc_hash(name) & (m->cap - 1);
  while (m->slots[i])
    i = (i + 1) & (m->cap - 1);
  m->slots[i] = s;
  m->n++;
  return s;
}

/* ---- diagnostics ------------------------------------------------------------
 */

void slicec_format_diag(const slicec_diag *d, FILE *out) {
  const char *sev = d->severity == SLICEC_ERROR ? "error" : "warning";
  if (d->loc.line)
    fprintf(out, "%s:%u:%u: %s: %s [%s]\n", d->loc.file, d->loc.line,
            d->loc.col, sev, d->message, d->code);
  else if (d->loc.file)
    fprintf(out, "%s: %s: %s [%s]\n", d->loc.file, sev, d->message, d->code);
  else
    fprintf(out, "irpc-slicec: %s: %s [%s]\n", sev, d->message, d->code);
}

static void sc_emit(slicec_context *c, slicec_severity sev, slicec_loc loc,
                    const char *code, const char *fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  slicec_diag d = {sev, code, buf, loc};
  if (sev == SLICEC_ERROR)
    c->nerrors++;
  else
    c->nwarnings++;
  if (c->diag_fn)
    c->diag_fn(&d, c->diag_ud);
  else
    slicec_format_diag(&d, stderr);
}

void sc_error(slicec_context *c, slicec_loc loc, const char *code,
              const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sc_emit(c, SLICEC_ERROR, loc, code, fmt, ap);
  va_end(ap);
}

static bool sc_allowed(const slicec_attr_list *l, const char *lint) {
  for (size_t i = 0; i < l->n; i++) {
    const slicec_attr *a = l->items[i];
    if (strcmp(a->directive, "allow") != 0)
      continue;
    for (size_t j = 0; j < a->nargs; j++)
      if (strcmp(a->args[j], lint) == 0 || strcmp(a->args[j], "All") == 0)
        return true;
  }
  return false;
}

void sc_lint(slicec_context *c, const slicec_attr_list *const *allow,
             size_t nallow, slicec_loc loc, const char *lint, const char *fmt,
             ...) {
  for (size_t i = 0; i < nallow; i++)
    if (allow[i] && sc_allowed(allow[i], lint))
      return;
  va_list ap;
  va_start(ap, fmt);
  sc_emit(c, SLICEC_WARNING, loc, lint, fmt, ap);
  va_end(ap);
}

void sc_oom(slicec_context *c) {
  if (c->oom_reported)
    return;
  c->oom_reported = true;
  slicec_loc none = {NULL, 0, 0};
  sc_error(c, none, "E001", "out of memory");
}

/* ---- model helpers ----------------------------------------------------------
 */

const slicec_attr *slicec_attr_find(slicec_attr_list list,
                                    const char *directive) {
  for (size_t i = 0; i < list.n; i++)
    if (strcmp(list.items[i]->directive, directive) == 0)
      return list.items[i];
  return NULL;
}

const slicec_type_ref *slicec_type_unalias(const slicec_type_ref *t) {
  /* Alias cycles are errors, but the chain is bounded anyway so that a
   * model with errors can still be walked. */
  for (int guard = 0; t && guard < 1000; guard++) {
    if (t->kind != SLICEC_TYPE_DEFINED)
      return t;
    if (!t->def)
      return NULL;
    if (t->def->kind != SLICEC_DEF_ALIAS)
      return t;
    t = t->def->u.alias.type;
  }
  return NULL;
}

static const char *const sc_prim_names[] = {
    "bool",      "int8",     "uint8",     "int16",  "uint16",  "int32",
    "uint32",    "varint32", "varuint32", "int64",  "uint64",  "varint62",
    "varuint62", "float32",  "float64",   "string", "AnyClass"};

const char *slicec_primitive_name(slicec_primitive p) {
  if ((size_t)p < sizeof(sc_prim_names) / sizeof(sc_prim_names[0]))
    return sc_prim_names[p];
  return "?";
}

const char *slicec_def_kind_name(slicec_def_kind k) {
  switch (k) {
  case SLICEC_DEF_STRUCT:
    return "struct";
  case SLICEC_DEF_ENUM:
    return "enum";
  case SLICEC_DEF_CUSTOM:
    return "custom type";
  case SLICEC_DEF_ALIAS:
    return "type alias";
  case SLICEC_DEF_INTERFACE:
    return "interface";
  case SLICEC_DEF_CLASS:
    return "class";
  case SLICEC_DEF_EXCEPTION:
    return "exception";
  case SLICEC_DEF_CONST:
    return "constant";
  }
  return "?";
}

bool sc_is_integral(slicec_primitive p) {
  switch (p) {
  case SLICEC_INT8:
  case SLICEC_UINT8:
  case SLICEC_INT16:
  case SLICEC_UINT16:
  case SLICEC_INT32:
  case SLICEC_UINT32:
  case SLICEC_VARINT32:
  case SLICEC_VARUINT32:
  case SLICEC_INT64:
  case SLICEC_UINT64:
  case SLICEC_VARINT62:
  case SLICEC_VARUINT62:
    return true;
  default:
    return false;
  }
}
