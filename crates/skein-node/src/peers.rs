//! When this node last heard each peer, shared with the API and metrics.

use serde::{Deserialize, Serialize};
use skein_core::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PeerStatus {
    pub id: u16,
    /// The peer's stream (TCP) address.
    pub address: String,
    /// Heard from within the peer timeout.
    pub up: bool,
    /// Milliseconds since the last message from this peer; null if never heard.
    pub last_seen_ms_ago: Option<u64>,
}

/// A peer's stream address and when it was last heard.
type PeerEntry = (SocketAddr, Option<Instant>);

#[derive(Clone)]
pub struct PeerTable {
    inner: Arc<Mutex<BTreeMap<NodeId, PeerEntry>>>,
    timeout: Duration,
}

impl PeerTable {
    pub fn new(peers: impl IntoIterator<Item = (NodeId, SocketAddr)>, timeout: Duration) -> Self {
        let map = peers
            .into_iter()
            .map(|(id, addr)| (id, (addr, None)))
            .collect();
        Self {
            inner: Arc::new(Mutex::new(map)),
            timeout,
        }
    }

    /// Adds a peer, or moves a known one to a new address (forgetting when it
    /// was heard if the address changed).
    pub fn insert(&self, peer: NodeId, addr: SocketAddr) {
        let mut map = self.inner.lock().expect("peer table lock");
        match map.get_mut(&peer) {
            Some(entry) if entry.0 == addr => {}
            Some(entry) => *entry = (addr, None),
            None => {
                map.insert(peer, (addr, None));
            }
        }
    }

    pub fn remove(&self, peer: NodeId) {
        self.inner.lock().expect("peer table lock").remove(&peer);
    }

    pub fn heard(&self, peer: NodeId, at: Instant) {
        if let Some(entry) = self.inner.lock().expect("peer table lock").get_mut(&peer) {
            entry.1 = Some(at);
        }
    }

    pub fn snapshot(&self, now: Instant) -> Vec<PeerStatus> {
        self.inner
            .lock()
            .expect("peer table lock")
            .iter()
            .map(|(id, (addr, seen))| {
                let ago = seen.map(|s| now.saturating_duration_since(s));
                PeerStatus {
                    id: id.0,
                    address: addr.to_string(),
                    up: ago.is_some_and(|a| a <= self.timeout),
                    last_seen_ms_ago: ago.map(|a| a.as_millis() as u64),
                }
            })
            .collect()
    }
}
