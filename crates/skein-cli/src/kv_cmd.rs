//! `skein kv`: read and write the `raft` service's key-value store.
//!
//! Every command goes to the leader: a follower's redirect is followed, and
//! with several `--api` URLs an unreachable node is skipped.

use crate::cli::UsageError;
use crate::http::block_on;
use crate::leader_http::{encode_key, Answer, LeaderClient};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Pages `kv list --all` fetches at most (1000 keys each).
pub const LIST_PAGES_MAX: usize = 1000;

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// A node's REST API, or several separated by commas (tried in turn if one is down).
    #[arg(long, default_value = "http://127.0.0.1:4001", env = "SKEIN_API")]
    pub api: String,
    /// Give up after this many milliseconds (elections and redirects included).
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Print the node's JSON answer instead of a short line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum KvCommand {
    /// Print a key's value (a linearizable read).
    Get {
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Set a key's value (key ≤ 4 KiB, value ≤ 64 KiB).
    Put {
        key: String,
        value: String,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a key.
    Delete {
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Set a key only if its revision is --expect (0: only if the key is absent).
    Cas {
        key: String,
        value: String,
        /// The revision the key must have (see `kv get --json`).
        #[arg(long)]
        expect: u64,
        #[command(flatten)]
        target: Target,
    },
    /// List keys in order, as `KEY<TAB>REVISION<TAB>VALUE` lines.
    List {
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Only keys after this one.
        #[arg(long)]
        start_after: Option<String>,
        /// Keys per page, 1 to 1000.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Fetch every page, not just the first.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        target: Target,
    },
}

pub fn run(command: KvCommand) -> anyhow::Result<()> {
    block_on(run_async(command))
}

async fn run_async(command: KvCommand) -> anyhow::Result<()> {
    match command {
        KvCommand::Get { key, target } => {
            let answer = call(&target, Method::GET, &kv_path(&key)?, None, None).await?;
            if answer.status == StatusCode::NOT_FOUND && !target.json {
                anyhow::bail!("no key {key:?}");
            }
            let answer = success(answer)?;
            print(&target, &answer, || {
                answer.body["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        }
        KvCommand::Put { key, value, target } => {
            let body = json!({ "value": value });
            let answer = call(&target, Method::PUT, &kv_path(&key)?, Some(&body), None).await?;
            let answer = success(answer)?;
            print(&target, &answer, || {
                format!("OK revision {}", answer.body["revision"])
            })
        }
        KvCommand::Delete { key, target } => {
            let answer = call(&target, Method::DELETE, &kv_path(&key)?, None, None).await?;
            let answer = success(answer)?;
            print(&target, &answer, || {
                match answer.body["existed"].as_bool() {
                    Some(true) => {
                        format!("deleted {key:?} at revision {}", answer.body["revision"])
                    }
                    _ => format!("no key {key:?} (nothing to delete)"),
                }
            })
        }
        KvCommand::Cas {
            key,
            value,
            expect,
            target,
        } => {
            let body = json!({ "value": value });
            let path = kv_path(&key)?;
            let answer = call(&target, Method::PUT, &path, Some(&body), Some(expect)).await?;
            if answer.status == StatusCode::PRECONDITION_FAILED && !target.json {
                anyhow::bail!(
                    "key {key:?} is at revision {}, not {expect}; nothing was written",
                    answer.body["revision"]
                );
            }
            let answer = success(answer)?;
            print(&target, &answer, || {
                format!("OK revision {}", answer.body["revision"])
            })
        }
        KvCommand::List {
            prefix,
            start_after,
            limit,
            all,
            target,
        } => list(&target, &prefix, start_after, limit, all).await,
    }
}

async fn list(
    target: &Target,
    prefix: &str,
    mut start_after: Option<String>,
    limit: u32,
    all: bool,
) -> anyhow::Result<()> {
    if !(1..=1000).contains(&limit) {
        return Err(UsageError(format!("--limit {limit}: expected 1 to 1000")).into());
    }
    for _ in 0..LIST_PAGES_MAX {
        let mut path = format!(
            "/api/v1/kv?limit={limit}&prefix={}",
            encode_key(prefix).replace('/', "%2F")
        );
        if let Some(after) = &start_after {
            path.push_str(&format!(
                "&start_after={}",
                encode_key(after).replace('/', "%2F")
            ));
        }
        let answer = success(call(target, Method::GET, &path, None, None).await?)?;
        if target.json {
            println!("{}", serde_json::to_string_pretty(&answer.body)?);
        } else {
            for item in answer.body["items"].as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}",
                    item["key"].as_str().unwrap_or_default(),
                    item["revision"],
                    item["value"].as_str().unwrap_or_default()
                );
            }
        }
        start_after = answer.body["next_start_after"].as_str().map(String::from);
        match (&start_after, all) {
            (None, _) => return Ok(()),
            (Some(next), false) => {
                eprintln!("more keys follow: add --start-after {next:?} (or --all)");
                return Ok(());
            }
            (Some(_), true) => {}
        }
    }
    anyhow::bail!("stopped after {LIST_PAGES_MAX} pages; narrow --prefix")
}

fn kv_path(key: &str) -> anyhow::Result<String> {
    if key.is_empty() {
        return Err(UsageError("the key must not be empty".into()).into());
    }
    Ok(format!("/api/v1/kv/{}", encode_key(key)))
}

async fn call(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<&Value>,
    if_match: Option<u64>,
) -> anyhow::Result<Answer> {
    let client = LeaderClient::new(&target.api, Duration::from_millis(target.timeout_ms))
        .map_err(|e| UsageError(e.to_string()))?;
    client.call(method, path, body, if_match).await
}

/// The answer if it is a success, else an error naming the node and its reason.
pub fn success(answer: Answer) -> anyhow::Result<Answer> {
    if answer.status.is_success() {
        return Ok(answer);
    }
    anyhow::bail!(
        "{} answered {}: {}",
        answer.url,
        answer.status,
        answer.error_text()
    )
}

fn print(target: &Target, answer: &Answer, line: impl FnOnce() -> String) -> anyhow::Result<()> {
    if target.json {
        println!("{}", serde_json::to_string_pretty(&answer.body)?);
    } else {
        println!("{}", line());
    }
    Ok(())
}
