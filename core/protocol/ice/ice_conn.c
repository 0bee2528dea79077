/* The ice protocol (ZeroC Ice's protocol 1.0), behind the protocol seam
 * (conn/protocol.h). Sans-I/O: bytes in (feed), bytes out (take_output),
 * time in (tick); it only posts events to the generic connection.
 *
 * Messages are framed back to back on the transport: a 14-byte header
 * (magic "IceP", protocol 1.0, encoding 1.0, type, compression status,
 * size), then the body. A request carries a request id (0: one-way), the
 * identity, facet, operation, mode, context and an encapsulation; a reply
 * the request id, a reply status and what goes with it.
 * docs/internals/PROTOCOL.md has the mapping to irpc's model. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ice_internal.h"
#include "conn/protocol.h"
#include "base/buf_internal.h"
#include "base/list.h"
#include "base/pool.h"
#include "base/struct_size.h"
#include "base/varuint62.h"
#include "irpc/address.h"
#include "irpc/alloc.h"
#include "irpc/compress.h"
#include "irpc/connection_cache.h"
#include "irpc/fields.h"
#include "irpc/ice.h"
#include "irpc/status.h"

static const uint8_t ice_magic[8] = {0x49, 0x63, 0x65, 0x50, 1, 0, 1, 0};

/* Ice's reply statuses. */
enum {
  RS_OK = 0,
  RS_USER_EXCEPTION,
  RS_OBJECT_NOT_EXIST,
  RS_FACET_NOT_EXIST,
  RS_OPERATION_NOT_EXIST,
  RS_UNKNOWN_LOCAL,
  RS_UNKNOWN_USER,
  RS_UNKNOWN,
  RS_INVALID_DATA,
  RS_UNAUTHORIZED,
  RS_NOT_SUPPORTED
};

/* How a message goes out: status 0, status 1 (compression asked, too
 * small or not shrinking), or compressed when it pays. */
enum { SEND_PLAIN, SEND_STATUS1, SEND_COMPRESS };

/* A call of ours, from send_request until its reply is posted or the
 * generic layer abandons it. */
struct irpc__pcall {
  irpc__pconn *p;
  irpc__link link; /* in p->calls while waiting for its reply */
  int32_t id;
  int held;
  int oneway;
  int listed;
};

/* The inline room for the identity, facet and operation a dispatch keeps
 * for an ObjectNotExist or OperationNotExist reply. */
#define RFD_INLINE 96

/* A request of the peer's, from its arrival until its reply is sent. */
struct irpc__pdisp {
  irpc__pconn *p;
  irpc__link link; /* in p->disps while held (two-way) */
  int32_t id;
  int cstat; /* the request's compression status */
  int held;
  uint8_t *rfd; /* identity, facet and operation as they came */
  size_t rfd_len;
  uint8_t rfd_inline[RFD_INLINE];
};

struct irpc__pconn {
  irpc_connection *conn;
  const irpc_connection_options *o;
  irpc_ice_options io; /* o->ice's copy, or the defaults */
  int is_client;
  int connected;  /* post_connected done */
  int refusing;   /* a server refusing: nothing is sent */
  int closed;     /* post_closed done */
  int fin;        /* shut the write side down once written */
  int shutdown;   /* our graceful shutdown started */
  int close_sent; /* our CloseConnection is queued */
  int close_in;   /* the peer's CloseConnection came */
  int32_t next_id;
  irpc_buf in;
  irpc_buf out;
  irpc__list calls;   /* irpc__pcall waiting for their reply */
  irpc__list disps;   /* irpc__pdisp held (two-way, not answered) */
  int32_t *abandoned; /* ids of two-way calls abandoned before their reply */
  size_t nabandoned, abandoned_cap;
  uint64_t last_write, last_read;
};

_Static_assert(sizeof(irpc__pcall) <= IRPC__PCALL_SIZE_MAX,
               "the ice call state fits the generic call record");

static void fail(irpc__pconn *p, int err);

static void release_mem(void *data, void *user_data) {
  (void)user_data;
  irpc_free(data);
}

static void want_output(irpc__pconn *p) {
  irpc__conn_post_output(p->conn);
}

/* ---- Options and the facet feature ---- */

static int ice_options_check(const irpc_connection_options *o) {
  const irpc_ice_options *io = o->ice;
  if (!io)
    return 0;
  if (io->max_message_size < IRPC__ICE_MIN_MESSAGE_SIZE ||
      io->max_message_size > IRPC__ICE_MAX_MESSAGE_SIZE)
    return IRPC_EINVAL;
  return 0;
}

/* ---- Encoding (little-endian, Ice sizes) ---- */

typedef struct wr {
  irpc_buf *b;
  int err;
} wr;

static void w_bytes(wr *w, const void *p, size_t n) {
  if (!w->err && n)
    w->err = irpc_buf_append(w->b, p, n);
}

static void w_u8(wr *w, uint8_t v) {
  w_bytes(w, &v, 1);
}

static void put_i32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_i32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void w_i32(wr *w, uint32_t v) {
  uint8_t b[4];
  put_i32(b, v);
  w_bytes(w, b, 4);
}

static void w_size(wr *w, size_t n) {
  if (n < 255) {
    w_u8(w, (uint8_t)n);
  } else {
    w_u8(w, 255);
    w_i32(w, (uint32_t)n);
  }
}

static void w_str(wr *w, const void *s, size_t n) {
  w_size(w, n);
  w_bytes(w, s, n);
}

/* ---- Decoding: a bounded reader over a buffer chain ---- */

typedef struct rd {
  const irpc_buf *b;
  size_t off, end;
  int bad;
} rd;

static int r_bytes(rd *r, void *dst, size_t n) {
  if (r->bad || r->end - r->off < n) {
    r->bad = 1;
    return -1;
  }
  if (n)
    irpc_buf_copyout(r->b, r->off, dst, n);
  r->off += n;
  return 0;
}

static int r_skip(rd *r, size_t n) {
  if (r->bad || r->end - r->off < n) {
    r->bad = 1;
    return -1;
  }
  r->off += n;
  return 0;
}

static uint8_t r_u8(rd *r) {
  uint8_t v = 0;
  r_bytes(r, &v, 1);
  return v;
}

static int32_t r_i32(rd *r) {
  uint8_t b[4] = {0};
  r_bytes(r, b, 4);
  return (int32_t)get_i32(b);
}

static size_t r_size(rd *r) {
  uint8_t v = r_u8(r);
  if (v < 255)
    return v;
  int32_t n = r_i32(r);
  if (n < 0) {
    r->bad = 1;
    return 0;
  }
  return (size_t)n;
}

/* A string read into `small` (cap bytes) or a heap copy, NUL-terminated;
 * free it with str_free. NULL when bad or out of memory (*nomem). */
static char *r_str(rd *r, char *small, size_t cap, size_t *len, int *nomem) {
  size_t n = r_size(r);
  if (r->bad || r->end - r->off < n) {
    r->bad = 1;
    return NULL;
  }
  char *s = n < cap ? small : irpc_malloc(n + 1);
  if (!s) {
    *nomem = 1;
    return NULL;
  }
  r_bytes(r, s, n);
  s[n] = '\0';
  *len = n;
  return s;
}

static void str_free(char *s, char *small) {
  if (s != small)
    irpc_free(s);
}

/* ---- Paths and identities (IceRPC's rules) ---- */

/* The bytes an ice path keeps as they are (irpc/address.h, as
 * irpc_ice_identity_to_path writes them): printable ASCII but '%', '/' and
 * what irpc_path_check refuses. */
static int unreserved(uint8_t c) {
  return c >= 0x21 && c <= 0x7E && !strchr("%/\"<>#?\\^`{|}", c);
}

static size_t escaped_len(const char *s, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    len += unreserved((uint8_t)s[i]) ? 1 : 3;
  return len;
}

static char *escape_into(char *d, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    uint8_t c = (uint8_t)s[i];
    if (unreserved(c)) {
      *d++ = (char)c;
    } else {
      *d++ = '%';
      *d++ = hex[c >> 4];
      *d++ = hex[c & 15];
    }
  }
  return d;
}

/* "/name" or "/category/name", escaped; into `small` or the heap. */
static char *identity_path(const char *name, size_t nl, const char *cat,
                           size_t cl, char *small, size_t cap) {
  size_t len = 1 + escaped_len(name, nl) + (cl ? escaped_len(cat, cl) + 1 : 0);
  char *path = len < cap ? small : irpc_malloc(len + 1);
  if (!path)
    return NULL;
  char *d = path;
  *d++ = '/';
  if (cl) {
    d = escape_into(d, cat, cl);
    *d++ = '/';
  }
  d = escape_into(d, name, nl);
  *d = '\0';
  return path;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes [s, s + n) into d; returns the length or -1. */
static long unescape(char *d, const char *s, size_t n) {
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      d[j++] = s[i];
      continue;
    }
    if (n - i < 3)
      return -1;
    int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
    if (hi < 0 || lo < 0)
      return -1;
    d[j++] = (char)(hi << 4 | lo);
    i += 2;
  }
  return (long)j;
}

/* Writes the identity of `path` (IceRPC's: one or two segments, percent-
 * escaped). Errors: IRPC_EPATH, IRPC_ENOMEM. */
static int w_identity(wr *w, const char *path) {
  if (path[0] != '/')
    return IRPC_EPATH;
  const char *s = path + 1;
  const char *slash = strchr(s, '/');
  if (slash && strchr(slash + 1, '/'))
    return IRPC_EPATH;
  size_t n = strlen(s);
  char small[256];
  char *buf = n < sizeof small ? small : irpc_malloc(n + 1);
  if (!buf)
    return IRPC_ENOMEM;
  long nl, cl = 0;
  char *cat = buf;
  if (slash) {
    cl = unescape(cat, s, (size_t)(slash - s));
    nl = cl < 0 ? -1 : unescape(buf + cl, slash + 1, strlen(slash + 1));
  } else {
    nl = unescape(buf, s, n);
  }
  int rc = 0;
  if (nl < 0 || cl < 0) {
    rc = IRPC_EPATH;
  } else {
    w_str(w, buf + cl, (size_t)nl);
    w_str(w, cat, (size_t)cl);
  }
  if (buf != small)
    irpc_free(buf);
  return rc;
}

/* ---- Contexts: irpc's field (Slice2 dictionary) <-> Ice's ---- */

/* Writes the Ice context of `fields` (an empty one without the field).
 * Errors: IRPC_EDATA (the field does not decode). */
static int w_context(wr *w, const irpc_fields *fields) {
  irpc_bytes v;
  if (irpc_fields_get(fields, IRPC_REQUEST_FIELD_CONTEXT, &v) != 0) {
    w_u8(w, 0);
    return 0;
  }
  irpc__vu_reader r = {v.base, v.len, 0};
  uint64_t count = irpc__vu_read(&r);
  if (r.bad || count > v.len)
    return IRPC_EDATA;
  w_size(w, (size_t)count);
  for (uint64_t i = 0; i < 2 * count; i++) {
    uint64_t n = irpc__vu_read(&r);
    if (r.bad || n > r.left || n > INT32_MAX)
      return IRPC_EDATA;
    w_str(w, r.p, (size_t)n);
    r.p += n;
    r.left -= (size_t)n;
  }
  return r.left ? IRPC_EDATA : 0;
}

/* A context re-encoded up to this size is built on the stack; a larger
 * one in an object of the loop's pool (pool.h), or of the allocator
 * beyond its largest class: a request's context costs no allocation. */
#define CONTEXT_INLINE 256

/* Reads an Ice context into the request context field of `fields` (none
 * when empty). Returns 0, -1 (malformed), or IRPC_ENOMEM. */
static int r_context(rd *r, irpc_fields *fields) {
  size_t count = r_size(r);
  if (r->bad)
    return -1;
  if (count == 0)
    return 0;
  size_t start = r->off;
  for (size_t i = 0; i < 2 * count && !r->bad; i++)
    r_skip(r, r_size(r));
  if (r->bad)
    return -1;
  size_t span = r->off - start;
  size_t cap = span + 3 * (2 * count + 1) + 8;
  uint8_t small[CONTEXT_INLINE];
  uint8_t *buf = cap <= sizeof small ? small : irpc__pool_get(cap);
  if (!buf)
    return IRPC_ENOMEM;
  rd again = {r->b, start, r->off, 0};
  size_t n = irpc__varuint62_put_min(buf, count);
  for (size_t i = 0; i < 2 * count; i++) {
    size_t len = r_size(&again);
    n += irpc__varuint62_put_min(buf + n, len);
    r_bytes(&again, buf + n, len);
    n += len;
  }
  int rc = irpc_fields_set(fields, IRPC_REQUEST_FIELD_CONTEXT, buf, n);
  if (buf != small)
    irpc__pool_put(buf, cap);
  return rc;
}

/* ---- Framing ---- */

/* Messages and payloads up to this size are copied where they share a
 * block with their neighbours: the output packs the messages of a burst
 * (one iovec for many small messages), the input keeps a small message
 * whole in one block; larger pieces are moved or referenced, not copied. */
#define COPY_MAX 512

/* Appends header `h` and `body` (consumed) to the output: copied into the
 * room left in the output's last block when the message fits there, else
 * with the header in the headroom of the body's first block, whose blocks
 * move (and whose room the next messages fill). No block is made for the
 * output itself: a burst of replies allocates nothing.
 * Errors: IRPC_ENOMEM (the output and `body` unchanged). */
static int append_message(irpc__pconn *p, const uint8_t *h, irpc_buf *body) {
  int rc;
  if (IRPC__ICE_HEADER + irpc_buf_len(body) <= irpc__buf_tail_room(&p->out)) {
    size_t before = irpc_buf_len(&p->out), n = irpc_buf_segment_count(body);
    rc = irpc_buf_append(&p->out, h, IRPC__ICE_HEADER);
    for (size_t i = 0; i < n && rc == 0; i++) {
      irpc_bytes seg = irpc_buf_segment(body, i);
      rc = irpc_buf_append(&p->out, seg.base, seg.len);
    }
    if (rc)
      irpc_buf_truncate(&p->out, before);
    else
      irpc_buf_clear(body);
    return rc;
  }
  rc = irpc_buf_prepend(body, h, IRPC__ICE_HEADER);
  if (rc == 0 && (rc = irpc_buf_move(&p->out, body)) != 0)
    irpc_buf_consume(body, IRPC__ICE_HEADER);
  return rc;
}

/* Appends the message of `type` with `body` (consumed) to the output:
 * compressed when `how` says so and it pays. Errors: IRPC_ELIMIT (over
 * 2^31-1 bytes), IRPC_ENOMEM. */
static int frame(irpc__pconn *p, int type, irpc_buf *body, int how) {
  size_t n = irpc_buf_len(body);
  if (n > (size_t)INT32_MAX - IRPC__ICE_HEADER)
    return IRPC_ELIMIT;
  uint8_t h[IRPC__ICE_HEADER + 4];
  memcpy(h, ice_magic, 8);
  h[8] = (uint8_t)type;
  h[9] = how == SEND_PLAIN ? 0 : 1;
  size_t total = IRPC__ICE_HEADER + n;
  if (how == SEND_COMPRESS && total >= IRPC__ICE_COMPRESS_MIN) {
    /* Kept only when it shrinks the message. */
    size_t cap = n - 4, clen = 0;
    uint8_t *c = irpc_malloc(cap);
    if (!c)
      return IRPC_ENOMEM;
    int rc = irpc__ice_bz_compress(body, c, cap, &clen);
    if (rc == 0) {
      irpc_buf cb;
      irpc__buf_init(&cb);
      h[9] = 2;
      put_i32(h + 10, (uint32_t)(IRPC__ICE_HEADER + 4 + clen));
      put_i32(h + 14, (uint32_t)total);
      rc = irpc_buf_append(&cb, h, sizeof h);
      if (rc == 0)
        rc = irpc_buf_append_external(&cb, c, clen, release_mem, NULL);
      if (rc == 0) {
        c = NULL;
        rc = irpc_buf_move(&p->out, &cb);
      }
      irpc__buf_fini(&cb);
      irpc_free(c);
      if (rc == 0)
        irpc_buf_clear(body);
      return rc;
    }
    irpc_free(c);
    if (rc == IRPC_ENOMEM)
      return rc;
    /* it does not shrink: status 1 */
  }
  put_i32(h + 10, (uint32_t)total);
  return append_message(p, h, body);
}

static void send_control(irpc__pconn *p, int type) {
  irpc_buf b;
  irpc__buf_init(&b);
  /* CloseConnection carries compression status 1, as Ice sends it. */
  int rc =
      frame(p, type, &b, type == IRPC__ICE_CLOSE ? SEND_STATUS1 : SEND_PLAIN);
  irpc__buf_fini(&b);
  if (rc)
    fail(p, rc);
  else
    want_output(p);
}

/* Appends an encapsulation of `payload` (consumed). */
static int w_encaps(wr *w, irpc_buf *payload) {
  size_t n = irpc_buf_len(payload);
  if (n > (size_t)INT32_MAX - 6)
    return IRPC_ELIMIT;
  w_i32(w, (uint32_t)(n + 6));
  w_u8(w, 1);
  w_u8(w, 1);
  if (w->err)
    return w->err;
  /* A small payload joins the message's block, which then packs. */
  if (n <= COPY_MAX) {
    size_t k = irpc_buf_segment_count(payload);
    for (size_t i = 0; i < k; i++) {
      irpc_bytes seg = irpc_buf_segment(payload, i);
      w_bytes(w, seg.base, seg.len);
    }
    irpc_buf_clear(payload);
  } else {
    w->err = irpc_buf_move(w->b, payload);
  }
  return w->err;
}

/* Reads an encapsulation's header: the payload is [r->off, r->off + *len)
 * and r moves past it. -1 when malformed, -2 for an encoding other than
 * 1.1. */
static int r_encaps(rd *r, size_t *len) {
  int32_t size = r_i32(r);
  uint8_t major = r_u8(r), minor = r_u8(r);
  if (r->bad || size < 6 || (size_t)size - 6 > r->end - r->off)
    return -1;
  *len = (size_t)size - 6;
  r->off += *len;
  return major == 1 && minor == 1 ? 0 : -2;
}

/* ---- Calls ---- */

static int32_t next_request_id(irpc__pconn *p) {
  int32_t id = p->next_id;
  p->next_id = id == INT32_MAX ? 1 : id + 1;
  return id;
}

/* The facet a request is sent with: the feature, else the service
 * address's fragment, percent-decoded (*owned, to free, then). */
static int request_facet(irpc_outgoing_request *req, const char **facet,
                         char **owned) {
  *owned = NULL;
  *facet = irpc_features_get(irpc_outgoing_request_features(req),
                             &irpc_ice_facet_feature);
  if (*facet)
    return 0;
  const irpc_service_address *sa = irpc_outgoing_request_service_address(req);
  if (!sa || !irpc_service_address_fragment(sa))
    return 0;
  int rc = irpc_service_address_ice_facet(sa, owned);
  *facet = *owned;
  return rc == IRPC_EINVAL ? IRPC_EPATH : rc;
}

/* How a message goes out when the compress feature says `v`
 * (IRPC_COMPRESS_YES, _NO or _DEFAULT) and `dflt` otherwise. */
static int how_for(int v, int dflt) {
  if (v == IRPC_COMPRESS_DEFAULT)
    return dflt;
  return v == IRPC_COMPRESS_YES ? SEND_COMPRESS : SEND_PLAIN;
}

/* A request: as its compress feature says, else as the connection's
 * option says (an Ice proxy's ice_compress overriding its endpoint's -z). */
static int request_how(const irpc__pconn *p, irpc_outgoing_request *req) {
  return how_for(
      irpc_features_compress_value(irpc_outgoing_request_features(req)),
      p->io.compress ? SEND_COMPRESS : SEND_PLAIN);
}

static int encode_request(irpc__pconn *p, irpc_outgoing_request *req,
                          int32_t id) {
  irpc_buf body, payload;
  irpc__buf_init(&body);
  irpc__buf_init(&payload);
  wr w = {&body, 0};
  w_i32(&w, (uint32_t)id);
  const char *facet;
  char *owned;
  int rc = request_facet(req, &facet, &owned);
  if (rc == 0)
    rc = w_identity(&w, irpc_outgoing_request_path(req));
  if (rc == 0) {
    if (facet && facet[0]) {
      w_u8(&w, 1);
      w_str(&w, facet, strlen(facet));
    } else {
      w_u8(&w, 0);
    }
    const char *op = irpc_outgoing_request_operation(req);
    w_str(&w, op, strlen(op));
    w_u8(&w, irpc_outgoing_request_idempotent(req) ? 2 : 0);
    rc = w_context(&w, irpc_outgoing_request_fields(req));
  }
  /* No compression format is read over ice: writers send as is. */
  if (rc == 0)
    rc = irpc__request_prepare(req, 0, &payload);
  if (rc == 0)
    rc = w_encaps(&w, &payload);
  if (rc == 0)
    rc = w.err;
  if (rc == 0)
    rc = frame(p, IRPC__ICE_REQUEST, &body, request_how(p, req));
  irpc_free(owned);
  irpc__buf_fini(&payload);
  irpc__buf_fini(&body);
  return rc;
}

static int ice_send_request(irpc__pconn *p, irpc__pcall *k,
                            irpc_outgoing_request *req) {
  if (p->closed)
    return IRPC_ECLOSED;
  if (p->close_in || p->close_sent)
    return IRPC_EREFUSED;
  int oneway = irpc_outgoing_request_oneway(req);
  memset(k, 0, sizeof(*k));
  k->p = p;
  k->oneway = oneway;
  k->id = oneway ? 0 : next_request_id(p);
  int rc = encode_request(p, req, k->id);
  if (rc)
    return rc;
  k->held = 1;
  if (oneway) {
    /* Complete once handed over, on a later turn (send_more). */
    irpc__conn_resume_later(p->conn, k);
  } else {
    /* Oldest first: replies mostly come in order, found at the front. */
    k->listed = 1;
    irpc__list_push_back(&p->calls, &k->link);
  }
  want_output(p);
  return 0;
}

static void pcall_release(irpc__pcall *k, int err,
                          irpc_incoming_response *resp) {
  irpc__pconn *p = k->p;
  if (!k->held) {
    irpc_incoming_response_free(resp);
    return;
  }
  k->held = 0;
  if (k->listed) {
    k->listed = 0;
    irpc__list_remove(&p->calls, &k->link);
  }
  irpc__conn_post_response(p->conn, k, err, resp);
}

static void ice_send_more(irpc__pconn *p, irpc__pcall *k) {
  (void)p;
  if (!k->held || !k->oneway)
    return;
  irpc_incoming_response *ok;
  int rc = irpc_incoming_response_new(&ok, IRPC_STATUS_OK, NULL);
  pcall_release(k, rc, rc ? NULL : ok);
}

static void ice_abandon_request(irpc__pconn *p, irpc__pcall *k) {
  if (!k->held)
    return;
  k->held = 0;
  if (!k->listed)
    return;
  k->listed = 0;
  irpc__list_remove(&p->calls, &k->link);
  /* Its reply may still come: it is dropped then. */
  if (p->nabandoned == p->abandoned_cap) {
    size_t cap = p->abandoned_cap ? 2 * p->abandoned_cap : 8;
    int32_t *a = irpc_realloc(p->abandoned, cap * sizeof(*a));
    if (!a)
      return; /* a late reply to it then ends the connection */
    p->abandoned = a;
    p->abandoned_cap = cap;
  }
  p->abandoned[p->nabandoned++] = k->id;
}

static int take_abandoned(irpc__pconn *p, int32_t id) {
  for (size_t i = 0; i < p->nabandoned; i++) {
    if (p->abandoned[i] == id) {
      p->abandoned[i] = p->abandoned[--p->nabandoned];
      return 1;
    }
  }
  return 0;
}

static irpc__pcall *find_call(irpc__pconn *p, int32_t id) {
  for (irpc__link *l = p->calls.head; l; l = l->next) {
    irpc__pcall *k = IRPC__CONTAINER_OF(l, irpc__pcall, link);
    if (k->id == id)
      return k;
  }
  return NULL;
}

/* The message of a NotFound / NotImplemented reply, from its
 * RequestFailedData (identity, facet, operation). */
static int not_exist_response(rd *r, uint64_t status,
                              irpc_incoming_response **out) {
  char s1[128], s2[128], s3[128], s4[128], small[256];
  size_t nl = 0, cl = 0, fl = 0, ol = 0;
  int nomem = 0, rc;
  char *name = r_str(r, s1, sizeof s1, &nl, &nomem);
  char *cat = r_str(r, s2, sizeof s2, &cl, &nomem);
  size_t nf = r_size(r);
  char *facet = NULL;
  if (nf > 1)
    r->bad = 1;
  else if (nf == 1)
    facet = r_str(r, s3, sizeof s3, &fl, &nomem);
  char *op = r_str(r, s4, sizeof s4, &ol, &nomem);
  char *path = NULL;
  if (!r->bad && !nomem)
    path = identity_path(name, nl, cat, cl, small, sizeof small);
  if (nomem || (!r->bad && !path)) {
    rc = IRPC_ENOMEM;
  } else if (r->bad) {
    rc = IRPC_EPROTO;
  } else {
    size_t mlen = 96 + strlen(path) + fl + ol;
    char *msg = irpc_malloc(mlen);
    rc = IRPC_ENOMEM;
    if (msg) {
      snprintf(msg, mlen,
               "The dispatch failed with status code %s while dispatching "
               "'%s' on '%s%s%s'.",
               irpc_status_name(status), op, path, fl ? "#" : "",
               fl ? facet : "");
      rc = irpc_incoming_response_new(out, status, msg);
      irpc_free(msg);
    }
  }
  if (path && path != small)
    irpc_free(path);
  if (name)
    str_free(name, s1);
  if (cat)
    str_free(cat, s2);
  if (facet)
    str_free(facet, s3);
  if (op)
    str_free(op, s4);
  return rc;
}

/* A reply whose status carries a message: `status` with that message. */
static int message_response(rd *r, uint64_t status,
                            irpc_incoming_response **out) {
  char small[256];
  size_t len = 0;
  int nomem = 0;
  char *msg = r_str(r, small, sizeof small, &len, &nomem);
  if (!msg)
    return nomem ? IRPC_ENOMEM : IRPC_EPROTO;
  if (strlen(msg) != len) { /* a NUL inside */
    str_free(msg, small);
    return IRPC_EPROTO;
  }
  int rc = irpc_incoming_response_new(out, status, msg);
  str_free(msg, small);
  return rc;
}

/* The reply in [r->off, r->end) of `b`. Returns 0, or an error that ends
 * the connection. */
static int read_reply(irpc__pconn *p, rd *r) {
  int32_t id = r_i32(r);
  uint8_t status = r_u8(r);
  if (r->bad)
    return IRPC_EPROTO;
  irpc__pcall *k = id > 0 ? find_call(p, id) : NULL;
  if (!k)
    return id > 0 && take_abandoned(p, id) ? 0 : IRPC_EPROTO;
  irpc_incoming_response *resp = NULL;
  int rc = 0;
  size_t len = 0;
  switch (status) {
  case RS_OK:
  case RS_USER_EXCEPTION: {
    size_t start = r->off + 6;
    int e = r_encaps(r, &len);
    if (e < 0 || r->off != r->end) {
      rc = IRPC_EPROTO;
      break;
    }
    rc = status == RS_OK
             ? irpc_incoming_response_new(&resp, IRPC_STATUS_OK, NULL)
             : irpc_incoming_response_new(&resp, IRPC_STATUS_APPLICATION_ERROR,
                                          "");
    if (rc == 0 && len)
      rc = irpc_buf_append_ref(irpc_incoming_response_payload(resp), r->b,
                               start, len);
    break;
  }
  case RS_OBJECT_NOT_EXIST:
  case RS_FACET_NOT_EXIST:
    rc = not_exist_response(r, IRPC_STATUS_NOT_FOUND, &resp);
    break;
  case RS_OPERATION_NOT_EXIST:
    rc = not_exist_response(r, IRPC_STATUS_NOT_IMPLEMENTED, &resp);
    break;
  case RS_INVALID_DATA:
    rc = message_response(r, IRPC_STATUS_INVALID_DATA, &resp);
    break;
  case RS_UNAUTHORIZED:
    rc = message_response(r, IRPC_STATUS_UNAUTHORIZED, &resp);
    break;
  case RS_NOT_SUPPORTED:
    rc = message_response(r, IRPC_STATUS_NOT_SUPPORTED, &resp);
    break;
  default: /* the Unknown* statuses, and any other */
    rc = message_response(r, IRPC_STATUS_INTERNAL_ERROR, &resp);
    break;
  }
  if (rc == 0 && r->off != r->end)
    rc = IRPC_EPROTO;
  if (rc == IRPC_ENOMEM) {
    irpc_incoming_response_free(resp);
    return rc;
  }
  if (rc) {
    /* The framing holds: this call fails, the connection stays. */
    irpc_incoming_response_free(resp);
    resp = NULL;
  }
  pcall_release(k, rc, resp);
  return 0;
}

/* ---- Dispatches ---- */

static void pdisp_end(irpc__pdisp *d, int cancel_err) {
  irpc__pconn *p = d->p;
  if (!d->held)
    return;
  d->held = 0;
  if (d->id)
    irpc__list_remove(&p->disps, &d->link);
  if (d->rfd != d->rfd_inline)
    irpc_free(d->rfd);
  d->rfd = NULL;
  irpc__conn_post_dispatch_end(p->conn, d, cancel_err);
}

/* A reply with a status and a message string (Unknown*). */
static int w_reply_message(wr *w, int status, const char *msg,
                           const char *extra) {
  w_u8(w, (uint8_t)status);
  size_t n = strlen(msg), e = extra ? strlen(extra) : 0;
  w_size(w, n + e);
  w_bytes(w, msg, n);
  w_bytes(w, extra, e);
  return w->err;
}

/* A reply: as the compress feature of its request says (`f`, set by the
 * dispatcher; NULL: none), else compressed when the request asked for
 * compression (status 1 or 2), as Ice does, or the option says so. */
static int reply_how(const irpc__pconn *p, int cstat, const irpc_features *f) {
  return how_for(f ? irpc_features_compress_value(f) : IRPC_COMPRESS_DEFAULT,
                 cstat || p->io.compress ? SEND_COMPRESS : SEND_PLAIN);
}

/* Sends the reply of two-way request `id`: `resp` (NULL: the dispatch
 * failed). `rfd`: the request's identity, facet and operation. */
static int send_reply(irpc__pconn *p, int32_t id, int how, const uint8_t *rfd,
                      size_t rfd_len, irpc_outgoing_response *resp) {
  irpc_buf body, payload;
  irpc__buf_init(&body);
  irpc__buf_init(&payload);
  wr w = {&body, 0};
  w_i32(&w, (uint32_t)id);
  int rc = 0;
  uint64_t status =
      resp ? irpc_outgoing_response_status(resp) : IRPC_STATUS_INTERNAL_ERROR;
  if (resp)
    rc = irpc__response_prepare(resp, 0, &payload);
  if (rc == IRPC_ENOMEM)
    goto done;
  if (rc) {
    /* A writer failed: say so instead. */
    irpc_buf_clear(&payload);
    rc = w_reply_message(&w, RS_UNKNOWN,
                         "The response payload could not be written.", NULL);
    goto frame;
  }
  if (!resp) {
    rc = w_reply_message(&w, RS_UNKNOWN, "The dispatch failed.", NULL);
  } else if (status == IRPC_STATUS_OK ||
             (status == IRPC_STATUS_APPLICATION_ERROR &&
              irpc_buf_len(&payload) > 0)) {
    w_u8(&w, status == IRPC_STATUS_OK ? RS_OK : RS_USER_EXCEPTION);
    rc = w_encaps(&w, &payload);
  } else if ((status == IRPC_STATUS_NOT_FOUND ||
              status == IRPC_STATUS_NOT_IMPLEMENTED) &&
             rfd) {
    w_u8(&w, status == IRPC_STATUS_NOT_FOUND ? RS_OBJECT_NOT_EXIST
                                             : RS_OPERATION_NOT_EXIST);
    w_bytes(&w, rfd, rfd_len);
    rc = w.err;
  } else {
    const char *msg = irpc_outgoing_response_error_message(resp);
    char extra[96];
    if (status == IRPC_STATUS_INTERNAL_ERROR) {
      extra[0] = '\0';
    } else if (status <= IRPC_STATUS_NOT_SUPPORTED) {
      snprintf(extra, sizeof extra, " { Original StatusCode = %s }",
               irpc_status_name(status));
    } else {
      snprintf(extra, sizeof extra, " { Original StatusCode = %" PRIu64 " }",
               status);
    }
    rc = w_reply_message(&w, RS_UNKNOWN, msg ? msg : "", extra);
  }
frame:
  if (rc == 0)
    rc = w.err;
  if (rc == 0)
    rc = frame(p, IRPC__ICE_REPLY, &body, how);
done:
  irpc__buf_fini(&payload);
  irpc__buf_fini(&body);
  return rc;
}

static void ice_send_response(irpc__pconn *p, irpc__pdisp *d,
                              irpc_outgoing_response *resp) {
  if (!d->held)
    return;
  if (d->id && !p->closed && !p->fin) {
    int rc = send_reply(p, d->id,
                        reply_how(p, d->cstat, irpc__conn_dispatch_features(d)),
                        d->rfd, d->rfd_len, resp);
    if (rc) {
      pdisp_end(d, 0);
      fail(p, rc);
      return;
    }
    want_output(p);
  }
  pdisp_end(d, 0);
}

/* A request the connection does not dispatch: a side without a
 * dispatcher answers ObjectNotExist, as an Ice peer without an object
 * adapter does; a side shutting down ignores it (the peer's call fails
 * with our CloseConnection, not dispatched). */
static int refuse_request(irpc__pconn *p, int32_t id, int cstat,
                          const uint8_t *rfd, size_t rfd_len) {
  if (id == 0 || p->o->dispatcher)
    return 0;
  irpc_outgoing_response *r;
  int rc = irpc_outgoing_response_new(&r, IRPC_STATUS_NOT_FOUND, NULL);
  if (rc)
    return rc;
  rc = send_reply(p, id, reply_how(p, cstat, NULL), rfd, rfd_len, r);
  irpc_outgoing_response_free(r);
  want_output(p);
  return rc;
}

/* Reads one request (its id read already; 0 for a one-way or batched one)
 * and dispatches it. Returns 0, or an error that ends the connection. */
static int read_request(irpc__pconn *p, rd *r, int32_t id, int cstat) {
  char s1[128], s2[128], s3[128], s4[128], small[256];
  size_t nl = 0, cl = 0, fl = 0, ol = 0;
  int nomem = 0, rc = 0;
  size_t rfd_start = r->off;
  char *name = r_str(r, s1, sizeof s1, &nl, &nomem);
  char *cat = r_str(r, s2, sizeof s2, &cl, &nomem);
  size_t nf = r_size(r);
  char *facet = NULL;
  if (nf > 1)
    r->bad = 1;
  else if (nf == 1)
    facet = r_str(r, s3, sizeof s3, &fl, &nomem);
  char *op = r_str(r, s4, sizeof s4, &ol, &nomem);
  size_t rfd_end = r->off;
  uint8_t mode = r_u8(r);
  if (mode > 2)
    r->bad = 1;
  irpc_incoming_request *req = NULL;
  irpc__pdisp *d = NULL;
  char *path = NULL;
  size_t ctx_off = r->off;
  size_t count = r_size(r);
  for (size_t i = 0; i < 2 * count && !r->bad; i++)
    r_skip(r, r_size(r));
  size_t plen = 0;
  int enc = r->bad || nomem ? -1 : r_encaps(r, &plen);
  size_t poff = r->off - plen;
  if (nomem) {
    rc = IRPC_ENOMEM;
    goto done;
  }
  if (enc == -1 || (op && strlen(op) != ol) || !op[0]) {
    rc = IRPC_EPROTO;
    goto done;
  }
  uint8_t rfd_small[RFD_INLINE];
  size_t rfd_len = rfd_end - rfd_start;
  uint8_t *rfd = rfd_len <= RFD_INLINE ? rfd_small : irpc_malloc(rfd_len);
  if (!rfd) {
    rc = IRPC_ENOMEM;
    goto done;
  }
  irpc_buf_copyout(r->b, rfd_start, rfd, rfd_len);
  if (enc == -2) {
    /* Not encoding 1.1: not dispatched, a two-way request is told why. */
    if (id) {
      irpc_outgoing_response *resp;
      rc = irpc_outgoing_response_new(
          &resp, IRPC_STATUS_INVALID_DATA,
          "The request's encapsulation is not encoded with encoding 1.1.");
      if (rc == 0) {
        rc = send_reply(p, id, reply_how(p, cstat, NULL), rfd, rfd_len, resp);
        irpc_outgoing_response_free(resp);
        want_output(p);
      }
    }
    goto free_rfd;
  }
  if (p->close_sent || p->fin) /* closing: ignored */
    goto free_rfd;
  rc = irpc__conn_dispatch_open(p->conn, &d);
  if (rc == IRPC_EREFUSED) {
    rc = refuse_request(p, id, cstat, rfd, rfd_len);
    goto free_rfd;
  }
  if (rc)
    goto free_rfd;
  path = identity_path(name, nl, cat, cl, small, sizeof small);
  rc = path ? irpc_incoming_request_new(&req, path, op, id == 0) : IRPC_ENOMEM;
  if (rc == 0 && mode != 0)
    rc = irpc_fields_set(irpc_incoming_request_fields(req),
                         IRPC_REQUEST_FIELD_IDEMPOTENT, NULL, 0);
  if (rc == 0 && count) {
    rd cr = {r->b, ctx_off, r->end, 0};
    rc = r_context(&cr, irpc_incoming_request_fields(req));
    if (rc < 0 && rc != IRPC_ENOMEM)
      rc = IRPC_EPROTO;
  }
  if (rc == 0 && fl) {
    char *f = irpc_ice_facet_dup(facet);
    rc = f ? irpc_features_set(irpc_incoming_request_features(req),
                               &irpc_ice_facet_feature, f)
           : IRPC_ENOMEM;
    if (rc)
      irpc_free(f);
  }
  if (rc == 0 && plen)
    rc = irpc_buf_append_ref(irpc_incoming_request_payload(req), r->b, poff,
                             plen);
  d->p = p;
  d->id = id;
  d->cstat = cstat;
  d->held = 1;
  if (rc) {
    irpc_incoming_request_free(req);
    d->rfd = NULL;
    d->id = 0;
    pdisp_end(d, 0);
    goto free_rfd;
  }
  if (id) {
    if (rfd == rfd_small) {
      memcpy(d->rfd_inline, rfd, rfd_len);
      d->rfd = d->rfd_inline;
    } else {
      d->rfd = rfd;
      rfd = NULL;
    }
    d->rfd_len = rfd_len;
    irpc__list_push_back(&p->disps, &d->link);
  }
  irpc__conn_post_request(p->conn, d, req);
  if (!id)
    pdisp_end(d, 0); /* one-way: nothing more to send */
free_rfd:
  if (rfd && rfd != rfd_small)
    irpc_free(rfd);
done:
  if (path && path != small)
    irpc_free(path);
  if (name)
    str_free(name, s1);
  if (cat)
    str_free(cat, s2);
  if (facet)
    str_free(facet, s3);
  if (op)
    str_free(op, s4);
  return rc;
}

/* ---- Input ---- */

static void release_all(irpc__pconn *p, int err) {
  while (p->calls.head) {
    irpc__pcall *k = IRPC__CONTAINER_OF(p->calls.head, irpc__pcall, link);
    pcall_release(k, err, NULL);
  }
  int cancel = irpc__conn_end_err(p->conn, err);
  while (p->disps.head)
    pdisp_end(IRPC__CONTAINER_OF(p->disps.head, irpc__pdisp, link), cancel);
}

/* The protocol lets go of everything and is done with the transport;
 * `fin`: shut the write side down before the transport is closed (a
 * graceful end, a refusal), so the peer reads the end of the stream, not a
 * reset. */
static void close_now(irpc__pconn *p, int err, int fin) {
  if (p->closed)
    return;
  p->closed = 1;
  p->fin = fin;
  irpc_buf_clear(&p->out);
  irpc_buf_clear(&p->in);
  release_all(p, err);
  irpc__conn_post_closed(p->conn, err);
  want_output(p);
}

/* An error found by the protocol: the connection ends at once, without
 * CloseConnection (as Ice does on a protocol error). */
static void fail(irpc__pconn *p, int err) {
  if (p->closed)
    return;
  irpc__conn_post_closing(p->conn, err);
  close_now(p, err, 0);
}

/* The peer's CloseConnection: its two-way calls were all answered, ours
 * still waiting were not dispatched. */
static void close_received(irpc__pconn *p) {
  if (p->close_in)
    return;
  p->close_in = 1;
  irpc__conn_post_peer_shutdown(p->conn);
  while (p->calls.head) {
    irpc__pcall *k = IRPC__CONTAINER_OF(p->calls.head, irpc__pcall, link);
    pcall_release(k, IRPC_EINVCANCELED, NULL);
  }
  if (p->close_sent) { /* both closed: close the transport too */
    p->fin = 1;
    want_output(p);
  }
}

static int handle_message(irpc__pconn *p, int type, int cstat,
                          const irpc_buf *b, size_t off, size_t end) {
  rd r = {b, off, end, 0};
  switch (type) {
  case IRPC__ICE_VALIDATE:
    if (p->is_client && !p->connected) {
      p->connected = 1;
      irpc__conn_post_connected(p->conn);
    }
    return 0; /* later: a heartbeat */
  case IRPC__ICE_CLOSE:
    close_received(p);
    return 0;
  case IRPC__ICE_REQUEST: {
    int32_t id = r_i32(&r);
    if (r.bad || id < 0)
      return IRPC_EPROTO;
    int rc = read_request(p, &r, id, cstat);
    if (rc == 0 && r.off != r.end)
      rc = IRPC_EPROTO;
    return rc;
  }
  case IRPC__ICE_BATCH: {
    int32_t count = r_i32(&r);
    if (r.bad || count < 0)
      return IRPC_EPROTO;
    for (int32_t i = 0; i < count; i++) {
      int rc = read_request(p, &r, 0, cstat);
      if (rc)
        return rc;
      if (p->closed)
        return 0;
    }
    return r.off == r.end ? 0 : IRPC_EPROTO;
  }
  default:
    return read_reply(p, &r);
  }
}

/* A compressed message (status 2): its body decompressed into a new
 * buffer, bounded by the max message size. */
static int decompress(irpc__pconn *p, size_t size, irpc_buf *out) {
  uint8_t b[4];
  if (size < IRPC__ICE_HEADER + 4)
    return IRPC_EPROTO;
  irpc_buf_copyout(&p->in, IRPC__ICE_HEADER, b, 4);
  int32_t usize = (int32_t)get_i32(b);
  if (usize < IRPC__ICE_HEADER)
    return IRPC_EPROTO;
  if ((uint64_t)usize > p->io.max_message_size)
    return IRPC_ELIMIT;
  size_t n = (size_t)usize - IRPC__ICE_HEADER;
  uint8_t *d = irpc_malloc(n ? n : 1);
  if (!d)
    return IRPC_ENOMEM;
  int rc = irpc__ice_bz_decompress(&p->in, IRPC__ICE_HEADER + 4,
                                   size - IRPC__ICE_HEADER - 4, d, n);
  if (rc == 0)
    rc = irpc_buf_append_external(out, d, n, release_mem, NULL);
  if (rc)
    irpc_free(d);
  return rc;
}

/* Every whole message in p->in; each header is checked as soon as its 14
 * bytes are there, before its body is awaited or anything allocated. */
static void process(irpc__pconn *p) {
  while (!p->closed) {
    size_t have = irpc_buf_len(&p->in);
    if (have < IRPC__ICE_HEADER)
      return;
    uint8_t h[IRPC__ICE_HEADER];
    irpc_buf_copyout(&p->in, 0, h, sizeof h);
    if (memcmp(h, ice_magic, 8) != 0) {
      fail(p, IRPC_EBADMAGIC);
      return;
    }
    int type = h[8], cstat = h[9];
    int32_t size = (int32_t)get_i32(h + 10);
    if (type > IRPC__ICE_CLOSE ||
        (p->is_client && !p->connected && type != IRPC__ICE_VALIDATE)) {
      fail(p, IRPC_EMSGTYPE);
      return;
    }
    if (cstat > 2 || size < IRPC__ICE_HEADER ||
        ((type == IRPC__ICE_VALIDATE || type == IRPC__ICE_CLOSE) &&
         size != IRPC__ICE_HEADER)) {
      fail(p, IRPC_EPROTO);
      return;
    }
    if ((uint64_t)size > p->io.max_message_size) {
      fail(p, IRPC_ELIMIT);
      return;
    }
    if (have < (size_t)size)
      return;
    int rc;
    if (cstat == 2 && size > IRPC__ICE_HEADER) {
      irpc_buf body;
      irpc__buf_init(&body);
      rc = decompress(p, (size_t)size, &body);
      if (rc == 0)
        rc = handle_message(p, type, cstat, &body, 0, irpc_buf_len(&body));
      irpc__buf_fini(&body);
    } else {
      rc = handle_message(p, type, cstat, &p->in, IRPC__ICE_HEADER,
                          (size_t)size);
    }
    if (rc) {
      fail(p, rc);
      return;
    }
    if (!p->closed)
      irpc_buf_consume(&p->in, (size_t)size);
  }
}

/* The bytes that complete the header or the message the input holds the
 * start of (process checked the header's size). */
static size_t missing(const irpc__pconn *p) {
  size_t have = irpc_buf_len(&p->in);
  if (have < IRPC__ICE_HEADER)
    return IRPC__ICE_HEADER - have;
  uint8_t b[4];
  irpc_buf_copyout(&p->in, 10, b, 4);
  size_t size = (size_t)get_i32(b);
  return size > have ? size - have : 1;
}

/* How many bytes the input takes before they are processed: the header
 * first (checked before anything else is kept), then what completes the
 * message or fills its block, whichever is more. A small message that its
 * block has no room left to complete moves to a block of its own first:
 * the input then never grows past the small blocks of the loop's pool,
 * however many messages a read brings. 0 when out of memory. */
static size_t input_room(irpc__pconn *p) {
  size_t need = missing(p), room = irpc__buf_tail_room(&p->in);
  size_t have = irpc_buf_len(&p->in);
  if (room < need && have > 0 && have + need <= COPY_MAX) {
    uint8_t part[COPY_MAX];
    irpc_buf_copyout(&p->in, 0, part, have);
    irpc_buf_clear(&p->in);
    if (irpc_buf_append(&p->in, part, have) != 0)
      return 0;
    room = irpc__buf_tail_room(&p->in);
  }
  return need > room ? need : room;
}

static void ice_feed(irpc__pconn *p, const uint8_t *data, size_t len) {
  if (p->closed || p->refusing)
    return;
  p->last_read = irpc__conn_now_ms(p->conn);
  if (!p->is_client && !p->connected) {
    /* bytes from a client that did not wait for ValidateConnection */
    p->connected = 1;
    irpc__conn_post_connected(p->conn);
  }
  while (len > 0 && !p->closed) {
    size_t n = input_room(p);
    if (n == 0) {
      fail(p, IRPC_ENOMEM);
      return;
    }
    if (n > len)
      n = len;
    int rc = irpc_buf_append(&p->in, data, n);
    if (rc) {
      fail(p, rc);
      return;
    }
    data += n;
    len -= n;
    process(p);
  }
}

static void ice_feed_eof(irpc__pconn *p) {
  if (p->closed)
    return;
  int err;
  if (irpc_buf_len(&p->in) == 0 && p->close_in)
    err = IRPC_ECLOSEDBYPEER;
  else if (irpc_buf_len(&p->in) == 0 && p->close_sent)
    err = IRPC_ECLOSED;
  else if (p->is_client && !p->connected)
    err = UV_ECONNREFUSED;
  else
    err = UV_ECONNRESET;
  int graceful = err == IRPC_ECLOSED || err == IRPC_ECLOSEDBYPEER;
  if (!graceful)
    irpc__conn_post_closing(p->conn, err);
  close_now(p, err, graceful);
}

static void ice_input_done(irpc__pconn *p) {
  (void)p;
}

/* ---- Output and time ---- */

static size_t ice_take_output(irpc__pconn *p, irpc_buf *out) {
  size_t n = irpc_buf_len(&p->out);
  if (n == 0)
    return 0;
  if (irpc_buf_move(out, &p->out) != 0)
    return 0;
  p->last_write = irpc__conn_now_ms(p->conn);
  if (!p->is_client && !p->connected) {
    /* ValidateConnection goes out: the server is connected. */
    p->connected = 1;
    irpc__conn_post_connected(p->conn);
  }
  return n;
}

static int ice_want_fin(const irpc__pconn *p) {
  return p->fin;
}

static int ice_finished(const irpc__pconn *p) {
  return p->closed;
}

static uint64_t ice_next_deadline(const irpc__pconn *p) {
  uint64_t idle = p->io.idle_timeout_ms;
  if (!idle || !p->connected || p->closed || p->fin)
    return UINT64_MAX;
  uint64_t due = p->last_write + idle / 2;
  if (p->io.idle_check && p->last_read + idle < due)
    due = p->last_read + idle;
  return due;
}

static void ice_tick(irpc__pconn *p) {
  uint64_t idle = p->io.idle_timeout_ms;
  if (!idle || !p->connected || p->closed || p->fin)
    return;
  uint64_t now = irpc__conn_now_ms(p->conn);
  if (p->io.idle_check && now >= p->last_read + idle) {
    fail(p, IRPC_EIDLE);
    return;
  }
  if (now >= p->last_write + idle / 2) {
    p->last_write = now;
    send_control(p, IRPC__ICE_VALIDATE);
  }
}

/* ---- Lifecycle ---- */

static int ice_init(irpc__pconn *p, irpc_connection *c,
                    const irpc_connection_options *o, int is_client) {
  p->conn = c;
  p->o = o;
  if (o->ice)
    p->io = *o->ice;
  else
    irpc_ice_options_init(&p->io);
  /* Requests carry no compression field over ice. */
  irpc__conn_set_accepted_formats(c, 0);
  p->is_client = is_client;
  p->next_id = 1;
  irpc__buf_init(&p->in);
  irpc__buf_init(&p->out);
  uint64_t now = irpc__conn_now_ms(c);
  p->last_write = p->last_read = now;
  if (is_client)
    return 0;
  irpc_buf b;
  irpc__buf_init(&b);
  int rc = frame(p, IRPC__ICE_VALIDATE, &b, SEND_PLAIN);
  irpc__buf_fini(&b);
  if (rc) {
    irpc__buf_fini(&p->in);
    irpc__buf_fini(&p->out);
  }
  return rc;
}

static void ice_fini(irpc__pconn *p) {
  irpc__buf_fini(&p->in);
  irpc__buf_fini(&p->out);
  irpc_free(p->abandoned);
}

static void ice_shutdown(irpc__pconn *p) {
  /* Ice sends CloseConnection once the calls and dispatches under way
   * are done (drained); requests coming meanwhile are ignored. */
  p->shutdown = 1;
}

static void ice_drained(irpc__pconn *p) {
  if (p->closed)
    return;
  if (p->close_in) {
    /* The peer closed: we close the transport first, as Ice does. */
    if (!p->fin) {
      p->fin = 1;
      want_output(p);
    }
    return;
  }
  if (!p->close_sent) {
    p->close_sent = 1;
    send_control(p, IRPC__ICE_CLOSE);
  }
}

static void ice_refuse(irpc__pconn *p, irpc__refuse_reason why) {
  (void)why;
  /* Ice has no refusal message: the transport closes before
   * ValidateConnection, which the client reads as a refusal. */
  p->refusing = 1;
  irpc__conn_post_closing(p->conn, UV_ECONNREFUSED);
  close_now(p, UV_ECONNREFUSED, 1);
}

static void ice_abort(irpc__pconn *p, int err) {
  close_now(p, err, 0);
}

const irpc__protocol_ops irpc__ice_protocol = {
    .name = "ice",
    .conn_size = sizeof(irpc__pconn),
    .call_size = sizeof(irpc__pcall),
    .disp_size = sizeof(irpc__pdisp),
    .options_check = ice_options_check,
    .init = ice_init,
    .fini = ice_fini,
    .feed = ice_feed,
    .feed_eof = ice_feed_eof,
    .input_done = ice_input_done,
    .take_output = ice_take_output,
    .want_fin = ice_want_fin,
    .finished = ice_finished,
    .next_deadline = ice_next_deadline,
    .tick = ice_tick,
    .send_request = ice_send_request,
    .send_more = ice_send_more,
    .abandon_request = ice_abandon_request,
    .send_response = ice_send_response,
    .shutdown = ice_shutdown,
    .drained = ice_drained,
    .refuse = ice_refuse,
    .abort = ice_abort,
};
