#![no_main]
// The body is criu_notify_fuzz::messages (src/lib.rs), shared with the
// fuzz_regressions test.
libfuzzer_sys::fuzz_target!(|data: &[u8]| criu_notify_fuzz::messages(data));
