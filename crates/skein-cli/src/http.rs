//! The small HTTP client the commands use to talk to nodes' REST APIs.

use anyhow::Context;
use skein_node::api::StatusResponse;
use std::time::Duration;

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("a plain HTTP client builds")
}

pub async fn fetch_status(client: &reqwest::Client, api: &str) -> anyhow::Result<StatusResponse> {
    let url = format!("{api}/api/v1/status");
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let response = response
        .error_for_status()
        .with_context(|| format!("{url} refused"))?;
    response
        .json()
        .await
        .with_context(|| format!("{url} sent an unreadable status"))
}

/// A current-thread runtime for commands that make a few HTTP calls.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
        .block_on(future)
}
