//! Primary Monitoring (BFTLIST.md §2.3): turn failure-detector suspicion of
//! the primary into NO_SERVICE (Q2 agree: stop the three-phase protocol) and
//! V_CHANGE (Q1 agree: ask VE for the next view).

use crate::config::Params;
use crate::types::View;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PmStatus {
    Ok,
    NoService,
    VChange,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vcm {
    pub status: PmStatus,
    pub prim: View,
    pub need_change: bool,
    pub need_set: BTreeSet<usize>,
}

impl Vcm {
    pub fn default_for(prim: View) -> Self {
        Vcm {
            status: PmStatus::Ok,
            prim,
            need_change: false,
            need_set: BTreeSet::new(),
        }
    }
}

/// `PmMsg{vcm_own}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmMsg {
    pub vcm: Vcm,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmState {
    pub vcm: Vec<Vcm>,
}

impl PmState {
    pub fn new(n: usize) -> Self {
        PmState {
            vcm: vec![Vcm::default_for(View::V(0)); n],
        }
    }

    /// `no_view_change()`.
    pub fn no_view_change(&self, me: usize) -> bool {
        self.vcm[me].status == PmStatus::Ok
    }

    /// `clean()`: every entry to its default.
    pub fn clean(&mut self, cv: &[View]) {
        for (k, e) in self.vcm.iter_mut().enumerate() {
            *e = Vcm::default_for(cv[k]);
        }
    }

    /// §8 [EXT] input validation; returns false when dropped.
    pub fn receive(&mut self, p: &Params, from: usize, m: PmMsg) -> bool {
        if from >= p.n
            || from == p.me
            || !m.vcm.prim.in_range(p.n)
            || m.vcm.need_set.iter().any(|&k| k >= p.n)
        {
            return false;
        }
        self.vcm[from] = m.vcm;
        true
    }

    /// `sup_change(m)` as documented (BFTLIST.md §2.3; the original never
    /// computes the intersection and leaks the group across iterations): a
    /// group G of ≥ m processors reporting the same prim whose need sets
    /// intersect in ≥ Q2 ids. Searched greedily from each member: sound (a
    /// group it finds exists) and polynomial.
    pub fn sup_change(&self, p: &Params, m: usize) -> bool {
        let n = self.vcm.len();
        for seed in 0..n {
            let prim = self.vcm[seed].prim;
            let mut inter = self.vcm[seed].need_set.clone();
            if inter.len() < p.q2 {
                continue;
            }
            let mut size = 1;
            let mut rest: Vec<usize> = (0..n)
                .filter(|&k| k != seed && self.vcm[k].prim == prim)
                .collect();
            // Add the members that keep the intersection largest first.
            while size < m && !rest.is_empty() {
                let (at, next) = rest
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| (i, inter.intersection(&self.vcm[k].need_set).count()))
                    .max_by_key(|&(i, c)| (c, std::cmp::Reverse(i)))
                    .unwrap_or((0, 0));
                if next < p.q2 {
                    break;
                }
                let k = rest.remove(at);
                inter = inter.intersection(&self.vcm[k].need_set).copied().collect();
                size += 1;
            }
            if size >= m {
                return true;
            }
        }
        false
    }

    /// One iteration. `cv[k]` = `VE.get_current_view(k)`; returns true when
    /// VE must be asked for a view change (`VE.view_change()`).
    pub fn iterate(&mut self, p: &Params, cv: &[View], allow: bool, suspected: bool) -> bool {
        let me = p.me;
        if self.vcm[me].prim != cv[me] {
            self.clean(cv);
        }
        self.vcm[me].prim = cv[me];
        self.vcm[me].need_change = suspected;
        if !allow {
            return false;
        }
        let need: BTreeSet<usize> = (0..p.n)
            .filter(|&k| self.vcm[k].need_change && cv[k] == cv[me])
            .collect();
        self.vcm[me].need_set = need;
        // BFTLIST.md §2.3 step 2 leaves `need_set` as it was once V_CHANGE
        // is reached. V_CHANGE lasts until the view changes, and the change
        // needs Q1 demands, i.e. with f Byzantine nodes also those of the
        // correct nodes still in OK or NO_SERVICE, which count the V_CHANGE
        // nodes' need sets in `sup_change(Q1)`. A need set frozen empty (a
        // transient fault) or out of date kept them from ever forming the
        // group, and the V_CHANGE nodes waited for them for good (the
        // `tests::liveness` scenario of sim seed 157). The need set is a
        // report of who suspects; it is kept current in every status.
        if self.vcm[me].status == PmStatus::VChange {
            return true;
        }
        let demanding = self.vcm.iter().filter(|e| e.status != PmStatus::Ok).count();
        if demanding < p.q3 {
            self.vcm[me].status = PmStatus::Ok;
        }
        if self.vcm[me].status == PmStatus::Ok && self.sup_change(p, p.q2) {
            self.vcm[me].status = PmStatus::NoService;
        } else if self.sup_change(p, p.q1) {
            self.vcm[me].status = PmStatus::VChange;
            return true;
        }
        false
    }

    pub fn sanitize(&mut self, p: &Params) -> u64 {
        if self.vcm.len() != p.n {
            *self = PmState::new(p.n);
            return 1;
        }
        let mut fixed = 0;
        for e in &mut self.vcm {
            if !e.prim.in_range(p.n) || e.need_set.iter().any(|&k| k >= p.n) {
                *e = Vcm::default_for(View::Tee);
                fixed += 1;
            }
        }
        fixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BftConfig;

    fn params() -> Params {
        Params::new(6, 0, &BftConfig::default())
    }

    #[test]
    fn sup_change_intersects_need_sets() {
        let p = params();
        let mut pm = PmState::new(6);
        let all: BTreeSet<usize> = (0..6).collect();
        for k in 0..4 {
            pm.vcm[k].need_set = all.clone();
        }
        assert!(pm.sup_change(&p, p.q2));
        assert!(!pm.sup_change(&p, p.q1));
        // Two members whose sets intersect in only 3 ids cannot join the group.
        pm.vcm[3].need_set = [0, 1, 2].into_iter().collect();
        assert!(!pm.sup_change(&p, p.q2));
    }

    #[test]
    fn suspicion_by_q2_gives_no_service_then_q1_v_change() {
        let p = params();
        let cv = vec![View::V(0); 6];
        let mut pm = PmState::new(6);
        let all: BTreeSet<usize> = (0..6).collect();
        for k in 1..4 {
            pm.vcm[k].need_set = all.clone();
            pm.vcm[k].need_change = true;
        }
        pm.vcm[0].need_change = true;
        assert!(!pm.iterate(&p, &cv, true, true));
        assert_eq!(pm.vcm[0].status, PmStatus::NoService);
        assert!(!pm.no_view_change(0));
        pm.vcm[4].need_set = all.clone();
        for k in 1..3 {
            pm.vcm[k].status = PmStatus::NoService;
        }
        assert!(pm.iterate(&p, &cv, true, true));
        assert_eq!(pm.vcm[0].status, PmStatus::VChange);
    }
}
