//! The Chord node: its state, boot, and the dispatch of every input to the
//! handler module that owns it (`lookup`, `maintenance`, `ops`,
//! `replication`). Also the two plumbing rules every handler relies on:
//! a peer is added to the driver's peer set before anything is sent to it
//! ([`Dht::send`]), and a message to this node itself is queued and handled
//! after the current step (loopback), never sent.

use crate::bootstrap::Probe;
use crate::config::{DhtConfig, SUCCESSORS_IN_MESSAGE_MAX};
use crate::gc::GcRound;
use crate::lookup::Lookup;
use crate::message::{Body, Message, NodeRef};
use crate::ops::{ClientOp, PrimaryWrite};
use crate::persist::{SavedRouting, StoreKind};
use crate::request::{DhtError, Reply, Request};
use crate::ring::RingId;
use crate::routing::Routing;
use crate::status::{Counters, DhtStatus};
use crate::store::Store;
use skein_core::{Boot, Context, Input, NodeId, PeerAddress, Protocol, RequestId};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Loopback messages handled in one step at most (each handler queues at most a few).
const LOOPBACK_PER_STEP_MAX: usize = 64;

/// Where the node stands in the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Looking for its place: through `via` and by probing members, or,
    /// with no `via`, by probing members before starting a ring of its own.
    Joining {
        via: Option<NodeRef>,
    },
    Member,
    /// Left gracefully (or never could join): answers nothing until `Join`.
    Left,
}

/// A message to a peer that has not answered yet.
#[derive(Clone, Debug)]
pub(crate) struct Awaiting {
    pub peer: NodeId,
    pub since: Duration,
    pub nonce: u64,
}

#[derive(Clone, Debug)]
struct PeerEntry {
    address: PeerAddress,
    used_at_tick: u64,
}

pub struct Dht {
    pub(crate) cfg: DhtConfig,
    pub(crate) routing: Routing,
    pub(crate) state: NodeState,
    pub(crate) network: Store,
    pub(crate) local: Store,
    /// Lamport clock for versions: above every version this node has seen.
    pub(crate) lamport: u64,
    peers: BTreeMap<NodeId, PeerEntry>,
    pub(crate) ticks: u64,
    pub(crate) next_id: u64,
    pub(crate) lookups: BTreeMap<u64, Lookup>,
    pub(crate) ops: BTreeMap<u64, ClientOp>,
    pub(crate) writes: BTreeMap<u64, PrimaryWrite>,
    pub(crate) stabilizing: Option<Awaiting>,
    pub(crate) pinging: Option<Awaiting>,
    pub(crate) finger_next: usize,
    pub(crate) finger_lookup: Option<u64>,
    pub(crate) replicate_cursor: String,
    /// The other configured members (the driver's static peers), for probes.
    pub(crate) members: Vec<NodeId>,
    pub(crate) probe: Option<Probe>,
    pub(crate) join_attempts: u32,
    pub(crate) counters: Counters,
    pub(crate) now: Duration,
    loopback: VecDeque<Body>,
    /// Storage: the last token used, records appended since the last
    /// snapshot, the routing state last logged, and local-store replies
    /// waiting for their write to be durable (`durable.rs`).
    pub(crate) persist_token: u64,
    pub(crate) records_since_snapshot: u64,
    pub(crate) saved_routing: SavedRouting,
    pub(crate) durable_replies: BTreeMap<u64, Vec<(RequestId, Reply)>>,
    /// This step's store changes, written as one record when it ends.
    pub(crate) unlogged: Vec<crate::persist::Record>,
    /// Booted from persisted routing state: start as a member from it.
    restored: bool,
    /// Garbage collection of copies and tombstones (`gc.rs`).
    pub(crate) gc_cursor: RingId,
    pub(crate) gc: Option<GcRound>,
}

impl Dht {
    pub fn new(id: NodeId, address: PeerAddress, cfg: DhtConfig) -> Self {
        let me = NodeRef::new(id, address);
        Self {
            routing: Routing::new(me, usize::from(cfg.replicas)),
            state: NodeState::Left,
            network: Store::new(cfg.keys_max),
            local: Store::new(cfg.keys_max),
            lamport: 0,
            peers: BTreeMap::new(),
            ticks: 0,
            next_id: 1,
            lookups: BTreeMap::new(),
            ops: BTreeMap::new(),
            writes: BTreeMap::new(),
            stabilizing: None,
            pinging: None,
            finger_next: 0,
            finger_lookup: None,
            replicate_cursor: String::new(),
            members: Vec::new(),
            probe: None,
            join_attempts: 0,
            counters: Counters::default(),
            now: Duration::ZERO,
            loopback: VecDeque::new(),
            persist_token: 0,
            records_since_snapshot: 0,
            saved_routing: SavedRouting::default(),
            durable_replies: BTreeMap::new(),
            unlogged: Vec::new(),
            restored: false,
            gc_cursor: RingId::ZERO,
            gc: None,
            cfg,
        }
    }

    pub fn me(&self) -> &NodeRef {
        &self.routing.me
    }

    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    pub fn state(&self) -> &NodeState {
        &self.state
    }

    pub fn is_member(&self) -> bool {
        self.state == NodeState::Member
    }

    /// The node's share of the ring's keys (replicas included).
    pub fn network_store(&self) -> &Store {
        &self.network
    }

    pub fn local_store(&self) -> &Store {
        &self.local
    }

    pub fn config(&self) -> &DhtConfig {
        &self.cfg
    }

    pub(crate) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends `body` to `to`, adding it to the driver's peer set first; to
    /// this node itself it is queued as loopback.
    pub(crate) fn send(&mut self, ctx: &mut Context<'_, Self>, to: &NodeRef, body: Body) {
        if to.id == self.routing.me.id {
            self.loopback.push_back(body);
            return;
        }
        self.ensure_peer(ctx, to);
        let message = Message {
            from: self.routing.me.clone(),
            body,
        };
        ctx.send(to.id, message);
    }

    fn ensure_peer(&mut self, ctx: &mut Context<'_, Self>, node: &NodeRef) {
        let tick = self.ticks;
        match self.peers.get_mut(&node.id) {
            Some(entry) if entry.address == node.address => entry.used_at_tick = tick,
            _ => {
                ctx.add_peer(node.id, node.address.clone());
                let entry = PeerEntry {
                    address: node.address.clone(),
                    used_at_tick: tick,
                };
                self.peers.insert(node.id, entry);
                self.evict_peers(ctx);
            }
        }
    }

    /// Keeps the peers this node added within `peers_max`: the least recently
    /// used ones the routing state does not name go first.
    fn evict_peers(&mut self, ctx: &mut Context<'_, Self>) {
        while self.peers.len() > self.cfg.peers_max {
            let victim = self
                .peers
                .iter()
                .filter(|(id, _)| !self.routing.mentions(**id))
                .min_by_key(|(id, e)| (e.used_at_tick, **id))
                .map(|(id, _)| *id);
            let Some(victim) = victim else { break };
            self.peers.remove(&victim);
            ctx.remove_peer(victim);
        }
    }

    pub fn peers_added(&self) -> usize {
        self.peers.len()
    }

    /// A sender must be who it says and every node it names well-formed.
    fn admissible(&self, from: NodeId, message: &Message) -> bool {
        let nodes_ok = |nodes: &[NodeRef]| {
            nodes.len() <= SUCCESSORS_IN_MESSAGE_MAX && nodes.iter().all(NodeRef::is_consistent)
        };
        let sender_ok =
            message.from.id == from && from != self.routing.me.id && message.from.is_consistent();
        let body_ok = match &message.body {
            Body::Found { nodes, .. } => !nodes.is_empty() && nodes_ok(nodes),
            Body::Closer { node, .. } => node.is_consistent(),
            Body::Neighbours {
                predecessor,
                successors,
            }
            | Body::Leaving {
                predecessor,
                successors,
            } => predecessor.iter().all(NodeRef::is_consistent) && nodes_ok(successors),
            Body::Write { key, value, .. } => self.item_fits(key, value.as_deref()).is_ok(),
            Body::Read { key, .. } => key.len() <= self.cfg.key_bytes_max,
            Body::ReadDone { item, .. } => item
                .as_ref()
                .is_none_or(|i| self.item_fits(&i.key, i.value.as_deref()).is_ok()),
            Body::Forget { keys } => {
                let bytes: usize = keys.iter().map(|(k, _)| k.len()).sum();
                bytes <= self.cfg.batch_bytes_max
                    && keys.iter().all(|(k, _)| k.len() <= self.cfg.key_bytes_max)
            }
            Body::Replicate { items, .. } => {
                let bytes: usize = items.iter().map(|i| i.bytes()).sum();
                bytes <= self.cfg.batch_bytes_max
                    && items
                        .iter()
                        .all(|i| self.item_fits(&i.key, i.value.as_deref()).is_ok())
            }
            _ => true,
        };
        sender_ok && body_ok
    }

    pub(crate) fn item_fits(&self, key: &str, value: Option<&[u8]>) -> Result<(), DhtError> {
        if key.len() > self.cfg.key_bytes_max {
            return Err(DhtError::KeyTooLarge {
                len: key.len(),
                max: self.cfg.key_bytes_max,
            });
        }
        let len = value.map_or(0, <[u8]>::len);
        if len > self.cfg.value_bytes_max {
            return Err(DhtError::ValueTooLarge {
                len,
                max: self.cfg.value_bytes_max,
            });
        }
        Ok(())
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, message: Message) {
        if !self.admissible(from, &message) {
            self.counters.messages_rejected += 1;
            return;
        }
        if self.state == NodeState::Left {
            self.counters.messages_ignored += 1;
            return;
        }
        let sender = message.from;
        self.ensure_peer(ctx, &sender);
        self.handle(ctx, sender, message.body);
    }

    fn handle(&mut self, ctx: &mut Context<'_, Self>, sender: NodeRef, body: Body) {
        let joining = matches!(self.state, NodeState::Joining { .. });
        // Joining nodes send lookups too; every other message is from a member.
        if !matches!(body, Body::FindSuccessor { .. }) {
            self.learn_successor(&sender);
        }
        match body {
            Body::FindSuccessor { lookup, key } if !joining => {
                self.on_find_successor(ctx, sender, lookup, key)
            }
            Body::Found { lookup, nodes } => {
                if !self.on_probe_found(ctx, sender.id, lookup, &nodes) {
                    self.on_found(ctx, sender.id, lookup, nodes)
                }
            }
            Body::Closer { lookup, node } => {
                if !self.on_probe_closer(ctx, sender.id, lookup, &node) {
                    self.on_closer(ctx, sender.id, lookup, node)
                }
            }
            Body::GetNeighbours if !joining => self.on_get_neighbours(ctx, sender),
            Body::Neighbours {
                predecessor,
                successors,
            } => self.on_neighbours(ctx, sender, predecessor, successors),
            Body::Notify if !joining => self.on_notify(ctx, sender),
            Body::Ping { nonce } => self.send(ctx, &sender, Body::Pong { nonce }),
            Body::Pong { nonce } => self.on_pong(sender.id, nonce),
            Body::Write { op, key, value } if !joining => {
                self.on_write(ctx, sender, op, key, value)
            }
            Body::WriteDone { op, outcome } => self.on_write_done(ctx, op, outcome),
            Body::Read { op, key } if !joining => {
                let item = self.network.get(&key).cloned();
                self.send(ctx, &sender, Body::ReadDone { op, item });
            }
            Body::ReadDone { op, item } => self.on_read_done(ctx, sender.id, op, item),
            Body::Replicate { items, ack } => self.on_replicate(ctx, sender, items, ack),
            Body::ReplicateAck { ack, complete } => {
                self.on_replicate_ack(ctx, sender.id, ack, complete)
            }
            Body::Forget { keys } => self.on_forget(sender.id, keys),
            Body::Leaving {
                predecessor,
                successors,
            } => self.on_leaving(ctx, sender, predecessor, successors),
            _ => self.counters.messages_ignored += 1,
        }
    }

    fn drain_loopback(&mut self, ctx: &mut Context<'_, Self>) {
        let mut handled = 0;
        while let Some(body) = self.loopback.pop_front() {
            handled += 1;
            assert!(
                handled <= LOOPBACK_PER_STEP_MAX,
                "loopback messages feed each other without end"
            );
            let me = self.routing.me.clone();
            self.handle(ctx, me, body);
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, id: skein_core::RequestId, req: Request) {
        match req {
            Request::Routing => ctx.reply(id, Reply::Routing(self.routing_view())),
            Request::Size => ctx.reply(id, Reply::Size(self.routing.size_estimate())),
            Request::LocalPut { key, value } => {
                let (reply, logged) = self.local_put(key, value);
                self.reply_when_durable(ctx, logged, id, reply)
            }
            Request::LocalGet { key } => ctx.reply(id, self.local_get(&key)),
            Request::LocalDelete { key } => {
                let existed = self.store_remove(StoreKind::Local, &key, None);
                let reply = Reply::Deleted {
                    existed,
                    version: None,
                };
                self.reply_when_durable(ctx, existed, id, reply)
            }
            Request::Join { via } => self.join(ctx, id, via),
            Request::Leave => self.leave(ctx, id),
            other => self.start_op(ctx, id, other),
        }
    }

    pub fn status_now(&self) -> DhtStatus {
        DhtStatus::of(self)
    }
}

/// The node id inside a join address: the digits before `@` (runtime form
/// `ID@HOST:TCP:UDP`, or a bare `ID`) or after `sim:` (the simulator's). The
/// rest of the address stays opaque; it is handed to the driver as is.
pub fn node_id_of(address: &PeerAddress) -> Option<NodeId> {
    let text = address.0.as_str();
    let digits = match text.strip_prefix("sim:") {
        Some(rest) => rest,
        None => text.split('@').next().unwrap_or(text),
    };
    digits.parse::<u16>().ok().filter(|&n| n > 0).map(NodeId)
}

impl Protocol for Dht {
    type Message = Message;
    type Request = Request;
    type Reply = Reply;
    type Config = DhtConfig;
    type Status = DhtStatus;

    const NAME: &'static str = "dht";
    const PROTOCOL_ID: u16 = 4;
    // 2: `ReplicateAck` says whether the items are held; `Forget` (gc).
    const VERSION: u16 = 2;

    fn validate(config: &DhtConfig, _members: &[NodeId]) -> Result<(), String> {
        config.validate()?;
        if let Some(join) = &config.join {
            node_id_of(join).ok_or_else(|| {
                format!("dht.join `{join}` names no node id; use ID@HOST:TCP_PORT:UDP_PORT")
            })?;
        }
        Ok(())
    }

    /// A restarted node gets both stores and its routing state back from
    /// its log (`persist.rs`) and starts as a member from them; stabilize
    /// corrects what changed while it was down. With no log it joins.
    fn boot(boot: Boot<'_, DhtConfig>) -> Self {
        let mut dht = Self::new(boot.id, boot.address.clone(), boot.config.clone());
        dht.members = boot
            .members
            .iter()
            .copied()
            .filter(|&m| m != boot.id)
            .collect();
        dht.now = boot.now;
        dht.restored = dht.restore(boot.persisted, boot.now);
        dht
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        self.now = ctx.now();
        match input {
            Input::Start if self.restored => self.start_restored(),
            Input::Start => self.start(ctx),
            Input::Tick => self.tick(ctx),
            Input::Message { from, message } => self.on_message(ctx, from, message),
            Input::Request { id, request } => self.on_request(ctx, id, request),
            Input::Persisted { token } => self.on_persisted(ctx, token),
            Input::Timer(_) => {}
        }
        self.drain_loopback(ctx);
        self.flush_log(ctx);
        self.check_invariants();
    }

    fn tick_interval(&self) -> Duration {
        self.cfg.tick()
    }

    fn status(&self) -> DhtStatus {
        self.status_now()
    }
}
