/* Slice `stream T` (irpc/slice_stream.h) over a request's continuation, on
 * the memory transport and TCP: fixed-size elements (int32), variable-size
 * ones (string, in segments), `stream uint8` as raw bytes, with the writer
 * waiting for room; and the framing errors a consumer reports. */
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "kit/net.h"
#include "kit/slice.h"

/* ---- Elements ---- */

static int enc_int32(irpc_slice_encoder *e, const void *item) {
  return irpc_slice_encode_int32(e, *(const int32_t *)item);
}

static int dec_int32(irpc_slice_decoder *d, void *item) {
  return irpc_slice_decode_int32(d, item);
}

static const irpc_slice_stream_elem int32_elem = {
    .struct_size = sizeof(irpc_slice_stream_elem),
    .item_size = sizeof(int32_t),
    .wire_size = 4,
    .encode = enc_int32,
    .decode = dec_int32,
};

/* ---- The server: consumes the request's stream of the route's type ---- */

enum { K_INT32, K_STRING, K_BYTES };

typedef struct consumed {
  int kind;
  irpc_slice_stream_reader *s;
  irpc_dispatch *d;
  uint64_t items;
  int bad;
  int ended;
  int end_err;
} consumed;

static consumed got;

static void on_items(void *ud, const void *items, size_t n) {
  consumed *c = ud;
  for (size_t i = 0; i < n; i++, c->items++) {
    if (c->kind == K_INT32) {
      if (((const int32_t *)items)[i] != (int32_t)c->items)
        c->bad = 1;
    } else if (c->kind == K_STRING) {
      char want[32];
      snprintf(want, sizeof want, "item-%llu", (unsigned long long)c->items);
      const irpc_bytes *s = &((const irpc_bytes *)items)[i];
      if (s->len != strlen(want) || memcmp(s->base, want, s->len) != 0)
        c->bad = 1;
    } else if (((const uint8_t *)items)[i] != (uint8_t)(c->items % 253)) {
      c->bad = 1;
    }
  }
}

static void on_end(void *ud, int err) {
  consumed *c = ud;
  c->ended = 1;
  c->end_err = err;
  if (c->d)
    irpc_dispatch_reply(c->d, err ? IRPC_STATUS_INVALID_DATA : IRPC_STATUS_OK,
                        NULL);
  c->d = NULL;
}

static const irpc_slice_stream_handler handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = on_items,
    .on_end = on_end,
};

static void consume_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *path = irpc_incoming_request_path(req);
  got.kind = !strcmp(path, "/ints")      ? K_INT32
             : !strcmp(path, "/strings") ? K_STRING
                                         : K_BYTES;
  const irpc_slice_stream_elem *el = got.kind == K_INT32 ? &int32_elem
                                     : got.kind == K_STRING
                                         ? &slice_string_elem
                                         : &irpc_slice_stream_uint8;
  got.d = d;
  assert_irpc_ok(irpc_slice_stream_reader_new(
      &got.s, irpc_incoming_request_take_continuation(req), el, &handler,
      &got));
}

static const irpc_dispatcher_ops consume_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "consume",
    .dispatch = consume_dispatch,
};

static int streamed(void *ud, const char *path, const char *op) {
  (void)ud;
  (void)path;
  (void)op;
  return 1;
}

/* ---- The client: a producer writing `total` items, waiting for room ---- */

typedef struct producer {
  irpc_stream_writer *w;
  irpc_slice_stream_writer *s;
  int kind;
  uint64_t total, sent;
  int eagain;
  int ended, end_err;
  char names[64][32]; /* string items of one batch */
} producer;

static void produce(producer *p) {
  while (p->sent < p->total) {
    size_t n = p->total - p->sent < 64 ? (size_t)(p->total - p->sent) : 64;
    int32_t ints[64];
    irpc_bytes strs[64];
    uint8_t bytes[64];
    const void *items = ints;
    for (size_t i = 0; i < n; i++) {
      uint64_t k = p->sent + i;
      ints[i] = (int32_t)k;
      bytes[i] = (uint8_t)(k % 253);
      snprintf(p->names[i], sizeof p->names[i], "item-%llu",
               (unsigned long long)k);
      strs[i].base = (const uint8_t *)p->names[i];
      strs[i].len = strlen(p->names[i]);
    }
    if (p->kind == K_STRING)
      items = strs;
    else if (p->kind == K_BYTES)
      items = bytes;
    int rc = irpc_slice_stream_write(p->s, items, n);
    if (rc == IRPC_EAGAIN) {
      p->eagain++;
      return;
    }
    assert_irpc_ok(rc);
    p->sent += n;
  }
  assert_irpc_ok(irpc_slice_stream_end(p->s));
  p->sent++; /* past the end: nothing more */
}

static void writable(irpc_stream_writer *w, void *ud) {
  (void)w;
  producer *p = ud;
  if (p->sent < p->total)
    produce(p);
}

static void wend(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  producer *p = ud;
  p->ended = 1;
  p->end_err = err;
}

static const irpc_stream_writer_ops wops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = writable,
    .on_end = wend,
};

static void run_kind(net_rig *r, irpc_invoker *client, int kind,
                     uint64_t total) {
  memset(&got, 0, sizeof got);
  static producer p;
  memset(&p, 0, sizeof p);
  p.kind = kind;
  p.total = total;
  irpc_stream_writer_options wo;
  irpc_stream_writer_options_init(&wo);
  wo.max_queued = 16 << 10; /* small: the producer waits often */
  assert_irpc_ok(irpc_stream_writer_new(&p.w, &r->loop, &wo, &wops, &p));
  const irpc_slice_stream_elem *el = kind == K_INT32 ? &int32_elem
                                     : kind == K_STRING
                                         ? &slice_string_elem
                                         : &irpc_slice_stream_uint8;
  assert_irpc_ok(irpc_slice_stream_writer_new(&p.s, p.w, el));
  const char *path = kind == K_INT32    ? "/ints"
                     : kind == K_STRING ? "/strings"
                                        : "/bytes";
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, path, "put"));
  assert_irpc_ok(irpc_outgoing_request_set_continuation(req, p.w));
  produce(&p);
  net_result res = {0};
  net_call_sync(&r->loop, client, req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  kit_run_until(&r->loop, &got.ended);
  assert_irpc_ok(got.end_err);
  assert_int_equal(got.items, total);
  assert_false(got.bad);
  kit_run_until(&r->loop, &p.ended);
  assert_irpc_ok(p.end_err);
  assert_true(p.eagain > 0);
  irpc_slice_stream_writer_free(p.s);
  irpc_stream_writer_free(p.w);
  irpc_outgoing_request_free(req);
  irpc_slice_stream_reader_free(got.s);
}

static void test_typed_streams(void **state) {
  (void)state;
  int kinds[] = {NET_MEMORY, NET_TCP};
  for (size_t k = 0; k < 2; k++) {
    net_rig r;
    net_rig_init(&r, kinds[k]);
    r.sicerpc.stream_request = streamed;
    net_map(&r, "/ints", &consume_ops, NULL);
    net_map(&r, "/strings", &consume_ops, NULL);
    net_map(&r, "/bytes", &consume_ops, NULL);
    net_rig_start(&r);
    irpc_invoker *client = net_client(&r);
    run_kind(&r, client, K_INT32, 200000);
    run_kind(&r, client, K_STRING, 50000);
    run_kind(&r, client, K_BYTES, 300000);
    net_client_close(&r, client);
    net_rig_fini(&r);
  }
}

/* One write of a batch of strings larger than a segment may be: the
 * producer splits it into segments the reader accepts; an item larger
 * than a segment is refused before anything is written. */
static void test_large_batch(void **state) {
  (void)state;
  enum { N = 120000 }; /* about 1.3 MB encoded */
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  r.sicerpc.stream_request = streamed;
  net_map(&r, "/strings", &consume_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *client = net_client(&r);
  memset(&got, 0, sizeof got);
  static producer p;
  memset(&p, 0, sizeof p);
  assert_irpc_ok(irpc_stream_writer_new(&p.w, &r.loop, NULL, &wops, &p));
  assert_irpc_ok(irpc_slice_stream_writer_new(&p.s, p.w, &slice_string_elem));
  char(*names)[16] = calloc(N, sizeof *names);
  irpc_bytes *strs = calloc(N, sizeof *strs);
  assert_non_null(names);
  assert_non_null(strs);
  for (size_t i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "item-%zu", i);
    strs[i].base = (const uint8_t *)names[i];
    strs[i].len = strlen(names[i]);
  }
  uint8_t *huge = calloc(1, (1u << 20) + 1);
  assert_non_null(huge);
  irpc_bytes big = {.base = huge, .len = (1u << 20) + 1};
  assert_int_equal(irpc_slice_stream_write(p.s, &big, 1), IRPC_ELIMIT);
  free(huge);
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/strings", "put"));
  assert_irpc_ok(irpc_outgoing_request_set_continuation(req, p.w));
  assert_irpc_ok(irpc_slice_stream_write(p.s, strs, N));
  assert_irpc_ok(irpc_slice_stream_end(p.s));
  free(strs);
  free(names);
  net_result res = {0};
  net_call_sync(&r.loop, client, req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  kit_run_until(&r.loop, &got.ended);
  assert_irpc_ok(got.end_err);
  assert_int_equal(got.items, N);
  assert_false(got.bad);
  kit_run_until(&r.loop, &p.ended);
  assert_irpc_ok(p.end_err);
  irpc_slice_stream_writer_free(p.s);
  irpc_stream_writer_free(p.w);
  irpc_outgoing_request_free(req);
  irpc_slice_stream_reader_free(got.s);
  net_client_close(&r, client);
  net_rig_fini(&r);
}

/* Raw bytes that break the framing: the consumer ends with the error and
 * the dispatch answers InvalidData. */
static void check_bad(const char *path, const void *bytes, size_t len,
                      int want) {
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  r.sicerpc.stream_request = streamed;
  net_map(&r, path, &consume_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *client = net_client(&r);
  memset(&got, 0, sizeof got);
  producer p;
  memset(&p, 0, sizeof p);
  assert_irpc_ok(irpc_stream_writer_new(&p.w, &r.loop, NULL, &wops, &p));
  irpc_outgoing_request *req = kit_request(path, bytes, len);
  assert_irpc_ok(irpc_outgoing_request_set_continuation(req, p.w));
  assert_irpc_ok(irpc_stream_writer_end(p.w));
  net_result res = {0};
  net_call_sync(&r.loop, client, req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_INVALID_DATA);
  assert_true(got.ended);
  assert_int_equal(got.end_err, want);
  kit_run_until(&r.loop, &p.ended);
  irpc_stream_writer_free(p.w);
  irpc_outgoing_request_free(req);
  irpc_slice_stream_reader_free(got.s);
  net_client_close(&r, client);
  net_rig_fini(&r);
}

static void test_framing_errors(void **state) {
  (void)state;
  /* an int32 stream ending in the middle of an element */
  check_bad("/ints", "\x01\x00\x00\x00\x02\x00", 6, IRPC_ETRUNCATED);
  /* an empty segment */
  check_bad("/strings", "\x00", 1, IRPC_EDATA);
  /* a segment over 1 MiB (size 2^21 as a 4-byte varuint62) */
  check_bad("/strings", "\x02\x00\x80\x00", 4, IRPC_ELIMIT);
  /* a segment whose element does not decode (a string past its end) */
  check_bad("/strings", "\x08\x10\x41", 3, IRPC_EDATA);
}

/* An element descriptor from before decode_in (struct_size up to decode)
 * is accepted; one shorter than that is refused. */
static void noop_end(irpc_stream_writer *w, int err, void *ud) {
  (void)w, (void)err, (void)ud;
}

static void test_elem_versions(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  static const irpc_stream_writer_ops ops = {
      .struct_size = sizeof(irpc_stream_writer_ops), .on_end = noop_end};
  irpc_stream_writer *w;
  assert_irpc_ok(irpc_stream_writer_new(&w, &loop, NULL, &ops, NULL));
  irpc_slice_stream_elem old = int32_elem;
  old.struct_size = offsetof(irpc_slice_stream_elem, decode_in);
  irpc_slice_stream_writer *s;
  assert_irpc_ok(irpc_slice_stream_writer_new(&s, w, &old));
  irpc_slice_stream_writer_free(s);
  old.struct_size = offsetof(irpc_slice_stream_elem, decode);
  assert_irpc_err(irpc_slice_stream_writer_new(&s, w, &old), IRPC_EINVAL);
  irpc_stream_writer_free(w);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typed_streams),
      cmocka_unit_test(test_framing_errors),
      cmocka_unit_test(test_large_batch),
      cmocka_unit_test(test_elem_versions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
