/* Request contexts, their Slice encoding, and the interceptor. */
#include <string.h>

#include "base/buf_internal.h"
#include "base/pool.h"
#include "ic_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/request_context.h"

/* An entry is the Slice string pair it is encoded from: the key and the
 * value, both NUL-terminated, one after the other from key.base: in the
 * context's text while it has room, else in an allocation of their own.
 * The text is only appended to (the bytes of an entry replaced or removed
 * are not reused). A context with a few short entries, as the middleware
 * decodes for every request, is one object from the loop's pool. */
typedef irpc_slice_string_pair ctx_entry;

#define CTX_INLINE_ENTRIES 4
#define CTX_TEXT 320

struct irpc_context {
  ctx_entry *entries;
  size_t count, cap;
  size_t used; /* bytes of text taken */
  ctx_entry inline_entries[CTX_INLINE_ENTRIES];
  char text[CTX_TEXT];
};

_Static_assert(sizeof(irpc_context) <= 512,
               "a context is one object of the loop's pool");

static int in_text(const irpc_context *c, const char *p) {
  return p >= c->text && p < c->text + CTX_TEXT;
}

static void entry_free(irpc_context *c, ctx_entry *e) {
  if (!in_text(c, (const char *)e->key.base))
    irpc_free((void *)e->key.base);
}

int irpc_context_new(irpc_context **out) {
  if (!out)
    return IRPC_EINVAL;
  irpc_context *c = irpc__pool_get(sizeof(irpc_context));
  if (!c)
    return IRPC_ENOMEM;
  c->entries = c->inline_entries;
  c->count = 0;
  c->cap = CTX_INLINE_ENTRIES;
  c->used = 0;
  *out = c;
  return 0;
}

void irpc_context_free(irpc_context *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->count; i++)
    entry_free(c, &c->entries[i]);
  if (c->entries != c->inline_entries)
    irpc_free(c->entries);
  irpc__pool_put(c, sizeof(irpc_context));
}

static ctx_entry *find(const irpc_context *c, const char *k, size_t n) {
  for (size_t i = 0; i < c->count; i++)
    if (c->entries[i].key.len == n && memcmp(c->entries[i].key.base, k, n) == 0)
      return &c->entries[i];
  return NULL;
}

static int set_n(irpc_context *c, const char *k, size_t kn, const char *v,
                 size_t vn) {
  size_t need = kn + vn + 2;
  int text = need <= CTX_TEXT - c->used;
  char *m = text ? c->text + c->used : irpc_malloc(need);
  if (!m)
    return IRPC_ENOMEM;
  memcpy(m, k, kn);
  m[kn] = '\0';
  memcpy(m + kn + 1, v, vn);
  m[kn + 1 + vn] = '\0';
  ctx_entry *e = find(c, k, kn);
  if (e) {
    entry_free(c, e);
  } else {
    if (irpc__array_grow((void **)&c->entries, c->inline_entries, &c->cap,
                         c->count, c->count + 1, sizeof(*c->entries))) {
      if (!text)
        irpc_free(m);
      return IRPC_ENOMEM;
    }
    e = &c->entries[c->count++];
  }
  if (text)
    c->used += need;
  *e = (ctx_entry){.key = {(const uint8_t *)m, kn},
                   .value = {(const uint8_t *)m + kn + 1, vn}};
  return 0;
}

int irpc_context_set(irpc_context *c, const char *key, const char *value) {
  if (!c || !key || !value)
    return IRPC_EINVAL;
  return set_n(c, key, strlen(key), value, strlen(value));
}

const char *irpc_context_get(const irpc_context *c, const char *key) {
  if (!c || !key)
    return NULL;
  ctx_entry *e = find(c, key, strlen(key));
  return e ? (const char *)e->value.base : NULL;
}

int irpc_context_remove(irpc_context *c, const char *key) {
  if (!c || !key)
    return IRPC_EINVAL;
  ctx_entry *e = find(c, key, strlen(key));
  if (!e)
    return IRPC_ENOTFOUND;
  entry_free(c, e);
  size_t i = (size_t)(e - c->entries);
  memmove(e, e + 1, (c->count - i - 1) * sizeof(*e));
  c->count--;
  return 0;
}

size_t irpc_context_count(const irpc_context *c) {
  return c ? c->count : 0;
}

int irpc_context_at(const irpc_context *c, size_t i, const char **key,
                    const char **value) {
  if (!c || !key || !value)
    return IRPC_EINVAL;
  if (i >= c->count)
    return IRPC_ERANGE;
  *key = (const char *)c->entries[i].key.base;
  *value = (const char *)c->entries[i].value.base;
  return 0;
}

/* The encoding: a Slice2 dictionary<string, string>. */
static void ctx_encode(irpc_slice_encoder *e, const void *c) {
  const irpc_context *ctx = c;
  irpc_slice_encode_context(e, ctx->entries, ctx->count);
}

int irpc_context_encode(const irpc_context *c, irpc_buf *out) {
  if (!c || !out)
    return IRPC_EINVAL;
  return irpc__ic_encode(out, ctx_encode, c);
}

/* A string: UTF-8 (checked by the decoder), no NUL byte. */
static int get_string(irpc_slice_decoder *d, irpc_bytes *s) {
  int rc = irpc_slice_decode_string(d, s);
  if (rc == 0 && s->len && memchr(s->base, 0, s->len))
    rc = IRPC_EDATA;
  return rc;
}

static int ctx_decode(irpc_slice_decoder *d, irpc_context *c) {
  size_t count;
  /* Each entry takes at least 2 bytes: two empty strings. */
  int rc = irpc_slice_decode_count(d, 2, 0, &count);
  for (size_t i = 0; i < count && rc == 0; i++) {
    irpc_bytes k, v;
    rc = get_string(d, &k);
    if (rc == 0)
      rc = get_string(d, &v);
    if (rc == 0)
      rc = set_n(c, (const char *)k.base, k.len, (const char *)v.base, v.len);
  }
  return rc ? rc : irpc_slice_decoder_end(d);
}

int irpc_context_decode(irpc_bytes value, irpc_context **out) {
  if (!out || (!value.base && value.len))
    return IRPC_EINVAL;
  irpc_context *c;
  int rc = irpc_context_new(&c);
  if (rc)
    return rc;
  irpc_slice_decoder d;
  irpc__ic_decoder_init(&d, value);
  rc = irpc__ic_decode_error(ctx_decode(&d, c));
  irpc_slice_decoder_fini(&d);
  if (rc) {
    irpc_context_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

static void context_destroy(void *p) {
  irpc_context_free(p);
}

const irpc_feature_key irpc_request_context_feature = {
    .name = "request_context", .destroy = context_destroy};

/* ---- The interceptor ---- */

static void rcic_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_outgoing_request *req = irpc_call_request(call);
  const irpc_context *c = irpc_features_get(irpc_outgoing_request_features(req),
                                            &irpc_request_context_feature);
  irpc_fields *f = irpc_outgoing_request_fields(req);
  if (!c) {
    irpc_call_next(call);
    return;
  }
  if (c->count == 0) {
    irpc_fields_remove(f, IRPC_REQUEST_FIELD_CONTEXT);
    irpc_call_next(call);
    return;
  }
  int rc = irpc__ic_field_set(f, IRPC_REQUEST_FIELD_CONTEXT, ctx_encode, c);
  if (rc)
    irpc_call_complete(call, rc, NULL);
  else
    irpc_call_next(call);
}

static const irpc_invoker_ops rcic_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "request_context",
    .invoke = rcic_invoke,
};

int irpc_request_context_interceptor_new(irpc_invoker **out, uv_loop_t *loop) {
  return irpc_invoker_new(out, loop, &rcic_ops, NULL);
}
