/* irpc-bench compress on a tiny configuration, in process: every figure in
 * its JSON must follow from the counts and times next to it (ratios from
 * byte counts, rates from calls and elapsed time, pipeline / raw from the
 * two speeds), the bytes on the wire must be what the library produces,
 * the simulated link must have cost at least its latency, and the CSV and
 * the chart must be written. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_compress.h"
#include "kit/kit.h"

/* ---- A reader for the benchmark's JSON: an array of flat records whose
 * values are strings (no escapes but \" and \\) or numbers. ---- */

#define MAX_KEYS 48
#define MAX_RECORDS 64

typedef struct rec {
  int n;
  char key[MAX_KEYS][40];
  char str[MAX_KEYS][48];
  double num[MAX_KEYS];
  int is_str[MAX_KEYS];
} rec;

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
    p++;
  return p;
}

static const char *read_string(const char *p, char *out, size_t cap) {
  assert_int_equal(*p, '"');
  size_t n = 0;
  for (p++; *p && *p != '"'; p++) {
    if (*p == '\\')
      p++;
    assert_true(n + 1 < cap);
    out[n++] = *p;
  }
  assert_int_equal(*p, '"');
  out[n] = '\0';
  return p + 1;
}

static size_t parse_json(const char *text, rec *recs) {
  size_t n = 0;
  const char *p = skip_ws(text);
  assert_int_equal(*p++, '[');
  for (;;) {
    p = skip_ws(p);
    if (*p == ']')
      break;
    if (*p == ',')
      p = skip_ws(p + 1);
    assert_int_equal(*p++, '{');
    assert_true(n < MAX_RECORDS);
    rec *r = &recs[n++];
    memset(r, 0, sizeof *r);
    for (;;) {
      p = skip_ws(p);
      if (*p == '}') {
        p++;
        break;
      }
      if (*p == ',')
        p = skip_ws(p + 1);
      assert_true(r->n < MAX_KEYS);
      p = read_string(p, r->key[r->n], sizeof r->key[0]);
      p = skip_ws(p);
      assert_int_equal(*p++, ':');
      p = skip_ws(p);
      if (*p == '"') {
        p = read_string(p, r->str[r->n], sizeof r->str[0]);
        r->is_str[r->n] = 1;
      } else {
        char *end;
        r->num[r->n] = strtod(p, &end);
        assert_true(end > p);
        p = end;
      }
      r->n++;
    }
  }
  return n;
}

static int find(const rec *r, const char *key) {
  for (int i = 0; i < r->n; i++)
    if (!strcmp(r->key[i], key))
      return i;
  return -1;
}

static int has(const rec *r, const char *key) {
  return find(r, key) >= 0;
}

static double num(const rec *r, const char *key) {
  int i = find(r, key);
  if (i < 0 || r->is_str[i])
    fail_msg("record has no number %s", key);
  return r->num[i];
}

static const char *str(const rec *r, const char *key) {
  int i = find(r, key);
  if (i < 0 || !r->is_str[i])
    fail_msg("record has no string %s", key);
  return r->str[i];
}

/* Equal up to the 6 significant digits the JSON keeps. */
static void assert_close(double got, double want, const char *what) {
  double tol = 2e-5 * fmax(fabs(want), 1e-9);
  if (fabs(got - want) > tol)
    fail_msg("%s: %.9g, expected %.9g", what, got, want);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

/* ---- The checks ---- */

static void check_record(const rec *r) {
  double len = num(r, "payload_bytes"), wire = num(r, "wire_bytes");
  double calls = num(r, "calls"), ns = num(r, "elapsed_ns");
  int codec = strcmp(str(r, "codec"), "none") != 0;
  assert_true(calls >= 3);
  assert_true(wire > 0 && wire <= len);
  assert_close(num(r, "ratio"), len / wire, "ratio = payload / wire");
  assert_close(num(r, "calls_per_s"), calls / (ns / 1e9), "calls_per_s");
  assert_close(num(r, "mb_per_s"), calls * len / ns * 1e3, "mb_per_s");
  assert_close(num(r, "compress_us_per_call"),
               num(r, "compress_ns") / 1e3 / calls, "compress_us_per_call");
  assert_close(num(r, "decompress_us_per_call"),
               num(r, "decompress_ns") / 1e3 / calls, "decompress_us_per_call");
  /* Latencies fit in the time: half the calls took at least p50. */
  double p50 = num(r, "p50_us"), p99 = num(r, "p99_us");
  assert_true(p50 > 0 && p50 <= p99);
  assert_true(p99 * 1e3 <= ns);
  assert_true(calls / 2 * p50 * 1e3 <= ns * 1.000001);
  if (!codec) {
    assert_close(wire, len, "uncompressed wire bytes");
    assert_int_equal(num(r, "compress_count"), 0);
    assert_int_equal(num(r, "decompress_count"), 0);
    assert_false(has(r, "overhead_ratio"));
    return;
  }
  /* Each call compresses twice (request and response); it decompresses
   * twice when the payload shrank. */
  assert_int_equal(num(r, "compress_count"), 2 * calls);
  assert_int_equal(num(r, "decompress_count"), wire < len ? 2 * calls : 0);
  double pipe = num(r, "pipeline_compress_mb_per_s");
  double raw = num(r, "raw_compress_mb_per_s");
  assert_close(pipe,
               len * num(r, "compress_count") / num(r, "compress_ns") * 1e3,
               "pipeline_compress_mb_per_s");
  assert_close(
      raw, len * num(r, "raw_compress_iters") / num(r, "raw_compress_ns") * 1e3,
      "raw_compress_mb_per_s");
  assert_close(num(r, "raw_decompress_mb_per_s"),
               len * num(r, "raw_decompress_iters") /
                   num(r, "raw_decompress_ns") * 1e3,
               "raw_decompress_mb_per_s");
  assert_close(num(r, "overhead_ratio"), pipe / raw, "overhead_ratio");
  assert_true(num(r, "raw_compress_iters") >= 6); /* 3 before, 3 after */
  /* What went on the wire is what the library makes of these bytes, or
   * the payload itself when that does not shrink it. */
  double lib = num(r, "raw_compressed_bytes");
  if (lib < len)
    assert_true(fabs(wire - lib) <= 0.05 * lib);
  else
    assert_close(wire, len, "incompressible payload sent as is");
  assert_true(num(r, "speedup_vs_none") > 0);
}

static void check_link_record(const rec *r) {
  double calls = num(r, "calls"), ns = num(r, "elapsed_ns");
  double lat_ns = num(r, "link_latency_us") * 1e3;
  double bps = num(r, "link_bits_per_s");
  double wire = num(r, "wire_bytes");
  /* Every call crossed the link both ways: its latency twice, and its
   * bytes (at least the payloads as sent) at the link's bandwidth. */
  assert_true(ns >= calls * (2 * lat_ns + 2 * wire * 8 / bps * 1e9));
  assert_true(num(r, "p50_us") * 1e3 >= 2 * lat_ns);
  assert_true(num(r, "link_bytes_per_call") >= 2 * wire);
  assert_false(has(r, "pays"));
}

static void test_tiny_run_is_consistent(void **state) {
  (void)state;
  char dir[] = "/tmp/irpc-bench-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char json[96], csv[96], svg[96];
  snprintf(json, sizeof json, "%s/r.json", dir);
  snprintf(csv, sizeof csv, "%s/r.csv", dir);
  snprintf(svg, sizeof svg, "%s/r.svg", dir);
  char *argv[] = {"compress",    "--transport", "coloc,tcp",   "--kinds",
                  "json,random", "--sizes",     "4k",          "--codecs",
                  "zstd:1",      "--link",      "100mbit,1ms", "--link",
                  "1gbit,1ms",   "--seconds",   "0.01",        "--json",
                  json,          "--csv",       csv,           "--svg",
                  svg,           "--quiet"};
  int argc = (int)(sizeof argv / sizeof argv[0]);
  assert_int_equal(bench_compress_main(argc, argv), 0);

  char *text = slurp(json);
  static rec recs[MAX_RECORDS];
  size_t n = parse_json(text, recs);
  free(text);
  /* 2 transports x 2 payloads x (none, zstd-1), then 2 links x json-4k x
   * (none, zstd-1). */
  assert_int_equal(n, 12);
  size_t links = 0, pays = 0;
  for (size_t i = 0; i < n; i++) {
    const rec *r = &recs[i];
    check_record(r);
    if (has(r, "link_bits_per_s")) {
      links++;
      assert_string_equal(str(r, "payload"), "json-4k");
      assert_string_equal(str(r, "transport"), "tcp");
      check_link_record(r);
    } else if (strcmp(str(r, "codec"), "none")) {
      pays++;
      const char *p = str(r, "pays");
      if (!strcmp(str(r, "payload"), "random-4k"))
        assert_string_equal(p, "never");
      if (!strcmp(p, "below_break_even"))
        assert_true(num(r, "break_even_mbit_per_s") > 0);
    }
  }
  assert_int_equal(links, 4);
  assert_int_equal(pays, 4);

  /* The CSV: a header with the keys, and one line per record. */
  char *c = slurp(csv);
  const char *want[] = {"transport",
                        "link",
                        "payload",
                        "payload_bytes",
                        "wire_bytes",
                        "codec",
                        "level",
                        "ratio",
                        "calls_per_s",
                        "mb_per_s",
                        "p50_us",
                        "p99_us",
                        "raw_compress_mb_per_s",
                        "pipeline_compress_mb_per_s",
                        "overhead_ratio"};
  char *nl = strchr(c, '\n');
  assert_non_null(nl);
  *nl = '\0';
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_non_null(strstr(c, want[i]));
  size_t lines = 0;
  for (char *q = nl + 1; *q; q++)
    lines += *q == '\n';
  assert_int_equal(lines, n);
  free(c);

  char *s = slurp(svg);
  assert_true(strncmp(s, "<svg", 4) == 0);
  assert_non_null(strstr(s, "</svg>"));
  assert_non_null(strstr(s, "zstd-1"));
  free(s);
  unlink(json);
  unlink(csv);
  unlink(svg);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tiny_run_is_consistent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
