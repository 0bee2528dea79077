/* Features: a small array of (key address, value) pairs. */
#include <string.h>

#include "model.h"
#include "irpc/alloc.h"

void irpc__features_init(irpc_features *f) {
  f->entries = f->inline_entries;
  f->count = 0;
  f->cap = IRPC__FEATURES_INLINE;
}

void irpc__features_fini(irpc_features *f) {
  for (size_t i = 0; i < f->count; i++)
    if (f->entries[i].key->destroy)
      f->entries[i].key->destroy(f->entries[i].value);
  if (f->entries != f->inline_entries)
    irpc_free(f->entries);
  irpc__features_init(f);
}

static irpc__feature *find(const irpc_features *f,
                           const irpc_feature_key *key) {
  for (size_t i = 0; i < f->count; i++)
    if (f->entries[i].key == key)
      return &f->entries[i];
  return NULL;
}

static void remove_at(irpc_features *f, irpc__feature *e) {
  size_t i = (size_t)(e - f->entries);
  if (e->key->destroy)
    e->key->destroy(e->value);
  memmove(e, e + 1, (f->count - i - 1) * sizeof(*e));
  f->count--;
}

static int grow(irpc_features *f) {
  return irpc__array_grow((void **)&f->entries, f->inline_entries, &f->cap,
                          f->count, f->count + 1, sizeof(*f->entries));
}

int irpc_features_set(irpc_features *f, const irpc_feature_key *key,
                      void *value) {
  if (!f || !key)
    return IRPC_EINVAL;
  irpc__feature *e = find(f, key);
  if (!value) {
    if (e)
      remove_at(f, e);
    return 0;
  }
  if (e) {
    if (e->value != value && key->destroy)
      key->destroy(e->value);
    e->value = value;
    return 0;
  }
  if (f->count == f->cap && grow(f))
    return IRPC_ENOMEM;
  f->entries[f->count++] = (irpc__feature){.key = key, .value = value};
  return 0;
}

void *irpc_features_get(const irpc_features *f, const irpc_feature_key *key) {
  if (!f || !key)
    return NULL;
  irpc__feature *e = find(f, key);
  return e ? e->value : NULL;
}

size_t irpc_features_count(const irpc_features *f) {
  return f ? f->count : 0;
}
