//! The gossip node: state, boot, and the dispatch of inputs to the handlers
//! in `join.rs` (admission, sync, leave), `swim.rs` (probes, suspicion) and
//! `broadcast.rs` (Plumtree, beacon).

use crate::api::{Counters, GossipReply, GossipRequest, GossipStatus, CAPABILITIES};
use crate::config::GossipConfig;
use crate::dissemination::{retransmit_limit, Dissemination};
use crate::identity::{Identity, PublicKey};
use crate::membership::{MemberState, Membership};
use crate::message::{Fact, GossipMessage, Update};
use crate::plumtree::{Plumtree, SeenId};
use crate::storage::Snapshot;
use crate::swim::Prober;
use crate::trace::Traces;
use crate::{GOSSIP_VERSION, PROTOCOL_ID};
use rand::seq::SliceRandom;
use rand::Rng;
use skein_core::{Boot, Context, Input, NodeId, PeerAddress, Protocol, StorageWrite};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Updates piggybacked on one ping or ack.
pub const PIGGYBACK_MAX: usize = 8;
/// How often a dirty membership is written to disk at most.
pub const PERSIST_INTERVAL: Duration = Duration::from_secs(5);
/// Delivery records appended before a snapshot replaces them: bounds the
/// log a restart reads to one snapshot plus this many small records (and
/// one tick's deliveries).
pub const APPENDS_BEFORE_SNAPSHOT: usize = 1_024;
/// Delivery records awaiting `Persisted` that are tracked one by one;
/// past this, the newest entry absorbs the next (its delivery is shown a
/// little later, never earlier than its record is durable).
pub const PENDING_RECORDS_MAX: usize = 1_024;
/// Boot nodes a joiner tries at once.
pub const BOOT_NODES_MAX: usize = 16;
/// Beacons a node reports deliveries to.
pub const BEACONS_MAX: usize = 4;

pub struct Gossip {
    pub(crate) me: NodeId,
    pub(crate) address: PeerAddress,
    pub(crate) config: GossipConfig,
    pub(crate) identity: Identity,
    pub(crate) incarnation: u64,
    /// This boot's number (durable before the node says anything): the
    /// high half of its broadcasts' stamps.
    pub(crate) boots: u64,
    /// Broadcasts made in this boot: the low half of their stamps.
    pub(crate) broadcasts_made: u64,
    pub(crate) boot_nodes: Vec<NodeId>,
    pub(crate) joined: bool,
    pub(crate) left: bool,
    pub(crate) next_join_at: Duration,
    pub(crate) next_sync_at: Duration,
    pub(crate) membership: Membership,
    pub(crate) dissemination: Dissemination,
    pub(crate) prober: Prober,
    pub(crate) plumtree: Plumtree,
    pub(crate) traces: Traces,
    pub(crate) join_tokens: u64,
    pub(crate) join_refilled_at: Duration,
    pub(crate) counters: Counters,
    pub(crate) sent: BTreeMap<&'static str, u64>,
    pub(crate) received: BTreeMap<&'static str, u64>,
    pub(crate) last_refusal: Option<String>,
    pub(crate) pow_nonce: Option<u64>,
    pub(crate) persist_token: u64,
    /// Delivery records appended since the last snapshot; bounded by
    /// [`APPENDS_BEFORE_SNAPSHOT`] (then a snapshot replaces them).
    pub(crate) appended_since_snapshot: usize,
    /// (write token, delivery seq) of records not yet durable, oldest first.
    pending_records: VecDeque<(u64, u64)>,
    pub(crate) dirty: bool,
    pub(crate) next_persist_at: Duration,
    restored: Vec<NodeId>,
    booted_at: Duration,
    life: u64,
    /// The write holding this boot's key and incarnation; the node stays
    /// silent until it is durable, so a crash cannot make it come back
    /// with a key or incarnation others have not seen the last of.
    awaiting_durable: Option<u64>,
}

impl Protocol for Gossip {
    type Message = GossipMessage;
    type Request = GossipRequest;
    type Reply = GossipReply;
    type Config = GossipConfig;
    type Status = GossipStatus;
    const NAME: &'static str = "gossip";
    const PROTOCOL_ID: u16 = PROTOCOL_ID;
    const VERSION: u16 = GOSSIP_VERSION;

    fn validate(config: &GossipConfig, _members: &[NodeId]) -> Result<(), String> {
        config.validate()
    }

    fn boot(boot: Boot<'_, GossipConfig>) -> Self {
        let config = boot.config.clone();
        let restored = Snapshot::restore(boot.persisted, config.seen_max);
        let (identity, incarnation, boots) = match &restored {
            Some(s) => (
                Identity::from_secret(s.secret),
                s.incarnation + 1,
                s.boots + 1,
            ),
            None => (Identity::generate(boot.rng), 0, 0),
        };
        let mut boot_nodes: Vec<NodeId> = if config.boot.is_empty() {
            boot.members.to_vec()
        } else {
            config.boot.iter().map(|&id| NodeId(id)).collect()
        };
        boot_nodes.retain(|&id| id != boot.id);
        boot_nodes.truncate(BOOT_NODES_MAX);
        let mut membership =
            Membership::new(boot.id, config.members_max, config.members_per_subnet_max);
        let mut restored_ids = Vec::new();
        if let Some(s) = &restored {
            for (id, key) in &s.bindings {
                membership.bind(*id, *key);
            }
            for update in s.members.iter().take(config.members_max) {
                // Own durable records: trusted without re-checking signatures.
                if membership.restore(update, boot.now) {
                    restored_ids.push(update.subject);
                }
            }
        }
        let mut plumtree = Plumtree::new(config.seen_max, config.messages_max);
        if let Some(s) = &restored {
            let floors = crate::floors::Floors::from_entries(&s.floors);
            plumtree.restore_delivered(&s.delivered_ids, floors, s.delivered_seq);
        }
        let first_probe =
            boot.now + Duration::from_millis(boot.rng.random_range(0..=config.probe_interval_ms));
        let first_sync = boot.now + sync_delay(&config, boot.rng);
        Self {
            me: boot.id,
            address: boot.address.clone(),
            joined: boot_nodes.is_empty() || !restored_ids.is_empty(),
            boot_nodes,
            left: false,
            next_join_at: boot.now,
            next_sync_at: first_sync,
            dissemination: Dissemination::new(config.members_max + 1),
            prober: Prober::new(first_probe),
            plumtree,
            traces: Traces::new(config.traces_max, config.members_max + 1),
            join_tokens: u64::from(config.join_rate_per_sec) * 1_000,
            join_refilled_at: boot.now,
            counters: Counters::default(),
            sent: BTreeMap::new(),
            received: BTreeMap::new(),
            last_refusal: None,
            pow_nonce: None,
            persist_token: 0,
            appended_since_snapshot: 0,
            pending_records: VecDeque::new(),
            dirty: true,
            next_persist_at: boot.now,
            restored: restored_ids,
            booted_at: boot.now,
            life: boot.rng.next_u64(),
            awaiting_durable: None,
            membership,
            identity,
            incarnation,
            boots,
            broadcasts_made: 0,
            config,
        }
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        match input {
            Input::Start => self.start(ctx),
            Input::Persisted { token } => {
                self.records_durable(token);
                if self.awaiting_durable.is_some_and(|t| token >= t) {
                    self.awaiting_durable = None;
                    self.go_live(ctx);
                }
            }
            Input::Timer(_) => {}
            Input::Request { id, .. } if self.awaiting_durable.is_some() => {
                let error =
                    "the node is starting (its identity is being written to disk); retry shortly";
                ctx.reply(
                    id,
                    GossipReply::Error {
                        code: 503,
                        error: error.into(),
                    },
                );
            }
            Input::Tick | Input::Message { .. } if self.awaiting_durable.is_some() => {}
            Input::Tick => self.tick(ctx),
            Input::Message { from, message } => self.on_message(ctx, from, message),
            Input::Request { id, request } => {
                let reply = self.on_request(ctx, request);
                ctx.reply(id, reply);
            }
        }
    }

    fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.config.tick_ms)
    }

    fn status(&self) -> GossipStatus {
        let mut members: BTreeMap<&'static str, usize> = ["alive", "suspect", "dead", "left"]
            .into_iter()
            .map(|s| (s, 0))
            .collect();
        for (_, m) in self.membership.iter() {
            *members.entry(crate::api::state_name(m.state)).or_default() += 1;
        }
        GossipStatus {
            node_id: self.me.0,
            key_id: self.identity.public().key_id().to_string(),
            version: GOSSIP_VERSION,
            capabilities: CAPABILITIES.to_vec(),
            incarnation: self.incarnation,
            joined: self.joined,
            left: self.left,
            beacon: self.config.beacon,
            members,
            eager_peers: self.plumtree.eager.iter().map(|id| id.0).collect(),
            lazy_peers: self.plumtree.lazy.len(),
            delivered: self.plumtree.delivered(),
            seen_cached: self.plumtree.seen_len(),
            messages_cached: self.plumtree.stored_len(),
            pending_updates: self.dissemination.len(),
            sent: self.sent.clone(),
            received: self.received.clone(),
            counters: self.counters.clone(),
            last_refusal: self.last_refusal.clone(),
            pow_wanted: self
                .proof_of_work_wanted()
                .map(|(key, bits)| crate::api::PowWanted {
                    key: key.to_hex(),
                    bits,
                }),
        }
    }
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip")
            .field("me", &self.me)
            .field("key", &self.identity.public().key_id())
            .field("incarnation", &self.incarnation)
            .field("members", &self.membership.len())
            .finish_non_exhaustive()
    }
}

/// The delay to the next peer sync: the interval plus up to the jitter.
fn sync_delay(config: &GossipConfig, rng: &mut dyn rand::RngCore) -> Duration {
    let jitter_ms = rng.random_range(0..=config.network_sync_jitter.saturating_mul(1_000));
    Duration::from_secs(config.network_sync_interval) + Duration::from_millis(jitter_ms)
}

impl Gossip {
    pub fn id(&self) -> NodeId {
        self.me
    }
    pub fn public_key(&self) -> PublicKey {
        self.identity.public()
    }
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }
    /// When this life began (driver clock at boot).
    pub fn booted_at(&self) -> Duration {
        self.booted_at
    }
    /// A random number drawn at boot: tells this life from earlier ones.
    pub fn life(&self) -> u64 {
        self.life
    }
    /// Whether the node has started talking (its identity is durable).
    pub fn is_live(&self) -> bool {
        self.awaiting_durable.is_none()
    }
    pub fn has_left(&self) -> bool {
        self.left
    }
    pub fn membership(&self) -> &Membership {
        &self.membership
    }
    pub fn plumtree(&self) -> &Plumtree {
        &self.plumtree
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn config(&self) -> &GossipConfig {
        &self.config
    }
    pub fn pending_updates(&self) -> usize {
        self.dissemination.len()
    }
    pub fn traces(&self) -> &Traces {
        &self.traces
    }
    /// The state this node holds about `id`, if it knows it.
    pub fn state_of(&self, id: NodeId) -> Option<MemberState> {
        self.membership.get(id).map(|m| m.state)
    }

    /// This node's own signed `Alive` at its current incarnation.
    pub(crate) fn my_alive(&self) -> Update {
        let fact = Fact::Alive {
            key: self.identity.public(),
            address: self.address.clone(),
            version: GOSSIP_VERSION,
            beacon: self.config.beacon,
        };
        Update::signed(&self.identity, self.me, self.incarnation, fact, self.me)
    }

    fn start(&mut self, ctx: &mut Context<'_, Self>) {
        self.persist_now(ctx);
        self.awaiting_durable = Some(self.persist_token);
    }

    fn go_live(&mut self, ctx: &mut Context<'_, Self>) {
        // Random order: the snapshot lists members by id, and taking the
        // first few as eager peers would make the lowest ids the hubs of
        // every node's tree.
        let mut restored = std::mem::take(&mut self.restored);
        restored.shuffle(ctx.rng());
        for id in restored {
            if let Some(m) = self.membership.get(id) {
                ctx.add_peer(id, m.address().clone());
                self.refill_eager(ctx, Some(id));
            }
        }
        self.dissemination.push(self.my_alive());
        self.join_round(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<'_, Self>) {
        if self.left {
            return;
        }
        if !self.joined && ctx.now() >= self.next_join_at {
            self.join_round(ctx);
        }
        self.probe_round(ctx);
        self.expire_suspects(ctx);
        self.expire_dead(ctx);
        if ctx.now() >= self.next_sync_at {
            self.next_sync_at = ctx.now() + sync_delay(&self.config, ctx.rng());
            self.sync_round(ctx);
        }
        self.graft_round(ctx);
        self.flush_ihaves(ctx);
        let compact = self.appended_since_snapshot >= APPENDS_BEFORE_SNAPSHOT;
        if compact || (self.dirty && ctx.now() >= self.next_persist_at) {
            self.persist_now(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, message: GossipMessage) {
        *self.received.entry(message.kind()).or_default() += 1;
        if self.left || from == self.me {
            return;
        }
        if message
            .within_limits(self.config.payload_bytes_max)
            .is_err()
        {
            self.counters.over_limit_messages += 1;
            return;
        }
        self.membership.heard_from(from, ctx.now());
        match message {
            GossipMessage::Join(join) => self.on_join(ctx, from, join),
            GossipMessage::Welcome { updates } => {
                self.joined = true;
                self.absorb(ctx, &updates);
            }
            // Only a joiner waits for an answer; a refusal meant for an
            // impostor of this node's id is routed here and ignored.
            GossipMessage::Refused { .. } if self.joined => {}
            GossipMessage::Refused { reason } => {
                self.counters.joins_refused += 1;
                self.last_refusal = Some(format!("refused by {from}: {reason}"));
            }
            GossipMessage::Sync { updates, reply } => self.on_sync(ctx, from, &updates, reply),
            GossipMessage::Ping { probe, updates } => self.on_ping(ctx, from, probe, &updates),
            GossipMessage::Ack { probe, updates } => self.on_ack(ctx, from, probe, &updates),
            GossipMessage::PingReq { probe, target } => self.on_ping_req(ctx, from, probe, target),
            GossipMessage::IndirectAck { probe, target } => self.prober.acked(probe, target),
            GossipMessage::Gossip { message, hops } => self.on_gossip(ctx, from, message, hops),
            GossipMessage::IHave { ids } => self.on_ihave(ctx, from, &ids),
            GossipMessage::Offer { ids } => self.on_offer(ctx, from, &ids),
            GossipMessage::Graft { ids } => self.on_graft(ctx, from, &ids),
            GossipMessage::Prune => self.plumtree.make_lazy(from),
            GossipMessage::Delivered { id, hops } => self.traces.record(id, from, ctx.now(), hops),
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, request: GossipRequest) -> GossipReply {
        match request {
            GossipRequest::Broadcast { payload } => self.broadcast(ctx, payload.into_bytes()),
            GossipRequest::Messages { after, limit } => self.messages_page(after, limit),
            GossipRequest::Peers => self.peers_view(ctx.now()),
            GossipRequest::Leave => self.leave(ctx),
            GossipRequest::Trace { id } => self.trace_view(&id),
            GossipRequest::ProofOfWork { nonce } => self.accept_proof_of_work(ctx, nonce),
        }
    }

    pub(crate) fn send(&mut self, ctx: &mut Context<'_, Self>, to: NodeId, message: GossipMessage) {
        if to == self.me {
            return;
        }
        *self.sent.entry(message.kind()).or_default() += 1;
        ctx.send(to, message);
    }

    /// Updates for one ping or ack.
    pub(crate) fn piggyback(&mut self) -> Vec<Update> {
        let limit = retransmit_limit(self.config.retransmit_mult, self.membership.len() + 1);
        self.dissemination.take(PIGGYBACK_MAX, limit)
    }

    /// Records a delivery durably (an `Append`), so that a restart does
    /// not deliver the message again (issue 7). The application sees the
    /// delivery only once this write is durable ([`Gossip::records_durable`]).
    pub(crate) fn persist_delivery(
        &mut self,
        ctx: &mut Context<'_, Self>,
        delivered: SeenId,
        seq: u64,
    ) {
        self.persist_token += 1;
        ctx.persist(
            self.persist_token,
            StorageWrite::Append(crate::storage::delivered_record(delivered, seq)),
        );
        self.appended_since_snapshot += 1;
        self.await_record(self.persist_token, seq);
    }

    fn await_record(&mut self, token: u64, seq: u64) {
        if seq <= self.plumtree.durable_seq() {
            return;
        }
        if self.pending_records.len() >= PENDING_RECORDS_MAX {
            let newest = self.pending_records.back_mut().expect("full, so not empty");
            *newest = (token, seq);
        } else {
            self.pending_records.push_back((token, seq));
        }
    }

    /// Writes up to `token` are durable (the driver confirms in order), so
    /// the deliveries they record may be shown to the application.
    fn records_durable(&mut self, token: u64) {
        while let Some(&(t, seq)) = self.pending_records.front() {
            if t > token {
                break;
            }
            self.pending_records.pop_front();
            self.plumtree.mark_durable(seq);
        }
    }

    pub(crate) fn persist_now(&mut self, ctx: &mut Context<'_, Self>) {
        let members: Vec<Update> = self
            .membership
            .iter()
            .filter(|(_, m)| m.state.is_live())
            .map(|(_, m)| m.alive.clone())
            .collect();
        let snapshot = Snapshot {
            secret: self.identity.secret(),
            incarnation: self.incarnation,
            boots: self.boots,
            members,
            bindings: self
                .membership
                .bindings()
                .iter()
                .map(|(id, k)| (*id, *k))
                .collect(),
            delivered_ids: self.plumtree.seen_ids().collect(),
            delivered_seq: self.plumtree.delivered(),
            floors: self.plumtree.floors().entries(),
        };
        self.persist_token += 1;
        ctx.persist(self.persist_token, StorageWrite::Replace(snapshot.encode()));
        self.await_record(self.persist_token, self.plumtree.delivered());
        self.dirty = false;
        self.appended_since_snapshot = 0;
        self.next_persist_at = ctx.now() + PERSIST_INTERVAL;
    }
}
