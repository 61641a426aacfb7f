//! Arbitrary text as a node's config file and --set values.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| skein_node::fuzzing::run_config(data));
