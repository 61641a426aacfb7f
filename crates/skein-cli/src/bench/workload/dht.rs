//! dht: `PUT`/`GET /api/v1/dht/keys/{key}` — the network store, routed
//! through the ring to the key's successor and written to its r replicas.
//! Any node answers any key, so client `i` stays on node `i mod n`. Keys,
//! values and their distribution are the raft workload's (`bench/NNNNNNNN`,
//! uniform over `--key-space`), so the two compare.

use super::raft::key_name;
use super::{http_client, status_error, transport_error, KeyGen, Workload};
use crate::bench::args::Op;
use std::time::Duration;

/// How long to wait for the ring to answer before the run starts.
pub const RING_WAIT: Duration = Duration::from_secs(30);

pub struct DhtWorkload {
    pub apis: Vec<String>,
    pub op: Op,
    pub key_space: u64,
    pub value: String,
    pub timeout: Duration,
    /// Write key `n % key_space` for request `n` instead of a random key (prefilling).
    pub sequential: bool,
}

pub struct DhtClient {
    http: reqwest::Client,
    api: String,
    keys: KeyGen,
}

impl DhtWorkload {
    fn url(&self, client: &mut DhtClient, n: u64) -> String {
        let key = if self.sequential {
            n % self.key_space
        } else {
            client.keys.next_below(self.key_space)
        };
        format!("{}/api/v1/dht/keys/{}", client.api, key_name(key))
    }
}

impl Workload for DhtWorkload {
    type Client = DhtClient;

    fn client(&self, index: usize) -> DhtClient {
        DhtClient {
            http: http_client(self.timeout),
            api: self.apis[index % self.apis.len()].clone(),
            keys: KeyGen::new(index as u64),
        }
    }

    async fn call(&self, client: &mut DhtClient, n: u64) -> Result<(), String> {
        let url = self.url(client, n);
        let request = match self.op {
            Op::Get => client.http.get(&url),
            _ => client.http.put(&url).body(self.value.clone()),
        };
        let response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport_error(&e))?;
        if status.is_success() {
            return Ok(());
        }
        Err(status_error(status, &body))
    }
}

/// Waits until every node answers a network read (404 included): a ring
/// still stabilizing answers 503s, and the run should measure the ring, not its boot.
pub async fn wait_for_ring(apis: &[String], timeout: Duration) -> anyhow::Result<()> {
    let probe = DhtWorkload {
        apis: apis.to_vec(),
        op: Op::Get,
        key_space: 1,
        value: String::new(),
        timeout,
        sequential: true,
    };
    let deadline = std::time::Instant::now() + RING_WAIT;
    for (index, api) in apis.iter().enumerate() {
        let mut client = probe.client(index);
        loop {
            let last = match probe.call(&mut client, 0).await {
                Ok(()) => break,
                Err(kind) if kind.starts_with("404") => break,
                Err(kind) => kind,
            };
            if std::time::Instant::now() > deadline {
                anyhow::bail!(
                    "dht node {api} did not answer a read within {RING_WAIT:?} (last: {last}); is the ring up?"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_raft_workloads_on_the_clients_node() {
        let w = DhtWorkload {
            apis: vec!["http://a:1".into(), "http://b:2".into()],
            op: Op::Put,
            key_space: 5,
            value: "v".into(),
            timeout: Duration::from_secs(1),
            sequential: true,
        };
        let mut c = w.client(3);
        assert_eq!(
            w.url(&mut c, 7),
            "http://b:2/api/v1/dht/keys/bench/00000002"
        );
    }
}
