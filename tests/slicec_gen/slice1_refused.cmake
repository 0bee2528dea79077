# irpc-slicec on Slice1 definitions it cannot generate (classes and what
# needs them, optional elements): exit status 1, one error each, where it
# is declared, and the rest generated.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${SLICEC} --output-dir ${WORK_DIR} ${SOURCE}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "exit status ${rc}, expected 1:\n${err}")
endif()
foreach(expect
    "slice1_refused.slice:7:7: error: class 'Refused::Node' is not generated: classes are not supported by the C generator [E204]"
    "slice1_refused.slice:10:5: error: 'node' of 'Refused::Box' uses class 'Refused::Node' (classes are not supported), which the C generator cannot encode in Slice1 [E205]"
    "slice1_refused.slice:17:9: error: 'v' of 'Refused::Store::put' uses AnyClass (classes are not supported), which the C generator cannot encode in Slice1 [E205]"
    "slice1_refused.slice:18:14: error: 'returnValue' of 'Refused::Store::all' uses a sequence of optional elements other than proxies, which the C generator cannot encode in Slice1 [E205]")
  string(FIND "${err}" "${expect}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "missing diagnostic: ${expect}\ngot:\n${err}")
  endif()
endforeach()
file(READ ${WORK_DIR}/slice1_refused.slice.c c)
if(NOT c MATCHES "Refused_Store_size_call")
  message(FATAL_ERROR "the rest is not generated")
endif()
message(STATUS "Slice1 constructs without a C mapping reported")
