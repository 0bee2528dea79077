/* A peer scripted byte by byte over the memory transport, for the ice
 * tests: it connects to an irpc ice server or accepts an irpc ice client,
 * writes given bytes and reads exactly what it expects. */
#ifndef IRPC_TESTS_ICE_RAW_H
#define IRPC_TESTS_ICE_RAW_H

#include <stdio.h>
#include <string.h>

#include "kit/kit.h"

typedef struct raw {
  uv_loop_t *loop;
  irpc_transport *memory;
  irpc_duplex *d;
  irpc_listener *l;
  int ready;
  int status;
  int wake;
  int end; /* the status reading ended with (UV_EOF ...) */
  irpc_buf *in;
} raw;

/* Bytes from hex text ("4963 6550 ..."; spaces ignored); returns the
 * length. */
static inline size_t hex(uint8_t *out, size_t cap, const char *s) {
  size_t n = 0;
  int hi = -1;
  for (; *s; s++) {
    int v;
    if (*s >= '0' && *s <= '9')
      v = *s - '0';
    else if (*s >= 'a' && *s <= 'f')
      v = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'F')
      v = *s - 'A' + 10;
    else
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      assert_true(n < cap);
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  assert_int_equal(hi, -1);
  return n;
}

static inline void raw_on_read(irpc_duplex *d, int status, const uint8_t *data,
                               size_t len, void *ud) {
  raw *p = ud;
  (void)d;
  p->wake = 1;
  if (status)
    p->end = status;
  else
    assert_irpc_ok(irpc_buf_append(p->in, data, len));
}

static inline void raw_init(raw *p, uv_loop_t *loop, irpc_transport *memory) {
  memset(p, 0, sizeof(*p));
  p->loop = loop;
  p->memory = memory;
  assert_irpc_ok(irpc_buf_new(&p->in));
}

static inline void raw_fini(raw *p) {
  if (p->d)
    irpc_duplex_close(p->d, NULL, NULL);
  if (p->l)
    irpc_listener_close(p->l, NULL, NULL);
  p->d = NULL;
  p->l = NULL;
  irpc_buf_free(p->in);
}

static inline void raw_on_connect(irpc_duplex *d, int status, void *ud) {
  raw *p = ud;
  (void)d;
  p->status = status;
  p->ready = 1;
}

/* Connects to `address` (a memory address) and starts reading. */
static inline void raw_connect(raw *p, const char *address) {
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, address));
  assert_irpc_ok(
      irpc_transport_connect(p->memory, p->loop, a, &p->d, raw_on_connect, p));
  irpc_server_address_free(a);
  kit_run_until(p->loop, &p->ready);
  assert_irpc_ok(p->status);
  assert_irpc_ok(irpc_duplex_read_start(p->d, raw_on_read, p));
}

static inline void raw_on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  raw *p = ud;
  (void)l;
  assert_null(p->d);
  p->d = d;
  p->ready = 1;
  assert_irpc_ok(irpc_duplex_read_start(p->d, raw_on_read, p));
}

/* Listens at `address` for the client under test. */
static inline void raw_listen(raw *p, const char *address) {
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, address));
  assert_irpc_ok(
      irpc_transport_listen(p->memory, p->loop, a, raw_on_accept, p, &p->l));
  irpc_server_address_free(a);
}

static inline void raw_send(raw *p, const void *data, size_t len) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, data, len));
  assert_irpc_ok(irpc_duplex_write(p->d, b, NULL, NULL));
  irpc_buf_free(b);
}

static inline void raw_send_hex(raw *p, const char *h) {
  uint8_t b[4096];
  raw_send(p, b, hex(b, sizeof b, h));
}

/* Runs the loop until `n` bytes came (or the reading ended). */
static inline void raw_wait(raw *p, size_t n) {
  while (irpc_buf_len(p->in) < n && !p->end) {
    p->wake = 0;
    kit_run_until(p->loop, &p->wake);
  }
}

/* Reads exactly the bytes `want` and asserts they came, byte for byte. */
static inline void raw_expect(raw *p, const uint8_t *want, size_t n) {
  raw_wait(p, n);
  size_t have = irpc_buf_len(p->in);
  uint8_t got[4096];
  assert_true(n <= sizeof got);
  if (have < n) {
    fprintf(stderr, "expected %zu bytes, got %zu (end %d)\n", n, have, p->end);
    fail();
  }
  irpc_buf_copyout(p->in, 0, got, n);
  if (memcmp(got, want, n) != 0) {
    for (size_t i = 0; i < n; i++)
      if (got[i] != want[i]) {
        fprintf(stderr, "byte %zu: got %02x, expected %02x\n", i, got[i],
                want[i]);
        break;
      }
    fail();
  }
  irpc_buf_consume(p->in, n);
}

static inline void raw_expect_hex(raw *p, const char *h) {
  uint8_t b[4096];
  raw_expect(p, b, hex(b, sizeof b, h));
}

/* Reads one whole message (header and body) into `out`; returns its
 * length. */
static inline size_t raw_take(raw *p, uint8_t *out, size_t cap) {
  raw_wait(p, 14);
  assert_true(irpc_buf_len(p->in) >= 14);
  uint8_t h[14];
  irpc_buf_copyout(p->in, 0, h, sizeof h);
  size_t n = (size_t)h[10] | (size_t)h[11] << 8 | (size_t)h[12] << 16 |
             (size_t)h[13] << 24;
  assert_true(n >= 14 && n <= cap);
  raw_wait(p, n);
  assert_true(irpc_buf_len(p->in) >= n);
  irpc_buf_copyout(p->in, 0, out, n);
  irpc_buf_consume(p->in, n);
  return n;
}

/* The outcome of a call, for irpc_invoke_owned(..., ice_on_res, &r, ...):
 * its error, status, error message and up to 512 bytes of payload. */
typedef struct ice_res {
  int done, err;
  uint64_t status;
  char msg[160];
  uint8_t payload[512];
  size_t len;
} ice_res;

static inline void ice_on_res(irpc_call *call, int err,
                              irpc_incoming_response *resp, void *ud) {
  (void)call;
  ice_res *r = ud;
  r->done = 1;
  r->err = err;
  if (!resp)
    return;
  r->status = irpc_incoming_response_status(resp);
  const char *m = irpc_incoming_response_error_message(resp);
  snprintf(r->msg, sizeof r->msg, "%s", m ? m : "");
  irpc_buf *p = irpc_incoming_response_payload(resp);
  r->len = irpc_buf_len(p);
  assert_true(r->len <= sizeof r->payload);
  irpc_buf_copyout(p, 0, r->payload, r->len);
  irpc_incoming_response_free(resp);
}

/* Closes the transport as a TCP socket closes: the peer reads the end of
 * the stream (a FIN), not a reset. */
static inline void raw_close(raw *p) {
  irpc_duplex_shutdown(p->d, NULL, NULL);
  irpc_duplex_close(p->d, NULL, NULL);
  p->d = NULL;
}

/* Runs the loop until the reading ends; asserts nothing else came. */
static inline int raw_wait_end(raw *p) {
  while (!p->end) {
    p->wake = 0;
    kit_run_until(p->loop, &p->wake);
  }
  assert_int_equal(irpc_buf_len(p->in), 0);
  return p->end;
}

#endif
