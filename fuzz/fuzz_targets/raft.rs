//! raft messages decoded from arbitrary bytes and fed to the core, with its invariants checked.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    skein_raft::fuzzing::run_script(data);
});
