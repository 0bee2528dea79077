/* Helpers of the Slice tests: golden byte comparison with a hex diff, hex
 * parsing, and chains cut into small segments. */
#ifndef IRPC_TESTS_KIT_SLICE_H
#define IRPC_TESTS_KIT_SLICE_H

#include "kit/kit.h"

/* Parses hex digits (spaces and '|' ignored) into out; returns the count. */
size_t slice_unhex(const char *s, uint8_t *out, size_t cap);

/* Fails, printing both byte strings and the first difference, unless the
 * chain holds exactly `want`. */
void slice_check_bytes(const irpc_buf *b, const uint8_t *want, size_t n,
                       const char *file, int line);

#define assert_bytes(buf, want, n)                                             \
  slice_check_bytes((buf), (want), (n), __FILE__, __LINE__)

/* As assert_bytes, with the expected bytes in hex. */
#define assert_hex(buf, hexstr)                                                \
  do {                                                                         \
    uint8_t want_[4096];                                                       \
    size_t n_ = slice_unhex((hexstr), want_, sizeof(want_));                   \
    slice_check_bytes((buf), want_, n_, __FILE__, __LINE__);                   \
  } while (0)

/* A chain over `n` bytes at `p` (not copied; they must outlive the chain),
 * cut into segments of `seg` bytes. */
irpc_buf *slice_chain(const uint8_t *p, size_t n, size_t seg);

/* A string view's bytes equal the NUL-terminated `want`. */
int slice_view_is(irpc_bytes v, const char *want);

/* The element of a `stream string` whose items are irpc_bytes views; a view
 * with a NULL base does not encode (IRPC_EINVAL). slice_string_encodes
 * counts the encoder's calls; a test resets it. */
extern const irpc_slice_stream_elem slice_string_elem;
extern size_t slice_string_encodes;

#endif
