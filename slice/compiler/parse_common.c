/* irpc-slicec: what the two parsers share (parse_common.h). */
#include <stdio.h>

#include "parse_common.h"

void sc_syntax(sc_cursor *k, const sc_tok *t, const char *fmt, const char *a) {
  if (k->failed)
    return;
  k->failed = true;
  if (t->kind == T_ERROR)
    return; /* the lexer reported it */
  char msg[300];
  snprintf(msg, sizeof(msg), fmt, a ? a : "");
  sc_error(k->c, sc_loc_of(k, t), "E002", "invalid syntax: %s", msg);
}
