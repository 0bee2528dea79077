/* The payloads of irpc-bench compress: built in (deterministic) or read
 * from files.
 *
 *   json    an array of customer records as a REST API returns them;
 *   slice   the same records as a Slice2 sequence of structs (slice/);
 *   log     service log lines (timestamps, levels, ids, durations);
 *   random  uniformly random bytes: what compressed or encrypted data
 *           looks like (incompressible). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_compress.h"

static uint64_t rng_state;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static unsigned pick(unsigned n) {
  return (unsigned)(rng() % n);
}

static const char *const first_names[] = {
    "Alice", "Bruno", "Chloe", "Dmitri", "Emma",  "Farid", "Grace", "Hiro",
    "Ines",  "Jonas", "Kenji", "Lena",   "Mateo", "Nora",  "Omar",  "Priya"};
static const char *const last_names[] = {
    "Martin", "Schmidt",  "Rossi",   "Novak", "Garcia", "Tanaka", "Dubois",
    "Silva",  "Kowalski", "Ivanova", "Chen",  "Okafor", "Larsen", "Haddad"};
static const char *const cities[] = {"Lyon",  "Berlin", "Porto", "Osaka",
                                     "Quito", "Lagos",  "Oslo",  "Austin"};
static const char *const tags[] = {"gold",  "eu",  "newsletter", "b2b",
                                   "trial", "vip", "churn-risk", "mobile"};

typedef struct record {
  uint32_t id;
  const char *first, *last, *city;
  uint64_t balance_cents;
  double score;
  int active;
  int64_t created_ms;
  unsigned ntags;
  const char *tag[3];
} record;

static void next_record(record *r, uint32_t id) {
  r->id = id;
  r->first = first_names[pick(16)];
  r->last = last_names[pick(14)];
  r->city = cities[pick(8)];
  r->balance_cents = rng() % 5000000;
  r->score = (double)(rng() % 10000) / 100.0;
  r->active = pick(4) != 0;
  r->created_ms = INT64_C(1700000000000) + (int64_t)(rng() % 40000000000u);
  r->ntags = pick(4);
  for (unsigned i = 0; i < r->ntags; i++)
    r->tag[i] = tags[pick(8)];
}

/* "nora.rossi.1007@example.com" */
static int email_of(char *out, size_t cap, const record *r) {
  int n = snprintf(out, cap, "%s.%s.%u@example.com", r->first, r->last, r->id);
  for (char *p = out; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p + 32);
  return n;
}

static int json_record(char *out, size_t cap, const record *r) {
  char tagbuf[96] = "";
  size_t n = 0;
  for (unsigned i = 0; i < r->ntags; i++)
    n += (size_t)snprintf(tagbuf + n, sizeof tagbuf - n, "%s\"%s\"",
                          i ? "," : "", r->tag[i]);
  long long sec = r->created_ms / 1000;
  char email[80];
  email_of(email, sizeof email, r);
  return snprintf(
      out, cap,
      "{\"id\":%u,\"name\":\"%s %s\",\"email\":\"%s\","
      "\"city\":\"%s\",\"active\":%s,"
      "\"balance\":%llu.%02llu,\"score\":%.2f,\"tags\":[%s],"
      "\"created\":\"2024-%02lld-%02lldT%02lld:%02lld:%02lldZ\"}",
      r->id, r->first, r->last, email, r->city, r->active ? "true" : "false",
      (unsigned long long)(r->balance_cents / 100),
      (unsigned long long)(r->balance_cents % 100), r->score, tagbuf,
      sec % 12 + 1, sec % 28 + 1, sec % 24, sec % 60, sec / 60 % 60);
}

static int build_json(cz_payload *p, size_t target) {
  size_t n = 1;
  p->data[0] = '[';
  char rec[512];
  for (uint32_t id = 1;; id++) {
    record r;
    next_record(&r, 1000 + id * 7);
    int k = json_record(rec, sizeof rec, &r);
    size_t need = (size_t)k + (id > 1) + 1; /* comma, closing bracket */
    if (n + need > target)
      break;
    if (id > 1)
      p->data[n++] = ',';
    memcpy(p->data + n, rec, (size_t)k);
    n += (size_t)k;
  }
  p->data[n++] = ']';
  p->len = n;
  return 0;
}

/* struct Customer { id: uint32, name: string, email: string, city: string,
 *   active: bool, balance: varuint62, score: float64, created: int64,
 *   tags: Sequence<string> }, encoded as a Sequence<Customer>. */
static int encode_record(irpc_slice_encoder *e, const record *r) {
  char name[64], email[80];
  int nn = snprintf(name, sizeof name, "%s %s", r->first, r->last);
  int ne = email_of(email, sizeof email, r);
  irpc_slice_encode_uint32(e, r->id);
  irpc_slice_encode_string(e, name, (size_t)nn);
  irpc_slice_encode_string(e, email, (size_t)ne);
  irpc_slice_encode_string(e, r->city, strlen(r->city));
  irpc_slice_encode_bool(e, r->active);
  irpc_slice_encode_varuint62(e, r->balance_cents);
  irpc_slice_encode_float64(e, r->score);
  irpc_slice_encode_int64(e, r->created_ms);
  irpc_slice_encode_size(e, r->ntags);
  for (unsigned i = 0; i < r->ntags; i++)
    irpc_slice_encode_string(e, r->tag[i], strlen(r->tag[i]));
  return irpc_slice_encoder_flush(e);
}

static int build_slice(cz_payload *p, size_t target) {
  /* Records are encoded one by one to learn their sizes, then the sequence
   * (count, then the records) is encoded for real with the same seed. */
  uint64_t seed = rng_state;
  irpc_buf *b;
  int rc = irpc_buf_new(&b);
  if (rc)
    return rc;
  size_t count = 0, total = 0;
  for (;;) {
    record r;
    next_record(&r, 1000 + (uint32_t)(count + 1) * 7);
    irpc_slice_encoder e;
    irpc_buf_clear(b);
    irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2);
    if ((rc = encode_record(&e, &r)) != 0)
      goto out;
    size_t k = irpc_buf_len(b);
    if (irpc_slice_varuint62_len(count + 1) + total + k > target)
      break;
    total += k;
    count++;
  }
  rng_state = seed;
  irpc_buf_clear(b);
  irpc_slice_encoder e;
  irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2);
  irpc_slice_encode_size(&e, count);
  for (size_t i = 0; i < count && rc == 0; i++) {
    record r;
    next_record(&r, 1000 + (uint32_t)(i + 1) * 7);
    rc = encode_record(&e, &r);
  }
  if (rc == 0 && (rc = irpc_slice_encoder_flush(&e)) == 0) {
    p->len = irpc_buf_len(b);
    rc = irpc_buf_copyout(b, 0, p->data, p->len);
  }
out:
  irpc_buf_free(b);
  return rc;
}

static int log_line(char *out, size_t cap, uint64_t t_ms) {
  static const char *const levels[] = {"INFO ", "INFO ", "INFO ", "DEBUG",
                                       "WARN ", "INFO ", "ERROR", "DEBUG"};
  static const char *const services[] = {"orders", "billing", "auth",
                                         "inventory", "gateway"};
  static const char *const paths[] = {"/api/v1/orders", "/api/v1/customers",
                                      "/api/v1/invoices", "/healthz",
                                      "/api/v1/cart/items"};
  unsigned kind = pick(4);
  char head[96];
  long long s = (long long)(t_ms / 1000);
  snprintf(head, sizeof head,
           "2024-03-%02lld %02lld:%02lld:%02lld.%03lld %s [worker-%u] %s: ",
           s / 86400 % 28 + 1, s / 3600 % 24, s / 60 % 60, s % 60,
           (long long)(t_ms % 1000), levels[pick(8)], pick(8),
           services[pick(5)]);
  switch (kind) {
  case 0:
    return snprintf(out, cap,
                    "%sGET %s/%u status=200 bytes=%u duration=%.1fms "
                    "trace=%016llx\n",
                    head, paths[pick(5)], pick(100000), 200 + pick(20000),
                    (double)pick(5000) / 10.0, (unsigned long long)rng());
  case 1:
    return snprintf(out, cap,
                    "%sprocessed order %u for customer %u (items=%u, "
                    "total=%u.%02u EUR)\n",
                    head, 100000 + pick(900000), pick(50000), 1 + pick(9),
                    pick(2000), pick(100));
  case 2:
    return snprintf(out, cap,
                    "%scache miss key=session:%08x, loading from db "
                    "(pool=%u/%u)\n",
                    head, (unsigned)rng(), pick(64), 64);
  default:
    return snprintf(out, cap,
                    "%sretrying request to %s after %ums (attempt %u of 3): "
                    "connection reset by peer\n",
                    head, services[pick(5)], 50 * (1 + pick(8)), 1 + pick(3));
  }
}

static int build_log(cz_payload *p, size_t target) {
  size_t n = 0;
  uint64_t t = UINT64_C(1709600000000);
  char line[400];
  for (;;) {
    t += pick(40);
    int k = log_line(line, sizeof line, t);
    if (n + (size_t)k > target)
      break;
    memcpy(p->data + n, line, (size_t)k);
    n += (size_t)k;
  }
  p->len = n;
  return 0;
}

static int build_random(cz_payload *p, size_t target) {
  for (size_t i = 0; i < target; i++)
    p->data[i] = (uint8_t)(rng() >> 24);
  p->len = target;
  return 0;
}

static const char *size_name(size_t target, char *buf, size_t cap) {
  if (target % (1u << 20) == 0)
    snprintf(buf, cap, "%zum", target >> 20);
  else if (target % 1024 == 0)
    snprintf(buf, cap, "%zuk", target >> 10);
  else
    snprintf(buf, cap, "%zu", target);
  return buf;
}

static const char *const kind_names[] = {"json", "slice", "log", "random"};

int cz_kind_by_name(const char *name, size_t len) {
  for (int i = 0; i < 4; i++)
    if (strlen(kind_names[i]) == len && memcmp(kind_names[i], name, len) == 0)
      return 1 << i;
  return 0;
}

int cz_payload_builtin(cz_payload *p, int kind, size_t target) {
  memset(p, 0, sizeof(*p));
  p->data = malloc(target ? target : 1);
  if (!p->data)
    return IRPC_ENOMEM;
  int i = kind == CZ_JSON ? 0 : kind == CZ_SLICE ? 1 : kind == CZ_LOG ? 2 : 3;
  char sz[24];
  snprintf(p->name, sizeof p->name, "%s-%s", kind_names[i],
           size_name(target, sz, sizeof sz));
  rng_state = UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)target;
  int rc = kind == CZ_JSON    ? build_json(p, target)
           : kind == CZ_SLICE ? build_slice(p, target)
           : kind == CZ_LOG   ? build_log(p, target)
                              : build_random(p, target);
  if (rc) {
    free(p->data);
    p->data = NULL;
  }
  return rc;
}

int cz_payload_file(cz_payload *p, const char *path) {
  memset(p, 0, sizeof(*p));
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  size_t cap = 1 << 16;
  p->data = malloc(cap);
  size_t n;
  while (p->data && (n = fread(p->data + p->len, 1, cap - p->len, f)) > 0) {
    p->len += n;
    if (p->len == cap) {
      if (cap >= ((size_t)256 << 20)) {
        fprintf(stderr, "%s: larger than 256 MiB, the maximum payload\n", path);
        break;
      }
      uint8_t *bigger = realloc(p->data, cap * 2);
      if (!bigger) {
        free(p->data);
        p->data = NULL;
        break;
      }
      p->data = bigger;
      cap *= 2;
    }
  }
  int bad =
      !p->data || ferror(f) || p->len >= ((size_t)256 << 20) || p->len == 0;
  fclose(f);
  if (bad) {
    if (p->data && p->len == 0)
      fprintf(stderr, "%s: empty file\n", path);
    free(p->data);
    p->data = NULL;
    return -1;
  }
  const char *base = strrchr(path, '/');
  snprintf(p->name, sizeof p->name, "%s", base ? base + 1 : path);
  return 0;
}

void cz_payload_free(cz_payload *p) {
  free(p->data);
  p->data = NULL;
}
