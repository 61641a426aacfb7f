//! Consolidation of the state (BFTLIST.md §2.2 "State-machine-specific
//! helpers"), over hash-chained execution points ([EXT] §8) instead of list
//! prefixes: `compatible` asks whether one point lies on the other's history,
//! which also holds for REMOVE, and the consolidated state is a member's own
//! (machine, log) pair, so the `matching_log` replay heuristic disappears.

use super::structure::compatible;
use super::RepState;
use crate::config::Params;

/// `X` of the spec: the structure whose machine and log are the common prefix
/// of a group of pairwise compatible structures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consolidated {
    /// Processor whose (machine, rlog) is the prefix.
    pub base: usize,
    pub members: Vec<usize>,
    /// Some member is def_prefix.
    pub is_def: bool,
}

impl RepState {
    /// `com_pref_states(m)`, polynomial ([EXT] §8, inferred in §2.2): for each
    /// structure T, the structures on T's history (compatible, not ahead of
    /// it) are pairwise compatible; if there are ≥ m, the candidate prefix is
    /// the m-th most advanced. The longest candidate wins; ties go to the
    /// lowest T, then the lowest ids (deterministic).
    pub fn com_pref_states(&self, m: usize) -> Option<Consolidated> {
        let n = self.rep.len();
        let mut best: Option<(i64, Consolidated)> = None;
        for t in 0..n {
            let tr = &self.rep[t];
            let mut below: Vec<usize> = (0..n)
                .filter(|&k| {
                    let kr = &self.rep[k];
                    kr.last_exec() <= tr.last_exec() && compatible(kr, tr)
                })
                .collect();
            if below.len() < m || m == 0 {
                continue;
            }
            below.sort_by_key(|&k| (std::cmp::Reverse(self.rep[k].last_exec()), k));
            below.truncate(m);
            let base = below[m - 1];
            let value = self.rep[base].last_exec();
            if best.as_ref().is_none_or(|(v, _)| value > *v) {
                let is_def = below.iter().any(|&k| self.rep[k].is_def());
                best = Some((
                    value,
                    Consolidated {
                        base,
                        members: below,
                        is_def,
                    },
                ));
            }
        }
        best.map(|(_, c)| c)
    }

    /// `cons_state(group)`: fails without a group, or when the prefix holder's
    /// log is empty although its machine is not.
    pub fn cons_state(&self, group: Option<Consolidated>) -> Option<Consolidated> {
        let g = group?;
        let b = &self.rep[g.base];
        if b.rlog.is_empty() && !b.machine.is_empty() {
            return None;
        }
        Some(g)
    }

    /// `prefix_ok(k, X)`.
    pub fn prefix_ok(&self, k: usize, x: &Consolidated) -> bool {
        let r = &self.rep[k];
        if r.is_def() {
            x.is_def
        } else if x.is_def {
            false
        } else {
            compatible(r, &self.rep[x.base])
        }
    }

    /// `ds_state()`: a partially flushed system, where some nodes were reset
    /// to the default while Q3..Q2 others keep a common prefix.
    pub fn ds_state(&self, p: &Params) -> Option<Consolidated> {
        let x = self.cons_state(self.com_pref_states(p.q3))?;
        let empty = |k: usize| self.rep[k].executed_nothing();
        let d = (0..p.n).filter(|&k| empty(k)).count();
        let pk = (0..p.n)
            .filter(|&k| !empty(k) && self.prefix_ok(k, &x))
            .count();
        (p.q3 <= pk && pk < p.q2 && pk + d >= p.q1).then_some(x)
    }

    /// Step 4: `cons_state(com_pref_states(Q2))`, else `ds_state()`.
    pub fn consolidate(&self, p: &Params) -> Option<Consolidated> {
        self.cons_state(self.com_pref_states(p.q2))
            .or_else(|| self.ds_state(p))
    }

    /// Catch-up of a replica that is behind but compatible (BFTLIST.md §4:
    /// "partially flushed systems consolidate via `ds_state`", §6.1 item 6).
    /// The spec lets a laggard catch up only by executing requests that Q2
    /// structures hold (`supported`), by `delayed()` (lag > 3σK), or by
    /// adopting the Q2 consolidation. When only Q3..Q2−1 replicas are ahead
    /// (the others flushed, restarted or Byzantine) none of these applies:
    /// the Q2 prefix is the laggard's own (an executed-nothing structure with
    /// queued requests is not def_prefix, so it is "compatible" with all and
    /// `ds_state` never runs), the laggards cannot accept numbers beyond their
    /// window, and the cluster stalls for good. `ds_state`'s rule applied to
    /// laggards in general: the (f+1)-th most advanced compatible state (so
    /// one correct replica at least executed that history), when ≥ Q1
    /// structures are on its history or executed nothing, is adopted by a
    /// replica behind it. Returns its holder.
    ///
    /// f+1 rather than `ds_state`'s Q3: with Q3, two correct replicas that
    /// kept their state while three restarted empty (n = 6) held each other
    /// off for good — the Q2 prefix is empty and compatible with the two,
    /// so they kept their state and rejected every number at or below it,
    /// and the three empty ones could not reach Q2 without them (sim seeds
    /// 64 tick-driven and 102 event-driven). A history f+1 structures agree
    /// on (same hash chain) was executed by a correct replica, so committed
    /// by Q2; the Q1 condition keeps a state no one else is on (a forged or
    /// corrupted one) from being adopted.
    pub fn catch_up(&self, p: &Params) -> Option<usize> {
        let y = self.cons_state(self.com_pref_states(p.f + 1))?;
        let (own, top) = (&self.rep[p.me], &self.rep[y.base]);
        if own.last_exec() >= top.last_exec() || !compatible(own, top) {
            return None;
        }
        let consistent = (0..p.n)
            .filter(|&k| self.rep[k].executed_nothing() || compatible(&self.rep[k], top))
            .count();
        (consistent >= p.q1).then_some(y.base)
    }
}
