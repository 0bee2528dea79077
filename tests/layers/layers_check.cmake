cmake_minimum_required(VERSION 3.18)
# Checks the direction of the dependencies between the folders of the
# library (see CMakeLists.txt here). Arguments: SOURCE_DIR, OBJECTS (the
# library's object files, separated by "|").
string(REPLACE "|" ";" objects "${OBJECTS}")
set(errors 0)

# 1. Includes: no file of core/ names a header of interceptors/ or
#    middleware/; no file of middleware/ reaches into interceptors/ other
#    than through "ic_internal.h".
file(GLOB_RECURSE core_files ${SOURCE_DIR}/core/*.c ${SOURCE_DIR}/core/*.h)
foreach(f ${core_files})
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include")
  foreach(l ${lines})
    if(l MATCHES "interceptors/|middleware/|ic_internal\\.h")
      message(SEND_ERROR "${f}: ${l}")
      math(EXPR errors "${errors}+1")
    endif()
  endforeach()
endforeach()
file(GLOB mw_files ${SOURCE_DIR}/middleware/*.c ${SOURCE_DIR}/middleware/*.h)
foreach(f ${mw_files})
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include")
  foreach(l ${lines})
    if(l MATCHES "interceptors/")
      message(SEND_ERROR "${f}: ${l} (include \"ic_internal.h\")")
      math(EXPR errors "${errors}+1")
    endif()
  endforeach()
endforeach()

# 2. Symbols, from the object files.
function(run_nm out)
  execute_process(COMMAND nm ${ARGN} OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm ${ARGN} failed")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# Symbols defined in interceptors/ and middleware/.
set(ic_objects "")
set(mw_objects "")
set(core_objects "")
foreach(o ${objects})
  if(o MATCHES "/irpc_objects\\.dir/interceptors/")
    list(APPEND ic_objects ${o})
  elseif(o MATCHES "/irpc_objects\\.dir/middleware/")
    list(APPEND mw_objects ${o})
  elseif(o MATCHES "/irpc_objects\\.dir/core/")
    list(APPEND core_objects ${o})
  endif()
endforeach()
list(LENGTH core_objects ncore)
list(LENGTH ic_objects nic)
if(ncore EQUAL 0 OR nic EQUAL 0)
  message(FATAL_ERROR "no object of core/ or interceptors/ in OBJECTS")
endif()

function(defined_symbols out)
  run_nm(text --defined-only -g ${ARGN})
  string(REGEX MATCHALL "[0-9a-fA-F]+ [A-Z] [A-Za-z_][A-Za-z0-9_]*" hits
         "${text}")
  set(syms "")
  foreach(h ${hits})
    string(REGEX REPLACE "^.* " "" s "${h}")
    list(APPEND syms ${s})
  endforeach()
  set(${out} "${syms}" PARENT_SCOPE)
endfunction()

defined_symbols(ic_defs ${ic_objects})
defined_symbols(mw_defs ${mw_objects})

# Undefined symbols of a set of objects, as "object: symbol" pairs.
function(undefined_symbols out)
  run_nm(text -A -u ${ARGN})
  string(REGEX MATCHALL "[^\n]*: +U [A-Za-z_][A-Za-z0-9_]*" hits "${text}")
  set(${out} "${hits}" PARENT_SCOPE)
endfunction()

# Each object of core/: its undefined symbols must not be defined in
# interceptors/ or middleware/.
undefined_symbols(core_undef ${core_objects})
foreach(h ${core_undef})
  string(REGEX REPLACE "^.*: +U " "" s "${h}")
  if(s IN_LIST ic_defs OR s IN_LIST mw_defs)
    string(REGEX REPLACE "^.*/irpc_objects\\.dir/(.*)\\.o: .*$" "\\1" name
           "${h}")
    message(SEND_ERROR "${name} uses ${s}, defined in interceptors/ or "
                       "middleware/")
    math(EXPR errors "${errors}+1")
  endif()
endforeach()

# Each object of middleware/: the internal (irpc__) symbols of
# interceptors/ it uses are declared in interceptors/ic_internal.h.
file(READ ${SOURCE_DIR}/interceptors/ic_internal.h ic_header)
undefined_symbols(mw_undef ${mw_objects})
foreach(h ${mw_undef})
  string(REGEX REPLACE "^.*: +U " "" s "${h}")
  if(s MATCHES "^irpc__" AND s IN_LIST ic_defs AND
     NOT ic_header MATCHES "[ *]${s}\\(")
    string(REGEX REPLACE "^.*/irpc_objects\\.dir/(.*)\\.o: .*$" "\\1" name
           "${h}")
    message(SEND_ERROR "${name} uses ${s}, which interceptors/ic_internal.h "
                       "does not declare")
    math(EXPR errors "${errors}+1")
  endif()
endforeach()

if(errors GREATER 0)
  message(FATAL_ERROR "${errors} dependencies run the wrong way")
endif()
message(STATUS "${ncore} core objects use nothing of interceptors/ or "
               "middleware/; middleware uses interceptors/ through "
               "ic_internal.h only")
