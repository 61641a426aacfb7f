//! Helpers for exact-effect tests: boot a node, step it, and compare effects.

use crate::storage::Record;
use crate::{Message, Raft, RaftConfig, Reply};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skein_core::{
    Boot, Context, Effect, Input, NodeId, PeerAddress, Protocol, RequestId, StorageWrite, TimerId,
};
use std::time::Duration;

/// An effect in comparable form; records are decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fx {
    Send(u16, Message),
    Append(u64, Record),
    Replace(u64, Record),
    Reply(u64, Reply),
    Timer(TimerId, u64),
    Cancel(TimerId),
    AddPeer(u16, PeerAddress),
    RemovePeer(u16),
}

pub fn config() -> RaftConfig {
    RaftConfig::default()
}

pub fn boot(id: u16, members: &[u16], persisted: &[Vec<u8>], config: &RaftConfig) -> Raft {
    let members: Vec<NodeId> = members.iter().map(|&m| NodeId(m)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(id));
    Raft::boot(Boot {
        id: NodeId(id),
        address: &PeerAddress(format!("sim:{id}")),
        members: &members,
        config,
        persisted,
        now: Duration::ZERO,
        rng: &mut rng,
    })
}

pub fn step_raw(node: &mut Raft, now_ms: u64, input: Input<Raft>) -> Vec<Effect<Raft>> {
    let mut rng = ChaCha8Rng::seed_from_u64(now_ms);
    let mut effects = Vec::new();
    let mut ctx = Context::new(
        node.id(),
        Duration::from_millis(now_ms),
        &mut rng,
        &mut effects,
    );
    node.step(&mut ctx, input);
    effects
}

pub fn convert(effects: Vec<Effect<Raft>>) -> Vec<Fx> {
    effects
        .into_iter()
        .map(|e| match e {
            Effect::Send { to, message, .. } => Fx::Send(to.0, message),
            Effect::Broadcast { .. } => panic!("raft sends to each peer"),
            Effect::AddPeer { id, address } => Fx::AddPeer(id.0, address),
            Effect::RemovePeer { id } => Fx::RemovePeer(id.0),
            Effect::Persist { token, write } => match write {
                StorageWrite::Append(b) => Fx::Append(token, Record::decode(&b).unwrap()),
                StorageWrite::Replace(b) => Fx::Replace(token, Record::decode(&b).unwrap()),
            },
            Effect::Reply { request, reply } => Fx::Reply(request.0, reply),
            Effect::SetTimer { timer, after } => Fx::Timer(timer, after.as_millis() as u64),
            Effect::CancelTimer { timer } => Fx::Cancel(timer),
        })
        .collect()
}

/// Steps and returns the effects, without election-timer re-arms (their
/// durations are random; election tests check them separately).
pub fn step(node: &mut Raft, now_ms: u64, input: Input<Raft>) -> Vec<Fx> {
    convert(step_raw(node, now_ms, input))
        .into_iter()
        .filter(|fx| !matches!(fx, Fx::Timer(crate::TIMER_ELECTION, _)))
        .collect()
}

pub fn msg(from: u16, message: Message) -> Input<Raft> {
    Input::Message {
        from: NodeId(from),
        message,
    }
}

pub fn request(id: u64, request: crate::Request) -> Input<Raft> {
    Input::Request {
        id: RequestId(id),
        request,
    }
}

/// Persists every write in `effects` into `records` and confirms it.
pub fn confirm_all(node: &mut Raft, now_ms: u64, records: &mut Vec<Vec<u8>>, fx: &[Fx]) -> Vec<Fx> {
    let mut out = Vec::new();
    for f in fx {
        match f {
            Fx::Append(token, r) => {
                records.push(r.encode());
                out.extend(step(node, now_ms, Input::Persisted { token: *token }));
            }
            Fx::Replace(token, r) => {
                *records = vec![r.encode()];
                out.extend(step(node, now_ms, Input::Persisted { token: *token }));
            }
            _ => {}
        }
    }
    out
}

/// Boots node 1 of `members` and makes it leader with every peer's vote and
/// its no-op committed by node 2. Returns the node and its durable records.
pub fn leader(members: &[u16], config: &RaftConfig) -> (Raft, Vec<Vec<u8>>) {
    let mut node = boot(1, members, &[], config);
    let mut records = Vec::new();
    step(&mut node, 0, Input::Start);
    let mut fx = step(&mut node, 1_000, Input::Timer(crate::TIMER_ELECTION));
    let peers: Vec<u16> = members.iter().copied().filter(|&m| m != 1).collect();
    let grant = |pre_vote, term| Message::VoteResponse {
        term,
        granted: true,
        pre_vote,
    };
    for &peer in &peers {
        fx.extend(step(&mut node, 1_001, msg(peer, grant(true, 1))));
    }
    for &peer in &peers {
        fx.extend(step(&mut node, 1_001, msg(peer, grant(false, 1))));
    }
    let fx = confirm_all(&mut node, 1_002, &mut records, &fx);
    confirm_all(&mut node, 1_002, &mut records, &fx);
    if let Some(&peer) = peers.first() {
        step(&mut node, 1_003, msg(peer, ack(1, 1, 0)));
    }
    assert_eq!(node.role(), crate::Role::Leader);
    assert_eq!(node.commit_index(), 1, "the leader's no-op is committed");
    (node, records)
}

pub fn ack(term: u64, match_index: u64, read_seq: u64) -> Message {
    Message::AppendResponse {
        term,
        success: true,
        match_index,
        rejected_prev: 0,
        hint: None,
        read_seq,
    }
}
