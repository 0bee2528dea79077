#include "kit/payload.h"

void fill_random(uint8_t *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    p[i] = (uint8_t)seed;
  }
}

uint64_t fill_noise(irpc_buf *b, size_t n, uint64_t seed) {
  uint64_t h = 14695981039346656037ull;
  while (n > 0) {
    uint8_t *p;
    size_t avail;
    assert_irpc_ok(irpc_buf_reserve(b, 65536, &p, &avail));
    size_t k = avail < 65536 ? avail : 65536;
    k = k < n ? k : n;
    for (size_t i = 0; i < k; i++) {
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      p[i] = (uint8_t)('a' + (seed & 15));
      h = (h ^ p[i]) * 1099511628211ull;
    }
    assert_irpc_ok(irpc_buf_commit(b, k));
    n -= k;
  }
  return h;
}

uint64_t hash_chain(const irpc_buf *b) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < irpc_buf_segment_count(b); i++) {
    irpc_bytes s = irpc_buf_segment(b, i);
    for (size_t k = 0; k < s.len; k++)
      h = (h ^ s.base[k]) * 1099511628211ull;
  }
  return h;
}
