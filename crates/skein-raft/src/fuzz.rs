//! Random well-formed messages, for the simulator's generic Byzantine
//! behaviour. Raft tolerates crashes, not lies: such messages may break its
//! guarantees, which is what those runs are meant to show.

use crate::kv::KvCommand;
use crate::membership::Membership;
use crate::message::{Entry, LogId, Message, Payload, SnapshotMeta};
use rand::{Rng, RngCore};
use skein_core::NodeId;

fn small(rng: &mut dyn RngCore) -> u64 {
    rng.random_range(0..16)
}

fn entries(rng: &mut dyn RngCore, prev: LogId, term: u64) -> Vec<Entry> {
    let count = rng.random_range(0..4);
    (1..=count)
        .map(|k| Entry {
            term: term.max(prev.term),
            index: prev.index + k,
            payload: if rng.random_bool(0.5) {
                Payload::Noop
            } else {
                Payload::Command(KvCommand::Put {
                    key: format!("k{}", rng.random_range(0..8)),
                    value: format!("v{}", rng.random::<u16>()),
                })
            },
        })
        .collect()
}

pub fn arbitrary_message(rng: &mut dyn RngCore) -> Message {
    let term = small(rng);
    let prev = LogId::new(term.min(small(rng)), small(rng));
    match rng.random_range(0..7) {
        0 => Message::RequestVote {
            term,
            last: prev,
            pre_vote: rng.random_bool(0.5),
            force: rng.random_bool(0.1),
        },
        1 => Message::VoteResponse {
            term,
            granted: rng.random_bool(0.5),
            pre_vote: rng.random_bool(0.5),
        },
        2 => Message::AppendEntries {
            term,
            prev,
            entries: entries(rng, prev, term),
            leader_commit: small(rng),
            read_seq: small(rng),
        },
        3 => Message::AppendResponse {
            term,
            success: rng.random_bool(0.5),
            match_index: small(rng),
            rejected_prev: small(rng),
            hint: None,
            read_seq: small(rng),
        },
        4 => Message::InstallSnapshot {
            term,
            meta: SnapshotMeta {
                last: prev,
                membership: Membership::with_voters([NodeId(1)]),
                digest: rng.random(),
            },
            offset: 0,
            data: vec![0],
            done: true,
        },
        5 => Message::SnapshotResponse {
            term,
            last_index: small(rng),
            next_offset: small(rng),
            done: rng.random_bool(0.5),
        },
        _ => Message::TimeoutNow { term },
    }
}
