/* The constants of Features.ice as C: the header ice_consts_tool wrote
 * with gen_c_const.h compiles, and each macro has its Slice type's C type
 * and its value. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "features_consts.h"

#define IS(T, x) _Generic((x), T : 1, default : 0)

static void test_integers(void **state) {
  (void)state;
  assert_true(IS(int32_t, Demo_MaxShapes));
  assert_int_equal(Demo_MaxShapes, 16);
  assert_true(IS(int64_t, Demo_Big));
  assert_true(Demo_Big == INT64_MIN);
  assert_true(IS(uint8_t, Demo_Mask));
  assert_int_equal(Demo_Mask, 255);
  assert_int_equal(Demo_Copy, 16);
}

static void test_floats_bools_strings(void **state) {
  (void)state;
  assert_true(IS(float, Demo_Half));
  assert_true(Demo_Half == 0.5f);
  assert_true(IS(double, Demo_Avogadro));
  assert_true(Demo_Avogadro == 6.02214076e23);
  assert_true(Demo_Yes);
  assert_int_equal(sizeof(Demo_Greeting) - 1, 11);
  assert_memory_equal(Demo_Greeting, "hi\t\"you\"A\xc3\xa9", 11);
}

static void test_enumerators(void **state) {
  (void)state;
  assert_true(IS(Demo_Color, Demo_Favorite));
  assert_int_equal(Demo_Favorite, 5);
  assert_int_equal(Demo_Other, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_integers),
      cmocka_unit_test(test_floats_bools_strings),
      cmocka_unit_test(test_enumerators),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
