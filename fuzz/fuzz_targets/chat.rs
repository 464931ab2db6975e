#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rewind::fuzzing::chat(data));
