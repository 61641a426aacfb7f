//! `skein request`: one client request to a node, for humans and scripts.

use crate::cli::UsageError;
use crate::http::{block_on, client};
use anyhow::Context;
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct RequestArgs {
    /// The request as JSON, e.g. '{"Echo":{"text":"hi"}}' for the heartbeat service.
    pub body: String,
    /// The node's REST API.
    #[arg(long, default_value = "http://127.0.0.1:4001", env = "SKEIN_API")]
    pub api: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

pub fn run(args: RequestArgs) -> anyhow::Result<()> {
    let body: serde_json::Value = serde_json::from_str(&args.body).map_err(|e| {
        UsageError(format!(
            "the request must be JSON ({e}), e.g. '{{\"Echo\":{{\"text\":\"hi\"}}}}'"
        ))
    })?;
    let url = format!("{}/api/v1/request", args.api.trim_end_matches('/'));
    let (status, text) = block_on(async {
        let response = client(Duration::from_millis(args.timeout_ms))
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("no answer from {url}"))?;
        let status = response.status();
        anyhow::Ok((status, response.text().await?))
    })?;
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or(text.clone()))
        .unwrap_or(text);
    if status.is_success() {
        println!("{pretty}");
        Ok(())
    } else {
        anyhow::bail!("{url} answered {status}: {pretty}")
    }
}
