//! The [`Raft`] node: its state, boot from persisted records, and the
//! dispatch of every input to the module that handles it.

use crate::config::{RaftConfig, DEFERRED_MESSAGES_MAX};
use crate::election::Election;
use crate::kv::Kv;
use crate::log::RaftLog;
use crate::membership::{Membership, MembershipLog};
use crate::message::{Message, SnapshotMeta};
use crate::peers::{Announced, PeersKey};
use crate::progress::LeaderState;
use crate::request::{Reply, Request};
use crate::snapshot::IncomingSnapshot;
use crate::status::RaftStatus;
use crate::storage::{replay, Durability, Record};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use skein_core::{Boot, Context, Input, NodeId, PeerAddress, Protocol, StorageWrite, TimerId};
use std::collections::BTreeMap;
use std::time::Duration;

/// Fires when a follower or candidate should start an election.
pub const TIMER_ELECTION: TimerId = TimerId(1);
/// Fires every heartbeat interval while leader.
pub const TIMER_HEARTBEAT: TimerId = TimerId(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// One Raft node. See the crate docs for the reading order.
pub struct Raft {
    pub(crate) id: NodeId,
    /// Where peers dial this node; recorded in configurations it proposes.
    pub(crate) address: PeerAddress,
    pub(crate) config: RaftConfig,
    pub(crate) now: Duration,
    // Persistent state (Raft Figure 2), mirrored by the records.
    pub(crate) term: u64,
    pub(crate) voted_for: Option<NodeId>,
    pub(crate) log: RaftLog,
    pub(crate) memberships: MembershipLog,
    pub(crate) snapshot: SnapshotMeta,
    pub(crate) snapshot_data: Vec<u8>,
    // Volatile state.
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) commit_index: u64,
    pub(crate) applied_index: u64,
    pub(crate) applied_digest: u64,
    pub(crate) kv: Kv,
    pub(crate) durability: Durability,
    pub(crate) election: Election,
    /// Follower: the log matches the current leader's up to here.
    pub(crate) verified_index: u64,
    /// Follower: the highest match index reported to the current leader.
    pub(crate) acked_index: u64,
    pub(crate) leader_state: Option<LeaderState>,
    pub(crate) incoming: Option<IncomingSnapshot>,
    /// Messages to send once the write with the key's token is durable.
    pub(crate) deferred: BTreeMap<u64, (NodeId, Message)>,
    /// The driver's peer set as this node last set it (see `peers.rs`).
    pub(crate) announced: Announced,
    pub(crate) peers_synced: Option<PeersKey>,
}

impl Raft {
    pub(crate) fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub(crate) fn membership(&self) -> &Membership {
        self.memberships.latest()
    }

    /// Encodes and persists `record`; `Snapshot` records replace everything.
    pub(crate) fn persist(&mut self, ctx: &mut Context<'_, Self>, record: Record) -> u64 {
        let replace = matches!(record, Record::Snapshot { .. });
        let bytes = record.encode();
        let token = self.durability.issue(self.log.last_index());
        let write = if replace {
            StorageWrite::Replace(bytes)
        } else {
            StorageWrite::Append(bytes)
        };
        ctx.persist(token, write);
        token
    }

    pub(crate) fn persist_hard_state(&mut self, ctx: &mut Context<'_, Self>) -> u64 {
        let record = Record::HardState {
            term: self.term,
            voted_for: self.voted_for,
        };
        self.persist(ctx, record)
    }

    /// Sends `message` once the write `token` (and all before it) is durable.
    pub(crate) fn send_when_durable(&mut self, token: u64, to: NodeId, message: Message) {
        if self.deferred.len() >= DEFERRED_MESSAGES_MAX {
            // Dropping a deferred vote is like losing the message: safe.
            self.deferred.pop_first();
        }
        self.deferred.insert(token, (to, message));
    }

    fn on_persisted(&mut self, ctx: &mut Context<'_, Self>, token: u64) {
        let advanced = self.durability.confirm(token);
        let rest = self.deferred.split_off(&(token + 1));
        for (_, (to, message)) in std::mem::replace(&mut self.deferred, rest) {
            ctx.send(to, message);
        }
        if self.election.self_vote_token == Some(token) {
            self.on_self_vote_durable(ctx);
        }
        if advanced {
            if self.is_leader() {
                self.maybe_commit(ctx);
            } else {
                self.ack_durable(ctx);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, message: Message) {
        if from == self.id {
            return;
        }
        let term = message.term();
        match message {
            Message::RequestVote {
                term,
                last,
                pre_vote,
                force,
            } => return self.on_request_vote(ctx, from, term, last, pre_vote, force),
            // A granted pre-vote carries the proposed term, not a real one.
            Message::VoteResponse {
                pre_vote: true,
                granted: true,
                ..
            } => {}
            _ if term > self.term => {
                let leader = matches!(
                    message,
                    Message::AppendEntries { .. } | Message::InstallSnapshot { .. }
                )
                .then_some(from);
                self.become_follower(ctx, term, leader);
            }
            _ if term < self.term => return self.reject_stale(ctx, from, &message),
            _ => {}
        }
        match message {
            Message::RequestVote { .. } => unreachable!("handled above"),
            Message::VoteResponse {
                term,
                granted,
                pre_vote,
            } => self.on_vote_response(ctx, from, term, granted, pre_vote),
            Message::AppendEntries {
                prev,
                entries,
                leader_commit,
                read_seq,
                ..
            } => self.on_append_entries(ctx, from, prev, entries, leader_commit, read_seq),
            Message::AppendResponse {
                success,
                match_index,
                rejected_prev,
                hint,
                read_seq,
                ..
            } => self.on_append_response(
                ctx,
                from,
                success,
                match_index,
                rejected_prev,
                hint,
                read_seq,
            ),
            Message::InstallSnapshot {
                meta,
                offset,
                data,
                done,
                ..
            } => self.on_install_snapshot(ctx, from, meta, offset, data, done),
            Message::SnapshotResponse {
                last_index,
                next_offset,
                done,
                ..
            } => self.on_snapshot_response(ctx, from, last_index, next_offset, done),
            Message::TimeoutNow { .. } => self.on_timeout_now(ctx, from),
        }
    }

    /// Tells a deposed leader about the newer term (Raft §5.1).
    fn reject_stale(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, message: &Message) {
        let reply = match message {
            Message::AppendEntries { .. } => Message::AppendResponse {
                term: self.term,
                success: false,
                match_index: 0,
                rejected_prev: 0,
                hint: None,
                read_seq: 0,
            },
            Message::InstallSnapshot { meta, .. } => Message::SnapshotResponse {
                term: self.term,
                last_index: meta.last.index,
                next_offset: 0,
                done: false,
            },
            _ => return,
        };
        ctx.send(from, reply);
    }

    /// Local invariants checked after every step (TigerBeetle style).
    fn assert_invariants(&self) {
        assert!(self.applied_index <= self.commit_index, "applied ≤ commit");
        assert!(
            self.commit_index <= self.log.last_index(),
            "commit ≤ last log index"
        );
        assert!(
            self.snapshot.last.index <= self.applied_index,
            "snapshot ≤ applied"
        );
        assert_eq!(
            self.snapshot.last,
            self.log.snapshot_last(),
            "snapshot and log agree"
        );
        assert_eq!(
            self.is_leader(),
            self.leader_state.is_some(),
            "leader state iff leader"
        );
        if self.is_leader() {
            assert_eq!(self.leader, Some(self.id), "a leader knows it leads");
            assert_eq!(self.voted_for, Some(self.id), "a leader voted for itself");
        }
        debug_assert!(
            self.durability.durable_index() <= self.log.last_index(),
            "durable ≤ last log index"
        );
    }
}

impl Protocol for Raft {
    type Message = Message;
    type Request = Request;
    type Reply = Reply;
    type Config = RaftConfig;
    type Status = RaftStatus;

    const NAME: &'static str = "raft";
    const PROTOCOL_ID: u16 = 3;
    const VERSION: u16 = 1;

    fn validate(config: &RaftConfig, _members: &[NodeId]) -> Result<(), String> {
        config.validate()
    }

    fn boot(boot: Boot<'_, RaftConfig>) -> Self {
        let initial = if boot.config.join_existing {
            Membership::default()
        } else {
            Membership::with_voters(boot.members.iter().copied())
        };
        let recovered = replay(boot.persisted, initial);
        let snapshot_index = recovered.snapshot.last.index;
        let durable = recovered.log.last_index();
        let known_config = !recovered.memberships.latest().voters.is_empty();
        let mut raft = Self {
            id: boot.id,
            address: boot.address.clone(),
            config: boot.config.clone(),
            now: boot.now,
            term: recovered.term,
            voted_for: recovered.voted_for,
            log: recovered.log,
            memberships: recovered.memberships,
            applied_digest: recovered.snapshot.digest,
            snapshot: recovered.snapshot,
            snapshot_data: recovered.snapshot_data,
            role: Role::Follower,
            leader: None,
            commit_index: snapshot_index,
            applied_index: snapshot_index,
            kv: recovered.kv,
            durability: Durability::new(durable),
            election: Election::default(),
            verified_index: 0,
            acked_index: 0,
            leader_state: None,
            incoming: None,
            deferred: BTreeMap::new(),
            announced: Self::boot_announced(boot.id, boot.members, known_config),
            peers_synced: None,
        };
        let timeout = raft.random_election_timeout(boot.rng);
        raft.election.deadline = boot.now + timeout;
        raft.assert_invariants();
        raft
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        self.now = ctx.now();
        match input {
            Input::Start => {
                let after = self.election.deadline.saturating_sub(self.now);
                ctx.set_timer(TIMER_ELECTION, after);
                self.election.timer_at = Some(self.election.deadline);
                self.sync_peers(ctx, true);
            }
            Input::Tick => {}
            Input::Timer(TIMER_ELECTION) => self.on_election_timer(ctx),
            Input::Timer(TIMER_HEARTBEAT) => self.on_heartbeat_timer(ctx),
            Input::Timer(_) => {}
            Input::Message { from, message } => self.on_message(ctx, from, message),
            Input::Request { id, request } => self.on_request(ctx, id, request),
            Input::Persisted { token } => self.on_persisted(ctx, token),
        }
        self.sync_peers(ctx, false);
        self.assert_invariants();
    }

    fn tick_interval(&self) -> Duration {
        // Raft runs on its own timers; the tick is only a keep-alive.
        Duration::from_secs(1)
    }

    fn status(&self) -> RaftStatus {
        self.status_view()
    }

    fn arbitrary_message(rng: &mut dyn RngCore) -> Option<Message> {
        Some(crate::fuzz::arbitrary_message(rng))
    }
}

impl Raft {
    pub(crate) fn random_election_timeout(&self, rng: &mut dyn RngCore) -> Duration {
        let min = self.config.election_timeout_min().as_millis() as u64;
        let max = self.config.election_timeout_max().as_millis() as u64;
        Duration::from_millis(rng.random_range(min..max))
    }
}
