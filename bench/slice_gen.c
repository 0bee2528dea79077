/* bench/slice_gen: what the generated-code layer costs.
 *
 * 1. Calls: `greet(name: string) -> string` over the coloc invoker, made
 *    two ways in the same run, each through its own coloc invoker and
 *    router with the service mapped at the same path:
 *      typed  Demo_Greeter_greet (tests/slice_gen golden code) into the
 *             generated dispatcher;
 *      raw    the same request built, encoded, invoked, decoded and
 *             answered by hand with the raw API and the Slice runtime.
 *    Calls run one after the other (each completes before the next
 *    starts), a typed and a raw one in turn, each timed alone: the figures
 *    are the median and mean of the calls of each kind.
 *    Allocations per call are counted with the allocator hook after a
 *    warm-up.
 * 2. Codec: a struct-heavy Demo::Order (customer, point, 20 line items
 *    with an optional note, 3 tags, a tagged coupon) encoded and decoded by
 *    the generated-shape functions (arena, string views), and by
 *    hand-written code over the same Slice runtime that decodes into a
 *    malloc'd item array, as an application without a generator would.
 *    Both write the same bytes (checked); they alternate one by one, each
 *    timed alone, and MB/s come from the medians.
 *
 *   irpc-bench-slice-gen [--calls N] [--rounds N] [--json FILE]
 *                        [--only typed|raw]
 *
 * N x rounds calls of each kind, and as many encodes and decodes of each
 * kind (defaults 5000 x 11). --only runs N calls of one kind and nothing else,
 * for a profiler or an instruction counter (valgrind --tool=callgrind). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#include "benchutil.h"
#include "slice_gen/greeter.slice.h"

/* ---- The typed service ---- */

static void make_greeting(irpc_str name, char *buf, size_t cap, size_t *n) {
  static const char hello[] = "Hello, ";
  size_t len = sizeof hello - 1;
  memcpy(buf, hello, len);
  size_t take = name.len < cap - len - 1 ? name.len : cap - len - 1;
  memcpy(buf + len, name.ptr, take);
  buf[len + take] = '!';
  *n = len + take + 1;
}

static void typed_greet(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl;
  char buf[96];
  size_t n;
  make_greeting(name, buf, sizeof buf, &n);
  Demo_Greeter_greet_reply(sd, (irpc_str){buf, n});
}

static const Demo_Greeter_ops typed_ops = {.greet = typed_greet};

/* ---- The raw service: the same wire, by hand ---- */

static int encode_string_segment(irpc_buf *out, const char *s, size_t len) {
  irpc_slice_encoder e;
  irpc_slice_mark m;
  irpc_slice_encoder_init(&e, out, IRPC_SLICE_ENCODING_2);
  irpc_slice_encode_segment_begin(&e, &m);
  irpc_slice_encode_string(&e, s, len);
  irpc_slice_encode_tag_end_marker(&e);
  irpc_slice_encode_segment_end(&e, &m);
  return irpc_slice_encoder_flush(&e);
}

static int decode_string_segment(irpc_slice_decoder *d, irpc_bytes *s) {
  irpc_slice_scope sc;
  irpc_slice_decode_segment_begin(d, &sc);
  irpc_slice_decode_string(d, s);
  irpc_slice_decode_tags_end(d);
  irpc_slice_decode_scope_end(d, &sc);
  return irpc_slice_decoder_end(d);
}

static void raw_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_slice_decoder dec;
  irpc_bytes name;
  irpc_slice_decoder_init_buf(&dec, irpc_incoming_request_payload(req),
                              IRPC_SLICE_ENCODING_2);
  if (decode_string_segment(&dec, &name)) {
    irpc_slice_decoder_fini(&dec);
    irpc_dispatch_reply(d, IRPC_STATUS_INVALID_DATA, NULL);
    return;
  }
  char buf[96];
  size_t n;
  make_greeting((irpc_str){(const char *)name.base, name.len}, buf, sizeof buf,
                &n);
  irpc_slice_decoder_fini(&dec);
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) ||
      encode_string_segment(irpc_outgoing_response_payload(resp), buf, n)) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_dispatch_complete(d, resp);
}

static const irpc_dispatcher_ops raw_ops = {.struct_size =
                                                sizeof(irpc_dispatcher_ops),
                                            .name = "raw",
                                            .dispatch = raw_dispatch};

/* ---- Calls ---- */

typedef struct run {
  int done;
  int failed;
  size_t bytes;
} run;

static void on_typed(irpc_slice_reply *r, int err, const irpc_str *ret,
                     void *ud) {
  (void)r;
  run *o = ud;
  o->done = 1;
  if (err)
    o->failed++;
  else
    o->bytes += ret->len;
}

static void on_raw(irpc_call *call, int err, irpc_incoming_response *resp,
                   void *ud) {
  (void)call;
  run *o = ud;
  o->done = 1;
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK) {
    o->failed++;
  } else {
    irpc_slice_decoder dec;
    irpc_bytes s;
    irpc_slice_decoder_init_buf(&dec, irpc_incoming_response_payload(resp),
                                IRPC_SLICE_ENCODING_2);
    if (decode_string_segment(&dec, &s))
      o->failed++;
    else
      o->bytes += s.len;
    irpc_slice_decoder_fini(&dec);
  }
  irpc_incoming_response_free(resp);
}

static const irpc_str bench_name = {"Bob", 3};

static int call_typed(uv_loop_t *loop, const Demo_GreeterProxy *g, run *o) {
  o->done = 0;
  if (Demo_Greeter_greet(g, bench_name, NULL, on_typed, o))
    return -1;
  while (!o->done)
    uv_run(loop, UV_RUN_ONCE);
  return 0;
}

static int call_raw(uv_loop_t *loop, irpc_invoker *inv, run *o) {
  irpc_outgoing_request *req;
  o->done = 0;
  if (irpc_outgoing_request_new(&req, DEMO_GREETER_DEFAULT_PATH, "greet"))
    return -1;
  if (encode_string_segment(irpc_outgoing_request_payload(req), bench_name.ptr,
                            bench_name.len) ||
      irpc_invoke(inv, req, on_raw, o, NULL)) {
    irpc_outgoing_request_free(req);
    return -1;
  }
  while (!o->done)
    uv_run(loop, UV_RUN_ONCE);
  irpc_outgoing_request_free(req);
  return 0;
}

/* Two routers and coloc invokers on one loop: the typed service and the
 * raw one, both at the same path. */
typedef struct rig {
  uv_loop_t loop;
  irpc_router *typed_r, *raw_r;
  irpc_dispatcher *typed_d, *raw_d;
  irpc_invoker *typed_c, *raw_c;
  Demo_GreeterProxy g;
} rig;

static int rig_open(rig *r) {
  memset(r, 0, sizeof *r);
  uv_loop_init(&r->loop);
  if (irpc_router_new(&r->typed_r, &r->loop) ||
      irpc_router_new(&r->raw_r, &r->loop) ||
      Demo_Greeter_map(r->typed_r, NULL, &typed_ops, NULL, &r->typed_d) ||
      irpc_dispatcher_new(&r->raw_d, &r->loop, &raw_ops, NULL) ||
      irpc_router_map(r->raw_r, DEMO_GREETER_DEFAULT_PATH, r->raw_d) ||
      irpc_coloc_new(&r->typed_c, &r->loop,
                     irpc_router_dispatcher(r->typed_r)) ||
      irpc_coloc_new(&r->raw_c, &r->loop, irpc_router_dispatcher(r->raw_r))) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  r->g = Demo_GreeterProxy_from(r->typed_c, NULL);
  return 0;
}

static void on_down(int status, void *ud) {
  (void)status;
  (*(int *)ud)++;
}

static void rig_close(rig *r) {
  int down = 0;
  irpc_coloc_shutdown(r->typed_c, 1000, on_down, &down);
  irpc_coloc_shutdown(r->raw_c, 1000, on_down, &down);
  while (down < 2)
    uv_run(&r->loop, UV_RUN_ONCE);
  irpc_invoker_free(r->typed_c);
  irpc_invoker_free(r->raw_c);
  irpc_router_free(r->typed_r);
  irpc_router_free(r->raw_r);
  irpc_dispatcher_free(r->typed_d);
  irpc_dispatcher_free(r->raw_d);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  uv_loop_close(&r->loop);
}

typedef struct call_fig {
  double ns;
  double allocs;
} call_fig;

static call_fig measure(rig *r, int typed, long calls, run *o) {
  uint64_t a0 = bench_alloc_count();
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < calls; i++)
    if (typed ? call_typed(&r->loop, &r->g, o)
              : call_raw(&r->loop, r->raw_c, o))
      o->failed++;
  uint64_t t1 = bench_now_ns();
  return (call_fig){(double)(t1 - t0) / (double)calls,
                    (double)(bench_alloc_count() - a0) / (double)calls};
}

/* Median and mean of n durations (sorts them). */
static void stats(uint64_t *d, size_t n, double *median, double *mean) {
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += (double)d[i];
  qsort(d, n, sizeof *d, bench_cmp_u64);
  *median = (double)d[n / 2];
  *mean = sum / (double)n;
}

/* Typed and raw calls are interleaved one by one (alternating which goes
 * first), each timed on its own: a burst of noise from other processes
 * hits both kinds alike, and the medians ignore the preempted calls. */
static int bench_typed_calls(long calls, int rounds, bench_json *j) {
  rig r;
  if (rig_open(&r))
    return 1;
  run o = {0};
  measure(&r, 1, calls / 4 + 1, &o); /* warm-up: pools, caches */
  measure(&r, 0, calls / 4 + 1, &o);
  double talloc = measure(&r, 1, calls, &o).allocs;
  double ralloc = measure(&r, 0, calls, &o).allocs;
  size_t n = (size_t)calls * (size_t)rounds;
  uint64_t *td = malloc(n * sizeof *td), *rd = malloc(n * sizeof *rd);
  if (!td || !rd)
    return 1;
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < 2; k++) {
      int typed = (k == 0) == (int)(i & 1);
      uint64_t t0 = bench_now_ns();
      if (typed ? call_typed(&r.loop, &r.g, &o)
                : call_raw(&r.loop, r.raw_c, &o))
        o.failed++;
      (typed ? td : rd)[i] = bench_now_ns() - t0;
    }
  }
  double tmed, tmean, rmed, rmean;
  stats(td, n, &tmed, &tmean);
  stats(rd, n, &rmed, &rmean);
  free(td);
  free(rd);
  printf("| call (%zu of each, interleaved) | median ns | mean ns | "
         "allocations/call |\n"
         "| --- | ---: | ---: | ---: |\n"
         "| raw API + Slice runtime | %.0f | %.0f | %.2f |\n"
         "| typed (generated shape) | %.0f | %.0f | %.2f |\n"
         "| typed / raw | %.3f | %.3f | %+.2f |\n\n",
         n, rmed, rmean, ralloc, tmed, tmean, talloc, tmed / rmed,
         tmean / rmean, talloc - ralloc);
  bench_json_begin(j);
  bench_json_str(j, "case", "greet_coloc");
  bench_json_num(j, "raw_median_ns", rmed);
  bench_json_num(j, "typed_median_ns", tmed);
  bench_json_num(j, "raw_mean_ns", rmean);
  bench_json_num(j, "typed_mean_ns", tmean);
  bench_json_num(j, "raw_allocs", ralloc);
  bench_json_num(j, "typed_allocs", talloc);
  bench_json_end(j);
  rig_close(&r);
  if (o.failed) {
    fprintf(stderr, "%d calls failed\n", o.failed);
    return 1;
  }
  return 0;
}

/* ---- Codec ---- */

#define ITEMS 20

static Demo_LineItem items[ITEMS];
static irpc_str tags[3] = {{"priority", 8}, {"gift", 4}, {"eu", 2}};

static Demo_Order make_order(void) {
  static const char *skus[] = {"KB-1042", "MS-77", "HD-2TB-EXT", "USB-C-1M"};
  for (int i = 0; i < ITEMS; i++)
    items[i] = (Demo_LineItem){.sku = irpc_str_c(skus[i % 4]),
                               .quantity = i + 1,
                               .price = 9.99 * (i + 1),
                               .has_note = i % 3 == 0,
                               .note = IRPC_STR("leave at the door")};
  return (Demo_Order){.id = 123456789,
                      .customer = IRPC_STR("Ada Lovelace"),
                      .shipTo = {48, 2},
                      .items = {ITEMS, items},
                      .tags = {3, tags},
                      .has_coupon = true,
                      .coupon = IRPC_STR("SPRING25")};
}

/* What an application writes by hand with the Slice runtime. */
typedef struct hand_item {
  irpc_bytes sku, note;
  int32_t quantity;
  double price;
  bool has_note;
} hand_item;

typedef struct hand_order {
  int64_t id;
  irpc_bytes customer, coupon;
  int32_t x, y;
  hand_item *items;
  size_t nitems;
  irpc_bytes tags[8];
  size_t ntags;
  bool has_coupon;
} hand_order;

static int hand_encode(irpc_slice_encoder *e, const Demo_Order *o) {
  irpc_slice_encode_int64(e, o->id);
  irpc_slice_encode_string(e, o->customer.ptr, o->customer.len);
  irpc_slice_encode_int32(e, o->shipTo.x);
  irpc_slice_encode_int32(e, o->shipTo.y);
  irpc_slice_encode_size(e, o->items.n);
  for (size_t i = 0; i < o->items.n; i++) {
    const Demo_LineItem *it = &o->items.items[i];
    irpc_slice_bit_writer w;
    irpc_slice_encode_bitseq(e, 1, &w);
    irpc_slice_encode_string(e, it->sku.ptr, it->sku.len);
    irpc_slice_encode_int32(e, it->quantity);
    irpc_slice_encode_float64(e, it->price);
    irpc_slice_bit_writer_put(e, &w, it->has_note);
    if (it->has_note)
      irpc_slice_encode_string(e, it->note.ptr, it->note.len);
    irpc_slice_encode_tag_end_marker(e);
  }
  irpc_slice_encode_size(e, o->tags.n);
  for (size_t i = 0; i < o->tags.n; i++)
    irpc_slice_encode_string(e, o->tags.items[i].ptr, o->tags.items[i].len);
  if (o->has_coupon) {
    irpc_slice_mark m;
    irpc_slice_encode_tag_begin(e, 1, &m);
    irpc_slice_encode_string(e, o->coupon.ptr, o->coupon.len);
    irpc_slice_encode_tag_end(e, &m);
  }
  return irpc_slice_encode_tag_end_marker(e);
}

static int hand_decode(irpc_slice_decoder *d, hand_order *o) {
  irpc_slice_decode_int64(d, &o->id);
  irpc_slice_decode_string(d, &o->customer);
  irpc_slice_decode_int32(d, &o->x);
  irpc_slice_decode_int32(d, &o->y);
  if (irpc_slice_decode_count(d, 15, sizeof(hand_item), &o->nitems))
    return irpc_slice_decoder_error(d);
  o->items = irpc_malloc(o->nitems * sizeof(hand_item) + 1);
  if (!o->items)
    return IRPC_ENOMEM;
  for (size_t i = 0; i < o->nitems; i++) {
    hand_item *it = &o->items[i];
    irpc_slice_bit_reader r;
    irpc_slice_decode_bitseq(d, 1, &r);
    irpc_slice_decode_string(d, &it->sku);
    irpc_slice_decode_int32(d, &it->quantity);
    irpc_slice_decode_float64(d, &it->price);
    it->has_note = false;
    irpc_slice_bit_reader_get(d, &r, &it->has_note);
    if (it->has_note)
      irpc_slice_decode_string(d, &it->note);
    irpc_slice_decode_tags_end(d);
  }
  if (irpc_slice_decode_count(d, 1, 0, &o->ntags) || o->ntags > 8)
    return IRPC_EDATA;
  for (size_t i = 0; i < o->ntags; i++)
    irpc_slice_decode_string(d, &o->tags[i]);
  bool found = false;
  irpc_slice_scope sc;
  irpc_slice_decode_tag(d, 1, &found, &sc);
  if ((o->has_coupon = found)) {
    irpc_slice_decode_string(d, &o->coupon);
    irpc_slice_decode_scope_end(d, &sc);
  }
  irpc_slice_decode_tags_end(d);
  return irpc_slice_decoder_error(d);
}

/* One encode or decode of `o`, generated (gen) or hand-written, timed. */
static uint64_t codec_once(int gen, int decode, const Demo_Order *o,
                           irpc_buf *b, int *failed) {
  uint64_t t0 = bench_now_ns();
  if (!decode) {
    irpc_buf_clear(b);
    irpc_slice_encoder e;
    irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2);
    int rc = gen ? Demo_Order_encode(&e, o) : hand_encode(&e, o);
    if (rc || irpc_slice_encoder_flush(&e))
      (*failed)++;
  } else if (gen) {
    irpc_slice_in in;
    Demo_Order out;
    irpc_slice_in_init_buf(&in, b);
    if (Demo_Order_decode(&in, &out) || out.items.n != ITEMS)
      (*failed)++;
    irpc_slice_in_fini(&in);
  } else {
    irpc_slice_decoder d;
    hand_order out = {0};
    irpc_slice_decoder_init_buf(&d, b, IRPC_SLICE_ENCODING_2);
    if (hand_decode(&d, &out) || out.nitems != ITEMS)
      (*failed)++;
    irpc_free(out.items);
    irpc_slice_decoder_fini(&d);
  }
  return bench_now_ns() - t0;
}

/* Encodes and decodes alternate generated and hand-written code one by
 * one, each timed alone; MB/s from the median of each. */
static int bench_codec(long iters, bench_json *j) {
  int failed = 0;
  Demo_Order order = make_order();
  irpc_buf *gb, *hb;
  irpc_buf_new(&gb);
  irpc_buf_new(&hb);
  uint64_t *d[4];
  for (int k = 0; k < 4; k++)
    if (!(d[k] = malloc((size_t)iters * sizeof(uint64_t))))
      return 1;
  for (long i = 0; i < iters; i++) {
    int gen_first = (int)(i & 1);
    for (int k = 0; k < 2; k++) { /* encode: d[0] generated, d[1] hand */
      int gen = (k == 0) == gen_first;
      d[gen ? 0 : 1][i] = codec_once(gen, 0, &order, gen ? gb : hb, &failed);
    }
    for (int k = 0; k < 2; k++) { /* decode: d[2] generated, d[3] hand */
      int gen = (k == 0) == gen_first;
      d[gen ? 2 : 3][i] = codec_once(gen, 1, &order, gen ? gb : hb, &failed);
    }
  }
  size_t len = irpc_buf_len(gb);
  if (len != irpc_buf_len(hb)) /* the same bytes both ways */
    failed++;
  for (size_t off = 0; off < len && !failed; off += 64) {
    uint8_t x[64], y[64];
    size_t n = len - off < 64 ? len - off : 64;
    irpc_buf_copyout(gb, off, x, n);
    irpc_buf_copyout(hb, off, y, n);
    failed += memcmp(x, y, n) != 0;
  }
  double mbs[4];
  for (int k = 0; k < 4; k++) {
    double med, mean;
    stats(d[k], (size_t)iters, &med, &mean);
    mbs[k] = (double)len / med * 1e3; /* bytes per ns x 1000 = MB/s */
    free(d[k]);
  }
  irpc_buf_free(gb);
  irpc_buf_free(hb);
  printf("| Order (%zu bytes, %d items), %ld of each | encode MB/s | "
         "decode MB/s |\n"
         "| --- | ---: | ---: |\n"
         "| hand-written, Slice runtime | %.0f | %.0f |\n"
         "| generated shape | %.0f | %.0f |\n"
         "| generated / hand | %.3f | %.3f |\n",
         len, ITEMS, iters, mbs[1], mbs[3], mbs[0], mbs[2], mbs[0] / mbs[1],
         mbs[2] / mbs[3]);
  bench_json_begin(j);
  bench_json_str(j, "case", "order_codec");
  bench_json_num(j, "bytes", (double)len);
  bench_json_num(j, "hand_encode_mbs", mbs[1]);
  bench_json_num(j, "hand_decode_mbs", mbs[3]);
  bench_json_num(j, "gen_encode_mbs", mbs[0]);
  bench_json_num(j, "gen_decode_mbs", mbs[2]);
  bench_json_end(j);
  if (failed)
    fprintf(stderr, "%d codec runs failed\n", failed);
  return failed != 0;
}

/* N calls of one kind, for profilers. */
static int bench_only(long calls, int typed) {
  rig r;
  if (rig_open(&r))
    return 1;
  run o = {0};
  call_fig f = measure(&r, typed, calls, &o);
  printf("%s: %.0f ns/call, %.2f allocations/call\n", typed ? "typed" : "raw",
         f.ns, f.allocs);
  rig_close(&r);
  return o.failed != 0;
}

int main(int argc, char **argv) {
  long calls = 5000;
  int rounds = 11;
  const char *json = NULL;
  int only = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
      calls = atol(argv[++i]);
    else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
      json = argv[++i];
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      only = strcmp(argv[++i], "typed") == 0;
    else {
      fprintf(stderr, "usage: irpc-bench-slice-gen [--calls N] [--rounds N] "
                      "[--json FILE]\n");
      return 2;
    }
  }
  if (calls < 1 || rounds < 1)
    return 2;
  bench_alloc_install();
  if (only >= 0)
    return bench_only(calls, only);
  bench_json j;
  if (bench_json_open(&j, json))
    return 1;
  int rc = bench_typed_calls(calls, rounds, &j);
  rc |= bench_codec(calls * rounds, &j);
  bench_json_close(&j);
  return rc;
}
