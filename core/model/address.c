/* Server and service addresses: parsing and formatting of IceRPC's URIs. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "irpc/address.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/frames.h"
#include "address_internal.h"

typedef struct param {
  char *name;
  char *value;
} param;

typedef struct params {
  param *items;
  size_t count;
} params;

struct irpc_server_address {
  const char *protocol; /* static string */
  char *host;
  uint16_t port;
  char *transport;
  params params;
};

struct irpc_service_address {
  const char *protocol; /* static string, NULL when relative */
  char *path;
  char *fragment;
  params params;
  irpc_server_address **servers;
  size_t nservers;
};

static const char proto_icerpc[] = "icerpc";
static const char proto_ice[] = "ice";

static char *str_dup(const char *s, size_t n) {
  char *d = irpc_malloc(n + 1);
  if (!d)
    return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* The first of `set` in [s, s + n), or s + n. */
static const char *find_any(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++) {
    if (strchr(set, s[i]))
      return s + i;
  }
  return s + n;
}

static int uri_chars_ok(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p <= 0x20 || *p >= 0x7F)
      return 0;
  }
  return 1;
}

static const char *protocol_of(const char *s, size_t n) {
  if (n == 6 && strncasecmp(s, proto_icerpc, 6) == 0)
    return proto_icerpc;
  if (n == 3 && strncasecmp(s, proto_ice, 3) == 0)
    return proto_ice;
  return NULL;
}

static uint16_t default_port(const char *protocol) {
  return protocol == proto_ice ? IRPC_ICE_DEFAULT_PORT
                               : IRPC_ICERPC_DEFAULT_PORT;
}

/* ---- Parameter lists ---- */

static void params_fini(params *ps) {
  for (size_t i = 0; i < ps->count; i++) {
    irpc_free(ps->items[i].name);
    irpc_free(ps->items[i].value);
  }
  irpc_free(ps->items);
  ps->items = NULL;
  ps->count = 0;
}

static param *params_find(const params *ps, const char *name, size_t nl) {
  for (size_t i = 0; i < ps->count; i++) {
    if (strlen(ps->items[i].name) == nl &&
        memcmp(ps->items[i].name, name, nl) == 0)
      return &ps->items[i];
  }
  return NULL;
}

/* Adds name=value; a repeated name gets ",value" appended. */
static int params_add(params *ps, const char *name, size_t nl,
                      const char *value, size_t vl) {
  param *p = params_find(ps, name, nl);
  if (p) {
    size_t old = strlen(p->value);
    char *v = irpc_realloc(p->value, old + 1 + vl + 1);
    if (!v)
      return IRPC_ENOMEM;
    v[old] = ',';
    memcpy(v + old + 1, value, vl);
    v[old + 1 + vl] = '\0';
    p->value = v;
    return 0;
  }
  param *items = irpc_realloc(ps->items, (ps->count + 1) * sizeof(*items));
  if (!items)
    return IRPC_ENOMEM;
  ps->items = items;
  char *n = str_dup(name, nl);
  char *v = str_dup(value, vl);
  if (!n || !v) {
    irpc_free(n);
    irpc_free(v);
    return IRPC_ENOMEM;
  }
  ps->items[ps->count].name = n;
  ps->items[ps->count].value = v;
  ps->count++;
  return 0;
}

static int params_copy(params *dst, const params *src) {
  for (size_t i = 0; i < src->count; i++) {
    const param *p = &src->items[i];
    int rc =
        params_add(dst, p->name, strlen(p->name), p->value, strlen(p->value));
    if (rc)
      return rc;
  }
  return 0;
}

static int params_equal(const params *a, const params *b) {
  if (a->count != b->count)
    return 0;
  for (size_t i = 0; i < a->count; i++) {
    const param *p = &a->items[i];
    const param *q = params_find(b, p->name, strlen(p->name));
    if (!q || strcmp(p->value, q->value) != 0)
      return 0;
  }
  return 1;
}

/* Calls fn for each item of a query split by `sep`, with the name and value
 * (split at the first '='). Empty items are skipped. */
typedef int (*query_fn)(void *ctx, const char *name, size_t nl,
                        const char *value, size_t vl);

static int query_each(const char *q, size_t n, char sep, query_fn fn,
                      void *ctx) {
  const char *end = q + n;
  while (q < end) {
    const char *item_end = memchr(q, sep, (size_t)(end - q));
    if (!item_end)
      item_end = end;
    if (item_end > q) {
      const char *eq = memchr(q, '=', (size_t)(item_end - q));
      const char *name_end = eq ? eq : item_end;
      const char *value = eq ? eq + 1 : item_end;
      if (name_end == q)
        return IRPC_EINVAL;
      int rc =
          fn(ctx, q, (size_t)(name_end - q), value, (size_t)(item_end - value));
      if (rc)
        return rc;
    }
    q = item_end + (item_end < end);
  }
  return 0;
}

static int name_is(const char *name, size_t nl, const char *what) {
  return strlen(what) == nl && memcmp(name, what, nl) == 0;
}

/* ---- Server addresses ---- */

static irpc_server_address *server_alloc(const char *protocol) {
  irpc_server_address *a = irpc_calloc(1, sizeof(*a));
  if (a) {
    a->protocol = protocol;
    a->port = default_port(protocol);
  }
  return a;
}

void irpc_server_address_free(irpc_server_address *a) {
  if (!a)
    return;
  irpc_free(a->host);
  irpc_free(a->transport);
  params_fini(&a->params);
  irpc_free(a);
}

static int host_char_ok(char c) {
  return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '%';
}

/* Sets host and port from "host[:port]" or "[v6][:port]". */
static int parse_authority(irpc_server_address *a, const char *s, size_t n) {
  if (memchr(s, '@', n))
    return IRPC_EINVAL; /* user-info */
  const char *host, *rest;
  size_t hl;
  const char *end = s + n;
  if (n > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close)
      return IRPC_EINVAL;
    host = s + 1;
    hl = (size_t)(close - host);
    char tmp[64];
    unsigned char bin[16];
    if (hl == 0 || hl >= sizeof(tmp))
      return IRPC_EINVAL;
    memcpy(tmp, host, hl);
    tmp[hl] = '\0';
    if (uv_inet_pton(AF_INET6, tmp, bin) != 0)
      return IRPC_EINVAL;
    rest = close + 1;
  } else {
    host = s;
    rest = find_any(s, n, ":");
    hl = (size_t)(rest - s);
    if (hl == 0)
      return IRPC_EINVAL;
    for (size_t i = 0; i < hl; i++) {
      if (!host_char_ok(host[i]))
        return IRPC_EINVAL;
    }
  }
  if (rest < end) {
    if (*rest != ':' || rest + 1 == end || end - (rest + 1) > 5)
      return IRPC_EINVAL;
    unsigned long port = 0;
    for (const char *p = rest + 1; p < end; p++) {
      if (!isdigit((unsigned char)*p))
        return IRPC_EINVAL;
      port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535)
      return IRPC_EINVAL;
    a->port = (uint16_t)port;
  }
  a->host = str_dup(host, hl);
  if (!a->host)
    return IRPC_ENOMEM;
  for (char *p = a->host; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return 0;
}

static int server_param(void *ctx, const char *name, size_t nl,
                        const char *value, size_t vl) {
  irpc_server_address *a = ctx;
  if (name_is(name, nl, "alt-server"))
    return IRPC_EINVAL;
  if (name_is(name, nl, "transport")) {
    if (a->transport || vl == 0)
      return IRPC_EINVAL;
    a->transport = str_dup(value, vl);
    return a->transport ? 0 : IRPC_ENOMEM;
  }
  return params_add(&a->params, name, nl, value, vl);
}

static int server_check(const irpc_server_address *a) {
  if (a->transport && strcmp(a->transport, "uds") == 0) {
    const char *path = irpc_server_address_param(a, "path");
    if (!path || !*path)
      return IRPC_EINVAL;
  }
  return 0;
}

/* A server address from its authority and query (items split by `sep`). */
static int server_build(irpc_server_address **out, const char *protocol,
                        const char *auth, size_t alen, const char *query,
                        size_t qlen, char sep) {
  irpc_server_address *a = server_alloc(protocol);
  if (!a)
    return IRPC_ENOMEM;
  int rc = parse_authority(a, auth, alen);
  if (!rc)
    rc = query_each(query, qlen, sep, server_param, a);
  if (!rc)
    rc = server_check(a);
  if (rc) {
    irpc_server_address_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

/* unix:/path, unix:///path, unix-abstract:name. Returns 1 when `uri` is not
 * a shorthand. */
static int parse_unix(irpc_server_address **out, const char *uri) {
  const char *path;
  int abstract = 0;
  if (strncasecmp(uri, "unix:", 5) == 0) {
    path = uri + 5;
    if (strncmp(path, "//", 2) == 0) {
      path += 2;
      if (path[0] != '/')
        return IRPC_EINVAL; /* unix://host/... */
    }
  } else if (strncasecmp(uri, "unix-abstract:", 14) == 0) {
    path = uri + 14;
    abstract = 1;
  } else {
    return 1;
  }
  if (!*path || strpbrk(path, "?#"))
    return IRPC_EINVAL;
  size_t pl = strlen(path);
  char *value = irpc_malloc(pl + 2);
  irpc_server_address *a = server_alloc(proto_icerpc);
  int rc = IRPC_ENOMEM;
  if (a && value) {
    value[0] = '@';
    memcpy(value + abstract, path, pl + 1);
    a->host = str_dup("localhost", 9);
    a->transport = str_dup("uds", 3);
    if (a->host && a->transport)
      rc = params_add(&a->params, "path", 4, value, strlen(value));
  }
  irpc_free(value);
  if (rc) {
    irpc_server_address_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

int irpc_server_address_parse(irpc_server_address **out, const char *uri) {
  if (!out || !uri || !uri_chars_ok(uri))
    return IRPC_EINVAL;
  int rc = parse_unix(out, uri);
  if (rc <= 0)
    return rc;
  const char *colon = strchr(uri, ':');
  if (!colon)
    return IRPC_EINVAL;
  const char *protocol = protocol_of(uri, (size_t)(colon - uri));
  if (!protocol || strncmp(colon, "://", 3) != 0)
    return IRPC_EINVAL;
  const char *auth = colon + 3;
  const char *end = auth + strlen(auth);
  const char *auth_end = find_any(auth, (size_t)(end - auth), "/?#");
  const char *query = auth_end;
  if (*query == '/') {
    query++; /* only a lone "/" path */
    if (*query && *query != '?')
      return IRPC_EINVAL;
  }
  const char *qend = end;
  if (*query == '?')
    query++;
  else if (*query) /* a fragment */
    return IRPC_EINVAL;
  if (memchr(query, '#', (size_t)(qend - query)))
    return IRPC_EINVAL;
  return server_build(out, protocol, auth, (size_t)(auth_end - auth), query,
                      (size_t)(qend - query), '&');
}

int irpc_server_address_new(irpc_server_address **out, const char *protocol,
                            const char *host, int port, const char *transport) {
  if (!out || !protocol || !host || !*host || port < 0 || port > 65535 ||
      (transport && !*transport))
    return IRPC_EINVAL;
  const char *proto = protocol_of(protocol, strlen(protocol));
  if (!proto)
    return IRPC_EINVAL;
  irpc_server_address *a = server_alloc(proto);
  if (!a)
    return IRPC_ENOMEM;
  a->port = (uint16_t)port;
  a->host = str_dup(host, strlen(host));
  if (transport)
    a->transport = str_dup(transport, strlen(transport));
  if (!a->host || (transport && !a->transport)) {
    irpc_server_address_free(a);
    return IRPC_ENOMEM;
  }
  *out = a;
  return 0;
}

/* A parameter name or value the URI form carries as it is: printable
 * ASCII without the query's separators. */
static int param_text_ok(const char *s, const char *forbidden) {
  return uri_chars_ok(s) && !strpbrk(s, forbidden);
}

int irpc_server_address_set_param(irpc_server_address *a, const char *name,
                                  const char *value) {
  if (!a || !name || !value || !*name || strcmp(name, "transport") == 0 ||
      strcmp(name, "alt-server") == 0)
    return IRPC_EINVAL;
  if (!param_text_ok(name, "&=#?/,$") || !param_text_ok(value, "&#?,$"))
    return IRPC_EINVAL;
  return params_add(&a->params, name, strlen(name), value, strlen(value));
}

int irpc_server_address_clone(irpc_server_address **out,
                              const irpc_server_address *a) {
  if (!out || !a)
    return IRPC_EINVAL;
  irpc_server_address *c;
  int rc =
      irpc_server_address_new(&c, a->protocol, a->host, a->port, a->transport);
  if (rc)
    return rc;
  rc = params_copy(&c->params, &a->params);
  if (rc) {
    irpc_server_address_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

const char *irpc_server_address_protocol(const irpc_server_address *a) {
  return a ? a->protocol : NULL;
}

const char *irpc_server_address_host(const irpc_server_address *a) {
  return a ? a->host : NULL;
}

uint16_t irpc_server_address_port(const irpc_server_address *a) {
  return a ? a->port : 0;
}

const char *irpc_server_address_transport(const irpc_server_address *a) {
  return a ? a->transport : NULL;
}

const char *irpc_server_address_param(const irpc_server_address *a,
                                      const char *name) {
  if (!a || !name)
    return NULL;
  const param *p = params_find(&a->params, name, strlen(name));
  return p ? p->value : NULL;
}

size_t irpc_server_address_param_count(const irpc_server_address *a) {
  return a ? a->params.count : 0;
}

const char *irpc_server_address_param_name(const irpc_server_address *a,
                                           size_t i) {
  return a && i < a->params.count ? a->params.items[i].name : NULL;
}

const char *irpc_server_address_param_value(const irpc_server_address *a,
                                            size_t i) {
  return a && i < a->params.count ? a->params.items[i].value : NULL;
}

int irpc_server_address_equal(const irpc_server_address *a,
                              const irpc_server_address *b) {
  if (!a || !b)
    return 0;
  if (a->protocol != b->protocol || a->port != b->port ||
      strcasecmp(a->host, b->host) != 0)
    return 0;
  if (a->transport && b->transport && strcmp(a->transport, b->transport) != 0)
    return 0;
  return params_equal(&a->params, &b->params);
}

/* ---- Formatting ---- */

typedef struct writer {
  char *buf;
  size_t len;
  size_t pos;
} writer;

static void put(writer *w, const char *s, size_t n) {
  if (w->pos < w->len) {
    size_t room = w->len - w->pos;
    memcpy(w->buf + w->pos, s, n < room ? n : room);
  }
  w->pos += n;
}

static void puts_(writer *w, const char *s) {
  put(w, s, strlen(s));
}

static int finish(writer *w) {
  if (w->pos < w->len) {
    w->buf[w->pos] = '\0';
    return 0;
  }
  if (w->len > 0)
    w->buf[w->len - 1] = '\0';
  return UV_ENOBUFS;
}

static void put_authority(writer *w, const irpc_server_address *a) {
  int v6 = strchr(a->host, ':') != NULL;
  if (v6)
    put(w, "[", 1);
  puts_(w, a->host);
  if (v6)
    put(w, "]", 1);
  if (a->port != default_port(a->protocol)) {
    char port[8];
    int n = snprintf(port, sizeof(port), ":%u", (unsigned)a->port);
    put(w, port, (size_t)n);
  }
}

/* Writes ?transport=..&k=v (sep between items, `lead` first). */
static void put_server_query(writer *w, const irpc_server_address *a, char lead,
                             char sep) {
  char c = lead;
  if (a->transport) {
    put(w, &c, 1);
    puts_(w, "transport=");
    puts_(w, a->transport);
    c = sep;
  }
  for (size_t i = 0; i < a->params.count; i++) {
    put(w, &c, 1);
    puts_(w, a->params.items[i].name);
    put(w, "=", 1);
    puts_(w, a->params.items[i].value);
    c = sep;
  }
}

int irpc_server_address_format(const irpc_server_address *a, char *buf,
                               size_t len) {
  if (!a || (!buf && len > 0))
    return IRPC_EINVAL;
  writer w = {buf, len, 0};
  puts_(&w, a->protocol);
  puts_(&w, "://");
  put_authority(&w, a);
  put_server_query(&w, a, '?', '&');
  return finish(&w);
}

/* ---- Service addresses ---- */

void irpc_service_address_free(irpc_service_address *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nservers; i++)
    irpc_server_address_free(s->servers[i]);
  irpc_free(s->servers);
  irpc_free(s->path);
  irpc_free(s->fragment);
  params_fini(&s->params);
  irpc_free(s);
}

static int add_server(irpc_service_address *s, irpc_server_address *a) {
  irpc_server_address **v =
      irpc_realloc(s->servers, (s->nservers + 1) * sizeof(*v));
  if (!v) {
    irpc_server_address_free(a);
    return IRPC_ENOMEM;
  }
  s->servers = v;
  s->servers[s->nservers++] = a;
  return 0;
}

/* Parses one alt-server list "h[:p][?k=v$k=v],h2...". */
static int add_alt_servers(irpc_service_address *s, const char *v, size_t n) {
  const char *end = v + n;
  while (v <= end) {
    const char *item_end = memchr(v, ',', (size_t)(end - v));
    if (!item_end)
      item_end = end;
    const char *q = find_any(v, (size_t)(item_end - v), "?");
    const char *query = q < item_end ? q + 1 : item_end;
    irpc_server_address *a;
    int rc = server_build(&a, s->protocol, v, (size_t)(q - v), query,
                          (size_t)(item_end - query), '$');
    if (!rc)
      rc = add_server(s, a);
    if (rc)
      return rc;
    v = item_end + 1;
  }
  return 0;
}

typedef struct main_query {
  irpc_service_address *s;
  irpc_server_address *main;
} main_query;

static int main_param(void *ctx, const char *name, size_t nl, const char *value,
                      size_t vl) {
  main_query *m = ctx;
  if (name_is(name, nl, "alt-server"))
    return add_alt_servers(m->s, value, vl);
  return server_param(m->main, name, nl, value, vl);
}

static int service_param(void *ctx, const char *name, size_t nl,
                         const char *value, size_t vl) {
  irpc_service_address *s = ctx;
  if (name_is(name, nl, "transport") || name_is(name, nl, "alt-server"))
    return IRPC_EINVAL;
  if (s->protocol == proto_ice && (!name_is(name, nl, "adapter-id") || vl == 0))
    return IRPC_EINVAL;
  return params_add(&s->params, name, nl, value, vl);
}

static int set_path(irpc_service_address *s, const char *p, size_t n) {
  if (n == 0) {
    p = "/";
    n = 1;
  }
  s->path = str_dup(p, n);
  if (!s->path)
    return IRPC_ENOMEM;
  int rc = irpc_path_check(s->path);
  if (rc)
    return rc;
  if (s->protocol == proto_ice) {
    size_t segs = 0;
    for (const char *c = s->path; *c; c++)
      segs += *c == '/';
    if (segs > 2 || !irpc__ice_escapes_ok(s->path, strlen(s->path)))
      return IRPC_EINVAL;
  }
  return 0;
}

/* Parses the main server address, then the alt-servers of the query. */
static int parse_with_server(irpc_service_address *s, const char *auth,
                             const char *end) {
  const char *auth_end = find_any(auth, (size_t)(end - auth), "/?");
  const char *path_end = find_any(auth_end, (size_t)(end - auth_end), "?");
  int rc = set_path(s, auth_end, (size_t)(path_end - auth_end));
  if (rc)
    return rc;
  irpc_server_address *main = server_alloc(s->protocol);
  if (!main)
    return IRPC_ENOMEM;
  rc = parse_authority(main, auth, (size_t)(auth_end - auth));
  if (rc) {
    irpc_server_address_free(main);
    return rc;
  }
  rc = add_server(s, main);
  if (rc)
    return rc;
  const char *query = path_end < end ? path_end + 1 : end;
  main_query m = {s, main};
  rc = query_each(query, (size_t)(end - query), '&', main_param, &m);
  return rc ? rc : server_check(main);
}

static int parse_service(irpc_service_address *s, const char *uri) {
  const char *rest = uri;
  if (uri[0] != '/') {
    const char *colon = strchr(uri, ':');
    if (!colon)
      return IRPC_EINVAL;
    s->protocol = protocol_of(uri, (size_t)(colon - uri));
    if (!s->protocol)
      return IRPC_EINVAL;
    rest = colon + 1;
  }
  const char *end = rest + strlen(rest);
  const char *hash = strchr(rest, '#');
  if (hash) {
    if (s->protocol != proto_ice)
      return IRPC_EINVAL;
    if (!irpc__ice_escapes_ok(hash + 1, strlen(hash + 1)))
      return IRPC_EINVAL;
    if (hash[1]) {
      s->fragment = str_dup(hash + 1, strlen(hash + 1));
      if (!s->fragment)
        return IRPC_ENOMEM;
    }
    end = hash;
  }
  if (s->protocol && strncmp(rest, "//", 2) == 0)
    return parse_with_server(s, rest + 2, end);
  const char *path_end = find_any(rest, (size_t)(end - rest), "?");
  if (path_end == rest)
    return IRPC_EPATH;
  int rc = set_path(s, rest, (size_t)(path_end - rest));
  if (rc)
    return rc;
  if (path_end == end)
    return 0;
  if (!s->protocol)
    return IRPC_EINVAL; /* a relative address has no query */
  return query_each(path_end + 1, (size_t)(end - path_end - 1), '&',
                    service_param, s);
}

int irpc_service_address_parse(irpc_service_address **out, const char *uri) {
  if (!out || !uri || !uri_chars_ok(uri))
    return IRPC_EINVAL;
  irpc_service_address *s = irpc_calloc(1, sizeof(*s));
  if (!s)
    return IRPC_ENOMEM;
  int rc = parse_service(s, uri);
  if (rc) {
    irpc_service_address_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

const char *irpc_service_address_protocol(const irpc_service_address *s) {
  return s ? s->protocol : NULL;
}

const char *irpc_service_address_path(const irpc_service_address *s) {
  return s ? s->path : NULL;
}

const char *irpc_service_address_fragment(const irpc_service_address *s) {
  return s ? s->fragment : NULL;
}

const char *irpc_service_address_param(const irpc_service_address *s,
                                       const char *name) {
  if (!s || !name)
    return NULL;
  const param *p = params_find(&s->params, name, strlen(name));
  return p ? p->value : NULL;
}

size_t irpc_service_address_server_count(const irpc_service_address *s) {
  return s ? s->nservers : 0;
}

const irpc_server_address *
irpc_service_address_server(const irpc_service_address *s, size_t i) {
  return s && i < s->nservers ? s->servers[i] : NULL;
}

int irpc_service_address_format(const irpc_service_address *s, char *buf,
                                size_t len) {
  if (!s || (!buf && len > 0))
    return IRPC_EINVAL;
  writer w = {buf, len, 0};
  if (s->protocol) {
    puts_(&w, s->protocol);
    put(&w, ":", 1);
  }
  if (s->nservers > 0) {
    put(&w, "//", 2);
    put_authority(&w, s->servers[0]);
  }
  puts_(&w, s->path);
  char lead = '?';
  if (s->nservers > 0) {
    size_t before = w.pos;
    put_server_query(&w, s->servers[0], '?', '&');
    if (w.pos != before)
      lead = '&';
  }
  for (size_t i = 0; i < s->params.count; i++) {
    put(&w, &lead, 1);
    puts_(&w, s->params.items[i].name);
    put(&w, "=", 1);
    puts_(&w, s->params.items[i].value);
    lead = '&';
  }
  for (size_t i = 1; i < s->nservers; i++) {
    if (i == 1) {
      put(&w, &lead, 1);
      puts_(&w, "alt-server=");
    } else {
      put(&w, ",", 1);
    }
    put_authority(&w, s->servers[i]);
    put_server_query(&w, s->servers[i], '?', '$');
  }
  if (s->fragment) {
    put(&w, "#", 1);
    puts_(&w, s->fragment);
  }
  return finish(&w);
}

void irpc__server_address_set_port(irpc_server_address *a, uint16_t port) {
  a->port = port;
}

int irpc__host_check(const char *host) {
  size_t n = strlen(host);
  if (n == 0)
    return IRPC_EINVAL;
  if (strchr(host, ':')) {
    unsigned char bin[16];
    return uv_inet_pton(AF_INET6, host, bin) == 0 ? 0 : IRPC_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    if (!host_char_ok(host[i]))
      return IRPC_EINVAL;
  }
  return 0;
}

irpc_service_address *irpc__service_address_new_ice(void) {
  irpc_service_address *s = irpc_calloc(1, sizeof(*s));
  if (s)
    s->protocol = proto_ice;
  return s;
}

int irpc__service_address_set_parts(irpc_service_address *s, const char *path,
                                    const char *fragment) {
  int rc = set_path(s, path, strlen(path));
  if (rc || !fragment)
    return rc;
  s->fragment = str_dup(fragment, strlen(fragment));
  return s->fragment ? 0 : IRPC_ENOMEM;
}

int irpc__service_address_add_param(irpc_service_address *s, const char *name,
                                    const char *value) {
  return params_add(&s->params, name, strlen(name), value, strlen(value));
}

int irpc__service_address_add_server(irpc_service_address *s,
                                     irpc_server_address *a) {
  return add_server(s, a);
}
