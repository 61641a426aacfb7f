//! The cheaper Rep predicates (`rep/derived.rs`, ALGORITHM.md "Cost of a
//! Rep step") give exactly the results of their straightforward
//! definitions, on the states of a running cluster and on the same states
//! with own log made non-consecutive (the O(1) look-up must not be used).

use super::harness::{config, Cluster};
use crate::config::Params;
use crate::rep::RepState;
use crate::types::{ClientRequest, Phases, Request};
use crate::Op;
use std::collections::{BTreeMap, BTreeSet};

fn reference_known_pend(st: &RepState, p: &Params) -> Vec<ClientRequest> {
    let mut count: BTreeMap<&ClientRequest, usize> = BTreeMap::new();
    for r in &st.rep {
        let distinct: BTreeSet<&ClientRequest> = r.pend.iter().collect();
        for c in distinct {
            *count.entry(c).or_default() += 1;
        }
    }
    let own = &st.rep[p.me];
    let mut out: Vec<ClientRequest> = count
        .into_iter()
        .filter(|&(_, n)| n >= p.q2)
        .map(|(c, _)| c.clone())
        .collect();
    out.sort_by_key(|c| own.pend.iter().position(|x| x == c).unwrap_or(usize::MAX));
    out
}

fn reference_supported(st: &RepState, p: &Params, s: Phases) -> Vec<Request> {
    let own = &st.rep[p.me];
    let mut holders: BTreeMap<&Request, BTreeSet<usize>> = BTreeMap::new();
    for (k, r) in st.rep.iter().enumerate() {
        for e in r.reqq.iter().filter(|e| e.status.contains(s)) {
            holders.entry(&e.req).or_default().insert(k);
        }
        for e in &r.rlog {
            holders.entry(&e.req).or_default().insert(k);
        }
    }
    let mut out: Vec<Request> = holders
        .into_iter()
        .filter(|(r, ks)| ks.len() >= p.q2 && !own.in_rlog(r))
        .map(|(r, _)| r.clone())
        .collect();
    out.sort_by_key(|r| r.seq);
    out
}

fn reference_known_reqs(st: &RepState, p: &Params, s: Phases) -> Vec<Request> {
    st.rep[p.me]
        .reqq
        .iter()
        .filter(|e| e.status.contains(s))
        .filter(|e| {
            let holds = |r: &crate::rep::Replica| {
                r.reqq
                    .iter()
                    .any(|x| x.req == e.req && x.status.contains(s))
                    || r.rlog.iter().any(|x| x.req == e.req)
            };
            st.rep.iter().filter(|r| holds(r)).count() >= p.q2
        })
        .map(|e| e.req.clone())
        .collect()
}

/// Compares every predicate with its reference; returns how many results
/// were non-empty (so the test knows it compared something).
fn check(st: &RepState, p: &Params) -> usize {
    let phases = [
        Phases::PRE_PREP,
        Phases::PREP,
        Phases(Phases::PREP.0 | Phases::COMMIT.0),
    ];
    let kp = st.known_pend(p);
    assert_eq!(kp, reference_known_pend(st, p), "known_pend");
    let mut non_empty = usize::from(!kp.is_empty());
    for s in phases {
        let sup = st.supported(p, s);
        assert_eq!(sup, reference_supported(st, p, s), "supported {s:?}");
        let kr = st.known_reqs(p, s);
        assert_eq!(kr, reference_known_reqs(st, p, s), "known_reqs {s:?}");
        non_empty += usize::from(!sup.is_empty()) + usize::from(!kr.is_empty());
    }
    non_empty
}

#[test]
fn cheaper_predicates_match_their_definitions() {
    let mut c = Cluster::new(6, config(), 5);
    assert!(c.run_until(200, |c| c.stable_view().is_some()));
    let mut compared = 0;
    let mut rotated = 0;
    for round in 0..40u64 {
        for client in 0..4u32 {
            c.submit(
                client,
                round + 1,
                Op::Append((round * 4) as i64 + i64::from(client)),
            );
        }
        c.run_ticks(1);
        for k in 0..6 {
            let p = c.nodes[k].params().clone();
            let st = &c.nodes[k].state().rep;
            compared += check(st, &p);
            // Own log out of seq order: `in_rlog` must scan it.
            let mut bad = st.clone();
            if bad.rep[p.me].rlog.len() > 2 {
                bad.rep[p.me].rlog.rotate_left(1);
                rotated += 1;
                compared += check(&bad, &p);
            }
        }
    }
    assert!(compared > 100, "only {compared} non-empty results compared");
    assert!(
        rotated > 100,
        "only {rotated} non-consecutive logs compared"
    );
}
