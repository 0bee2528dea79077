# irpc-slicec on a file with stream operations: every one generated, with
# its element descriptor, item type and typed consumer (a handler taking
# the item type, and the function that starts it); on a Slice1 file with a
# stream: an error naming it, exit status 1.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${SLICEC} --output-dir ${WORK_DIR} ${SOURCE}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "exit status ${rc}, expected 0:\n${err}")
endif()
file(READ ${WORK_DIR}/streams.slice.h h)
file(READ ${WORK_DIR}/streams.slice.c c)
if(NOT h MATCHES "Streams_Pipe_size\\("
   OR NOT h MATCHES "typedef Streams_Seq_string Streams_Pipe_records_return_item;"
   OR NOT h MATCHES "Streams_Pipe_download_return_elem"
   OR NOT h MATCHES "Streams_Pipe_upload_param_elem"
   OR NOT h MATCHES "Streams_Pipe_maybe_return_item {"
   OR NOT h MATCHES "typedef void Streams_Pipe_records_return_items_fn\\(void \\*user_data, const Streams_Pipe_records_return_item \\*items, size_t n\\);"
   OR NOT h MATCHES "int Streams_Pipe_records_return_take\\(irpc_slice_reply \\*reply, Streams_Pipe_records_return_handler \\*h, irpc_slice_stream_reader \\*\\*out\\);"
   OR NOT h MATCHES "int Streams_Pipe_upload_param_take\\(irpc_slice_dispatch \\*sd, Streams_Pipe_upload_param_handler \\*h, irpc_slice_stream_reader \\*\\*out\\);"
   OR NOT c MATCHES "return irpc_slice_reply_take_stream\\(reply, &Streams_Pipe_records_return_typed, h, out\\);"
   OR NOT c MATCHES "Streams_Pipe_records_return_elem_decode"
   OR NOT c MATCHES "Streams_Pipe_size_call")
  message(FATAL_ERROR "the generated files are not as expected")
endif()
execute_process(COMMAND ${SLICEC} --output-dir ${WORK_DIR} ${SOURCE1}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
set(expect "streams_slice1.slice:6:31: error: streamed parameters cannot be used in Slice1 mode [E104]")
string(FIND "${err}" "${expect}" at)
if(NOT rc EQUAL 1 OR at EQUAL -1)
  message(FATAL_ERROR "exit status ${rc}, expected 1 and: ${expect}\ngot:\n${err}")
endif()
message(STATUS "stream operations generated, Slice1 streams refused")
