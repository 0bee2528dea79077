/* bench/slice: Slice encode and decode throughput.
 *
 * Four payloads, each encoded into an irpc_buf chain and decoded back from
 * it (strings as zero-copy views, sequences into fresh arrays):
 *   strings        20,000 strings of 8..60 bytes, ASCII and UTF-8;
 *   seq_int32      one Sequence<int32> of 1,048,576 elements (bulk copy);
 *   seq_varuint62  one Sequence<varuint62> of 262,144 mixed-size elements;
 *   structs        50,000 non-compact structs {id: int32, name: string,
 *                  count: varuint62, active: bool, score: float64,
 *                  tag(1) parent: int32? (set on every other one)}.
 * memcpy of the same number of bytes, from one flat buffer to another, is
 * measured in the same run and is the ceiling: ratio_to_memcpy is the
 * throughput divided by memcpy's. MB is 10^6 bytes.
 *
 *   irpc-bench-slice [--ms N] [--json FILE]
 *
 * --ms is the minimum time spent on each measurement (default 200). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#include "benchutil.h"

#define S2 IRPC_SLICE_ENCODING_2

typedef struct payload {
  const char *name;
  size_t values;
  int (*encode)(const struct payload *p, irpc_slice_encoder *e);
  int (*decode)(const struct payload *p, irpc_slice_decoder *d);
  /* inputs */
  char **strs;
  size_t *lens;
  int32_t *ints;
  uint64_t *vars;
} payload;

/* A volatile sink so decoded values are not optimized away. */
static volatile uint64_t sink;

static void die(const char *what, int rc) {
  fprintf(stderr, "%s: %s\n", what, irpc_strerror(rc));
  exit(1);
}

/* ---- payload builders (deterministic) ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static char *make_string(size_t *len) {
  static const char *const pieces[] = {"alpha", "Ω",  "beta-", "ü",     "gamma",
                                       "字",    "_d", "€",     "omega", "é"};
  size_t target = 8 + rng() % 53;
  char *s = malloc(target + 8);
  size_t n = 0;
  while (n < target) {
    const char *p = pieces[rng() % 10];
    size_t k = strlen(p);
    memcpy(s + n, p, k);
    n += k;
  }
  *len = n;
  return s;
}

static void make_strings(payload *p) {
  p->strs = malloc(p->values * sizeof(*p->strs));
  p->lens = malloc(p->values * sizeof(*p->lens));
  for (size_t i = 0; i < p->values; i++)
    p->strs[i] = make_string(&p->lens[i]);
}

/* ---- encoders and decoders ---- */

static int enc_strings(const payload *p, irpc_slice_encoder *e) {
  for (size_t i = 0; i < p->values; i++)
    irpc_slice_encode_string(e, p->strs[i], p->lens[i]);
  return irpc_slice_encoder_flush(e);
}

static int dec_strings(const payload *p, irpc_slice_decoder *d) {
  irpc_bytes s;
  uint64_t total = 0;
  for (size_t i = 0; i < p->values; i++) {
    irpc_slice_decode_string(d, &s);
    total += s.len;
  }
  sink = total;
  return irpc_slice_decoder_error(d);
}

static int enc_ints(const payload *p, irpc_slice_encoder *e) {
  irpc_slice_encode_seq(e, IRPC_SLICE_INT32, p->ints, p->values);
  return irpc_slice_encoder_flush(e);
}

static int dec_ints(const payload *p, irpc_slice_decoder *d) {
  void *arr;
  size_t n;
  int rc = irpc_slice_decode_seq(d, IRPC_SLICE_INT32, &arr, &n);
  if (rc == 0) {
    sink = ((int32_t *)arr)[n - 1] + (n != p->values);
    irpc_free(arr);
  }
  return rc;
}

static int enc_vars(const payload *p, irpc_slice_encoder *e) {
  irpc_slice_encode_seq(e, IRPC_SLICE_VARUINT62, p->vars, p->values);
  return irpc_slice_encoder_flush(e);
}

static int dec_vars(const payload *p, irpc_slice_decoder *d) {
  void *arr;
  size_t n;
  int rc = irpc_slice_decode_seq(d, IRPC_SLICE_VARUINT62, &arr, &n);
  if (rc == 0) {
    sink = ((uint64_t *)arr)[n - 1] + (n != p->values);
    irpc_free(arr);
  }
  return rc;
}

static int enc_structs(const payload *p, irpc_slice_encoder *e) {
  for (size_t i = 0; i < p->values; i++) {
    irpc_slice_encode_int32(e, (int32_t)i);
    irpc_slice_encode_string(e, p->strs[i], p->lens[i]);
    irpc_slice_encode_varuint62(e, p->vars[i]);
    irpc_slice_encode_bool(e, i % 3 == 0);
    irpc_slice_encode_float64(e, (double)i * 0.5);
    if (i % 2 == 0) {
      irpc_slice_encode_tag_sized(e, 1, 4);
      irpc_slice_encode_int32(e, (int32_t)(i / 2));
    }
    irpc_slice_encode_tag_end_marker(e);
  }
  return irpc_slice_encoder_flush(e);
}

static int dec_structs(const payload *p, irpc_slice_decoder *d) {
  uint64_t acc = 0;
  for (size_t i = 0; i < p->values; i++) {
    int32_t id, parent = -1;
    irpc_bytes name;
    uint64_t count;
    bool active, found;
    double score;
    irpc_slice_scope sc;
    irpc_slice_decode_int32(d, &id);
    irpc_slice_decode_string(d, &name);
    irpc_slice_decode_varuint62(d, &count);
    irpc_slice_decode_bool(d, &active);
    irpc_slice_decode_float64(d, &score);
    irpc_slice_decode_tag(d, 1, &found, &sc);
    if (found) {
      irpc_slice_decode_int32(d, &parent);
      irpc_slice_decode_scope_end(d, &sc);
    }
    irpc_slice_decode_tags_end(d);
    acc += (uint64_t)id + name.len + count + active + (uint64_t)parent +
           (uint64_t)score;
  }
  sink = acc;
  return irpc_slice_decoder_error(d);
}

/* ---- measurement ---- */

typedef struct measure {
  double ns_per_iter;
  size_t bytes;
} measure;

/* Runs `body` until at least `min_ns` have passed (and at least 3 times);
 * `out` gets the mean time per run. */
#define TIMED(min_ns, out, body)                                               \
  do {                                                                         \
    uint64_t start_ = bench_now_ns(), now_;                                    \
    long iters_ = 0;                                                           \
    do {                                                                       \
      body;                                                                    \
      iters_++;                                                                \
      now_ = bench_now_ns();                                                   \
    } while (now_ - start_ < (min_ns) || iters_ < 3);                          \
    (out) = (double)(now_ - start_) / (double)iters_;                          \
  } while (0)

static double time_encode(const payload *p, irpc_buf *b, uint64_t min_ns) {
  double ns;
  TIMED(min_ns, ns, {
    irpc_slice_encoder e;
    irpc_buf_clear(b);
    irpc_slice_encoder_init(&e, b, S2);
    int rc = p->encode(p, &e);
    if (rc)
      die(p->name, rc);
  });
  return ns;
}

static double time_decode(const payload *p, const irpc_buf *b,
                          uint64_t min_ns) {
  double ns;
  TIMED(min_ns, ns, {
    irpc_slice_decoder d;
    irpc_slice_decoder_init_buf(&d, b, S2);
    irpc_slice_decoder_set_limits(&d, 0, SIZE_MAX);
    int rc = p->decode(p, &d);
    if (rc == 0)
      rc = irpc_slice_decoder_end(&d);
    irpc_slice_decoder_fini(&d);
    if (rc)
      die(p->name, rc);
  });
  return ns;
}

static double time_memcpy(const irpc_buf *b, uint64_t min_ns) {
  size_t n = irpc_buf_len(b);
  uint8_t *src = malloc(n), *dst = malloc(n);
  irpc_buf_copyout(b, 0, src, n);
  double ns;
  TIMED(min_ns, ns, {
    memcpy(dst, src, n);
    __asm__ volatile("" : : "r"(dst) : "memory");
    sink = dst[n / 2];
  });
  free(src);
  free(dst);
  return ns;
}

static void report(bench_json *j, const payload *p, const char *op,
                   size_t bytes, double ns, double memcpy_ns) {
  double mbps = (double)bytes / ns * 1e3;
  double per_value = ns / (double)p->values;
  double ratio = memcpy_ns / ns;
  printf("%-14s %-7s %10zu %9zu %10.1f %10.2f %9.3f\n", p->name, op, bytes,
         p->values, mbps, per_value, ratio);
  bench_json_begin(j);
  bench_json_str(j, "case", p->name);
  bench_json_str(j, "op", op);
  bench_json_num(j, "bytes", (double)bytes);
  bench_json_num(j, "values", (double)p->values);
  bench_json_num(j, "mb_per_s", mbps);
  bench_json_num(j, "ns_per_value", per_value);
  bench_json_num(j, "ratio_to_memcpy", ratio);
  bench_json_end(j);
}

static void bench_payload(bench_json *j, const payload *p, uint64_t min_ns) {
  irpc_buf *b;
  int rc = irpc_buf_new(&b);
  if (rc)
    die("irpc_buf_new", rc);
  double enc = time_encode(p, b, min_ns);
  size_t bytes = irpc_buf_len(b);
  double dec = time_decode(p, b, min_ns);
  double cpy = time_memcpy(b, min_ns);
  report(j, p, "encode", bytes, enc, cpy);
  report(j, p, "decode", bytes, dec, cpy);
  report(j, p, "memcpy", bytes, cpy, cpy);
  irpc_buf_free(b);
}

static void free_payload(payload *p) {
  if (p->strs) {
    for (size_t i = 0; i < p->values; i++)
      free(p->strs[i]);
  }
  free(p->strs);
  free(p->lens);
  free(p->ints);
  free(p->vars);
}

int main(int argc, char **argv) {
  const char *json = NULL;
  long ms = 200;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
      ms = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--ms N] [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  if (ms < 1) {
    fprintf(stderr, "--ms must be >= 1\n");
    return 2;
  }
  bench_json j;
  if (bench_json_open(&j, json) != 0) {
    fprintf(stderr, "cannot write %s\n", json);
    return 1;
  }

  payload strings = {.name = "strings",
                     .values = 20000,
                     .encode = enc_strings,
                     .decode = dec_strings};
  payload ints = {.name = "seq_int32",
                  .values = 1 << 20,
                  .encode = enc_ints,
                  .decode = dec_ints};
  payload vars = {.name = "seq_varuint62",
                  .values = 1 << 18,
                  .encode = enc_vars,
                  .decode = dec_vars};
  payload structs = {.name = "structs",
                     .values = 50000,
                     .encode = enc_structs,
                     .decode = dec_structs};
  make_strings(&strings);
  ints.ints = malloc(ints.values * sizeof(*ints.ints));
  for (size_t i = 0; i < ints.values; i++)
    ints.ints[i] = (int32_t)rng();
  vars.vars = malloc(vars.values * sizeof(*vars.vars));
  for (size_t i = 0; i < vars.values; i++)
    vars.vars[i] = rng() >> (2 + rng() % 62); /* every length */
  make_strings(&structs);
  structs.vars = malloc(structs.values * sizeof(*structs.vars));
  for (size_t i = 0; i < structs.values; i++)
    structs.vars[i] = rng() % 100000;

  printf("%-14s %-7s %10s %9s %10s %10s %9s\n", "case", "op", "bytes", "values",
         "MB/s", "ns/value", "x_memcpy");
  uint64_t min_ns = (uint64_t)ms * 1000000u;
  bench_payload(&j, &strings, min_ns);
  bench_payload(&j, &ints, min_ns);
  bench_payload(&j, &vars, min_ns);
  bench_payload(&j, &structs, min_ns);
  bench_json_close(&j);
  free_payload(&strings);
  free_payload(&ints);
  free_payload(&vars);
  free_payload(&structs);
  return 0;
}
