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

/* Shared mode: the counts are kept under this mutex. */
static int shared;
static uv_mutex_t lock;
static _Thread_local int exempt;

/* Each block starts with a header telling whether it was counted; the bytes
 * counted are the usable size after the header. */
typedef union head {
  int counted;
  max_align_t align;
} head;

static void count_bytes(head *h, long long sign) {
  test_alloc.bytes_live +=
      sign * ((long long)malloc_usable_size(h) - (long long)sizeof(head));
  if (test_alloc.bytes_live > test_alloc.bytes_peak)
    test_alloc.bytes_peak = test_alloc.bytes_live;
}

static void count_lock(void) {
  if (shared)
    uv_mutex_lock(&lock);
}

static void count_unlock(void) {
  if (shared)
    uv_mutex_unlock(&lock);
}

/* Under the lock: whether this allocation fails. */
static int fail_now(void) {
  if (exempt || test_alloc.fail_at <= 0 || --test_alloc.fail_at != 0)
    return 0;
  if (test_alloc.fail_more > 0) {
    test_alloc.fail_more--;
    test_alloc.fail_at = 1;
  }
  test_alloc.failed++;
  return 1;
}

static void *count_alloc(void *opaque, size_t size) {
  (void)opaque;
  count_lock();
  head *h = fail_now() ? NULL : malloc(sizeof(head) + size);
  if (h) {
    h->counted = !exempt;
    if (h->counted) {
      test_alloc.allocs++;
      test_alloc.live++;
      count_bytes(h, 1);
    }
  }
  count_unlock();
  return h ? h + 1 : NULL;
}

static void *count_realloc(void *opaque, void *ptr, size_t size) {
  if (!ptr)
    return count_alloc(opaque, size);
  count_lock();
  head *h = (head *)ptr - 1;
  if (fail_now()) {
    count_unlock();
    return NULL;
  }
  int counted = h->counted;
  if (counted)
    count_bytes(h, -1);
  head *n = realloc(h, sizeof(head) + size);
  if (counted)
    count_bytes(n ? n : h, 1);
  count_unlock();
  return n ? n + 1 : NULL;
}

static void count_free(void *opaque, void *ptr) {
  (void)opaque;
  if (!ptr)
    return;
  head *h = (head *)ptr - 1;
  count_lock();
  if (h->counted) {
    test_alloc.frees++;
    test_alloc.live--;
    count_bytes(h, -1);
  }
  count_unlock();
  free(h);
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

void test_alloc_install_shared(void) {
  if (uv_mutex_init(&lock) != 0)
    abort();
  shared = 1;
  test_alloc_install();
}

void test_alloc_arm(long n, long more) {
  count_lock();
  test_alloc.fail_at = n;
  test_alloc.fail_more = more;
  test_alloc.failed_before = test_alloc.failed;
  count_unlock();
}

int test_alloc_disarm(void) {
  count_lock();
  int untouched = test_alloc.failed == test_alloc.failed_before;
  test_alloc.fail_at = 0;
  test_alloc.fail_more = 0;
  count_unlock();
  return untouched;
}

long test_alloc_live(void) {
  count_lock();
  long n = test_alloc.live;
  count_unlock();
  return n;
}

void test_alloc_set_exempt(int on) {
  exempt = on;
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

void kit_echo_reply(irpc_dispatch *d) {
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  if (irpc_buf_move(irpc_outgoing_response_payload(resp),
                    irpc_incoming_request_payload(irpc_dispatch_request(d)))) {
    irpc_outgoing_response_free(resp);
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_dispatch_complete(d, resp);
}

static void echo_oom_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  kit_echo_reply(d);
}

const irpc_dispatcher_ops kit_echo_oom_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "echo",
                                              .dispatch = echo_oom_dispatch};

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
