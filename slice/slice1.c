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
