/* Server and service addresses: accepted and rejected forms, canonical
 * formatting and round trips, equality with an optional transport, IPv6,
 * Unix domain socket forms and alt-servers. */
#include <string.h>

#include "kit/kit.h"

static irpc_server_address *server(const char *uri) {
  irpc_server_address *a = NULL;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  return a;
}

/* Parses, formats to `canonical`, and parses the result to an equal
 * address. */
static void round_trip(const char *uri, const char *canonical) {
  irpc_server_address *a = server(uri);
  char buf[256];
  assert_irpc_ok(irpc_server_address_format(a, buf, sizeof(buf)));
  assert_string_equal(buf, canonical);
  irpc_server_address *b = server(buf);
  assert_true(irpc_server_address_equal(a, b));
  irpc_server_address *c;
  assert_irpc_ok(irpc_server_address_clone(&c, a));
  assert_true(irpc_server_address_equal(a, c));
  irpc_server_address_free(a);
  irpc_server_address_free(b);
  irpc_server_address_free(c);
}

static void test_server_accepted(void **state) {
  (void)state;
  irpc_server_address *a = server("icerpc://Example.COM");
  assert_string_equal(irpc_server_address_protocol(a), "icerpc");
  assert_string_equal(irpc_server_address_host(a), "example.com");
  assert_int_equal(irpc_server_address_port(a), 4062);
  assert_null(irpc_server_address_transport(a));
  assert_int_equal(irpc_server_address_param_count(a), 0);
  irpc_server_address_free(a);

  a = server("ICE://host:10000/?transport=tcp&t=5000&z&x=1&x=2");
  assert_string_equal(irpc_server_address_protocol(a), "ice");
  assert_int_equal(irpc_server_address_port(a), 10000);
  assert_string_equal(irpc_server_address_transport(a), "tcp");
  assert_string_equal(irpc_server_address_param(a, "t"), "5000");
  assert_string_equal(irpc_server_address_param(a, "z"), "");
  assert_string_equal(irpc_server_address_param(a, "x"), "1,2");
  assert_null(irpc_server_address_param(a, "transport"));
  assert_int_equal(irpc_server_address_param_count(a), 3);
  assert_string_equal(irpc_server_address_param_name(a, 2), "x");
  assert_null(irpc_server_address_param_name(a, 3));
  irpc_server_address_free(a);

  a = server("ice://h");
  assert_int_equal(irpc_server_address_port(a), 4061);
  irpc_server_address_free(a);
  a = server("icerpc://h:0");
  assert_int_equal(irpc_server_address_port(a), 0);
  irpc_server_address_free(a);
  a = server("icerpc://h:65535");
  assert_int_equal(irpc_server_address_port(a), 65535);
  irpc_server_address_free(a);
  a = server("icerpc://192.168.1.2:80");
  assert_string_equal(irpc_server_address_host(a), "192.168.1.2");
  irpc_server_address_free(a);
}

static void test_server_rejected(void **state) {
  (void)state;
  static const char *bad[] = {
      "",
      "icerpc",
      "icerpc:",
      "icerpc:/path",
      "icerpc://",
      "icerpc://:4062",
      "http://host",
      "icerpc://host/path",
      "icerpc://host#frag",
      "icerpc://host/#frag",
      "icerpc://user@host",
      "icerpc://host?alt-server=h2",
      "icerpc://host?=value",
      "icerpc://host?transport=",
      "icerpc://host?transport=tcp&transport=quic",
      "icerpc://host:",
      "icerpc://host:65536",
      "icerpc://host:123456",
      "icerpc://host:12a",
      "icerpc://ho st",
      "icerpc://host?x=a b",
      "icerpc://[::1",
      "icerpc://[zz::1]",
      "icerpc://[]",
      "icerpc://[::1]x",
      "icerpc://host?transport=uds",
      "icerpc://host?transport=uds&path=",
      "unix:",
      "unix://host/run/app.sock",
      "unix:/a?b",
      "unix-abstract:",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    irpc_server_address *a = NULL;
    int rc = irpc_server_address_parse(&a, bad[i]);
    if (rc != IRPC_EINVAL)
      fail_msg("accepted \"%s\" (%d)", bad[i], rc);
    assert_null(a);
  }
  irpc_server_address *a;
  assert_irpc_err(irpc_server_address_parse(NULL, "icerpc://h"), IRPC_EINVAL);
  assert_irpc_err(irpc_server_address_parse(&a, NULL), IRPC_EINVAL);
}

static void test_server_format(void **state) {
  (void)state;
  round_trip("icerpc://host:4062", "icerpc://host");
  round_trip("icerpc://host:4061", "icerpc://host:4061");
  round_trip("ice://host:4061", "ice://host");
  round_trip("icerpc://host/?b=2&transport=tcp&a=1",
             "icerpc://host?transport=tcp&b=2&a=1");
  round_trip("icerpc://[::1]:5000?transport=tcp",
             "icerpc://[::1]:5000?transport=tcp");
  round_trip("icerpc://[FE80::1]", "icerpc://[fe80::1]");
  round_trip("icerpc://name?transport=memory",
             "icerpc://name?transport=memory");

  irpc_server_address *a = server("icerpc://host:5000?transport=tcp");
  char small[10];
  assert_irpc_err(irpc_server_address_format(a, small, sizeof(small)),
                  UV_ENOBUFS);
  assert_string_equal(small, "icerpc://");
  char exact[33];
  assert_int_equal(strlen("icerpc://host:5000?transport=tcp") + 1,
                   sizeof(exact));
  assert_irpc_ok(irpc_server_address_format(a, exact, sizeof(exact)));
  assert_irpc_err(irpc_server_address_format(a, exact, sizeof(exact) - 1),
                  UV_ENOBUFS);
  irpc_server_address_free(a);
}

static void test_server_ipv6(void **state) {
  (void)state;
  irpc_server_address *a = server("icerpc://[::1]:5000");
  assert_string_equal(irpc_server_address_host(a), "::1");
  assert_int_equal(irpc_server_address_port(a), 5000);
  irpc_server_address_free(a);
  a = server("icerpc://[2001:db8::ff00:42:8329]");
  assert_string_equal(irpc_server_address_host(a), "2001:db8::ff00:42:8329");
  assert_int_equal(irpc_server_address_port(a), 4062);
  irpc_server_address_free(a);
  a = server("icerpc://[::ffff:127.0.0.1]:1");
  assert_string_equal(irpc_server_address_host(a), "::ffff:127.0.0.1");
  irpc_server_address_free(a);
}

static void test_server_equal(void **state) {
  (void)state;
  irpc_server_address *none = server("icerpc://host:1");
  irpc_server_address *tcp = server("icerpc://HOST:1?transport=tcp");
  irpc_server_address *quic = server("icerpc://host:1?transport=quic");
  irpc_server_address *other_port = server("icerpc://host:2?transport=tcp");
  irpc_server_address *ice = server("ice://host:1");
  irpc_server_address *p1 = server("icerpc://host:1?a=1&b=2");
  irpc_server_address *p2 = server("icerpc://host:1?b=2&a=1");
  irpc_server_address *p3 = server("icerpc://host:1?a=1");
  /* Unspecified transport matches any. */
  assert_true(irpc_server_address_equal(none, tcp));
  assert_true(irpc_server_address_equal(quic, none));
  assert_false(irpc_server_address_equal(tcp, quic));
  assert_false(irpc_server_address_equal(tcp, other_port));
  assert_false(irpc_server_address_equal(none, ice));
  assert_true(irpc_server_address_equal(p1, p2));
  assert_false(irpc_server_address_equal(p1, p3));
  assert_false(irpc_server_address_equal(p3, none));
  assert_false(irpc_server_address_equal(NULL, none));
  irpc_server_address *all[] = {none, tcp, quic, other_port, ice, p1, p2, p3};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    irpc_server_address_free(all[i]);
}

static void check_uds(const char *uri, const char *path) {
  irpc_server_address *a = server(uri);
  assert_string_equal(irpc_server_address_protocol(a), "icerpc");
  assert_string_equal(irpc_server_address_transport(a), "uds");
  assert_string_equal(irpc_server_address_param(a, "path"), path);
  irpc_server_address *b;
  char canonical[256];
  snprintf(canonical, sizeof(canonical),
           "icerpc://localhost?transport=uds&path=%s", path);
  assert_irpc_ok(irpc_server_address_parse(&b, canonical));
  assert_true(irpc_server_address_equal(a, b));
  char buf[256];
  assert_irpc_ok(irpc_server_address_format(a, buf, sizeof(buf)));
  assert_string_equal(buf, canonical);
  irpc_server_address_free(a);
  irpc_server_address_free(b);
}

static void test_server_uds(void **state) {
  (void)state;
  check_uds("icerpc://localhost?transport=uds&path=/run/app.sock",
            "/run/app.sock");
  check_uds("unix:/run/app.sock", "/run/app.sock");
  check_uds("unix:///run/app.sock", "/run/app.sock");
  check_uds("UNIX:relative.sock", "relative.sock");
  check_uds("unix-abstract:app", "@app");
  check_uds("unix:@app", "@app");
  check_uds("icerpc://localhost?transport=uds&path=@app", "@app");
  /* The host is informative. */
  irpc_server_address *a = server("icerpc://srv?transport=uds&path=/x.sock");
  assert_string_equal(irpc_server_address_host(a), "srv");
  irpc_server_address_free(a);
}

static void test_server_build(void **state) {
  (void)state;
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_new(&a, "icerpc", "h", 7, "tcp"));
  assert_irpc_ok(irpc_server_address_set_param(a, "k", "v"));
  assert_irpc_err(irpc_server_address_set_param(a, "transport", "x"),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_server_address_set_param(a, "", "x"), IRPC_EINVAL);
  /* What the URI form could not carry back. */
  static const char *const bad_values[] = {"a b",  "x&y", "x#y",
                                           "\x95", "a,b", "a$b"};
  for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++)
    assert_irpc_err(irpc_server_address_set_param(a, "r", bad_values[i]),
                    IRPC_EINVAL);
  assert_irpc_err(irpc_server_address_set_param(a, "a=b", "x"), IRPC_EINVAL);
  char buf[64];
  assert_irpc_ok(irpc_server_address_format(a, buf, sizeof(buf)));
  assert_string_equal(buf, "icerpc://h:7?transport=tcp&k=v");
  irpc_server_address_free(a);
  assert_irpc_err(irpc_server_address_new(&a, "http", "h", 1, NULL),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_server_address_new(&a, "ice", "h", 70000, NULL),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_server_address_new(&a, "ice", "", 1, NULL), IRPC_EINVAL);
  irpc_server_address_free(NULL);
}

static irpc_service_address *service(const char *uri) {
  irpc_service_address *s = NULL;
  assert_irpc_ok(irpc_service_address_parse(&s, uri));
  return s;
}

static void service_round_trip(const char *uri, const char *canonical) {
  irpc_service_address *s = service(uri);
  char buf[512];
  assert_irpc_ok(irpc_service_address_format(s, buf, sizeof(buf)));
  assert_string_equal(buf, canonical);
  irpc_service_address *t = service(buf);
  assert_int_equal(irpc_service_address_server_count(s),
                   irpc_service_address_server_count(t));
  for (size_t i = 0; i < irpc_service_address_server_count(s); i++)
    assert_true(irpc_server_address_equal(irpc_service_address_server(s, i),
                                          irpc_service_address_server(t, i)));
  char again[512];
  assert_irpc_ok(irpc_service_address_format(t, again, sizeof(again)));
  assert_string_equal(buf, again);
  irpc_service_address_free(s);
  irpc_service_address_free(t);
}

static void test_service_forms(void **state) {
  (void)state;
  irpc_service_address *s = service("icerpc://host:4000/hello/world?k=v");
  assert_string_equal(irpc_service_address_protocol(s), "icerpc");
  assert_string_equal(irpc_service_address_path(s), "/hello/world");
  assert_null(irpc_service_address_fragment(s));
  assert_int_equal(irpc_service_address_server_count(s), 1);
  const irpc_server_address *m = irpc_service_address_server(s, 0);
  assert_string_equal(irpc_server_address_host(m), "host");
  assert_int_equal(irpc_server_address_port(m), 4000);
  assert_string_equal(irpc_server_address_param(m, "k"), "v");
  assert_null(irpc_service_address_param(s, "k"));
  assert_null(irpc_service_address_server(s, 1));
  irpc_service_address_free(s);

  s = service("icerpc://host");
  assert_string_equal(irpc_service_address_path(s), "/");
  irpc_service_address_free(s);

  s = service("icerpc:/greeter?k=v&k=w");
  assert_int_equal(irpc_service_address_server_count(s), 0);
  assert_string_equal(irpc_service_address_path(s), "/greeter");
  assert_string_equal(irpc_service_address_param(s, "k"), "v,w");
  irpc_service_address_free(s);

  s = service("ice://host:10000/cat/name#facet");
  assert_string_equal(irpc_service_address_protocol(s), "ice");
  assert_string_equal(irpc_service_address_path(s), "/cat/name");
  assert_string_equal(irpc_service_address_fragment(s), "facet");
  irpc_service_address_free(s);

  s = service("ice:/greeter?adapter-id=x");
  assert_string_equal(irpc_service_address_param(s, "adapter-id"), "x");
  irpc_service_address_free(s);

  s = service("/relative");
  assert_null(irpc_service_address_protocol(s));
  assert_string_equal(irpc_service_address_path(s), "/relative");
  irpc_service_address_free(s);
}

static void test_service_alt_servers(void **state) {
  (void)state;
  irpc_service_address *s = service(
      "icerpc://h1:1/p?transport=tcp&alt-server=h2:2,[::1]:3?transport=tcp$a=b"
      "&x=y&alt-server=h4");
  assert_int_equal(irpc_service_address_server_count(s), 4);
  const irpc_server_address *a = irpc_service_address_server(s, 0);
  assert_string_equal(irpc_server_address_host(a), "h1");
  assert_string_equal(irpc_server_address_transport(a), "tcp");
  assert_string_equal(irpc_server_address_param(a, "x"), "y");
  a = irpc_service_address_server(s, 1);
  assert_string_equal(irpc_server_address_host(a), "h2");
  assert_int_equal(irpc_server_address_port(a), 2);
  assert_null(irpc_server_address_transport(a));
  a = irpc_service_address_server(s, 2);
  assert_string_equal(irpc_server_address_host(a), "::1");
  assert_int_equal(irpc_server_address_port(a), 3);
  assert_string_equal(irpc_server_address_transport(a), "tcp");
  assert_string_equal(irpc_server_address_param(a, "a"), "b");
  a = irpc_service_address_server(s, 3);
  assert_string_equal(irpc_server_address_host(a), "h4");
  assert_string_equal(irpc_server_address_protocol(a), "icerpc");
  irpc_service_address_free(s);

  s = service("ice://h1/p?alt-server=h2");
  assert_string_equal(
      irpc_server_address_protocol(irpc_service_address_server(s, 1)), "ice");
  assert_int_equal(irpc_server_address_port(irpc_service_address_server(s, 1)),
                   4061);
  irpc_service_address_free(s);
}

static void test_service_format(void **state) {
  (void)state;
  service_round_trip("icerpc://h1:4062/p?transport=tcp&k=v",
                     "icerpc://h1/p?transport=tcp&k=v");
  service_round_trip("icerpc://h1:1/p?alt-server=h2:2,[::1]?transport=tcp$a=b",
                     "icerpc://h1:1/p?alt-server=h2:2,[::1]?transport=tcp$a=b");
  service_round_trip("icerpc:/greeter?k=v", "icerpc:/greeter?k=v");
  service_round_trip("ice://h/cat/name#facet", "ice://h/cat/name#facet");
  service_round_trip("/rel", "/rel");
  irpc_service_address *s = service("icerpc://host/p");
  char small[8];
  assert_irpc_err(irpc_service_address_format(s, small, sizeof(small)),
                  UV_ENOBUFS);
  irpc_service_address_free(s);
}

static void test_service_rejected(void **state) {
  (void)state;
  static const struct {
    const char *uri;
    int err;
  } bad[] = {
      {"", IRPC_EINVAL},
      {"http://host/p", IRPC_EINVAL},
      {"icerpc", IRPC_EINVAL},
      {"icerpc:", IRPC_EPATH},
      {"icerpc:p", IRPC_EPATH},
      {"icerpc://host/p#frag", IRPC_EINVAL},
      {"icerpc:/p#frag", IRPC_EINVAL},
      {"icerpc://host/a^b", IRPC_EPATH},
      {"icerpc://host/a|b", IRPC_EPATH},
      {"icerpc://user@host/p", IRPC_EINVAL},
      {"icerpc://host:99999/p", IRPC_EINVAL},
      {"icerpc://host/p?=v", IRPC_EINVAL},
      {"icerpc://host/p?alt-server=", IRPC_EINVAL},
      {"icerpc://host/p?alt-server=h2,,h3", IRPC_EINVAL},
      {"icerpc://host/p?alt-server=h2?alt-server=h3", IRPC_EINVAL},
      {"icerpc://host/p?transport=tcp&transport=tcp", IRPC_EINVAL},
      {"icerpc:/p?transport=tcp", IRPC_EINVAL},
      {"icerpc:/p?alt-server=h", IRPC_EINVAL},
      {"ice:/p?k=v", IRPC_EINVAL},
      {"ice:/p?adapter-id=", IRPC_EINVAL},
      {"ice://host/a/b/c", IRPC_EINVAL},
      {"/p?k=v", IRPC_EINVAL},
      {"icerpc://host/p q", IRPC_EINVAL},
      {"icerpc://host/p?transport=uds", IRPC_EINVAL},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    irpc_service_address *s = NULL;
    int rc = irpc_service_address_parse(&s, bad[i].uri);
    if (rc != bad[i].err)
      fail_msg("\"%s\": got %s, want %s", bad[i].uri, irpc_err_name(rc),
               irpc_err_name(bad[i].err));
    assert_null(s);
  }
}

/* Every allocation failure during parsing is reported, without leaks. */
static void test_parse_out_of_memory(void **state) {
  (void)state;
  static const char *uris[] = {
      "icerpc://h1:1/p?transport=tcp&a=1&a=2&alt-server=h2?x=y$z=w,h3",
      "unix-abstract:app",
  };
  for (size_t u = 0; u < 2; u++) {
    for (long n = 1;; n++) {
      long live = test_alloc.live;
      test_alloc.fail_at = n;
      irpc_service_address *s = NULL;
      irpc_server_address *a = NULL;
      int rc = u == 0 ? irpc_service_address_parse(&s, uris[u])
                      : irpc_server_address_parse(&a, uris[u]);
      test_alloc.fail_at = 0;
      irpc_service_address_free(s);
      irpc_server_address_free(a);
      assert_int_equal(test_alloc.live, live);
      if (rc == 0)
        break;
      assert_irpc_err(rc, IRPC_ENOMEM);
    }
  }
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_accepted),
      cmocka_unit_test(test_server_rejected),
      cmocka_unit_test(test_server_format),
      cmocka_unit_test(test_server_ipv6),
      cmocka_unit_test(test_server_equal),
      cmocka_unit_test(test_server_uds),
      cmocka_unit_test(test_server_build),
      cmocka_unit_test(test_service_forms),
      cmocka_unit_test(test_service_alt_servers),
      cmocka_unit_test(test_service_format),
      cmocka_unit_test(test_service_rejected),
      cmocka_unit_test(test_parse_out_of_memory),
  };
  return cmocka_run_group_tests_name("address", tests, NULL, NULL);
}
