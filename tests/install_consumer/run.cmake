# Installs the build into a scratch prefix, then configures, builds and runs
# an outside project against it, once with find_package and once with
# pkg-config.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR}
  --prefix ${WORK_DIR}/prefix RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install failed")
endif()
foreach(mode cmake pkgconfig)
  set(bdir ${WORK_DIR}/build-${mode})
  execute_process(COMMAND ${CMAKE_COMMAND}
    -S ${SOURCE_DIR}/tests/install_consumer -B ${bdir}
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DMODE=${mode}
    "-DCMAKE_C_FLAGS=${CONSUMER_FLAGS}"
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configure (${mode}) failed")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${bdir} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "build (${mode}) failed")
  endif()
  execute_process(COMMAND ${bdir}/consumer OUTPUT_VARIABLE out
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "irpc [0-9]+\\.[0-9]+\\.[0-9]+")
    message(FATAL_ERROR "consumer (${mode}) failed: ${out}")
  endif()
  message(STATUS "${mode}: ${out}")
endforeach()
