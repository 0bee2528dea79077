/* irpc-slicec: a stable text form of the model (--dump-ast). One element a
 * line, indented by nesting; types show their resolved names. */
#include <stdio.h>
#include <string.h>

#include "slicec.h"

static void put_type(const slicec_type_ref *t, FILE *out);

static void put_attrs(slicec_attr_list l, FILE *out) {
  for (size_t i = 0; i < l.n; i++) {
    const slicec_attr *a = l.items[i];
    fprintf(out, "[%s", a->directive);
    if (a->nargs) {
      fputc('(', out);
      for (size_t k = 0; k < a->nargs; k++)
        fprintf(out, "%s\"%s\"", k ? ", " : "", a->args[k]);
      fputc(')', out);
    }
    fputs("] ", out);
  }
}

static void put_type(const slicec_type_ref *t, FILE *out) {
  if (!t) {
    fputs("<error>", out);
    return;
  }
  put_attrs(t->attrs, out);
  switch (t->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    fputs(slicec_primitive_name(t->primitive), out);
    break;
  case SLICEC_TYPE_SEQUENCE:
    fputs("Sequence<", out);
    put_type(t->element, out);
    fputc('>', out);
    break;
  case SLICEC_TYPE_DICTIONARY:
    fputs("Dictionary<", out);
    put_type(t->key, out);
    fputs(", ", out);
    put_type(t->value, out);
    fputc('>', out);
    break;
  case SLICEC_TYPE_RESULT:
    fputs("Result<", out);
    put_type(t->success, out);
    fputs(", ", out);
    put_type(t->failure, out);
    fputc('>', out);
    break;
  case SLICEC_TYPE_DEFINED:
    if (t->def)
      fprintf(out, "::%s", t->def->scoped_name);
    else
      fprintf(out, "?%s", t->spelled);
    break;
  }
  if (t->optional)
    fputc('?', out);
}

/* A value: its kind and what it holds ("int 5", "string \"a\\n\"",
 * "enumerator Pear (2)"). */
static void put_value(const slicec_value *v, FILE *out) {
  if (!v) {
    fputs("<error>", out);
    return;
  }
  switch (v->kind) {
  case SLICEC_VALUE_BOOL:
    fprintf(out, "bool %s", v->b ? "true" : "false");
    break;
  case SLICEC_VALUE_INT:
    fprintf(out, "int %lld", (long long)v->i);
    break;
  case SLICEC_VALUE_FLOAT:
    fprintf(out, "float %.17g", v->f);
    break;
  case SLICEC_VALUE_STRING:
    fputs("string \"", out);
    for (size_t i = 0; i < v->len; i++) {
      unsigned char ch = (unsigned char)v->str[i];
      if (ch == '"' || ch == '\\')
        fprintf(out, "\\%c", ch);
      else if (ch < 0x20 || ch == 0x7f)
        fprintf(out, "\\x%02x", ch);
      else
        fputc(ch, out);
    }
    fputc('"', out);
    break;
  case SLICEC_VALUE_ENUMERATOR:
    fprintf(out, "enumerator %s (%lld)",
            v->enumerator ? v->enumerator->name : "?",
            v->enumerator ? (long long)v->enumerator->value : 0LL);
    break;
  }
}

static void indent(int n, FILE *out) {
  for (int i = 0; i < n; i++)
    fputs("  ", out);
}

static void put_doc(const slicec_doc *d, int depth, FILE *out) {
  if (!d)
    return;
  indent(depth, out);
  fputs("doc \"", out);
  for (const char *s = d->overview; *s; s++)
    if (*s == '\n')
      fputs("\\n", out);
    else if (*s == '"' || *s == '\\')
      fprintf(out, "\\%c", *s);
    else
      fputc(*s, out);
  fputs("\"\n", out);
  static const char *const kinds[] = {"param", "returns", "throws", "see"};
  for (size_t i = 0; i < d->ntags; i++) {
    indent(depth + 1, out);
    fprintf(out, "@%s%s%s: %s\n", kinds[d->tags[i]->kind],
            d->tags[i]->name ? " " : "",
            d->tags[i]->name ? d->tags[i]->name : "", d->tags[i]->text);
  }
}

static void put_members(const char *what, slicec_member_list l, int depth,
                        FILE *out) {
  for (size_t i = 0; i < l.n; i++) {
    const slicec_member *m = l.items[i];
    put_doc(m->doc, depth, out);
    indent(depth, out);
    fprintf(out, "%s ", what);
    put_attrs(m->attrs, out);
    if (m->tagged)
      fprintf(out, "tag(%d) ", (int)m->tag);
    fprintf(out, "%s: %s", m->name, m->stream ? "stream " : "");
    put_type(m->type, out);
    if (m->default_value) {
      fputs(" = ", out);
      put_value(m->default_value, out);
    }
    fprintf(out, " @%u:%u\n", m->loc.line, m->loc.col);
  }
}

static void put_def(const slicec_def *d, FILE *out) {
  put_doc(d->doc, 1, out);
  indent(1, out);
  put_attrs(d->attrs, out);
  switch (d->kind) {
  case SLICEC_DEF_STRUCT:
    fprintf(out, "%sstruct %s", d->u.st.compact ? "compact " : "",
            d->scoped_name);
    break;
  case SLICEC_DEF_ENUM:
    fprintf(out, "%s%senum %s", d->u.en.compact ? "compact " : "",
            d->u.en.unchecked ? "unchecked " : "", d->scoped_name);
    if (d->u.en.underlying) {
      fputs(" : ", out);
      put_type(d->u.en.underlying, out);
    }
    break;
  case SLICEC_DEF_CUSTOM:
    fprintf(out, "custom %s", d->scoped_name);
    break;
  case SLICEC_DEF_ALIAS:
    fprintf(out, "typealias %s = ", d->scoped_name);
    put_type(d->u.alias.type, out);
    break;
  case SLICEC_DEF_INTERFACE:
    fprintf(out, "interface %s", d->scoped_name);
    for (size_t i = 0; i < d->u.iface.nbases; i++)
      fprintf(out, "%s::%s", i ? ", " : " : ",
              d->u.iface.bases[i] ? d->u.iface.bases[i]->scoped_name : "?");
    break;
  case SLICEC_DEF_CLASS:
    fprintf(out, "class %s", d->scoped_name);
    if (d->u.cls.has_compact_id)
      fprintf(out, "(%d)", (int)d->u.cls.compact_id);
    if (d->u.cls.base)
      fprintf(out, " : ::%s", d->u.cls.base->scoped_name);
    break;
  case SLICEC_DEF_EXCEPTION:
    fprintf(out, "exception %s", d->scoped_name);
    if (d->u.exc.base)
      fprintf(out, " : ::%s", d->u.exc.base->scoped_name);
    break;
  case SLICEC_DEF_CONST:
    fprintf(out, "const %s: ", d->scoped_name);
    put_type(d->u.cnst.type, out);
    fputs(" = ", out);
    put_value(d->u.cnst.value, out);
    break;
  }
  if (d->deprecated)
    fprintf(out, " deprecated%s%s", d->deprecation_reason ? "=" : "",
            d->deprecation_reason ? d->deprecation_reason : "");
  fprintf(out, " @%u:%u\n", d->loc.line, d->loc.col);
  switch (d->kind) {
  case SLICEC_DEF_STRUCT:
    put_members("field", d->u.st.fields, 2, out);
    break;
  case SLICEC_DEF_CLASS:
    put_members("field", d->u.cls.fields, 2, out);
    break;
  case SLICEC_DEF_EXCEPTION:
    put_members("field", d->u.exc.fields, 2, out);
    break;
  case SLICEC_DEF_ENUM:
    for (size_t i = 0; i < d->u.en.nenumerators; i++) {
      const slicec_enumerator *e = d->u.en.enumerators[i];
      put_doc(e->doc, 2, out);
      indent(2, out);
      put_attrs(e->attrs, out);
      fprintf(out, "%s = %lld%s @%u:%u\n", e->name, (long long)e->value,
              e->has_fields ? " ()" : "", e->loc.line, e->loc.col);
      put_members("field", e->fields, 3, out);
    }
    break;
  case SLICEC_DEF_INTERFACE:
    for (size_t i = 0; i < d->u.iface.nops; i++) {
      const slicec_operation *op = d->u.iface.ops[i];
      put_doc(op->doc, 2, out);
      indent(2, out);
      put_attrs(op->attrs, out);
      fprintf(out, "op %s%s%s%s%s%s%s @%u:%u\n", op->name,
              op->idempotent ? " idempotent" : "", op->oneway ? " oneway" : "",
              op->compress_args ? " compress-args" : "",
              op->compress_return ? " compress-return" : "",
              op->sliced_args ? " sliced-args" : "",
              op->sliced_return ? " sliced-return" : "", op->loc.line,
              op->loc.col);
      put_members("param", op->params, 3, out);
      put_members(op->returns_tuple ? "return-tuple" : "return", op->returns, 3,
                  out);
      for (size_t k = 0; k < op->nthrows; k++) {
        indent(3, out);
        fprintf(out, "throws ::%s\n",
                op->throws[k] ? op->throws[k]->scoped_name : "?");
      }
    }
    break;
  default:
    break;
  }
}

void slicec_dump_ast(const slicec_ast *ast, FILE *out) {
  for (size_t i = 0; i < ast->nfiles; i++) {
    const slicec_file *f = ast->files[i];
    fprintf(out, "file %s%s%s%s\n", f->path, f->reference ? " (reference)" : "",
            f->mode == SLICEC_MODE_SLICE1 ? " Slice1" : "",
            f->ice ? " ice" : "");
    if (f->attrs.n) {
      indent(1, out);
      fputs("file-attributes ", out);
      put_attrs(f->attrs, out);
      fputc('\n', out);
    }
    if (f->module) {
      indent(1, out);
      fputs("module ", out);
      put_attrs(f->module->attrs, out);
      fprintf(out, "%s\n", f->module->scoped_name);
    }
    const slicec_module *m = f->module;
    for (size_t k = 0; k < f->ndefs; k++) {
      /* A .ice file may change modules between definitions. */
      if (f->defs[k]->module && m && f->defs[k]->module != m) {
        m = f->defs[k]->module;
        indent(1, out);
        fputs("module ", out);
        put_attrs(m->attrs, out);
        fprintf(out, "%s\n", m->scoped_name);
      }
      put_def(f->defs[k], out);
    }
  }
}
