//! etcd (v3.4+) through its JSON gateway, for side-by-side runs with the
//! raft service (`skein bench --target etcd --api http://127.0.0.1:2379,…`):
//! put = `POST /v3/kv/put`, get = `POST /v3/kv/range` (linearizable, etcd's
//! default), cas = `POST /v3/kv/txn` comparing the key's `mod_revision`.
//! Keys and values are the raft workload's (`bench/NNNNNNNN`, the same
//! value), base64-encoded as the gateway wants.
//!
//! Any member serves any request (followers forward to the leader inside
//! etcd), so each client stays on `apis[index % n]`. Outcomes are reported
//! with the raft workload's labels, so the reports compare: a get of an
//! absent key is `404`, a failed compare-and-swap `412 revision_mismatch`.

use super::raft::key_name;
use super::{http_client, status_error, transport_error, KeyGen, Workload};
use crate::bench::args::Op;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;

pub struct EtcdWorkload {
    pub apis: Vec<String>,
    pub op: Op,
    pub key_space: u64,
    pub value: String,
    pub timeout: Duration,
    /// Write key `n % key_space` for request `n` (prefilling).
    pub sequential: bool,
}

pub struct EtcdClient {
    http: reqwest::Client,
    api: String,
    keys: KeyGen,
    index: usize,
    /// The `mod_revision` of this client's CAS key as last seen (0: absent).
    cas_revision: u64,
}

impl EtcdWorkload {
    fn key(&self, client: &mut EtcdClient, n: u64) -> String {
        match (self.op, self.sequential) {
            (Op::Cas, _) => format!("bench/cas/{}", client.index),
            (_, true) => key_name(n % self.key_space),
            (_, false) => key_name(client.keys.next_below(self.key_space)),
        }
    }

    /// The gateway path and JSON body of one request.
    fn request(&self, client: &EtcdClient, key: &str) -> (&'static str, Value) {
        let key = BASE64.encode(key);
        let value = BASE64.encode(&self.value);
        match self.op {
            Op::Get => ("/v3/kv/range", json!({ "key": key })),
            Op::Cas => (
                "/v3/kv/txn",
                json!({
                    "compare": [{
                        "key": key, "target": "MOD", "result": "EQUAL",
                        "mod_revision": client.cas_revision.to_string(),
                    }],
                    "success": [{ "request_put": { "key": key, "value": value } }],
                    "failure": [{ "request_range": { "key": key } }],
                }),
            ),
            _ => ("/v3/kv/put", json!({ "key": key, "value": value })),
        }
    }
}

/// A proto3 JSON int64 (the gateway writes them as strings; absent means 0).
fn int64(value: &Value) -> u64 {
    match value {
        Value::String(text) => text.parse().unwrap_or(0),
        other => other.as_u64().unwrap_or(0),
    }
}

/// Judges one gateway answer, updating the client's CAS revision.
fn outcome(op: Op, client: &mut EtcdClient, body: &Value) -> Result<(), String> {
    match op {
        Op::Get if int64(&body["count"]) == 0 => Err("404 key_not_found".into()),
        Op::Cas if body["succeeded"] == true => {
            client.cas_revision = int64(&body["header"]["revision"]);
            Ok(())
        }
        Op::Cas => {
            let current = &body["responses"][0]["response_range"]["kvs"][0];
            client.cas_revision = int64(&current["mod_revision"]);
            Err("412 revision_mismatch".into())
        }
        _ => Ok(()),
    }
}

impl Workload for EtcdWorkload {
    type Client = EtcdClient;

    fn client(&self, index: usize) -> EtcdClient {
        EtcdClient {
            http: http_client(self.timeout),
            api: self.apis[index % self.apis.len()].clone(),
            keys: KeyGen::new(index as u64),
            index,
            cas_revision: 0,
        }
    }

    async fn call(&self, client: &mut EtcdClient, n: u64) -> Result<(), String> {
        let key = self.key(client, n);
        let (path, body) = self.request(client, &key);
        let url = format!("{}{path}", client.api);
        let response = client
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| "bad_json".to_string())?;
        outcome(self.op, client, &body)
    }
}

/// Waits until the members answer a linearizable read (the cluster has a leader).
pub async fn wait_for_leader(apis: &[String], timeout: Duration) -> anyhow::Result<()> {
    let probe = EtcdWorkload {
        apis: apis.to_vec(),
        op: Op::Get,
        key_space: 1,
        value: String::new(),
        timeout,
        sequential: true,
    };
    let mut last = String::new();
    for attempt in 0..300 {
        let mut client = probe.client(attempt);
        match probe.call(&mut client, 0).await {
            Ok(()) => return Ok(()),
            Err(kind) if kind.starts_with("404") => return Ok(()),
            Err(kind) => last = kind,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "no etcd member answered a read within 30 s (last: {last}); is etcd running at {}?",
        apis.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(op: Op) -> EtcdWorkload {
        EtcdWorkload {
            apis: vec!["http://a:2379".into()],
            op,
            key_space: 10,
            value: "v".into(),
            timeout: Duration::from_secs(1),
            sequential: true,
        }
    }

    #[test]
    fn requests_are_the_gateways_and_answers_judged_like_raft() {
        let w = workload(Op::Cas);
        let mut c = w.client(3);
        let key = w.key(&mut c, 0);
        assert_eq!(key, "bench/cas/3");
        let (path, body) = w.request(&c, &key);
        assert_eq!(path, "/v3/kv/txn");
        assert_eq!(body["compare"][0]["key"], BASE64.encode("bench/cas/3"));
        assert_eq!(body["compare"][0]["mod_revision"], "0");
        let won = json!({"header": {"revision": "17"}, "succeeded": true});
        assert_eq!(outcome(Op::Cas, &mut c, &won), Ok(()));
        assert_eq!(c.cas_revision, 17);
        let lost = json!({"header": {"revision": "20"}, "responses": [
            {"response_range": {"kvs": [{"mod_revision": "19"}], "count": "1"}}]});
        assert_eq!(
            outcome(Op::Cas, &mut c, &lost),
            Err("412 revision_mismatch".into())
        );
        assert_eq!(c.cas_revision, 19);
        let g = workload(Op::Get);
        let mut c = g.client(0);
        assert_eq!(g.key(&mut c, 12), "bench/00000002");
        assert!(outcome(Op::Get, &mut c, &json!({"header": {}})).is_err());
        let found = json!({"kvs": [{"value": "dg=="}], "count": "1"});
        assert_eq!(outcome(Op::Get, &mut c, &found), Ok(()));
    }
}
