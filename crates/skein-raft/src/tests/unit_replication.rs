//! Exact-effect tests of the follower's consistency check and the commit rule.

use super::fx::*;
use crate::message::{ConflictHint, LogId, Message};
use crate::storage::Record;
use crate::{Entry, Payload, Role, TIMER_ELECTION};
use skein_core::{Input, NodeId};

fn noop(term: u64, index: u64) -> Entry {
    Entry {
        term,
        index,
        payload: Payload::Noop,
    }
}

fn append(term: u64, prev: LogId, entries: Vec<Entry>, leader_commit: u64) -> Message {
    Message::AppendEntries {
        term,
        prev,
        entries,
        leader_commit,
        read_seq: 0,
    }
}

#[test]
fn a_conflict_is_rejected_with_a_hint_then_truncated_and_acked_when_durable() {
    let records = vec![
        Record::HardState {
            term: 2,
            voted_for: None,
        }
        .encode(),
        Record::Entries {
            entries: vec![noop(1, 1), noop(1, 2), noop(2, 3), noop(2, 4)],
        }
        .encode(),
    ];
    let mut node = boot(2, &[1, 2, 3], &records, &config());
    step(&mut node, 0, Input::Start);

    let fx = step(
        &mut node,
        10,
        msg(1, append(3, LogId::new(3, 3), vec![noop(3, 4)], 0)),
    );
    let reject = Message::AppendResponse {
        term: 3,
        success: false,
        match_index: 0,
        rejected_prev: 3,
        hint: Some(ConflictHint {
            term: Some(2),
            index: 3,
        }),
        read_seq: 0,
    };
    assert_eq!(
        fx,
        vec![
            Fx::Append(
                1,
                Record::HardState {
                    term: 3,
                    voted_for: None
                }
            ),
            Fx::Send(1, reject)
        ]
    );

    let fx = step(
        &mut node,
        20,
        msg(1, append(3, LogId::new(1, 2), vec![noop(3, 3)], 2)),
    );
    assert_eq!(
        fx,
        vec![
            Fx::Append(
                2,
                Record::Entries {
                    entries: vec![noop(3, 3)]
                }
            ),
            Fx::Send(1, ack(3, 2, 0)),
        ],
        "only the durable, verified prefix is acknowledged"
    );
    assert_eq!(node.log_view().last_id(), LogId::new(3, 3));
    assert_eq!(node.commit_index(), 2);
    assert_eq!(step(&mut node, 21, Input::Persisted { token: 1 }), vec![]);
    assert_eq!(
        step(&mut node, 22, Input::Persisted { token: 2 }),
        vec![Fx::Send(1, ack(3, 3, 0))]
    );
}

#[test]
fn an_old_term_entry_commits_only_with_a_current_term_entry() {
    // Figure 8: entry 2 of term 2 is on a majority but must not commit by count.
    let records = vec![
        Record::HardState {
            term: 2,
            voted_for: Some(NodeId(1)),
        }
        .encode(),
        Record::Entries {
            entries: vec![noop(1, 1), noop(2, 2)],
        }
        .encode(),
    ];
    let mut node = boot(1, &[1, 2, 3], &records, &config());
    step(&mut node, 0, Input::Start);
    step(&mut node, 1_000, Input::Timer(TIMER_ELECTION));
    step(
        &mut node,
        1_001,
        msg(
            2,
            Message::VoteResponse {
                term: 3,
                granted: true,
                pre_vote: true,
            },
        ),
    );
    step(
        &mut node,
        1_001,
        msg(
            2,
            Message::VoteResponse {
                term: 3,
                granted: true,
                pre_vote: false,
            },
        ),
    );
    step(&mut node, 1_002, Input::Persisted { token: 1 });
    assert_eq!((node.role(), node.term()), (Role::Leader, 3));
    step(&mut node, 1_003, Input::Persisted { token: 2 });

    step(&mut node, 1_004, msg(2, ack(3, 2, 0)));
    assert_eq!(
        node.commit_index(),
        0,
        "index 2 is replicated on a majority but is of term 2"
    );
    step(&mut node, 1_005, msg(2, ack(3, 3, 0)));
    assert_eq!(node.commit_index(), 3);
    assert_eq!(node.applied_index(), 3);
}

#[test]
fn a_rejection_backtracks_past_the_followers_conflicting_term() {
    let (mut node, _) = leader(&[1, 2, 3], &config());
    for _ in 0..3 {
        step(
            &mut node,
            1_100,
            request(
                1,
                crate::Request::Put {
                    key: "k".into(),
                    value: "v".into(),
                },
            ),
        );
    }
    // Node 2 rejects prev 3, holding a term there that the leader never had.
    let reject = Message::AppendResponse {
        term: 1,
        success: false,
        match_index: 0,
        rejected_prev: 3,
        hint: Some(ConflictHint {
            term: Some(7),
            index: 2,
        }),
        read_seq: 0,
    };
    let fx = step(&mut node, 1_200, msg(2, reject));
    let [Fx::Send(2, Message::AppendEntries { prev, entries, .. })] = fx.as_slice() else {
        panic!("expected one resend, got {fx:?}");
    };
    assert_eq!(
        *prev,
        LogId::new(1, 1),
        "resent from the follower's conflicting term"
    );
    assert_eq!(
        entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        [2, 3, 4]
    );
}
