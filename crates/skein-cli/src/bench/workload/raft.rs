//! raft: `PUT`/`GET /api/v1/kv/{key}` and compare-and-swap (`PUT` with
//! `If-Match`). Each client remembers the leader: a follower's `307` is
//! followed (not counted as an error) and later requests go straight there.

use super::{http_client, status_error, transport_error, KeyGen, Workload};
use crate::bench::args::Op;
use reqwest::{header, StatusCode};
use std::time::Duration;

/// Redirects followed within one request (a leader change mid-request may need two).
pub const REDIRECTS_MAX: usize = 4;
/// How long to wait for a leader before the run starts.
pub const LEADER_WAIT: Duration = Duration::from_secs(30);
/// Probes while waiting for a leader (one per 100 ms over [`LEADER_WAIT`]).
const LEADER_PROBES_MAX: usize = 300;

pub struct RaftWorkload {
    pub apis: Vec<String>,
    pub op: Op,
    pub key_space: u64,
    pub value: String,
    pub timeout: Duration,
    /// Write key `n % key_space` for request `n` instead of a random key (prefilling).
    pub sequential: bool,
}

pub struct RaftClient {
    http: reqwest::Client,
    /// The API that answered last: the leader once a redirect was followed.
    api: String,
    keys: KeyGen,
    index: usize,
    /// The revision of this client's CAS key as last seen (0: absent).
    cas_revision: u64,
}

impl RaftWorkload {
    fn path(&self, client: &mut RaftClient, n: u64) -> String {
        let key = match (self.op, self.sequential) {
            (Op::Cas, _) => return format!("/api/v1/kv/bench/cas/{}", client.index),
            (_, true) => n % self.key_space,
            (_, false) => client.keys.next_below(self.key_space),
        };
        format!("/api/v1/kv/{}", key_name(key))
    }
}

/// Waits until a leader answers reads (a fresh cluster may still be electing
/// one), so that the run measures the cluster and not its boot.
pub async fn wait_for_leader(apis: &[String], timeout: Duration) -> anyhow::Result<()> {
    let probe = RaftWorkload {
        apis: apis.to_vec(),
        op: Op::Get,
        key_space: 1,
        value: String::new(),
        timeout,
        sequential: true,
    };
    let mut client = probe.client(0);
    let deadline = std::time::Instant::now() + LEADER_WAIT;
    let mut last = String::new();
    for _ in 0..LEADER_PROBES_MAX {
        match probe.call(&mut client, 0).await {
            Ok(()) => return Ok(()),
            Err(kind) if kind.starts_with("404") => return Ok(()),
            Err(kind) => last = kind,
        }
        if std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "no raft leader answered within {LEADER_WAIT:?} (last: {last}); is a majority of {} running?",
        apis.join(", ")
    )
}

/// The name of key number `k` of the key space.
pub fn key_name(k: u64) -> String {
    format!("bench/{k:08}")
}

impl Workload for RaftWorkload {
    type Client = RaftClient;

    fn client(&self, index: usize) -> RaftClient {
        RaftClient {
            http: http_client(self.timeout),
            // Spread first contacts; redirects converge on the leader.
            api: self.apis[index % self.apis.len()].clone(),
            keys: KeyGen::new(index as u64),
            index,
            cas_revision: 0,
        }
    }

    async fn call(&self, client: &mut RaftClient, n: u64) -> Result<(), String> {
        let path = self.path(client, n);
        for _ in 0..=REDIRECTS_MAX {
            let url = format!("{}{path}", client.api);
            let request = match self.op {
                Op::Get => client.http.get(&url),
                Op::Cas => client
                    .http
                    .put(&url)
                    .header(header::IF_MATCH, client.cas_revision.to_string())
                    .body(self.value.clone()),
                _ => client.http.put(&url).body(self.value.clone()),
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    if error.is_connect() {
                        // That node is down: try the next one on the next request.
                        client.api = next_api(&self.apis, &client.api);
                    }
                    return Err(transport_error(&error));
                }
            };
            let status = response.status();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(base_of);
            let etag = response
                .headers()
                .get(header::ETAG)
                .and_then(|e| e.to_str().ok())
                .and_then(|e| e.trim_matches('"').parse::<u64>().ok());
            let body = response.bytes().await.map_err(|e| transport_error(&e))?;
            if status == StatusCode::TEMPORARY_REDIRECT {
                client.api = location.ok_or("307 without Location")?;
                continue;
            }
            if self.op == Op::Cas {
                client.cas_revision = etag.or_else(|| revision_in(&body)).unwrap_or(0);
            }
            if status.is_success() {
                return Ok(());
            }
            return Err(status_error(status, &body));
        }
        Err("redirect loop".into())
    }
}

/// A 412's `revision`, so that the next CAS of this client can succeed.
fn revision_in(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?["revision"].as_u64()
}

fn next_api(apis: &[String], api: &str) -> String {
    let at = apis.iter().position(|a| a == api);
    apis[at.map_or(0, |i| (i + 1) % apis.len())].clone()
}

/// `http://host:port` of a URL such as `http://host:port/api/v1/kv/a`.
fn base_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_paths_and_leader_hints() {
        let w = RaftWorkload {
            apis: vec!["http://a:1".into(), "http://b:2".into()],
            op: Op::Put,
            key_space: 5,
            value: "v".into(),
            timeout: Duration::from_secs(1),
            sequential: true,
        };
        let mut c = w.client(1);
        assert_eq!(c.api, "http://b:2");
        assert_eq!(w.path(&mut c, 7), "/api/v1/kv/bench/00000002");
        assert_eq!(next_api(&w.apis, "http://b:2"), "http://a:1");
        assert_eq!(
            base_of("http://127.0.0.1:4002/api/v1/kv/x").as_deref(),
            Some("http://127.0.0.1:4002")
        );
        assert_eq!(revision_in(br#"{"revision":9}"#), Some(9));
    }
}
