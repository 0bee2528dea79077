# irpc_slice_generate: C code from Slice files, as part of a target.
#
#   irpc_slice_generate(TARGET target
#                       SOURCES a.slice b.slice ...
#                       [REFERENCES r.slice ...]
#                       [DEFINES SYMBOL ...]
#                       [OUTPUT_DIR dir])
#
# Runs irpc-slicec on the SOURCES (compiled together, so they see each
# other's definitions; REFERENCES are visible to them but generate nothing)
# whenever one of them, a reference or the compiler changes, writes
# `<name>.slice.h` and `<name>.slice.c` for each source into OUTPUT_DIR
# (default: ${CMAKE_CURRENT_BINARY_DIR}/irpc_slice/<target>), adds the .c
# files to the target and OUTPUT_DIR to its include directories. A header
# of a referenced file is not generated here: generate it in its own call.
#
# The compiler is the irpc-slicec target when this build defines it,
# IRPC_SLICEC_EXECUTABLE when set, else the irpc-slicec installed next to
# this file's package (or found on PATH).
#
# The generated code needs the irpc library: link the target with irpc
# (irpc::irpc or irpc::irpc_static from find_package(irpc)).

set(_IRPC_SLICE_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(irpc_slice_generate)
  cmake_parse_arguments(ARG "" "TARGET;OUTPUT_DIR" "SOURCES;REFERENCES;DEFINES"
    ${ARGN})
  if(NOT ARG_TARGET OR NOT ARG_SOURCES)
    message(FATAL_ERROR "irpc_slice_generate: TARGET and SOURCES are required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "irpc_slice_generate: unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/irpc_slice/${ARG_TARGET}")
  endif()
  get_filename_component(out_dir "${ARG_OUTPUT_DIR}" ABSOLUTE
    BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")

  if(TARGET irpc-slicec)
    set(compiler "$<TARGET_FILE:irpc-slicec>")
    set(compiler_dep irpc-slicec)
  else()
    if(NOT IRPC_SLICEC_EXECUTABLE)
      find_program(IRPC_SLICEC_EXECUTABLE irpc-slicec
        HINTS "${_IRPC_SLICE_CMAKE_DIR}/../../../bin")
    endif()
    if(NOT IRPC_SLICEC_EXECUTABLE)
      message(FATAL_ERROR "irpc_slice_generate: irpc-slicec not found; set "
        "IRPC_SLICEC_EXECUTABLE")
    endif()
    set(compiler "${IRPC_SLICEC_EXECUTABLE}")
    set(compiler_dep "${IRPC_SLICEC_EXECUTABLE}")
  endif()

  set(sources "")
  set(outputs "")
  set(generated_c "")
  foreach(src ${ARG_SOURCES})
    get_filename_component(abs "${src}" ABSOLUTE)
    get_filename_component(name "${src}" NAME)
    list(APPEND sources "${abs}")
    list(APPEND outputs "${out_dir}/${name}.h" "${out_dir}/${name}.c")
    list(APPEND generated_c "${out_dir}/${name}.c")
  endforeach()
  set(refs "")
  set(ref_args "")
  foreach(ref ${ARG_REFERENCES})
    get_filename_component(abs "${ref}" ABSOLUTE)
    list(APPEND refs "${abs}")
    list(APPEND ref_args -R "${abs}")
  endforeach()
  set(def_args "")
  foreach(def ${ARG_DEFINES})
    list(APPEND def_args -D "${def}")
  endforeach()

  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}"
    COMMAND ${compiler} --output-dir "${out_dir}" ${def_args} ${ref_args}
      ${sources}
    DEPENDS ${sources} ${refs} ${compiler_dep}
    COMMENT "Generating C from ${ARG_SOURCES}"
    VERBATIM)
  target_sources(${ARG_TARGET} PRIVATE ${outputs})
  target_include_directories(${ARG_TARGET} PUBLIC "${out_dir}")
endfunction()
