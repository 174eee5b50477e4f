# Compiler settings shared by every Firehose target.
add_library(firehose_options INTERFACE)
target_compile_options(firehose_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wimplicit-fallthrough
  $<$<BOOL:${FIREHOSE_WERROR}>:-Werror>)
target_compile_definitions(firehose_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
target_include_directories(firehose_options INTERFACE ${PROJECT_SOURCE_DIR}/src)
if(FIREHOSE_SANITIZE)
  # float-cast-overflow is not in GCC's "undefined" group: a double outside an integer's range
  # cast to it (nlohmann's get<std::int64_t>() on a number beyond 64 bits did that) would pass.
  target_compile_options(firehose_options INTERFACE
    -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined,float-cast-overflow)
  target_link_options(firehose_options INTERFACE -fsanitize=address,undefined,float-cast-overflow)
endif()
if(FIREHOSE_FUZZ)
  # Coverage instrumentation in every library, so that a libFuzzer target (tests/fuzz) explores
  # the code it calls, not only its own file.
  target_compile_options(firehose_options INTERFACE -fsanitize=fuzzer-no-link)
  target_link_options(firehose_options INTERFACE -fsanitize=fuzzer-no-link)
endif()

# firehose_module(NAME SOURCES... DEPS ...) declares a stage library.
function(firehose_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC firehose_options ${ARG_DEPS})
endfunction()

# firehose_test(NAME SOURCES... DEPS ... LABEL tier) declares a GoogleTest program; each test
# case becomes a CTest test labelled with its tier:
#   unit         fast, in-process; also run under ASan/UBSan
#   integration  real processes and servers on loopback; also run under ASan/UBSan
#   slow         long scenarios, crash loops, browsers; release build only
function(firehose_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT;LABEL" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE firehose_options ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name}
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
