#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "kit/kit.h"

void test_irpc_check(int got, int want, const char *expr, const char *file,
                     int line) {
  if (got == want)
    return;
  fprintf(stderr, "%s:%d: %s returned %s (%d: %s), expected %s (%d)\n", file,
          line, expr, irpc_err_name(got), got, irpc_strerror(got),
          irpc_err_name(want), want);
  fflush(stderr);
  _fail(file, line);
}

test_alloc_stats test_alloc;

static void count_bytes(void *p, long long sign) {
  test_alloc.bytes_live += sign * (long long)malloc_usable_size(p);
  if (test_alloc.bytes_live > test_alloc.bytes_peak)
    test_alloc.bytes_peak = test_alloc.bytes_live;
}

/* Whether this allocation fails. */
static int fail_now(void) {
  if (test_alloc.fail_at <= 0 || --test_alloc.fail_at != 0)
    return 0;
  if (test_alloc.fail_more > 0) {
    test_alloc.fail_more--;
    test_alloc.fail_at = 1;
  }
  return 1;
}

static void *count_alloc(void *opaque, size_t size) {
  (void)opaque;
  if (fail_now())
    return NULL;
  void *p = malloc(size ? size : 1);
  if (p) {
    test_alloc.allocs++;
    test_alloc.live++;
    count_bytes(p, 1);
  }
  return p;
}

static void *count_realloc(void *opaque, void *ptr, size_t size) {
  if (!ptr)
    return count_alloc(opaque, size);
  if (fail_now())
    return NULL;
  long long before = (long long)malloc_usable_size(ptr);
  void *p = realloc(ptr, size ? size : 1);
  if (p) {
    test_alloc.bytes_live -= before;
    count_bytes(p, 1);
  }
  return p;
}

static void count_free(void *opaque, void *ptr) {
  (void)opaque;
  if (!ptr)
    return;
  test_alloc.frees++;
  test_alloc.live--;
  count_bytes(ptr, -1);
  free(ptr);
}

void test_alloc_install(void) {
  static const irpc_allocator a = {
      .struct_size = sizeof(irpc_allocator),
      .opaque = NULL,
      .alloc = count_alloc,
      .realloc = count_realloc,
      .free = count_free,
  };
  if (irpc_set_allocator(&a) != 0) {
    fprintf(stderr, "cannot install the counting allocator\n");
    abort();
  }
}

void test_loop_finish(uv_loop_t *loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(loop), 0);
}

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(resp),
                               irpc_incoming_request_payload(req)));
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

const irpc_dispatcher_ops test_echo_ops = {.struct_size =
                                               sizeof(irpc_dispatcher_ops),
                                           .name = "echo",
                                           .dispatch = echo_dispatch};

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  fail_msg("the loop did not reach the expected state in time");
}

void kit_run_until(uv_loop_t *loop, const int *flag) {
  uv_timer_t wd;
  uv_timer_init(loop, &wd);
  uv_timer_start(&wd, on_watchdog, 30000, 0);
  while (!*flag)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(loop, UV_RUN_NOWAIT); /* the handle lives on this stack */
}

irpc_outgoing_request *kit_request(const char *path, const void *data,
                                   size_t len) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, path, "op"));
  if (len)
    assert_irpc_ok(
        irpc_buf_append(irpc_outgoing_request_payload(req), data, len));
  return req;
}

void kit_status_cb(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  *(int *)ud = status == 0 ? 1 : status;
}

irpc_dispatch *kit_held[KIT_HELD_MAX];
int kit_nheld;

static void hold_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  assert_true(kit_nheld < KIT_HELD_MAX);
  kit_held[kit_nheld++] = d;
}

const irpc_dispatcher_ops kit_hold_ops = {.struct_size =
                                              sizeof(irpc_dispatcher_ops),
                                          .name = "hold",
                                          .dispatch = hold_dispatch};
