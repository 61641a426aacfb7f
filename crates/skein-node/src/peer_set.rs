//! The runtime's current peer set: the static members from `--peers`, plus
//! peers the core added (`Effect::AddPeer`), minus those it removed.
//!
//! ```text
//!  AddPeer { id, address }                     RemovePeer { id }
//!    │ parse ID@HOST:TCP:UDP (bad → counted)      │
//!    ├─▶ pair key derived (with a secret)         ├─▶ dialer cancelled, outbox dropped
//!    ├─▶ TCP dialer + outbox (child token)        ├─▶ UDP link dropped
//!    ├─▶ UDP link (datagram task command)         ├─▶ hello no longer accepted
//!    ├─▶ listener accepts its hello               ├─▶ pair key forgotten
//!    └─▶ peer table row (status, metrics)         └─▶ peer table row removed
//! ```
//! Only the core loop changes it, so each change is applied whole before the
//! next effect runs. Every refusal is logged and counted in
//! `skein_peer_changes_total{outcome}`, never a panic: the address came
//! from a peer's message and may be anything.

use crate::address::PeerSpec;
use crate::config::PortBases;
use crate::datagram::DatagramCommand;
use crate::metrics::NodeMetrics;
use crate::outbox::Outbox;
use crate::peers::PeerTable;
use crate::service_api::PeerDirectory;
use crate::stream::{self, AcceptedPeers, WireIdentity};
use skein_core::{NodeId, PeerAddress};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Most peers a node keeps at once; an `AddPeer` beyond it is refused and
/// counted (`outcome="peers_full"`). Each peer costs a dialer task, an
/// outbox of up to `send_queue_max` frames and a UDP link. (Addresses name
/// ids 1 to 999 today, so it also guards a wider id space later.)
pub const PEERS_MAX: usize = 1024;

/// One peer's outbound TCP side: its queue and the task draining it.
pub struct Dialer {
    pub spec: PeerSpec,
    pub outbox: Arc<Outbox>,
    /// A child of the node's shutdown token: cancelled on removal or a new address.
    cancel: CancellationToken,
}

impl Dialer {
    pub fn start(
        me: &WireIdentity,
        spec: &PeerSpec,
        send_queue_max: usize,
        shutdown: &CancellationToken,
    ) -> Self {
        let outbox = Arc::new(Outbox::new(send_queue_max));
        let cancel = shutdown.child_token();
        tokio::spawn(stream::dial(
            me.clone(),
            spec.id,
            spec.stream,
            outbox.clone(),
            cancel.clone(),
        ));
        Self {
            spec: spec.clone(),
            outbox,
            cancel,
        }
    }
}

impl Drop for Dialer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub struct PeerSet {
    pub me: WireIdentity,
    pub dialers: BTreeMap<NodeId, Dialer>,
    pub accepted: AcceptedPeers,
    /// Where peers are, for the API's redirects; kept after a removal.
    pub directory: PeerDirectory,
    pub datagram_tx: mpsc::Sender<DatagramCommand>,
    pub table: PeerTable,
    pub metrics: NodeMetrics,
    pub bases: PortBases,
    pub send_queue_max: usize,
    pub shutdown: CancellationToken,
    /// [`PEERS_MAX`] outside tests.
    pub peers_max: usize,
}

impl PeerSet {
    /// The current peers, ascending.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.dialers.keys().copied()
    }

    pub fn outbox(&self, peer: NodeId) -> Option<&Arc<Outbox>> {
        self.dialers.get(&peer).map(|d| &d.outbox)
    }

    /// Adds `id` at `address`, or moves it there; idempotent.
    pub async fn add(&mut self, id: NodeId, address: &PeerAddress) {
        let spec = match self.check(id, address) {
            Ok(spec) => spec,
            Err(outcome) => {
                tracing::warn!(%id, %address, outcome, "peer not added");
                return self.metrics.peer_change(outcome);
            }
        };
        let outcome = match self.dialers.get(&id) {
            Some(known) if known.spec == spec => return self.metrics.peer_change("unchanged"),
            Some(_) => "replaced",
            None => "added",
        };
        // Replacing drops the old dialer, which cancels it.
        let dialer = Dialer::start(&self.me, &spec, self.send_queue_max, &self.shutdown);
        self.dialers.insert(id, dialer);
        self.accepted.insert(id);
        // Control commands wait for room: they must not be lost like datagrams.
        let _ = self
            .datagram_tx
            .send(DatagramCommand::AddPeer {
                id,
                addr: spec.datagram,
            })
            .await;
        self.table.insert(id, spec.stream);
        self.directory.insert(spec);
        tracing::info!(%id, %address, outcome, "peer added");
        self.metrics.peer_change(outcome);
        debug_assert!(self.dialers.len() <= self.peers_max);
    }

    /// The address parsed and checked, the key derived; or why not.
    fn check(&self, id: NodeId, address: &PeerAddress) -> Result<PeerSpec, &'static str> {
        if id == self.me.id {
            return Err("self");
        }
        let spec = PeerSpec::parse(&address.0, self.bases).map_err(|_| "bad_address")?;
        if spec.id != id {
            return Err("id_mismatch");
        }
        if !self.dialers.contains_key(&id) && self.dialers.len() >= self.peers_max {
            return Err("peers_full");
        }
        if let Some(keys) = &self.me.keys {
            if !keys.add_peer(id) {
                return Err("no_pair_key");
            }
        }
        Ok(spec)
    }

    /// Removes `id` from every part of the peer set; a no-op if unknown.
    pub async fn remove(&mut self, id: NodeId) {
        let Some(dialer) = self.dialers.remove(&id) else {
            return;
        };
        drop(dialer);
        self.accepted.remove(id);
        if let Some(keys) = &self.me.keys {
            keys.remove_peer(id);
        }
        let _ = self
            .datagram_tx
            .send(DatagramCommand::RemovePeer { id })
            .await;
        self.table.remove(id);
        self.metrics.forget_peer(id);
        tracing::info!(%id, "peer removed");
        self.metrics.peer_change("removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn address(text: &str) -> PeerAddress {
        PeerAddress(text.into())
    }

    #[tokio::test]
    async fn changes_are_checked_idempotent_bounded_and_undone_by_removal() {
        let secret = skein_core::mac::ClusterSecret::new(vec![7; 32]).unwrap();
        let keys = crate::auth::SharedKeyring::new(skein_core::mac::Keyring::from_secret(
            &secret,
            NodeId(1),
            [NodeId(1)],
        ));
        let (datagram_tx, mut datagram_rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let metrics = NodeMetrics::new(NodeId(1), "test");
        let mut set = PeerSet {
            me: WireIdentity {
                id: NodeId(1),
                protocol: 1,
                frame_bytes_max: 1024,
                keys: Some(keys.clone()),
            },
            dialers: BTreeMap::new(),
            accepted: AcceptedPeers::new([NodeId(1)]),
            directory: PeerDirectory::default(),
            datagram_tx,
            table: PeerTable::new([], Duration::from_secs(1)),
            metrics: metrics.clone(),
            bases: PortBases::default(),
            send_queue_max: 4,
            shutdown: shutdown.clone(),
            peers_max: 2,
        };
        let count = |outcome: &str| {
            metrics
                .peer_changes
                .get_or_create(&crate::metrics::OutcomeLabel {
                    outcome: outcome.into(),
                })
                .get()
        };
        // Port 1 refuses connections: the dialers just keep retrying.
        set.add(NodeId(2), &address("2@127.0.0.1:1:1")).await;
        set.add(NodeId(3), &address("3@127.0.0.1:1:1")).await;
        assert_eq!(set.ids().collect::<Vec<_>>(), [NodeId(2), NodeId(3)]);
        assert!(set.accepted.contains(NodeId(2)) && keys.load().key(NodeId(2)).is_some());
        set.add(NodeId(4), &address("4@127.0.0.1:1:1")).await;
        assert_eq!(count("peers_full"), 1, "the bound holds");
        assert!(
            keys.load().key(NodeId(4)).is_none(),
            "a refused peer gets no key"
        );
        set.add(NodeId(2), &address("2@127.0.0.1:1:1")).await;
        assert_eq!(count("unchanged"), 1);
        let old = set.dialers[&NodeId(2)].cancel.clone();
        set.add(NodeId(2), &address("2@127.0.0.2:1:1")).await;
        assert_eq!(count("replaced"), 1);
        assert!(old.is_cancelled(), "a new address stops the old dialer");
        set.add(NodeId(1), &address("1@127.0.0.1:1:1")).await;
        set.add(NodeId(5), &address("garbage")).await;
        set.add(NodeId(5), &address("6@127.0.0.1:1:1")).await;
        assert_eq!(
            (count("self"), count("bad_address"), count("id_mismatch")),
            (1, 1, 1)
        );

        let cancel = set.dialers[&NodeId(2)].cancel.clone();
        set.remove(NodeId(2)).await;
        set.remove(NodeId(9)).await;
        assert_eq!(count("removed"), 1, "removing an unknown id is a no-op");
        assert!(cancel.is_cancelled());
        assert!(!set.accepted.contains(NodeId(2)));
        assert!(keys.load().key(NodeId(2)).is_none());
        let rows: Vec<u16> = set
            .table
            .snapshot(std::time::Instant::now())
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(rows, [3]);
        assert_eq!(
            set.directory.ids(),
            [NodeId(2), NodeId(3)],
            "the directory keeps a removed peer's address"
        );
        assert_eq!(
            set.directory
                .get(NodeId(2))
                .unwrap()
                .stream
                .ip()
                .to_string(),
            "127.0.0.2"
        );
        let mut commands = Vec::new();
        while let Ok(command) = datagram_rx.try_recv() {
            commands.push(format!("{command:?}"));
        }
        assert_eq!(
            commands,
            [
                "AddPeer { id: NodeId(2), addr: 127.0.0.1:1 }",
                "AddPeer { id: NodeId(3), addr: 127.0.0.1:1 }",
                "AddPeer { id: NodeId(2), addr: 127.0.0.2:1 }",
                "RemovePeer { id: NodeId(2) }",
            ]
        );
        shutdown.cancel();
    }
}
