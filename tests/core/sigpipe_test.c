/* SIGPIPE: the socket transports turn its default action (end the
 * process) into "ignored", and leave a disposition the application chose. */
#include <signal.h>

#include "kit/kit.h"

static int handled;
static void on_sigpipe(int sig) {
  (void)sig;
  handled++;
}

static void on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l, (void)d, (void)ud;
}

/* Listens on a free loopback port and closes at once. */
static void listen_once(const char *uri) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  irpc_listener *l;
  irpc_transport *t = irpc_transport_tcp();
  assert_irpc_ok(irpc_transport_listen(t, &loop, a, on_accept, NULL, &l));
  irpc_listener_close(l, NULL, NULL);
  irpc_server_address_free(a);
  test_loop_finish(&loop);
}

static void (*disposition(void))(int) {
  struct sigaction sa;
  assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
  return sa.sa_handler;
}

static void default_becomes_ignored(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_DFL);
  listen_once("icerpc://127.0.0.1:0");
  assert_ptr_equal(disposition(), SIG_IGN);
  /* A write to a socket the peer closed now fails instead of killing. */
  assert_int_equal(raise(SIGPIPE), 0);
}

static void handler_is_kept(void **state) {
  (void)state;
  signal(SIGPIPE, on_sigpipe);
  listen_once("icerpc://127.0.0.1:0");
  assert_ptr_equal(disposition(), on_sigpipe);
  handled = 0;
  assert_int_equal(raise(SIGPIPE), 0);
  assert_int_equal(handled, 1);
  signal(SIGPIPE, SIG_DFL);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(handler_is_kept),
      cmocka_unit_test(default_becomes_ignored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
