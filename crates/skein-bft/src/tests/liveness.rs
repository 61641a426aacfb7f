//! Liveness after transient faults (BFTLIST.md §4, §6.1 items 6 and 8):
//! states found by the skein-sim sweep (`--faults all`) in which correct
//! replicas stayed stuck after the faults stopped.

use super::harness::{config, Cluster};
use crate::config::Params;
use crate::fd::{FdEnv, FdState};
use crate::pm::PmStatus;
use crate::rep::{Env, RepState, ReqEntry};
use crate::types::{ClientRequest, Op, Phases, Request, View};
use std::collections::BTreeSet;

fn creq(ts: u64) -> ClientRequest {
    ClientRequest {
        client: 0,
        ts,
        op: Op::Append(ts as i64),
    }
}

fn req(ts: u64, view: usize, seq: i64) -> Request {
    Request {
        creq: creq(ts),
        view,
        seq,
    }
}

fn env(p: &Params, view: usize) -> Env<'_> {
    Env {
        p,
        allow: true,
        cv: vec![View::V(view); p.n],
        pm_ok: true,
        byz: None,
    }
}

/// Sim seed 12: the new primary held a pre-prepared request (status
/// {PRE_PREP} only) between two prepared ones. The dummy fill ran before
/// `renew_reqs` dropped it, so its sequence number stayed empty and nothing
/// above it ever executed in the new view.
#[test]
fn new_primary_leaves_no_gap_below_prepared_requests() {
    let p = Params::new(6, 1, &config());
    let mut rs = RepState::new(6);
    for r in &mut rs.rep {
        r.view_changed = true;
    }
    rs.rep[1].reqq = vec![
        ReqEntry {
            req: req(1, 0, 0),
            status: Phases::PP_P,
        },
        ReqEntry {
            req: req(2, 0, 1),
            status: Phases::PRE_PREP,
        },
        ReqEntry {
            req: req(3, 0, 2),
            status: Phases::PP_P,
        },
    ];
    rs.new_primary(&env(&p, 1));
    let own = &rs.rep[1];
    assert!(!own.view_changed, "the new view was installed");
    for seq in 0..=2 {
        assert!(
            own.reqq.iter().any(|e| e.req.seq == seq),
            "no entry at seq {seq}: {:?}",
            own.reqq
        );
    }
}

/// Sim seeds 64, 114: three correct replicas kept an executed prefix, the
/// other structures executed nothing but hold pending requests. The Q2
/// consolidation is the empty prefix, so without catch-up the laggards stay
/// empty, cannot accept numbers past their window, and the cluster stalls.
#[test]
fn laggards_catch_up_with_a_q3_prefix() {
    let p = Params::new(6, 3, &config());
    let mut leader = RepState::new(6);
    let lp = Params::new(6, 0, &config());
    let all: BTreeSet<usize> = (0..6).collect();
    for s in 0..3 {
        leader.commit(&lp, req(s as u64 + 1, 0, s), all.clone());
    }
    let ahead = leader.rep[0].clone();
    let mut rs = RepState::new(6);
    for k in 0..6 {
        rs.rep[k] = if k < 3 {
            ahead.clone()
        } else {
            let mut r = crate::rep::Replica::default();
            r.pend.push(creq(9));
            r
        };
    }
    assert_eq!(
        rs.consolidate(&p).map(|x| rs.rep[x.base].last_exec()),
        Some(-1)
    );
    rs.iterate(&env(&p, 0));
    assert_eq!(rs.rep[3].last_exec(), 2, "the laggard caught up");
    assert_eq!(rs.rep[3].machine, ahead.machine);
}

/// Sim seeds 28, 64: a replica waiting for a new view (VIEW_CHANGE marker)
/// that is never installed must end up suspecting the primary; the spec's
/// "marker reads as empty" counted every token as progress.
#[test]
fn a_view_change_never_installed_is_suspected() {
    let p = Params::new(6, 1, &config());
    let cv = vec![View::V(0); 6];
    let mut fd = FdState::new(6);
    let waiting = FdEnv {
        cv: &cv,
        allow: true,
        pend_reqs: None,
    };
    for _ in 0..=p.cnt_threshold + 1 {
        fd.on_token(&p, 0, false, &waiting);
    }
    assert!(fd.susp[1], "cnt {}", fd.cnt);
    // Once the view is installed the marker leaves: progress.
    let mut fd = FdState::new(6);
    fd.on_token(&p, 0, false, &waiting);
    fd.on_token(&p, 0, false, &waiting);
    let installed = FdEnv {
        pend_reqs: Some(vec![]),
        ..waiting.clone()
    };
    fd.on_token(&p, 0, false, &installed);
    assert_eq!(fd.cnt, 0);
    assert!(!fd.susp[1]);
}

/// Sim seeds 73, 74, 120: after partitions, crashes and corruption, Q3
/// processors were left in NO_SERVICE with their failure detectors reset
/// (no suspicion). NO_SERVICE is kept while ≥ Q3 entries report it, and the
/// spec's FD does nothing outside status OK, so those nodes never suspected
/// the primary, Q2 suspicions were out of reach, and with the three-phase
/// protocol stopped at Q3 nodes nothing executed ever again. Running the FD
/// is not enough when the request came after the fault: NO_SERVICE nodes
/// keep frozen copies of the others' `pend`, so they must count their own.
#[test]
fn q3_nodes_stuck_in_no_service_still_lead_to_progress() {
    let mut c = Cluster::new(6, config(), 7);
    assert!(c.run_until(200, |c| c.stable_view() == Some(View::V(0))));
    c.submit(0, 1, Op::Append(1));
    assert!(c.run_until(100, |c| c.all_correct_have(&[1])));
    // The transient fault: three correct followers in NO_SERVICE (and seen
    // so by each other), FD reset; held until the messages in flight
    // before it are delivered.
    for _ in 0..5 {
        for k in 1..=3 {
            let st = c.nodes[k].state_mut();
            for j in 1..=3 {
                st.pm.vcm[j].status = PmStatus::NoService;
            }
            st.fd.reset();
        }
        c.run_ticks(1);
    }
    append_2_reaches_every_correct_list(&mut c);
}

/// A structure that executed r1..=r`count` at seqs 0.. in view 0.
fn executed(p: &Params, count: u64) -> crate::rep::Replica {
    let all: BTreeSet<usize> = (0..p.n).collect();
    let mut rs = RepState::new(p.n);
    let p0 = Params::new(p.n, 0, &config());
    for s in 0..count {
        rs.commit(&p0, req(s + 1, 0, s as i64), all.clone());
    }
    rs.rep[0].clone()
}

/// Sim seed 127 (event-driven): the new primary of view 1 had executed
/// more than the Q2 consolidation X (three replicas had restarted empty).
/// It numbered the new view from its own `last_exec()` and only then
/// adopted X, so the numbers between X's last request and the new ones
/// were never filled and the view stalled with everything committed above
/// the hole. X is adopted first now.
#[test]
fn a_new_primary_rolled_back_numbers_the_view_without_holes() {
    let p = Params::new(6, 1, &config());
    let mut rs = RepState::new(6);
    let mut ahead = executed(&p, 3);
    ahead.reqq.push(ReqEntry {
        req: req(9, 0, 3),
        status: Phases::PP_P,
    });
    ahead.seq = 3;
    for k in 0..6 {
        rs.rep[k] = if k < 2 {
            ahead.clone()
        } else {
            crate::rep::Replica::default()
        };
        rs.rep[k].view_changed = true;
    }
    rs.new_primary(&env(&p, 1));
    let own = &rs.rep[1];
    assert!(!own.view_changed, "the new view was installed");
    assert_eq!(own.last_exec(), -1, "adopted X, the empty prefix");
    for seq in 0..=own.seq {
        assert!(
            own.reqq.iter().any(|e| e.req.seq == seq),
            "hole at {seq}: seq {} reqq {:?}",
            own.seq,
            own.reqq
        );
    }
}

/// Sim seed 102 (event-driven): a primary that rolled back to an older
/// consolidated state kept its sequence number and queue; the numbers in
/// between were holes and its window stayed full. A roll-back restarts
/// the queue from the adopted state.
#[test]
fn a_roll_back_restarts_the_queue_from_the_adopted_state() {
    let p = Params::new(6, 0, &config());
    let mut rs = RepState::new(6);
    rs.rep[0] = executed(&p, 3);
    rs.rep[0].reqq.push(ReqEntry {
        req: req(9, 0, 3),
        status: Phases::PP_P,
    });
    rs.rep[0].seq = 3;
    assert!(rs.adopt(&p, 1), "rep[1] executed nothing and verifies");
    let own = &rs.rep[0];
    assert_eq!((own.last_exec(), own.seq), (-1, -1));
    assert!(own.reqq.is_empty(), "{:?}", own.reqq);
}

/// Sim seed 102: the primary numbered requests only it still had in
/// `pend` (the others had restarted); the others never pre-prepare an
/// unknown request, so the number stayed empty and blocked the window.
/// It numbers known requests only.
#[test]
fn the_primary_numbers_known_requests_only() {
    let p = Params::new(6, 0, &config());
    let mut rs = RepState::new(6);
    rs.rep[0].pend.push(creq(1));
    rs.advance(&env(&p, 0));
    assert!(rs.rep[0].reqq.is_empty(), "{:?}", rs.rep[0].reqq);
    for k in 1..p.q2 {
        rs.rep[k].pend.push(creq(1));
    }
    rs.advance(&env(&p, 0));
    assert_eq!(rs.rep[0].reqq.len(), 1, "known by Q2: numbered");
}

/// Sim seeds 64 (tick-driven) and 102 (event-driven): two correct
/// replicas kept their state, three restarted empty. The Q2 prefix is
/// empty and compatible with the two, so they kept their state and
/// refused every number at or below it, while the three could not reach
/// Q2 without them. A laggard now catches up to the (f+1)-th most advanced
/// compatible state.
#[test]
fn laggards_catch_up_with_f_plus_1_ahead() {
    let p = Params::new(6, 3, &config());
    let ahead = executed(&p, 3);
    let mut rs = RepState::new(6);
    for k in 0..6 {
        rs.rep[k] = if k < 2 {
            ahead.clone()
        } else {
            let mut r = crate::rep::Replica::default();
            r.pend.push(creq(9));
            r
        };
    }
    rs.iterate(&env(&p, 0));
    assert_eq!(rs.rep[3].last_exec(), 2, "the laggard caught up");
    // One structure alone (possibly Byzantine) is not enough.
    let mut rs = RepState::new(6);
    rs.rep[0] = ahead.clone();
    rs.iterate(&env(&p, 0));
    assert_eq!(rs.rep[3].last_exec(), -1);
}

/// Sim seeds 64 (event-driven), 79 (tick-driven): requests
/// queued by f+1 structures count as pending for the FD's progress check
/// at a replica that lost them; one structure (possibly Byzantine) does not.
#[test]
fn requests_queued_by_f_plus_1_are_pending_for_the_fd() {
    let p = Params::new(6, 4, &config());
    let mut rs = RepState::new(6);
    let entry = ReqEntry {
        req: req(1, 0, 0),
        status: Phases::PP_P,
    };
    rs.rep[0].reqq.push(entry.clone());
    assert!(rs.queued_by_f_plus_1(&p).is_empty());
    rs.rep[2].reqq.push(entry);
    assert_eq!(rs.queued_by_f_plus_1(&p), vec![creq(1)]);
}

/// Sim seed 157 (tick-driven): after the faults, the four correct
/// followers sat in V_CHANGE with reset failure detectors (no suspicion),
/// the correct primary in NO_SERVICE, the Byzantine node silent. A view
/// change needs Q1 = 5 demands, so the primary's too; it demands once it
/// sees Q2 suspicions, but the followers' FDs were frozen by V_CHANGE and
/// kept sending "no suspicion". Nothing executed again. The FD runs under
/// V_CHANGE now, and counts own `pend` there (the others' copies are
/// frozen), so the followers suspect and the primary joins the demand.
#[test]
fn followers_stuck_in_v_change_with_reset_fds_still_change_the_view() {
    use crate::pm::Vcm;
    use crate::ByzantineBehaviour;
    let mut c = Cluster::new(6, config(), 7);
    c.set_byzantine(5, Some(ByzantineBehaviour::Unresponsive));
    assert!(c.run_until(300, |c| c.stable_view() == Some(View::V(0))));
    c.submit(0, 1, Op::Append(1));
    assert!(c.run_until(200, |c| c.all_correct_have(&[1])));
    // The transient fault, held until the messages in flight before it
    // are delivered.
    for _ in 0..5 {
        for k in 1..=4 {
            let st = c.nodes[k].state_mut();
            st.pm.vcm[k] = Vcm {
                status: PmStatus::VChange,
                ..Vcm::default_for(View::V(0))
            };
            st.fd.reset();
        }
        c.nodes[0].state_mut().pm.vcm[0].status = PmStatus::NoService;
        c.run_ticks(1);
    }
    append_2_reaches_every_correct_list(&mut c);
}

/// Sim seed 158 (event-driven): requests 45–47 were prepared by Q2
/// structures in view 0 and 42–44 by fewer (restarts wiped them). The new
/// primary of view 1 had lost its queue, so it numbered the view from its
/// `last_exec` (41) and filled no gap; everyone then re-took 45–47 from the
/// others' prepared entries (commit step) and waited for 42–44 for good.
/// The new primary fills the gaps below requests Q2 structures prepared.
#[test]
fn a_new_primary_fills_gaps_below_requests_prepared_elsewhere() {
    let p = Params::new(6, 1, &config());
    let mut rs = RepState::new(6);
    let prepared = ReqEntry {
        req: req(9, 0, 6),
        status: Phases::ALL,
    };
    let base = executed(&p, 3);
    for k in 0..6 {
        rs.rep[k] = base.clone();
        rs.rep[k].view_changed = true;
        if k != 1 && k != 5 {
            rs.rep[k].reqq.push(prepared.clone());
        }
    }
    // As Rep step 3 does before the new-primary procedure.
    rs.rep[1].prim = View::V(1);
    rs.new_primary(&env(&p, 1));
    let own = &rs.rep[1];
    assert!(!own.view_changed, "the new view was installed");
    let dummies: Vec<i64> = own
        .reqq
        .iter()
        .filter(|e| e.req.creq.is_dummy())
        .map(|e| e.req.seq)
        .collect();
    assert_eq!(dummies, vec![3, 4, 5], "{:?}", own.reqq);
    // The commit step takes the prepared request back; it then executes
    // after the dummies.
    rs.advance(&env(&p, 1));
    assert!(rs.rep[1].reqq.iter().any(|e| e.req == prepared.req));
}

/// Sim seed 88 (event-driven): one correct replica executed requests with
/// votes of two that then restarted; two others kept them committed in
/// their queues, unexecutable (support < Q2). The restarted two and the
/// two holders suspected the primary, but the replica that had executed
/// them saw nothing pending and did not: one suspicion short of Q2, no
/// view change, no progress. A request queued by f+1 structures above
/// their own `last_exec` is pending even where it was executed.
#[test]
fn requests_stuck_at_f_plus_1_are_pending_where_they_executed() {
    let p = Params::new(6, 5, &config());
    let mut rs = RepState::new(6);
    rs.rep[5] = executed(&p, 1);
    let stuck = ReqEntry {
        req: req(1, 0, 0),
        status: Phases::ALL,
    };
    rs.rep[0].reqq.push(stuck.clone());
    rs.rep[3].reqq.push(stuck);
    assert_eq!(rs.last_exec(&p), 0, "executed here");
    assert_eq!(rs.queued_by_f_plus_1(&p), vec![creq(1)]);
    // Once the holders executed it too, it is no longer pending.
    rs.rep[0] = executed(&p, 1);
    rs.rep[3] = executed(&p, 1);
    assert!(rs.queued_by_f_plus_1(&p).is_empty());
}

/// Sim seed 241 (event-driven): the primary had numbered requests while
/// Q2 replicas knew them; a crash then wiped them at two replicas, so the
/// others never pre-prepared them and the numbers stayed empty. Only the
/// primary's queue held them, three `pend`s (< Q2) did: no replica saw
/// them pending until the clients retried, 10 s later. A request in the
/// `pend` of f+1 structures is pending for the FD; in one (possibly a
/// Byzantine one's, or a client that reached one replica) it is not.
#[test]
fn requests_pending_at_f_plus_1_are_pending_for_the_fd() {
    let p = Params::new(6, 3, &config());
    let mut rs = RepState::new(6);
    rs.rep[0].pend.push(creq(1));
    assert!(rs.pending_at_f_plus_1(&p).is_empty());
    rs.rep[4].pend.push(creq(1));
    assert_eq!(rs.pending_at_f_plus_1(&p), vec![creq(1)]);
    rs.rep[3] = executed(&p, 1);
    assert!(
        rs.pending_at_f_plus_1(&p).is_empty(),
        "executed here: not pending"
    );
    // What the FD's progress check sees at a replica that lost it.
    let ids: Vec<skein_core::NodeId> = (1..=6).map(skein_core::NodeId).collect();
    let mut node = crate::node::BftNode::new(ids[3], &ids, &config());
    let rep = &mut node.state_mut().rep;
    rep.rep[0].pend.push(creq(1));
    rep.rep[4].pend.push(creq(1));
    assert_eq!(node.get_pend_reqs(), Some(vec![creq(1)]));
}

/// Sim seed 295 (tick-driven): a corruption left the view-0 primary's own
/// queue with entries of clients that do not exist (5, 16; three clients).
/// Every peer refused its Rep messages for them (§8 validation), its
/// copies there froze, and no view it had to install as new primary ever
/// was, for view after view. The repair removes such entries from the own
/// structure too.
#[test]
fn own_entries_every_peer_refuses_are_removed() {
    let p = Params::new(6, 0, &config());
    let mut rs = RepState::new(6);
    let foreign = ClientRequest {
        client: p.clients as u32,
        ts: 11,
        op: Op::Append(1),
    };
    let good = ReqEntry {
        req: req(1, 0, 0),
        status: Phases::PP_P,
    };
    rs.rep[0].pend = vec![foreign.clone(), creq(2)];
    rs.rep[0].reqq = vec![
        ReqEntry {
            req: Request {
                creq: foreign,
                view: 0,
                seq: 1,
            },
            status: Phases::PRE_PREP,
        },
        good.clone(),
        ReqEntry {
            req: req(3, p.n, 2),
            status: Phases::PRE_PREP,
        },
    ];
    assert!(rs.sanitize(&p) > 0);
    assert_eq!(rs.rep[0].pend, vec![creq(2)]);
    assert_eq!(rs.rep[0].reqq, vec![good]);
    assert_eq!(rs.sanitize(&p), 0, "nothing left to repair");
}

/// Long sweep seed 128 (a safety failure, on main too): after restarts, a
/// WRONG_CCSP primary's forged new-view state (`[666]` at seq 666) looked
/// "compatible" to structures far behind it (a lag beyond the bounded log
/// is compatible), so correct followers took it and executed 666. A new
/// primary's state must be reached by f+1 structures on its history.
#[test]
fn followers_refuse_a_new_view_state_no_correct_replica_reached() {
    let p = Params::new(6, 2, &config());
    let with_primary = |prim_state: crate::rep::Replica, others: crate::rep::Replica| {
        let mut rs = RepState::new(6);
        for k in 0..6 {
            rs.rep[k] = others.clone();
            rs.rep[k].view_changed = true;
        }
        rs.rep[0] = prim_state;
        rs.rep[0].prim = View::V(0);
        rs.rep[0].view_changed = false;
        rs.follow(&env(&p, 0), 0);
        rs
    };
    let forged = crate::ByzantineBehaviour::WrongCcsp.rep_structure(0, 2, 6, &Default::default());
    let rs = with_primary(forged, executed(&p, 3));
    assert!(rs.rep[2].view_changed, "did not follow");
    assert!(!rs.rep[2].machine.list.contains(&666));
    // A correct primary whose state the others reached is followed.
    let state = executed(&p, 3);
    let rs = with_primary(state.clone(), state);
    assert!(!rs.rep[2].view_changed, "followed");
    assert_eq!(rs.rep[2].last_exec(), 2);
}

/// After a stall scenario: a new append r2 executes everywhere after r1
/// within 1,500 ticks, with each replica's view, PM status and list shown
/// if not, and the cluster stays safe.
fn append_2_reaches_every_correct_list(c: &mut Cluster) {
    c.submit(0, 2, Op::Append(2));
    let ok = c.run_until(1500, |c| c.all_correct_have(&[1, 2]));
    assert!(
        ok,
        "views {:?} pm {:?} lists {:?}",
        (0..6).map(|k| c.view(k)).collect::<Vec<_>>(),
        (0..6)
            .map(|k| c.nodes[k].state().pm.vcm[k].status)
            .collect::<Vec<_>>(),
        (0..6).map(|k| c.list(k).to_vec()).collect::<Vec<_>>()
    );
    c.check_safety().unwrap();
}

/// Sim seed 55 (both modes, after VE/PM stepped between ticks): a view
/// change that the others abandoned (their VE reset under faults) left one
/// correct replica in phase 1 towards view 1, alone, with no demand left.
/// VE's "remain" case (1,2) held it there for good: the others stay in
/// view 0 and count as remaining, nobody follows a change nobody demands,
/// and it never served or executed again. The lone replica must rejoin.
#[test]
fn a_replica_left_alone_in_an_abandoned_view_change_rejoins() {
    let mut c = Cluster::new(6, config(), 8);
    assert!(c.run_until(200, |c| c.stable_view() == Some(View::V(0))));
    c.submit(0, 1, Op::Append(1));
    assert!(c.run_until(100, |c| c.all_correct_have(&[1])));
    // Held until the messages in flight before the fault are delivered.
    for _ in 0..5 {
        let st = c.nodes[2].state_mut();
        st.ve.views[2] = crate::types::ViewPair {
            cur: View::V(0),
            next: View::V(1),
        };
        st.ve.phs[2] = 1;
        st.ve.vchg[2] = false;
        st.pm.vcm[2].status = PmStatus::VChange;
        c.run_ticks(1);
    }
    append_2_reaches_every_correct_list(&mut c);
    assert_eq!(c.stable_view(), Some(View::V(0)));
}

/// Long-sweep seed 21: a reset dropped the clients' requests from every
/// `pend` while the clients waited (for 10 s, their timeout) and no
/// operation completed after the faults stopped. A request a caller still
/// waits for is queued again by the replicas it reached.
#[test]
fn a_request_dropped_everywhere_while_its_caller_waits_is_queued_again() {
    let mut c = Cluster::new(6, config(), 9);
    assert!(c.run_until(200, |c| c.stable_view() == Some(View::V(0))));
    c.submit(0, 1, Op::Append(1));
    // The transient fault, before any replica's next step: the request is
    // gone from every structure everywhere.
    for k in 0..6 {
        for r in c.nodes[k].state_mut().rep.rep.iter_mut() {
            r.pend.clear();
            r.reqq.clear();
        }
    }
    assert!(
        c.run_until(100, |c| c.all_correct_have(&[1])),
        "lists {:?}",
        (0..6).map(|k| c.list(k).to_vec()).collect::<Vec<_>>()
    );
    c.check_safety().unwrap();
}

/// Long sweep seed 96 (event-driven, REUSE_SEQNUMS at the primary): a
/// correct replica pre-prepared both requests the primary gave seq 0, both
/// reached Q2, and correct replicas executed different requests at one
/// seq. A replica takes one pre-prepare per (view, seq).
#[test]
fn a_replica_takes_one_pre_prepare_per_sequence_number() {
    let p = Params::new(6, 2, &config());
    let mut rs = RepState::new(6);
    for k in 0..6 {
        rs.rep[k].pend = vec![creq(1), creq(2)];
        rs.rep[k].prim = View::V(0);
    }
    for ts in [1, 2] {
        rs.rep[0].reqq.push(ReqEntry {
            req: req(ts, 0, 0),
            status: Phases::PRE_PREP,
        });
    }
    rs.advance(&env(&p, 0));
    let at_zero: Vec<&ReqEntry> = rs.rep[2].reqq.iter().filter(|e| e.req.seq == 0).collect();
    assert_eq!(at_zero.len(), 1, "{:?}", rs.rep[2].reqq);
}
