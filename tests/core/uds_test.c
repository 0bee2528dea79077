/* Unix domain sockets through the server and the client connection: a
 * socket file left by a dead server is replaced, a live server's never;
 * both sides learn the peer process's credentials (SO_PEERCRED), where
 * TCP reports none. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kit/net.h"

/* Leaves at `path` what a crashed server leaves: a socket file that was
 * listened on and that nobody answers on any more. */
static void leave_dead_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  size_t len = strlen(path);
  assert_true(len < sizeof sa.sun_path);
  memcpy(sa.sun_path, path, len + 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 1), 0);
  close(fd); /* no unlink: the file stays */
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
}

static void echo_once(net_rig *r, irpc_invoker *inv) {
  net_result res = {0};
  irpc_outgoing_request *req = kit_request("/echo", "hi", 2);
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
  irpc_outgoing_request *req = kit_request("/echo", NULL, 0);
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

/* ---- Peer credentials ---- */

/* Records the connection information a dispatch sees. */
typedef struct seen {
  int dispatches;
  int has_cred;
  irpc_peer_credentials cred;
  char remote[128];
} seen;

static void seen_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  seen *s = *(seen **)irpc_dispatcher_data(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const irpc_connection_info *ci = irpc_incoming_request_connection_info(req);
  assert_non_null(ci);
  s->dispatches++;
  s->has_cred = ci->peer_credentials != NULL;
  if (ci->peer_credentials)
    s->cred = *ci->peer_credentials;
  snprintf(s->remote, sizeof s->remote, "%s", ci->remote_address);
  /* The same through the connection the request arrived on. */
  assert_ptr_equal(
      irpc_connection_peer_credentials(irpc_incoming_request_connection(req)),
      ci->peer_credentials);
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static int seen_init(irpc_dispatcher *self, const void *config) {
  *(seen **)irpc_dispatcher_data(self) = (seen *)config;
  return 0;
}

static const irpc_dispatcher_ops seen_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "seen",
                                             .data_size = sizeof(seen *),
                                             .init = seen_init,
                                             .dispatch = seen_dispatch};

static void assert_me(const irpc_peer_credentials *c) {
  assert_non_null(c);
  assert_int_equal(c->pid, (int64_t)getpid());
  assert_int_equal(c->uid, (uint32_t)getuid());
  assert_int_equal(c->gid, (uint32_t)getgid());
}

/* Client and server are this process: each sees getpid/getuid/getgid on
 * the other side, in the dispatch, the call's connection information,
 * the client connection and the server's connection list. Over TCP and in
 * memory there are no credentials, only addresses. */
static void check_credentials(int kind) {
  net_rig r;
  net_rig_init(&r, kind);
  seen s = {0};
  net_map(&r, "/seen", &seen_ops, &s);
  net_rig_start(&r);
  irpc_invoker *c = net_client(&r);
  net_result res = {0};
  irpc_outgoing_request *req = kit_request("/seen", NULL, 0);
  net_call_sync(&r.loop, c, req, &res);
  assert_irpc_ok(res.err);
  assert_int_equal(s.dispatches, 1);
  const irpc_connection_info *ci = irpc_outgoing_request_connection_info(req);
  assert_non_null(ci);
  irpc_connection *cc = irpc_client_connection_connection(c);
  assert_non_null(cc);
  irpc_connection *sc[2];
  assert_int_equal(irpc_server_connections(r.server, sc, 2), 1);
  if (kind == NET_UDS) {
    assert_true(s.has_cred);
    assert_me(&s.cred);
    assert_me(ci->peer_credentials);
    assert_me(irpc_connection_peer_credentials(cc));
    assert_me(irpc_connection_peer_credentials(sc[0]));
    assert_ptr_equal(irpc_connection_peer_credentials(cc),
                     ci->peer_credentials);
  } else {
    assert_false(s.has_cred);
    assert_null(ci->peer_credentials);
    assert_null(irpc_connection_peer_credentials(cc));
    assert_null(irpc_connection_peer_credentials(sc[0]));
    if (kind == NET_TCP) /* TCP reports the client's address instead */
      assert_non_null(
          strstr(irpc_connection_remote_address(sc[0]), "127.0.0.1:"));
    assert_string_equal(s.remote, irpc_connection_remote_address(sc[0]));
  }
  assert_null(irpc_connection_peer_credentials(NULL));
  irpc_outgoing_request_free(req);
  net_client_close(&r, c);
  net_rig_fini(&r);
}

static void test_credentials_uds(void **state) {
  (void)state;
  check_credentials(NET_UDS);
}

static void test_no_credentials_tcp(void **state) {
  (void)state;
  check_credentials(NET_TCP);
}

static void test_no_credentials_memory(void **state) {
  (void)state;
  check_credentials(NET_MEMORY);
}

/* The transport function itself, through a fault decorator too. */
static void on_accepted(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  *(irpc_duplex **)ud = d;
}

static void on_connected(irpc_duplex *d, int status, void *ud) {
  (void)d;
  *(int *)ud = status == 0 ? 1 : status;
}

static void test_duplex_credentials(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_UDS);
  irpc_transport *fault;
  assert_irpc_ok(irpc_transport_fault_new(&fault, irpc_transport_uds()));
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, r.listen));
  irpc_listener *l;
  irpc_duplex *server_end = NULL, *client_end;
  assert_irpc_ok(
      irpc_transport_listen(fault, &r.loop, a, on_accepted, &server_end, &l));
  int connected = 0;
  assert_irpc_ok(irpc_transport_connect(fault, &r.loop, a, &client_end,
                                        on_connected, &connected));
  irpc_peer_credentials pc;
  assert_irpc_err(irpc_duplex_peer_credentials(client_end, &pc), UV_ENOTCONN);
  kit_run_until(&r.loop, &connected);
  assert_int_equal(connected, 1);
  while (!server_end)
    uv_run(&r.loop, UV_RUN_ONCE);
  memset(&pc, 0, sizeof pc);
  assert_irpc_ok(irpc_duplex_peer_credentials(client_end, &pc));
  assert_me(&pc);
  memset(&pc, 0, sizeof pc);
  assert_irpc_ok(irpc_duplex_peer_credentials(server_end, &pc));
  assert_me(&pc);
  assert_irpc_err(irpc_duplex_peer_credentials(NULL, &pc), IRPC_EINVAL);
  assert_irpc_err(irpc_duplex_peer_credentials(client_end, NULL), IRPC_EINVAL);
  irpc_duplex_close(client_end, NULL, NULL);
  irpc_duplex_close(server_end, NULL, NULL);
  irpc_listener_close(l, NULL, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  irpc_server_address_free(a);
  /* In memory: not supported. */
  irpc_duplex *x, *y;
  assert_irpc_ok(irpc_duplex_pair(&r.loop, &x, &y));
  assert_irpc_err(irpc_duplex_peer_credentials(x, &pc), IRPC_ENOTSUP);
  irpc_duplex_close(x, NULL, NULL);
  irpc_duplex_close(y, NULL, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  net_rig_fini(&r);
  irpc_transport_free(fault);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stale_socket_file_is_replaced),
      cmocka_unit_test(test_live_socket_file_is_kept),
      cmocka_unit_test(test_regular_file_is_kept),
      cmocka_unit_test(test_credentials_uds),
      cmocka_unit_test(test_no_credentials_tcp),
      cmocka_unit_test(test_no_credentials_memory),
      cmocka_unit_test(test_duplex_credentials),
  };
  return cmocka_run_group_tests_name("uds", tests, NULL, NULL);
}
