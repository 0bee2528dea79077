# Installs the build into a scratch prefix, copies example folders out of
# the tree into fresh directories, and configures, builds and runs them
# against the installed package, as a user who copied them would.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR}
  --prefix ${WORK_DIR}/prefix RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install failed")
endif()
# example folder, program, what its output must show
set(examples
  "hello|irpc-hello|Hello, world!.*NotFound"
  "callback|irpc-callback|before and after a server restart"
  "catalog|irpc-catalog|each case of Result<Item, LookupError> handled"
  "ipc|irpc-ipc|Hello, world! .from process"
  "multiloop|irpc-multiloop|816 calls answered, 0 failed.*shut down .gracefully."
  "streaming|irpc-streaming|downloaded [0-9]+ bytes .OK.*commands [HC-]+ .OK."
  "custom_interceptor|irpc-custom-interceptor|counter: 2 calls, 1 failures")
foreach(entry ${examples})
  string(REPLACE "|" ";" entry "${entry}")
  list(GET entry 0 name)
  list(GET entry 1 program)
  list(GET entry 2 expect)
  set(src ${WORK_DIR}/${name})
  file(COPY ${SOURCE_DIR}/examples/${name}/ DESTINATION ${src})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${src} -B ${src}/build
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix "-DCMAKE_C_FLAGS=${CONSUMER_FLAGS}"
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configure of the copied ${name} example failed")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${src}/build
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "build of the copied ${name} example failed")
  endif()
  execute_process(COMMAND ${src}/build/${program} OUTPUT_VARIABLE out
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "${expect}")
    message(FATAL_ERROR "the copied ${name} example failed (${rc}): ${out}")
  endif()
  message(STATUS "${name}: built and ran outside the tree")
endforeach()
