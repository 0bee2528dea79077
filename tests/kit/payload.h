/* Test payloads of the compression tests: random bytes (which do not
 * compress), 4-bit noise (about 55% of its size once compressed) and a
 * hash to compare chains without holding a second copy. */
#ifndef IRPC_TESTS_KIT_PAYLOAD_H
#define IRPC_TESTS_KIT_PAYLOAD_H

#include "kit/kit.h"

/* Fills `n` bytes at `p` with xorshift bytes from `seed`. */
void fill_random(uint8_t *p, size_t n, uint64_t seed);

/* Appends `n` bytes of 4-bit noise ('a'..'p') in 64 KiB blocks, as an
 * encoder writing into the chain would. Returns a hash of the bytes (the
 * same as hash_chain's). */
uint64_t fill_noise(irpc_buf *b, size_t n, uint64_t seed);

/* FNV-1a over the chain's bytes. */
uint64_t hash_chain(const irpc_buf *b);

#endif
