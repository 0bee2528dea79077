/* The logger interceptor and middleware. */
#include "kit/rig.h"

static void test_lines_both_sides(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  sink_log client = {0}, server = {0};
  irpc_logger_options o;
  irpc_logger_options_init(&o);
  o.sink = sink;
  o.user_data = &client;
  o.clock = r.clock;
  irpc_invoker *ic;
  assert_irpc_ok(irpc_logger_interceptor_new(&ic, &r.loop, &o));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  o.user_data = &server;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_logger_middleware_new(&mw, &r.loop, &o));
  assert_irpc_ok(irpc_router_use(r.router, mw));
  irpc_dispatcher *d = rig_map(&r, "/echo", &test_echo_ops);
  outcome out;
  outcome_init(&out);
  irpc_outgoing_request *ok = kit_request("/echo", "x", 1);
  irpc_outgoing_request *miss = kit_request("/missing", NULL, 0);
  rig_invoke(&r, NULL, ok, &out, NULL);
  rig_run(&r);
  rig_invoke(&r, NULL, miss, &out, NULL);
  rig_run(&r);
  assert_int_equal(client.count, 2);
  assert_int_equal(server.count, 2);
  assert_string_equal(client.lines[0],
                      "Invoke path=/echo operation=op status=Ok "
                      "duration=0.000ms local=coloc remote=coloc");
  assert_int_equal(client.levels[0], IRPC_LOG_INFO);
  assert_string_equal(server.lines[0],
                      "Dispatch path=/echo operation=op status=Ok "
                      "duration=0.000ms local=coloc remote=coloc");
  assert_non_null(strstr(client.lines[1], "InvokeError path=/missing"));
  assert_non_null(strstr(client.lines[1], "status=NotFound message=\""));
  assert_int_equal(client.levels[1], IRPC_LOG_WARNING);
  assert_non_null(strstr(server.lines[1], "DispatchError path=/missing"));
  /* A library error: InvokeException at ERROR; a canceled call. */
  irpc_call *call;
  irpc_outgoing_request *late = kit_request("/echo", NULL, 0);
  rig_invoke(&r, NULL, late, &out, &call);
  assert_irpc_ok(irpc_call_cancel(call, IRPC_ECANCELED));
  rig_run(&r);
  assert_int_equal(client.count, 3);
  assert_non_null(strstr(client.lines[2],
                         "InvokeException path=/echo operation=op "
                         "error=ECANCELED"));
  assert_int_equal(client.levels[2], IRPC_LOG_ERROR);
  irpc_outgoing_request_free(late);
  irpc_outgoing_request_free(ok);
  irpc_outgoing_request_free(miss);
  outcome_fini(&out);
  rig_fini(&r, &d, 1);
}

static void test_silent_and_levels(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  sink_log l = {0};
  irpc_invoker *silent, *warn;
  assert_irpc_ok(irpc_logger_interceptor_new(&silent, &r.loop, NULL));
  irpc_logger_options o;
  irpc_logger_options_init(&o);
  o.sink = sink;
  o.user_data = &l;
  o.min_level = IRPC_LOG_WARNING;
  assert_irpc_ok(irpc_logger_interceptor_new(&warn, &r.loop, &o));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, silent));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, warn));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  irpc_dispatcher *d = rig_map(&r, "/echo", &test_echo_ops);
  outcome out;
  outcome_init(&out);
  irpc_outgoing_request *ok = kit_request("/echo", NULL, 0);
  irpc_outgoing_request *miss = kit_request("/nope", NULL, 0);
  rig_invoke(&r, NULL, ok, &out, NULL);
  rig_invoke(&r, NULL, miss, &out, NULL);
  rig_run(&r);
  assert_int_equal(out.done, 2);
  assert_int_equal(l.count, 1); /* only the warning */
  assert_non_null(strstr(l.lines[0], "InvokeError path=/nope"));
  o.min_level = 9;
  irpc_invoker *bad;
  assert_irpc_err(irpc_logger_interceptor_new(&bad, &r.loop, &o), IRPC_EINVAL);
  irpc_outgoing_request_free(ok);
  irpc_outgoing_request_free(miss);
  outcome_fini(&out);
  rig_fini(&r, &d, 1);
}

/* The FILE sink: the interceptor writes to an open_memstream stream at
 * INFO, the middleware to an fmemopen buffer at WARNING, one line per
 * record with the level first. */
static void test_file_sink(void **state) {
  (void)state;
  rig r;
  rig_init(&r);
  char *mem = NULL;
  size_t memlen = 0;
  FILE *client = open_memstream(&mem, &memlen);
  assert_non_null(client);
  char fixed[512] = {0};
  FILE *server = fmemopen(fixed, sizeof fixed, "w");
  assert_non_null(server);
  irpc_logger_options o;
  irpc_logger_options_init(&o);
  o.clock = r.clock;
  assert_irpc_err(irpc_logger_options_use_file(NULL, client, IRPC_LOG_INFO),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_logger_options_use_file(&o, NULL, IRPC_LOG_INFO),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_logger_options_use_file(&o, client, 9), IRPC_EINVAL);
  assert_null(o.sink); /* unchanged by the failures */
  assert_irpc_ok(irpc_logger_options_use_file(&o, client, IRPC_LOG_INFO));
  assert_ptr_equal(o.clock, r.clock);
  irpc_invoker *ic;
  assert_irpc_ok(irpc_logger_interceptor_new(&ic, &r.loop, &o));
  assert_irpc_ok(irpc_pipeline_use(r.pipeline, ic));
  assert_irpc_ok(irpc_pipeline_into(r.pipeline, r.coloc));
  assert_irpc_ok(irpc_logger_options_use_file(&o, server, IRPC_LOG_WARNING));
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_logger_middleware_new(&mw, &r.loop, &o));
  assert_irpc_ok(irpc_router_use(r.router, mw));
  irpc_dispatcher *d = rig_map(&r, "/echo", &test_echo_ops);
  outcome out;
  outcome_init(&out);
  irpc_outgoing_request *ok = kit_request("/echo", "x", 1);
  irpc_outgoing_request *miss = kit_request("/missing", NULL, 0);
  rig_invoke(&r, NULL, ok, &out, NULL);
  rig_run(&r);
  rig_invoke(&r, NULL, miss, &out, NULL);
  rig_run(&r);
  assert_int_equal(out.done, 2);
  /* The sink flushes each line: the streams hold them without fclose. */
  assert_non_null(mem);
  assert_string_equal(mem, "INFO Invoke path=/echo operation=op status=Ok "
                           "duration=0.000ms local=coloc remote=coloc\n"
                           "WARNING InvokeError path=/missing operation=op "
                           "status=NotFound message=\"The dispatch failed "
                           "with status code NotFound.\" duration=0.000ms "
                           "local=coloc remote=coloc\n");
  assert_string_equal(fixed, "WARNING DispatchError path=/missing "
                             "operation=op status=NotFound message=\"The "
                             "dispatch failed with status code NotFound.\" "
                             "duration=0.000ms local=coloc remote=coloc\n");
  /* A line longer than the sink's buffer is cut but still ends the line. */
  char longline[1000];
  memset(longline, 'a', sizeof longline - 1);
  longline[sizeof longline - 1] = '\0';
  size_t before = memlen;
  irpc_log_file_sink(IRPC_LOG_ERROR, NULL, longline, client);
  assert_true(memlen > before + 500);
  assert_true(memlen < before + sizeof longline);
  assert_int_equal(mem[memlen - 1], '\n');
  assert_memory_equal(mem + before, "ERROR aaa", 9);
  irpc_log_file_sink(IRPC_LOG_INFO, NULL, "x", NULL); /* no stream: nothing */
  assert_string_equal(irpc_log_level_name(IRPC_LOG_DEBUG), "DEBUG");
  assert_string_equal(irpc_log_level_name((irpc_log_level)42), "?");
  irpc_outgoing_request_free(ok);
  irpc_outgoing_request_free(miss);
  outcome_fini(&out);
  rig_fini(&r, &d, 1);
  fclose(client);
  fclose(server);
  free(mem);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lines_both_sides),
      cmocka_unit_test(test_silent_and_levels),
      cmocka_unit_test(test_file_sink),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
