//! §6.2 view-establishment scenarios from injected start states, and a
//! bounded seed sweep.

use super::harness::{config, Cluster};
use crate::types::{View, ViewPair};
use crate::{ByzantineBehaviour as B, Op};

fn pair(cur: usize, next: usize) -> ViewPair {
    ViewPair {
        cur: View::V(cur),
        next: View::V(next),
    }
}

fn inject(c: &mut Cluster, views: &[ViewPair], phases: &[u8], vchg: &[bool]) {
    for k in 0..c.n() {
        let ve = &mut c.nodes[k].state_mut().ve;
        ve.views = views.to_vec();
        ve.phs = phases.to_vec();
        ve.vchg = vchg.to_vec();
    }
}

/// Lemma 1 / VE stale info: all nodes reach (0,0), phase 0, vchg false.
#[test]
fn lemma1_stale_view_information_resets_to_view_zero() {
    let mut c = Cluster::new(6, config(), 21);
    let views = [
        pair(1, 2),
        pair(5, 2),
        pair(2, 5),
        pair(2, 2),
        pair(0, 0),
        pair(0, 0),
    ];
    inject(&mut c, &views, &[0, 0, 1, 1, 0, 0], &[false; 6]);
    assert!(c.run_until(500, |c| c.stable_view() == Some(View::V(0))));
    for k in 0..6 {
        let ve = &c.nodes[k].state().ve;
        assert_eq!((ve.views[k], ve.phs[k], ve.vchg[k]), (pair(0, 0), 0, false));
    }
}

/// Theorem 10 / convergence by reset.
#[test]
fn theorem10_inconsistent_views_converge_by_reset() {
    let mut c = Cluster::new(6, config(), 22);
    let views = [
        pair(1, 1),
        pair(2, 2),
        pair(2, 3),
        pair(0, 0),
        pair(4, 4),
        pair(4, 4),
    ];
    inject(
        &mut c,
        &views,
        &[0, 0, 1, 0, 0, 0],
        &[true, true, true, true, false, false],
    );
    assert!(c.run_until(500, |c| c.stable_view().is_some()));
}

/// Theorem 10 / demanded change: all (1,1), vchg at 0–4 → all (2,2).
#[test]
fn theorem10_demanded_change_moves_to_the_next_view() {
    let mut c = Cluster::new(6, config(), 23);
    for k in 0..6 {
        // Everyone sees everyone at (1,1) already echoed.
        let ve = &mut c.nodes[k].state_mut().ve;
        ve.views = vec![pair(1, 1); 6];
        ve.phs = vec![0; 6];
        ve.vchg = vec![true, true, true, true, true, false];
    }
    assert!(
        c.run_until(500, |c| c.stable_view() == Some(View::V(2))),
        "views {:?}",
        (0..6).map(|k| c.view(k)).collect::<Vec<_>>()
    );
}

/// A bounded seed sweep (CI): a Byzantine node, 5 % loss, corruption of
/// every correct node, then safety and progress. Longer:
/// `cargo test -p skein-bft --release -- --ignored seed_sweep_long`.
#[test]
fn seed_sweep_short() {
    sweep(0..3);
}

#[test]
#[ignore]
fn seed_sweep_long() {
    sweep(0..200);
}

fn sweep(seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let b = B::ALL[seed as usize % B::ALL.len()];
        let byz = (seed as usize / B::ALL.len()) % 6;
        let mut c = Cluster::new(6, config(), 1000 + seed);
        c.loss = 0.05;
        // §1: VE converges only in a malicious-free period, so the VE attacks
        // start once a view is established (known gap, see ALGORITHM.md).
        let ve_attack = matches!(b, B::DifferentViews | B::ForcingReset);
        c.byzantine.insert(byz);
        if !ve_attack {
            c.set_byzantine(byz, Some(b));
        }
        c.run_ticks(50);
        for k in c.correct() {
            c.corrupt(k);
        }
        c.issued.extend(0..10);
        assert!(
            c.run_until(2000, |c| c.stable_view().is_some()),
            "seed {seed} {b:?}@{byz}: no stable view"
        );
        if ve_attack {
            c.set_byzantine(byz, Some(b));
        }
        for (i, x) in (500..503).enumerate() {
            c.submit(i as u32, 1000, Op::Append(x));
        }
        let mut ok = false;
        for _ in 0..20 {
            ok = c.run_until(100, |c| {
                c.correct()
                    .iter()
                    .all(|&k| (500..503).all(|x| c.list(k).contains(&x)))
            });
            if ok {
                break;
            }
            c.resubmit_unexecuted();
        }
        assert!(
            ok,
            "seed {seed} {b:?}@{byz}: no progress; lists {:?}",
            (0..6).map(|k| c.list(k).to_vec()).collect::<Vec<_>>()
        );
        c.check_safety()
            .unwrap_or_else(|e| panic!("{b:?}@{byz}: {e}"));
    }
}

/// A view change split by DIFFERENT_VIEWS (simulator seed 7 with
/// event-driven replication, ALGORITHM.md): the Byzantine node 0 shows
/// (1,1) to even nodes and (2,2) to odd ones, so node 4 established view 1
/// with Q1 while node 2 was still in phase 0; node 2 then reset. Three
/// correct nodes wait in phase 1 for (0 → 1), held there by node 2's
/// RST_PAIR (its `next` is their `cur`), node 4 waits alone in view 1, node
/// 2 in RST_PAIR, and RST_PAIR counted as support for staying in phase 1.
/// The correct nodes must reach a stable view (through a reset to view 0).
#[test]
fn a_view_change_split_by_different_views_recovers() {
    let mut c = Cluster::new(6, config(), 31);
    c.set_byzantine(0, Some(B::DifferentViews));
    let rst = crate::types::RST_PAIR;
    for k in 1..6 {
        let ve = &mut c.nodes[k].state_mut().ve;
        ve.views = vec![
            pair(0, 1),
            pair(0, 1),
            rst,
            pair(0, 1),
            pair(1, 1),
            pair(0, 1),
        ];
        ve.phs = vec![1, 1, 0, 1, 0, 1];
        ve.views[0] = if k % 2 == 0 { pair(1, 1) } else { pair(2, 2) };
        ve.phs[0] = 0;
        ve.vchg = vec![false; 6];
    }
    let stable = c.run_until(300, |c| c.stable_view().is_some());
    assert!(
        stable,
        "no stable view after 300 ticks: {:?}",
        (1..6)
            .map(|k| {
                let ve = &c.nodes[k].state().ve;
                (ve.views[k], ve.phs[k])
            })
            .collect::<Vec<_>>()
    );
}

/// Three correct nodes in phase 1 for (0 → 1), three in RST_PAIR after a
/// transient fault (simulator seed 26 with event-driven replication, no VE
/// attack): neither side has Q2, and the reset nodes' `next` (view 0) held
/// the others in phase 1 for good. They must reach a stable view.
#[test]
fn half_in_phase_one_half_reset_converge() {
    let mut c = Cluster::new(6, config(), 32);
    let rst = crate::types::RST_PAIR;
    inject(
        &mut c,
        &[rst, pair(0, 1), pair(0, 1), rst, pair(0, 1), rst],
        &[0, 1, 1, 0, 1, 0],
        &[false; 6],
    );
    let stable = c.run_until(300, |c| c.stable_view().is_some());
    assert!(
        stable,
        "no stable view after 300 ticks: {:?}",
        (0..6)
            .map(|k| {
                let ve = &c.nodes[k].state().ve;
                (ve.views[k], ve.phs[k])
            })
            .collect::<Vec<_>>()
    );
}
