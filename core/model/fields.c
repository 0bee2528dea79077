/* Field dictionaries: a small entry array and a byte arena, inline first. */
#include <string.h>

#include "model.h"
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

/* Moves the live values to the front of the arena, in offset order (each
 * value moves down, never over one not yet moved). Entries with len 0 do
 * not count. */
static void compact(irpc_fields *f) {
  size_t used = 0;
  for (;;) {
    irpc__field *next = NULL;
    for (size_t i = 0; i < f->count; i++) {
      irpc__field *e = &f->entries[i];
      if (e->len && e->off >= used && (!next || e->off < next->off))
        next = e;
    }
    if (!next)
      break;
    memmove(f->arena + used, f->arena + next->off, next->len);
    next->off = used;
    used += next->len;
  }
  f->used = used;
}

static size_t live_bytes(const irpc_fields *f) {
  size_t live = 0;
  for (size_t i = 0; i < f->count; i++)
    live += f->entries[i].len;
  return live;
}

/* Room for `len` more arena bytes at f->used: compacts in place when the
 * live values leave enough room, else moves them to a bigger arena. The
 * old heap arena is handed back in *old (freed by the caller once `value`,
 * which may point into it, has been copied). */
static int grow_arena(irpc_fields *f, size_t len, const void *value,
                      uint8_t **old) {
  *old = NULL;
  if (len <= f->arena_cap - f->used)
    return 0;
  size_t live = live_bytes(f);
  const uint8_t *v = value;
  int aliased = v && v >= f->arena && v < f->arena + f->arena_cap;
  if (!aliased && live + len <= f->arena_cap) {
    compact(f);
    return 0;
  }
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
    *old = f->arena;
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
  if (e) {
    /* Replacing: in place when the new value fits the old one's space, or
     * when the old value ends the arena and the tail has room. Values of a
     * fixed size (a deadline, a trace context) are rewritten each call
     * without ever growing the arena. */
    int last = e->off + e->len == f->used;
    if (len <= e->len || (last && len <= f->arena_cap - e->off)) {
      if (len > 0)
        memmove(f->arena + e->off, value, len);
      e->len = len;
      if (last)
        f->used = e->off + len;
      return 0;
    }
  } else if (grow_entries(f)) {
    return IRPC_ENOMEM;
  }
  /* The old value (if any) is garbage from here: compaction skips it. */
  size_t old_len = e ? e->len : 0;
  if (e)
    e->len = 0;
  uint8_t *old;
  if (grow_arena(f, len, value, &old)) {
    if (e)
      e->len = old_len;
    return IRPC_ENOMEM;
  }
  if (!e) {
    e = &f->entries[f->count++];
    e->key = key;
  }
  if (len > 0)
    memcpy(f->arena + f->used, value, len);
  e->off = f->used;
  e->len = len;
  f->used += len;
  irpc_free(old);
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
  if (e->off + e->len == f->used)
    f->used = e->off; /* the last value: its space is free again */
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

/* Copies src's entries and live values into dst's storage, which holds
 * them: src's keys are distinct, so nothing is looked up. */
static void copy_into(irpc_fields *dst, const irpc_fields *src) {
  size_t used = 0;
  for (size_t i = 0; i < src->count; i++) {
    const irpc__field *s = &src->entries[i];
    irpc__field *d = &dst->entries[i];
    d->key = s->key;
    d->off = used;
    d->len = s->len;
    if (s->len)
      memcpy(dst->arena + used, src->arena + s->off, s->len);
    used += s->len;
  }
  dst->count = src->count;
  dst->used = used;
}

int irpc_fields_copy(irpc_fields *dst, const irpc_fields *src) {
  if (!dst || !src)
    return IRPC_EINVAL;
  if (dst == src)
    return 0;
  if (src->count <= dst->cap && live_bytes(src) <= dst->arena_cap) {
    copy_into(dst, src); /* the common case: nothing to allocate */
    return 0;
  }
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
