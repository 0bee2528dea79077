/* irpc-slicec: doc comments.
 *
 * A comment is an overview, then block tags, each starting a line:
 * `@param name: text`, `@returns[ name]: text`, `@throws [Exc]: text`,
 * `@see Name`. Inline `{@link Name}` may appear in any text. Mistakes are
 * lints (warnings), as in slicec: MalformedDocComment for a tag that cannot
 * be read, IncorrectDocComment for a tag that does not match its element,
 * BrokenDocLink for a link or @see that names nothing. */
#include <ctype.h>
#include <string.h>

#include "internal.h"

typedef struct doc_builder {
  slicec_context *c;
  slicec_doc *doc;
  sc_vec tags;
  slicec_doc_tag *cur; /* the tag whose text continues, or NULL */
  char *overview;
  size_t olen, ocap;
} doc_builder;

static char *append(slicec_context *c, const char *a, const char *b) {
  if (!a || !*a)
    return sc_strdup(&c->arena, b);
  return sc_printf(&c->arena, "%s\n%s", a, b);
}

static const char *skip_ws(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

/* The identifier or scoped name at s; its length. */
static size_t name_len(const char *s) {
  size_t n = 0;
  if (s[0] == ':' && s[1] == ':')
    n = 2;
  for (;;) {
    if (s[n] == '\\')
      n++;
    if (!isalpha((unsigned char)s[n]))
      return n;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
      n++;
    if (s[n] == ':' && s[n + 1] == ':' &&
        (isalpha((unsigned char)s[n + 2]) || s[n + 2] == '\\'))
      n += 2;
    else
      return n;
  }
}

static char *strip_escapes(slicec_context *c, const char *s, size_t n) {
  char *r = sc_alloc(&c->arena, n + 1);
  if (!r)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] != '\\')
      r[k++] = s[i];
  r[k] = 0;
  return r;
}

static void block_tag(doc_builder *b, sc_file *f, const char *s,
                      slicec_loc loc) {
  slicec_context *c = b->c;
  const char *kw = s + 1;
  size_t kl = 0;
  while (isalpha((unsigned char)kw[kl]))
    kl++;
  slicec_doc_tag *t = sc_alloc(&c->arena, sizeof(*t));
  if (!t)
    return;
  t->loc = loc;
  t->text = "";
#define KW(w) (kl == sizeof(w) - 1 && memcmp(kw, w, kl) == 0)
  bool needs_name;
  if (KW("param")) {
    t->kind = SLICEC_DOC_PARAM;
    needs_name = true;
  } else if (KW("returns")) {
    t->kind = SLICEC_DOC_RETURNS;
    needs_name = false;
  } else if (KW("throws")) {
    t->kind = SLICEC_DOC_THROWS;
    needs_name = false;
  } else if (KW("see")) {
    t->kind = SLICEC_DOC_SEE;
    needs_name = true;
  } else {
    sc_lint(c, &(const slicec_attr_list *){&f->attrs}, 1, loc,
            "MalformedDocComment", "unknown doc comment tag '%.*s'", (int)kl,
            kw);
    b->cur = NULL;
    return;
  }
#undef KW
  const char *r = skip_ws(kw + kl);
  size_t nl = name_len(r);
  if (nl) {
    t->name = strip_escapes(c, r, nl);
    r = skip_ws(r + nl);
  } else if (needs_name) {
    sc_lint(c, &(const slicec_attr_list *){&f->attrs}, 1, loc,
            "MalformedDocComment", "missing a name after '@%.*s'", (int)kl, kw);
    b->cur = NULL;
    return;
  }
  if (t->kind != SLICEC_DOC_SEE) {
    if (*r == ':')
      r = skip_ws(r + 1);
    else if (*r)
      sc_lint(c, &(const slicec_attr_list *){&f->attrs}, 1, loc,
              "MalformedDocComment", "expected ':' after '@%.*s%s%s'", (int)kl,
              kw, t->name ? " " : "", t->name ? t->name : "");
  }
  t->text = sc_strdup(&c->arena, r);
  sc_vec_push(&c->arena, &b->tags, t);
  b->cur = t->kind == SLICEC_DOC_SEE ? NULL : t;
}

const slicec_doc *sc_doc_parse(slicec_context *c, sc_file *f,
                               const sc_tok *const *lines, size_t n) {
  doc_builder b = {.c = c};
  slicec_doc *d = sc_alloc(&c->arena, sizeof(*d));
  if (!d)
    return NULL;
  d->loc = sc_loc(f, lines[0]->line, lines[0]->col);
  char *overview = NULL;
  size_t pending_blank = 0;
  for (size_t i = 0; i < n; i++) {
    const char *s = lines[i]->text;
    if (*s == ' ')
      s++;
    const char *t = skip_ws(s);
    slicec_loc loc = sc_loc(f, lines[i]->line,
                            lines[i]->col + 3 + (uint32_t)(t - lines[i]->text));
    if (*t == '@' && isalpha((unsigned char)t[1])) {
      block_tag(&b, f, t, loc);
      continue;
    }
    if (b.cur) {
      b.cur->text = *b.cur->text ? append(c, b.cur->text, skip_ws(s))
                                 : sc_strdup(&c->arena, skip_ws(s));
      continue;
    }
    if (b.tags.n)
      continue; /* text after an @see: nothing to attach it to */
    if (!*t) {
      if (overview)
        pending_blank++;
      continue;
    }
    for (; pending_blank; pending_blank--)
      overview = append(c, overview, "");
    overview = append(c, overview, s);
  }
  d->overview = overview ? overview : "";
  d->tags = (const slicec_doc_tag *const *)b.tags.items;
  d->ntags = b.tags.n;
  return d;
}

/* ---- lints over the resolved model ----------------------------------------
 */

typedef struct allow_chain {
  const slicec_attr_list *lists[4];
  size_t n;
} allow_chain;

static sc_sym *resolves(slicec_context *c, const char *scope,
                        const char *name) {
  if (name[0] == ':' && name[1] == ':')
    return sc_map_get(&c->syms, name + 2);
  char buf[1024];
  size_t sl = strlen(scope);
  for (;;) {
    if (sl)
      snprintf(buf, sizeof(buf), "%.*s::%s", (int)sl, scope, name);
    else
      snprintf(buf, sizeof(buf), "%s", name);
    sc_sym *sym = sc_map_get(&c->syms, buf);
    if (sym)
      return sym;
    if (!sl)
      return NULL;
    while (sl && !(scope[sl - 1] == ':' && sl >= 2 && scope[sl - 2] == ':'))
      sl--;
    sl = sl >= 2 ? sl - 2 : 0;
  }
}

static bool link_ok(slicec_context *c, const slicec_def *self,
                    const char *name);

static const char *const primitive_names[] = {
    "bool",      "int8",     "uint8",     "int16",  "uint16",  "int32",
    "uint32",    "varint32", "varuint32", "int64",  "uint64",  "varint62",
    "varuint62", "float32",  "float64",   "string", "AnyClass"};

/* Why `name` (maybe scoped) cannot be linked to, or NULL when it names a
 * definition or a member of one (a field, an enumerator, an operation). */
static const char *link_error(slicec_context *c, const slicec_def *self,
                              const char *name) {
  for (size_t i = 0; i < sizeof(primitive_names) / sizeof(*primitive_names);
       i++)
    if (strcmp(name, primitive_names[i]) == 0)
      return "primitive types cannot be linked to";
  const char *scope = self->module ? self->module->scoped_name : "";
  sc_sym *sym = resolves(c, scope, name);
  if (sym && sym->kind == SC_SYM_MODULE)
    return "modules cannot be linked to";
  if (sym)
    return NULL;
  return link_ok(c, self, name) ? NULL : "";
}

/* Whether `name` is a member of `self` (`member`) or of a named
 * definition (`Name::member`). */
static bool link_ok(slicec_context *c, const slicec_def *self,
                    const char *name) {
  const char *scope = self->module ? self->module->scoped_name : "";
  /* Member links: `Name::member` or a bare member of this definition. */
  const char *last = strrchr(name, ':');
  const char *member = last ? last + 1 : name;
  if (last) {
    char owner[512];
    size_t ol = (size_t)(last - 1 - name);
    if (ol >= sizeof(owner))
      return false;
    memcpy(owner, name, ol);
    owner[ol] = 0;
    char full[1024];
    snprintf(full, sizeof(full), "%s", owner);
    sc_sym *s = NULL;
    if (owner[0] == ':')
      s = sc_map_get(&c->syms, owner + 2);
    if (!s) {
      snprintf(full, sizeof(full), "%s::%s", scope, owner);
      s = sc_map_get(&c->syms, *scope ? full : owner);
      if (!s)
        s = sc_map_get(&c->syms, owner);
    }
    if (!s || s->kind != SC_SYM_DEF)
      return false;
    self = s->def;
  }
  switch (self->kind) {
  case SLICEC_DEF_ENUM:
    for (size_t i = 0; i < self->u.en.nenumerators; i++)
      if (strcmp(self->u.en.enumerators[i]->name, member) == 0)
        return true;
    return false;
  case SLICEC_DEF_STRUCT:
  case SLICEC_DEF_CLASS:
  case SLICEC_DEF_EXCEPTION: {
    slicec_member_list f = self->kind == SLICEC_DEF_STRUCT ? self->u.st.fields
                           : self->kind == SLICEC_DEF_CLASS
                               ? self->u.cls.fields
                               : self->u.exc.fields;
    for (size_t i = 0; i < f.n; i++)
      if (strcmp(f.items[i]->name, member) == 0)
        return true;
    return false;
  }
  case SLICEC_DEF_INTERFACE:
    for (size_t i = 0; i < self->u.iface.nops; i++)
      if (strcmp(self->u.iface.ops[i]->name, member) == 0)
        return true;
    return false;
  default:
    return false;
  }
}

static bool is_member_of(slicec_member_list l, const char *name) {
  for (size_t i = 0; i < l.n; i++)
    if (strcmp(l.items[i]->name, name) == 0)
      return true;
  return false;
}

/* `op` is the operation documented, if any: its parameters and return
 * members cannot be linked to (slicec HEAD). */
static void report_link(slicec_context *c, const slicec_def *self,
                        const slicec_operation *op, const char *name,
                        slicec_loc loc, const allow_chain *ac) {
  const char *why = link_error(c, self, name);
  if (why && op &&
      (is_member_of(op->params, name) ||
       (op->returns_tuple && is_member_of(op->returns, name))))
    why = "parameters cannot be linked to";
  if (why && *why)
    sc_lint(c, ac->lists, ac->n, loc, "BrokenDocLink", "%s", why);
  else if (why)
    sc_lint(c, ac->lists, ac->n, loc, "BrokenDocLink",
            "no element named '%s' exists in scope", name);
}

/* Inline tags: `{@link Name}` is the only one. */
static void check_links_in(slicec_context *c, const slicec_def *self,
                           const slicec_operation *op, const char *text,
                           slicec_loc loc, const allow_chain *ac) {
  for (const char *s = strstr(text, "{@"); s; s = strstr(s + 1, "{@")) {
    const char *kw = s + 2;
    size_t kl = 0;
    while (isalpha((unsigned char)kw[kl]))
      kl++;
    if (kl != 4 || memcmp(kw, "link", 4) != 0) {
      sc_lint(c, ac->lists, ac->n, loc, "MalformedDocComment",
              "unknown doc comment tag '%.*s'", (int)kl, kw);
      continue;
    }
    const char *n = skip_ws(kw + 4);
    size_t nl = name_len(n);
    if (!nl) {
      sc_lint(c, ac->lists, ac->n, loc, "MalformedDocComment",
              "missing a name after '@link'");
      continue;
    }
    char *name = strip_escapes(c, n, nl);
    if (name)
      report_link(c, self, op, name, loc, ac);
  }
}

static void check_doc(slicec_context *c, const slicec_def *self,
                      const slicec_doc *d, const slicec_operation *op,
                      const slicec_enumerator *en, const allow_chain *ac) {
  if (!d)
    return;
  check_links_in(c, self, op, d->overview, d->loc, ac);
  for (size_t i = 0; i < d->ntags; i++) {
    const slicec_doc_tag *t = d->tags[i];
    check_links_in(c, self, op, t->text, t->loc, ac);
    switch (t->kind) {
    case SLICEC_DOC_SEE:
      if (t->name)
        report_link(c, self, op, t->name, t->loc, ac);
      break;
    case SLICEC_DOC_PARAM:
    case SLICEC_DOC_RETURNS:
    case SLICEC_DOC_THROWS: {
      const char *kind = t->kind == SLICEC_DOC_PARAM     ? "param"
                         : t->kind == SLICEC_DOC_RETURNS ? "returns"
                                                         : "throws";
      if (en && t->kind == SLICEC_DOC_PARAM) {
        bool found = false;
        for (size_t k = 0; k < en->fields.n; k++)
          found |= strcmp(en->fields.items[k]->name, t->name) == 0;
        if (!found)
          sc_lint(c, ac->lists, ac->n, t->loc, "IncorrectDocComment",
                  "comment has a 'param' tag for '%s', but enumerator '%s' "
                  "has no field with that name",
                  t->name, en->name);
        break;
      }
      if (!op) {
        sc_lint(c, ac->lists, ac->n, t->loc, "IncorrectDocComment",
                "comment has a '%s' tag, but only operations can %s", kind,
                t->kind == SLICEC_DOC_PARAM     ? "have parameters"
                : t->kind == SLICEC_DOC_RETURNS ? "return"
                                                : "throw");
        break;
      }
      if (t->kind == SLICEC_DOC_PARAM) {
        bool found = false;
        for (size_t k = 0; k < op->params.n; k++)
          found |= strcmp(op->params.items[k]->name, t->name) == 0;
        if (!found)
          sc_lint(c, ac->lists, ac->n, t->loc, "IncorrectDocComment",
                  "comment has a 'param' tag for '%s', but operation '%s' "
                  "has no parameter with that name",
                  t->name, op->name);
      } else if (t->kind == SLICEC_DOC_RETURNS) {
        if (!op->returns.n) {
          sc_lint(c, ac->lists, ac->n, t->loc, "IncorrectDocComment",
                  "comment has a 'returns' tag, but operation '%s' does not "
                  "return anything",
                  op->name);
        } else if (t->name) {
          bool found = false;
          for (size_t k = 0; op->returns_tuple && k < op->returns.n; k++)
            found |= strcmp(op->returns.items[k]->name, t->name) == 0;
          if (!found)
            sc_lint(c, ac->lists, ac->n, t->loc, "IncorrectDocComment",
                    "comment has a 'returns' tag for '%s', but operation "
                    "'%s' doesn't return anything with that name",
                    t->name, op->name);
        }
      } else {
        bool found = !t->name && op->nthrows;
        for (size_t k = 0; t->name && k < op->nthrows; k++) {
          const slicec_def *x = op->throws[k];
          found |=
              x &&
              (strcmp(x->name, t->name) == 0 ||
               strcmp(x->scoped_name, t->name) == 0 ||
               (t->name[0] == ':' && strcmp(x->scoped_name, t->name + 2) == 0));
        }
        if (!found)
          sc_lint(c, ac->lists, ac->n, t->loc, "IncorrectDocComment",
                  t->name ? "comment has a 'throws' tag for '%s', but "
                            "operation '%s' doesn't throw this exception"
                          : "comment has a 'throws' tag%s, but operation "
                            "'%s' does not throw anything",
                  t->name ? t->name : "", op->name);
      }
      break;
    }
    }
  }
}

static void check_members(slicec_context *c, const slicec_def *self,
                          slicec_member_list l, allow_chain *ac) {
  for (size_t i = 0; i < l.n; i++) {
    allow_chain m = *ac;
    m.lists[m.n++] = &l.items[i]->attrs;
    check_doc(c, self, l.items[i]->doc, NULL, NULL, &m);
  }
}

void sc_check_docs(slicec_context *c) {
  for (size_t i = 0; i < c->all_defs.n; i++) {
    sc_def *sd = c->all_defs.items[i];
    const slicec_def *d = &sd->pub;
    allow_chain ac = {{&sd->file->attrs, &d->attrs}, 2};
    check_doc(c, d, d->doc, NULL, NULL, &ac);
    switch (d->kind) {
    case SLICEC_DEF_STRUCT:
      check_members(c, d, d->u.st.fields, &ac);
      break;
    case SLICEC_DEF_CLASS:
      check_members(c, d, d->u.cls.fields, &ac);
      break;
    case SLICEC_DEF_EXCEPTION:
      check_members(c, d, d->u.exc.fields, &ac);
      break;
    case SLICEC_DEF_ENUM:
      for (size_t k = 0; k < d->u.en.nenumerators; k++) {
        const slicec_enumerator *e = d->u.en.enumerators[k];
        allow_chain m = ac;
        m.lists[m.n++] = &e->attrs;
        check_doc(c, d, e->doc, NULL, e, &m);
        check_members(c, d, e->fields, &m);
      }
      break;
    case SLICEC_DEF_INTERFACE:
      for (size_t k = 0; k < d->u.iface.nops; k++) {
        const slicec_operation *op = d->u.iface.ops[k];
        allow_chain m = ac;
        m.lists[m.n++] = &op->attrs;
        check_doc(c, d, op->doc, op, NULL, &m);
      }
      break;
    default:
      break;
    }
  }
}
