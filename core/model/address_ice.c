/* Ice identities in ice paths, and Ice 3.7 stringified proxies parsed into
 * (and written from) ice service addresses (see irpc/address.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "irpc/address.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "address_internal.h"
#include "base/struct_size.h"
#include "base/utf8.h"

#define ICE_PROXY_MAX_ENDPOINTS 32

/* ---- A growable string ---- */

typedef struct sbuf {
  char *p;
  size_t len;
  size_t cap;
  int err;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->err)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = irpc_realloc(b->p, cap);
    if (!p) {
      b->err = IRPC_ENOMEM;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_putc(sbuf *b, char c) {
  sb_put(b, &c, 1);
}

static void sb_puts(sbuf *b, const char *s) {
  sb_put(b, s, strlen(s));
}

/* Takes the string out of `b` ("" when empty); NULL on error. */
static char *sb_take(sbuf *b) {
  if (!b->err && !b->p)
    sb_put(b, "", 0);
  if (b->err) {
    irpc_free(b->p);
    b->p = NULL;
    return NULL;
  }
  char *p = b->p;
  b->p = NULL;
  return p;
}

/* ---- Percent escapes ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes [s, s + n) into a new string; IRPC_EINVAL for a bad escape or a
 * result that is not UTF-8 or holds a NUL. */
static int pct_decode(const char *s, size_t n, char **out) {
  char *d = irpc_malloc(n + 1);
  if (!d)
    return IRPC_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      d[k++] = s[i];
      continue;
    }
    if (i + 2 >= n) {
      irpc_free(d);
      return IRPC_EINVAL;
    }
    int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
    if (h < 0 || l < 0 || (h == 0 && l == 0)) {
      irpc_free(d);
      return IRPC_EINVAL;
    }
    d[k++] = (char)(h * 16 + l);
    i += 2;
  }
  d[k] = '\0';
  if (!irpc__utf8_valid((const uint8_t *)d, k)) {
    irpc_free(d);
    return IRPC_EINVAL;
  }
  *out = d;
  return 0;
}

/* 1 when byte `c` is written %XX in an ice path segment or fragment. */
static int pct_needed(unsigned char c) {
  return c <= 0x20 || c >= 0x7F || strchr("%/\"<>#?\\^`{|}", c) != NULL;
}

static void pct_encode(sbuf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (pct_needed(*p)) {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      sb_put(b, e, 3);
    } else {
      sb_putc(b, (char)*p);
    }
  }
}

int irpc__ice_escapes_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%')
      continue;
    if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
      return 0;
    i += 2;
  }
  return 1;
}

/* ---- Identities and paths ---- */

int irpc_ice_identity_from_path(const char *path, char **name,
                                char **category) {
  if (!path || !name || !category || path[0] != '/')
    return IRPC_EINVAL;
  const char *a = path + 1;
  const char *slash = strchr(a, '/');
  const char *cat = NULL, *nm = a;
  size_t catl = 0;
  if (slash) {
    if (strchr(slash + 1, '/'))
      return IRPC_EINVAL;
    cat = a;
    catl = (size_t)(slash - a);
    nm = slash + 1;
  }
  if (!*nm)
    return IRPC_EINVAL;
  char *n = NULL, *c = NULL;
  int rc = pct_decode(nm, strlen(nm), &n);
  if (!rc)
    rc = pct_decode(cat ? cat : "", catl, &c);
  if (!rc && !*n)
    rc = IRPC_EINVAL;
  if (rc) {
    irpc_free(n);
    irpc_free(c);
    return rc;
  }
  *name = n;
  *category = c;
  return 0;
}

/* Copies `s` into `buf` as the format functions do. */
static int to_buf(const char *s, size_t n, char *buf, size_t len) {
  if (n < len) {
    memcpy(buf, s, n + 1);
    return 0;
  }
  if (len > 0) {
    memcpy(buf, s, len - 1);
    buf[len - 1] = '\0';
  }
  return UV_ENOBUFS;
}

static void path_of(sbuf *b, const char *name, const char *category) {
  sb_putc(b, '/');
  if (category && *category) {
    pct_encode(b, category);
    sb_putc(b, '/');
  }
  pct_encode(b, name);
}

int irpc_ice_identity_to_path(const char *name, const char *category, char *buf,
                              size_t len) {
  if (!name || !*name || (!buf && len > 0))
    return IRPC_EINVAL;
  sbuf b = {0};
  path_of(&b, name, category);
  char *p = sb_take(&b);
  if (!p)
    return IRPC_ENOMEM;
  int rc = to_buf(p, strlen(p), buf, len);
  irpc_free(p);
  return rc;
}

int irpc_service_address_ice_facet(const irpc_service_address *s,
                                   char **facet) {
  if (!s || !facet)
    return IRPC_EINVAL;
  const char *f = irpc_service_address_fragment(s);
  if (!f)
    f = "";
  return pct_decode(f, strlen(f), facet);
}

/* ---- Ice string escapes ---- */

static void put_utf8(sbuf *b, unsigned long cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  sb_put(b, u, n);
}

/* Reads `count` hex digits at s[*i]; -1 when they are not. */
static long read_hex(const char *s, size_t n, size_t *i, int count) {
  long v = 0;
  for (int k = 0; k < count; k++) {
    if (*i >= n || hexval(s[*i]) < 0)
      return -1;
    v = v * 16 + hexval(s[(*i)++]);
  }
  return v;
}

/* Unescapes Ice's string escapes in [s, s + n) into a new string. The
 * result must be UTF-8 without NUL. */
static int ice_unescape(const char *s, size_t n, char **out) {
  sbuf b = {0};
  int rc = 0;
  for (size_t i = 0; i < n && !rc;) {
    char c = s[i++];
    if (c != '\\') {
      sb_putc(&b, c);
      continue;
    }
    if (i >= n) {
      rc = IRPC_EINVAL;
      break;
    }
    c = s[i++];
    switch (c) {
    case '\\':
    case '\'':
    case '"':
    case '?':
    case '/':
      sb_putc(&b, c);
      break;
    case 'a':
      sb_putc(&b, '\a');
      break;
    case 'b':
      sb_putc(&b, '\b');
      break;
    case 'f':
      sb_putc(&b, '\f');
      break;
    case 'n':
      sb_putc(&b, '\n');
      break;
    case 'r':
      sb_putc(&b, '\r');
      break;
    case 't':
      sb_putc(&b, '\t');
      break;
    case 'v':
      sb_putc(&b, '\v');
      break;
    case 'x': {
      long v = read_hex(s, n, &i, 2);
      if (v <= 0)
        rc = IRPC_EINVAL;
      else
        sb_putc(&b, (char)v);
      break;
    }
    case 'u':
    case 'U': {
      long v = read_hex(s, n, &i, c == 'u' ? 4 : 8);
      if (v <= 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        rc = IRPC_EINVAL;
      else
        put_utf8(&b, (unsigned long)v);
      break;
    }
    default:
      if (c >= '0' && c <= '7') {
        unsigned v = (unsigned)(c - '0');
        for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
          v = v * 8 + (unsigned)(s[i++] - '0');
        if (v == 0 || v > 255)
          rc = IRPC_EINVAL;
        else
          sb_putc(&b, (char)v);
      } else {
        rc = IRPC_EINVAL;
      }
    }
  }
  char *r = sb_take(&b);
  if (rc) {
    irpc_free(r);
    return rc;
  }
  if (!r)
    return IRPC_ENOMEM;
  if (!irpc__utf8_valid((const uint8_t *)r, strlen(r))) {
    irpc_free(r);
    return IRPC_EINVAL;
  }
  *out = r;
  return 0;
}

/* Writes `s` with Ice's escapes (Ice 3.7's Unicode mode: non-ASCII UTF-8
 * kept), and '/' escaped when `slash`. */
static void ice_escape(sbuf *b, const char *s, int slash) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char c = *p;
    switch (c) {
    case '\\':
      sb_puts(b, "\\\\");
      break;
    case '\'':
      sb_puts(b, "\\'");
      break;
    case '"':
      sb_puts(b, "\\\"");
      break;
    case '\b':
      sb_puts(b, "\\b");
      break;
    case '\f':
      sb_puts(b, "\\f");
      break;
    case '\n':
      sb_puts(b, "\\n");
      break;
    case '\r':
      sb_puts(b, "\\r");
      break;
    case '\t':
      sb_puts(b, "\\t");
      break;
    case '/':
      sb_puts(b, slash ? "\\/" : "/");
      break;
    default:
      if (c < 0x20 || c == 0x7F) {
        char e[8];
        snprintf(e, sizeof(e), "\\u%04X", (unsigned)c);
        sb_puts(b, e);
      } else {
        sb_putc(b, (char)c);
      }
    }
  }
}

/* Writes `s`, in double quotes when it is empty or holds a blank, ':', '@'
 * or starts with '-' or '"'. The text is already escaped. */
static void put_quoted_if(sbuf *b, const char *s) {
  int q = !*s || strpbrk(s, " \t\r\n:@") != NULL || s[0] == '-';
  if (q)
    sb_putc(b, '"');
  sb_puts(b, s);
  if (q)
    sb_putc(b, '"');
}

/* ---- The proxy parser ---- */

typedef struct lexer {
  const char *s;
  size_t n;
  size_t i;
} lexer;

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_blanks(lexer *x) {
  while (x->i < x->n && is_blank(x->s[x->i]))
    x->i++;
}

/* The end of a quoted string whose opening quote is at s[i]: the index of
 * the closing quote, or n when there is none. A backslash escapes the next
 * character. */
static size_t quote_end(const char *s, size_t n, size_t i) {
  for (i++; i < n; i++) {
    if (s[i] == '\\' && i + 1 < n)
      i++;
    else if (s[i] == '"')
      return i;
  }
  return n;
}

/* Reads the next word: quoted ("..." without its quotes) or up to a blank
 * or one of `stops`. Sets *start, *len; IRPC_EINVAL for an unterminated
 * quote or an empty word. */
static int next_word(lexer *x, const char *stops, const char **start,
                     size_t *len) {
  skip_blanks(x);
  if (x->i >= x->n)
    return IRPC_EINVAL;
  if (x->s[x->i] == '"') {
    size_t e = quote_end(x->s, x->n, x->i);
    if (e >= x->n)
      return IRPC_EINVAL;
    *start = x->s + x->i + 1;
    *len = e - x->i - 1;
    x->i = e + 1;
    if (x->i < x->n && !is_blank(x->s[x->i]) && !strchr(stops, x->s[x->i]))
      return IRPC_EINVAL; /* "a"b */
    return 0;
  }
  size_t b = x->i;
  while (x->i < x->n && !is_blank(x->s[x->i]) && !strchr(stops, x->s[x->i]))
    x->i++;
  if (x->i == b)
    return IRPC_EINVAL;
  *start = x->s + b;
  *len = x->i - b;
  return 0;
}

/* 1 when an option argument follows: a word that does not start with '-'
 * (or a quoted one), before the end or a stop character. */
static int has_argument(lexer *x, const char *stops) {
  skip_blanks(x);
  return x->i < x->n && !strchr(stops, x->s[x->i]) && x->s[x->i] != '-';
}

static int parse_version(const char *s, size_t n, uint8_t *major,
                         uint8_t *minor) {
  const char *dot = memchr(s, '.', n);
  if (!dot || dot == s || dot + 1 == s + n)
    return IRPC_EINVAL;
  unsigned long v[2] = {0, 0};
  const char *parts[2] = {s, dot + 1};
  const char *ends[2] = {dot, s + n};
  for (int k = 0; k < 2; k++) {
    for (const char *p = parts[k]; p < ends[k]; p++) {
      if (!isdigit((unsigned char)*p) || v[k] > 255)
        return IRPC_EINVAL;
      v[k] = v[k] * 10 + (unsigned long)(*p - '0');
    }
    if (v[k] > 255)
      return IRPC_EINVAL;
  }
  *major = (uint8_t)v[0];
  *minor = (uint8_t)v[1];
  return 0;
}

static int parse_uint(const char *s, size_t n, unsigned long max,
                      unsigned long *out) {
  if (n == 0 || n > 10)
    return IRPC_EINVAL;
  unsigned long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i]))
      return IRPC_EINVAL;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  if (v > max)
    return IRPC_EINVAL;
  *out = v;
  return 0;
}

typedef struct ep_kind {
  const char *word;
  const char *transport; /* NULL: unspecified */
  int stream;            /* -t, --sourceAddress */
  int ws;                /* -r */
  int udp;               /* -c, --ttl, --interface */
} ep_kind;

static const ep_kind ep_kinds[] = {
    {"tcp", "tcp", 1, 0, 0},    {"ssl", "ssl", 1, 0, 0},
    {"default", NULL, 1, 0, 0}, {"ws", "ws", 1, 1, 0},
    {"wss", "wss", 1, 1, 0},    {"udp", "udp", 0, 0, 1},
};

static int set_param(irpc_server_address *a, const char *name, const char *v,
                     size_t vl) {
  if (irpc_server_address_param(a, name))
    return IRPC_EINVAL; /* given twice */
  char *value = irpc_malloc(vl + 1);
  if (!value)
    return IRPC_ENOMEM;
  memcpy(value, v, vl);
  value[vl] = '\0';
  int rc = irpc_server_address_set_param(a, name, value);
  irpc_free(value);
  return rc;
}

/* One endpoint, [s, s + n), into a server address. */
static int parse_endpoint(const char *s, size_t n, irpc_ice_proxy_info *info,
                          irpc_server_address **out) {
  lexer x = {s, n, 0};
  const char *w;
  size_t wl;
  if (next_word(&x, "", &w, &wl))
    return IRPC_EINVAL; /* empty endpoint */
  const ep_kind *k = NULL;
  for (size_t i = 0; i < sizeof(ep_kinds) / sizeof(ep_kinds[0]); i++) {
    if (strlen(ep_kinds[i].word) == wl && memcmp(ep_kinds[i].word, w, wl) == 0)
      k = &ep_kinds[i];
  }
  if (!k)
    return wl == 6 && memcmp(w, "opaque", 6) == 0 ? IRPC_ENOTSUP : IRPC_EINVAL;
  char *host = NULL;
  unsigned long port = IRPC_ICE_DEFAULT_PORT;
  int have_port = 0;
  irpc_server_address *a = NULL;
  /* Options are gathered first into `a` (made with a placeholder host). */
  int rc = irpc_server_address_new(&a, "ice", "::0", IRPC_ICE_DEFAULT_PORT,
                                   k->transport);
  while (!rc) {
    skip_blanks(&x);
    if (x.i >= x.n)
      break;
    const char *o;
    size_t ol;
    rc = next_word(&x, "", &o, &ol);
    if (rc)
      break;
    char opt[16];
    if (ol >= sizeof(opt) || o[0] != '-') {
      rc = IRPC_EINVAL;
      break;
    }
    memcpy(opt, o, ol);
    opt[ol] = '\0';
    const char *v = NULL;
    size_t vl = 0;
    int arg = has_argument(&x, "");
    if (arg && (rc = next_word(&x, "", &v, &vl)))
      break;
    if (strcmp(opt, "-h") == 0 && arg && !host) {
      host = irpc_malloc(vl + 1);
      if (!host) {
        rc = IRPC_ENOMEM;
        break;
      }
      memcpy(host, v, vl);
      host[vl] = '\0';
    } else if (strcmp(opt, "-p") == 0 && arg && !have_port) {
      rc = parse_uint(v, vl, 65535, &port);
      have_port = 1;
    } else if (strcmp(opt, "-t") == 0 && arg && k->stream) {
      unsigned long t;
      if (!(vl == 8 && memcmp(v, "infinite", 8) == 0) &&
          !(vl == 2 && memcmp(v, "-1", 2) == 0) &&
          (parse_uint(v, vl, 0x7FFFFFFF, &t) || t == 0))
        rc = IRPC_EINVAL;
      else
        rc = set_param(a, "t", v, vl);
    } else if (strcmp(opt, "-z") == 0 && !arg) {
      rc = set_param(a, "z", "", 0);
      if (!rc && info)
        info->compress = 1;
    } else if (strcmp(opt, "--sourceAddress") == 0 && arg && k->stream) {
      rc = set_param(a, "source-address", v, vl);
    } else if (strcmp(opt, "-r") == 0 && arg && k->ws) {
      rc = set_param(a, "resource", v, vl);
    } else if (strcmp(opt, "-c") == 0 && !arg && k->udp) {
      rc = set_param(a, "c", "", 0);
    } else if (strcmp(opt, "--ttl") == 0 && arg && k->udp) {
      unsigned long t;
      rc = parse_uint(v, vl, 255, &t);
      if (!rc)
        rc = set_param(a, "ttl", v, vl);
    } else if (strcmp(opt, "--interface") == 0 && arg && k->udp) {
      rc = set_param(a, "interface", v, vl);
    } else {
      rc = IRPC_EINVAL;
    }
  }
  irpc_server_address *r = NULL;
  if (!rc) {
    const char *h = !host || strcmp(host, "*") == 0 ? "::0" : host;
    for (char *p = host; p && *p; p++)
      *p = (char)tolower((unsigned char)*p);
    rc = irpc__host_check(h);
    if (!rc)
      rc = irpc_server_address_new(&r, "ice", h, (int)port, k->transport);
    for (size_t i = 0; !rc && i < irpc_server_address_param_count(a); i++)
      rc =
          irpc_server_address_set_param(r, irpc_server_address_param_name(a, i),
                                        irpc_server_address_param_value(a, i));
  }
  irpc_free(host);
  irpc_server_address_free(a);
  if (rc) {
    irpc_server_address_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* Splits the identity string [s, s + n) at its unescaped '/' and unescapes
 * both parts. */
static int parse_identity(const char *s, size_t n, char **name,
                          char **category) {
  size_t slash = n;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\') {
      i++;
    } else if (s[i] == '/') {
      if (slash != n)
        return IRPC_EINVAL;
      slash = i;
    }
  }
  char *c = NULL, *nm = NULL;
  int rc;
  if (slash == n) {
    rc = ice_unescape("", 0, &c);
    if (!rc)
      rc = ice_unescape(s, n, &nm);
  } else {
    rc = ice_unescape(s, slash, &c);
    if (!rc)
      rc = ice_unescape(s + slash + 1, n - slash - 1, &nm);
  }
  if (!rc && !*nm)
    rc = IRPC_EINVAL;
  if (rc) {
    irpc_free(c);
    irpc_free(nm);
    return rc;
  }
  *name = nm;
  *category = c;
  return 0;
}

/* The index of the next ':' at or after `i` that is outside quotes, or n. */
static size_t next_colon(const char *s, size_t n, size_t i) {
  for (; i < n; i++) {
    if (s[i] == '"')
      i = quote_end(s, n, i);
    else if (s[i] == ':')
      return i;
  }
  return n;
}

typedef struct proxy_parts {
  char *name;
  char *category;
  char *facet;
  char *adapter;
} proxy_parts;

static void parts_fini(proxy_parts *p) {
  irpc_free(p->name);
  irpc_free(p->category);
  irpc_free(p->facet);
  irpc_free(p->adapter);
}

/* The identity and options, up to ':' or '@' or the end (x->i then). */
static int parse_head(lexer *x, proxy_parts *p, irpc_ice_proxy_info *info) {
  const char *w;
  size_t wl;
  int rc = next_word(x, ":@", &w, &wl);
  if (rc)
    return rc;
  rc = parse_identity(w, wl, &p->name, &p->category);
  while (!rc) {
    skip_blanks(x);
    if (x->i >= x->n || x->s[x->i] == ':' || x->s[x->i] == '@')
      break;
    const char *o;
    size_t ol;
    rc = next_word(x, ":@", &o, &ol);
    if (rc)
      break;
    if (ol != 2 || o[0] != '-')
      return IRPC_EINVAL;
    int arg = has_argument(x, ":@");
    const char *v = NULL;
    size_t vl = 0;
    if (arg && (rc = next_word(x, ":@", &v, &vl)))
      break;
    switch (o[1]) {
    case 'f':
      if (!arg)
        return IRPC_EINVAL;
      irpc_free(p->facet);
      p->facet = NULL;
      rc = ice_unescape(v, vl, &p->facet);
      break;
    case 't':
    case 'o':
    case 'O':
    case 'd':
    case 'D':
      if (arg)
        return IRPC_EINVAL;
      if (info)
        info->mode = o[1] == 't'   ? IRPC_ICE_PROXY_TWOWAY
                     : o[1] == 'o' ? IRPC_ICE_PROXY_ONEWAY
                     : o[1] == 'O' ? IRPC_ICE_PROXY_BATCH_ONEWAY
                     : o[1] == 'd' ? IRPC_ICE_PROXY_DATAGRAM
                                   : IRPC_ICE_PROXY_BATCH_DATAGRAM;
      break;
    case 's':
      if (arg)
        return IRPC_EINVAL;
      if (info)
        info->secure = 1;
      break;
    case 'e':
    case 'p': {
      uint8_t ma, mi;
      if (!arg || parse_version(v, vl, &ma, &mi))
        return IRPC_EINVAL;
      if (o[1] == 'p' && !(ma == 1 && mi == 0))
        return IRPC_EINVAL;
      if (o[1] == 'e') {
        if (!(ma == 1 && (mi == 0 || mi == 1)))
          return IRPC_EINVAL;
        if (info) {
          info->encoding_major = ma;
          info->encoding_minor = mi;
        }
      }
      break;
    }
    default:
      return IRPC_EINVAL;
    }
  }
  return rc;
}

static int build(irpc_service_address **out, const proxy_parts *p,
                 irpc_server_address **servers, size_t nservers) {
  sbuf path = {0}, frag = {0};
  path_of(&path, p->name, p->category);
  if (p->facet && *p->facet)
    pct_encode(&frag, p->facet);
  char *ps = sb_take(&path);
  char *fs = p->facet && *p->facet ? sb_take(&frag) : NULL;
  irpc_service_address *s = irpc__service_address_new_ice();
  int rc = IRPC_ENOMEM;
  if (ps && s && (fs || !(p->facet && *p->facet)))
    rc = irpc__service_address_set_parts(s, ps, fs);
  irpc_free(ps);
  irpc_free(fs);
  irpc_free(frag.p);
  size_t i = 0;
  for (; !rc && i < nservers; i++)
    rc = irpc__service_address_add_server(s, servers[i]);
  for (; i < nservers; i++)
    irpc_server_address_free(servers[i]);
  if (!rc && p->adapter)
    rc = irpc__service_address_add_param(s, "adapter-id", p->adapter);
  if (rc) {
    irpc_service_address_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void irpc_ice_proxy_info_init_sized(irpc_ice_proxy_info *info, size_t size) {
  irpc_ice_proxy_info d;
  memset(&d, 0, sizeof(d));
  d.mode = IRPC_ICE_PROXY_TWOWAY;
  d.encoding_major = 1;
  d.encoding_minor = 1;
  irpc__struct_export(info, size, &d, sizeof(d));
}

#define IRPC__V1_irpc_ice_proxy_info                                           \
  IRPC__V1_SIZE(irpc_ice_proxy_info, encoding_minor)

int irpc_service_address_parse_ice_proxy(irpc_service_address **out,
                                         const char *proxy,
                                         irpc_ice_proxy_info *info) {
  if (!out || !proxy)
    return IRPC_EINVAL;
  irpc_ice_proxy_info local;
  irpc_ice_proxy_info_init(&local);
  if (info && IRPC__STRUCT_SIZE(info) < IRPC__V1_irpc_ice_proxy_info)
    return IRPC_EINVAL;
  lexer x = {proxy, strlen(proxy), 0};
  while (x.n > 0 && is_blank(proxy[x.n - 1]))
    x.n--;
  proxy_parts p = {0};
  irpc_server_address *servers[ICE_PROXY_MAX_ENDPOINTS];
  size_t nservers = 0;
  int rc = parse_head(&x, &p, &local);
  if (!rc && x.i < x.n && proxy[x.i] == '@') {
    x.i++;
    const char *w;
    size_t wl;
    rc = next_word(&x, "", &w, &wl);
    if (!rc) {
      skip_blanks(&x);
      if (x.i < x.n || wl == 0)
        rc = IRPC_EINVAL;
    }
    if (!rc)
      rc = ice_unescape(w, wl, &p.adapter);
    if (!rc && !*p.adapter)
      rc = IRPC_EINVAL;
  } else if (!rc && x.i < x.n) { /* ':' */
    while (!rc && x.i < x.n) {
      size_t b = x.i + 1;
      size_t e = next_colon(proxy, x.n, b);
      if (nservers == ICE_PROXY_MAX_ENDPOINTS) {
        rc = IRPC_ELIMIT;
        break;
      }
      rc = parse_endpoint(proxy + b, e - b, &local, &servers[nservers]);
      if (!rc)
        nservers++;
      x.i = e;
    }
  }
  if (!rc)
    rc = build(out, &p, servers, nservers);
  else
    for (size_t i = 0; i < nservers; i++)
      irpc_server_address_free(servers[i]);
  parts_fini(&p);
  if (!rc && info) {
    size_t n = IRPC__STRUCT_SIZE(info);
    memcpy((char *)info + sizeof(size_t), (char *)&local + sizeof(size_t),
           (n < sizeof(local) ? n : sizeof(local)) - sizeof(size_t));
  }
  return rc;
}

/* ---- The proxy formatter ---- */

static int put_endpoint(sbuf *b, const irpc_server_address *a) {
  const char *t = irpc_server_address_transport(a);
  if (!t)
    t = "tcp";
  const ep_kind *k = NULL;
  for (size_t i = 0; i < sizeof(ep_kinds) / sizeof(ep_kinds[0]); i++) {
    if (ep_kinds[i].transport && strcmp(ep_kinds[i].transport, t) == 0)
      k = &ep_kinds[i];
  }
  if (!k)
    return IRPC_ENOTSUP;
  sb_putc(b, ':');
  sb_puts(b, t);
  sb_puts(b, " -h ");
  const char *host = irpc_server_address_host(a);
  if (strchr(host, ':')) {
    sb_putc(b, '"');
    sb_puts(b, host);
    sb_putc(b, '"');
  } else {
    sb_puts(b, host);
  }
  char port[16];
  snprintf(port, sizeof(port), " -p %u", (unsigned)irpc_server_address_port(a));
  sb_puts(b, port);
  static const struct {
    const char *param, *opt;
    int valued, stream, ws, udp;
  } opts[] = {
      {"t", "-t", 1, 1, 0, 0},
      {"z", "-z", 0, 0, 0, 0},
      {"source-address", "--sourceAddress", 1, 1, 0, 0},
      {"resource", "-r", 1, 0, 1, 0},
      {"c", "-c", 0, 0, 0, 1},
      {"ttl", "--ttl", 1, 0, 0, 1},
      {"interface", "--interface", 1, 0, 0, 1},
  };
  for (size_t i = 0; i < irpc_server_address_param_count(a); i++) {
    const char *name = irpc_server_address_param_name(a, i);
    const char *value = irpc_server_address_param_value(a, i);
    size_t j = 0;
    for (; j < sizeof(opts) / sizeof(opts[0]); j++) {
      if (strcmp(opts[j].param, name) == 0)
        break;
    }
    if (j == sizeof(opts) / sizeof(opts[0]) || (opts[j].stream && !k->stream) ||
        (opts[j].ws && !k->ws) || (opts[j].udp && !k->udp) ||
        (!opts[j].valued && *value) ||
        (opts[j].valued && (!*value || strpbrk(value, " \t\r\n:\"@"))))
      return IRPC_ENOTSUP;
    sb_putc(b, ' ');
    sb_puts(b, opts[j].opt);
    if (opts[j].valued) {
      sb_putc(b, ' ');
      sb_puts(b, value);
    }
  }
  return 0;
}

int irpc_service_address_format_ice_proxy(const irpc_service_address *s,
                                          const irpc_ice_proxy_info *info,
                                          char *buf, size_t len) {
  if (!s || (!buf && len > 0))
    return IRPC_EINVAL;
  const char *proto = irpc_service_address_protocol(s);
  if (!proto || strcmp(proto, "ice") != 0)
    return IRPC_EINVAL;
  irpc_ice_proxy_info inf;
  irpc_ice_proxy_info_init(&inf);
  if (info) {
    if (IRPC__STRUCT_SIZE(info) < IRPC__V1_irpc_ice_proxy_info)
      return IRPC_EINVAL;
    if (irpc__struct_import(&inf, sizeof(inf), info,
                            IRPC__V1_irpc_ice_proxy_info))
      return IRPC_EINVAL;
  }
  char *name = NULL, *category = NULL, *facet = NULL;
  int rc = irpc_ice_identity_from_path(irpc_service_address_path(s), &name,
                                       &category);
  if (rc)
    return rc == IRPC_ENOMEM ? rc : IRPC_EINVAL;
  rc = irpc_service_address_ice_facet(s, &facet);
  sbuf b = {0}, id = {0};
  if (!rc) {
    if (*category) {
      ice_escape(&id, category, 1);
      sb_putc(&id, '/');
    }
    ice_escape(&id, name, 1);
    char *ids = sb_take(&id);
    if (!ids) {
      rc = IRPC_ENOMEM;
    } else {
      put_quoted_if(&b, ids);
      irpc_free(ids);
    }
  }
  if (!rc && *facet) {
    sbuf f = {0};
    ice_escape(&f, facet, 0);
    char *fs = sb_take(&f);
    if (!fs) {
      rc = IRPC_ENOMEM;
    } else {
      sb_puts(&b, " -f ");
      put_quoted_if(&b, fs);
      irpc_free(fs);
    }
  }
  if (!rc) {
    static const char *const modes[] = {" -t", " -o", " -O", " -d", " -D"};
    if ((unsigned)inf.mode > IRPC_ICE_PROXY_BATCH_DATAGRAM)
      rc = IRPC_EINVAL;
    else
      sb_puts(&b, modes[inf.mode]);
    if (inf.secure)
      sb_puts(&b, " -s");
    char e[24];
    snprintf(e, sizeof(e), " -e %u.%u", (unsigned)inf.encoding_major,
             (unsigned)inf.encoding_minor);
    sb_puts(&b, e);
  }
  size_t n = irpc_service_address_server_count(s);
  for (size_t i = 0; !rc && i < n; i++)
    rc = put_endpoint(&b, irpc_service_address_server(s, i));
  const char *adapter = irpc_service_address_param(s, "adapter-id");
  if (!rc && n == 0 && adapter) {
    sbuf ad = {0};
    ice_escape(&ad, adapter, 0);
    char *as = sb_take(&ad);
    if (!as) {
      rc = IRPC_ENOMEM;
    } else {
      sb_puts(&b, " @ ");
      put_quoted_if(&b, as);
      irpc_free(as);
    }
  }
  irpc_free(name);
  irpc_free(category);
  irpc_free(facet);
  char *out = sb_take(&b);
  if (!rc && !out)
    rc = IRPC_ENOMEM;
  if (!rc)
    rc = to_buf(out, strlen(out), buf, len);
  irpc_free(out);
  return rc;
}
