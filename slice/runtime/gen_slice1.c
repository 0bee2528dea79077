/* The Slice1 (Ice encoding 1.1) part of the generated-code runtime:
 * proxies as 1.1 proxy records, user exceptions in the sliced format, and
 * the operations of ::Ice::Object (ice_ping, ice_isA, ice_id, ice_ids) on
 * both sides. */
#include <stdio.h>
#include <stdlib.h>

#include "gen_internal.h"
#include "gen_slice1.h"
#include "irpc/address.h"
#include "irpc/alloc.h"
#include "slice_internal.h"

/* ---- A small string builder (heap), for URIs ---- */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 128;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = irpc_realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) {
  sb_put(b, s, strlen(s));
}

/* `s` percent-escaped (upper-case hex). An identity part or a facet
 * (path 1) as irpc's ice paths write them (irpc/address.h): the bytes
 * outside 0x21..0x7E, '%', '/' and what irpc_path_check refuses; a host
 * (path 2) or a query value (path 0): every byte but the unreserved ones
 * (and ':' in a host, for IPv6). */
static void sb_esc(sbuf *b, const uint8_t *s, size_t n, int path) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    int keep;
    if (path == 1)
      keep = c >= 0x21 && c <= 0x7E && !strchr("%/\"<>#?\\^`{|}", c);
    else
      keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || (c && strchr("-._~", c)) ||
             (path == 2 && c == ':');
    if (keep) {
      sb_put(b, (const char *)&c, 1);
    } else {
      char x[3] = {'%', hex[c >> 4], hex[c & 15]};
      sb_put(b, x, 3);
    }
  }
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

/* Percent-decodes s[0..n) in place into `out` (n bytes at most); returns
 * the length, or -1 for a bad escape. */
static long unescape(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      out[o++] = s[i];
      continue;
    }
    if (i + 2 >= n)
      return -1;
    int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
    if (h < 0 || l < 0)
      return -1;
    out[o++] = (char)(h << 4 | l);
    i += 2;
  }
  return (long)o;
}

/* A NUL-terminated copy in the arena. */
static char *arena_dup(irpc_slice_in *in, const char *s, size_t n) {
  char *c = irpc_slice_in_alloc(in, n + 1);
  if (c) {
    memcpy(c, s, n);
    c[n] = 0;
  }
  return c;
}

/* ---- Proxies: encoding ---- */

#define TCP_ENDPOINT 1
#define SSL_ENDPOINT 2
#define ICE_DEFAULT_TIMEOUT 60000

/* Writes the identity of `path` ("/name" or "/category/name"). */
static int enc_identity_of(irpc_slice_encoder *e, const char *path) {
  if (!path || path[0] != '/')
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  const char *a = path + 1, *slash = strchr(a, '/');
  const char *cat = "", *name = a;
  size_t catn = 0, namen = strlen(a);
  if (slash) {
    if (strchr(slash + 1, '/'))
      return irpc__slice_enc_fail(e, IRPC_EINVAL);
    cat = a;
    catn = (size_t)(slash - a);
    name = slash + 1;
    namen = strlen(name);
  }
  char *buf = irpc_malloc(catn + namen + 2);
  if (!buf)
    return irpc__slice_enc_fail(e, IRPC_ENOMEM);
  long nl = unescape(name, namen, buf);
  long cl = nl < 0 ? -1 : unescape(cat, catn, buf + nl);
  int rc;
  if (nl <= 0 || cl < 0) {
    rc = irpc__slice_enc_fail(e, IRPC_EINVAL);
  } else {
    rc = irpc_slice_encode_string(e, buf, (size_t)nl);
    if (rc == 0)
      rc = irpc_slice_encode_string(e, buf + nl, (size_t)cl);
  }
  irpc_free(buf);
  return rc;
}

static int enc_endpoint(irpc_slice_encoder *e, const irpc_server_address *a) {
  const char *tr = irpc_server_address_transport(a);
  int16_t type;
  if (!tr || strcmp(tr, "tcp") == 0)
    type = TCP_ENDPOINT;
  else if (strcmp(tr, "ssl") == 0)
    type = SSL_ENDPOINT;
  else
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  /* The timeout in ms, an int32 on the wire (-1: none, which Ice's
   * stringified proxies write "infinite"). */
  const char *t = irpc_server_address_param(a, "t");
  if (t && strcmp(t, "infinite") == 0)
    t = "-1";
  char *end = NULL;
  long long timeout = t ? strtoll(t, &end, 10) : ICE_DEFAULT_TIMEOUT;
  if ((t && (!*t || *end)) || timeout < INT32_MIN || timeout > INT32_MAX)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  /* The host as decoding escaped it. */
  const char *host = irpc_server_address_host(a);
  size_t hn = strlen(host);
  char *h = irpc_malloc(hn + 1);
  if (!h)
    return irpc__slice_enc_fail(e, IRPC_ENOMEM);
  long hl = unescape(host, hn, h);
  irpc_slice_mark m;
  irpc_slice_encode_int16(e, type);
  irpc_slice_encode_encaps_begin(e, 1, 1, &m);
  if (hl < 0)
    irpc__slice_enc_fail(e, IRPC_EINVAL);
  else
    irpc_slice_encode_string(e, h, (size_t)hl);
  irpc_free(h);
  irpc_slice_encode_int32(e, irpc_server_address_port(a));
  irpc_slice_encode_int32(e, (int32_t)timeout);
  irpc_slice_encode_bool(e, irpc_server_address_param(a, "z") != NULL);
  return irpc_slice_encode_encaps_end(e, &m);
}

int irpc__slice_encode_proxy11(irpc_slice_encoder *e, const irpc_slice_proxy *p,
                               const char *default_path) {
  int rc = irpc__slice_enc_check(e, 0);
  if (rc)
    return rc;
  if (!p) { /* the null proxy: an empty identity */
    irpc_slice_encode_size(e, 0);
    return irpc_slice_encode_size(e, 0);
  }
  irpc_service_address *sa = NULL;
  if (p->address) {
    rc = irpc_service_address_parse(&sa, p->address);
    if (rc)
      return irpc__slice_enc_fail(e, rc == IRPC_ENOMEM ? rc : IRPC_EINVAL);
  }
  const char *path = sa        ? irpc_service_address_path(sa)
                     : p->path ? p->path
                               : default_path;
  rc = enc_identity_of(e, path);
  const char *facet = sa ? irpc_service_address_fragment(sa) : NULL;
  if (rc == 0 && facet && *facet) {
    size_t n = strlen(facet);
    char *f = irpc_malloc(n + 1);
    long fl = f ? unescape(facet, n, f) : -1;
    irpc_slice_encode_size(e, 1);
    if (!f)
      rc = irpc__slice_enc_fail(e, IRPC_ENOMEM);
    else if (fl < 0)
      rc = irpc__slice_enc_fail(e, IRPC_EINVAL);
    else
      rc = irpc_slice_encode_string(e, f, (size_t)fl);
    irpc_free(f);
  } else if (rc == 0) {
    rc = irpc_slice_encode_size(e, 0);
  }
  const char *proto = sa ? irpc_service_address_protocol(sa) : NULL;
  int icerpc = proto && strcmp(proto, "icerpc") == 0;
  uint8_t fixed[6] = {0 /* twoway */, 0 /* secure */, icerpc ? 2 : 1, 0, 1, 1};
  if (rc == 0)
    rc = irpc_slice_encode_bytes(e, fixed, sizeof fixed);
  size_t ns = sa ? irpc_service_address_server_count(sa) : 0;
  if (rc == 0)
    rc = irpc_slice_encode_size(e, ns);
  for (size_t i = 0; rc == 0 && i < ns; i++)
    rc = enc_endpoint(e, irpc_service_address_server(sa, i));
  if (rc == 0 && ns == 0) {
    const char *aid = sa ? irpc_service_address_param(sa, "adapter-id") : NULL;
    size_t n = aid ? strlen(aid) : 0;
    char *buf = n ? irpc_malloc(n) : NULL;
    long al = n ? (buf ? unescape(aid, n, buf) : -2) : 0;
    if (al == -2)
      rc = irpc__slice_enc_fail(e, IRPC_ENOMEM);
    else if (al < 0)
      rc = irpc__slice_enc_fail(e, IRPC_EINVAL);
    else
      rc = irpc_slice_encode_string(e, buf, (size_t)al);
    irpc_free(buf);
  }
  irpc_service_address_free(sa);
  return rc;
}

/* ---- Proxies: decoding ---- */

typedef struct endpoint11 {
  int16_t type;
  irpc_bytes host;
  int32_t port, timeout;
  bool compress;
} endpoint11;

/* One endpoint: *usable when it is TCP or SSL (others are skipped). */
static int dec_endpoint(irpc_slice_decoder *d, endpoint11 *ep, int *usable) {
  irpc_slice_scope scope;
  uint8_t major, minor;
  int rc = irpc_slice_decode_int16(d, &ep->type);
  if (rc == 0)
    rc = irpc_slice_decode_encaps_begin(d, &major, &minor, &scope);
  if (rc)
    return rc;
  *usable = ep->type == TCP_ENDPOINT || ep->type == SSL_ENDPOINT;
  if (!*usable)
    return irpc_slice_decode_scope_skip(d, &scope);
  irpc_slice_decode_string(d, &ep->host);
  irpc_slice_decode_int32(d, &ep->port);
  irpc_slice_decode_int32(d, &ep->timeout);
  irpc_slice_decode_bool(d, &ep->compress);
  rc = irpc_slice_decoder_error(d);
  if (rc == 0 && (ep->port < 0 || ep->port > 65535 || ep->host.len == 0))
    rc = irpc__slice_dec_fail(d, IRPC_EDATA);
  /* A newer minor version may add members: skipped, as Ice does. */
  return rc ? rc : irpc_slice_decode_scope_skip(d, &scope);
}

static void sb_host(sbuf *b, const endpoint11 *ep) {
  int v6 = memchr(ep->host.base, ':', ep->host.len) != NULL;
  if (v6)
    sb_str(b, "[");
  sb_esc(b, ep->host.base, ep->host.len, 2);
  if (v6)
    sb_str(b, "]");
  char port[16];
  snprintf(port, sizeof port, ":%d", (int)ep->port);
  sb_str(b, port);
}

/* The parameters of an endpoint, each after `sep`. */
static void sb_params(sbuf *b, const endpoint11 *ep, int *first,
                      const char *sep) {
  char t[32];
  if (ep->type == SSL_ENDPOINT) {
    sb_str(b, *first ? "?" : sep);
    sb_str(b, "transport=ssl");
    *first = 0;
  }
  snprintf(t, sizeof t, "%st=%d", *first ? "?" : sep, (int)ep->timeout);
  sb_str(b, t);
  *first = 0;
  if (ep->compress)
    sb_str(b, sep), sb_str(b, "z");
}

int irpc__slice_decode_proxy11(irpc_slice_in *in, irpc_slice_proxy *p,
                               bool *present) {
  irpc_slice_decoder *d = &in->dec;
  int rc = irpc__slice_dec_check(d, 0);
  if (rc)
    return rc;
  *p = (irpc_slice_proxy){0};
  *present = false;
  irpc_bytes name, cat, facet = {NULL, 0}, aid = {NULL, 0};
  irpc_slice_decode_string(d, &name);
  rc = irpc_slice_decode_string(d, &cat);
  if (rc)
    return rc;
  if (name.len == 0) /* the null proxy */
    return cat.len ? irpc__slice_dec_fail(d, IRPC_EDATA) : 0;
  size_t nf;
  rc = irpc_slice_decode_size(d, &nf);
  if (rc == 0 && nf > 1)
    rc = irpc__slice_dec_fail(d, IRPC_EDATA);
  if (rc == 0 && nf == 1)
    rc = irpc_slice_decode_string(d, &facet);
  uint8_t fixed[6]; /* mode, secure, protocol and encoding versions */
  if (rc == 0)
    rc = irpc_slice_decode_bytes(d, fixed, sizeof fixed);
  if (rc)
    return rc;
  if (fixed[0] > 4 || fixed[1] > 1 || (fixed[2] != 1 && fixed[2] != 2) ||
      fixed[4] != 1)
    return irpc__slice_dec_fail(d, IRPC_EDATA);
  size_t count;
  /* An endpoint: its type and an encapsulation header at least. */
  rc = irpc_slice_decode_count(d, 8, 0, &count);
  if (rc)
    return rc;
  const char *scheme = fixed[2] == 1 ? "ice" : "icerpc";
  sbuf path = {0}, uri = {0};
  sb_str(&path, "/");
  if (cat.len) {
    sb_esc(&path, cat.base, cat.len, 1);
    sb_str(&path, "/");
  }
  sb_esc(&path, name.base, name.len, 1);
  int usable_n = 0, first_params = 1;
  sbuf alt = {0};
  for (size_t i = 0; rc == 0 && i < count; i++) {
    endpoint11 ep;
    int usable = 0;
    rc = dec_endpoint(d, &ep, &usable);
    if (rc || !usable)
      continue;
    if (usable_n == 0) {
      sb_str(&uri, scheme);
      sb_str(&uri, "://");
      sb_host(&uri, &ep);
      if (path.p)
        sb_str(&uri, path.p);
      sb_params(&uri, &ep, &first_params, "&");
    } else {
      sb_str(&alt, usable_n == 1 ? "" : ",");
      sb_host(&alt, &ep);
      int f = 1;
      sb_params(&alt, &ep, &f, "$");
    }
    usable_n++;
  }
  if (rc == 0 && count == 0)
    rc = irpc_slice_decode_string(d, &aid);
  if (rc == 0 && count > 0 && usable_n == 0)
    rc = irpc__slice_dec_fail(d, IRPC_EDATA); /* no endpoint irpc can use */
  if (rc == 0 && usable_n > 1) {
    sb_str(&uri, "&alt-server=");
    if (alt.p)
      sb_str(&uri, alt.p);
  }
  if (rc == 0 && count == 0) {
    sb_str(&uri, scheme);
    sb_str(&uri, ":");
    if (path.p)
      sb_str(&uri, path.p);
    if (aid.len) {
      sb_str(&uri, "?adapter-id=");
      sb_esc(&uri, aid.base, aid.len, 0);
    }
  }
  if (rc == 0 && facet.len) {
    sb_str(&uri, "#");
    sb_esc(&uri, facet.base, facet.len, 1);
  }
  if (rc == 0 && (path.oom || uri.oom || alt.oom))
    rc = irpc__slice_dec_fail(d, IRPC_ENOMEM);
  irpc_service_address *sa = NULL;
  if (rc == 0) {
    int prc = irpc_service_address_parse(&sa, uri.p);
    if (prc)
      rc = irpc__slice_dec_fail(d, prc == IRPC_ENOMEM ? prc : IRPC_EDATA);
  }
  if (rc == 0) {
    p->path = arena_dup(in, path.p, path.n);
    p->address = arena_dup(in, uri.p, uri.n);
    if (!p->path || !p->address)
      rc = irpc_slice_decoder_error(d);
  }
  if (rc == 0) {
    /* With endpoints or an adapter ID the service is elsewhere; without,
     * it is the peer's (a callback) or a well-known one a locator finds. */
    int elsewhere = usable_n > 0 || aid.len > 0;
    p->invoker = elsewhere ? in->absolute_invoker : in->proxy_invoker;
    p->conn = elsewhere ? NULL : in->proxy_conn;
    *present = true;
  }
  irpc_service_address_free(sa);
  irpc_free(path.p);
  irpc_free(uri.p);
  irpc_free(alt.p);
  return rc;
}

/* ---- User exceptions ---- */

/* A descriptor this runtime reads: the first version, or a later one (its
 * added members are not read). */
static int exc_desc_ok(const irpc_slice_exception_desc *d) {
  return d && d->struct_size >= sizeof(*d) && d->type_id && d->encode_slice &&
         d->decode_slice;
}

int irpc_slice_exception_is(const irpc_slice_exception_desc *d,
                            const irpc_slice_exception_desc *of) {
  for (; d && of; d = d->base)
    if (d == of || strcmp(d->type_id, of->type_id) == 0)
      return 1;
  return 0;
}

int irpc_slice_encode_exception(irpc_slice_encoder *e,
                                const irpc_slice_exception_desc *d,
                                const void *value) {
  int rc = irpc__slice_enc_check(e, 0);
  if (rc)
    return rc;
  if (!exc_desc_ok(d) || !value)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  for (const irpc_slice_exception_desc *x = d; x && rc == 0; x = x->base)
    rc = exc_desc_ok(x) ? x->encode_slice(e, value, x->base == NULL)
                        : irpc__slice_enc_fail(e, IRPC_EINVAL);
  return rc;
}

static const irpc_slice_exception_desc *
exc_find(const irpc_slice_exception_desc *const *known, size_t n,
         irpc_bytes id) {
  for (size_t i = 0; i < n; i++) {
    const char *t = exc_desc_ok(known[i]) ? known[i]->type_id : NULL;
    if (t && strlen(t) == id.len && memcmp(t, id.base, id.len) == 0)
      return known[i];
  }
  return NULL;
}

/* Decodes the members of one slice (header read) of type x into v. */
static int exc_slice(irpc_slice_in *in, const irpc_slice_exception_desc *x,
                     const irpc_slice_exception_slice *s, void *v) {
  irpc_slice_decoder *d = &in->dec;
  irpc_slice_scope scope;
  int sized = (s->flags & IRPC_SLICE_EXC_HAS_SLICE_SIZE) != 0;
  int rc = sized ? irpc__slice_dec_push(d, s->size, &scope) : 0;
  if (rc == 0)
    rc = x->decode_slice(in, v, s->flags);
  if (rc == 0)
    rc = irpc_slice_decoder_error(d);
  if (rc == 0 && sized)
    rc = irpc_slice_decode_scope_end(d, &scope);
  return rc;
}

int irpc_slice_decode_exception(irpc_slice_in *in,
                                const irpc_slice_exception_desc *const *known,
                                size_t n, irpc_str *type_id,
                                const irpc_slice_exception_desc **dp,
                                void **value) {
  if (!in || !type_id || !dp || !value || (n && !known))
    return IRPC_EINVAL;
  irpc_slice_decoder *d = &in->dec;
  int rc = irpc__slice_dec_check(d, 0);
  if (rc)
    return rc;
  *dp = NULL;
  *value = NULL;
  *type_id = (irpc_str){"", 0};
  irpc_slice_exception_slice s;
  rc = irpc_slice_decode_exception_slice(d, &s);
  if (rc)
    return rc;
  *type_id = (irpc_str){(const char *)s.type_id.base, s.type_id.len};
  const irpc_slice_exception_desc *x;
  for (;;) {
    if (s.flags & IRPC_SLICE_EXC_HAS_INDIRECTION_TABLE)
      return irpc__slice_dec_fail(d, IRPC_ENOTSUP);
    x = exc_find(known, n, s.type_id);
    if (x)
      break;
    /* Unknown: skipped when it has a size, else (the compact format) the
     * rest cannot be found. */
    if (!(s.flags & IRPC_SLICE_EXC_HAS_SLICE_SIZE) ||
        (s.flags & IRPC_SLICE_EXC_IS_LAST_SLICE))
      return irpc__slice_dec_fail(d, IRPC_ENOTFOUND);
    rc = irpc_slice_skip_exception_slice(d, &s);
    if (rc == 0)
      rc = irpc_slice_decode_exception_slice(d, &s);
    if (rc)
      return rc;
  }
  void *v = irpc_slice_in_alloc(in, x->size);
  if (!v)
    return irpc_slice_decoder_error(d);
  memset(v, 0, x->size);
  for (const irpc_slice_exception_desc *l = x; l; l = l->base) {
    if (!exc_desc_ok(l))
      return irpc__slice_dec_fail(d, IRPC_EINVAL);
    if (l != x) {
      rc = irpc_slice_decode_exception_slice(d, &s);
      if (rc)
        return rc;
      if (s.type_id.len != strlen(l->type_id) ||
          memcmp(s.type_id.base, l->type_id, s.type_id.len) != 0)
        return irpc__slice_dec_fail(d, IRPC_EDATA);
      if (s.flags & IRPC_SLICE_EXC_HAS_INDIRECTION_TABLE)
        return irpc__slice_dec_fail(d, IRPC_ENOTSUP);
    }
    rc = exc_slice(in, l, &s, v);
    if (rc)
      return rc;
    if (!(s.flags & IRPC_SLICE_EXC_IS_LAST_SLICE) != (l->base != NULL))
      return irpc__slice_dec_fail(d, IRPC_EDATA);
  }
  *dp = x;
  *value = v;
  return 0;
}

/* ---- ::Ice::Object ---- */

#define ICE_OBJECT_ID "::Ice::Object"

/* Every type ID of `iface`'s interfaces, ::Ice::Object included, sorted
 * and unique, in a new array (*n of them). */
static void ids_add(const char **ids, size_t *n, size_t cap, const char *id) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp(ids[i], id) == 0)
      return;
  if (*n < cap)
    ids[(*n)++] = id;
}

static void ids_walk(const irpc_slice_iface *iface, const char **ids, size_t *n,
                     size_t cap, int depth) {
  if (!iface || depth > 500)
    return;
  ids_add(ids, n, cap, iface->type_id);
  for (size_t i = 0; i < iface->nbases; i++)
    ids_walk(iface->bases[i], ids, n, cap, depth + 1);
}

static size_t ids_count(const irpc_slice_iface *iface, int depth) {
  size_t n = 1;
  for (size_t i = 0; iface && depth <= 500 && i < iface->nbases; i++)
    n += ids_count(iface->bases[i], depth + 1);
  return n;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char **type_ids(const irpc_slice_iface *iface, size_t *n) {
  size_t cap = ids_count(iface, 0) + 1;
  const char **ids = irpc_malloc(cap * sizeof(*ids));
  *n = 0;
  if (!ids)
    return NULL;
  ids_walk(iface, ids, n, cap, 0);
  ids_add(ids, n, cap, ICE_OBJECT_ID);
  qsort(ids, *n, sizeof(*ids), cmp_str);
  return ids;
}

static int is_a(const irpc_slice_iface *iface, irpc_str id, int depth) {
  if (!iface || depth > 500)
    return 0;
  if (strlen(iface->type_id) == id.len &&
      memcmp(iface->type_id, id.ptr, id.len) == 0)
    return 1;
  for (size_t i = 0; i < iface->nbases; i++)
    if (is_a(iface->bases[i], id, depth + 1))
      return 1;
  return 0;
}

/* Server side: `values` is what the call below hands to the reply. */

static int isA_decode_args(irpc_slice_in *in, void *values) {
  return irpc_slice_decode_str(in, values);
}

static int isA_encode_args(irpc_slice_encoder *e, const void *values) {
  return irpc_slice_encode_str(e, *(const irpc_str *)values);
}

static int bool_encode(irpc_slice_encoder *e, const void *values) {
  return irpc_slice_encode_bool(e, *(const bool *)values);
}

static int bool_decode(irpc_slice_in *in, void *values) {
  return irpc_slice_decode_bool(&in->dec, values);
}

static int id_encode(irpc_slice_encoder *e, const void *values) {
  const irpc_slice_iface *iface = values;
  return irpc_slice_encode_string(e, iface->type_id, strlen(iface->type_id));
}

static int str_decode(irpc_slice_in *in, void *values) {
  return irpc_slice_decode_str(in, values);
}

static int ids_encode(irpc_slice_encoder *e, const void *values) {
  size_t n;
  const char **ids = type_ids(values, &n);
  if (!ids)
    return irpc__slice_enc_fail(e, IRPC_ENOMEM);
  int rc = irpc_slice_encode_size(e, n);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = irpc_slice_encode_string(e, ids[i], strlen(ids[i]));
  irpc_free((void *)ids);
  return rc;
}

static int ids_decode(irpc_slice_in *in, void *values) {
  irpc_slice_str_seq *v = values;
  void *items;
  int rc = irpc_slice_decode_array(in, 1, sizeof(irpc_str), &v->n, &items);
  v->items = items;
  for (size_t i = 0; rc == 0 && i < v->n; i++)
    rc = irpc_slice_decode_str(in, &v->items[i]);
  return rc;
}

static int ping_call(const void *ops, void *impl, irpc_slice_dispatch *sd,
                     void *args) {
  (void)ops, (void)impl, (void)args;
  irpc_slice_dispatch_reply(sd, NULL);
  return 0;
}

static int isA_call(const void *ops, void *impl, irpc_slice_dispatch *sd,
                    void *args) {
  (void)ops, (void)impl;
  bool r = is_a(irpc__slice_dispatch_iface(sd), *(irpc_str *)args, 0) ||
           irpc_str_eq(*(irpc_str *)args, ICE_OBJECT_ID);
  irpc_slice_dispatch_reply(sd, &r);
  return 0;
}

static int iface_call(const void *ops, void *impl, irpc_slice_dispatch *sd,
                      void *args) {
  (void)ops, (void)impl, (void)args;
  irpc_slice_dispatch_reply(sd, irpc__slice_dispatch_iface(sd));
  return 0;
}

/* Client side: the typed callbacks. */

static void ping_deliver(irpc_slice_reply *reply, int err, const void *ret,
                         void (*cb)(void), void *user_data) {
  (void)ret;
  ((irpc_slice_ice_ping_cb)cb)(reply, err, user_data);
}

static void isA_deliver(irpc_slice_reply *reply, int err, const void *ret,
                        void (*cb)(void), void *user_data) {
  ((irpc_slice_ice_isA_cb)cb)(reply, err, ret, user_data);
}

static void id_deliver(irpc_slice_reply *reply, int err, const void *ret,
                       void (*cb)(void), void *user_data) {
  ((irpc_slice_ice_id_cb)cb)(reply, err, ret, user_data);
}

static void ids_deliver(irpc_slice_reply *reply, int err, const void *ret,
                        void (*cb)(void), void *user_data) {
  ((irpc_slice_ice_ids_cb)cb)(reply, err, ret, user_data);
}

static const irpc_slice_op ice_ids_op = {.struct_size = sizeof(irpc_slice_op),
                                         .name = "ice_ids",
                                         .flags = IRPC_SLICE_OP_IDEMPOTENT,
                                         .decode_return = ids_decode,
                                         .return_size =
                                             sizeof(irpc_slice_str_seq),
                                         .deliver = ids_deliver,
                                         .encode_return = ids_encode,
                                         .call = iface_call,
                                         .encoding = IRPC_SLICE_ENCODING_1_1};

static const irpc_slice_op ice_id_op = {.struct_size = sizeof(irpc_slice_op),
                                        .name = "ice_id",
                                        .flags = IRPC_SLICE_OP_IDEMPOTENT,
                                        .decode_return = str_decode,
                                        .return_size = sizeof(irpc_str),
                                        .deliver = id_deliver,
                                        .encode_return = id_encode,
                                        .call = iface_call,
                                        .encoding = IRPC_SLICE_ENCODING_1_1};

static const irpc_slice_op ice_isA_op = {.struct_size = sizeof(irpc_slice_op),
                                         .name = "ice_isA",
                                         .flags = IRPC_SLICE_OP_IDEMPOTENT,
                                         .encode_args = isA_encode_args,
                                         .decode_return = bool_decode,
                                         .return_size = sizeof(bool),
                                         .deliver = isA_deliver,
                                         .decode_args = isA_decode_args,
                                         .args_size = sizeof(irpc_str),
                                         .encode_return = bool_encode,
                                         .call = isA_call,
                                         .encoding = IRPC_SLICE_ENCODING_1_1};

static const irpc_slice_op ice_ping_op = {.struct_size = sizeof(irpc_slice_op),
                                          .name = "ice_ping",
                                          .flags = IRPC_SLICE_OP_IDEMPOTENT,
                                          .deliver = ping_deliver,
                                          .call = ping_call,
                                          .encoding = IRPC_SLICE_ENCODING_1_1};

const irpc_slice_op *irpc__slice_ice_object_op(const char *name) {
  if (!name || strncmp(name, "ice_", 4) != 0)
    return NULL;
  static const irpc_slice_op *const all[] = {&ice_id_op, &ice_ids_op,
                                             &ice_isA_op, &ice_ping_op};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(name, all[i]->name) == 0)
      return all[i];
  return NULL;
}

int irpc_slice_ice_ping(const irpc_slice_proxy *proxy,
                        const irpc_slice_iface *iface,
                        const irpc_slice_call_opts *opts,
                        irpc_slice_ice_ping_cb cb, void *user_data) {
  return irpc_slice_invoke(proxy, iface, &ice_ping_op, NULL, opts,
                           (void (*)(void))cb, user_data);
}

int irpc_slice_ice_isA(const irpc_slice_proxy *proxy,
                       const irpc_slice_iface *iface, irpc_str type_id,
                       const irpc_slice_call_opts *opts,
                       irpc_slice_ice_isA_cb cb, void *user_data) {
  return irpc_slice_invoke(proxy, iface, &ice_isA_op, &type_id, opts,
                           (void (*)(void))cb, user_data);
}

int irpc_slice_ice_id(const irpc_slice_proxy *proxy,
                      const irpc_slice_iface *iface,
                      const irpc_slice_call_opts *opts, irpc_slice_ice_id_cb cb,
                      void *user_data) {
  return irpc_slice_invoke(proxy, iface, &ice_id_op, NULL, opts,
                           (void (*)(void))cb, user_data);
}

int irpc_slice_ice_ids(const irpc_slice_proxy *proxy,
                       const irpc_slice_iface *iface,
                       const irpc_slice_call_opts *opts,
                       irpc_slice_ice_ids_cb cb, void *user_data) {
  return irpc_slice_invoke(proxy, iface, &ice_ids_op, NULL, opts,
                           (void (*)(void))cb, user_data);
}
