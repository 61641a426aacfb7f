//! Ground rule 1: protocol cores do no I/O. This test fails if a core crate
//! gains a runtime dependency that does I/O, or its source names a socket,
//! file, wall clock, thread or global random generator.
//!
//! It reads the core crates' manifests and sources as text, so it covers
//! every core crate in the workspace, including ones added later.

use std::path::{Path, PathBuf};

const CORE_CRATES: [&str; 5] = [
    "skein-core",
    "skein-bft",
    "skein-raft",
    "skein-dht",
    "skein-gossip",
];

/// Runtime dependencies a core must never have.
const FORBIDDEN_DEPENDENCIES: [&str; 12] = [
    "tokio",
    "async-std",
    "smol",
    "mio",
    "socket2",
    "reqwest",
    "hyper",
    "axum",
    "getrandom",
    "redb",
    "tempfile",
    "libc",
];

/// Source text a core must never contain (outside `#[cfg(test)]` files is not
/// distinguished: tests in cores must obey the rule too).
const FORBIDDEN_SOURCE: [&str; 13] = [
    "std::net",
    "std::fs",
    "std::thread",
    "std::process",
    "std::env",
    "SystemTime",
    "Instant::now",
    "thread_rng",
    "rand::rng()",
    "OsRng",
    "from_os_rng",
    "from_entropy",
    "tokio",
];

fn workspace_crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `[dependencies]` section's crate names (dev-dependencies may do I/O).
fn runtime_dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                names.push(name.trim().trim_end_matches(".workspace").to_string());
            }
        }
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_crates_do_no_io() {
    let crates = workspace_crates();
    let mut checked = 0;
    let mut violations = Vec::new();
    for name in CORE_CRATES {
        let dir = crates.join(name);
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        checked += 1;
        for dep in runtime_dependencies(&manifest) {
            if FORBIDDEN_DEPENDENCIES.contains(&dep.as_str()) {
                violations.push(format!("{name} depends on {dep}"));
            }
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line_no, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for word in FORBIDDEN_SOURCE {
                    if code.contains(word) {
                        violations.push(format!("{}:{}: uses {word}", file.display(), line_no + 1));
                    }
                }
            }
        }
    }
    assert!(
        checked >= 1,
        "found no core crate under {}",
        crates.display()
    );
    assert!(
        violations.is_empty(),
        "protocol cores must do no I/O (ground rule 1):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_guard_catches_what_it_should() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\ntokio.workspace = true\nserde = \"1\"\n[dev-dependencies]\ntempfile = \"3\"\n";
    assert_eq!(runtime_dependencies(manifest), vec!["tokio", "serde"]);
}
