/* irpc-bench compress: derived figures, the terminal table, JSON, CSV and
 * the SVG chart. Every derived figure is computed here, once, from the
 * measured counts and times that go into the records next to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_compress.h"
#include "benchutil.h"

/* MB/s of `bytes` x `count` in `ns` (MB = 10^6 bytes). */
static double mbps(double bytes, uint64_t count, uint64_t ns) {
  return ns && count ? bytes * (double)count / (double)ns * 1e3 : 0;
}

void cz_derive(cz_result *r, const cz_result *none) {
  double len = (double)r->payload->len;
  double s = (double)r->elapsed_ns / 1e9;
  r->ratio = r->wire_bytes > 0 ? len / r->wire_bytes : 0;
  r->calls_per_s = s > 0 ? (double)r->calls / s : 0;
  r->mb_per_s = mbps(len, r->calls, r->elapsed_ns);
  r->compress_us_per_call =
      r->calls ? (double)r->compress_ns / 1e3 / (double)r->calls : 0;
  r->decompress_us_per_call =
      r->calls ? (double)r->decompress_ns / 1e3 / (double)r->calls : 0;
  r->pipeline_compress_mb_per_s = mbps(len, r->compress_count, r->compress_ns);
  r->pipeline_decompress_mb_per_s =
      mbps(len, r->decompress_count, r->decompress_ns);
  r->raw_compress_mb_per_s =
      mbps(len, r->raw_compress_iters, r->raw_compress_ns);
  r->raw_decompress_mb_per_s =
      mbps(len, r->raw_decompress_iters, r->raw_decompress_ns);
  r->overhead_ratio =
      r->raw_compress_mb_per_s > 0
          ? r->pipeline_compress_mb_per_s / r->raw_compress_mb_per_s
          : 0;
  r->speedup_vs_none =
      none && none->elapsed_ns && none->calls
          ? r->mb_per_s / mbps(len, none->calls, none->elapsed_ns)
          : 0;
  r->pays = CZ_PAYS_NA;
  r->break_even_mbit_per_s = 0;
  if (!none || r->has_link || !r->codec->format)
    return;
  /* Over a link of B bit/s a call also spends 2 x 8 x wire_bytes / B on
   * the wire (request and response): the codec wins while the bits it
   * saves take longer than the time it costs per call. */
  double saved_bits = 16.0 * (len - r->wire_bytes);
  double extra_s = (double)r->elapsed_ns / 1e9 / (double)r->calls -
                   (double)none->elapsed_ns / 1e9 / (double)none->calls;
  if (saved_bits <= 0) {
    r->pays = CZ_PAYS_NEVER;
  } else if (extra_s <= 0) {
    r->pays = CZ_PAYS_ALWAYS;
  } else {
    r->pays = CZ_PAYS_BELOW;
    r->break_even_mbit_per_s = saved_bits / extra_s / 1e6;
  }
}

/* ---- Records ---- */

typedef struct field {
  const char *key;
  const char *str; /* a string value, or NULL for a number */
  double num;
  int present;
} field;

#define MAX_FIELDS 48

static const char *const pays_names[] = {"", "never", "below_break_even",
                                         "always"};

static const char *codec_family(const cz_codec *c) {
  return c->format == IRPC_COMPRESSION_ZSTD      ? "zstd"
         : c->format == IRPC_COMPRESSION_BROTLI  ? "brotli"
         : c->format == IRPC_COMPRESSION_DEFLATE ? "deflate"
                                                 : "none";
}

static double len(const cz_result *r) {
  return (double)r->payload->len;
}

static size_t fields_of(const cz_result *r, field *f) {
  size_t n = 0;
#define STR(k, v)                                                              \
  f[n++] = (field) {                                                           \
    k, v, 0, 1                                                                 \
  }
#define NUM(k, v)                                                              \
  f[n++] = (field) {                                                           \
    k, NULL, (double)(v), 1                                                    \
  }
#define OPT(k, v, ok)                                                          \
  f[n++] = (field) {                                                           \
    k, NULL, (double)(v), ok                                                   \
  }
  int codec = r->codec->format != 0;
  STR("transport", r->transport);
  STR("link", r->link);
  OPT("link_bits_per_s", r->link_bits_per_s, r->has_link);
  OPT("link_latency_us", (double)r->link_latency_ns / 1e3, r->has_link);
  STR("payload", r->payload->name);
  NUM("payload_bytes", r->payload->len);
  NUM("wire_bytes", r->wire_bytes);
  STR("codec", codec_family(r->codec));
  NUM("level", r->codec->level);
  STR("label", r->codec->name);
  NUM("ratio", r->ratio);
  NUM("calls", r->calls);
  NUM("elapsed_ns", r->elapsed_ns);
  NUM("calls_per_s", r->calls_per_s);
  NUM("mb_per_s", r->mb_per_s);
  NUM("p50_us", r->p50_us);
  NUM("p99_us", r->p99_us);
  NUM("compress_count", r->compress_count);
  NUM("compress_ns", r->compress_ns);
  NUM("compress_us_per_call", r->compress_us_per_call);
  /* Each direction compresses once per call: requests on the client,
   * responses on the server. */
  OPT("request_compress_mb_per_s",
      mbps(len(r), r->calls, r->request_compress_ns), codec);
  OPT("response_compress_mb_per_s",
      mbps(len(r), r->calls, r->response_compress_ns), codec);
  NUM("decompress_count", r->decompress_count);
  NUM("decompress_ns", r->decompress_ns);
  NUM("decompress_us_per_call", r->decompress_us_per_call);
  OPT("pipeline_compress_mb_per_s", r->pipeline_compress_mb_per_s, codec);
  OPT("pipeline_decompress_mb_per_s", r->pipeline_decompress_mb_per_s,
      codec && r->decompress_count);
  OPT("raw_compressed_bytes", r->raw_bytes, codec);
  OPT("raw_compress_iters", r->raw_compress_iters, codec);
  OPT("raw_compress_ns", r->raw_compress_ns, codec);
  OPT("raw_compress_mb_per_s", r->raw_compress_mb_per_s, codec);
  OPT("raw_decompress_iters", r->raw_decompress_iters, codec);
  OPT("raw_decompress_ns", r->raw_decompress_ns, codec);
  OPT("raw_decompress_mb_per_s", r->raw_decompress_mb_per_s, codec);
  OPT("overhead_ratio", r->overhead_ratio, codec);
  NUM("cpu_us_per_call", (double)r->cpu_ns / 1e3 / (double)r->calls);
  OPT("link_bytes_per_call", (double)r->link_bytes / (double)r->calls,
      r->has_link);
  OPT("speedup_vs_none", r->speedup_vs_none, r->speedup_vs_none > 0);
  f[n++] = (field){"pays", pays_names[r->pays], 0, r->pays != CZ_PAYS_NA};
  OPT("break_even_mbit_per_s", r->break_even_mbit_per_s,
      r->pays == CZ_PAYS_BELOW);
#undef STR
#undef NUM
#undef OPT
  return n;
}

int cz_write_json(const char *path, const cz_result *rs, size_t n) {
  bench_json j;
  if (bench_json_open(&j, path))
    return -1;
  field f[MAX_FIELDS];
  for (size_t i = 0; i < n; i++) {
    bench_json_begin(&j);
    size_t k = fields_of(&rs[i], f);
    for (size_t x = 0; x < k; x++) {
      if (!f[x].present)
        continue;
      if (f[x].str)
        bench_json_str(&j, f[x].key, f[x].str);
      else
        bench_json_num(&j, f[x].key, f[x].num);
    }
    bench_json_end(&j);
  }
  int bad = ferror(j.f);
  bench_json_close(&j);
  return bad ? -1 : 0;
}

static void csv_str(FILE *out, const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

int cz_write_csv(const char *path, const cz_result *rs, size_t n) {
  FILE *out = fopen(path, "w");
  if (!out)
    return -1;
  field f[MAX_FIELDS];
  cz_result empty;
  memset(&empty, 0, sizeof empty);
  if (n) {
    size_t k = fields_of(&rs[0], f);
    for (size_t x = 0; x < k; x++)
      fprintf(out, "%s%s", x ? "," : "", f[x].key);
    fputc('\n', out);
  }
  for (size_t i = 0; i < n; i++) {
    size_t k = fields_of(&rs[i], f);
    for (size_t x = 0; x < k; x++) {
      if (x)
        fputc(',', out);
      if (!f[x].present)
        continue;
      if (f[x].str)
        csv_str(out, f[x].str);
      else if (f[x].num == floor(f[x].num) && fabs(f[x].num) < 9e15)
        fprintf(out, "%.0f", f[x].num);
      else
        fprintf(out, "%.6g", f[x].num);
    }
    fputc('\n', out);
  }
  int bad = ferror(out);
  return fclose(out) || bad ? -1 : 0;
}

/* ---- The terminal table ---- */

/* "850M", "2.3G", "12k" (bits per second given in Mbit/s). */
static const char *fmt_bits(char *buf, size_t cap, double mbit) {
  if (mbit >= 1e3)
    snprintf(buf, cap, "%.3gG", mbit / 1e3);
  else if (mbit >= 1)
    snprintf(buf, cap, "%.3gM", mbit);
  else
    snprintf(buf, cap, "%.3gk", mbit * 1e3);
  return buf;
}

static void table_header(FILE *f) {
  fprintf(f,
          "%-5s %-15s %-10s %-10s %6s %9s %8s %8s %8s %8s %8s %9s %9s %5s "
          "%6s %10s\n",
          "via", "link", "payload", "codec", "ratio", "calls/s", "MB/s",
          "p50 us", "p99 us", "comp us", "dec us", "raw MB/s", "pipe MB/s",
          "p/raw", "x none", "pays below");
}

void cz_print_table(FILE *f, const cz_result *rs, size_t n) {
  fprintf(f, "\nMB/s: application payload per second (10^6 bytes); ratio: "
             "payload / bytes on the wire; comp/dec us: compression and "
             "decompression time per call (both directions); raw / pipe "
             "MB/s: compression speed of the library alone / inside the "
             "pipeline (p/raw = their ratio); x none: throughput against no "
             "compression in the same place; pays below: the link "
             "bandwidth under which the codec beats none, from the loopback "
             "figures\n");
  for (size_t i = 0; i < n; i++) {
    const cz_result *r = &rs[i];
    int new_group = i == 0 || strcmp(r->transport, rs[i - 1].transport) ||
                    strcmp(r->link, rs[i - 1].link);
    if (new_group) {
      fputc('\n', f);
      table_header(f);
    } else if (r->payload != rs[i - 1].payload) {
      fputc('\n', f);
    }
    char raw[16] = "-", pipe[16] = "-", ov[16] = "-", vs[16] = "-",
         pays[16] = "-", b[16];
    if (r->codec->format) {
      snprintf(raw, sizeof raw, "%.0f", r->raw_compress_mb_per_s);
      snprintf(pipe, sizeof pipe, "%.0f", r->pipeline_compress_mb_per_s);
      snprintf(ov, sizeof ov, "%.2f", r->overhead_ratio);
      if (r->speedup_vs_none >= 0.01)
        snprintf(vs, sizeof vs, "%.2fx", r->speedup_vs_none);
      else
        snprintf(vs, sizeof vs, "<0.01x");
    }
    if (r->pays == CZ_PAYS_NEVER)
      snprintf(pays, sizeof pays, "never");
    else if (r->pays == CZ_PAYS_ALWAYS)
      snprintf(pays, sizeof pays, "always");
    else if (r->pays == CZ_PAYS_BELOW)
      snprintf(pays, sizeof pays, "%s",
               fmt_bits(b, sizeof b, r->break_even_mbit_per_s));
    fprintf(f,
            "%-5s %-15s %-10s %-10s %6.2f %9.0f %8.1f %8.1f %8.1f %8.1f "
            "%8.1f %9s %9s %5s %6s %10s\n",
            r->transport, r->link, r->payload->name, r->codec->name, r->ratio,
            r->calls_per_s, r->mb_per_s, r->p50_us, r->p99_us,
            r->compress_us_per_call, r->decompress_us_per_call, raw, pipe, ov,
            vs, pays);
  }
}

/* ---- Link rows of one payload ---- */

typedef struct series {
  const cz_codec *codec;
  double bw[16];  /* Mbit/s, ascending */
  double mbs[16]; /* MB/s */
  double ratio;
  size_t n;
} series;

/* Collects the link rows of `payload`, one series per codec ("none"
 * first). Returns the number of series. */
static size_t collect(const cz_result *rs, size_t n, const char *payload,
                      series *out, size_t cap) {
  size_t ns = 0;
  for (size_t i = 0; i < n; i++) {
    const cz_result *r = &rs[i];
    if (!r->has_link || strcmp(r->payload->name, payload))
      continue;
    size_t s = 0;
    while (s < ns && out[s].codec != r->codec)
      s++;
    if (s == ns) {
      if (ns == cap)
        continue;
      memset(&out[ns], 0, sizeof out[ns]);
      out[ns++].codec = r->codec;
    }
    series *se = &out[s];
    if (se->n == 16)
      continue;
    double bw = (double)r->link_bits_per_s / 1e6;
    size_t k = se->n++;
    while (k > 0 && se->bw[k - 1] > bw) {
      se->bw[k] = se->bw[k - 1];
      se->mbs[k] = se->mbs[k - 1];
      k--;
    }
    se->bw[k] = bw;
    se->mbs[k] = r->mb_per_s;
    se->ratio = r->ratio;
  }
  for (size_t s = 1; s < ns; s++)
    if (!out[s].codec->format) {
      series t = out[0];
      out[0] = out[s];
      out[s] = t;
    }
  return ns;
}

/* Where series `c` crosses series `none` (same bandwidths). */
static double crossing(const series *none, const series *c) {
  if (c->n < 2 || c->n != none->n)
    return CZ_CROSS_UNKNOWN;
  int ahead_all = 1, behind_all = 1;
  for (size_t i = 0; i < c->n; i++) {
    double d = log10(c->mbs[i]) - log10(none->mbs[i]);
    ahead_all &= d > 0;
    behind_all &= d <= 0;
    if (i == 0 || d > 0)
      continue;
    double dp = log10(c->mbs[i - 1]) - log10(none->mbs[i - 1]);
    if (dp <= 0)
      continue;
    double x0 = log10(c->bw[i - 1]), x1 = log10(c->bw[i]);
    return pow(10, x0 + (x1 - x0) * dp / (dp - d));
  }
  return ahead_all    ? CZ_CROSS_ALWAYS
         : behind_all ? CZ_CROSS_NEVER
                      : CZ_CROSS_UNKNOWN;
}

double cz_link_crossing(const cz_result *rs, size_t n, const char *payload,
                        const char *codec) {
  series s[32];
  size_t ns = collect(rs, n, payload, s, 32);
  for (size_t i = 1; i < ns; i++)
    if (!s[0].codec->format && !strcmp(s[i].codec->name, codec))
      return crossing(&s[0], &s[i]);
  return CZ_CROSS_UNKNOWN;
}

/* ---- The chart ---- */

#define W 960
#define H 600
#define PL 80  /* plot left */
#define PR 640 /* plot right */
#define PT 70
#define PB 520

static const char *color_of(const cz_codec *c, size_t rank) {
  static const char *const zstd[] = {"#1f5fbf", "#4f8fe6", "#8fbcf5",
                                     "#0b3a7a"};
  static const char *const brotli[] = {"#d9620f", "#f29a4a", "#a8430a",
                                       "#f7c08a"};
  static const char *const deflate[] = {"#2a9d4b", "#72c98a", "#176b31",
                                        "#a9e0b7"};
  switch (c->format) {
  case IRPC_COMPRESSION_ZSTD:
    return zstd[rank % 4];
  case IRPC_COMPRESSION_BROTLI:
    return brotli[rank % 4];
  case IRPC_COMPRESSION_DEFLATE:
    return deflate[rank % 4];
  default:
    return "#222222";
  }
}

typedef struct axes {
  double x0, x1, y0, y1; /* log10 ranges */
} axes;

static double px(const axes *a, double mbit) {
  return PL + (log10(mbit) - a->x0) / (a->x1 - a->x0) * (PR - PL);
}

static double py(const axes *a, double mbs) {
  return PB - (log10(mbs) - a->y0) / (a->y1 - a->y0) * (PB - PT);
}

static void svg_axes(FILE *f, const axes *a) {
  fprintf(f,
          "<rect x='%d' y='%d' width='%d' height='%d' fill='#fbfbfb' "
          "stroke='#999'/>\n",
          PL, PT, PR - PL, PB - PT);
  for (int e = (int)floor(a->x0); e <= (int)ceil(a->x1); e++) {
    double v = pow(10, e);
    if (log10(v) < a->x0 - 1e-9 || log10(v) > a->x1 + 1e-9)
      continue;
    double x = px(a, v);
    char lab[32];
    if (v >= 1000)
      snprintf(lab, sizeof lab, "%g Gbit/s", v / 1000);
    else
      snprintf(lab, sizeof lab, "%g Mbit/s", v);
    fprintf(f,
            "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#ddd'/>\n"
            "<text x='%.1f' y='%d' text-anchor='middle'>%s</text>\n",
            x, PT, x, PB, x, PB + 18, lab);
  }
  static const double steps[] = {1, 2, 5};
  for (int e = (int)floor(a->y0); e <= (int)ceil(a->y1); e++)
    for (int s = 0; s < 3; s++) {
      double v = steps[s] * pow(10, e);
      if (log10(v) < a->y0 - 1e-9 || log10(v) > a->y1 + 1e-9)
        continue;
      double y = py(a, v);
      fprintf(f,
              "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='%s'/>\n"
              "<text x='%d' y='%.1f' text-anchor='end'>%g</text>\n",
              PL, y, PR, y, s ? "#eee" : "#ddd", PL - 6, y + 4, v);
    }
  fprintf(f,
          "<text x='%d' y='%d' text-anchor='middle'>link bandwidth (each "
          "direction, log scale)</text>\n"
          "<text x='22' y='%d' transform='rotate(-90 22 %d)' "
          "text-anchor='middle'>effective throughput, MB/s of payload "
          "(log scale)</text>\n",
          (PL + PR) / 2, PB + 42, (PT + PB) / 2, (PT + PB) / 2);
}

static void svg_series(FILE *f, const axes *a, const series *s,
                       const char *color) {
  int none = !s->codec->format;
  fprintf(f,
          "<polyline fill='none' stroke='%s' stroke-width='%s'%s "
          "points='",
          color, none ? "3" : "2", none ? " stroke-dasharray='7 4'" : "");
  for (size_t i = 0; i < s->n; i++)
    fprintf(f, "%.1f,%.1f ", px(a, s->bw[i]), py(a, s->mbs[i]));
  fprintf(f, "'/>\n");
  for (size_t i = 0; i < s->n; i++)
    fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'/>\n",
            px(a, s->bw[i]), py(a, s->mbs[i]), color);
}

static void svg_legend(FILE *f, const series *s, size_t ns,
                       const char *const *colors) {
  int y = PT + 6;
  fprintf(f,
          "<text x='%d' y='%d' font-weight='bold'>codec (ratio): "
          "pays below</text>\n",
          PR + 24, y);
  for (size_t i = 0; i < ns; i++) {
    y += 24;
    char what[64] = "";
    if (i > 0) {
      double x = crossing(&s[0], &s[i]);
      if (x > 0)
        snprintf(what, sizeof what, ": %s%.3g %s", "", x >= 1000 ? x / 1000 : x,
                 x >= 1000 ? "Gbit/s" : "Mbit/s");
      else if (x == CZ_CROSS_ALWAYS)
        snprintf(what, sizeof what, ": every link shown");
      else if (x == CZ_CROSS_NEVER)
        snprintf(what, sizeof what, ": never");
    }
    fprintf(f,
            "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='%s' "
            "stroke-width='3'%s/>\n"
            "<text x='%d' y='%d'>%s (%.2f)%s</text>\n",
            PR + 24, y - 4, PR + 50, y - 4, colors[i],
            s[i].codec->format ? "" : " stroke-dasharray='7 4'", PR + 58, y,
            s[i].codec->name, s[i].ratio, what);
  }
  y += 34;
  fprintf(f,
          "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#888' "
          "stroke-dasharray='2 3'/>\n"
          "<text x='%d' y='%d'>link capacity (bandwidth / 8)</text>\n"
          "<text x='%d' y='%d'>&#9670; break-even: where a codec</text>\n"
          "<text x='%d' y='%d'>crosses none</text>\n",
          PR + 24, y - 4, PR + 50, y - 4, PR + 58, y, PR + 24, y + 24, PR + 38,
          y + 42);
}

int cz_write_svg(const char *path, const cz_result *rs, size_t n,
                 const char *payload, const char *subtitle) {
  series s[16];
  size_t ns = collect(rs, n, payload, s, 16);
  if (ns == 0 || s[0].codec->format || s[0].n < 1)
    return 1;
  axes a = {1e300, -1e300, 1e300, -1e300};
  for (size_t i = 0; i < ns; i++)
    for (size_t k = 0; k < s[i].n; k++) {
      a.x0 = fmin(a.x0, log10(s[i].bw[k]));
      a.x1 = fmax(a.x1, log10(s[i].bw[k]));
      a.y0 = fmin(a.y0, log10(s[i].mbs[k]));
      a.y1 = fmax(a.y1, log10(s[i].mbs[k]));
      a.y0 = fmin(a.y0, log10(s[i].bw[k] / 8));
    }
  a.x0 -= 0.15;
  a.x1 += 0.15;
  a.y0 -= 0.1;
  a.y1 += 0.15;
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f,
          "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
          "viewBox='0 0 %d %d' font-family='sans-serif' font-size='13'>\n"
          "<rect width='100%%' height='100%%' fill='white'/>\n"
          "<text x='%d' y='28' font-size='18' font-weight='bold'>Does "
          "compression pay? Effective throughput against link "
          "bandwidth</text>\n"
          "<text x='%d' y='50' fill='#555'>irpc-bench compress: %s</text>\n",
          W, H, W, H, PL, PL, subtitle);
  svg_axes(f, &a);
  /* The link's own capacity, for reading the chart. */
  fprintf(f,
          "<clipPath id='plot'><rect x='%d' y='%d' width='%d' height='%d'/>"
          "</clipPath>\n<line clip-path='url(#plot)' x1='%.1f' y1='%.1f' "
          "x2='%.1f' y2='%.1f' stroke='#888' stroke-dasharray='2 3'/>\n",
          PL, PT, PR - PL, PB - PT, px(&a, pow(10, a.x0)),
          py(&a, pow(10, a.x0) / 8), px(&a, pow(10, a.x1)),
          py(&a, pow(10, a.x1) / 8));
  const char *colors[16];
  size_t rank[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < ns; i++) {
    int fam = s[i].codec->format == IRPC_COMPRESSION_ZSTD      ? 1
              : s[i].codec->format == IRPC_COMPRESSION_BROTLI  ? 2
              : s[i].codec->format == IRPC_COMPRESSION_DEFLATE ? 3
                                                               : 0;
    colors[i] = color_of(s[i].codec, rank[fam]++);
  }
  fprintf(f, "<g clip-path='url(#plot)'>\n");
  for (size_t i = ns; i-- > 0;)
    svg_series(f, &a, &s[i], colors[i]);
  for (size_t i = 1; i < ns; i++) {
    double x = crossing(&s[0], &s[i]);
    if (x <= 0)
      continue;
    /* On the "none" curve, interpolated on log scales. */
    size_t k = 1;
    while (k < s[0].n - 1 && s[0].bw[k] < x)
      k++;
    double t = (log10(x) - log10(s[0].bw[k - 1])) /
               (log10(s[0].bw[k]) - log10(s[0].bw[k - 1]));
    double y = pow(10, log10(s[0].mbs[k - 1]) +
                           t * (log10(s[0].mbs[k]) - log10(s[0].mbs[k - 1])));
    double cx = px(&a, x), cy = py(&a, y);
    fprintf(f,
            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%d' stroke='%s' "
            "stroke-dasharray='3 3'/>\n"
            "<path d='M %.1f %.1f l 7 7 l -7 7 l -7 -7 z' fill='%s' "
            "stroke='white'/>\n",
            cx, cy, cx, PB, colors[i], cx, cy - 7, colors[i]);
  }
  fprintf(f, "</g>\n");
  svg_legend(f, s, ns, colors);
  fprintf(f, "</svg>\n");
  int bad = ferror(f);
  return fclose(f) || bad ? -1 : 0;
}
