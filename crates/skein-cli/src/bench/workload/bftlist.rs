//! bftlist: `POST /api/v1/list/requests` to **every** replica; a request is
//! done once f+1 replicas answer the same sequence number and result
//! (BFTLIST.md §3, as `skein list` does). Each bench client is one bftlist
//! client id with one request outstanding and growing timestamps (§3), so
//! concurrent clients get distinct ids `0..clients` (the cluster accepts
//! `0..clients_max`, 64 by default).
//!
//! Replies still outstanding once f+1 agree are dropped (their requests are
//! aborted), as `skein list` does.

use super::{http_client, status_error, transport_error, Workload};
use crate::bench::args::Op;
use crate::client_auth::Signer;
use serde_json::Value;
use skein_bft::Op as BftOp;
use skein_node::services::bft_http::{ExecutedBody, SubmitBody, CLIENT_KEY_SERVICE};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct BftListWorkload {
    pub apis: Vec<String>,
    pub op: Op,
    /// Byzantine replicas tolerated: the largest f with n ≥ 5f+1 (BFTLIST.md §1).
    pub f: usize,
    pub timeout: Duration,
    /// Signs each client's requests with its own key.
    pub signer: Signer,
}

pub struct BftClient {
    http: reqwest::Client,
    id: u32,
    /// The last timestamp sent: the next one must be larger.
    ts: u64,
}

impl BftListWorkload {
    pub fn new(apis: Vec<String>, op: Op, timeout: Duration, signer: Signer) -> Self {
        let f = apis.len().saturating_sub(1) / 5;
        Self {
            apis,
            op,
            f,
            timeout,
            signer,
        }
    }
}

/// One replica's answer: executed `(seq, result)`, or the error kind.
type ReplicaAnswer = Result<(i64, Option<Value>), String>;

impl Workload for BftListWorkload {
    type Client = BftClient;

    fn client(&self, index: usize) -> BftClient {
        BftClient {
            http: http_client(self.timeout),
            id: u32::try_from(index).expect("clients are capped far below u32::MAX"),
            ts: 0,
        }
    }

    async fn call(&self, client: &mut BftClient, n: u64) -> Result<(), String> {
        client.ts = now_micros().max(client.ts + 1);
        let op = match self.op {
            Op::Read => BftOp::Read,
            _ => BftOp::Append(n as i64),
        };
        let mut tasks = tokio::task::JoinSet::new();
        // Replica i+1 at the i-th API; each body carries the tag for its replica.
        for (i, api) in self.apis.iter().enumerate() {
            let replica = skein_core::NodeId(i as u16 + 1);
            let key = self
                .signer
                .key(CLIENT_KEY_SERVICE, client.id, replica)
                .map_err(|e| e.to_string())?;
            let body = Arc::new(SubmitBody::new(client.id, client.ts, &op, key.as_ref()));
            let http = client.http.clone();
            let url = format!("{api}/api/v1/list/requests");
            tasks.spawn(async move { ask(&http, &url, &body).await });
        }
        let read = self.op == Op::Read;
        let mut executed: Vec<(i64, Option<Value>)> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        while let Some(answer) = tasks.join_next().await {
            match answer.unwrap_or_else(|_| Err("task".into())) {
                Ok(reply) => executed.push(reply),
                Err(kind) => failures.push(kind),
            }
            if agreed(&executed, self.f, read) {
                return Ok(());
            }
            if failures.len() > self.apis.len() - (self.f + 1) {
                // f+1 matching replies can no longer come: report the most common failure.
                return Err(most_common(&failures));
            }
        }
        Err("no f+1 agreement".into())
    }
}

async fn ask(http: &reqwest::Client, url: &str, body: &SubmitBody) -> ReplicaAnswer {
    let response = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
    if !status.is_success() {
        return Err(status_error(status, &bytes));
    }
    let reply: ExecutedBody = serde_json::from_slice(&bytes).map_err(|_| "bad reply")?;
    Ok((reply.seq, reply.result))
}

/// Whether f+1 replies agree: same seq and same result. A reply without a
/// result (executed before this call) supports any result at its seq,
/// except for reads, whose result is the point (as in `skein list`).
fn agreed(replies: &[(i64, Option<Value>)], f: usize, read: bool) -> bool {
    replies.iter().any(|(seq, result)| {
        let support = replies
            .iter()
            .filter(|(s, r)| s == seq && (r == result || (!read && r.is_none())))
            .count();
        support > f
    })
}

fn most_common(kinds: &[String]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for kind in kinds {
        *counts.entry(kind.as_str()).or_insert(0) += 1;
    }
    let best = counts.iter().max_by_key(|(_, c)| **c).map(|(k, _)| *k);
    best.unwrap_or("no f+1 agreement").to_string()
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn f_plus_one_matching_replies_complete_a_request() {
        let appended = Some(json!("Appended"));
        let r = |seq, result: &Option<Value>| (seq, result.clone());
        assert!(!agreed(&[r(3, &appended)], 1, false));
        assert!(agreed(&[r(3, &appended), r(3, &appended)], 1, false));
        assert!(!agreed(&[r(3, &appended), r(4, &appended)], 1, false));
        assert!(agreed(&[r(3, &appended), r(3, &None)], 1, false));
        assert!(!agreed(&[r(3, &appended), r(3, &None)], 1, true));
        assert_eq!(
            most_common(&["a".into(), "b".into(), "b".into()]),
            "b".to_string()
        );
        let w = BftListWorkload::new(
            vec!["x".into(); 6],
            Op::Append,
            Duration::from_secs(1),
            Signer::Unsigned,
        );
        assert_eq!(w.f, 1);
        let mut c = w.client(3);
        assert_eq!(c.id, 3);
        c.ts = u64::MAX - 1;
        assert!(now_micros().max(c.ts + 1) > c.ts);
    }
}
