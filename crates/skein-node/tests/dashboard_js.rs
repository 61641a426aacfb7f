//! Runs the dashboard's JavaScript unit tests (`assets/logic.test.js`) with
//! `node --test`, against the very files the binary embeds. Skipped, with
//! the reason printed, where no `node` (v18 or later) is installed.

use skein_node::dashboard::{LOGIC_JS, LOGIC_TEST_JS};
use std::process::Command;

#[test]
fn dashboard_logic_passes_its_javascript_tests() {
    let version = match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => {
            println!("skipped: no `node` on PATH to run the dashboard's JavaScript tests");
            return;
        }
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 18 {
        println!("skipped: node {version} has no `node --test` (needs 18 or later)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("logic.js"), LOGIC_JS).unwrap();
    std::fs::write(dir.path().join("logic.test.js"), LOGIC_TEST_JS).unwrap();
    let out = Command::new("node")
        .arg("--test")
        .arg("logic.test.js")
        .current_dir(dir.path())
        .output()
        .expect("run node --test");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node --test failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("# fail 0"), "{report}");
    println!(
        "node {version}: {}",
        report
            .lines()
            .filter(|l| l.starts_with("# pass"))
            .collect::<String>()
    );
}
