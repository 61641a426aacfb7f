//! The coordinating automaton and one VE loop iteration (BFTLIST.md §2.1).

use super::predicates::Mode;
use super::VeState;
use crate::config::Params;
use crate::types::RST_PAIR;

/// What one iteration did, for the caller (Rep coupling, ED-FD, metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VeOutcome {
    /// Step 1 reset everything (stale own pair or Rep asked for a flush);
    /// the caller must run `Rep.rep_request_reset()`.
    pub reset: bool,
    /// `(phase, case)` of the automaton action taken, if any.
    pub case: Option<(u8, u8)>,
}

impl VeState {
    /// One iteration, steps 1–3. `need_flush` is `Rep.need_flush()`.
    pub fn iterate(&mut self, p: &Params, need_flush: bool) -> VeOutcome {
        let me = p.me;
        let mut out = VeOutcome::default();
        if self.stale(p.n, me) || need_flush {
            self.reset_all();
            out.reset = true;
        }
        self.wit[me] = self.noticed_recent_value(p);
        // BFTLIST.md §8: the original's witSet is a cumulative union that only a
        // reset clears, so a stale witness keeps counting; the intent is the set
        // of processors that currently report themselves witnesses.
        self.wit_set = (0..p.n).filter(|&k| self.wit[k]).collect();
        if self.witness_seen(p) {
            let case = if self.phs[me] == 0 {
                self.phase0(p)
            } else {
                self.phase1(p)
            };
            out.case = Some(case);
        }
        out
    }

    /// Phase 0: stable, waiting for a view change. Returns `(0, case)`.
    fn phase0(&mut self, p: &Params) -> (u8, u8) {
        let me = p.me;
        let vi = self.views[me];
        let follow = (0..p.n).find(|&k| {
            k != me
                && self.mask[k]
                && vi.cur != self.views[k].next
                && (vi.next != self.views[k].next || vi == RST_PAIR)
                && self.transit_adoptable(p, k, 0, Mode::Follow)
        });
        if let Some(k) = follow {
            self.views[me].next = self.views[k].next;
            self.phs[me] = 1;
            return (0, 0);
        }
        let changeable = self.changeable(p);
        if (changeable || vi == RST_PAIR) && self.establishable(p, 0, Mode::Follow) {
            if changeable {
                self.views[me].next = vi.cur.succ(p.n);
            }
            self.phs[me] = 1;
            return (0, 1);
        }
        if self.transit_adoptable(p, me, 0, Mode::Remain) || vi == RST_PAIR {
            return (0, 2);
        }
        self.reset_all();
        (0, 3)
    }

    /// Phase 1: a view change in progress. Returns `(1, case)`.
    fn phase1(&mut self, p: &Params) -> (u8, u8) {
        let me = p.me;
        let vi = self.views[me];
        let follow = (0..p.n).find(|&k| {
            k != me
                && self.mask[k]
                && vi.cur != self.views[k].next
                && vi.next != self.views[k].next
                && self.transit_adoptable(p, k, 1, Mode::Follow)
        });
        if let Some(k) = follow {
            self.views[me].next = self.views[k].next;
            self.vchg[me] = false;
            return (1, 0);
        }
        if self.establishable(p, 1, Mode::Follow) {
            self.views[me].cur = vi.next;
            self.vchg[me] = false;
            self.phs[me] = 0;
            return (1, 1);
        }
        if self.change_abandoned(p) {
            self.reset_all();
            return (1, 4);
        }
        if self.transit_adoptable(p, me, 1, Mode::Remain) {
            self.vchg[me] = false;
            return (1, 2);
        }
        self.reset_all();
        (1, 3)
    }
}
