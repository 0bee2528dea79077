# irpc-slicec on ZeroC's own definitions (ICE_SLICE_DIR, the folder that
# holds Ice/ and IceGrid/): every file of Ice/ generates C, except
# Metrics.ice, refused for its classes; the generated .c files compile with
# the warnings as errors (FLAGS) into one static library. Exit code 77 (a
# skip) when ICE_SLICE_DIR/Ice is absent.
if(NOT IS_DIRECTORY "${ICE_SLICE_DIR}/Ice")
  message("${ICE_SLICE_DIR}/Ice not found (Debian's zeroc-ice-slice): "
    "the ZeroC definitions are not checked")
  cmake_language(EXIT 77)
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/gen ${WORK_DIR}/obj)

function(slicec out_rc out_err)
  execute_process(COMMAND ${SLICEC} -I ${ICE_SLICE_DIR}
    --output-dir ${WORK_DIR}/gen ${ARGN}
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  set(${out_rc} ${rc} PARENT_SCOPE)
  set(${out_err} "${err}" PARENT_SCOPE)
endfunction()

# Metrics.ice: its views are dictionaries of classes.
slicec(rc err ${ICE_SLICE_DIR}/Ice/Metrics.ice)
set(expect "Metrics.ice:218:5: error: 'IceMX::MetricsView' contains a class: classes are not supported yet [E120]")
string(FIND "${err}" "${expect}" at)
if(NOT rc EQUAL 1 OR at EQUAL -1)
  message(FATAL_ERROR "Metrics.ice: exit status ${rc}, expected 1 and "
    "${expect}:\n${err}")
endif()
if(EXISTS ${WORK_DIR}/gen/Metrics.ice.c)
  message(FATAL_ERROR "Metrics.ice: C generated despite its errors")
endif()

file(GLOB ice_files ${ICE_SLICE_DIR}/Ice/*.ice)
list(REMOVE_ITEM ice_files ${ICE_SLICE_DIR}/Ice/Metrics.ice)
list(LENGTH ice_files n)
foreach(f ${ice_files})
  slicec(rc err ${f})
  if(NOT rc EQUAL 0 OR err MATCHES "error:")
    message(FATAL_ERROR "${f}: exit status ${rc}:\n${err}")
  endif()
endforeach()

# IceGrid/Registry.ice: sequences of proxies (Object*) in encoding 1.1. Its
# C needs IceGrid/Admin.ice's, which has classes: checked and generated,
# not compiled.
if(EXISTS ${ICE_SLICE_DIR}/IceGrid/Registry.ice)
  slicec(rc err ${ICE_SLICE_DIR}/IceGrid/Registry.ice)
  if(NOT rc EQUAL 0 OR err MATCHES "error:")
    message(FATAL_ERROR "IceGrid/Registry.ice: exit status ${rc}:\n${err}")
  endif()
  if(NOT EXISTS ${WORK_DIR}/gen/Registry.ice.c)
    message(FATAL_ERROR "IceGrid/Registry.ice: no C generated")
  endif()
  file(REMOVE ${WORK_DIR}/gen/Registry.ice.c ${WORK_DIR}/gen/Registry.ice.h)
endif()

file(GLOB generated ${WORK_DIR}/gen/*.c)
list(LENGTH generated ngen)
if(ngen LESS n)
  message(FATAL_ERROR "${ngen} .c files generated for ${n} .ice files")
endif()
set(objects "")
foreach(c ${generated})
  get_filename_component(name ${c} NAME)
  set(obj ${WORK_DIR}/obj/${name}.o)
  execute_process(COMMAND ${CC} ${FLAGS} -I${WORK_DIR}/gen -I${INCLUDE_DIR}
    -c ${c} -o ${obj}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} does not compile:\n${out}${err}")
  endif()
  list(APPEND objects ${obj})
endforeach()
execute_process(COMMAND ${AR} rcs ${WORK_DIR}/libzeroc_ice.a ${objects}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ar: ${err}")
endif()
message(STATUS "${n} files of ${ICE_SLICE_DIR}/Ice generated and compiled "
  "(${ngen} .c files), Metrics.ice refused for its classes")
