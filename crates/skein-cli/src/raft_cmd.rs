//! `skein raft`: a node's Raft status, membership changes and leadership transfer.

use crate::http::{block_on, client};
use crate::kv_cmd::{success, Target};
use crate::leader_http::LeaderClient;
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum RaftCommand {
    /// One node's role, term, leader, indexes, membership and followers.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Add a node: a learner, promoted once caught up. A node the members do
    /// not know yet needs --address; start it with `--set join_existing=true`,
    /// the cluster secret and --peers naming the current members.
    Add {
        id: u16,
        /// Where members reach it: ID@HOST:STREAM_PORT:DATAGRAM_PORT, ID@HOST or HOST
        /// (default ports). Optional for a node in the members' --peers.
        #[arg(long)]
        address: Option<String>,
        /// Keep it a non-voting learner.
        #[arg(long)]
        learner: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Remove a voter or learner (the leader too: it steps down).
    Remove {
        id: u16,
        #[command(flatten)]
        target: Target,
    },
    /// Hand leadership to another voter (default: the most caught-up one).
    Transfer {
        #[arg(long)]
        to: Option<u16>,
        #[command(flatten)]
        target: Target,
    },
}

pub fn run(command: RaftCommand) -> anyhow::Result<()> {
    block_on(run_async(command))
}

async fn run_async(command: RaftCommand) -> anyhow::Result<()> {
    let (target, method, path, body) = match command {
        RaftCommand::Status { target } => return status(&target).await,
        RaftCommand::Add {
            id,
            address,
            learner,
            target,
        } => (
            target,
            Method::POST,
            "/api/v1/raft/members".to_string(),
            Some(json!({"id": id, "learner": learner, "address": address})),
        ),
        RaftCommand::Remove { id, target } => (
            target,
            Method::DELETE,
            format!("/api/v1/raft/members/{id}"),
            None,
        ),
        RaftCommand::Transfer { to, target } => (
            target,
            Method::POST,
            "/api/v1/raft/transfer-leader".to_string(),
            Some(json!({ "to": to })),
        ),
    };
    let leader = LeaderClient::new(&target.api, Duration::from_millis(target.timeout_ms))
        .map_err(|e| crate::cli::UsageError(e.to_string()))?;
    let answer = success(leader.call(method, &path, body.as_ref(), None).await?)?;
    if target.json {
        println!("{}", serde_json::to_string_pretty(&answer.body)?);
    } else if let Some(to) = answer.body["to"].as_u64() {
        println!(
            "leadership transfer to node {to} started; `skein raft status` shows when it completes"
        );
    } else {
        println!(
            "membership committed at index {}: voters {}, learners {}",
            answer.body["index"], answer.body["voters"], answer.body["learners"]
        );
    }
    Ok(())
}

/// Status is per node: asked of the given node itself, never redirected.
async fn status(target: &Target) -> anyhow::Result<()> {
    let api = target.api.split(',').next().unwrap_or_default().trim();
    let url = format!("{}/api/v1/raft/status", api.trim_end_matches('/'));
    let http = client(Duration::from_millis(target.timeout_ms));
    let response = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let ok = response.status().is_success();
    let status: Value = response
        .json()
        .await
        .with_context(|| format!("{url} sent no JSON"))?;
    anyhow::ensure!(
        ok,
        "{url} refused: {status} (is it running the raft service?)"
    );
    if target.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    print!("{}", summary(&status));
    Ok(())
}

fn summary(s: &Value) -> String {
    let mut out = format!(
        "node {} · {} · term {} · leader {}{}\n",
        s["id"],
        s["role"].as_str().unwrap_or("?"),
        s["term"],
        s["leader"],
        s["leader_api"]
            .as_str()
            .map_or(String::new(), |api| format!(" ({api})"))
    );
    out += &format!(
        "commit {} · applied {} · durable {} · last {} · snapshot {} · keys {}\n",
        s["commit_index"],
        s["applied_index"],
        s["durable_index"],
        s["last_log_index"],
        s["snapshot_index"],
        s["keys"]
    );
    out += &format!(
        "voters {} · learners {}\n",
        s["membership"]["voters"], s["membership"]["learners"]
    );
    for f in s["followers"].as_array().into_iter().flatten() {
        out += &format!(
            "  follower {}: match {} · next {} · {} · {} in flight\n",
            f["id"],
            f["match_index"],
            f["next_index"],
            f["state"]
                .as_str()
                .map_or(f["state"].to_string(), String::from),
            f["inflight"]
        );
    }
    out
}
