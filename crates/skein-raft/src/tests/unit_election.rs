//! Exact-effect tests of elections, pre-vote, the vote lease and vote persistence.

use super::fx::*;
use crate::message::{LogId, Message};
use crate::storage::Record;
use crate::{Entry, Payload, Role, TIMER_ELECTION, TIMER_HEARTBEAT};
use skein_core::{Input, NodeId};

fn vote_request(term: u64, pre_vote: bool, force: bool) -> Message {
    Message::RequestVote {
        term,
        last: LogId::default(),
        pre_vote,
        force,
    }
}

fn vote(term: u64, granted: bool, pre_vote: bool) -> Message {
    Message::VoteResponse {
        term,
        granted,
        pre_vote,
    }
}

fn heartbeat(term: u64) -> Message {
    Message::AppendEntries {
        term,
        prev: LogId::default(),
        entries: vec![],
        leader_commit: 0,
        read_seq: 0,
    }
}

#[test]
fn pre_vote_then_vote_then_leadership_once_the_own_vote_is_durable() {
    let mut node = boot(1, &[1, 2, 3], &[], &config());
    let start = convert(step_raw(&mut node, 0, Input::Start));
    assert!(matches!(start.as_slice(), [Fx::Timer(TIMER_ELECTION, ms)] if (150..300).contains(ms)));

    let fx = step(&mut node, 1_000, Input::Timer(TIMER_ELECTION));
    let pre = vote_request(1, true, false);
    assert_eq!(fx, vec![Fx::Send(2, pre.clone()), Fx::Send(3, pre)]);
    assert_eq!(
        (node.role(), node.term()),
        (Role::PreCandidate, 0),
        "pre-vote changes no term"
    );

    let fx = step(&mut node, 1_001, msg(2, vote(1, true, true)));
    let real = vote_request(1, false, false);
    let hard = Record::HardState {
        term: 1,
        voted_for: Some(NodeId(1)),
    };
    assert_eq!(
        fx,
        vec![
            Fx::Append(1, hard),
            Fx::Send(2, real.clone()),
            Fx::Send(3, real)
        ]
    );

    let fx = step(&mut node, 1_002, msg(2, vote(1, true, false)));
    assert_eq!(fx, vec![], "not leader before its own vote is durable");
    assert_eq!(node.role(), Role::Candidate);

    let fx = step(&mut node, 1_003, Input::Persisted { token: 1 });
    let noop = Entry {
        term: 1,
        index: 1,
        payload: Payload::Noop,
    };
    let append = Message::AppendEntries {
        term: 1,
        prev: LogId::default(),
        entries: vec![noop.clone()],
        leader_commit: 0,
        read_seq: 0,
    };
    assert_eq!(
        fx,
        vec![
            Fx::Timer(TIMER_HEARTBEAT, 50),
            Fx::Append(
                2,
                Record::Entries {
                    entries: vec![noop]
                }
            ),
            Fx::Send(2, append.clone()),
            Fx::Send(3, append),
        ]
    );
    assert_eq!(node.role(), Role::Leader);
}

#[test]
fn a_node_with_a_live_leader_refuses_pre_votes_and_unforced_votes() {
    let mut node = boot(2, &[1, 2, 3], &[], &config());
    step(&mut node, 0, Input::Start);
    step(&mut node, 100, msg(1, heartbeat(1)));
    assert_eq!((node.term(), node.leader()), (1, Some(NodeId(1))));

    let fx = step(&mut node, 200, msg(3, vote_request(2, true, false)));
    assert_eq!(fx, vec![Fx::Send(3, vote(1, false, true))]);
    let fx = step(&mut node, 200, msg(3, vote_request(2, false, false)));
    assert_eq!(fx, vec![Fx::Send(3, vote(1, false, false))]);
    assert_eq!(node.term(), 1, "a refused vote does not raise the term");

    // One minimum election timeout after the leader was last heard: granted.
    let fx = step(&mut node, 251, msg(3, vote_request(2, true, false)));
    assert_eq!(fx, vec![Fx::Send(3, vote(2, true, true))]);
    assert_eq!(node.term(), 1, "granting a pre-vote changes nothing");
}

#[test]
fn a_vote_is_sent_only_once_it_is_durable_and_never_twice_in_a_term() {
    let mut node = boot(2, &[1, 2, 3], &[], &config());
    step(&mut node, 0, Input::Start);
    step(&mut node, 100, msg(1, heartbeat(1))); // token 1: term 1
                                                // A forced vote (after TimeoutNow) passes the lease.
    let fx = step(&mut node, 120, msg(3, vote_request(2, false, true)));
    assert_eq!(
        fx,
        vec![
            Fx::Append(
                2,
                Record::HardState {
                    term: 2,
                    voted_for: None
                }
            ),
            Fx::Append(
                3,
                Record::HardState {
                    term: 2,
                    voted_for: Some(NodeId(3))
                }
            ),
        ],
        "nothing is sent before the vote is durable"
    );
    assert_eq!(step(&mut node, 121, Input::Persisted { token: 2 }), vec![]);
    let fx = step(&mut node, 122, Input::Persisted { token: 3 });
    assert_eq!(fx, vec![Fx::Send(3, vote(2, true, false))]);

    let fx = step(&mut node, 500, msg(1, vote_request(2, false, true)));
    assert_eq!(fx, vec![Fx::Send(1, vote(2, false, false))]);
    assert_eq!(node.voted_for(), Some(NodeId(3)));
}

#[test]
fn timeout_now_starts_a_forced_election_without_pre_vote() {
    let mut node = boot(2, &[1, 2, 3], &[], &config());
    step(&mut node, 0, Input::Start);
    step(&mut node, 100, msg(1, heartbeat(1)));
    let fx = step(&mut node, 110, msg(1, Message::TimeoutNow { term: 1 }));
    let request = Message::RequestVote {
        term: 2,
        last: LogId::default(),
        pre_vote: false,
        force: true,
    };
    assert_eq!(
        fx,
        vec![
            Fx::Append(
                2,
                Record::HardState {
                    term: 2,
                    voted_for: Some(NodeId(2))
                }
            ),
            Fx::Send(1, request.clone()),
            Fx::Send(3, request),
        ]
    );
    assert_eq!(node.role(), Role::Candidate);
}

#[test]
fn restart_recovers_term_vote_and_log_from_confirmed_records() {
    let (leader, records) = leader(&[1, 2, 3], &config());
    let restarted = boot(1, &[1, 2, 3], &records, &config());
    assert_eq!(restarted.term(), leader.term());
    assert_eq!(restarted.voted_for(), Some(NodeId(1)));
    assert_eq!(restarted.log_view(), leader.log_view());
    assert_eq!(restarted.role(), Role::Follower);
    assert_eq!(
        restarted.commit_index(),
        0,
        "commit is volatile; the leader tells it again"
    );
}
