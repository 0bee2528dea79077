/* The loops' read blocks (core/base/buf_internal.h): a chain keeps a large
 * piece of a read as a reference into the block it was read into, the
 * loop never reads over bytes a chain refers to, and a block comes back
 * for whole reads once nothing refers to it; a large append fills big
 * blocks. Over TCP and Unix sockets, a 1 MiB request arrives in a
 * handful of segments (referenced where it was read, not copied into
 * 4 KiB blocks) and is echoed intact. */
#include <string.h>

#include "base/buf_internal.h"
#include "base/pool.h"
#include "base/scheduler.h"
#include "kit/net.h"

/* A loop's scheduler attaches the thread's pools, as irpc objects do. */
typedef struct sched_rig {
  uv_loop_t loop;
  irpc__sched *sched;
} sched_rig;

static void sched_up(sched_rig *r) {
  assert_int_equal(uv_loop_init(&r->loop), 0);
  r->sched = irpc__sched_acquire(&r->loop);
  assert_non_null(r->sched);
}

static void sched_down(sched_rig *r) {
  irpc__sched_release(r->sched);
  while (uv_run(&r->loop, UV_RUN_NOWAIT))
    ;
  assert_int_equal(uv_loop_close(&r->loop), 0);
}

/* Pretends a read of `n` bytes of `v` at `at`. */
static void fake_read(uint8_t *at, size_t n, uint8_t v) {
  memset(at, v, n);
}

static int all(const irpc_buf *b, uint8_t v) {
  for (size_t i = 0; i < irpc_buf_segment_count(b); i++) {
    irpc_bytes s = irpc_buf_segment(b, i);
    for (size_t j = 0; j < s.len; j++)
      if (s.base[j] != v)
        return 0;
  }
  return 1;
}

static void test_reads_never_overwrite_kept_bytes(void **state) {
  (void)state;
  sched_rig r;
  sched_up(&r);
  size_t len;
  uint8_t *p = irpc__sched_read_buf(r.sched, &len);
  assert_non_null(p);
  assert_int_equal(len, IRPC__POOL_BIG - sizeof(irpc__blk));
  uint8_t *start = p;

  /* nothing kept: the next read goes to the same place */
  fake_read(p, 1000, 1);
  assert_null(irpc__rblk_of(p, 1000)); /* too short to refer to */
  assert_ptr_equal(irpc__sched_read_buf(r.sched, &len), start);

  /* 20 KiB kept by reference: the next read goes after them */
  fake_read(p, 100 << 10, 2);
  irpc__blk *k = irpc__rblk_of(p + 10, 20 << 10);
  assert_non_null(k);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc__buf_append_rblk(b, k, p + 10, 20 << 10));
  assert_int_equal(irpc_buf_segment_count(b), 1);
  assert_ptr_equal(irpc_buf_segment(b, 0).base, p + 10);
  uint8_t *q = irpc__sched_read_buf(r.sched, &len);
  assert_true(q >= p + 10 + (20 << 10));
  assert_true(len >= IRPC__RBLK_MIN_READ);
  fake_read(q, len, 3);
  assert_true(all(b, 2));

  /* a piece outside the current block is never referred to */
  uint8_t other[16 << 10];
  assert_null(irpc__rblk_of(other, sizeof other));

  /* too little room after the kept bytes: a fresh block, the old one
   * living on with the chain */
  irpc__blk *k2 = irpc__rblk_of(q, len);
  assert_non_null(k2);
  assert_irpc_ok(irpc__buf_append_rblk(b, k2, q + len - (8 << 10), 8 << 10));
  uint8_t *fresh = irpc__sched_read_buf(r.sched, &len);
  assert_true(fresh < start || fresh >= start + IRPC__POOL_BIG);
  assert_int_equal(len, IRPC__POOL_BIG - sizeof(irpc__blk));
  fake_read(fresh, len, 4);
  assert_int_equal(irpc_buf_len(b), (20 << 10) + (8 << 10));
  assert_int_equal(irpc_buf_segment_count(b), 2);
  irpc_bytes s0 = irpc_buf_segment(b, 0), s1 = irpc_buf_segment(b, 1);
  for (size_t i = 0; i < s0.len; i++)
    assert_int_equal(s0.base[i], 2);
  for (size_t i = 0; i < s1.len; i++)
    assert_int_equal(s1.base[i], 3);

  /* once the chain is gone, the loop's block is whole again */
  irpc_buf_free(b);
  k = irpc__rblk_of(fresh, 10 << 10);
  assert_non_null(k);
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc__buf_append_rblk(b, k, fresh, 10 << 10));
  irpc_buf_free(b);
  assert_ptr_equal(irpc__sched_read_buf(r.sched, &len), fresh);
  assert_int_equal(len, IRPC__POOL_BIG - sizeof(irpc__blk));
  sched_down(&r);
}

/* Two pieces of one read that follow each other become one segment. */
static void test_adjacent_pieces_merge(void **state) {
  (void)state;
  sched_rig r;
  sched_up(&r);
  size_t len;
  uint8_t *p = irpc__sched_read_buf(r.sched, &len);
  fake_read(p, 64 << 10, 7);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  irpc__blk *k = irpc__rblk_of(p, 32 << 10);
  assert_irpc_ok(irpc__buf_append_rblk(b, k, p, 16 << 10));
  assert_irpc_ok(irpc__buf_append_rblk(b, k, p + (16 << 10), 16 << 10));
  assert_int_equal(irpc_buf_segment_count(b), 1);
  assert_int_equal(irpc_buf_len(b), 32 << 10);
  assert_true(all(b, 7));
  /* a shared block is never written through the chain */
  uint8_t *at;
  size_t avail;
  assert_irpc_ok(irpc_buf_reserve(b, 0, &at, &avail));
  assert_true(at < p || at >= p + len);
  irpc_buf_free(b);
  sched_down(&r);
}

/* A large append takes big blocks: a 1 MiB chain is a handful of
 * segments, with the same bytes. */
static void test_large_append_uses_big_blocks(void **state) {
  (void)state;
  sched_rig r;
  sched_up(&r);
  size_t size = 1u << 20;
  uint8_t *bytes = malloc(size);
  assert_non_null(bytes);
  for (size_t i = 0; i < size; i++)
    bytes[i] = (uint8_t)(i * 31u + 7u);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, "h", 1));
  assert_irpc_ok(irpc_buf_append(b, bytes, size));
  assert_int_equal(irpc_buf_len(b), size + 1);
  assert_true(irpc_buf_segment_count(b) <= 8);
  uint8_t *back = malloc(size);
  assert_non_null(back);
  assert_irpc_ok(irpc_buf_copyout(b, 1, back, size));
  assert_memory_equal(back, bytes, size);
  /* the headroom of the first block is still there */
  assert_irpc_ok(irpc_buf_prepend(b, "x", 1));
  assert_int_equal(irpc_buf_segment(b, 0).base[0], 'x');
  irpc_buf_free(b);
  free(back);
  free(bytes);
  sched_down(&r);
}

/* ---- Over the network ---- */

static size_t request_segs;

static void echo(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  request_segs = irpc_buf_segment_count(irpc_incoming_request_payload(req));
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(resp),
                               irpc_incoming_request_payload(req)));
  irpc_dispatch_complete(d, resp);
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo};

static void big_echo(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  net_map(&r, "/echo", &echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *inv = net_client(&r);
  size_t size = 1u << 20;
  uint8_t *bytes = malloc(size);
  assert_non_null(bytes);
  for (size_t i = 0; i < size; i++)
    bytes[i] = (uint8_t)(i * 13u + (i >> 12));
  for (int round = 0; round < 4; round++) {
    irpc_outgoing_request *req;
    assert_irpc_ok(irpc_outgoing_request_new(&req, "/echo", "op"));
    assert_irpc_ok(
        irpc_buf_append(irpc_outgoing_request_payload(req), bytes, size));
    irpc_buf *back;
    assert_irpc_ok(irpc_buf_new(&back));
    net_result o = {.payload = back};
    request_segs = 0;
    net_call_sync(&r.loop, inv, req, &o);
    assert_irpc_ok(o.err);
    assert_int_equal(o.status, IRPC_STATUS_OK);
    assert_true(irpc_buf_equals(back, bytes, size));
    /* Slic frames of up to 64 KiB, referenced where they were read: a
     * copy into 4 KiB blocks would make 256 segments or more. Over TLS
     * the plain text is decrypted elsewhere and copied. */
    if (!r.tls_client)
      assert_true(request_segs > 0 && request_segs <= 64);
    irpc_buf_free(back);
    irpc_outgoing_request_free(req);
  }
  free(bytes);
  net_client_close(&r, inv);
  net_rig_fini(&r);
}

static void test_big_echo_tcp(void **state) {
  (void)state;
  big_echo(NET_TCP);
}

static void test_big_echo_uds(void **state) {
  (void)state;
  big_echo(NET_UDS);
}

/* A read block that cannot be had leaves no read to make (NULL), never a
 * region over bytes a chain keeps; the next read takes a block again. */
static void test_read_block_out_of_memory(void **state) {
  (void)state;
  test_alloc_install();
  sched_rig r;
  sched_up(&r);
  size_t len = 0;
  test_alloc_arm(1, 0);
  assert_null(irpc__sched_read_buf(r.sched, &len));
  assert_false(test_alloc_disarm());
  uint8_t *p = irpc__sched_read_buf(r.sched, &len);
  assert_non_null(p);
  assert_int_equal(len, IRPC__POOL_BIG - sizeof(irpc__blk));

  /* the block is full of kept bytes and a fresh one cannot be had: no
   * region, and the kept bytes stay as they were */
  fake_read(p, len, 5);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  irpc__blk *k = irpc__rblk_of(p, len);
  assert_non_null(k);
  assert_irpc_ok(irpc__buf_append_rblk(b, k, p, len));
  test_alloc_arm(1, 0);
  assert_null(irpc__sched_read_buf(r.sched, &len));
  assert_false(test_alloc_disarm());
  assert_null(irpc__rblk_of(p, 16 << 10)); /* no longer the loop's */
  uint8_t *fresh = irpc__sched_read_buf(r.sched, &len);
  assert_non_null(fresh);
  assert_int_equal(len, IRPC__POOL_BIG - sizeof(irpc__blk));
  fake_read(fresh, len, 6);
  assert_int_equal(irpc_buf_len(b), IRPC__POOL_BIG - sizeof(irpc__blk));
  assert_true(all(b, 5));
  irpc_buf_free(b);
  sched_down(&r);
  assert_int_equal(test_alloc_live(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_never_overwrite_kept_bytes),
      cmocka_unit_test(test_adjacent_pieces_merge),
      cmocka_unit_test(test_large_append_uses_big_blocks),
      cmocka_unit_test(test_big_echo_tcp),
      cmocka_unit_test(test_big_echo_uds),
      /* last: it installs the counting allocator */
      cmocka_unit_test(test_read_block_out_of_memory),
  };
  return cmocka_run_group_tests_name("read_block", tests, NULL, NULL);
}
