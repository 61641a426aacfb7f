//! `skein gossip`: broadcast through a node, list its peers, read a
//! beacon's coverage trace, or make a node leave the overlay.

use crate::http::{block_on, client};
use crate::kv_cmd::Target;
use anyhow::{bail, Context};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum GossipCommand {
    /// Broadcast a text to every live node (delivered once to each).
    Broadcast {
        payload: String,
        #[command(flatten)]
        target: Target,
    },
    /// The members a node knows: state (alive/suspect/dead/left), incarnation, last heard.
    Peers {
        #[command(flatten)]
        target: Target,
    },
    /// On a beacon node: how many nodes delivered MSG_ID and when (coverage over time).
    Trace {
        msg_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Make a node leave the overlay gracefully (every live member is told).
    Leave {
        #[command(flatten)]
        target: Target,
    },
}

pub fn run(command: GossipCommand) -> anyhow::Result<()> {
    block_on(run_async(command))
}

async fn run_async(command: GossipCommand) -> anyhow::Result<()> {
    match command {
        GossipCommand::Broadcast { payload, target } => {
            let body = json!({ "payload": payload });
            let answer = call(
                &target,
                Method::POST,
                "/api/v1/gossip/broadcast",
                Some(&body),
            )
            .await?;
            print(&target, &answer, || {
                format!("broadcast {}", answer["id"].as_str().unwrap_or("?"))
            })
        }
        GossipCommand::Peers { target } => {
            let answer = call(&target, Method::GET, "/api/v1/gossip/peers", None).await?;
            print(&target, &answer, || peers_table(&answer))
        }
        GossipCommand::Trace { msg_id, target } => {
            let path = format!("/api/v1/gossip/trace/{msg_id}");
            let answer = call(&target, Method::GET, &path, None).await?;
            print(&target, &answer, || trace_table(&answer))
        }
        GossipCommand::Leave { target } => {
            let answer = call(&target, Method::POST, "/api/v1/gossip/leave", None).await?;
            print(&target, &answer, || {
                format!("left; told {} live members", answer["told"])
            })
        }
    }
}

fn print(target: &Target, answer: &Value, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if target.json {
        println!("{}", serde_json::to_string_pretty(answer)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

/// One call to the first reachable node of `--api`; a 4xx/5xx reply becomes its JSON error.
async fn call(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let http = client(Duration::from_millis(target.timeout_ms));
    let mut last_error = None;
    for api in target
        .api
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let mut request = http.request(method.clone(), format!("{api}{path}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let value: Value = response
                    .json()
                    .await
                    .with_context(|| format!("{api}{path}: not JSON"))?;
                if !status.is_success() {
                    bail!(
                        "{api}{path}: {status}: {}",
                        value["error"].as_str().unwrap_or("error")
                    );
                }
                return Ok(value);
            }
            Err(error) => last_error = Some(anyhow::anyhow!("{api}: {error}")),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no --api given")))
}

fn peers_table(answer: &Value) -> String {
    let mut lines = vec![format!(
        "{:>5}  {:<16}  {:<7}  {:>11}  {:>12}  address",
        "id", "key", "state", "incarnation", "heard ms ago"
    )];
    for p in answer["peers"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:>5}  {:<16}  {:<7}  {:>11}  {:>12}  {}{}",
            p["id"].as_u64().unwrap_or(0),
            p["key_id"].as_str().unwrap_or(""),
            p["state"].as_str().unwrap_or(""),
            p["incarnation"].as_u64().unwrap_or(0),
            p["last_heard_ms_ago"].as_u64().unwrap_or(0),
            p["address"].as_str().unwrap_or(""),
            if p["beacon"] == true {
                "  (beacon)"
            } else {
                ""
            }
        ));
    }
    lines.join("\n")
}

/// Coverage over time: nodes reached by each report's time.
fn trace_table(answer: &Value) -> String {
    let mut lines = vec![format!(
        "message {}: delivered by {} nodes",
        answer["id"].as_str().unwrap_or("?"),
        answer["nodes"]
    )];
    lines.push(format!(
        "{:>8}  {:>5}  {:>4}  {:>8}",
        "ms", "node", "hops", "coverage"
    ));
    for (k, row) in answer["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        lines.push(format!(
            "{:>8}  {:>5}  {:>4}  {:>8}",
            row[1],
            row[0],
            row[2],
            k + 1
        ));
    }
    lines.join("\n")
}
