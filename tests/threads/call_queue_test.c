/* Calls from threads that do not run the loop: many threads start calls
 * at once against one client connection, and every call completes exactly
 * once, on the loop (irpc_call_queue_invoke) or back on the thread that
 * waits (tickets, the blocking client). */
#include <string.h>

#include "echo_loop.h"
#include "kit/kit.h"
#include "tkit.h"

#define THREADS 8
#define CALLS 40
#define TOTAL (THREADS * CALLS)

typedef struct shared {
  irpc_call_queue *q;
  irpc_blocking_client *bc;
  uv_barrier_t barrier;
  uv_thread_t loop_thread; /* the test's loop */
  /* Written on the loop thread only. */
  int seen[TOTAL];
  int completed;
  int all_done;
  int wrong;
  /* Written by each caller thread in its own slots. */
  int sync_ok[TOTAL];
} shared;

typedef struct caller {
  shared *sh;
  int index;
  int use_tickets; /* else irpc_call_queue_invoke with a callback */
} caller;

typedef struct cb_ctx {
  shared *sh;
  int id;
} cb_ctx;

static irpc_outgoing_request *request_of(int id) {
  irpc_outgoing_request *req;
  if (irpc_outgoing_request_new(&req, "/echo", "op") != 0)
    return NULL;
  irpc_buf_append(irpc_outgoing_request_payload(req), &id, sizeof(id));
  return req;
}

static int response_id(irpc_incoming_response *resp) {
  int id = -1;
  if (irpc_incoming_response_status(resp) != IRPC_STATUS_OK ||
      irpc_buf_copyout(irpc_incoming_response_payload(resp), 0, &id,
                       sizeof(id)) != 0)
    return -1;
  return id;
}

/* On the test's loop thread. */
static void on_loop_done(int err, irpc_incoming_response *resp, void *ud) {
  cb_ctx *c = ud;
  shared *sh = c->sh;
  uv_thread_t self = uv_thread_self();
  if (!uv_thread_equal(&self, &sh->loop_thread))
    sh->wrong++;
  if (err == 0 && response_id(resp) == c->id)
    sh->seen[c->id]++;
  else
    sh->wrong++;
  irpc_incoming_response_free(resp);
  free(c);
  if (++sh->completed == TOTAL / 2)
    sh->all_done = 1;
}

static void caller_main(void *arg) {
  caller *cl = arg;
  shared *sh = cl->sh;
  uv_barrier_wait(&sh->barrier); /* all start at once */
  for (int i = 0; i < CALLS; i++) {
    int id = cl->index * CALLS + i;
    if (cl->use_tickets) {
      irpc_incoming_response *resp;
      int rc = sh->bc
                   ? irpc_blocking_client_invoke(sh->bc, request_of(id), &resp)
                   : irpc_call_queue_invoke_sync(sh->q, request_of(id), &resp);
      if (rc == 0 && response_id(resp) == id)
        sh->sync_ok[id]++;
      irpc_incoming_response_free(resp);
    } else {
      cb_ctx *c = malloc(sizeof(*c));
      c->sh = sh;
      c->id = id;
      if (irpc_call_queue_invoke(sh->q, request_of(id), on_loop_done, c) != 0)
        free(c);
    }
  }
}

/* Starts the callers, waits for them all. */
static void spawn_callers(shared *sh, int tickets_mask) {
  uv_thread_t t[THREADS];
  caller cl[THREADS];
  uv_barrier_init(&sh->barrier, THREADS);
  for (int i = 0; i < THREADS; i++) {
    cl[i].sh = sh;
    cl[i].index = i;
    cl[i].use_tickets = (tickets_mask >> i) & 1;
    assert_int_equal(uv_thread_create(&t[i], caller_main, &cl[i]), 0);
  }
  for (int i = 0; i < THREADS; i++)
    uv_thread_join(&t[i]);
  uv_barrier_destroy(&sh->barrier);
}

static void spawn_mixed(void *arg) {
  spawn_callers(arg, 0xAA); /* odd threads wait on tickets */
}

typedef struct waiter {
  irpc_call_ticket *t;
  irpc_incoming_response *resp;
  int rc;
} waiter;

static void wait_ticket(void *arg) {
  waiter *w = arg;
  w->rc = irpc_call_ticket_wait(w->t, &w->resp);
}

static void many_threads_one_connection(void **state) {
  (void)state;
  char bound[256];
  irpc_multi_server *ms = echo_loop_start(1, bound, sizeof(bound));
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &loop, bound, NULL));
  static shared sh;
  memset(&sh, 0, sizeof(sh));
  sh.loop_thread = uv_thread_self();
  assert_irpc_ok(irpc_call_queue_new(&sh.q, inv));

  /* Half the threads get their completions on this loop, half wait. */
  tkit_bg bg;
  tkit_bg_start(&bg, &loop, spawn_mixed, &sh);
  tkit_bg_finish(&bg, &loop);
  kit_run_until(&loop, &sh.all_done);
  assert_int_equal(sh.wrong, 0);
  assert_int_equal(sh.completed, TOTAL / 2);
  for (int id = 0; id < TOTAL; id++) {
    int thread = id / CALLS;
    if (thread & 1) {
      assert_int_equal(sh.sync_ok[id], 1);
      assert_int_equal(sh.seen[id], 0);
    } else {
      assert_int_equal(sh.seen[id], 1);
      assert_int_equal(sh.sync_ok[id], 0);
    }
  }
  /* One connection carried them all. */
  irpc_multi_server_stats st;
  irpc_multi_server_read_stats(ms, &st, NULL, 0);
  assert_int_equal(st.connections_accepted, 1);
  assert_int_equal(st.dispatches_total, TOTAL);

  /* Waiting on this loop's own thread would never end. */
  irpc_incoming_response *resp = (irpc_incoming_response *)&sh;
  assert_irpc_err(irpc_call_queue_invoke_sync(sh.q, request_of(0), &resp),
                  IRPC_EINVAL);
  assert_null(resp);
  irpc_call_ticket *t;
  assert_irpc_ok(irpc_call_queue_submit(sh.q, request_of(1), &t));
  assert_irpc_err(irpc_call_ticket_wait(t, &resp), IRPC_EINVAL);
  /* Freeing the queue with that request still queued: it fails with
   * IRPC_ECLOSED, and a callback request likewise, exactly once. */
  cb_ctx *c = malloc(sizeof(*c));
  c->sh = &sh;
  c->id = 0;
  sh.seen[0] = 0;
  sh.wrong = 0;
  assert_irpc_ok(irpc_call_queue_invoke(sh.q, request_of(0), on_loop_done, c));
  irpc_call_queue_free(sh.q);
  assert_int_equal(sh.wrong, 1); /* on_loop_done saw IRPC_ECLOSED */
  assert_int_equal(sh.seen[0], 0);
  /* The ticket's result is there: another thread waits on it. */
  waiter w = {.t = t, .rc = 1};
  tkit_bg_start(&bg, &loop, wait_ticket, &w);
  tkit_bg_finish(&bg, &loop);
  assert_irpc_err(w.rc, IRPC_ECLOSED);
  assert_null(w.resp);
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(inv, kit_status_cb, &done));
  kit_run_until(&loop, &done);
  irpc_invoker_free(inv);
  test_loop_finish(&loop);
  irpc_multi_server_free(ms);
}

static void spawn_blocking(void *arg) {
  spawn_callers(arg, 0xFF);
}

static void blocking_client_from_many_threads(void **state) {
  (void)state;
  char bound[256];
  irpc_multi_server *ms = echo_loop_start(2, bound, sizeof(bound));
  static shared sh;
  memset(&sh, 0, sizeof(sh));
  assert_irpc_ok(irpc_blocking_client_new(&sh.bc, bound, NULL));
  spawn_blocking(&sh);
  for (int id = 0; id < TOTAL; id++)
    assert_int_equal(sh.sync_ok[id], 1);
  irpc_blocking_client_free(sh.bc);
  irpc_multi_server_stats st;
  irpc_multi_server_read_stats(ms, &st, NULL, 0);
  assert_int_equal(st.connections_accepted, 1);
  assert_int_equal(st.dispatches_total, TOTAL);
  irpc_multi_server_free(ms);

  /* Errors come back as the call's. */
  irpc_blocking_client *bc;
  assert_irpc_err(irpc_blocking_client_new(&bc, "not an address", NULL),
                  IRPC_EINVAL);
  assert_irpc_ok(irpc_blocking_client_new(&bc, bound, NULL)); /* gone */
  irpc_incoming_response *resp;
  assert_irpc_err(irpc_blocking_client_invoke(bc, request_of(0), &resp),
                  UV_ECONNREFUSED);
  assert_null(resp);
  irpc_blocking_client_free(bc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(many_threads_one_connection),
      cmocka_unit_test(blocking_client_from_many_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
