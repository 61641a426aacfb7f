//! Arbitrary bytes as WAL segment files, opened by the node's record log.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // tmpfs when there is one: fsync costs nothing there, so more runs per second.
    let base = std::path::Path::new("/dev/shm");
    let dir = if base.is_dir() {
        tempfile::tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    skein_node::fuzzing::run_wal(dir.path(), data);
});
