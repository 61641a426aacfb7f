//! Heartbeat messages decoded from arbitrary bytes and fed to the core.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skein_core::fuzzing::run_heartbeat(data);
});
