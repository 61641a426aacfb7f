//! BFTLIST.md §6.2 replication and primary-monitoring scenarios from
//! injected start states (Claims 12, 14, 24, 25; Lemmas 17, 19, 20, 26; the
//! 3σK lag case; n = 11, f = 2). Requests are numbered from seq 0 here (the
//! thesis numbers from 1), so "r1 at seq 1" of the spec is r1 at seq 0.
//!
//! Each scenario: *given* a state written into every node (its own
//! structure and every copy of the others', as if already exchanged),
//! *when* the cluster runs, *then* the spec's expected state, asserted on
//! the replicas' structures.

use super::harness::{config, Cluster};
use crate::config::Params;
use crate::pm::PmStatus;
use crate::rep::{RepState, Replica, ReqEntry};
use crate::types::{ClientRequest, Op, Phases, Request, View, ViewPair};
use crate::{BftConfig, ByzantineBehaviour as B};
use std::collections::BTreeSet;

/// Client `client`'s request number `ts`, appending `x`.
fn creq(client: u32, ts: u64, x: i64) -> ClientRequest {
    ClientRequest {
        client,
        ts,
        op: Op::Append(x),
    }
}

/// r_x of the spec: appends x, from client x (one client per request: a
/// client's older request ordered after its newer one would run as NO_OP,
/// [EXT] exactly-once).
fn r(x: i64) -> ClientRequest {
    creq(x as u32, 1, x)
}

/// A structure that executed `reqs` in order at seqs 0, 1, … in view 0,
/// each committed by `xset(seq)`.
fn executed_with(
    n: usize,
    cfg: &BftConfig,
    reqs: &[ClientRequest],
    xset: impl Fn(i64) -> BTreeSet<usize>,
) -> Replica {
    let p = Params::new(n, 0, cfg);
    let mut rs = RepState::new(n);
    for (s, c) in reqs.iter().enumerate() {
        let seq = s as i64;
        let req = Request {
            creq: c.clone(),
            view: 0,
            seq,
        };
        rs.commit(&p, req, xset(seq));
    }
    // As a primary that assigned them would have it.
    rs.rep[0].seq = rs.rep[0].last_exec();
    rs.rep[0].clone()
}

fn executed(n: usize, cfg: &BftConfig, reqs: &[ClientRequest]) -> Replica {
    executed_with(n, cfg, reqs, |_| (0..n).collect())
}

/// Writes `given[k]` as node k's structure at every node.
fn give(c: &mut Cluster, given: &[Replica]) {
    for j in 0..c.n() {
        let st = c.nodes[j].state_mut();
        for (k, g) in given.iter().enumerate() {
            st.rep.rep[k] = g.clone();
        }
    }
}

/// A cluster in a stable view 0 (no requests yet).
fn stable(n: usize, cfg: BftConfig, seed: u64) -> Cluster {
    let mut c = Cluster::new(n, cfg, seed);
    assert!(
        c.run_until(400, |c| c.stable_view() == Some(View::V(0))),
        "seed {seed}: no stable view 0"
    );
    c
}

fn lists(c: &Cluster) -> Vec<Vec<i64>> {
    (0..c.n()).map(|k| c.list(k).to_vec()).collect()
}

fn own(c: &Cluster, k: usize) -> &Replica {
    &c.nodes[k].state().rep.rep[k]
}

/// A six-replica Rep environment serving view 0.
fn serving_in_view_0(p: &Params) -> crate::rep::Env<'_> {
    crate::rep::Env {
        p,
        allow: true,
        cv: vec![View::V(0); 6],
        pm_ok: true,
        byz: None,
    }
}

/// Claim 12 (local): a node whose own sequence number is outside its
/// window, or whose queue holds one request under two numbers, flushes its
/// Rep state (and asks VE for a reset).
#[test]
fn claim12_out_of_window_or_double_numbered_state_is_flushed() {
    let cfg = config();
    let p = Params::new(6, 0, &cfg);
    let env = serving_in_view_0(&p);
    let base = executed(6, &cfg, &[r(1)]);
    let out_of_window = Replica {
        seq: base.last_exec() + p.sigma_k() as i64 + 1,
        ..base.clone()
    };
    let mut twice = base.clone();
    for seq in [1, 2] {
        twice.reqq.push(ReqEntry {
            req: Request {
                creq: r(2),
                view: 0,
                seq,
            },
            status: Phases::PRE_PREP,
        });
    }
    for (name, bad) in [("out of window", out_of_window), ("double", twice)] {
        let mut rs = RepState::new(6);
        for k in 0..6 {
            rs.rep[k] = base.clone();
        }
        rs.rep[0] = bad;
        let out = rs.iterate(&env);
        assert!(out.flushed && rs.need_flush, "{name}: not flushed");
        assert!(rs.rep[0].is_tee(), "{name}: own structure kept");
    }
}

/// Claim 14 / Lemma 17: given view 0 stable and states [1],[1],[2],[3],
/// [2],[3] with matching one-entry logs (no Q2 agree on a prefix), when the
/// replicas run, then every state and log is empty (the conflict flushes
/// everyone) and stays so.
#[test]
fn claim14_lemma17_no_common_prefix_flushes_everyone() {
    let cfg = config();
    let mut c = stable(6, cfg.clone(), 41);
    let given: Vec<Replica> = [1, 1, 2, 3, 2, 3]
        .iter()
        .map(|&x| executed(6, &cfg, &[creq(x as u32, 1, x)]))
        .collect();
    give(&mut c, &given);
    c.issued.extend([1, 2, 3]);
    let empty = |c: &Cluster| {
        (0..6).all(|k| own(c, k).rlog.is_empty() && c.list(k).is_empty())
            && c.stable_view().is_some()
    };
    assert!(c.run_until(600, empty), "lists {:?}", lists(&c));
    c.run_ticks(30);
    assert!(empty(&c), "not kept: lists {:?}", lists(&c));
}

/// Lemma 19: given node 0 executed [1,2,3] where r3's commit set is {0,1}
/// (< Q2), the others [1,2], and node 1 also holds r3 with all statuses,
/// when the replicas run, then node 0 drops the entry: state [1,2], log of
/// 2 (and r3 is not executed anywhere, held by fewer than Q2).
#[test]
fn lemma19_an_entry_committed_by_too_few_is_undone() {
    let cfg = config();
    let mut c = stable(6, cfg.clone(), 42);
    let few: BTreeSet<usize> = [0, 1].into_iter().collect();
    let node0 = executed_with(6, &cfg, &[r(1), r(2), r(3)], |s| {
        if s == 2 {
            few.clone()
        } else {
            (0..6).collect()
        }
    });
    let two = executed(6, &cfg, &[r(1), r(2)]);
    let mut node1 = two.clone();
    node1.reqq.push(ReqEntry {
        req: node0.rlog[2].req.clone(),
        status: Phases::ALL,
    });
    let mut given = vec![two.clone(); 6];
    given[0] = node0;
    given[1] = node1;
    give(&mut c, &given);
    c.issued.extend([1, 2, 3]);
    let done =
        |c: &Cluster| c.list(0) == [1, 2] && own(c, 0).rlog.len() == 2 && c.stable_view().is_some();
    assert!(c.run_until(600, done), "lists {:?}", lists(&c));
    c.run_ticks(30);
    assert!(c.all_correct_have(&[1, 2]), "lists {:?}", lists(&c));
    c.check_safety().unwrap();
}

/// The correct replicas agree on [1] followed by r2 and r3. The spec says
/// [1,2,3]; the order of r2 and r3 is whichever Q2 replicas knew first (in
/// case 1, r2 is in the `pend` of 3 < Q2 replicas at first: node 1 already
/// executed it), and the primary numbers known requests only.
fn one_then_two_and_three(c: &Cluster) -> bool {
    let first = c.list(c.correct()[0]).to_vec();
    let ok = first == [1, 2, 3] || first == [1, 3, 2];
    ok && c.all_correct_have(&first)
}

/// Lemma 20 case 1: given states [1],[1,2],[1],[1],[2],[3] and nodes 0–3
/// with r2, r3 pending, when the replicas run, then all reach [1] with r2
/// and r3 after it (nodes 4, 5 adopt the Q2 prefix [1]).
#[test]
fn lemma20_case1_the_majority_prefix_continues() {
    let mut c = lemma20_case1(config(), 43);
    let ok = c.run_until(1500, one_then_two_and_three);
    assert!(ok, "lists {:?}", lists(&c));
    c.check_safety().unwrap();
}

/// The start state of Lemma 20 case 1, written into a stable cluster.
fn lemma20_case1(cfg: BftConfig, seed: u64) -> Cluster {
    let mut c = stable(6, cfg.clone(), seed);
    let one = executed(6, &cfg, &[r(1)]);
    let mut given = vec![
        one.clone(),
        executed(6, &cfg, &[r(1), r(2)]),
        one.clone(),
        one.clone(),
        executed(6, &cfg, &[creq(4, 1, 2)]),
        executed(6, &cfg, &[creq(5, 1, 3)]),
    ];
    for g in given.iter_mut().take(4) {
        g.pend = vec![r(2), r(3)];
    }
    give(&mut c, &given);
    c.issued.extend([1, 2, 3]);
    c
}

/// A replica that executed r2 ahead of the others keeps it in `pend` while
/// Q2 − 1 others wait for it, drops it when they no longer do, and takes it
/// back when their copies show them waiting again (a copy may be older
/// than the state it is compared with).
#[test]
fn an_executed_request_others_wait_for_stays_pending() {
    let cfg = config();
    let p = Params::new(6, 1, &cfg);
    let env = serving_in_view_0(&p);
    let mut waiting = executed(6, &cfg, &[r(1)]);
    waiting.pend = vec![r(2), r(3)];
    let mut rs = RepState::new(6);
    for k in 0..6 {
        rs.rep[k] = waiting.clone();
    }
    rs.rep[1] = executed(6, &cfg, &[r(1), r(2)]);
    rs.rep[1].pend = vec![r(2), r(3)];
    rs.advance(&env);
    assert!(rs.rep[1].pend.contains(&r(2)), "{:?}", rs.rep[1].pend);
    for k in [0, 2, 3, 4, 5] {
        rs.rep[k].pend = vec![r(3)];
    }
    rs.advance(&env);
    assert!(!rs.rep[1].pend.contains(&r(2)), "{:?}", rs.rep[1].pend);
    for k in [0, 2, 3] {
        rs.rep[k].pend = vec![r(2), r(3)];
    }
    rs.advance(&env);
    assert!(rs.rep[1].pend.contains(&r(2)), "{:?}", rs.rep[1].pend);
}

/// Lemma 20 case 1 under other schedules, in both replication modes. Node
/// 1 executed r2 ahead of the Q2 prefix; when it dropped r2 from `pend` as
/// executed before the primary numbered it, r2 was in only three `pend`s
/// (< Q2), r3 took seq 1, and r2 never executed (seeds 1–5 and 8
/// tick-driven, 8 event-driven, before `RepState::awaited`).
#[test]
fn lemma20_case1_r2_is_not_lost_under_other_schedules() {
    for event_driven_replication in [false, true] {
        for seed in 0..10 {
            let cfg = BftConfig {
                event_driven_replication,
                ..config()
            };
            let mut c = lemma20_case1(cfg, seed);
            let ok = c.run_until(300, one_then_two_and_three);
            assert!(
                ok,
                "seed {seed} event-driven {event_driven_replication}: lists {:?}",
                lists(&c)
            );
            c.check_safety().unwrap();
        }
    }
}

/// Lemma 20 case 2 (n = 11, f = 2: Q1 9, Q2 7, Q3 5): given 5 nodes at [1]
/// with r2, r3 pending, 4 empty, 2 at [5], when the replicas run (and the
/// client's r2, r3 reach every replica, §3), then all reach [1] with r2
/// and r3 after it (see `one_then_two_and_three`): no Q2
/// agree, `ds_state` takes the Q3 prefix [1] (5 compatible + 4 empty ≥ Q1).
#[test]
fn lemma20_case2_n11_f2_partially_flushed_consolidates() {
    let cfg = BftConfig { f: 2, ..config() };
    let mut c = stable(11, cfg.clone(), 44);
    let mut one = executed(11, &cfg, &[r(1)]);
    one.pend = vec![r(2), r(3)];
    let five = executed(11, &cfg, &[creq(5, 1, 5)]);
    let mut given = vec![one; 5];
    given.extend(vec![Replica::default(); 4]);
    given.extend(vec![five; 2]);
    give(&mut c, &given);
    c.issued.extend([1, 2, 3, 5]);
    c.submit(2, 1, Op::Append(2));
    c.submit(3, 1, Op::Append(3));
    let ok = c.run_until(2000, one_then_two_and_three);
    assert!(ok, "lists {:?}", lists(&c));
    c.check_safety().unwrap();
}

/// PM pinned (the thesis' FORCE_NO_VIEW_CHANGE): thresholds no run reaches.
fn pm_pinned() -> BftConfig {
    BftConfig {
        beat_threshold: Some(u32::MAX),
        cnt_threshold: Some(u32::MAX),
        ..config()
    }
}

/// All at [1] (r1 at seq 0) with r2, r3 pending.
fn one_with_two_pending(cfg: &BftConfig) -> Replica {
    let mut one = executed(6, cfg, &[r(1)]);
    one.pend = vec![r(2), r(3)];
    one
}

/// Claim 24: given all at [1] with r1 logged and r2, r3 pending, the
/// primary (node 0) running a replication behaviour of §5 and the view
/// pinned, when 10 s pass, then no correct replica changed: state [1], log
/// of 1, both requests pending, nothing prepared (ASSIGN_DIFFERENT_SEQNUMS:
/// state and log only, see below). REUSE_SEQNUMS is left
/// out: here it reuses the lowest number of the window (le + 1), not the
/// last one as the original, so its requests are in the window and do
/// execute (its safety is in `tests::byzantine`).
#[test]
fn claim24_a_misbehaving_primary_changes_nothing() {
    let cfg = pm_pinned();
    for (i, b) in [
        B::StopAssigningSeqnums,
        B::AssignDifferentSeqnums,
        B::SeqnumOutBound,
        B::WrongCcsp,
        B::ModifyClientReq,
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = stable(6, cfg.clone(), 50 + i as u64);
        c.set_byzantine(0, Some(b));
        give(&mut c, &vec![one_with_two_pending(&cfg); 6]);
        c.issued.extend([1, 2, 3]);
        c.run_ms(10_000);
        for k in c.correct() {
            let rs = own(&c, k);
            assert_eq!(c.list(k), [1], "{b:?}: node {k}");
            assert_eq!(rs.rlog.len(), 1, "{b:?}: node {k}");
            assert_eq!(c.view(k), View::V(0), "{b:?}: node {k}");
            if b == B::AssignDifferentSeqnums {
                // The odd replicas prepare the shifted numbers with the
                // primary's own vote (3 + 1 = Q2 for n = 6), but nothing
                // fills the numbers below them, so nothing executes.
                continue;
            }
            assert_eq!(rs.pend.len(), 2, "{b:?}: node {k} pend {:?}", rs.pend);
            assert!(
                rs.reqq.iter().all(|e| !e.status.contains(Phases::PREP)),
                "{b:?}: node {k} prepared {:?}",
                rs.reqq
            );
        }
    }
}

/// Claim 25: given all at [1] with r2, r3 pending and r2 pre-prepared by
/// view 0 at seq 1, when the current view is forced to 1, then the new
/// primary renews r2 and all reach [1,2,3], a log of 3, empty pend and
/// queue.
#[test]
fn claim25_a_pre_prepared_request_survives_the_view_change() {
    let cfg = config();
    let mut c = stable(6, cfg.clone(), 45);
    let mut given = one_with_two_pending(&cfg);
    given.reqq.push(ReqEntry {
        req: Request {
            creq: r(2),
            view: 0,
            seq: 1,
        },
        status: Phases::PRE_PREP,
    });
    give(&mut c, &vec![given; 6]);
    c.issued.extend([1, 2, 3]);
    for k in 0..6 {
        let ve = &mut c.nodes[k].state_mut().ve;
        ve.views = vec![ViewPair::same(1); 6];
        ve.phs = vec![0; 6];
    }
    let done = |c: &Cluster| {
        c.correct().iter().all(|&k| {
            let rs = own(c, k);
            c.list(k) == [1, 2, 3] && rs.rlog.len() == 3 && rs.pend.is_empty() && rs.reqq.is_empty()
        })
    };
    assert!(
        c.run_until(1000, done),
        "{:?}",
        (0..6)
            .map(|k| (
                c.list(k).to_vec(),
                own(&c, k).rlog.clone(),
                own(&c, k).reqq.clone()
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(c.stable_view(), Some(View::V(1)));
}

/// Lemma 26: given view 0 pinned (the non-self-stabilizing mode fixes it),
/// node 1 with beat[0] = 55, node 2 with cnt = 35, nodes 3 and 4 already
/// suspecting and node 5 with a stale check list, when the FD and PM run,
/// then every node is in NO_SERVICE or V_CHANGE with need_change true.
#[test]
fn lemma26_inherited_suspicions_stop_the_primary() {
    let cfg = BftConfig {
        self_stabilizing: false,
        ..config()
    };
    let mut c = Cluster::new(6, cfg, 46);
    c.run_ticks(10);
    // Held for a few ticks: a token from the primary resets beat[0] and, with
    // nothing pending, counts as progress (cnt 0) before the others' tokens
    // let nodes 1 and 2 act on the injected values.
    for _ in 0..3 {
        let fd = &mut c.nodes[1].state_mut().fd;
        if !fd.susp[1] {
            fd.beat[0] = 55;
        }
        let fd = &mut c.nodes[2].state_mut().fd;
        if !fd.susp[2] {
            fd.cnt = 35;
        }
        for k in [3, 4] {
            c.nodes[k].state_mut().fd.susp[k] = true;
        }
        c.nodes[5].state_mut().fd.check = vec![r(7), r(8)];
        c.run_ms(c.tick_ms / 3);
    }
    let demanding = |c: &Cluster| {
        (0..6).all(|k| {
            let own = &c.nodes[k].state().pm.vcm[k];
            own.status != PmStatus::Ok && own.need_change
        })
    };
    let ok = c.run_until(300, demanding);
    assert!(
        ok,
        "pm {:?}",
        (0..6)
            .map(|k| c.nodes[k].state().pm.vcm[k].clone())
            .collect::<Vec<_>>()
    );
}

/// Lemma 26 variant (VE live): given view 0 stable and nodes 2–5 in
/// NO_SERVICE with need_change and suspecting, when the replicas run, then
/// all move on: PM's prim is view 1 everywhere and need_change is false.
#[test]
fn lemma26_inherited_demands_replace_the_primary() {
    let mut c = stable(6, config(), 47);
    // Held for a few ticks, until the messages sent before it are delivered.
    for _ in 0..3 {
        for j in 0..6 {
            let st = c.nodes[j].state_mut();
            for k in 2..6 {
                st.pm.vcm[k].status = PmStatus::NoService;
                st.pm.vcm[k].need_change = true;
                st.fd.susp[k] = true;
            }
        }
        c.run_ticks(1);
    }
    let moved = |c: &Cluster| {
        c.stable_view() == Some(View::V(1))
            && (0..6).all(|k| {
                let own = &c.nodes[k].state().pm.vcm[k];
                own.prim == View::V(1) && !own.need_change
            })
    };
    let ok = c.run_until(1000, moved);
    assert!(
        ok,
        "views {:?} pm {:?}",
        (0..6).map(|k| c.view(k)).collect::<Vec<_>>(),
        (0..6)
            .map(|k| c.nodes[k].state().pm.vcm[k].clone())
            .collect::<Vec<_>>()
    );
}

/// 3σK lag (K = 1: σK 5, log bound 15): given nodes 0–4 at 0..19 with the
/// last 15 log entries and node 5 at [0], when the replicas run, then node
/// 5 is `delayed()` and adopts 0..19 with a log of 15.
#[test]
fn lag_beyond_3_sigma_k_adopts_the_consolidated_state() {
    let cfg = BftConfig {
        clients_max: 1,
        ..config()
    };
    let mut c = stable(6, cfg.clone(), 48);
    let reqs: Vec<ClientRequest> = (0..20).map(|x| creq(0, x as u64 + 1, x)).collect();
    let ahead = executed(6, &cfg, &reqs);
    assert_eq!(ahead.rlog.len(), 15);
    let mut given = vec![ahead; 6];
    given[5] = executed(6, &cfg, &reqs[..1]);
    give(&mut c, &given);
    c.issued.extend(0..20);
    let want: Vec<i64> = (0..20).collect();
    let ok = c.run_until(300, |c| c.list(5) == want && own(c, 5).rlog.len() == 15);
    assert!(ok, "node 5: {:?}", c.list(5));
    assert!(c.all_correct_have(&want));
}

/// A corrupted own `prim` naming a replica past the last one: the eager
/// step (which runs before the tick's step 3 replaces it) leaves the
/// three-phase steps to the tick instead of indexing past the structures
/// (a panic, long sweep seed 108 event-driven).
#[test]
fn an_eager_step_with_an_out_of_range_primary_does_not_panic() {
    let cfg = config();
    let p = Params::new(6, 1, &cfg);
    let env = serving_in_view_0(&p);
    let mut rs = RepState::new(6);
    for k in 0..6 {
        rs.rep[k] = executed(6, &cfg, &[r(1)]);
        rs.rep[k].pend = vec![r(2)];
    }
    rs.rep[1].prim = View::V(6);
    rs.advance(&env);
    rs.rep[1].prim = View::V(1);
    rs.advance(&env);
}
