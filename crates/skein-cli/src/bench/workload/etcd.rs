//! etcd v3 through its JSON gateway (`POST /v3/kv/put`, `/v3/kv/range`),
//! with the raft workload's keys and values, so `skein bench --target etcd`
//! measures the same requests against the system users would pick instead.
//!
//! Every client talks to the leader, found once before the run
//! (`/v3/maintenance/status`), as skein's raft clients converge on the
//! leader through redirects; etcd's range requests are linearizable by
//! default, like skein's ReadIndex reads.

use super::raft::key_name;
use super::{http_client, status_error, transport_error, KeyGen, Workload};
use crate::bench::args::Op;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;

pub struct EtcdWorkload {
    /// The leader's client URL.
    pub leader: String,
    pub op: Op,
    pub key_space: u64,
    /// The value, base64-encoded once.
    pub value: String,
    pub timeout: Duration,
    /// Write key `n % key_space` for request `n` (prefilling).
    pub sequential: bool,
}

pub struct EtcdClient {
    http: reqwest::Client,
    keys: KeyGen,
}

impl EtcdWorkload {
    pub fn new(leader: String, op: Op, key_space: u64, value: &str, timeout: Duration) -> Self {
        Self {
            leader,
            op,
            key_space,
            value: STANDARD.encode(value),
            timeout,
            sequential: false,
        }
    }
}

/// The client URL of the member that is leader, asking each member in turn.
pub async fn find_leader(apis: &[String], timeout: Duration) -> anyhow::Result<String> {
    let http = http_client(timeout);
    let mut seen = Vec::new();
    for api in apis {
        let answer = http
            .post(format!("{api}/v3/maintenance/status"))
            .json(&json!({}))
            .send()
            .await;
        let status: Value = match answer {
            Ok(response) if response.status().is_success() => {
                response.json().await.unwrap_or(Value::Null)
            }
            Ok(response) => {
                seen.push(format!("{api}: HTTP {}", response.status().as_u16()));
                continue;
            }
            Err(error) => {
                seen.push(format!("{api}: {error}"));
                continue;
            }
        };
        let member = &status["header"]["member_id"];
        if !member.is_null() && *member == status["leader"] {
            return Ok(api.clone());
        }
        seen.push(format!("{api}: a follower"));
    }
    anyhow::bail!(
        "no etcd member says it is the leader ({}); is the etcd cluster up?",
        seen.join("; ")
    )
}

impl Workload for EtcdWorkload {
    type Client = EtcdClient;

    fn client(&self, index: usize) -> EtcdClient {
        EtcdClient {
            http: http_client(self.timeout),
            keys: KeyGen::new(index as u64),
        }
    }

    async fn call(&self, client: &mut EtcdClient, n: u64) -> Result<(), String> {
        let k = if self.sequential {
            n % self.key_space
        } else {
            client.keys.next_below(self.key_space)
        };
        let key = STANDARD.encode(key_name(k));
        let (path, body) = match self.op {
            Op::Get => ("/v3/kv/range", json!({ "key": key })),
            _ => ("/v3/kv/put", json!({ "key": key, "value": self.value })),
        };
        let response = client
            .http
            .post(format!("{}{path}", self.leader))
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        if self.op == Op::Get {
            // A missing key answers 200 without `kvs`: count it as skein's 404.
            let found = serde_json::from_slice::<Value>(&bytes)
                .map(|v| v["kvs"].as_array().is_some_and(|kvs| !kvs.is_empty()))
                .unwrap_or(false);
            if !found {
                return Err("404".into());
            }
        }
        Ok(())
    }
}

impl EtcdWorkload {
    /// The same workload writing keys in order (to fill the key space before gets).
    pub fn prefill(&self) -> Self {
        Self {
            leader: self.leader.clone(),
            op: Op::Put,
            key_space: self.key_space,
            value: self.value.clone(),
            timeout: self.timeout,
            sequential: true,
        }
    }
}
