/* irpc-bench compress: shared by compress.c (the runs), compress_corpus.c
 * (the payloads) and compress_report.c (table, JSON, CSV, SVG). */
#ifndef IRPC_BENCH_COMPRESS_H
#define IRPC_BENCH_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include <irpc/irpc.h>

/* ---- Payloads ---- */

enum {
  CZ_JSON = 1 << 0,
  CZ_SLICE = 1 << 1,
  CZ_LOG = 1 << 2,
  CZ_RANDOM = 1 << 3,
  CZ_ALL_KINDS = 15
};

typedef struct cz_payload {
  char name[48]; /* "json-64k", or a file's base name */
  uint8_t *data;
  size_t len;
} cz_payload;

/* Builds the built-in payload of `kind` (one CZ_ bit) of about `target`
 * bytes (never more; random bytes exactly), deterministic. Returns 0 or a
 * negative error. */
int cz_payload_builtin(cz_payload *p, int kind, size_t target);
/* Reads a file as a payload. Returns 0, or -1 with a message printed. */
int cz_payload_file(cz_payload *p, const char *path);
void cz_payload_free(cz_payload *p);
/* "json", "slice", "log", "random" -> the CZ_ bit, or 0. */
int cz_kind_by_name(const char *name, size_t len);

/* ---- Codecs ---- */

typedef struct cz_codec {
  int format; /* IRPC_COMPRESSION_*, 0 = none */
  int level;
  char name[24]; /* "none", "zstd-1", "brotli-5", "deflate-6" */
} cz_codec;

/* ---- One measurement ---- */

typedef struct cz_result {
  const char *transport; /* "coloc", "uds", "tcp" */
  char link[40];         /* "-" without a simulated link */
  uint64_t link_bits_per_s;
  uint64_t link_latency_ns;
  int has_link;
  const cz_payload *payload;
  const cz_codec *codec;
  /* Measured. */
  uint64_t calls;
  uint64_t elapsed_ns;
  double p50_us, p99_us;
  double wire_bytes;       /* request payload bytes as sent, per call */
  uint64_t compress_count; /* compressions attempted (both directions) */
  uint64_t compress_ns;    /* time spent in them */
  uint64_t request_compress_ns, response_compress_ns; /* its two parts */
  uint64_t decompress_count; /* decompressions (both directions) */
  uint64_t decompress_ns;
  uint64_t cpu_ns;     /* thread CPU time of the whole measurement */
  uint64_t link_bytes; /* bytes through the simulated link, both ways */
  /* The library on the same bytes, in the same run. */
  uint64_t raw_bytes; /* compressed size */
  uint64_t raw_compress_iters, raw_compress_ns;
  uint64_t raw_decompress_iters, raw_decompress_ns;
  /* Derived (cz_derive). */
  double ratio;
  double calls_per_s;
  double mb_per_s;
  double compress_us_per_call, decompress_us_per_call;
  double pipeline_compress_mb_per_s, pipeline_decompress_mb_per_s;
  double raw_compress_mb_per_s, raw_decompress_mb_per_s;
  double overhead_ratio;
  double speedup_vs_none; /* mb_per_s / that of "none", same place */
  int pays;               /* CZ_PAYS_* (rows without a link) */
  double break_even_mbit_per_s;
} cz_result;

enum { CZ_PAYS_NA = 0, CZ_PAYS_NEVER, CZ_PAYS_BELOW, CZ_PAYS_ALWAYS };

/* Fills the derived fields of `r` from its measured ones; `none` is the
 * "none" row of the same transport, link and payload, or NULL. */
void cz_derive(cz_result *r, const cz_result *none);

/* The subcommand: irpc-bench compress ARGS. */
int bench_compress_main(int argc, char **argv);

/* ---- Reports ---- */

void cz_print_table(FILE *f, const cz_result *rs, size_t n);
int cz_write_json(const char *path, const cz_result *rs, size_t n);
int cz_write_csv(const char *path, const cz_result *rs, size_t n);
/* The chart: effective throughput against link bandwidth for each codec,
 * from the rows of `payload` measured over a link. Returns 0, 1 when there
 * is nothing to draw, -1 on an I/O error. */
int cz_write_svg(const char *path, const cz_result *rs, size_t n,
                 const char *payload, const char *subtitle);
/* The break-even bandwidth where the "codec" curve crosses the "none"
 * curve among the link rows of `payload` (interpolated on log scales), in
 * Mbit/s, or CZ_CROSS_*: the codec is ahead at every link measured, at
 * none, or there are fewer than two links. */
#define CZ_CROSS_ALWAYS (-1.0)
#define CZ_CROSS_NEVER (-2.0)
#define CZ_CROSS_UNKNOWN (-3.0)
double cz_link_crossing(const cz_result *rs, size_t n, const char *payload,
                        const char *codec);

#endif
