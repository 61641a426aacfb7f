//! Frames and datagram-link payloads from arbitrary bytes (skein-core envelope).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| skein_core::fuzzing::run_frames(data));
