# SHOP_SANITIZE=ON (the `debug` preset, and the sanitizer stage of tests/run.sh): every target is
# compiled and linked with AddressSanitizer (+ LeakSanitizer) and UndefinedBehaviorSanitizer.
#   -fno-sanitize-recover=all  any finding ends the process (UBSan would otherwise print and go on);
#   _GLIBCXX_ASSERTIONS        bounds checks in libstdc++ (vector/string/span operator[], front, back...).
# No -O: the preset builds Debug (-O0 -g). -O1 runs the tests faster, but they take seconds either way
# while the sanitized build compiles 2.4x slower at -O1 (measured: the Beast TU 96 s of CPU vs 39 s).
# Every executable also gets sanitizer_options.cpp: its runtime options are compiled in, so the binary
# behaves the same however it is started (CTest, the e2e harness, by hand); ASAN_OPTIONS /
# UBSAN_OPTIONS in the environment still override them.
add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
                    -D_GLIBCXX_ASSERTIONS)
add_link_options(-fsanitize=address,undefined)

add_library(shop_sanitizer_options INTERFACE)
target_sources(shop_sanitizer_options INTERFACE
  "$<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:${CMAKE_CURRENT_LIST_DIR}/sanitizer_options.cpp>")
link_libraries(shop_sanitizer_options)  # every target defined after this include
