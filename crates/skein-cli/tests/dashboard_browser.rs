//! End to end in headless Chromium: a 4-node raft cluster, the dashboard
//! `cluster up` prints, the table showing 4 nodes up, a click on the
//! leader's kill button, the table showing it down and then another node
//! as leader — and a screenshot in `$CARGO_TARGET_TMPDIR/dashboard-e2e.png`.
//!
//! The browser is driven over the DevTools protocol on a pipe by
//! `support/dashboard_e2e.js` (Node 18+, no npm packages). Skipped, with
//! the reason printed, without `chromium` or `node` (`.ci/run` installs
//! Debian's chromium when it can). Port offset 17100 (dashboard on 25100).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Cluster;

/// The script bounds each wait itself; this only stops a hung browser.
const SCRIPT_WITHIN: Duration = Duration::from_secs(120);

fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn kill_the_leader_from_the_page_and_see_a_new_one() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|p| found(p))
    else {
        println!("skipped: no chromium on PATH (`.ci/run` installs Debian's `chromium`)");
        return;
    };
    if !found("node") {
        println!("skipped: no `node` on PATH to drive chromium");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(
        dir.path(),
        "raft",
        4,
        17100,
        &["--allow-fault-injection"],
        &[],
    );
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-e2e.png");
    let _ = std::fs::remove_file(&screenshot);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dashboard_e2e.js");
    let profile = dir.path().join("chromium-profile");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(chromium)
        .arg("http://127.0.0.1:25100/?interval=500")
        .arg("4")
        .arg("leader")
        .arg(&screenshot)
        .arg(&profile)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > SCRIPT_WITHIN {
            let _ = child.kill();
            panic!("the browser check hung for {SCRIPT_WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "the browser check failed:\n{report}");
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 1000),
        "no screenshot at {}",
        screenshot.display()
    );
    drop(cluster);
}
