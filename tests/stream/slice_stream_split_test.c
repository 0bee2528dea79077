/* A typed stream's producer splitting one batch of variable-size items
 * into segments a reader accepts (irpc_slice_stream_write): segments are
 * packed up to the 1 MiB limit, each item is encoded at most twice, and a
 * batch is written whole or not at all: one that fails anywhere (an item
 * that does not encode, an item alone over the limit, any allocation, in a
 * later segment of the batch) writes nothing, one the writer has no room
 * for goes whole at on_writable, and after the end nothing more goes. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kit/net.h"
#include "kit/slice.h"

/* ---- The element: strings "item-NNNNNNN"; a NULL base does not encode ---- */

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
      &slice_string_elem, &handler, &got));
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

/* A batch refused with IRPC_EAGAIN, written again at on_writable, and the
 * end after it. */
static irpc_slice_stream_writer *retry_s;
static const irpc_bytes *retry_items;
static size_t retry_n;
static int writables;

static void writable(irpc_stream_writer *w, void *ud) {
  (void)w;
  (void)ud;
  writables++;
  assert_non_null(retry_items);
  assert_irpc_ok(irpc_slice_stream_write(retry_s, retry_items, retry_n));
  assert_irpc_ok(irpc_slice_stream_end(retry_s));
  retry_items = NULL;
}

static const irpc_stream_writer_ops wops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = writable,
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

/* max_queued 0: the writer's default. */
static void rig_start_queued(split_rig *t, size_t max_items,
                             size_t max_queued) {
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
  irpc_stream_writer_options wo;
  irpc_stream_writer_options_init(&wo);
  if (max_queued)
    wo.max_queued = max_queued;
  assert_irpc_ok(
      irpc_stream_writer_new(&t->w, &t->r.loop, &wo, &wops, &t->wended));
  assert_irpc_ok(irpc_slice_stream_writer_new(&t->s, t->w, &slice_string_elem));
  assert_irpc_ok(irpc_outgoing_request_new(&t->req, "/strings", "put"));
  assert_irpc_ok(irpc_outgoing_request_set_continuation(t->req, t->w));
}

static void rig_start(split_rig *t, size_t max_items) {
  rig_start_queued(t, max_items, 0);
}

/* Ends the stream, runs the call, and checks the consumer got `items`
 * good items in `segments` segments. */
static void rig_finish(split_rig *t, size_t items, size_t segments) {
  if (!retry_items) /* else at on_writable */
    assert_irpc_ok(irpc_slice_stream_end(t->s));
  net_result res = {0};
  net_call_sync(&t->r.loop, t->client, t->req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  kit_run_until(&t->r.loop, &got.ended);
  assert_irpc_ok(got.end_err);
  assert_null(retry_items);
  assert_int_equal(got.items, items);
  assert_int_equal(got.segments, segments);
  assert_false(got.bad);
  kit_run_until(&t->r.loop, &t->wended);
  assert_int_equal(t->wended, 1);
  /* ended: a batch is refused */
  assert_int_equal(irpc_slice_stream_write(t->s, items_from(t, 0, 1), 1),
                   IRPC_ECLOSED);
  irpc_slice_stream_writer_free(t->s);
  irpc_stream_writer_free(t->w);
  irpc_outgoing_request_free(t->req);
  irpc_slice_stream_reader_free(got.s);
  free(t->strs);
  free(t->names);
  net_client_close(&t->r, t->client);
  net_rig_fini(&t->r);
}

/* Writes a batch of n items in one call and checks that it took n +
 * `again` encodings (the items that opened a segment after the first are
 * encoded twice) and arrived in `segments` segments. */
static void check_split(size_t n, size_t again, size_t segments) {
  split_rig t;
  rig_start(&t, n);
  slice_string_encodes = 0;
  assert_irpc_ok(irpc_slice_stream_write(t.s, items_from(&t, 0, n), n));
  assert_int_equal(slice_string_encodes, n + again);
  rig_finish(&t, n, segments);
}

/* A batch of 2.5 segments' worth goes as 3 full-as-can-be segments, and
 * only the two items that did not fit the segment before are encoded
 * again. */
static void test_packed_segments(void **state) {
  (void)state;
  check_split(2 * PER_SEGMENT + PER_SEGMENT / 2, 2, 3);
}

/* A batch of one item more than fits a segment: the segment holds all
 * the others, and that item, encoded twice, goes alone in the next. */
static void test_one_more(void **state) {
  (void)state;
  check_split(PER_SEGMENT + 1, 1, 2);
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

/* The allocations of a batch of three segments (one per 4 KiB block of
 * the encoding, ~640) failing, every STRIDE-th one in turn, up to the
 * first that the batch no longer reaches, so including some of the last
 * fifth, which encodes its third segment: each attempt fails with
 * IRPC_ENOMEM, queues nothing in the writer and leaves nothing allocated;
 * the batch that needs fewer allocations than the one set to fail goes
 * whole, and the stream goes on. */
#define STRIDE 16

static void test_failed_allocation_writes_nothing(void **state) {
  (void)state;
  const size_t n = 2 * PER_SEGMENT + PER_SEGMENT / 2;
  split_rig t;
  rig_start_queued(&t, n + 5, (size_t)8 << 20); /* room for all */
  const irpc_bytes *strs = items_from(&t, 0, n);
  /* one batch through a writer of its own first: the pools the encoding
   * draws from keep what they allocate */
  irpc_stream_writer *w;
  irpc_slice_stream_writer *s;
  int wended = 0;
  assert_irpc_ok(irpc_stream_writer_new(&w, &t.r.loop, NULL, &wops, &wended));
  assert_irpc_ok(irpc_slice_stream_writer_new(&s, w, &slice_string_elem));
  assert_irpc_ok(irpc_slice_stream_write(s, strs, n));
  irpc_slice_stream_writer_free(s);
  irpc_stream_writer_free(w);

  size_t room = irpc_stream_writer_room(t.w);
  long k = 1;
  for (;; k += STRIDE) {
    long live = test_alloc.live;
    test_alloc.fail_at = k;
    int rc = irpc_slice_stream_write(t.s, strs, n);
    if (test_alloc.fail_at != 0) { /* the k-th allocation did not come */
      test_alloc.fail_at = 0;
      assert_irpc_ok(rc);
      break;
    }
    assert_int_equal(rc, IRPC_ENOMEM);
    assert_int_equal(test_alloc.live, live);
    assert_int_equal(irpc_stream_writer_room(t.w), room);
  }
  /* the batch needed between k - STRIDE and k - 1: those before k - STRIDE
   * failed, so some of its last fifth did */
  assert_true(5 * STRIDE < k - STRIDE);

  assert_irpc_ok(irpc_slice_stream_write(t.s, items_from(&t, n, 5), 5));
  rig_finish(&t, n + 5, 3 + 1);
}

/* A writer with room takes a batch whole, however large; the next batch,
 * of three segments, finds no room: IRPC_EAGAIN, nothing of it queued;
 * written again at on_writable, it goes whole, after the first, in
 * order. */
static void test_no_room_writes_nothing(void **state) {
  (void)state;
  const size_t n1 = PER_SEGMENT + PER_SEGMENT / 2;
  const size_t n2 = 2 * PER_SEGMENT + PER_SEGMENT / 2;
  split_rig t;
  rig_start_queued(&t, n1 + n2, (size_t)1 << 20);
  assert_irpc_ok(irpc_slice_stream_write(t.s, items_from(&t, 0, n1), n1));
  assert_int_equal(irpc_stream_writer_room(t.w), 0);

  const irpc_bytes *second = items_from(&t, n1, n2);
  assert_int_equal(irpc_slice_stream_write(t.s, second, n2), IRPC_EAGAIN);
  assert_int_equal(irpc_stream_writer_room(t.w), 0);
  writables = 0;
  retry_s = t.s;
  retry_items = second;
  retry_n = n2;
  rig_finish(&t, n1 + n2, 2 + 3);
  assert_int_equal(writables, 1);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_segments),
      cmocka_unit_test(test_one_more),
      cmocka_unit_test(test_failed_batch_writes_nothing),
      cmocka_unit_test(test_failed_allocation_writes_nothing),
      cmocka_unit_test(test_no_room_writes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
