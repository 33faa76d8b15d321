// Compiled into every executable of a SHOP_SANITIZE build (see sanitize.cmake): the sanitizers' default
// options. The runtimes call these before main; ASAN_OPTIONS / UBSAN_OPTIONS / LSAN_OPTIONS override.
//
// A finding always ends the process with SIGABRT (abort_on_error), never with a plain exit code that a
// caller might take for the program's own, so a test harness that checks how a server ended sees it.
//   ASan: leak check at exit (LeakSanitizer), stack-use-after-return, init-order checks, and
//         strict_string_checks (a string function's argument must be NUL-terminated in full).
//   UBSan: in an ASan build UBSan reads its own flags, so abort_on_error is repeated here; with
//         -fno-sanitize-recover every finding is fatal; print_stacktrace shows where it came from.

extern "C" {

__attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return "detect_leaks=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1:"
         "detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:"
         "print_summary=1";
}

__attribute__((visibility("default"), used)) const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1:abort_on_error=1:report_error_type=1";
}

}  // extern "C"
