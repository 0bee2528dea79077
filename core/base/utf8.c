/* UTF-8 validation, shared by the Slice string encoder and decoder and the
 * icerpc header decoder.
 *
 * A DFA over byte classes, in the "shift" form: the state is a bit offset
 * and each class has a 64-bit row holding, at each state's offset, the
 * next state. One step is `state = row[class[byte]] >> state & 63`; the row
 * does not depend on the state, so the dependency chain per byte is one
 * shift and one AND. Runs of ASCII are skipped eight bytes at a time. */
#include <string.h>

#include "utf8.h"

/* Byte classes. The lead bytes E0, ED, F0 and F4 have classes of their own
 * because they narrow the range of the next byte: that is what excludes
 * overlong forms (E0, F0), surrogates (ED) and code points above U+10FFFF
 * (F4). C0, C1 and F5..FF never occur. */
enum {
  C_ASCII, /* 00..7F */
  C_CONT1, /* 80..8F */
  C_CONT2, /* 90..9F */
  C_CONT3, /* A0..BF */
  C_BAD,   /* C0, C1, F5..FF */
  C_LEAD2, /* C2..DF */
  C_E0,
  C_LEAD3, /* E1..EC, EE, EF */
  C_ED,
  C_F0,
  C_LEAD4, /* F1..F3 */
  C_F4
};

static const uint8_t utf8_class[256] = {
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00..0F */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10..1F */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 20..2F */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 30..3F */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40..4F */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 50..5F */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60..6F */
    0, 0,  0,  0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70..7F */
    1, 1,  1,  1,  1,  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80..8F */
    2, 2,  2,  2,  2,  2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90..9F */
    3, 3,  3,  3,  3,  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* A0..AF */
    3, 3,  3,  3,  3,  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* B0..BF */
    4, 4,  5,  5,  5,  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* C0..CF */
    5, 5,  5,  5,  5,  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* D0..DF */
    6, 7,  7,  7,  7,  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, /* E0..EF */
    9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* F0..FF */
};

/* States, as bit offsets into a row. */
enum {
  S_ACCEPT = 0, /* between characters */
  S_NEED1 = 6,  /* one continuation byte (80..BF) to go */
  S_NEED2 = 12,
  S_NEED3 = 18,
  S_E0 = 24, /* after E0: A0..BF, then one more */
  S_ED = 30, /* after ED: 80..9F, then one more */
  S_F0 = 36, /* after F0: 90..BF, then two more */
  S_F4 = 42, /* after F4: 80..8F, then two more */
  S_ERROR = 48
};

/* A row where every state goes to S_ERROR, and one transition to patch in:
 * the slot holds S_ERROR, so XOR with (to ^ S_ERROR) leaves `to`. */
#define ALL_ERROR                                                              \
  ((uint64_t)S_ERROR << S_ACCEPT | (uint64_t)S_ERROR << S_NEED1 |              \
   (uint64_t)S_ERROR << S_NEED2 | (uint64_t)S_ERROR << S_NEED3 |               \
   (uint64_t)S_ERROR << S_E0 | (uint64_t)S_ERROR << S_ED |                     \
   (uint64_t)S_ERROR << S_F0 | (uint64_t)S_ERROR << S_F4 |                     \
   (uint64_t)S_ERROR << S_ERROR)
#define GO(from, to) ((uint64_t)((to) ^ S_ERROR) << (from))
#define CONT_ANY                                                               \
  (GO(S_NEED1, S_ACCEPT) ^ GO(S_NEED2, S_NEED1) ^ GO(S_NEED3, S_NEED2))

static const uint64_t utf8_row[12] = {
    [C_ASCII] = ALL_ERROR ^ GO(S_ACCEPT, S_ACCEPT),
    [C_CONT1] = ALL_ERROR ^ CONT_ANY ^ GO(S_ED, S_NEED1) ^ GO(S_F4, S_NEED2),
    [C_CONT2] = ALL_ERROR ^ CONT_ANY ^ GO(S_ED, S_NEED1) ^ GO(S_F0, S_NEED2),
    [C_CONT3] = ALL_ERROR ^ CONT_ANY ^ GO(S_E0, S_NEED1) ^ GO(S_F0, S_NEED2),
    [C_BAD] = ALL_ERROR,
    [C_LEAD2] = ALL_ERROR ^ GO(S_ACCEPT, S_NEED1),
    [C_E0] = ALL_ERROR ^ GO(S_ACCEPT, S_E0),
    [C_LEAD3] = ALL_ERROR ^ GO(S_ACCEPT, S_NEED2),
    [C_ED] = ALL_ERROR ^ GO(S_ACCEPT, S_ED),
    [C_F0] = ALL_ERROR ^ GO(S_ACCEPT, S_F0),
    [C_LEAD4] = ALL_ERROR ^ GO(S_ACCEPT, S_NEED3),
    [C_F4] = ALL_ERROR ^ GO(S_ACCEPT, S_F4),
};

static inline uint64_t utf8_step(uint64_t state, uint8_t b) {
  return utf8_row[utf8_class[b]] >> state & 63;
}

int irpc__utf8_valid(const uint8_t *p, size_t n) {
  uint64_t state = S_ACCEPT;
  size_t i = 0;
  while (n - i >= 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (state == S_ACCEPT && !(w & UINT64_C(0x8080808080808080))) {
      i += 8;
      continue;
    }
    for (size_t k = 0; k < 8; k++)
      state = utf8_step(state, p[i + k]);
    if (state == S_ERROR)
      return 0;
    i += 8;
  }
  if (state == S_ACCEPT) { /* the tail, fewer than eight bytes: ASCII? */
    uint8_t high = 0;
    for (size_t k = i; k < n; k++)
      high |= p[k];
    if (!(high & 0x80))
      return 1;
  }
  for (; i < n; i++)
    state = utf8_step(state, p[i]);
  return state == S_ACCEPT;
}
