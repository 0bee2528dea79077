/* Ice encoding 1.1 constructs the ice protocol needs: encapsulations,
 * identities, the request context and the framing of user exceptions. The
 * sizes, strings and sequences they are built from are shared with Slice2
 * in encoder.c and decoder.c. */
#include "irpc/alloc.h"
#include "slice_internal.h"

/* Ice writes an encapsulation's size, then its encoding major and minor. */
#define ENCAPS_HEADER_SIZE 6

/* Every exception type ID is absolute: "::Module::Name". */
static int type_id_valid(const uint8_t *p, size_t n) {
  return n >= 2 && p[0] == ':' && p[1] == ':';
}

irpc_slice_encoding irpc_slice_encoder_encoding(const irpc_slice_encoder *e) {
  return e && e->encoding == IRPC_SLICE_ENCODING_1_1 ? IRPC_SLICE_ENCODING_1_1
                                                     : IRPC_SLICE_ENCODING_2;
}

irpc_slice_encoding irpc_slice_decoder_encoding(const irpc_slice_decoder *d) {
  return d && d->encoding == IRPC_SLICE_ENCODING_1_1 ? IRPC_SLICE_ENCODING_1_1
                                                     : IRPC_SLICE_ENCODING_2;
}

/* ---- encoding ---- */

int irpc_slice_encode_encaps_begin(irpc_slice_encoder *e, uint8_t major,
                                   uint8_t minor, irpc_slice_mark *m) {
  int rc = irpc__slice_enc_check(e, 0);
  if (rc)
    return rc;
  if (!m)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  rc = irpc__slice_enc_mark(e, 4, m);
  if (rc == 0)
    rc = irpc_slice_encode_uint8(e, major);
  return rc ? rc : irpc_slice_encode_uint8(e, minor);
}

int irpc_slice_encode_encaps_end(irpc_slice_encoder *e,
                                 const irpc_slice_mark *m) {
  int rc = irpc__slice_enc_check(e, 0);
  if (rc)
    return rc;
  if (!m)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  return irpc__slice_enc_patch_int32_since(e, m);
}

/* A string given as a view; a NULL base is only valid when empty. */
static int enc_view(irpc_slice_encoder *e, irpc_bytes s) {
  return irpc_slice_encode_string(e, (const char *)s.base, s.len);
}

int irpc_slice_encode_identity(irpc_slice_encoder *e,
                               const irpc_slice_identity *id) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  if (!id)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  rc = enc_view(e, id->name);
  return rc ? rc : enc_view(e, id->category);
}

int irpc_slice_encode_context(irpc_slice_encoder *e,
                              const irpc_slice_string_pair *entries, size_t n) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  if (!entries && n > 0)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  rc = irpc_slice_encode_size(e, n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    rc = enc_view(e, entries[i].key);
    if (rc == 0)
      rc = enc_view(e, entries[i].value);
  }
  return rc;
}

int irpc_slice_encode_exception_slice_begin(irpc_slice_encoder *e,
                                            const char *type_id, size_t len,
                                            bool last, irpc_slice_mark *m) {
  int rc = irpc__slice_enc_check(e, 0);
  if (rc)
    return rc;
  if (!type_id || !m || !type_id_valid((const uint8_t *)type_id, len))
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  uint8_t flags = IRPC_SLICE_EXC_HAS_SLICE_SIZE;
  if (last)
    flags |= IRPC_SLICE_EXC_IS_LAST_SLICE;
  rc = irpc_slice_encode_uint8(e, flags);
  if (rc == 0)
    rc = irpc_slice_encode_string(e, type_id, len);
  return rc ? rc : irpc__slice_enc_mark(e, 4, m);
}

int irpc_slice_encode_exception_slice_end(irpc_slice_encoder *e,
                                          const irpc_slice_mark *m) {
  return irpc_slice_encode_encaps_end(e, m);
}

int irpc_slice_encode_exception_slice_begin_flags(irpc_slice_encoder *e,
                                                  const char *type_id,
                                                  size_t len, uint8_t flags,
                                                  irpc_slice_mark *m) {
  int rc = irpc__slice_enc_check(e, 0);
  if (rc)
    return rc;
  if (!type_id || !m || !type_id_valid((const uint8_t *)type_id, len) ||
      !(flags & IRPC_SLICE_EXC_HAS_SLICE_SIZE) ||
      (flags & ~(IRPC_SLICE_EXC_HAS_SLICE_SIZE | IRPC_SLICE_EXC_IS_LAST_SLICE |
                 IRPC_SLICE_EXC_HAS_TAGGED_FIELDS)))
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  rc = irpc_slice_encode_uint8(e, flags);
  if (rc == 0)
    rc = irpc_slice_encode_string(e, type_id, len);
  return rc ? rc : irpc__slice_enc_mark(e, 4, m);
}

/* ---- tagged values (Ice 1.1) ---- */

/* The tag number a header byte gives when it is below this. */
#define TAG11_INLINE_MAX 30

static int tag11_wire_format(irpc_slice_tag_format f) {
  if (f == IRPC_SLICE_TAG_OVSIZE)
    return IRPC_SLICE_TAG_VSIZE;
  if ((int)f < 0 || f >= IRPC_SLICE_TAG_CLASS)
    return -1;
  return (int)f;
}

int irpc_slice_encode_tag11(irpc_slice_encoder *e, int32_t tag,
                            irpc_slice_tag_format format) {
  int rc = irpc__slice_enc_check(e, 0);
  if (rc)
    return rc;
  int wf = tag11_wire_format(format);
  if (tag < 0 || wf < 0)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  if (tag < TAG11_INLINE_MAX)
    return irpc_slice_encode_uint8(
        e, (uint8_t)((unsigned)tag << 3 | (unsigned)wf));
  rc = irpc_slice_encode_uint8(e, (uint8_t)(TAG11_INLINE_MAX << 3 | wf));
  return rc ? rc : irpc_slice_encode_size(e, (size_t)tag);
}

int irpc_slice_encode_tag11_fsize_begin(irpc_slice_encoder *e, int32_t tag,
                                        irpc_slice_mark *m) {
  if (e && !m)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  int rc = irpc_slice_encode_tag11(e, tag, IRPC_SLICE_TAG_FSIZE);
  return rc ? rc : irpc__slice_enc_mark(e, 4, m);
}

int irpc_slice_encode_tag11_fsize_end(irpc_slice_encoder *e,
                                      const irpc_slice_mark *m) {
  int rc = irpc__slice_enc_check(e, 0);
  if (rc)
    return rc;
  if (!m || m->width != 4)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  size_t n = irpc_slice_encoder_pos(e) - m->pos - 4;
  if (n > INT32_MAX)
    return irpc__slice_enc_fail(e, IRPC_EOVERFLOW);
  rc = irpc_slice_patch_int32(e, m->pos, (int32_t)n);
  return rc ? irpc__slice_enc_fail(e, rc) : 0;
}

/* Skips the value of a tagged value in wire format `f`. */
static int tag11_skip(irpc_slice_decoder *d, int f) {
  static const uint8_t fixed[] = {1, 2, 4, 8};
  size_t n;
  int32_t n32;
  int rc;
  switch (f) {
  case IRPC_SLICE_TAG_F1:
  case IRPC_SLICE_TAG_F2:
  case IRPC_SLICE_TAG_F4:
  case IRPC_SLICE_TAG_F8:
    return irpc_slice_decoder_skip(d, fixed[f]);
  case IRPC_SLICE_TAG_SIZE:
    return irpc_slice_decode_size(d, &n);
  case IRPC_SLICE_TAG_VSIZE:
    rc = irpc_slice_decode_size(d, &n);
    return rc ? rc : irpc_slice_decoder_skip(d, n);
  case IRPC_SLICE_TAG_FSIZE:
    rc = irpc_slice_decode_int32(d, &n32);
    if (rc == 0 && n32 < 0)
      rc = irpc__slice_dec_fail(d, IRPC_EDATA);
    return rc ? rc : irpc_slice_decoder_skip(d, (size_t)n32);
  default: /* a class: skipping one needs the class decoder */
    return irpc__slice_dec_fail(d, IRPC_ENOTSUP);
  }
}

/* Reads the header of the next tagged value: *at_end when the scope ends
 * or the end marker comes (not consumed). */
static int tag11_header(irpc_slice_decoder *d, bool *at_end, bool *marker,
                        int32_t *tag, int *format) {
  *at_end = *marker = false;
  if (irpc__slice_dec_remaining(d) == 0) {
    *at_end = true;
    return 0;
  }
  uint8_t v;
  int rc = irpc_slice_decode_uint8(d, &v);
  if (rc)
    return rc;
  if (v == IRPC_SLICE1_TAG_END_MARKER) {
    *at_end = *marker = true;
    return 0;
  }
  *format = v & 7;
  *tag = v >> 3;
  if (*tag == TAG11_INLINE_MAX) {
    size_t t;
    rc = irpc_slice_decode_size(d, &t);
    if (rc)
      return rc;
    if (t < TAG11_INLINE_MAX) /* Ice writes small tags inline */
      return irpc__slice_dec_fail(d, IRPC_EDATA);
    *tag = (int32_t)t;
  }
  return 0;
}

int irpc_slice_decode_tag11(irpc_slice_decoder *d, int32_t tag,
                            irpc_slice_tag_format format, bool *found,
                            irpc_slice_scope *scope) {
  int rc = irpc__slice_dec_check(d, 0);
  if (rc)
    return rc;
  int wf = tag11_wire_format(format);
  if (!found || !scope || tag < 0 || wf < 0)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  *found = false;
  for (;;) {
    irpc__slice_dec_at at = irpc__slice_dec_save(d);
    bool end, marker;
    int32_t t = 0;
    int f = 0;
    rc = tag11_header(d, &end, &marker, &t, &f);
    if (rc)
      return rc;
    if (end || t > tag) {
      irpc__slice_dec_restore(d, &at);
      return 0;
    }
    if (t < tag) {
      rc = tag11_skip(d, f);
      if (rc)
        return rc;
      continue;
    }
    if (f != wf)
      return irpc__slice_dec_fail(d, IRPC_EDATA);
    static const uint8_t fixed[] = {1, 2, 4, 8};
    size_t n;
    int32_t n32;
    switch (format) {
    case IRPC_SLICE_TAG_F1:
    case IRPC_SLICE_TAG_F2:
    case IRPC_SLICE_TAG_F4:
    case IRPC_SLICE_TAG_F8:
      rc = irpc__slice_dec_push(d, fixed[format], scope);
      break;
    case IRPC_SLICE_TAG_VSIZE:
      rc = irpc_slice_decode_size(d, &n);
      if (rc == 0)
        rc = irpc__slice_dec_push(d, n, scope);
      break;
    case IRPC_SLICE_TAG_FSIZE:
      rc = irpc_slice_decode_int32(d, &n32);
      if (rc == 0 && n32 < 0)
        rc = irpc__slice_dec_fail(d, IRPC_EDATA);
      if (rc == 0)
        rc = irpc__slice_dec_push(d, (size_t)n32, scope);
      break;
    default: /* SIZE, OVSIZE: the value follows, no scope */
      break;
    }
    *found = rc == 0;
    return rc;
  }
}

int irpc_slice_decode_tags11_end(irpc_slice_decoder *d, bool marker) {
  int rc = irpc__slice_dec_check(d, 0);
  while (rc == 0) {
    bool end, at_marker;
    int32_t t = 0;
    int f = 0;
    rc = tag11_header(d, &end, &at_marker, &t, &f);
    if (rc)
      return rc;
    if (at_marker) /* consumed: what an exception slice ends with */
      return marker ? 0 : irpc__slice_dec_fail(d, IRPC_EDATA);
    if (end)
      return marker ? irpc__slice_dec_fail(d, IRPC_ETRUNCATED) : 0;
    rc = tag11_skip(d, f);
  }
  return rc;
}

/* ---- decoding ---- */

int irpc_slice_decode_encaps_begin(irpc_slice_decoder *d, uint8_t *major,
                                   uint8_t *minor, irpc_slice_scope *scope) {
  int rc = irpc__slice_dec_check(d, 0);
  if (rc)
    return rc;
  if (!major || !minor || !scope)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  int32_t size;
  uint8_t v[2];
  rc = irpc_slice_decode_int32(d, &size);
  if (rc)
    return rc;
  if (size < ENCAPS_HEADER_SIZE)
    return irpc__slice_dec_fail(d, IRPC_EDATA);
  if ((size_t)size - 4 > irpc__slice_dec_remaining(d))
    return irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
  rc = irpc_slice_decode_bytes(d, v, 2);
  if (rc)
    return rc;
  if (v[0] != 1 || v[1] > 1)
    return irpc__slice_dec_fail(d, IRPC_EDATA);
  *major = v[0];
  *minor = v[1];
  return irpc__slice_dec_push(d, (size_t)size - ENCAPS_HEADER_SIZE, scope);
}

int irpc_slice_decode_identity(irpc_slice_decoder *d, irpc_slice_identity *id) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!id)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  rc = irpc_slice_decode_string(d, &id->name);
  return rc ? rc : irpc_slice_decode_string(d, &id->category);
}

int irpc_slice_decode_context(irpc_slice_decoder *d,
                              irpc_slice_string_pair **entries, size_t *n) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!entries || !n)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  size_t count;
  /* Each entry is two strings of at least one size byte each. */
  rc = irpc_slice_decode_count(d, 2, sizeof(irpc_slice_string_pair), &count);
  if (rc)
    return rc;
  irpc_slice_string_pair *arr = NULL;
  if (count > 0) {
    arr = irpc_malloc(count * sizeof(*arr));
    if (!arr)
      return irpc__slice_dec_fail(d, IRPC_ENOMEM);
  }
  for (size_t i = 0; rc == 0 && i < count; i++) {
    rc = irpc_slice_decode_string(d, &arr[i].key);
    if (rc == 0)
      rc = irpc_slice_decode_string(d, &arr[i].value);
  }
  if (rc) {
    irpc_free(arr);
    return rc;
  }
  *entries = arr;
  *n = count;
  return 0;
}

int irpc_slice_decode_exception_slice(irpc_slice_decoder *d,
                                      irpc_slice_exception_slice *slice) {
  int rc = irpc__slice_dec_check(d, 0);
  if (rc)
    return rc;
  if (!slice)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  irpc_slice_exception_slice s = {.size = 0};
  rc = irpc_slice_decode_uint8(d, &s.flags);
  if (rc == 0)
    rc = irpc_slice_decode_string(d, &s.type_id);
  if (rc)
    return rc;
  if (!type_id_valid(s.type_id.base, s.type_id.len))
    return irpc__slice_dec_fail(d, IRPC_EDATA);
  if (s.flags & IRPC_SLICE_EXC_HAS_SLICE_SIZE) {
    int32_t size;
    rc = irpc_slice_decode_int32(d, &size);
    if (rc)
      return rc;
    /* The size counts its own 4 bytes, and the end marker of the tagged
     * fields when there are any. */
    int32_t min = (s.flags & IRPC_SLICE_EXC_HAS_TAGGED_FIELDS) ? 5 : 4;
    if (size < min)
      return irpc__slice_dec_fail(d, IRPC_EDATA);
    if ((size_t)size - 4 > irpc__slice_dec_remaining(d))
      return irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
    s.size = (size_t)size - 4;
  }
  *slice = s;
  return 0;
}

int irpc_slice_skip_exception_slice(irpc_slice_decoder *d,
                                    const irpc_slice_exception_slice *slice) {
  int rc = irpc__slice_dec_check(d, 0);
  if (rc)
    return rc;
  if (!slice)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  if (!(slice->flags & IRPC_SLICE_EXC_HAS_SLICE_SIZE) ||
      (slice->flags & IRPC_SLICE_EXC_HAS_INDIRECTION_TABLE))
    return irpc__slice_dec_fail(d, IRPC_ENOTSUP);
  return irpc_slice_decoder_skip(d, slice->size);
}
