/* libFuzzer target for the address parsers: Ice 3.7 stringified proxies
 * and ice URIs (core/model/address_ice.c, core/model/address.c).
 *
 * The input is a NUL-free string. Checks, beyond the sanitizers:
 *   - a proxy that parses writes back as an Ice proxy, or is refused
 *     with IRPC_ENOTSUP (an option value the text form cannot hold), and
 *     that text parses again;
 *     one more round gives the same text and the same URI (the writer
 *     reaches a fixed point after one round);
 *   - the URI of a parsed address parses as a URI and formats to the same
 *     text;
 *   - an ice path the URI parser accepts that converts to an identity
 *     converts back to a path that converts to the same identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irpc/irpc.h"

#define BUF 8192

static void check(int cond) {
  if (!cond)
    abort();
}

static void proxy_rounds(const char *s) {
  irpc_service_address *a = NULL, *b = NULL, *c = NULL;
  irpc_ice_proxy_info info;
  irpc_ice_proxy_info_init(&info);
  if (irpc_service_address_parse_ice_proxy(&a, s, &info))
    return;
  static char p1[BUF], p2[BUF], u1[BUF], u2[BUF], u3[BUF];
  int rc = irpc_service_address_format_ice_proxy(a, &info, p1, BUF);
  if (rc == IRPC_ENOTSUP) { /* an endpoint option Ice's text cannot hold */
    irpc_service_address_free(a);
    return;
  }
  check(rc == 0);
  irpc_ice_proxy_info info2;
  irpc_ice_proxy_info_init(&info2);
  check(irpc_service_address_parse_ice_proxy(&b, p1, &info2) == 0);
  check(irpc_service_address_format_ice_proxy(b, &info2, p2, BUF) == 0);
  check(irpc_service_address_parse_ice_proxy(&c, p2, NULL) == 0);
  check(irpc_service_address_format(b, u1, BUF) == 0);
  check(irpc_service_address_format(c, u2, BUF) == 0);
  check(strcmp(u1, u2) == 0);
  static char p3[BUF];
  check(irpc_service_address_format_ice_proxy(c, &info2, p3, BUF) == 0);
  check(strcmp(p2, p3) == 0);
  /* The URI of a parsed proxy is a URI. */
  irpc_service_address *d = NULL;
  check(irpc_service_address_parse(&d, u1) == 0);
  check(irpc_service_address_format(d, u3, BUF) == 0);
  check(strcmp(u1, u3) == 0);
  irpc_service_address_free(a);
  irpc_service_address_free(b);
  irpc_service_address_free(c);
  irpc_service_address_free(d);
}

static void uri_rounds(const char *s) {
  irpc_service_address *a = NULL;
  if (irpc_service_address_parse(&a, s))
    return;
  const char *proto = irpc_service_address_protocol(a);
  char *name = NULL, *category = NULL;
  if (proto && strcmp(proto, "ice") == 0 &&
      irpc_ice_identity_from_path(irpc_service_address_path(a), &name,
                                  &category) == 0) {
    static char path[BUF];
    check(irpc_ice_identity_to_path(name, category, path, BUF) == 0);
    char *n2 = NULL, *c2 = NULL;
    check(irpc_ice_identity_from_path(path, &n2, &c2) == 0);
    check(strcmp(name, n2) == 0 && strcmp(category, c2) == 0);
    irpc_free(n2);
    irpc_free(c2);
    static char text[BUF];
    int rc = irpc_service_address_format_ice_proxy(a, NULL, text, BUF);
    check(rc == 0 || rc == IRPC_ENOTSUP || rc == IRPC_EINVAL);
    if (rc == 0)
      proxy_rounds(text);
  }
  irpc_free(name);
  irpc_free(category);
  irpc_service_address_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size >= BUF / 8)
    return 0;
  char s[BUF / 8 + 1];
  memcpy(s, data, size);
  s[size] = '\0';
  if (strlen(s) != size)
    return 0;
  proxy_rounds(s);
  uri_rounds(s);
  return 0;
}
