//! Exact-effect tests of client-facing services: ReadIndex, limits,
//! snapshots, membership change and leadership transfer.

use super::fx::*;
use crate::config::KEY_BYTES_MAX;
use crate::message::{LogId, Message};
use crate::storage::Record;
use crate::{Membership, RaftError, Reply, Request, TIMER_HEARTBEAT};
use skein_core::{Input, NodeId, PeerAddress};

fn put(key: &str, value: &str) -> Request {
    Request::Put {
        key: key.into(),
        value: value.into(),
    }
}

#[test]
fn read_index_answers_only_after_a_quorum_confirms_leadership() {
    let (mut node, mut records) = leader(&[1, 2, 3], &config());
    let fx = step(&mut node, 1_100, request(10, put("a", "1")));
    confirm_all(&mut node, 1_100, &mut records, &fx);
    let fx = step(&mut node, 1_101, msg(2, ack(1, 2, 0)));
    assert_eq!(fx, vec![Fx::Reply(10, Reply::Written { revision: 2 })]);

    let fx = step(
        &mut node,
        1_102,
        request(11, Request::Get { key: "a".into() }),
    );
    assert!(
        !fx.iter().any(|f| matches!(f, Fx::Reply(..))),
        "no answer before confirmation"
    );
    let heartbeat = Message::AppendEntries {
        term: 1,
        prev: LogId::new(1, 2),
        entries: vec![],
        leader_commit: 2,
        read_seq: 1,
    };
    assert!(
        fx.contains(&Fx::Send(2, heartbeat)),
        "a heartbeat round carries read_seq 1: {fx:?}"
    );
    let fx = step(&mut node, 1_103, msg(2, ack(1, 2, 1)));
    assert_eq!(
        fx,
        vec![Fx::Reply(
            11,
            Reply::Value {
                value: Some("1".into()),
                revision: 2
            }
        )]
    );
}

#[test]
fn oversized_requests_and_overload_are_refused_with_nothing_written() {
    let mut follower = boot(2, &[1, 2, 3], &[], &config());
    let key = "k".repeat(KEY_BYTES_MAX + 1);
    let fx = step(&mut follower, 0, request(1, put(&key, "v")));
    let too_large = RaftError::KeyTooLarge {
        len: KEY_BYTES_MAX + 1,
        max: KEY_BYTES_MAX,
    };
    assert_eq!(fx, vec![Fx::Reply(1, Reply::Error(too_large))]);
    let fx = step(&mut follower, 0, request(2, put("k", "v")));
    assert_eq!(fx, vec![Fx::Reply(2, Reply::NotLeader { leader: None })]);

    let config = crate::RaftConfig {
        pending_proposals_max: 1,
        ..config()
    };
    let (mut node, _) = leader(&[1, 2, 3], &config);
    step(&mut node, 1_100, request(3, put("a", "1")));
    let fx = step(&mut node, 1_100, request(4, put("b", "2")));
    assert_eq!(
        fx,
        vec![Fx::Reply(
            4,
            Reply::Error(RaftError::Overloaded { pending: 1, max: 1 })
        )]
    );
}

/// Relays messages between `a` and `b` until neither has anything to say.
fn relay(a: &mut crate::Raft, b: &mut crate::Raft, mut fx: Vec<Fx>, now: u64) -> Vec<Vec<u8>> {
    let mut b_records = Vec::new();
    for _ in 0..1_000 {
        let mut next = Vec::new();
        for f in &fx {
            match f {
                Fx::Send(to, m) if *to == b.id().0 => {
                    let out = step(b, now, msg(a.id().0, m.clone()));
                    next.extend(confirm_all(b, now, &mut b_records, &out));
                    next.extend(out);
                }
                Fx::Send(to, m) if *to == a.id().0 => {
                    next.extend(step(a, now, msg(b.id().0, m.clone())))
                }
                _ => {}
            }
        }
        if next.is_empty() {
            return b_records;
        }
        fx = next;
    }
    panic!("relay did not quiesce");
}

#[test]
fn a_lagging_follower_gets_the_snapshot_in_chunks() {
    let config = crate::RaftConfig {
        snapshot_log_entries: 3,
        snapshot_chunk_bytes: 8,
        ..config()
    };
    let (mut node, mut records) = leader(&[1, 2, 3], &config);
    for (i, key) in ["a", "b", "c", "d"].iter().enumerate() {
        let fx = step(&mut node, 1_100, request(i as u64, put(key, "value")));
        confirm_all(&mut node, 1_100, &mut records, &fx);
        let fx = step(&mut node, 1_101, msg(2, ack(1, i as u64 + 2, 0)));
        confirm_all(&mut node, 1_101, &mut records, &fx);
    }
    assert_eq!(
        node.log_view().snapshot_last(),
        LogId::new(1, 3),
        "compacted at 3 entries"
    );
    assert_eq!(
        records.len(),
        3,
        "the snapshot replaced every earlier record"
    );
    assert!(matches!(
        Record::decode(&records[0]),
        Some(Record::Snapshot { .. })
    ));

    let mut fresh = boot(3, &[1, 2, 3], &[], &config);
    step(&mut fresh, 0, Input::Start);
    let fx = step(&mut node, 2_000, Input::Timer(TIMER_HEARTBEAT));
    let chunk = |f: &Fx| {
        matches!(
            f,
            Fx::Send(
                3,
                Message::InstallSnapshot {
                    offset: 0,
                    done: false,
                    ..
                }
            )
        )
    };
    assert!(
        fx.iter().any(chunk),
        "node 3 needs compacted entries: {fx:?}"
    );
    let fresh_records = relay(&mut node, &mut fresh, fx, 2_001);
    assert_eq!(fresh.kv(), node.kv(), "snapshot plus the entries after it");
    assert!(fresh.commit_index() >= 3);
    let restarted = boot(3, &[1, 2, 3], &fresh_records, &config);
    assert_eq!(restarted.log_view().snapshot_last(), LogId::new(1, 3));
}

#[test]
fn a_learner_is_added_then_promoted_once_caught_up() {
    let (mut node, mut records) = leader(&[1], &config());
    let address = PeerAddress("sim:2".into());
    let fx = step(
        &mut node,
        1_100,
        request(
            1,
            Request::AddLearner {
                id: NodeId(2),
                address: Some(address.clone()),
            },
        ),
    );
    let learner = Membership {
        voters: [NodeId(1)].into(),
        learners: [NodeId(2)].into(),
        addresses: [
            (NodeId(1), PeerAddress("sim:1".into())),
            (NodeId(2), address.clone()),
        ]
        .into(),
    };
    let entry = crate::Entry {
        term: 1,
        index: 2,
        payload: crate::Payload::Config(learner.clone()),
    };
    // The new peer is dialable before the first append to it goes out.
    assert_eq!(fx[0], Fx::AddPeer(2, address.clone()));
    assert_eq!(
        fx[1],
        Fx::Append(
            3,
            Record::Entries {
                entries: vec![entry]
            }
        )
    );
    assert!(matches!(fx[2], Fx::Send(2, Message::AppendEntries { .. })));
    let fx = confirm_all(&mut node, 1_100, &mut records, &fx);
    assert_eq!(
        fx,
        vec![Fx::Reply(
            1,
            Reply::Membership {
                membership: learner.clone(),
                index: 2
            }
        )]
    );

    let fx = step(
        &mut node,
        1_101,
        request(2, Request::Promote { id: NodeId(2) }),
    );
    assert_eq!(
        fx,
        vec![Fx::Reply(
            2,
            Reply::Error(RaftError::NotCaughtUp { id: NodeId(2) })
        )]
    );
    step(&mut node, 1_102, msg(2, ack(1, 2, 0)));
    let fx = step(
        &mut node,
        1_103,
        request(3, Request::Promote { id: NodeId(2) }),
    );
    confirm_all(&mut node, 1_103, &mut records, &fx);
    let mut voters = Membership::with_voters([NodeId(1), NodeId(2)]);
    voters.addresses = learner.addresses.clone();
    assert_eq!(node.membership_view(), &voters);
    assert_eq!(
        node.commit_index(),
        2,
        "the promotion needs node 2's acknowledgement now"
    );
    let fx = step(&mut node, 1_104, msg(2, ack(1, 3, 0)));
    assert!(matches!(
        fx.as_slice(),
        [Fx::Reply(3, Reply::Membership { index: 3, .. }), ..]
    ));

    // A restart forgets the driver's peer set: Start announces node 2 again.
    let mut restarted = boot(1, &[1], &records, &config());
    let fx = step(&mut restarted, 0, Input::Start);
    assert_eq!(fx, vec![Fx::AddPeer(2, address)]);
}

#[test]
fn a_removed_member_is_dropped_from_the_peer_set_once_the_removal_commits() {
    let (mut node, mut records) = leader(&[1, 2, 3], &config());
    let fx = step(
        &mut node,
        1_100,
        request(1, Request::RemoveMember { id: NodeId(3) }),
    );
    assert!(
        !fx.iter().any(|f| matches!(f, Fx::RemovePeer(_))),
        "an uncommitted removal may be truncated: keep the peer: {fx:?}"
    );
    let fx = confirm_all(&mut node, 1_100, &mut records, &fx);
    assert!(fx.is_empty(), "{fx:?}");
    let fx = step(&mut node, 1_101, msg(2, ack(1, 2, 0)));
    assert!(
        fx.contains(&Fx::RemovePeer(3)),
        "committed: node 3 goes: {fx:?}"
    );
    assert!(fx
        .iter()
        .any(|f| matches!(f, Fx::Reply(1, Reply::Membership { index: 2, .. }))));

    // After a restart the commit index is unknown again: node 3 stays a
    // peer until the removal is known to be committed.
    let mut restarted = boot(1, &[1, 2, 3], &records, &config());
    let fx = step(&mut restarted, 0, Input::Start);
    assert!(fx.is_empty(), "{fx:?}");
}

#[test]
fn an_oversized_peer_address_is_refused_and_nothing_changes() {
    let (mut node, _) = leader(&[1], &config());
    let address = PeerAddress("x".repeat(crate::config::PEER_ADDRESS_BYTES_MAX + 1));
    let fx = step(
        &mut node,
        1_100,
        request(
            1,
            Request::AddMember {
                id: NodeId(2),
                address: Some(address),
            },
        ),
    );
    assert!(matches!(
        fx.as_slice(),
        [Fx::Reply(1, Reply::Error(RaftError::AddressTooLong { .. }))]
    ));
    assert_eq!(
        node.membership_view(),
        &Membership::with_voters([NodeId(1)])
    );
}

#[test]
fn transfer_sends_timeout_now_to_a_caught_up_target_and_pauses_writes() {
    let (mut node, _) = leader(&[1, 2, 3], &config());
    let fx = step(
        &mut node,
        1_100,
        request(
            1,
            Request::TransferLeader {
                to: Some(NodeId(2)),
            },
        ),
    );
    assert_eq!(
        fx,
        vec![
            Fx::Reply(1, Reply::TransferStarted { to: NodeId(2) }),
            Fx::Send(2, Message::TimeoutNow { term: 1 }),
        ]
    );
    let fx = step(&mut node, 1_101, request(2, put("a", "1")));
    assert_eq!(
        fx,
        vec![Fx::Reply(2, Reply::Error(RaftError::TransferInProgress))]
    );
}
