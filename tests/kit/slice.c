#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "kit/slice.h"

size_t slice_unhex(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  int hi = -1;
  for (; *s; s++) {
    if (!isxdigit((unsigned char)*s))
      continue;
    int v = isdigit((unsigned char)*s) ? *s - '0'
                                       : tolower((unsigned char)*s) - 'a' + 10;
    if (hi < 0) {
      hi = v;
      continue;
    }
    if (n == cap)
      fail_msg("hex vector longer than %zu bytes", cap);
    out[n++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  if (hi >= 0)
    fail_msg("odd number of hex digits");
  return n;
}

static void print_hex(const char *label, const uint8_t *p, size_t n) {
  fprintf(stderr, "%s (%zu bytes):", label, n);
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", p[i]);
  fprintf(stderr, "\n");
}

void slice_check_bytes(const irpc_buf *b, const uint8_t *want, size_t n,
                       const char *file, int line) {
  size_t len = irpc_buf_len(b);
  uint8_t *got = malloc(len ? len : 1);
  assert_non_null(got);
  assert_int_equal(irpc_buf_copyout(b, 0, got, len), 0);
  if (len == n && memcmp(got, want, n) == 0) {
    free(got);
    return;
  }
  size_t i = 0;
  while (i < len && i < n && got[i] == want[i])
    i++;
  fprintf(stderr, "%s:%d: encoded bytes differ at offset %zu\n", file, line, i);
  print_hex("expected", want, n);
  print_hex("got", got, len);
  free(got);
  _fail(file, line);
}

irpc_buf *slice_chain(const uint8_t *p, size_t n, size_t seg) {
  irpc_buf *b;
  assert_int_equal(irpc_buf_new(&b), 0);
  for (size_t off = 0; off < n; off += seg) {
    size_t take = n - off < seg ? n - off : seg;
    assert_int_equal(
        irpc_buf_append_external(b, (void *)(p + off), take, NULL, NULL), 0);
  }
  return b;
}

int slice_view_is(irpc_bytes v, const char *want) {
  size_t n = strlen(want);
  return v.len == n && (n == 0 || memcmp(v.base, want, n) == 0);
}

size_t slice_string_encodes;

static int enc_string(irpc_slice_encoder *e, const void *item) {
  const irpc_bytes *s = item;
  slice_string_encodes++;
  if (!s->base)
    return IRPC_EINVAL;
  return irpc_slice_encode_string(e, (const char *)s->base, s->len);
}

static int dec_string(irpc_slice_decoder *d, void *item) {
  return irpc_slice_decode_string(d, item);
}

const irpc_slice_stream_elem slice_string_elem = {
    .struct_size = sizeof(irpc_slice_stream_elem),
    .item_size = sizeof(irpc_bytes),
    .wire_size = 0,
    .encode = enc_string,
    .decode = dec_string,
};
