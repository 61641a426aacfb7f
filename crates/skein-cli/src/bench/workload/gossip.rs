//! gossip: one request is one broadcast, and it completes when the message
//! has been **delivered** where `--gossip-until` says:
//!
//! * `all` (default): at every node of the cluster — the time for a
//!   broadcast to cover the overlay;
//! * `receiver`: at one node, the one after the origin in the node list —
//!   the time from a sender to one receiver.
//!
//! ```text
//!  client i ──POST /api/v1/gossip/broadcast──▶ node i mod n   (the origin; answers the id)
//!                                                  │ Plumtree
//!  one observer per node: GET /api/v1/gossip/messages?after=SEQ (polled)
//!        └── marks (id, node) delivered ──▶ the client waits until its id is
//!            delivered at the nodes it needs, or --timeout-ms ("undelivered")
//! ```
//!
//! The run starts once every node sees the others alive. Latency is from sending the broadcast until an observer saw the last
//! needed delivery, so it includes up to one poll gap ([`POLL_GAP`]) plus a
//! poll's round trip: read it with that resolution. Throughput is
//! broadcasts completed per second. A node keeps its last `messages_max`
//! (1,024) deliveries; one evicted before its observer read it shows as
//! `undelivered`.

use super::{http_client, status_error, transport_error, Workload};
use crate::bench::args::GossipUntil;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// An observer's pause after a page that was not full.
pub const POLL_GAP: Duration = Duration::from_millis(2);
/// Deliveries tracked at most: the oldest are forgotten beyond this.
pub const TRACKED_MAX: usize = 65_536;
/// Messages per poll (the node's page limit).
const PAGE: usize = 256;
/// Pages read to find where a node's delivery log ends (it keeps ≤ 1,024 messages by default).
const CATCH_UP_PAGES_MAX: usize = 1_024;
/// How long to wait for every node to see the others alive before the run.
pub const OVERLAY_WAIT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Page {
    messages: Vec<Delivered>,
    next_after: u64,
}

#[derive(Deserialize)]
struct Delivered {
    id: String,
}

#[derive(Deserialize)]
struct Broadcasted {
    id: String,
}

#[derive(Deserialize)]
struct Peers {
    peers: Vec<Peer>,
}

#[derive(Deserialize)]
struct Peer {
    state: String,
}

/// Which nodes have delivered which message, as the observers saw it.
#[derive(Default)]
pub struct Deliveries {
    at: Mutex<Tracked>,
    changed: Notify,
}

#[derive(Default)]
struct Tracked {
    nodes_by_id: BTreeMap<String, BTreeSet<usize>>,
    order: VecDeque<String>,
}

impl Deliveries {
    fn record(&self, node: usize, ids: impl IntoIterator<Item = String>) {
        let mut tracked = self.at.lock().expect("not poisoned");
        for id in ids {
            if !tracked.nodes_by_id.contains_key(&id) {
                tracked.order.push_back(id.clone());
            }
            tracked.nodes_by_id.entry(id).or_default().insert(node);
        }
        while tracked.order.len() > TRACKED_MAX {
            let oldest = tracked.order.pop_front().expect("not empty");
            tracked.nodes_by_id.remove(&oldest);
        }
        drop(tracked);
        self.changed.notify_waiters();
    }

    /// Whether `id` was delivered at every node of `needed`.
    fn delivered(&self, id: &str, needed: &[usize]) -> bool {
        let tracked = self.at.lock().expect("not poisoned");
        let at = tracked.nodes_by_id.get(id);
        at.is_some_and(|at| needed.iter().all(|n| at.contains(n)))
    }
}

pub struct GossipWorkload {
    apis: Vec<String>,
    /// The broadcast body, the same for every request (the origin's random nonce makes ids unique).
    body: String,
    timeout: Duration,
    until: GossipUntil,
    deliveries: Arc<Deliveries>,
    observers: Vec<AbortHandle>,
}

pub struct GossipClient {
    http: reqwest::Client,
    origin: usize,
    /// The nodes a broadcast of this client must reach.
    needed: Vec<usize>,
}

impl GossipWorkload {
    /// Finds where each node's delivery log ends and starts its observer there,
    /// so only messages broadcast from now on count.
    pub async fn start(
        apis: Vec<String>,
        payload: String,
        timeout: Duration,
        until: GossipUntil,
    ) -> anyhow::Result<Self> {
        wait_for_overlay(&apis, timeout).await?;
        let deliveries = Arc::new(Deliveries::default());
        let mut observers = Vec::new();
        for (node, api) in apis.iter().enumerate() {
            let http = http_client(timeout);
            let after = log_end(&http, api).await?;
            let observer = observe(http, api.clone(), node, after, deliveries.clone());
            observers.push(tokio::spawn(observer).abort_handle());
        }
        let body = serde_json::json!({ "payload": payload }).to_string();
        Ok(Self {
            apis,
            body,
            timeout,
            until,
            deliveries,
            observers,
        })
    }

    fn needed(&self, origin: usize) -> Vec<usize> {
        match self.until {
            GossipUntil::All => (0..self.apis.len()).collect(),
            GossipUntil::Receiver => vec![(origin + 1) % self.apis.len()],
        }
    }

    async fn wait_delivered(&self, id: &str, needed: &[usize]) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let changed = self.deliveries.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a delivery in between still wakes us.
            changed.as_mut().enable();
            if self.deliveries.delivered(id, needed) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err("undelivered".into());
            }
        }
    }
}

impl Drop for GossipWorkload {
    fn drop(&mut self) {
        for observer in &self.observers {
            observer.abort();
        }
    }
}

async fn messages_page(http: &reqwest::Client, api: &str, after: u64) -> Result<Page, String> {
    let url = format!("{api}/api/v1/gossip/messages?after={after}&limit={PAGE}");
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| transport_error(&e))?;
    if !status.is_success() {
        return Err(status_error(status, &body));
    }
    serde_json::from_slice(&body).map_err(|_| "bad_json".into())
}

/// Waits until every node sees at least the others alive: Plumtree delivers
/// to the members a node knows, so a broadcast sent while the overlay is
/// still forming may never reach a node that joined after it, and the run
/// should measure the overlay, not its formation.
async fn wait_for_overlay(apis: &[String], timeout: Duration) -> anyhow::Result<()> {
    let http = http_client(timeout);
    let deadline = tokio::time::Instant::now() + OVERLAY_WAIT;
    for api in apis {
        let url = format!("{api}/api/v1/gossip/peers");
        loop {
            let alive = match http.get(&url).send().await {
                Ok(response) => match response.json::<Peers>().await {
                    Ok(body) => body.peers.iter().filter(|p| p.state == "alive").count(),
                    Err(_) => 0,
                },
                Err(_) => 0,
            };
            if alive + 1 >= apis.len() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "{api} sees {alive} of the other {} nodes alive after {OVERLAY_WAIT:?}; is the overlay up?",
                    apis.len() - 1
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The sequence number of the last message `api` delivered so far.
async fn log_end(http: &reqwest::Client, api: &str) -> anyhow::Result<u64> {
    let mut after = 0;
    for _ in 0..CATCH_UP_PAGES_MAX {
        let page = messages_page(http, api, after).await.map_err(|kind| {
            anyhow::anyhow!("{api} answered no gossip message page ({kind}); is it a gossip node?")
        })?;
        if page.messages.is_empty() {
            return Ok(after);
        }
        after = page.next_after;
    }
    anyhow::bail!("{api} kept delivering messages while the bench looked for the end of its log")
}

/// Polls one node's delivery log until aborted.
async fn observe(
    http: reqwest::Client,
    api: String,
    node: usize,
    mut after: u64,
    deliveries: Arc<Deliveries>,
) {
    loop {
        match messages_page(&http, &api, after).await {
            Ok(page) => {
                let full = page.messages.len() >= PAGE;
                after = page.next_after;
                deliveries.record(node, page.messages.into_iter().map(|m| m.id));
                if !full {
                    tokio::time::sleep(POLL_GAP).await;
                }
            }
            // A node that is down misses its deliveries: they count as undelivered.
            Err(_) => tokio::time::sleep(POLL_GAP * 10).await,
        }
    }
}

impl Workload for GossipWorkload {
    type Client = GossipClient;

    fn client(&self, index: usize) -> GossipClient {
        let origin = index % self.apis.len();
        GossipClient {
            http: http_client(self.timeout),
            origin,
            needed: self.needed(origin),
        }
    }

    async fn call(&self, client: &mut GossipClient, _n: u64) -> Result<(), String> {
        let url = format!("{}/api/v1/gossip/broadcast", self.apis[client.origin]);
        let response = client
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport_error(&e))?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        let Broadcasted { id } = serde_json::from_slice(&body).map_err(|_| "bad_json")?;
        self.wait_delivered(&id, &client.needed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_counts_once_every_needed_node_delivered_it() {
        let d = Deliveries::default();
        d.record(0, ["a".to_string()]);
        assert!(d.delivered("a", &[0]));
        assert!(!d.delivered("a", &[0, 1]));
        d.record(1, ["a".to_string(), "b".to_string()]);
        assert!(d.delivered("a", &[0, 1]));
        assert!(!d.delivered("c", &[0]));
    }

    #[test]
    fn tracking_is_bounded() {
        let d = Deliveries::default();
        d.record(0, (0..TRACKED_MAX + 10).map(|i| i.to_string()));
        let tracked = d.at.lock().unwrap();
        assert_eq!(tracked.nodes_by_id.len(), TRACKED_MAX);
        assert!(!tracked.nodes_by_id.contains_key("0"));
    }
}
