/* irpc-slicec: the resolved model of a set of Slice files.
 *
 * This is what a code generator reads. slicec_compile (slicec.h) parses every
 * file, resolves every name and runs the checks; when it reports no error,
 * the model below is complete and consistent:
 *
 *   - every type reference points at its definition (or is a primitive or
 *     one of the built-in generics Sequence, Dictionary, Result);
 *   - every interface base points at an interface, every class base at a
 *     class, every exception base and `throws` entry at an exception;
 *   - no type alias is part of a cycle, no struct or enum contains itself;
 *   - names are unique in their scope, tags are valid, enumerator values are
 *     computed and in range, attributes are known and well formed.
 *
 * When errors were reported, the model is still walkable (nothing dangles),
 * but references that did not resolve have `def == NULL`, and a generator
 * must not run.
 *
 * Memory: everything is allocated in the context's arena and lives until
 * slicec_context_free. Every pointer is const: the model is read-only.
 * Strings are NUL-terminated. Lists are (array of pointers, count) pairs;
 * an empty list has count 0 and may have a NULL array.
 *
 * Names: `name` is the identifier as written, without the escaping
 * backslash (`\tag` gives "tag"). `scoped_name` is the module-scoped name
 * with `::` separators and no leading `::` ("VisitorCenter::Greeter").
 */
#ifndef IRPC_SLICEC_AST_H
#define IRPC_SLICEC_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A position in a source file: 1-based line and column (columns count
 * bytes). `file` is the path as given to slicec_add_file or the name given
 * to slicec_add_buffer. */
typedef struct slicec_loc {
  const char *file;
  uint32_t line;
  uint32_t col;
} slicec_loc;

/* The compilation mode of a file: `mode = Slice1` selects Slice1 (Ice
 * encoding 1.1, classes, exceptions); everything else is Slice2. */
typedef enum slicec_mode {
  SLICEC_MODE_SLICE2 = 2,
  SLICEC_MODE_SLICE1 = 1
} slicec_mode;

/* ---- attributes ---------------------------------------------------------
 *
 * `[directive]`, `[directive(arg, ...)]` on an element, `[[...]]` on a file.
 * Arguments are strings (quotes removed, `\x` unescaped to `x`) or
 * identifiers; both are given as text. The language-neutral attributes
 * (allow, compress, deprecated, oneway, slicedFormat) are validated and also
 * surface as flags on the elements they apply to. Prefixed attributes
 * (`cs::type`, `c::identifier`, ...) are kept as written for the generator
 * of that language to check. */
typedef struct slicec_attr {
  const char *directive; /* "deprecated", "cs::identifier", ... */
  const char *const *args;
  size_t nargs;
  slicec_loc loc;
} slicec_attr;

typedef struct slicec_attr_list {
  const slicec_attr *const *items;
  size_t n;
} slicec_attr_list;

/* ---- doc comments -------------------------------------------------------
 *
 * The `///` lines just before an element, with the slashes and one leading
 * space removed. `overview` is the text before the first block tag (lines
 * joined with '\n', trailing blank lines dropped; "" when there is none).
 * Each block tag (`@param`, `@returns`, `@throws`, `@see`) is one entry in
 * `tags`. Inline `{@link X}` stays in the text as written. */
typedef enum slicec_doc_tag_kind {
  SLICEC_DOC_PARAM,   /* @param name: text */
  SLICEC_DOC_RETURNS, /* @returns: text, or @returns name: text */
  SLICEC_DOC_THROWS,  /* @throws Exception: text (Slice1) */
  SLICEC_DOC_SEE      /* @see Scoped::Name */
} slicec_doc_tag_kind;

typedef struct slicec_doc_tag {
  slicec_doc_tag_kind kind;
  const char *name; /* parameter, return member, exception or link; or NULL */
  const char *text; /* the description; "" when absent */
  slicec_loc loc;
} slicec_doc_tag;

typedef struct slicec_doc {
  const char *overview;
  const slicec_doc_tag *const *tags;
  size_t ntags;
  slicec_loc loc; /* the first `///` line */
} slicec_doc;

/* ---- type references ---------------------------------------------------- */

typedef enum slicec_primitive {
  SLICEC_BOOL,
  SLICEC_INT8,
  SLICEC_UINT8,
  SLICEC_INT16,
  SLICEC_UINT16,
  SLICEC_INT32,
  SLICEC_UINT32,
  SLICEC_VARINT32,
  SLICEC_VARUINT32,
  SLICEC_INT64,
  SLICEC_UINT64,
  SLICEC_VARINT62,
  SLICEC_VARUINT62,
  SLICEC_FLOAT32,
  SLICEC_FLOAT64,
  SLICEC_STRING,
  SLICEC_ANYCLASS /* Slice1 only */
} slicec_primitive;

typedef enum slicec_type_kind {
  SLICEC_TYPE_PRIMITIVE,
  SLICEC_TYPE_SEQUENCE,   /* element */
  SLICEC_TYPE_DICTIONARY, /* key, value */
  SLICEC_TYPE_RESULT,     /* success, failure */
  SLICEC_TYPE_DEFINED     /* def: a struct, enum, custom, alias or class */
} slicec_type_kind;

struct slicec_def;

/* One use of a type: a field's, a parameter's, an element's... The same
 * definition used twice gives two slicec_type_ref. `def` of an alias use is
 * the alias itself (its `alias.type` is the aliased reference; see
 * slicec_type_unalias). */
typedef struct slicec_type_ref {
  slicec_type_kind kind;
  bool optional;                         /* written `T?` */
  slicec_primitive primitive;            /* SLICEC_TYPE_PRIMITIVE */
  const struct slicec_type_ref *element; /* SLICEC_TYPE_SEQUENCE */
  const struct slicec_type_ref *key;     /* SLICEC_TYPE_DICTIONARY */
  const struct slicec_type_ref *value;   /* SLICEC_TYPE_DICTIONARY */
  const struct slicec_type_ref *success; /* SLICEC_TYPE_RESULT */
  const struct slicec_type_ref *failure; /* SLICEC_TYPE_RESULT */
  const struct slicec_def *def;          /* SLICEC_TYPE_DEFINED */
  const char *spelled;    /* a defined type's name as written ("::A::B", "B") */
  slicec_attr_list attrs; /* `[cs::type("...")] T` */
  slicec_loc loc;
} slicec_type_ref;

/* ---- members: fields and parameters -------------------------------------
 *
 * A struct, class or exception field, an enumerator's field, an operation
 * parameter or a return member. A single (non-tuple) return value is one
 * member named "returnValue". */
struct slicec_value;

typedef struct slicec_member {
  const char *name;
  const slicec_type_ref *type;
  /* A data member's default value, written `int x = 5;` in a .ice file;
   * NULL otherwise. Defaults are not on the wire. */
  const struct slicec_value *default_value;
  bool tagged;
  int32_t tag;  /* 0..2^31-1 when tagged */
  bool stream;  /* parameters and return members: `stream T` */
  size_t index; /* position in its list */
  slicec_attr_list attrs;
  const slicec_doc *doc;
  slicec_loc loc;
} slicec_member;

typedef struct slicec_member_list {
  const slicec_member *const *items;
  size_t n;
} slicec_member_list;

/* ---- definitions -------------------------------------------------------- */

typedef enum slicec_def_kind {
  SLICEC_DEF_STRUCT,
  SLICEC_DEF_ENUM,
  SLICEC_DEF_CUSTOM,
  SLICEC_DEF_ALIAS,
  SLICEC_DEF_INTERFACE,
  SLICEC_DEF_CLASS,     /* Slice1 only */
  SLICEC_DEF_EXCEPTION, /* Slice1 only */
  SLICEC_DEF_CONST      /* .ice files only: `const int X = 5;` */
} slicec_def_kind;

/* An enumerator. `value` holds the value's 64-bit two's complement pattern:
 * read it as (uint64_t)value when the enum's underlying type is unsigned.
 * `has_fields` is true when the enumerator is written with parentheses, even
 * empty ones (`Circle()`), which a basic enum forbids. */
typedef struct slicec_enumerator {
  const char *name;
  int64_t value;
  bool explicit_value; /* written `= n` */
  bool has_fields;
  slicec_member_list fields;
  size_t index;
  slicec_attr_list attrs;
  const slicec_doc *doc;
  slicec_loc loc;
} slicec_enumerator;

typedef struct slicec_operation {
  const char *name; /* the operation name on the wire */
  bool idempotent;
  slicec_member_list params;
  /* Return members: none (`op()`), one named "returnValue" (`-> T`), or a
   * tuple of two or more (`-> (a: T, b: U)`, returns_tuple true). */
  slicec_member_list returns;
  bool returns_tuple;
  const struct slicec_def *const *throws; /* exceptions (Slice1) */
  size_t nthrows;
  /* From attributes, after validation. */
  bool oneway;                    /* [oneway] */
  bool compress_args;             /* [compress(Args)] */
  bool compress_return;           /* [compress(Return)] */
  bool sliced_args;               /* [slicedFormat(Args)] */
  bool sliced_return;             /* [slicedFormat(Return)] */
  const struct slicec_def *iface; /* the interface that declares it */
  slicec_attr_list attrs;
  const slicec_doc *doc;
  slicec_loc loc;
} slicec_operation;

/* Per-kind parts of a definition. */
typedef struct slicec_struct_def {
  bool compact;
  slicec_member_list fields;
} slicec_struct_def;

typedef struct slicec_enum_def {
  bool compact;
  bool unchecked;
  /* The underlying type of a basic enum (an integral primitive), or NULL for
   * a variant enum (Slice2) or a Slice1 enum. */
  const slicec_type_ref *underlying;
  const slicec_enumerator *const *enumerators;
  size_t nenumerators;
} slicec_enum_def;

typedef struct slicec_alias_def {
  const slicec_type_ref *type; /* never optional */
} slicec_alias_def;

typedef struct slicec_interface_def {
  const struct slicec_def *const *bases; /* direct bases, as written */
  size_t nbases;
  /* Every base reachable through `bases`, each once, a base always before
   * the interfaces that derive from it (so ancestors first). */
  const struct slicec_def *const *all_bases;
  size_t nall_bases;
  const slicec_operation *const *ops; /* declared here, in source order */
  size_t nops;
} slicec_interface_def;

typedef struct slicec_class_def {
  bool has_compact_id;
  int32_t compact_id;
  const struct slicec_def *base; /* a class, or NULL */
  slicec_member_list fields;
} slicec_class_def;

typedef struct slicec_exception_def {
  const struct slicec_def *base; /* an exception, or NULL */
  slicec_member_list fields;
} slicec_exception_def;

/* A constant's value (or a data member's default), checked against its
 * type: an integer fits it, a float is finite in it, an enumerator belongs
 * to the enum. A value written as the name of another constant is that
 * constant's value. */
typedef enum slicec_value_kind {
  SLICEC_VALUE_BOOL,      /* bool */
  SLICEC_VALUE_INT,       /* byte, short, int, long */
  SLICEC_VALUE_FLOAT,     /* float, double */
  SLICEC_VALUE_STRING,    /* string */
  SLICEC_VALUE_ENUMERATOR /* an enum */
} slicec_value_kind;

typedef struct slicec_value {
  slicec_value_kind kind;
  bool b;    /* BOOL */
  int64_t i; /* INT */
  double f;  /* FLOAT */
  /* STRING: the bytes after escapes are applied, NUL-terminated; `len`
   * excludes the terminator (the string itself may hold NUL bytes). */
  const char *str;
  size_t len;
  const slicec_enumerator *enumerator; /* ENUMERATOR */
  /* The literal as written, sign included ("-0x10", "1.5e3f", "true",
   * "\"a\\n\"", or the constant's or enumerator's name). */
  const char *literal;
  slicec_loc loc;
} slicec_value;

/* `const T Name = value;` (.ice). `type` is a primitive other than
 * AnyClass, or an enum (through aliases); never optional. */
typedef struct slicec_const_def {
  const slicec_type_ref *type;
  const slicec_value *value;
} slicec_const_def;

struct slicec_file;
struct slicec_module;

typedef struct slicec_def {
  slicec_def_kind kind;
  const char *name;
  const char *scoped_name;
  const struct slicec_module *module;
  const struct slicec_file *file;
  /* [deprecated] or [deprecated("reason")]: deprecated is true and
   * deprecation_reason is the reason or NULL. */
  bool deprecated;
  const char *deprecation_reason;
  slicec_attr_list attrs;
  const slicec_doc *doc;
  slicec_loc loc; /* the definition's identifier */
  union {
    slicec_struct_def st;       /* SLICEC_DEF_STRUCT */
    slicec_enum_def en;         /* SLICEC_DEF_ENUM */
    slicec_alias_def alias;     /* SLICEC_DEF_ALIAS */
    slicec_interface_def iface; /* SLICEC_DEF_INTERFACE */
    slicec_class_def cls;       /* SLICEC_DEF_CLASS */
    slicec_exception_def exc;   /* SLICEC_DEF_EXCEPTION */
    slicec_const_def cnst;      /* SLICEC_DEF_CONST */
  } u;                          /* nothing for SLICEC_DEF_CUSTOM */
} slicec_def;

/* `module A::B` of one file. Several files may declare the same module:
 * each has its own slicec_module (own location and attributes) with the
 * same scoped_name. A .ice file may hold several modules, nested or
 * reopened (`module A { module B { ... } }`): each block is a
 * slicec_module, and each definition points at the innermost one. */
typedef struct slicec_module {
  const char *scoped_name; /* "A::B" */
  slicec_attr_list attrs;
  slicec_loc loc;
} slicec_module;

/* One input file. Reference files (`-R`) are part of the model so that
 * their types resolve, but generate nothing. */
typedef struct slicec_file {
  const char *path;
  bool reference;
  slicec_mode mode;
  /* Written in ZeroC's syntax (a `.ice` file): its mode is Slice1, and
   * it may hold several modules and constants. */
  bool ice;
  slicec_attr_list attrs; /* file attributes `[[...]]` */
  /* NULL for a file with no module. In a .ice file, the module of its
   * first definition (each definition has its own `module`). */
  const slicec_module *module;
  const slicec_def *const *defs; /* in source order */
  size_t ndefs;
} slicec_file;

/* The whole compilation: the files in the order they were added. */
typedef struct slicec_ast {
  const slicec_file *const *files;
  size_t nfiles;
} slicec_ast;

/* ---- helpers ------------------------------------------------------------ */

/* The first attribute of `list` whose directive is `directive`, or NULL. */
const slicec_attr *slicec_attr_find(slicec_attr_list list,
                                    const char *directive);

/* Follows aliases: returns the first reference on the chain that is not the
 * use of an alias, which describes the underlying type. Aliases are never
 * optional, so whether the use is optional is `t->optional` alone. Returns
 * `t` itself when it is not an alias use; NULL when the chain does not
 * resolve (only after errors). */
const slicec_type_ref *slicec_type_unalias(const slicec_type_ref *t);

/* The name of a primitive as written in Slice ("varuint62"). */
const char *slicec_primitive_name(slicec_primitive p);

/* "struct", "enum", "custom type", "type alias", "interface", "class",
 * "exception". */
const char *slicec_def_kind_name(slicec_def_kind k);

#ifdef __cplusplus
}
#endif

#endif
