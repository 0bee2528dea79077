# irpc-slicec on a file with stream operations: exit status 1, one error
# per operation it does not generate (a stream of a non-primitive) naming
# it, and the rest generated (streams of primitives included).
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${SLICEC} --output-dir ${WORK_DIR} ${SOURCE}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "exit status ${rc}, expected 1:\n${err}")
endif()
foreach(expect
    "streams.slice:7:5: error: operation 'records' of 'Streams::Pipe' is not generated: streams are not supported yet")
  string(FIND "${err}" "${expect}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "missing diagnostic: ${expect}\ngot:\n${err}")
  endif()
endforeach()
file(READ ${WORK_DIR}/streams.slice.h h)
file(READ ${WORK_DIR}/streams.slice.c c)
if(NOT h MATCHES "Streams_Pipe_size\\(" OR h MATCHES "records"
   OR NOT h MATCHES "Streams_Pipe_download_return_elem"
   OR NOT h MATCHES "Streams_Pipe_upload_param_elem"
   OR err MATCHES "download|upload"
   OR NOT c MATCHES "Streams_Pipe_size_call")
  message(FATAL_ERROR "the generated files are not as expected")
endif()
message(STATUS "stream operations reported, the rest generated")
