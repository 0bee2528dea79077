# ZeroC Ice 3.7, the real peer of the ice protocol's interop tests and of
# the side-by-side benchmark (Debian: zeroc-ice-compilers, libzeroc-ice-dev,
# python3-zeroc-ice, zeroc-icegrid). Nothing here is required: what is not
# found leaves out the tests and benchmarks that need it.
#
#   IRPC_ICE_PYTHON       a python3 that imports Ice and IceGrid
#   IRPC_ICEGRIDREGISTRY  icegridregistry
#   IRPC_ICE_SLICE2CPP    slice2cpp
#   IRPC_ICE_SLICE_DIR    ZeroC's own Slice definitions
#   IRPC_ICE_CXX_FOUND    a C++ compiler, and the C++11 mapping's headers
#                         (IRPC_ICE_INCLUDE_DIR) and library
#                         (IRPC_ICE_CXX11_LIBRARY)

# Debian's python3-zeroc-ice is for /usr/bin/python3 only: try it first.
if(NOT DEFINED IRPC_ICE_PYTHON)
  set(_irpc_py "")
  find_program(_irpc_py_path NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
  find_program(_irpc_py_any NAMES python3)
  foreach(py ${_irpc_py_path} ${_irpc_py_any})
    if(NOT _irpc_py)
      execute_process(COMMAND ${py} -c "import Ice, IceGrid"
        RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
      if(rc EQUAL 0)
        set(_irpc_py ${py})
      endif()
    endif()
  endforeach()
  set(IRPC_ICE_PYTHON "${_irpc_py}" CACHE FILEPATH
    "python3 with ZeroC Ice (empty: none)")
endif()

find_program(IRPC_ICEGRIDREGISTRY icegridregistry)
find_program(IRPC_ICE_SLICE2CPP slice2cpp)
find_path(IRPC_ICE_SLICE_DIR Ice/Identity.ice
  PATHS /usr/share/ice/slice /usr/share/slice)
find_path(IRPC_ICE_INCLUDE_DIR Ice/Ice.h)
find_library(IRPC_ICE_CXX11_LIBRARY NAMES Ice++11)

# The C++ peers: the caller enables CXX when IRPC_ICE_CXX_FOUND (a language
# is enabled in the directory that compiles it).
set(IRPC_ICE_CXX_FOUND OFF)
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER AND IRPC_ICE_INCLUDE_DIR AND IRPC_ICE_CXX11_LIBRARY)
  set(IRPC_ICE_CXX_FOUND ON)
endif()
