/* Decoding for generated code: the decoder, the arena its values go to,
 * the helpers that allocate in the arena (charged against the decoder's
 * collection allocation first), and proxies as service addresses. */
#include "base/struct_size.h"
#include "gen_internal.h"
#include "irpc/address.h"
#include "irpc/alloc.h"
#include "irpc/frames.h"
#include "irpc/slice_gen.h"
#include "slice_internal.h"
#include "gen_slice1.h"

static void in_setup(irpc_slice_in *in) {
  irpc_arena_init(&in->arena, 0);
  /* Every arena byte is charged against the decoder's limit before it is
   * taken: that is the limit, so the arena's own is lifted. */
  in->arena.limit = SIZE_MAX;
  in->proxy_invoker = NULL;
  in->proxy_conn = NULL;
  in->absolute_invoker = NULL;
}

int irpc_slice_in_init_buf_enc(irpc_slice_in *in, const irpc_buf *b,
                               irpc_slice_encoding encoding) {
  if (!in)
    return IRPC_EINVAL;
  in_setup(in);
  return irpc_slice_decoder_init_buf(&in->dec, b, encoding);
}

int irpc_slice_in_init_bytes_enc(irpc_slice_in *in, const void *data,
                                 size_t len, irpc_slice_encoding encoding) {
  if (!in)
    return IRPC_EINVAL;
  in_setup(in);
  return irpc_slice_decoder_init_bytes(&in->dec, data, len, encoding);
}

void irpc_slice_limits_init_sized(irpc_slice_limits *l, size_t size) {
  irpc_slice_limits d = {.struct_size = sizeof(d)};
  if (l)
    irpc__struct_export(l, size, &d, sizeof(d));
}

const irpc_feature_key irpc_slice_limits_feature = {.name = "slice_limits"};

int irpc__slice_in_apply_limits(irpc_slice_in *in, const irpc_features *f) {
  const irpc_slice_limits *l =
      f ? irpc_features_get(f, &irpc_slice_limits_feature) : NULL;
  if (!l)
    return 0;
  irpc_slice_limits buf;
  int err;
  const irpc_slice_limits *v = irpc__struct_view(
      l, &buf, sizeof(buf),
      IRPC__V1_SIZE(irpc_slice_limits, max_collection_allocation), &err);
  if (!v)
    return irpc__slice_dec_fail(&in->dec, err);
  return irpc_slice_decoder_set_limits(&in->dec, v->max_segment_size,
                                       v->max_collection_allocation);
}

int irpc_slice_in_init_buf(irpc_slice_in *in, const irpc_buf *b) {
  return irpc_slice_in_init_buf_enc(in, b, IRPC_SLICE_ENCODING_2);
}

int irpc_slice_in_init_bytes(irpc_slice_in *in, const void *data, size_t len) {
  return irpc_slice_in_init_bytes_enc(in, data, len, IRPC_SLICE_ENCODING_2);
}

void irpc_slice_in_fini(irpc_slice_in *in) {
  if (!in)
    return;
  irpc_slice_decoder_fini(&in->dec);
  irpc_arena_fini(&in->arena);
}

/* Arena memory whose cost was already charged. */
static void *in_take(irpc_slice_in *in, size_t size) {
  void *p = irpc_arena_alloc(&in->arena, size);
  if (!p)
    irpc__slice_dec_fail(&in->dec, IRPC_ENOMEM);
  return p;
}

void *irpc_slice_in_alloc(irpc_slice_in *in, size_t size) {
  if (!in)
    return NULL;
  if (irpc__slice_dec_check(&in->dec, -1))
    return NULL;
  if (irpc__slice_dec_charge(&in->dec, 1, size))
    return NULL;
  return in_take(in, size);
}

int irpc_slice_in_fail(irpc_slice_in *in, int err) {
  if (!in)
    return IRPC_EINVAL;
  return irpc__slice_dec_fail(&in->dec, err < 0 ? err : IRPC_EINVAL);
}

int irpc_slice_decode_str(irpc_slice_in *in, irpc_str *s) {
  if (!in || !s)
    return IRPC_EINVAL;
  irpc_bytes b;
  int rc = irpc_slice_decode_string(&in->dec, &b);
  if (rc == 0)
    *s = (irpc_str){(const char *)b.base, b.len};
  return rc;
}

int irpc_slice_decode_byte_seq(irpc_slice_in *in, irpc_bytes *b) {
  if (!in || !b)
    return IRPC_EINVAL;
  irpc_slice_decoder *d = &in->dec;
  size_t n;
  int rc = irpc_slice_decode_count(d, 1, 0, &n);
  if (rc)
    return rc;
  if (n == 0) {
    *b = (irpc_bytes){(const uint8_t *)"", 0};
    return 0;
  }
  if ((size_t)(d->e - d->p) >= n) { /* contiguous: a view */
    *b = (irpc_bytes){d->p, n};
    d->p += n;
    return 0;
  }
  uint8_t *copy = irpc_slice_in_alloc(in, n);
  if (!copy)
    return d->err;
  rc = irpc_slice_decode_bytes(d, copy, n);
  if (rc == 0)
    *b = (irpc_bytes){copy, n};
  return rc;
}

int irpc_slice_decode_array(irpc_slice_in *in, size_t min_wire_size,
                            size_t elem_size, size_t *count, void **items) {
  if (!in || !count || !items)
    return IRPC_EINVAL;
  size_t n;
  int rc = irpc_slice_decode_count(&in->dec, min_wire_size, elem_size, &n);
  if (rc)
    return rc;
  *items = NULL;
  *count = 0;
  if (n == 0 || elem_size == 0) {
    *count = n;
    return 0;
  }
  void *p = in_take(in, n * elem_size); /* decode_count charged it */
  if (!p)
    return in->dec.err;
  memset(p, 0, n * elem_size); /* absent optionals show no earlier data */
  *items = p;
  *count = n;
  return 0;
}

/* One element of a numeric sequence. */
static int seq_elem(irpc_slice_decoder *d, irpc_slice_type t, void *dst) {
  switch (t) {
  case IRPC_SLICE_BOOL:
    return irpc_slice_decode_bool(d, dst);
  case IRPC_SLICE_VARINT32:
    return irpc_slice_decode_varint32(d, dst);
  case IRPC_SLICE_VARUINT32:
    return irpc_slice_decode_varuint32(d, dst);
  case IRPC_SLICE_VARINT62:
    return irpc_slice_decode_varint62(d, dst);
  case IRPC_SLICE_VARUINT62:
    return irpc_slice_decode_varuint62(d, dst);
  default: {
    size_t w = irpc__slice_wire_size(t);
    uint8_t raw[8];
    int rc = irpc__slice_dec_read(d, raw, w);
    if (rc == 0) {
      uint64_t v = irpc__slice_get_le(raw, w);
      memcpy(dst, &v, w); /* little-endian host: the low bytes */
    }
    return rc;
  }
  }
}

int irpc_slice_decode_seq_in(irpc_slice_in *in, irpc_slice_type type,
                             void **items, size_t *count) {
  if (!in || !items || !count)
    return IRPC_EINVAL;
  size_t csize = irpc_slice_type_size(type);
  size_t minw = irpc__slice_min_wire_size(type);
  if (csize == 0 || minw == 0)
    return irpc__slice_dec_fail(&in->dec, IRPC_EINVAL);
  void *p;
  size_t n;
  int rc = irpc_slice_decode_array(in, minw, csize, &n, &p);
  if (rc || n == 0) {
    *items = NULL;
    *count = 0;
    return rc;
  }
  irpc_slice_decoder *d = &in->dec;
  size_t wire = irpc__slice_wire_size(type);
  if (IRPC__SLICE_LE_HOST && wire == csize && type != IRPC_SLICE_BOOL) {
    rc = irpc__slice_dec_read(d, p, n * csize); /* bulk, as encoded */
  } else {
    for (size_t i = 0; i < n && rc == 0; i++)
      rc = seq_elem(d, type, (uint8_t *)p + i * csize);
  }
  if (rc)
    return rc;
  *items = p;
  *count = n;
  return 0;
}

/* ---- Proxies ---- */

/* A NUL-terminated copy of `len` bytes in the arena. */
static char *in_strdup(irpc_slice_in *in, const char *s, size_t len) {
  if (len == SIZE_MAX)
    return NULL;
  char *c = irpc_slice_in_alloc(in, len + 1);
  if (c) {
    memcpy(c, s, len);
    c[len] = 0;
  }
  return c;
}

int irpc_slice_decode_proxy(irpc_slice_in *in, irpc_slice_proxy *p) {
  if (!in || !p)
    return IRPC_EINVAL;
  if (in->dec.encoding == IRPC_SLICE_ENCODING_1_1) {
    bool present;
    int rc = irpc__slice_decode_proxy11(in, p, &present);
    if (rc == 0 && !present)
      rc = irpc__slice_dec_fail(&in->dec, IRPC_EDATA);
    return rc;
  }
  irpc_str s;
  int rc = irpc_slice_decode_str(in, &s);
  if (rc)
    return rc;
  *p = (irpc_slice_proxy){0};
  char *copy = in_strdup(in, s.ptr, s.len);
  if (!copy)
    return in->dec.err;
  if (s.len > 0 && s.ptr[0] == '/') { /* relative: the peer's service */
    if (irpc_path_check(copy))
      return irpc__slice_dec_fail(&in->dec, IRPC_EDATA);
    p->path = copy;
    p->invoker = in->proxy_invoker;
    p->conn = in->proxy_conn;
    return 0;
  }
  /* An absolute URI, checked by the service address parser. */
  irpc_service_address *sa;
  rc = irpc_service_address_parse(&sa, copy);
  if (rc)
    return irpc__slice_dec_fail(&in->dec,
                                rc == IRPC_ENOMEM ? IRPC_ENOMEM : IRPC_EDATA);
  const char *path = irpc_service_address_path(sa);
  int has_server = irpc_service_address_server_count(sa) > 0;
  p->address = copy;
  p->path = in_strdup(in, path, strlen(path));
  irpc_service_address_free(sa);
  if (!p->path)
    return in->dec.err;
  /* With server addresses the target is elsewhere: the invoker the decoding
   * side chose for that (a connection cache routes by the address); without
   * ("icerpc:/path"), the same as a relative address. */
  p->invoker = has_server ? in->absolute_invoker : in->proxy_invoker;
  p->conn = has_server ? NULL : in->proxy_conn;
  return 0;
}

int irpc_slice_decode_proxy_opt(irpc_slice_in *in, irpc_slice_proxy *p,
                                bool *present) {
  if (!in || !p || !present)
    return IRPC_EINVAL;
  if (in->dec.encoding == IRPC_SLICE_ENCODING_1_1)
    return irpc__slice_decode_proxy11(in, p, present);
  *present = true;
  return irpc_slice_decode_proxy(in, p);
}

int irpc_slice_encode_proxy(irpc_slice_encoder *e, const irpc_slice_proxy *p,
                            const char *default_path) {
  if (e && e->encoding == IRPC_SLICE_ENCODING_1_1)
    return irpc__slice_encode_proxy11(e, p, default_path);
  if (!e || !p)
    return IRPC_EINVAL;
  const char *s = p->address ? p->address : p->path ? p->path : default_path;
  if (!s)
    return irpc_slice_encode_string(e, NULL, SIZE_MAX); /* sticky EINVAL */
  return irpc_slice_encode_string(e, s, strlen(s));
}

int irpc_slice_proxy_copy(irpc_slice_proxy *dst, const irpc_slice_proxy *src) {
  if (!dst || !src)
    return IRPC_EINVAL;
  size_t pl = src->path ? strlen(src->path) + 1 : 0;
  size_t al = src->address ? strlen(src->address) + 1 : 0;
  char *mem = NULL;
  if (pl + al) {
    mem = irpc_malloc(pl + al);
    if (!mem) {
      *dst = (irpc_slice_proxy){0};
      return IRPC_ENOMEM;
    }
  }
  irpc_slice_proxy p = {.invoker = src->invoker, .conn = src->conn, .owned = 1};
  if (pl) {
    memcpy(mem, src->path, pl);
    p.path = mem;
  }
  if (al) {
    memcpy(mem + pl, src->address, al);
    p.address = mem + pl;
  }
  if (p.conn)
    irpc_connection_ref(p.conn);
  *dst = p;
  return 0;
}

void irpc_slice_proxy_release(irpc_slice_proxy *p) {
  if (!p)
    return;
  if (p->owned) {
    /* One allocation: the path comes first, or the address alone. */
    irpc_free((void *)(p->path ? p->path : p->address));
    if (p->conn)
      irpc_connection_unref(p->conn);
  }
  *p = (irpc_slice_proxy){0};
}
