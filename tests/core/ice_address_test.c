/* Addresses as Ice users write them: ice:// URIs with identities and
 * facets, Ice 3.7 stringified proxies parsed into service addresses and
 * written back, their round trips, malformed strings, and, when ZeroC's
 * Python Ice is installed, Ice's own reading of what irpc writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kit/kit.h"

static irpc_service_address *proxy(const char *s, irpc_ice_proxy_info *info) {
  irpc_service_address *a = NULL;
  int rc = irpc_service_address_parse_ice_proxy(&a, s, info);
  if (rc)
    fail_msg("%s: %s", s, irpc_strerror(rc));
  return a;
}

static irpc_service_address *uri(const char *s) {
  irpc_service_address *a = NULL;
  assert_irpc_ok(irpc_service_address_parse(&a, s));
  return a;
}

/* The canonical URI of `a`, in a static buffer. */
static const char *as_uri(const irpc_service_address *a) {
  static char buf[1024];
  assert_irpc_ok(irpc_service_address_format(a, buf, sizeof(buf)));
  return buf;
}

/* Parses `s` as an Ice proxy and checks its canonical URI. */
static void check_proxy(const char *s, const char *want) {
  irpc_service_address *a = proxy(s, NULL);
  assert_string_equal(as_uri(a), want);
  irpc_service_address_free(a);
}

static void check_identity(const char *path, const char *name,
                           const char *category) {
  char *n = NULL, *c = NULL;
  assert_irpc_ok(irpc_ice_identity_from_path(path, &n, &c));
  assert_string_equal(n, name);
  assert_string_equal(c, category);
  char back[256];
  assert_irpc_ok(irpc_ice_identity_to_path(n, c, back, sizeof(back)));
  char *n2 = NULL, *c2 = NULL;
  assert_irpc_ok(irpc_ice_identity_from_path(back, &n2, &c2));
  assert_string_equal(n2, name);
  assert_string_equal(c2, category);
  irpc_free(n);
  irpc_free(c);
  irpc_free(n2);
  irpc_free(c2);
}

static void test_identity_paths(void **state) {
  (void)state;
  check_identity("/hello", "hello", "");
  check_identity("/BenchGrid/Locator", "Locator", "BenchGrid");
  check_identity("//name", "name", "");
  check_identity("/a%20b/c%2Fd", "c/d", "a b");
  check_identity("/n%C3%A9", "n\xc3\xa9", "");
  check_identity("/a:b@c", "a:b@c", "");

  char buf[64];
  assert_irpc_ok(irpc_ice_identity_to_path("c/d", "a b", buf, sizeof(buf)));
  assert_string_equal(buf, "/a%20b/c%2Fd");
  assert_irpc_ok(irpc_ice_identity_to_path("x%y#z?", NULL, buf, sizeof(buf)));
  assert_string_equal(buf, "/x%25y%23z%3F");
  assert_irpc_ok(irpc_path_check(buf));
  assert_irpc_err(irpc_ice_identity_to_path("hello", "", buf, 4), UV_ENOBUFS);
  assert_string_equal(buf, "/he");
  assert_irpc_err(irpc_ice_identity_to_path("", NULL, buf, sizeof(buf)),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_ice_identity_to_path(NULL, NULL, buf, sizeof(buf)),
                  IRPC_EINVAL);

  static const char *const bad[] = {"hello", "/",    "/a/b/c", "/a/", "/%zz",
                                    "/%4",   "/%00", "/%FF",   "/a%", "/c/%G1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *n = NULL, *c = NULL;
    int rc = irpc_ice_identity_from_path(bad[i], &n, &c);
    if (rc != IRPC_EINVAL)
      fail_msg("%s: %d", bad[i], rc);
    assert_null(n);
    assert_null(c);
  }
}

static void test_ice_uris(void **state) {
  (void)state;
  irpc_service_address *s = uri("ice://Host/hello");
  const irpc_server_address *m = irpc_service_address_server(s, 0);
  assert_int_equal(irpc_server_address_port(m), IRPC_ICE_DEFAULT_PORT);
  assert_string_equal(irpc_server_address_host(m), "host");
  irpc_service_address_free(s);

  s = uri("icerpc://host/hello");
  assert_int_equal(irpc_server_address_port(irpc_service_address_server(s, 0)),
                   IRPC_ICERPC_DEFAULT_PORT);
  irpc_service_address_free(s);

  /* ssl is reserved for TLS: parsed and kept. */
  s = uri("ice://host:10000/cat/name?transport=ssl#fa%20cet");
  m = irpc_service_address_server(s, 0);
  assert_string_equal(irpc_server_address_transport(m), "ssl");
  assert_int_equal(irpc_server_address_port(m), 10000);
  assert_string_equal(as_uri(s), "ice://host:10000/cat/name?transport=ssl#"
                                 "fa%20cet");
  char *facet = NULL;
  assert_irpc_ok(irpc_service_address_ice_facet(s, &facet));
  assert_string_equal(facet, "fa cet");
  irpc_free(facet);
  irpc_service_address_free(s);

  s = uri("ice:/hello?adapter-id=BenchAdapter");
  assert_int_equal(irpc_service_address_server_count(s), 0);
  assert_string_equal(irpc_service_address_param(s, "adapter-id"),
                      "BenchAdapter");
  assert_irpc_ok(irpc_service_address_ice_facet(s, &facet));
  assert_string_equal(facet, "");
  irpc_free(facet);
  irpc_service_address_free(s);

  static const char *const bad[] = {"ice://h/a%2", "ice://h/p#%zz",
                                    "ice:/%4g",    "ice:/a/b/c",
                                    "ice:/p?x=1",  "ice:/p?adapter-id="};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    irpc_service_address *b = NULL;
    int rc = irpc_service_address_parse(&b, bad[i]);
    if (rc != IRPC_EINVAL)
      fail_msg("%s: %d", bad[i], rc);
    assert_null(b);
  }
  /* An icerpc path may hold '%' as it likes. */
  s = uri("icerpc://h/a%zz");
  irpc_service_address_free(s);
}

static void test_proxy_forms(void **state) {
  (void)state;
  check_proxy("hello:tcp -h host -p 10000 -t 60000",
              "ice://host:10000/hello?transport=tcp&t=60000");
  check_proxy("echo -t -e 1.1:tcp -h 127.0.0.1 -p 10000 -t 60000",
              "ice://127.0.0.1:10000/echo?transport=tcp&t=60000");
  check_proxy("BenchGrid/Locator:tcp -h 127.0.0.1 -p 4061",
              "ice://127.0.0.1/BenchGrid/Locator?transport=tcp");
  check_proxy("SimplePrinter:default -p 10000", "ice://[::0]:10000/"
                                                "SimplePrinter");
  check_proxy("echo@BenchAdapter", "ice:/echo?adapter-id=BenchAdapter");
  check_proxy("echo @ BenchAdapter", "ice:/echo?adapter-id=BenchAdapter");
  check_proxy("echo", "ice:/echo");
  check_proxy("  echo \t", "ice:/echo");
  check_proxy("hello:tcp -h h1 -p 1:ssl -h h2 -p 2 -z:default -p 3",
              "ice://h1:1/hello?transport=tcp&alt-server=h2:2?transport=ssl$z="
              ",[::0]:3");
  check_proxy("MyProxy -t:tcp -h 192.168.0.1 -p 10000 -t 5000:udp -h 10.0.0.1 "
              "-p 10001",
              "ice://192.168.0.1:10000/MyProxy?transport=tcp&t=5000&alt-server"
              "=10.0.0.1:10001?transport=udp");
  check_proxy("\"my id\":tcp -h h -p 1", "ice://h:1/my%20id?transport=tcp");
  check_proxy("\"cat/na:me\" @ \"my adapter\"",
              "ice:/cat/na:me?adapter-id=my adapter");
  check_proxy("a\\/b:tcp -h h", "ice://h/a%2Fb?transport=tcp");
  check_proxy("c\\x41t/n\\u00e9", "ice:/cAt/n%C3%A9");
  check_proxy("c\\101t/\\'q\\'\\t", "ice:/cAt/'q'%09");
  check_proxy("/name", "ice:/name");
  check_proxy("hello:tcp -h \"::1\" -p 10000", "ice://[::1]:10000/hello?"
                                               "transport=tcp");
  check_proxy("hello:tcp -h * -p 1", "ice://[::0]:1/hello?transport=tcp");
  check_proxy("hello:ws -h h -p 80 -r /path -t 100",
              "ice://h:80/hello?transport=ws&resource=/path&t=100");
  check_proxy("hello:udp -h 239.255.1.1 -p 10000 --ttl 5 -c",
              "ice://239.255.1.1:10000/hello?transport=udp&ttl=5&c=");
  check_proxy("hello:tcp -h h -t infinite --sourceAddress 10.0.0.2",
              "ice://h/hello?transport=tcp&t=infinite&source-address=10.0.0.2");
  check_proxy("hello -f \"a b\":tcp -h H.Example.COM",
              "ice://h.example.com/hello?transport=tcp#a%20b");
  check_proxy("hello -f fac -o -s -e 1.0 -p 1.0:tcp -h h",
              "ice://h/hello?transport=tcp#fac");
  check_proxy("id:tcp -h \"fe80::1:2\" -p 1",
              "ice://[fe80::1:2]:1/id?transport=tcp");
}

static void test_proxy_info(void **state) {
  (void)state;
  irpc_ice_proxy_info info;
  irpc_ice_proxy_info_init(&info);
  assert_int_equal(info.struct_size, sizeof(info));
  assert_int_equal(info.mode, IRPC_ICE_PROXY_TWOWAY);
  irpc_service_address *a =
      proxy("hello -f fac -o -s -e 1.0 -p 1.0:tcp -h h -z", &info);
  assert_int_equal(info.mode, IRPC_ICE_PROXY_ONEWAY);
  assert_int_equal(info.secure, 1);
  assert_int_equal(info.compress, 1);
  assert_int_equal(info.encoding_major, 1);
  assert_int_equal(info.encoding_minor, 0);
  irpc_service_address_free(a);

  static const struct {
    const char *s;
    irpc_ice_proxy_mode mode;
  } modes[] = {{"x -t", IRPC_ICE_PROXY_TWOWAY},
               {"x -o", IRPC_ICE_PROXY_ONEWAY},
               {"x -O", IRPC_ICE_PROXY_BATCH_ONEWAY},
               {"x -d", IRPC_ICE_PROXY_DATAGRAM},
               {"x -D", IRPC_ICE_PROXY_BATCH_DATAGRAM},
               {"x -D -t", IRPC_ICE_PROXY_TWOWAY}};
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    irpc_ice_proxy_info_init(&info);
    a = proxy(modes[i].s, &info);
    assert_int_equal(info.mode, modes[i].mode);
    assert_int_equal(info.secure, 0);
    assert_int_equal(info.compress, 0);
    assert_int_equal(info.encoding_minor, 1);
    irpc_service_address_free(a);
  }
  /* An info that was not initialised is refused. */
  memset(&info, 0, sizeof(info));
  assert_irpc_err(irpc_service_address_parse_ice_proxy(&a, "x", &info),
                  IRPC_EINVAL);
  /* A failed parse leaves the info as it was. */
  irpc_ice_proxy_info_init(&info);
  assert_irpc_err(irpc_service_address_parse_ice_proxy(&a, "x -o -q", &info),
                  IRPC_EINVAL);
  assert_int_equal(info.mode, IRPC_ICE_PROXY_TWOWAY);
}

static void test_proxy_malformed(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int err;
  } bad[] = {
      {"", IRPC_EINVAL},
      {"   ", IRPC_EINVAL},
      {":tcp -h h", IRPC_EINVAL},
      {"@a", IRPC_EINVAL},
      {"\"unterminated", IRPC_EINVAL},
      {"\"a\"b:tcp", IRPC_EINVAL},
      {"\"\"", IRPC_EINVAL},
      {"a/b/c", IRPC_EINVAL},
      {"cat/", IRPC_EINVAL},
      {"a\\q", IRPC_EINVAL},
      {"a\\", IRPC_EINVAL},
      {"a\\x4", IRPC_EINVAL},
      {"a\\u00", IRPC_EINVAL},
      {"a\\ud800", IRPC_EINVAL},
      {"a\\400", IRPC_EINVAL},
      {"a\\0", IRPC_EINVAL},
      {"a\\xff", IRPC_EINVAL}, /* not UTF-8 */
      {"hello -x", IRPC_EINVAL},
      {"hello -tt", IRPC_EINVAL},
      {"hello x", IRPC_EINVAL},
      {"hello -f", IRPC_EINVAL},
      {"hello -f \"a", IRPC_EINVAL},
      {"hello -t x", IRPC_EINVAL},
      {"hello -e 2.0", IRPC_EINVAL},
      {"hello -e 1", IRPC_EINVAL},
      {"hello -e 1.x", IRPC_EINVAL},
      {"hello -e", IRPC_EINVAL},
      {"hello -p 1.1", IRPC_EINVAL},
      {"hello:", IRPC_EINVAL},
      {"hello: ", IRPC_EINVAL},
      {"hello:tcp -h h:", IRPC_EINVAL},
      {"hello:foo -h h", IRPC_EINVAL},
      {"hello:tcp -p 70000", IRPC_EINVAL},
      {"hello:tcp -p x", IRPC_EINVAL},
      {"hello:tcp -p", IRPC_EINVAL},
      {"hello:tcp -p 1 -p 2", IRPC_EINVAL},
      {"hello:tcp -t 0", IRPC_EINVAL},
      {"hello:tcp -t abc", IRPC_EINVAL},
      {"hello:tcp -t 1 -t 2", IRPC_EINVAL},
      {"hello:tcp -q", IRPC_EINVAL},
      {"hello:tcp -h", IRPC_EINVAL},
      {"hello:tcp -h a -h b", IRPC_EINVAL},
      {"hello:tcp -h ho st", IRPC_EINVAL},
      {"hello:tcp -h h@a", IRPC_EINVAL},
      {"hello:tcp -h \"[::1]\"", IRPC_EINVAL},
      {"hello:tcp -h \"1::2::3\"", IRPC_EINVAL},
      {"hello:tcp -z 1", IRPC_EINVAL},
      {"hello:tcp -r /x", IRPC_EINVAL},
      {"hello:udp -h h -t 5", IRPC_EINVAL},
      {"hello:udp -h h --ttl 300", IRPC_EINVAL},
      {"hello@", IRPC_EINVAL},
      {"hello @ ", IRPC_EINVAL},
      {"hello @ a b", IRPC_EINVAL},
      {"hello @ \"\"", IRPC_EINVAL},
      {"hello@a:tcp -h h", IRPC_EINVAL},
      {"hello:tcp -h h@a", IRPC_EINVAL},
      {"hello:opaque -t 1 -e 1.1 -v CTEyNy4wLjAuMeouAAAQJwAAAA==",
       IRPC_ENOTSUP},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    irpc_service_address *a = NULL;
    int rc = irpc_service_address_parse_ice_proxy(&a, bad[i].s, NULL);
    if (rc != bad[i].err)
      fail_msg("'%s': %s, expected %s", bad[i].s, irpc_err_name(rc),
               irpc_err_name(bad[i].err));
    assert_null(a);
  }
  irpc_service_address *a = NULL;
  assert_irpc_err(irpc_service_address_parse_ice_proxy(NULL, "x", NULL),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_service_address_parse_ice_proxy(&a, NULL, NULL),
                  IRPC_EINVAL);

  /* 32 endpoints parse, 33 do not. */
  char many[2048] = "many";
  for (int i = 0; i < 33; i++) {
    char ep[32];
    snprintf(ep, sizeof(ep), ":tcp -p %d", 1000 + i);
    strcat(many, ep);
    int rc = irpc_service_address_parse_ice_proxy(&a, many, NULL);
    if (i < 32) {
      assert_irpc_ok(rc);
      assert_int_equal(irpc_service_address_server_count(a), (size_t)i + 1);
      irpc_service_address_free(a);
    } else {
      assert_irpc_err(rc, IRPC_ELIMIT);
    }
  }
}

/* Equal service addresses: path, facet, adapter id, and server addresses
 * equal under irpc_server_address_equal (an unspecified transport matches
 * any: Ice's "default" endpoint is written back as "tcp"). */
static void same_address(const irpc_service_address *a,
                         const irpc_service_address *b) {
  assert_string_equal(irpc_service_address_path(a),
                      irpc_service_address_path(b));
  const char *fa = irpc_service_address_fragment(a);
  const char *fb = irpc_service_address_fragment(b);
  assert_string_equal(fa ? fa : "", fb ? fb : "");
  const char *aa = irpc_service_address_param(a, "adapter-id");
  const char *ab = irpc_service_address_param(b, "adapter-id");
  assert_string_equal(aa ? aa : "", ab ? ab : "");
  size_t n = irpc_service_address_server_count(a);
  assert_int_equal(irpc_service_address_server_count(b), n);
  for (size_t i = 0; i < n; i++)
    assert_true(irpc_server_address_equal(irpc_service_address_server(a, i),
                                          irpc_service_address_server(b, i)));
}

/* Parses `s`, writes it as an Ice proxy (checked against `want`), and
 * parses that to the same address. */
static void proxy_round_trip(const char *s, const char *want) {
  irpc_ice_proxy_info info;
  irpc_ice_proxy_info_init(&info);
  irpc_service_address *a = proxy(s, &info);
  char buf[512];
  assert_irpc_ok(
      irpc_service_address_format_ice_proxy(a, &info, buf, sizeof(buf)));
  assert_string_equal(buf, want);
  irpc_ice_proxy_info info2;
  irpc_ice_proxy_info_init(&info2);
  irpc_service_address *b = proxy(buf, &info2);
  same_address(a, b);
  assert_memory_equal(&info, &info2, sizeof(info));
  irpc_service_address_free(a);
  irpc_service_address_free(b);
}

static void test_proxy_format(void **state) {
  (void)state;
  proxy_round_trip("hello:tcp -h host -p 10000 -t 60000",
                   "hello -t -e 1.1:tcp -h host -p 10000 -t 60000");
  proxy_round_trip("echo -t -e 1.1:tcp -h 127.0.0.1 -p 10000 -t 60000",
                   "echo -t -e 1.1:tcp -h 127.0.0.1 -p 10000 -t 60000");
  proxy_round_trip("echo@BenchAdapter", "echo -t -e 1.1 @ BenchAdapter");
  proxy_round_trip("echo", "echo -t -e 1.1");
  proxy_round_trip("\"my id\" -f \"a b\" -O -s:tcp -h \"::1\" -p 5 -z",
                   "\"my id\" -f \"a b\" -O -s -e 1.1:tcp -h \"::1\" -p 5 -z");
  proxy_round_trip("a\\/b/c\\\"d\\\\e", "a\\/b/c\\\"d\\\\e -t -e 1.1");
  proxy_round_trip("c/n\\u00e9\\t", "c/n\xc3\xa9\\t -t -e 1.1");
  proxy_round_trip("x @ \"my adapter\"", "x -t -e 1.1 @ \"my adapter\"");
  proxy_round_trip("x:ws -h h -p 80 -r /p:udp -h 239.0.0.1 -p 9 -c --ttl 2"
                   ":default -p 3",
                   "x -t -e 1.1:ws -h h -p 80 -r /p:udp -h 239.0.0.1 -p 9 -c "
                   "--ttl 2:tcp -h \"::0\" -p 3");
  proxy_round_trip("x -e 1.0", "x -t -e 1.0");

  /* From a URI. */
  irpc_service_address *s = uri("ice://h:7/cat/na%20me?t=100#f");
  char buf[256];
  assert_irpc_ok(
      irpc_service_address_format_ice_proxy(s, NULL, buf, sizeof(buf)));
  assert_string_equal(buf, "\"cat/na me\" -f f -t -e 1.1:tcp -h h -p 7 -t 100");
  assert_irpc_err(irpc_service_address_format_ice_proxy(s, NULL, buf, 10),
                  UV_ENOBUFS);
  assert_string_equal(buf, "\"cat/na m");
  irpc_service_address_free(s);

  static const struct {
    const char *uri;
    int err;
  } bad[] = {
      {"icerpc://h/p", IRPC_EINVAL},
      {"/p", IRPC_EINVAL},
      {"ice://h/", IRPC_EINVAL},
      {"ice://localhost/p?transport=uds&path=/run/a.sock", IRPC_ENOTSUP},
      {"ice://m/p?transport=memory", IRPC_ENOTSUP},
      {"ice://h/p?k=v", IRPC_ENOTSUP},
      {"ice://h/p?z=1", IRPC_ENOTSUP},
      {"ice://h/p?transport=udp&t=5", IRPC_ENOTSUP},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    s = uri(bad[i].uri);
    int rc = irpc_service_address_format_ice_proxy(s, NULL, buf, sizeof(buf));
    if (rc != bad[i].err)
      fail_msg("%s: %s", bad[i].uri, irpc_err_name(rc));
    irpc_service_address_free(s);
  }
}

/* ZeroC's own reading: Python Ice parses every proxy irpc writes and
 * writes it back; irpc parses Ice's text to the same address. */
static void test_ice_reads_ours(void **state) {
  (void)state;
  if (access("/usr/bin/python3", X_OK) != 0 ||
      system("/usr/bin/python3 -c 'import Ice' >/dev/null 2>&1") != 0)
    skip();
  static const char *const proxies[] = {
      "hello:tcp -h host -p 10000 -t 60000",
      "echo@BenchAdapter",
      "echo",
      "\"my id\" -f \"a b\" -o:tcp -h \"::1\" -p 5 -t 60000 -z",
      "a\\/b/c\\\"d\\\\e:tcp -h h -p 1 -t 60000",
      "c/n\\u00e9\\t:tcp -h h -p 2 -t 1000",
      "x @ \"my adapter\"",
      "x:tcp -h h1 -p 1 -t 5:tcp -h h2 -p 2 -t infinite",
  };
  char path[] = "/tmp/irpc_ice_proxiesXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  size_t n = sizeof(proxies) / sizeof(proxies[0]);
  char ours[8][512];
  for (size_t i = 0; i < n; i++) {
    irpc_service_address *a = proxy(proxies[i], NULL);
    assert_irpc_ok(irpc_service_address_format_ice_proxy(a, NULL, ours[i],
                                                         sizeof(ours[i])));
    fprintf(f, "%s\n", ours[i]);
    irpc_service_address_free(a);
  }
  fclose(f);
  char cmd[512];
  snprintf(cmd, sizeof(cmd),
           "/usr/bin/python3 -c 'import sys, Ice\n"
           "c = Ice.initialize()\n"
           "for l in open(sys.argv[1]):\n"
           "  print(c.proxyToString(c.stringToProxy(l.rstrip(\"\\n\"))))\n"
           "c.destroy()' %s",
           path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char line[512];
  size_t got = 0;
  while (fgets(line, sizeof(line), p)) {
    line[strcspn(line, "\n")] = '\0';
    assert_true(got < n);
    irpc_service_address *mine = proxy(ours[got], NULL);
    irpc_service_address *theirs = proxy(line, NULL);
    char u[1024];
    snprintf(u, sizeof(u), "%s", as_uri(mine));
    if (strcmp(as_uri(theirs), u) != 0)
      fail_msg("irpc wrote '%s', Ice read it as '%s'", ours[got], line);
    irpc_service_address_free(mine);
    irpc_service_address_free(theirs);
    got++;
  }
  assert_int_equal(pclose(p), 0);
  unlink(path);
  assert_int_equal(got, n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identity_paths),
      cmocka_unit_test(test_ice_uris),
      cmocka_unit_test(test_proxy_forms),
      cmocka_unit_test(test_proxy_info),
      cmocka_unit_test(test_proxy_malformed),
      cmocka_unit_test(test_proxy_format),
      cmocka_unit_test(test_ice_reads_ours),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
