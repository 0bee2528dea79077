/* Request contexts, their Slice encoding, and the interceptor. */
#include <string.h>

#include "ic_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/request_context.h"
#include "base/utf8.h"

typedef struct ctx_entry {
  char *key; /* key and value in one allocation */
  char *value;
  size_t key_len, value_len;
} ctx_entry;

struct irpc_context {
  ctx_entry *entries;
  size_t count, cap;
};

int irpc_context_new(irpc_context **out) {
  if (!out)
    return IRPC_EINVAL;
  *out = irpc_calloc(1, sizeof(irpc_context));
  return *out ? 0 : IRPC_ENOMEM;
}

void irpc_context_free(irpc_context *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->count; i++)
    irpc_free(c->entries[i].key);
  irpc_free(c->entries);
  irpc_free(c);
}

static ctx_entry *find(const irpc_context *c, const char *k, size_t n) {
  for (size_t i = 0; i < c->count; i++)
    if (c->entries[i].key_len == n && memcmp(c->entries[i].key, k, n) == 0)
      return &c->entries[i];
  return NULL;
}

static int set_n(irpc_context *c, const char *k, size_t kn, const char *v,
                 size_t vn) {
  char *m = irpc_malloc(kn + vn + 2);
  if (!m)
    return IRPC_ENOMEM;
  memcpy(m, k, kn);
  m[kn] = '\0';
  memcpy(m + kn + 1, v, vn);
  m[kn + 1 + vn] = '\0';
  ctx_entry *e = find(c, k, kn);
  if (e) {
    irpc_free(e->key);
  } else {
    if (c->count == c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 4;
      ctx_entry *a = irpc_realloc(c->entries, cap * sizeof(*a));
      if (!a) {
        irpc_free(m);
        return IRPC_ENOMEM;
      }
      c->entries = a;
      c->cap = cap;
    }
    e = &c->entries[c->count++];
  }
  *e = (ctx_entry){
      .key = m, .value = m + kn + 1, .key_len = kn, .value_len = vn};
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
  return e ? e->value : NULL;
}

int irpc_context_remove(irpc_context *c, const char *key) {
  if (!c || !key)
    return IRPC_EINVAL;
  ctx_entry *e = find(c, key, strlen(key));
  if (!e)
    return IRPC_ENOTFOUND;
  irpc_free(e->key);
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
  *key = c->entries[i].key;
  *value = c->entries[i].value;
  return 0;
}

/* The encoding (a dictionary<string, string> in Slice2): its size, and
 * the bytes written flat at p. */
static size_t ctx_size(const irpc_context *c) {
  size_t n = irpc__varuint62_size(c->count);
  for (size_t i = 0; i < c->count; i++)
    n += irpc__varuint62_size(c->entries[i].key_len) + c->entries[i].key_len +
         irpc__varuint62_size(c->entries[i].value_len) +
         c->entries[i].value_len;
  return n;
}

static void ctx_write(const irpc_context *c, uint8_t *p) {
  p += irpc__varuint62_put_min(p, c->count);
  for (size_t i = 0; i < c->count; i++) {
    const ctx_entry *e = &c->entries[i];
    p += irpc__varuint62_put_min(p, e->key_len);
    memcpy(p, e->key, e->key_len);
    p += e->key_len;
    p += irpc__varuint62_put_min(p, e->value_len);
    memcpy(p, e->value, e->value_len);
    p += e->value_len;
  }
}

int irpc_context_encode(const irpc_context *c, irpc_buf *out) {
  if (!c || !out)
    return IRPC_EINVAL;
  size_t n = ctx_size(c);
  uint8_t *p;
  size_t avail;
  int rc = irpc_buf_reserve(out, n, &p, &avail);
  if (rc)
    return rc;
  ctx_write(c, p);
  return irpc_buf_commit(out, n);
}

/* A string: no NUL byte, UTF-8. */
static int get_string(irpc__vu_reader *r, const char **s, size_t *n) {
  const uint8_t *b = irpc__vu_read_bytes(r, n);
  if (r->bad)
    return IRPC_EDATA;
  *s = (const char *)b;
  if (memchr(b, 0, *n))
    return IRPC_EDATA;
  if (!irpc__utf8_valid(b, *n))
    return IRPC_EUTF8;
  return 0;
}

int irpc_context_decode(irpc_bytes value, irpc_context **out) {
  if (!out || (!value.base && value.len))
    return IRPC_EINVAL;
  irpc__vu_reader r = {value.base, value.len, 0};
  uint64_t count = irpc__vu_read(&r);
  if (r.bad || count > r.left / 2) /* each entry takes at least 2 bytes */
    return IRPC_EDATA;
  irpc_context *c;
  int rc = irpc_context_new(&c);
  for (uint64_t i = 0; i < count && rc == 0; i++) {
    const char *ks, *vs;
    size_t kn, vn;
    rc = get_string(&r, &ks, &kn);
    if (rc == 0)
      rc = get_string(&r, &vs, &vn);
    if (rc == 0)
      rc = set_n(c, ks, kn, vs, vn);
  }
  if (rc == 0 && r.left != 0)
    rc = IRPC_EDATA;
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
  /* Encoded flat: on the stack when small, the work's own buffer if not. */
  size_t n = ctx_size(c);
  uint8_t small[512];
  uint8_t *buf = n <= sizeof(small) ? small : irpc_malloc(n);
  int rc = IRPC_ENOMEM;
  if (buf) {
    ctx_write(c, buf);
    rc = irpc_fields_set(f, IRPC_REQUEST_FIELD_CONTEXT, buf, n);
    if (buf != small)
      irpc_free(buf);
  }
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
