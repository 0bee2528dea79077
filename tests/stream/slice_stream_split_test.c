/* A typed stream's producer splitting one batch of variable-size items
 * into segments a reader accepts (irpc_slice_stream_write): segments are
 * packed up to the 1 MiB limit, each item is encoded at most twice, and a
 * batch that fails anywhere (an item that does not encode, an item alone
 * over the limit, in a later segment of the batch) writes nothing. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kit/net.h"

/* ---- The element: strings "item-NNNNNNN"; a NULL base does not encode ---- */

static size_t encodes; /* calls of enc_string */

static int enc_string(irpc_slice_encoder *e, const void *item) {
  const irpc_bytes *s = item;
  encodes++;
  if (!s->base)
    return IRPC_EINVAL;
  return irpc_slice_encode_string(e, (const char *)s->base, s->len);
}

static int dec_string(irpc_slice_decoder *d, void *item) {
  return irpc_slice_decode_string(d, item);
}

static const irpc_slice_stream_elem string_elem = {
    .struct_size = sizeof(irpc_slice_stream_elem),
    .item_size = sizeof(irpc_bytes),
    .wire_size = 0,
    .encode = enc_string,
    .decode = dec_string,
};

/* 12 bytes each, 13 encoded: 80,659 of them fill a 1 MiB segment. */
#define NAME_LEN 12
#define PER_SEGMENT (((size_t)1 << 20) / (NAME_LEN + 1))

/* ---- The server: consumes the request's stream, counting segments ---- */

typedef struct consumed {
  irpc_slice_stream_reader *s;
  irpc_dispatch *d;
  size_t items, segments;
  int bad;
  int ended, end_err;
} consumed;

static consumed got;

static void on_items(void *ud, const void *items, size_t n) {
  consumed *c = ud;
  c->segments++;
  for (size_t i = 0; i < n; i++, c->items++) {
    char want[NAME_LEN + 1];
    snprintf(want, sizeof want, "item-%07zu", c->items);
    const irpc_bytes *s = &((const irpc_bytes *)items)[i];
    if (s->len != NAME_LEN || memcmp(s->base, want, NAME_LEN) != 0)
      c->bad = 1;
  }
}

static void on_end(void *ud, int err) {
  consumed *c = ud;
  c->ended = 1;
  c->end_err = err;
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
  got.d = d;
  assert_irpc_ok(irpc_slice_stream_reader_new(
      &got.s, irpc_incoming_request_take_continuation(irpc_dispatch_request(d)),
      &string_elem, &handler, &got));
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

static void wend(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  int *ended = ud;
  *ended = err ? err : 1;
}

static const irpc_stream_writer_ops wops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_end = wend,
};

/* ---- A rig: one client, a producer over one request ---- */

typedef struct split_rig {
  net_rig r;
  irpc_invoker *client;
  irpc_stream_writer *w;
  irpc_slice_stream_writer *s;
  irpc_outgoing_request *req;
  int wended;
  char (*names)[NAME_LEN + 1];
  irpc_bytes *strs;
} split_rig;

/* Items first..first+n-1, named after their index in the stream. */
static irpc_bytes *items_from(split_rig *t, size_t first, size_t n) {
  for (size_t i = 0; i < n; i++) {
    snprintf(t->names[i], sizeof t->names[i], "item-%07zu", first + i);
    t->strs[i].base = (const uint8_t *)t->names[i];
    t->strs[i].len = NAME_LEN;
  }
  return t->strs;
}

static void rig_start(split_rig *t, size_t max_items) {
  memset(t, 0, sizeof *t);
  memset(&got, 0, sizeof got);
  net_rig_init(&t->r, NET_MEMORY);
  t->r.sicerpc.stream_request = streamed;
  net_map(&t->r, "/strings", &consume_ops, NULL);
  net_rig_start(&t->r);
  t->client = net_client(&t->r);
  t->names = calloc(max_items, sizeof *t->names);
  t->strs = calloc(max_items, sizeof *t->strs);
  assert_non_null(t->names);
  assert_non_null(t->strs);
  assert_irpc_ok(
      irpc_stream_writer_new(&t->w, &t->r.loop, NULL, &wops, &t->wended));
  assert_irpc_ok(irpc_slice_stream_writer_new(&t->s, t->w, &string_elem));
  assert_irpc_ok(irpc_outgoing_request_new(&t->req, "/strings", "put"));
  assert_irpc_ok(irpc_outgoing_request_set_continuation(t->req, t->w));
}

/* Ends the stream, runs the call, and checks the consumer got `items`
 * good items in `segments` segments. */
static void rig_finish(split_rig *t, size_t items, size_t segments) {
  assert_irpc_ok(irpc_slice_stream_end(t->s));
  net_result res = {0};
  net_call_sync(&t->r.loop, t->client, t->req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  kit_run_until(&t->r.loop, &got.ended);
  assert_irpc_ok(got.end_err);
  assert_int_equal(got.items, items);
  assert_int_equal(got.segments, segments);
  assert_false(got.bad);
  kit_run_until(&t->r.loop, &t->wended);
  assert_int_equal(t->wended, 1);
  irpc_slice_stream_writer_free(t->s);
  irpc_stream_writer_free(t->w);
  irpc_outgoing_request_free(t->req);
  irpc_slice_stream_reader_free(got.s);
  free(t->strs);
  free(t->names);
  net_client_close(&t->r, t->client);
  net_rig_fini(&t->r);
}

/* A batch of 2.5 segments' worth goes as 3 full-as-can-be segments, and
 * only the two items that did not fit the segment before are encoded
 * again. */
static void test_packed_segments(void **state) {
  (void)state;
  const size_t n = 2 * PER_SEGMENT + PER_SEGMENT / 2;
  split_rig t;
  rig_start(&t, n);
  encodes = 0;
  assert_irpc_ok(irpc_slice_stream_write(t.s, items_from(&t, 0, n), n));
  assert_int_equal(encodes, n + 2);
  rig_finish(&t, n, 3);
}

/* A batch of one item more than fits a segment: the segment holds all
 * the others, and that item, encoded twice, goes alone in the next. */
static void test_one_more(void **state) {
  (void)state;
  const size_t n = PER_SEGMENT + 1;
  split_rig t;
  rig_start(&t, n);
  encodes = 0;
  assert_irpc_ok(irpc_slice_stream_write(t.s, items_from(&t, 0, n), n));
  assert_int_equal(encodes, n + 1);
  rig_finish(&t, n, 2);
}

/* An item that does not encode, or one alone over 1 MiB, in the third
 * segment of a batch: the write fails and none of the batch is sent; the
 * stream goes on with the next write. */
static void test_failed_batch_writes_nothing(void **state) {
  (void)state;
  const size_t n = 2 * PER_SEGMENT + 10;
  split_rig t;
  rig_start(&t, n);
  irpc_bytes *strs = items_from(&t, 0, n);
  strs[n - 1].base = NULL; /* does not encode */
  assert_int_equal(irpc_slice_stream_write(t.s, strs, n), IRPC_EINVAL);

  uint8_t *huge = calloc(1, ((size_t)1 << 20) + 1);
  assert_non_null(huge);
  strs = items_from(&t, 0, n);
  strs[n - 5].base = huge;
  strs[n - 5].len = ((size_t)1 << 20) + 1;
  assert_int_equal(irpc_slice_stream_write(t.s, strs, n), IRPC_ELIMIT);
  free(huge);

  assert_irpc_ok(irpc_slice_stream_write(t.s, items_from(&t, 0, 5), 5));
  rig_finish(&t, 5, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_segments),
      cmocka_unit_test(test_one_more),
      cmocka_unit_test(test_failed_batch_writes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
