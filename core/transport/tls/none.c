/* The TLS API in a build without TLS (IRPC_WITH_TLS off): every context
 * and transport constructor answers IRPC_ENOTSUP, so no connection ever
 * carries TLS settings. */
#include <string.h>

#include "base/struct_size.h"
#include "irpc/error.h"
#include "irpc/tls.h"
#include "transport/tls/tls_internal.h"

void irpc_tls_options_init_sized(irpc_tls_options *o, size_t size) {
  irpc_tls_options d;
  memset(&d, 0, sizeof(d));
  d.verify_peer = 1;
  d.verify_host = 1;
  d.min_version = IRPC_TLS_1_2;
  d.session_cache_size = 64;
  d.handshake_timeout_ms = 10000;
  irpc__struct_export(o, size, &d, sizeof(d));
}

int irpc_tls_available(void) {
  return 0;
}

int irpc_tls_client_new(irpc_tls_client **out, const irpc_tls_options *o) {
  return !out || !o ? IRPC_EINVAL : IRPC_ENOTSUP;
}

void irpc_tls_client_free(irpc_tls_client *c) {
  (void)c;
}

int irpc_tls_server_new(irpc_tls_server **out, const irpc_tls_options *o) {
  return !out || !o ? IRPC_EINVAL : IRPC_ENOTSUP;
}

void irpc_tls_server_free(irpc_tls_server *s) {
  (void)s;
}

int irpc_tls_server_set_certificate(irpc_tls_server *s,
                                    const irpc_tls_options *o) {
  return !s || !o ? IRPC_EINVAL : IRPC_ENOTSUP;
}

int irpc_transport_tls_new(irpc_transport **out, irpc_transport *inner,
                           irpc_tls_client *client, irpc_tls_server *server) {
  (void)inner;
  return !out || (!client && !server) ? IRPC_EINVAL : IRPC_ENOTSUP;
}

irpc_transport *irpc_tls_client_transport(irpc_tls_client *c,
                                          irpc_transport *inner,
                                          uint64_t handshake_timeout_ms) {
  (void)c;
  (void)inner;
  (void)handshake_timeout_ms;
  return NULL;
}

irpc_transport *irpc_tls_server_transport(irpc_tls_server *s,
                                          irpc_transport *inner,
                                          uint64_t handshake_timeout_ms) {
  (void)s;
  (void)inner;
  (void)handshake_timeout_ms;
  return NULL;
}

int irpc__tls_handshaking(const irpc_duplex *d) {
  (void)d;
  return 0;
}

int irpc__tls_server_unwrap(irpc_transport *t, const irpc_server_address *a,
                            irpc_transport **inner,
                            irpc_server_address **inner_addr) {
  (void)t;
  (void)a;
  *inner = NULL;
  *inner_addr = NULL;
  return 0;
}

int irpc__tls_outer_address(const irpc_server_address *a,
                            const irpc_server_address *inner_bound,
                            irpc_server_address **out) {
  (void)a;
  (void)inner_bound;
  *out = NULL;
  return 0;
}

int irpc__tls_handshaker_new(irpc__tls_handshaker **out, uv_loop_t *loop,
                             irpc_transport *tls, const char *protocol,
                             irpc__tls_done_cb done, void *ud) {
  (void)out;
  (void)loop;
  (void)tls;
  (void)protocol;
  (void)done;
  (void)ud;
  return IRPC_EINVAL;
}

void irpc__tls_handshaker_start(irpc__tls_handshaker *h, irpc_duplex *inner) {
  (void)h;
  irpc_duplex_close(inner, NULL, NULL);
}

void irpc__tls_handshaker_free(irpc__tls_handshaker *h) {
  (void)h;
}
