//! The command line's promises: bad input exits 2 naming the setting, and
//! every command explains itself in `--help`.

use std::process::{Command, Output};

const SKEIN: &str = env!("CARGO_BIN_EXE_skein");

fn skein(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(SKEIN);
    command.args(args);
    for name in ["SKEIN_ID", "SKEIN_PEERS", "SKEIN_SERVICE", "SKEIN_LOG"] {
        command.env_remove(name);
    }
    command
        .envs(env.iter().copied())
        .output()
        .expect("skein runs")
}

fn assert_usage_error(out: &Output, setting: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("`{setting}`")),
        "error does not name `{setting}`: {stderr}"
    );
    assert!(
        stderr.contains("expected"),
        "error does not say what is accepted: {stderr}"
    );
}

#[test]
fn bad_settings_exit_2_and_name_the_setting() {
    assert_usage_error(&skein(&["node"], &[]), "id");
    assert_usage_error(&skein(&["node", "--id", "0"], &[]), "id");
    assert_usage_error(
        &skein(&["node", "--id", "1", "--peers", "2@nowhere"], &[]),
        "peers",
    );
    assert_usage_error(
        &skein(&["node", "--id", "1", "--service", "nope"], &[]),
        "service",
    );
    assert_usage_error(&skein(&["node", "--id", "1", "--bind", "x"], &[]), "bind");
    assert_usage_error(&skein(&["node"], &[("SKEIN_ID", "5000")]), "id");
    assert_usage_error(
        &skein(&["node", "--id", "1", "--log-level", "loud!!"], &[]),
        "log-level",
    );
}

#[test]
fn a_bad_config_file_names_the_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, "id = 1\npeer_timeout = 5\n").unwrap();
    let out = skein(&["node", "--config", path.to_str().unwrap()], &[]);
    assert_usage_error(&out, "config");
    assert!(String::from_utf8_lossy(&out.stderr).contains("peer_timeout"));
}

#[test]
fn cluster_up_refuses_an_unknown_service_listing_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = skein(
        &[
            "cluster",
            "up",
            "--service",
            "nope",
            "--dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("heartbeat"));
}

#[test]
fn fault_commands_on_a_missing_cluster_say_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = skein(
        &[
            "cluster",
            "kill",
            "1",
            "--dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skein cluster up"));
}

#[test]
fn every_command_has_help() {
    let commands: [&[&str]; 12] = [
        &[],
        &["node"],
        &["cluster"],
        &["cluster", "up"],
        &["cluster", "down"],
        &["cluster", "kill"],
        &["cluster", "pause"],
        &["cluster", "resume"],
        &["cluster", "restart"],
        &["status"],
        &["request"],
        &["services"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = skein(&args, &[]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(
            help.contains("Usage:") && help.lines().count() > 3,
            "{args:?} help is thin:\n{help}"
        );
    }
    let top = String::from_utf8_lossy(&skein(&["--help"], &[]).stdout).to_string();
    for word in ["node", "cluster", "status", "request", "services"] {
        assert!(top.contains(word), "top-level help lacks {word}");
    }
}

#[test]
fn service_settings_from_env_and_set_are_checked_by_the_service() {
    let unknown = skein(&["node", "--id", "1", "--set", "nonsense=1"], &[]);
    assert_usage_error(&unknown, "heartbeat");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nonsense"));
    let mistyped = skein(
        &["node", "--id", "1"],
        &[("SKEIN_HEARTBEAT_TICK_INTERVAL_MS", "soon")],
    );
    assert_usage_error(&mistyped, "heartbeat");
    assert_usage_error(
        &skein(&["node", "--id", "1", "--set", "novalue"], &[]),
        "set",
    );
}

/// `SKEIN_RAFT_ELECTION_TIMEOUT_MIN_MS` / `_MAX_MS` and `--set` reach the
/// raft settings (the values show in the error), `--set` wins over the
/// environment, and a range the protocol cannot run with stops the node.
#[test]
fn raft_election_timeouts_come_from_env_and_flags_and_are_checked_at_start() {
    let raft = ["node", "--id", "1", "--service", "raft"];
    let inverted = skein(
        &raft,
        &[
            ("SKEIN_RAFT_ELECTION_TIMEOUT_MIN_MS", "400"),
            ("SKEIN_RAFT_ELECTION_TIMEOUT_MAX_MS", "300"),
        ],
    );
    assert_usage_error(&inverted, "raft");
    let stderr = String::from_utf8_lossy(&inverted.stderr);
    assert!(
        stderr.contains("election_timeout_min_ms (400) below election_timeout_max_ms (300)"),
        "{stderr}"
    );
    let mut flags = raft.to_vec();
    flags.extend(["--set", "election_timeout_min_ms=350"]);
    let overridden = skein(
        &flags,
        &[
            ("SKEIN_RAFT_ELECTION_TIMEOUT_MIN_MS", "100"),
            ("SKEIN_RAFT_ELECTION_TIMEOUT_MAX_MS", "300"),
        ],
    );
    assert_usage_error(&overridden, "raft");
    let stderr = String::from_utf8_lossy(&overridden.stderr);
    assert!(stderr.contains("election_timeout_min_ms (350)"), "{stderr}");
    let mut flags = raft.to_vec();
    flags.extend(["--set", "heartbeat_interval_ms=200"]);
    let slow_heartbeat = skein(&flags, &[]);
    assert_usage_error(&slow_heartbeat, "raft");
    assert!(String::from_utf8_lossy(&slow_heartbeat.stderr).contains("heartbeat_interval_ms (200)"));
}
