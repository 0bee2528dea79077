/* irpc_slice_call_opts_init: no setting and the header's struct_size; an
 * older application's smaller struct gets only its own bytes; and a call of
 * generated code (Test::S1::Store from slice1.slice, over the memory transport)
 * with options set up that way runs their prepare and fills call_out. */
#include <stddef.h>
#include <string.h>

#include "kit/net.h"
#include "slice1.slice.h"

static void s_bytes(void *impl, irpc_slice_dispatch *sd, Test_S1_Bytes b) {
  (*(int *)impl)++;
  Test_S1_Store_bytes_reply(sd, b);
}

static const Test_S1_Store_ops store_ops = {.bytes = s_bytes};

typedef struct res {
  int done, err;
  size_t len;
} res;

static void on_bytes(irpc_slice_reply *r, int err, const Test_S1_Bytes *ret,
                     void *ud) {
  (void)r;
  res *o = ud;
  o->err = err;
  o->len = ret ? ret->len : 0;
  o->done = 1;
}

static int prepared;

static int prepare(irpc_outgoing_request *req, void *data) {
  (void)req;
  (void)data;
  prepared++;
  return 0;
}

static void test_init(void **state) {
  (void)state;
  irpc_slice_call_opts o;
  memset(&o, 0xab, sizeof o);
  irpc_slice_call_opts_init(&o);
  assert_int_equal(o.struct_size, sizeof o);
  assert_null(o.call_out);
  assert_null(o.prepare);
  assert_null(o.prepare_data);
  assert_null(o.stream);

  /* an application built before `stream`: its bytes alone are written */
  memset(&o, 0xab, sizeof o);
  irpc_slice_call_opts_init_sized(&o, offsetof(irpc_slice_call_opts, stream));
  assert_int_equal(o.struct_size, offsetof(irpc_slice_call_opts, stream));
  assert_null(o.prepare);
  const uint8_t *tail = (const uint8_t *)&o.stream;
  for (size_t i = 0; i < sizeof o.stream; i++)
    assert_int_equal(tail[i], 0xab);
}

static void test_call(void **state) {
  (void)state;
  net_rig rig;
  net_rig_init(&rig, NET_MEMORY);
  int calls = 0;
  assert_irpc_ok(Test_S1_Store_map(rig.router, NULL, &store_ops, &calls,
                                   &rig.disps[rig.ndisps++]));
  net_rig_start(&rig);
  irpc_invoker *client = net_client(&rig);
  Test_S1_StoreProxy px = Test_S1_StoreProxy_from(client, NULL);
  irpc_call *call = NULL;
  irpc_slice_call_opts opts;
  irpc_slice_call_opts_init(&opts);
  opts.call_out = &call;
  opts.prepare = prepare;
  uint8_t bytes[3] = {1, 2, 3};
  res o = {0};
  prepared = 0;
  assert_irpc_ok(
      Test_S1_Store_bytes(&px, (Test_S1_Bytes){bytes, 3}, &opts, on_bytes, &o));
  assert_non_null(call);
  assert_int_equal(prepared, 1);
  kit_run_until(&rig.loop, &o.done);
  assert_irpc_ok(o.err);
  assert_int_equal(o.len, 3);
  assert_int_equal(calls, 1);
  net_client_close(&rig, client);
  net_rig_fini(&rig);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init),
      cmocka_unit_test(test_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
