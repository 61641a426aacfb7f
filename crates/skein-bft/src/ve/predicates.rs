//! The VE helper sets and predicates of BFTLIST.md §2.1. Every count is
//! restricted to `mask` (all processors unless the event-driven FD is on, §2.5).

use super::VeState;
use crate::config::Params;
use crate::types::{View, RST_PAIR};
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Remain,
    Follow,
}

impl VeState {
    fn counted(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        (0..n).filter(move |&k| self.mask.get(k).copied().unwrap_or(false))
    }

    /// `stale(k)`: k's pair is not legitimate for its phase.
    pub fn stale(&self, n: usize, k: usize) -> bool {
        !self.views[k].legit(self.phs[k], n)
    }

    /// `sameV(j)`.
    pub fn same_v(&self, n: usize, j: usize) -> BTreeSet<usize> {
        let vj = self.views[j];
        let mut out = BTreeSet::new();
        for k in self.counted(n) {
            let vk = self.views[k];
            let same = self.phs[k] == self.phs[j] && vk == vj && !self.stale(n, k);
            let tee = self.phs[j] == 1
                && (vk.cur == View::Tee || vj.cur == View::Tee)
                && vk.next == vj.next;
            if same || tee {
                out.insert(k);
            }
        }
        out
    }

    /// `trans(j, ph, mode)`.
    pub fn trans(&self, n: usize, j: usize, ph: u8, mode: Mode) -> BTreeSet<usize> {
        let vj = self.views[j];
        self.counted(n)
            .filter(|&k| {
                let vp = self.views[k];
                self.phs[k] != ph
                    && !self.stale(n, k)
                    && match (mode, ph) {
                        // Deviation (BFTLIST.md §2.1): a reset node's
                        // RST_PAIR names DF_VIEW as `next` but it is in no
                        // view; counted as "remaining in view 0" it holds
                        // phase-1 nodes that left view 0 waiting forever,
                        // while they hold it in RST_PAIR (sim seeds 7 and 26
                        // with event-driven replication). Not counted, the
                        // phase-1 nodes reset too and all recover through
                        // view 0.
                        (Mode::Remain, 1) => vp.next == vj.cur && vp != RST_PAIR,
                        (Mode::Remain, _) => vp.next == vj.cur,
                        (Mode::Follow, 0) => vp.next == vj.cur.succ(n),
                        (Mode::Follow, _) => vp.cur == vj.next,
                    }
            })
            .collect()
    }

    /// `transit_adoptable(j, ph, mode) = |sameV(j) ∪ trans(j, ph, mode)| ≥ Q2`.
    pub fn transit_adoptable(&self, p: &Params, j: usize, ph: u8, mode: Mode) -> bool {
        let mut s = self.same_v(p.n, j);
        s.extend(self.trans(p.n, j, ph, mode));
        s.len() >= p.q2
    }

    /// `establishable(ph, mode) = |sameV(i)| + |trans(i, ph, mode)| ≥ Q1` (a sum).
    pub fn establishable(&self, p: &Params, ph: u8, mode: Mode) -> bool {
        self.same_v(p.n, p.me).len() + self.trans(p.n, p.me, ph, mode).len() >= p.q1
    }

    /// `changeable()`; TEE reads as −1 so the target is V(0).
    pub fn changeable(&self, p: &Params) -> bool {
        let target = self.views[p.me].cur.succ(p.n);
        let demanding = self.counted(p.n).filter(|&k| self.vchg[k]).count();
        let moving = self
            .counted(p.n)
            .filter(|&k| self.views[k].next == target)
            .count();
        demanding + moving >= p.q1
    }

    /// Deviation (BFTLIST.md §2.1, sim seed 55): in phase 1, "remain" (case
    /// (1,2)) waits for the others to follow to `next` while they remain in
    /// `cur`. A correct processor that demanded the change keeps demanding
    /// (or moves to `next`) until a view is established, so when no more
    /// than f counted others demand a change or head for our `next`, and
    /// Q2 counted others sit settled in phase 0 on our `cur`, no correct
    /// processor will ever follow: the change was abandoned (the others
    /// reset under a transient fault), and remaining would hold this one
    /// out of service for good. It resets instead, like case (1,3), and
    /// rejoins through the others' view. f Byzantine processors claiming
    /// to move can neither cause this (they are at most f) nor prevent it.
    pub fn change_abandoned(&self, p: &Params) -> bool {
        let me = p.me;
        let vi = self.views[me];
        let others = || self.counted(p.n).filter(move |&k| k != me);
        let moving = others()
            .filter(|&k| self.vchg[k] || (self.views[k].next == vi.next && !self.stale(p.n, k)))
            .count();
        let settled = others()
            .filter(|&k| {
                self.phs[k] == 0
                    && self.views[k].cur == vi.cur
                    && self.views[k].next == vi.cur
                    && !self.stale(p.n, k)
            })
            .count();
        vi.cur != vi.next && moving <= p.f && settled >= p.q2
    }

    /// `noticed_recent_value()`: Q1 processors echo our current values.
    pub fn noticed_recent_value(&self, p: &Params) -> bool {
        let me = p.me;
        self.counted(p.n)
            .filter(|&k| {
                let e = self.echo[k];
                e.view == self.views[me] && e.phase == self.phs[me] && e.vchg == self.vchg[me]
            })
            .count()
            >= p.q1
    }

    /// `witness_seen()`.
    pub fn witness_seen(&self, p: &Params) -> bool {
        let me = p.me;
        self.wit[me]
            && self
                .wit_set
                .iter()
                .filter(|&&k| k < p.n && self.mask.get(k).copied().unwrap_or(false))
                .filter(|&&k| self.echo[k] == self.echo[me])
                .count()
                >= p.q1
    }

    /// `allow_service()`.
    pub fn allow_service(&self, p: &Params) -> bool {
        if !p.self_stabilizing {
            return true;
        }
        let me = p.me;
        let vp = self.views[me];
        self.phs[me] == 0 && vp.cur == vp.next && self.same_v(p.n, me).len() >= p.q2
    }

    /// `get_current_view(k)`.
    pub fn get_current_view(&self, p: &Params, k: usize) -> View {
        if !p.self_stabilizing {
            return View::V(0);
        }
        if k == p.me && self.phs[k] == 0 && self.witness_seen(p) {
            return if self.allow_service(p) {
                self.views[k].cur
            } else {
                View::Tee
            };
        }
        self.views[k].cur
    }

    pub fn is_rst(&self, me: usize) -> bool {
        self.views[me] == RST_PAIR
    }
}
