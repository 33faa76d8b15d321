# SHOP_FUZZ=ON (tests/fuzz/run.sh): compiler and linker flags for the libFuzzer harnesses of tests/fuzz.
# Included from the top-level CMakeLists.txt before any target, so that every library a harness
# links is instrumented as well: coverage for libFuzzer (-fsanitize=fuzzer-no-link), AddressSanitizer
# and UndefinedBehaviorSanitizer (every finding fatal). The harnesses themselves add
# -fsanitize=fuzzer, which links libFuzzer's main (tests/fuzz/CMakeLists.txt).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "SHOP_FUZZ needs Clang (libFuzzer is part of Clang), but the C++ compiler is "
    "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}. Configure a separate build directory with "
    "-DCMAKE_CXX_COMPILER=clang++-16, or simply run tests/fuzz/run.sh.")
endif()
if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
  message(FATAL_ERROR "SHOP_FUZZ needs Clang 16 or newer (found ${CMAKE_CXX_COMPILER_VERSION}); on Debian 12: "
                      "apt-get install clang-16 libclang-rt-16-dev, then -DCMAKE_CXX_COMPILER=clang++-16")
endif()
if(SHOP_SANITIZE)
  message(FATAL_ERROR "SHOP_FUZZ brings its own sanitizers; leave SHOP_SANITIZE OFF in the fuzz build")
endif()

# libstdc++ 12 enables <expected> only for __cpp_concepts >= 202002L, which Clang 16 implements but
# announces as 201907L: announce it (Clang 17 does so itself).
if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 17)
  add_compile_options(-D__cpp_concepts=202002L -Wno-macro-redefined)
endif()

# Whatever the build type: -O1 (ASan's advice; OSS-Fuzz's choice), line tables for symbolised
# stacks, and assertions on (Beast's BOOST_ASSERTs, libstdc++'s bounds checks) instead of NDEBUG.
foreach(config DEBUG RELEASE RELWITHDEBINFO MINSIZEREL)
  set(CMAKE_CXX_FLAGS_${config} "")
endforeach()
add_compile_options(-O1 -gline-tables-only -fno-omit-frame-pointer -D_GLIBCXX_ASSERTIONS
                    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
add_link_options(-fsanitize=address,undefined)
# BOOST_ASSERT calls boost::assertion_failed (tests/fuzz/boost_assert.cpp, linked into every harness).
add_compile_definitions(BOOST_ENABLE_ASSERT_HANDLER)
