//! What every process test needs: run `skein` with a clean environment,
//! and a local cluster that is torn down even when an assertion fails.
//!
//! Each test file is its own crate and uses a different part of this module.
#![allow(dead_code)]

pub mod raft;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SKEIN: &str = env!("CARGO_BIN_EXE_skein");

/// Runs `skein` without any `SKEIN_*` variable of the caller's environment,
/// so a developer's shell settings cannot change what a test sees.
pub fn skein(args: &[&str]) -> Output {
    let mut command = Command::new(SKEIN);
    command.args(args);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SKEIN_")) {
        command.env_remove(name);
    }
    command.output().expect("skein runs")
}

/// Everything a command printed, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A cluster started with `skein cluster up --detach`; stopped on drop.
pub struct Cluster {
    pub dir: PathBuf,
    pub api_base: u16,
    pub nodes: u16,
    /// What `cluster up` printed (the URL table).
    pub up_output: String,
}

impl Cluster {
    /// `skein cluster up --service SERVICE --nodes N`, with `extra` launcher
    /// flags and `node_flags` passed to every node after `--`.
    pub fn start(
        dir: &Path,
        service: &str,
        nodes: u16,
        port_offset: u16,
        extra: &[&str],
        node_flags: &[&str],
    ) -> Cluster {
        let (nodes_text, offset_text) = (nodes.to_string(), port_offset.to_string());
        let mut args = vec![
            "cluster",
            "up",
            "--detach",
            "--fresh",
            "--service",
            service,
            "--nodes",
            &nodes_text,
        ];
        args.extend([
            "--dir",
            dir.to_str().expect("a UTF-8 temp dir"),
            "--port-offset",
            &offset_text,
        ]);
        args.extend(extra);
        args.push("--");
        args.extend(node_flags);
        let out = skein(&args);
        let cluster = Cluster {
            dir: dir.to_path_buf(),
            api_base: 4000 + port_offset,
            nodes,
            up_output: String::from_utf8_lossy(&out.stdout).into_owned(),
        };
        assert!(out.status.success(), "cluster up failed: {}", text(&out));
        cluster
    }

    pub fn api(&self, id: u16) -> String {
        format!("http://127.0.0.1:{}", self.api_base + id)
    }

    pub fn dir_arg(&self) -> &str {
        self.dir.to_str().expect("a UTF-8 temp dir")
    }

    pub fn try_act(&self, verb: &str, node: u16) -> Output {
        skein(&["cluster", verb, &node.to_string(), "--dir", self.dir_arg()])
    }

    /// `skein cluster VERB NODE`, which must succeed.
    pub fn act(&self, verb: &str, node: u16) {
        let out = self.try_act(verb, node);
        assert!(
            out.status.success(),
            "cluster {verb} {node}: {}",
            text(&out)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A paused node handles SIGTERM only once resumed; resume first so `down` is quick.
        for id in 1..=self.nodes {
            self.try_act("resume", id);
        }
        skein(&["cluster", "down", "--dir", self.dir_arg()]);
    }
}
