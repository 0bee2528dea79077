/* Field dictionaries: a small entry array and a byte arena, inline first. */
#include <string.h>

#include "internal.h"
#include "irpc/alloc.h"

void irpc__fields_init(irpc_fields *f) {
  f->entries = f->inline_entries;
  f->count = 0;
  f->cap = IRPC__FIELDS_INLINE;
  f->arena = f->inline_arena;
  f->used = 0;
  f->arena_cap = IRPC__FIELDS_ARENA;
}

void irpc__fields_fini(irpc_fields *f) {
  if (f->entries != f->inline_entries)
    irpc_free(f->entries);
  if (f->arena != f->inline_arena)
    irpc_free(f->arena);
  irpc__fields_init(f);
}

static irpc__field *find(const irpc_fields *f, uint64_t key) {
  for (size_t i = 0; i < f->count; i++)
    if (f->entries[i].key == key)
      return &f->entries[i];
  return NULL;
}

static int grow_entries(irpc_fields *f) {
  return irpc__array_grow((void **)&f->entries, f->inline_entries, &f->cap,
                          f->count, f->count + 1, sizeof(*f->entries));
}

/* Room for `len` more arena bytes; compacts live values when it grows. */
static int grow_arena(irpc_fields *f, size_t len) {
  if (len <= f->arena_cap - f->used)
    return 0;
  size_t live = 0;
  for (size_t i = 0; i < f->count; i++)
    live += f->entries[i].len;
  if (len > SIZE_MAX / 2 - live)
    return IRPC_ENOMEM;
  size_t cap = f->arena_cap;
  while (cap < live + len)
    cap *= 2;
  uint8_t *a = irpc_malloc(cap);
  if (!a)
    return IRPC_ENOMEM;
  size_t used = 0;
  for (size_t i = 0; i < f->count; i++) {
    memcpy(a + used, f->arena + f->entries[i].off, f->entries[i].len);
    f->entries[i].off = used;
    used += f->entries[i].len;
  }
  if (f->arena != f->inline_arena)
    irpc_free(f->arena);
  f->arena = a;
  f->arena_cap = cap;
  f->used = used;
  return 0;
}

int irpc_fields_set(irpc_fields *f, uint64_t key, const void *value,
                    size_t len) {
  if (!f || (!value && len > 0))
    return IRPC_EINVAL;
  if (key > IRPC_VARUINT62_MAX)
    return IRPC_EOVERFLOW;
  irpc__field *e = find(f, key);
  if (!e && grow_entries(f))
    return IRPC_ENOMEM;
  if (grow_arena(f, len))
    return IRPC_ENOMEM;
  e = find(f, key);
  if (!e) {
    e = &f->entries[f->count++];
    e->key = key;
  }
  if (len > 0)
    memcpy(f->arena + f->used, value, len);
  e->off = f->used;
  e->len = len;
  f->used += len;
  return 0;
}

int irpc_fields_get(const irpc_fields *f, uint64_t key, irpc_bytes *value) {
  if (!f || !value)
    return IRPC_EINVAL;
  const irpc__field *e = find(f, key);
  if (!e)
    return IRPC_ENOTFOUND;
  value->base = f->arena + e->off;
  value->len = e->len;
  return 0;
}

int irpc_fields_has(const irpc_fields *f, uint64_t key) {
  return f && find(f, key) != NULL;
}

int irpc_fields_remove(irpc_fields *f, uint64_t key) {
  if (!f)
    return IRPC_EINVAL;
  irpc__field *e = find(f, key);
  if (!e)
    return IRPC_ENOTFOUND;
  size_t i = (size_t)(e - f->entries);
  memmove(e, e + 1, (f->count - i - 1) * sizeof(*e));
  f->count--;
  if (f->count == 0)
    f->used = 0;
  return 0;
}

size_t irpc_fields_count(const irpc_fields *f) {
  return f ? f->count : 0;
}

int irpc_fields_at(const irpc_fields *f, size_t i, uint64_t *key,
                   irpc_bytes *value) {
  if (!f || !key || !value)
    return IRPC_EINVAL;
  if (i >= f->count)
    return IRPC_ERANGE;
  *key = f->entries[i].key;
  value->base = f->arena + f->entries[i].off;
  value->len = f->entries[i].len;
  return 0;
}

void irpc_fields_clear(irpc_fields *f) {
  if (!f)
    return;
  f->count = 0;
  f->used = 0;
}

int irpc_fields_copy(irpc_fields *dst, const irpc_fields *src) {
  if (!dst || !src)
    return IRPC_EINVAL;
  if (dst == src)
    return 0;
  irpc_fields tmp;
  irpc__fields_init(&tmp);
  for (size_t i = 0; i < src->count; i++) {
    const irpc__field *e = &src->entries[i];
    if (irpc_fields_set(&tmp, e->key, src->arena + e->off, e->len)) {
      irpc__fields_fini(&tmp);
      return IRPC_ENOMEM;
    }
  }
  irpc__fields_fini(dst);
  *dst = tmp;
  /* tmp may point at its own inline storage: re-anchor into dst. */
  if (tmp.entries == tmp.inline_entries)
    dst->entries = dst->inline_entries;
  if (tmp.arena == tmp.inline_arena)
    dst->arena = dst->inline_arena;
  return 0;
}
