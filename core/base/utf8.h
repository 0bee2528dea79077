/* UTF-8 validation (core/utf8.c). */
#ifndef IRPC_CORE_UTF8_H
#define IRPC_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* 1 when [p, p + n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF), else 0. */
int irpc__utf8_valid(const uint8_t *p, size_t n);

#endif
