/* irpc-slicec: C for the constants of .ice files.
 *
 * A constant becomes a macro in the generated header, typed with a cast so
 * that it has the C type of its Slice type:
 *
 *   const int MaxShapes = 0x10;      #define Demo_MaxShapes ((int32_t)16)
 *   const long Big = -9223372036854775808;
 *                                    #define Demo_Big
 * (-INT64_C(9223372036854775807) - 1) const byte Mask = 0377;          #define
 * Demo_Mask ((uint8_t)255) const float Half = .5f;          #define Demo_Half
 * 0.5f const double D = 6.02214076e23;  #define Demo_D 6.0221407599999999e+23
 *   const bool Yes = true;           #define Demo_Yes true
 *   const string S = "a\n";          #define Demo_S "a\n"
 *   const Color C = Green;           #define Demo_C ((Demo_Color)5)
 *
 * A string is a C string literal (non-ASCII bytes and controls as octal
 * escapes; a NUL inside the string is kept, so use sizeof - 1 for its
 * length). The header needs <stdint.h> and <stdbool.h>, which
 * <irpc/slice_gen.h> includes. */
#ifndef IRPC_SLICEC_GEN_C_CONST_H
#define IRPC_SLICEC_GEN_C_CONST_H

#include "slicec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The lines defining constant `d` (SLICEC_DEF_CONST) as `cname`: its doc
 * comment, then the #define. `enum_cname` is the C type of the enum for an
 * enum constant (ignored otherwise). Returns a malloc'd string, or NULL
 * when out of memory or `d` is not a constant with a value. */
char *slicec_gen_c_const(const slicec_def *d, const char *cname,
                         const char *enum_cname);

#ifdef __cplusplus
}
#endif

#endif
