/* Unix domain sockets through the server and the client connection: a
 * socket file left by a dead server is replaced, a live server's never. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "net_testlib.h"

/* Leaves at `path` what a crashed server leaves: a socket file that was
 * listened on and that nobody answers on any more. */
static void leave_dead_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 1), 0);
  close(fd); /* no unlink: the file stays */
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
}

static void echo_once(net_rig *r, irpc_invoker *inv) {
  net_result res = {0};
  irpc_outgoing_request *req = net_request("/echo", "hi", 2);
  net_call_sync(&r->loop, inv, req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  irpc_outgoing_request_free(req);
}

static void test_stale_socket_file_is_replaced(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_UDS);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/s.sock", r.dir);
  leave_dead_socket(path);
  /* Calls to it are refused: nobody is there. */
  snprintf(r.bound, sizeof r.bound, "%s", r.listen);
  irpc_invoker *probe = net_client(&r);
  net_result res = {0};
  irpc_outgoing_request *req = net_request("/echo", NULL, 0);
  net_call_sync(&r.loop, probe, req, &res);
  assert_irpc_err(res.err, UV_ECONNREFUSED);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(probe);
  net_rig_start(&r); /* the server starts anyway */
  irpc_invoker *c = net_client(&r);
  echo_once(&r, c);
  net_client_close(&r, c);
  net_rig_fini(&r);
}

static void test_live_socket_file_is_kept(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_UDS);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_invoker *c = net_client(&r);
  echo_once(&r, c); /* a connection to the first server is open */
  struct stat before, after;
  char path[128];
  snprintf(path, sizeof path, "%s/s.sock", r.dir);
  assert_int_equal(lstat(path, &before), 0);
  /* A second server on the same path fails and leaves the file alone. */
  irpc_server *second;
  assert_irpc_ok(irpc_server_new(&second, &r.loop,
                                 irpc_router_dispatcher(r.router), &r.sopts));
  assert_irpc_err(irpc_server_listen(second, r.listen, NULL, 0), UV_EADDRINUSE);
  irpc_server_free(second);
  uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(lstat(path, &after), 0);
  assert_int_equal(before.st_ino, after.st_ino);
  /* The first server still accepts new connections on it. */
  irpc_invoker *c2 = net_client(&r);
  echo_once(&r, c2);
  echo_once(&r, c);
  net_client_close(&r, c2);
  net_client_close(&r, c);
  net_rig_fini(&r);
}

/* A file that is not a socket is never removed. */
static void test_regular_file_is_kept(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_UDS);
  char path[128];
  snprintf(path, sizeof path, "%s/s.sock", r.dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("data", f);
  fclose(f);
  irpc_server *s;
  assert_irpc_ok(
      irpc_server_new(&s, &r.loop, irpc_router_dispatcher(r.router), NULL));
  assert_irpc_err(irpc_server_listen(s, r.listen, NULL, 0), UV_EADDRINUSE);
  irpc_server_free(s);
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  assert_int_equal(st.st_size, 4);
  net_rig_fini(&r);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stale_socket_file_is_replaced),
      cmocka_unit_test(test_live_socket_file_is_kept),
      cmocka_unit_test(test_regular_file_is_kept),
  };
  return cmocka_run_group_tests_name("uds", tests, NULL, NULL);
}
