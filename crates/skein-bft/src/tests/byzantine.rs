//! Each §5 behaviour with n=6, f=1: correct replicas agree on the executed
//! prefix, execute only client-issued requests, each at most once, and keep
//! making progress (replacing the primary when it misbehaves).

use super::harness::{config, Cluster};
use crate::{ByzantineBehaviour as B, Op, View};

fn run(b: B, byz: usize, seed: u64) -> Cluster {
    let mut c = Cluster::new(6, config(), seed);
    assert!(c.run_until(200, |c| c.stable_view() == Some(View::V(0))));
    c.set_byzantine(byz, Some(b));
    for x in 100..106 {
        c.submit((x - 100) as u32, x as u64, Op::Append(x));
        c.run_ticks(2);
        c.check_safety().unwrap();
    }
    let want: Vec<i64> = (100..106).collect();
    let mut ok = false;
    for _ in 0..20 {
        // A client re-sends what it has no reply for (§3: the original retries).
        // A Byzantine primary may order them differently from the submission.
        ok = c.run_until(100, |c| {
            let first = c.list(c.correct()[0]).to_vec();
            let mut sorted = first.clone();
            sorted.sort();
            sorted == want && c.all_correct_have(&first)
        });
        if ok {
            break;
        }
        c.resubmit_unexecuted();
    }
    c.check_safety().unwrap();
    assert!(
        ok,
        "{b:?} at {byz}, seed {seed}: views {:?} lists {:?}",
        (0..6).map(|k| c.view(k)).collect::<Vec<_>>(),
        (0..6).map(|k| c.list(k).to_vec()).collect::<Vec<_>>()
    );
    c
}

#[test]
fn every_behaviour_at_the_primary_keeps_safety_and_progress() {
    for (i, b) in B::ALL.into_iter().enumerate() {
        run(b, 0, 100 + i as u64);
    }
}

#[test]
fn every_behaviour_at_a_backup_keeps_safety_and_progress() {
    for (i, b) in B::ALL.into_iter().enumerate() {
        let c = run(b, 3, 200 + i as u64);
        // A misbehaving backup is no reason to change the view.
        if !matches!(b, B::Unresponsive | B::UnresponsiveToHalf) {
            assert_eq!(c.stable_view(), Some(View::V(0)), "{b:?}");
        }
    }
}

/// Claim 24 + PM: a primary that stops assigning is replaced by view 1,
/// whose primary executes the request.
#[test]
fn stop_assigning_primary_is_replaced() {
    let c = run(B::StopAssigningSeqnums, 0, 300);
    assert_eq!(c.stable_view(), Some(View::V(1)));
}

/// Theorem 11: a Byzantine VE node cannot move correct nodes off a stable view.
#[test]
fn different_views_and_forcing_reset_do_not_leave_the_stable_view() {
    for b in [B::DifferentViews, B::ForcingReset] {
        let mut c = Cluster::new(6, config(), 400);
        assert!(c.run_until(200, |c| c.stable_view() == Some(View::V(0))));
        c.set_byzantine(0, Some(b));
        for _ in 0..100 {
            c.run_ticks(1);
            for k in 1..6 {
                assert_eq!(c.view(k), View::V(0), "{b:?}: node {k} left view 0");
            }
        }
    }
}
