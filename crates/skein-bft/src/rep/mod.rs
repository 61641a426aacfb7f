//! Replication (BFTLIST.md §2.2): the three-phase protocol over bounded
//! queues, execution, consolidation of the state, and stale-state detection
//! and flush.

mod consolidate;
mod derived;
mod iteration;
mod newview;
mod structure;
mod validate;

pub use consolidate::Consolidated;
pub use iteration::{Executed, RepOutcome};
pub use structure::{compatible, LogEntry, Replica, ReqEntry};

use crate::byzantine::ByzantineBehaviour;
use crate::config::Params;
use crate::types::{ClientRequest, View};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The whole own structure, sent every iteration. [EXT] delta + digest (§8):
/// the machine (the list) travels only when `with_machine`; otherwise the
/// receiver rebuilds it from its cached copy by replaying the log, which
/// carries a digest and hash chain per entry, so any mismatch is detected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepMsg {
    pub rs: Replica,
    pub with_machine: bool,
}

/// What Rep needs from the other modules in one iteration.
#[derive(Clone, Debug)]
pub struct Env<'a> {
    pub p: &'a Params,
    /// `VE.allow_service()`.
    pub allow: bool,
    /// `VE.get_current_view(k)` for every k.
    pub cv: Vec<View>,
    /// `PM.no_view_change()`.
    pub pm_ok: bool,
    pub byz: Option<ByzantineBehaviour>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepState {
    /// `rep[me]` own, others the last received.
    pub rep: Vec<Replica>,
    pub need_flush: bool,
    /// Set by `replica_flush()`.
    pub flush: bool,
    /// Peers whose cached machine could not be rebuilt or verified; a state
    /// transfer is asked of them.
    pub need_machine: BTreeSet<usize>,
}

impl RepState {
    pub fn new(n: usize) -> Self {
        RepState {
            rep: vec![Replica::default(); n],
            need_flush: false,
            flush: false,
            need_machine: BTreeSet::new(),
        }
    }

    pub fn own(&self, p: &Params) -> &Replica {
        &self.rep[p.me]
    }

    /// `rep_request_reset()`.
    pub fn rep_request_reset(&mut self) -> bool {
        std::mem::replace(&mut self.need_flush, false)
    }

    /// `replica_flush()`.
    pub fn replica_flush(&mut self) {
        self.flush = true;
    }

    /// `flush_local()`: every structure back to TEE.
    pub fn flush_local(&mut self) {
        for r in &mut self.rep {
            *r = Replica::tee();
        }
    }

    /// `inject(cr)`: a client request enters own `pend` (oldest out past σK).
    /// Returns false when the request was already executed.
    pub fn inject(&mut self, p: &Params, cr: ClientRequest) -> bool {
        let own = &mut self.rep[p.me];
        if own.machine.executed(cr.client, cr.ts).is_some() {
            return false;
        }
        if !own.pend.contains(&cr) {
            own.pend.push(cr);
            let excess = own.pend.len().saturating_sub(p.sigma_k());
            own.pend.drain(..excess);
        }
        true
    }

    /// §2.2 receive from `from` (caller checked `VE.allow_service()`).
    /// Returns false when the message failed validation and was dropped.
    pub fn receive(&mut self, p: &Params, from: usize, msg: RepMsg, pm_ok: bool) -> bool {
        if from >= p.n || from == p.me || !validate::structure_ok(p, &msg.rs, msg.with_machine) {
            return false;
        }
        let mut rs = msg.rs;
        let old = &mut self.rep[from];
        if !msg.with_machine {
            let cached = std::mem::take(&mut old.machine);
            if !replay(old, cached, &mut rs) {
                self.need_machine.insert(from);
            }
        } else {
            self.need_machine.remove(&from);
        }
        let old = &mut self.rep[from];
        if pm_ok {
            *old = rs;
        } else {
            // A view change is in progress: only the executed state is taken.
            old.machine = rs.machine;
            old.rlog = rs.rlog;
        }
        true
    }

    /// Repairs what no correct execution produces in own variables: wrong
    /// array length and overlong queues (bounded trimming, §4).
    pub fn sanitize(&mut self, p: &Params) -> u64 {
        if self.rep.len() != p.n {
            *self = RepState::new(p.n);
            return 1;
        }
        let mut fixed = 0;
        self.need_machine.retain(|&k| k < p.n);
        for r in &mut self.rep {
            if r.pend.len() > p.sigma_k() {
                let excess = r.pend.len() - p.sigma_k();
                r.pend.drain(..excess);
                fixed += 1;
            }
            if r.reqq.len() > p.sigma_k() {
                r.reqq.sort_by_key(|e| e.req.seq);
                let excess = r.reqq.len() - p.sigma_k();
                r.reqq.drain(..excess);
                fixed += 1;
            }
            if r.rlog.len() > p.rlog_max() {
                let excess = r.rlog.len() - p.rlog_max();
                r.rlog.drain(..excess);
                fixed += 1;
            }
        }
        fixed
    }
}

/// Rebuilds the receiver's copy of a peer's machine from the cached one and
/// the log entries executed since. False when the cached copy is not on the
/// new log's history (the cached copy is kept; a state transfer is needed).
fn replay(old: &Replica, cached: crate::machine::Machine, new: &mut Replica) -> bool {
    let s = old.last_exec();
    if s == new.last_exec() && old.chain() == new.chain() {
        new.machine = cached;
        return true;
    }
    let linked = if s == -1 {
        new.rlog.first().is_some_and(|e| e.req.seq == 0)
    } else {
        new.chain_at(s) == Some(old.chain())
    };
    if !linked || s > new.last_exec() {
        new.machine = cached;
        return false;
    }
    let mut m = cached;
    for e in new.rlog.iter().filter(|e| e.req.seq > s) {
        m.apply(&e.req);
    }
    new.machine = m;
    true
}
