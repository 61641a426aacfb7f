//! The sans-IO protocol trait: events in, effects out.
//!
//! ```text
//!              Input (Start | Tick | Timer | Message | Request | Persisted)
//!  driver ───────────────────────────────────────────────▶ Protocol::step
//!  (runtime   ◀─────────────────────────────────────────── writes Effects into
//!   or sim)    Send | Broadcast | Persist | Reply | SetTimer | CancelTimer
//!              | AddPeer | RemovePeer
//! ```
//! A driver owns sockets, disks, clocks and randomness; a protocol owns only
//! its state. The same protocol value runs unchanged under the tokio runtime
//! (`skein-node`) and the deterministic simulator (`skein-sim`).
//!
//! Contract for drivers:
//! * `boot` builds the state from what was durably persisted, then the driver
//!   feeds `Input::Start` once, then any inputs in any order.
//! * `Tick` is fed every [`Protocol::tick_interval`]; `Timer(t)` when a timer set
//!   by `SetTimer { timer: t, .. }` expires (setting it again re-arms it).
//! * Every `Request { id, .. }` gets at most one `Reply { request: id, .. }`; the
//!   driver gives up on it after its own timeout.
//! * `Persisted { token }` is fed once the write with that token is durable;
//!   a write not yet confirmed may be lost by a crash.
//! * Peers: a driver keeps a current peer set, at start the static members
//!   from its configuration (all other members in the simulator).
//!   `AddPeer { id, address }` adds a peer (idempotent; a new address for a
//!   known id replaces the old one) and `RemovePeer { id }` removes one.
//!   `Broadcast` goes to the current peer set; `Send` to an id outside it is
//!   dropped and counted. The set is driver state, not protocol state: after
//!   a restart it is the static members again, so a protocol that adds peers
//!   re-adds them (from its persisted state or by hearing from them).
//!   A `Message` may come from a node outside the set (the runtime admits a
//!   node joining through this one when the cluster secret vouches for it);
//!   the protocol decides whether to add it.
//! * A [`PeerAddress`] is opaque to protocols: they learn one (their own in
//!   [`Boot::address`], others' in messages) and only pass it on.

use crate::id::{NodeId, RequestId};
use rand::RngCore;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt::Debug;
use std::time::Duration;

/// A deterministic protocol state machine.
pub trait Protocol: Sized + 'static {
    /// What peers say to each other.
    type Message: Clone + Debug + Serialize + DeserializeOwned + Send + 'static;
    /// What a client asks a node.
    type Request: Clone + Debug + Serialize + DeserializeOwned + Send + 'static;
    /// What a node answers a client.
    type Reply: Clone + Debug + Serialize + DeserializeOwned + Send + 'static;
    /// Protocol settings, loaded by the driver (from TOML/env in the runtime).
    type Config: Clone + Debug + Default + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What `GET /api/v1/status` shows under `protocol`.
    type Status: Serialize;

    /// The service name used on the command line (`--service NAME`).
    const NAME: &'static str;
    /// Carried in every frame; a node drops frames of another protocol.
    const PROTOCOL_ID: u16;
    /// Bumped on incompatible message changes; advertised in capabilities.
    const VERSION: u16;

    /// Checks the settings against the cluster before a node starts. The
    /// runtime refuses to start (exit code 2) with this message on error.
    fn validate(config: &Self::Config, members: &[NodeId]) -> Result<(), String> {
        let _ = (config, members);
        Ok(())
    }

    /// Builds the state of node `boot.id`, from durable records if it restarts.
    fn boot(boot: Boot<'_, Self::Config>) -> Self;

    /// Handles one input, writing effects into `ctx`.
    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>);

    /// How often the driver feeds `Input::Tick`.
    fn tick_interval(&self) -> Duration;

    /// A snapshot of protocol-specific state for status pages.
    fn status(&self) -> Self::Status;

    /// Overwrites in-memory state with arbitrary values drawn from `rng`, to
    /// test recovery from transient faults. Returns false if this protocol
    /// does not support it (the simulator then skips the fault and says so).
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        let _ = rng;
        false
    }

    /// A short, fixed label for a message's kind (`module.type`), by which
    /// the runtime counts messages and bytes per kind. Must come from a small
    /// fixed set: it becomes a metric label.
    fn message_kind(message: &Self::Message) -> &'static str {
        let _ = message;
        "message"
    }

    /// A random well-formed message, for the generic Byzantine behaviour that
    /// sends random valid messages. `None` means the protocol offers none.
    fn arbitrary_message(rng: &mut dyn RngCore) -> Option<Self::Message> {
        let _ = rng;
        None
    }
}

/// Where a node can be reached, in the driver's own form: the runtime's is
/// `ID@HOST:TCP_PORT:UDP_PORT`, the simulator's `sim:ID` (it routes by id).
/// Protocols never parse it; they carry it in messages and hand it to
/// [`Context::add_peer`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerAddress(pub String);

impl std::fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a protocol may know when it starts.
pub struct Boot<'a, C> {
    pub id: NodeId,
    /// This node's own address, as peers should dial it.
    pub address: &'a PeerAddress,
    /// All members of the cluster, this node included, in ascending order.
    pub members: &'a [NodeId],
    pub config: &'a C,
    /// Durable records in write order, after applying every `Replace`.
    pub persisted: &'a [Vec<u8>],
    pub now: Duration,
    pub rng: &'a mut dyn RngCore,
}

/// One event fed to a protocol.
#[derive(Debug, Clone)]
pub enum Input<P: Protocol> {
    Start,
    Tick,
    Timer(TimerId),
    Message { from: NodeId, message: P::Message },
    Request { id: RequestId, request: P::Request },
    Persisted { token: u64 },
}

/// Which inter-node channel carries a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Reliable FIFO stream (TCP); may lose messages across reconnects.
    Stream,
    /// Self-stabilizing datagram link (UDP): low volume, survives loss,
    /// duplication, reordering and corrupted link state.
    Datagram,
}

/// A named timer; setting an armed timer again re-arms it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

/// A durable write. The node's storage is an ordered list of records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageWrite {
    /// Add a record after the existing ones.
    Append(Vec<u8>),
    /// Atomically replace all records with this one (snapshots, compaction).
    Replace(Vec<u8>),
}

/// One thing a protocol asks its driver to do.
#[derive(Debug, Clone)]
pub enum Effect<P: Protocol> {
    Send {
        to: NodeId,
        channel: Channel,
        message: P::Message,
    },
    /// Send to every peer in the driver's current peer set.
    Broadcast {
        channel: Channel,
        message: P::Message,
    },
    Persist {
        token: u64,
        write: StorageWrite,
    },
    Reply {
        request: RequestId,
        reply: P::Reply,
    },
    SetTimer {
        timer: TimerId,
        after: Duration,
    },
    CancelTimer {
        timer: TimerId,
    },
    /// Add `id` to the peer set, reachable at `address` (idempotent; a new
    /// address for a known id replaces the old one).
    AddPeer {
        id: NodeId,
        address: PeerAddress,
    },
    /// Remove `id` from the peer set (a no-op for an unknown id).
    RemovePeer {
        id: NodeId,
    },
}

/// What a protocol sees of the world during one step, and where its effects go.
pub struct Context<'a, P: Protocol> {
    id: NodeId,
    now: Duration,
    rng: &'a mut dyn RngCore,
    effects: &'a mut Vec<Effect<P>>,
}

impl<'a, P: Protocol> Context<'a, P> {
    pub fn new(
        id: NodeId,
        now: Duration,
        rng: &'a mut dyn RngCore,
        effects: &'a mut Vec<Effect<P>>,
    ) -> Self {
        Self {
            id,
            now,
            rng,
            effects,
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's clock: time since the driver started it (virtual in the simulator).
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The only source of randomness a protocol may use.
    pub fn rng(&mut self) -> &mut dyn RngCore {
        self.rng
    }

    pub fn send(&mut self, to: NodeId, message: P::Message) {
        self.send_via(to, Channel::Stream, message);
    }

    pub fn send_via(&mut self, to: NodeId, channel: Channel, message: P::Message) {
        debug_assert_ne!(to, self.id, "a node does not send to itself");
        self.effects.push(Effect::Send {
            to,
            channel,
            message,
        });
    }

    pub fn broadcast(&mut self, message: P::Message) {
        self.broadcast_via(Channel::Stream, message);
    }

    pub fn broadcast_via(&mut self, channel: Channel, message: P::Message) {
        self.effects.push(Effect::Broadcast { channel, message });
    }

    pub fn persist(&mut self, token: u64, write: StorageWrite) {
        self.effects.push(Effect::Persist { token, write });
    }

    pub fn reply(&mut self, request: RequestId, reply: P::Reply) {
        self.effects.push(Effect::Reply { request, reply });
    }

    pub fn set_timer(&mut self, timer: TimerId, after: Duration) {
        self.effects.push(Effect::SetTimer { timer, after });
    }

    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    /// Adds a peer to the driver's peer set; see the module docs.
    pub fn add_peer(&mut self, id: NodeId, address: PeerAddress) {
        debug_assert_ne!(id, self.id, "a node is not its own peer");
        self.effects.push(Effect::AddPeer { id, address });
    }

    /// Removes a peer from the driver's peer set; see the module docs.
    pub fn remove_peer(&mut self, id: NodeId) {
        debug_assert_ne!(id, self.id, "a node is not its own peer");
        self.effects.push(Effect::RemovePeer { id });
    }
}

/// Applies a storage write to an in-memory record list, the way every driver must.
pub fn apply_write(records: &mut Vec<Vec<u8>>, write: &StorageWrite) {
    match write {
        StorageWrite::Append(bytes) => records.push(bytes.clone()),
        StorageWrite::Replace(bytes) => {
            records.clear();
            records.push(bytes.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::Heartbeat;
    use rand::SeedableRng;

    #[test]
    fn the_context_emits_peer_changes_in_order() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut effects: Vec<Effect<Heartbeat>> = Vec::new();
        let mut ctx = Context::new(NodeId(1), Duration::ZERO, &mut rng, &mut effects);
        let address = PeerAddress("2@127.0.0.1:5002:7002".into());
        ctx.add_peer(NodeId(2), address.clone());
        ctx.remove_peer(NodeId(2));
        assert_eq!(effects.len(), 2);
        assert!(
            matches!(&effects[0], Effect::AddPeer { id: NodeId(2), address: a } if *a == address)
        );
        assert!(matches!(effects[1], Effect::RemovePeer { id: NodeId(2) }));
    }
}
