//! Replication (BFTLIST.md §2.2): the three-phase protocol over bounded
//! queues, execution, consolidation of the state, and stale-state detection
//! and flush.

mod consolidate;
pub mod delta;
mod derived;
mod iteration;
mod newview;
mod structure;
mod validate;

pub use consolidate::Consolidated;
pub use delta::{LogDigest, LogHead};
pub use iteration::{Executed, RepOutcome};
pub use structure::{compatible, LogEntry, Replica, ReqEntry};

use crate::byzantine::ByzantineBehaviour;
use crate::config::Params;
use crate::types::{ClientRequest, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The own structure, sent every iteration. [EXT] delta + digest (§8):
/// `rs.rlog` holds only the log entries after the point the receiver said
/// it holds (all of them when it said nothing usable), and `log` digests the
/// whole log, so the receiver rebuilds it from its cached copy and checks it
/// (module `delta`). The machine (the list) travels only when
/// `with_machine`, always with the whole log; otherwise the receiver
/// rebuilds it from its cached copy by replaying the log, whose entries
/// carry a machine digest and hash chain, so any mismatch is detected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepMsg {
    pub rs: Replica,
    pub with_machine: bool,
    /// Digest of the sender's whole log (`rs.rlog` is a suffix of it).
    pub log: LogDigest,
    /// What the sender holds of the receiver's log: where the receiver's
    /// next delta to the sender may start. A hint only (see `delta`).
    pub holds: Option<LogHead>,
}

impl RepMsg {
    /// A message carrying the whole of `rs` (its whole log).
    pub fn whole(rs: Replica, with_machine: bool, holds: Option<LogHead>) -> Self {
        RepMsg {
            log: LogDigest::of(&rs.rlog),
            rs,
            with_machine,
            holds,
        }
    }

    /// Holds the sender's whole log (no cached copy is needed to read it).
    pub fn has_whole_log(&self) -> bool {
        usize::try_from(self.log.len).is_ok_and(|len| len == self.rs.rlog.len())
    }
}

/// What became of a received Rep message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Failed validation; dropped.
    Refused,
    /// Stored (its log rebuilt and verified).
    Stored,
    /// Its log delta did not rebuild a log matching its digest: the
    /// sender's copy is TEE until a whole log arrives.
    Unverified,
    /// Older than the copy held (it was overtaken on the way) and not
    /// rebuildable from it; dropped, the copy kept.
    Overtaken,
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
    /// Per peer, the verified copy of its log from before a Rep message it
    /// sent earlier, delivered late, replaced the copy with a shorter log.
    /// The peer's next delta may start at the newer head this node said it
    /// held meanwhile, and rebuilds only from this copy. A cache, not
    /// protocol state: a log rebuilt from it is stored only when it matches
    /// the digest, so a wrong copy costs one whole log, like a lost one.
    #[serde(skip)]
    pub overtaken: BTreeMap<usize, Vec<LogEntry>>,
}

impl RepState {
    pub fn new(n: usize) -> Self {
        RepState {
            rep: vec![Replica::default(); n],
            need_flush: false,
            flush: false,
            need_machine: BTreeSet::new(),
            overtaken: BTreeMap::new(),
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
    /// A delta that does not rebuild a log matching the message's digest
    /// leaves the sender's copy at TEE, "not heard" (the own next message
    /// then tells the sender that nothing of its log is held here, so it
    /// sends the whole log): decisions never use an unverified copy.
    pub fn receive(&mut self, p: &Params, from: usize, msg: RepMsg, pm_ok: bool) -> Receipt {
        if from >= p.n
            || from == p.me
            || !validate::structure_ok(p, &msg.rs, msg.with_machine)
            || !validate::digest_ok(p, &msg)
            || (msg.with_machine && !msg.has_whole_log())
        {
            return Receipt::Refused;
        }
        let RepMsg {
            mut rs,
            log,
            with_machine,
            ..
        } = msg;
        let old = &mut self.rep[from];
        let (old_exec, old_chain) = (old.last_exec(), old.chain());
        let held = std::mem::take(&mut old.rlog);
        let delta = std::mem::take(&mut rs.rlog);
        // Rep messages are not ordered: an eager send can pass the one
        // before it, so this one may be older than the copy held.
        let behind = overtaken(&held, &delta, log).then(|| held.clone());
        let retry = self.overtaken.contains_key(&from).then(|| delta.clone());
        let mut rebuilt = delta::splice(held, delta, log);
        if rebuilt.is_none() {
            if let (Some(spare), Some(d)) = (self.overtaken.get(&from), retry) {
                rebuilt = delta::splice(spare.clone(), d, log);
            }
        }
        let rlog = match (rebuilt, behind) {
            (Some(rlog), behind) => {
                if self
                    .overtaken
                    .get(&from)
                    .is_some_and(|s| head_seq(s) <= head_seq(&rlog))
                {
                    self.overtaken.remove(&from);
                }
                if let Some(newer) = behind {
                    // Stored all the same (a sender may really go back, after
                    // adopting a shorter state), but the sender's next delta
                    // may start at the newer head said to be held meanwhile.
                    let better = self
                        .overtaken
                        .get(&from)
                        .is_none_or(|s| head_seq(s) < head_seq(&newer));
                    if better {
                        self.overtaken.insert(from, newer);
                    }
                }
                rlog
            }
            (None, Some(newer)) => {
                // Its rebuild needed entries the newer copy trimmed; it
                // could only take the copy back.
                self.rep[from].rlog = newer;
                return Receipt::Overtaken;
            }
            (None, None) => {
                self.rep[from] = Replica::tee();
                return Receipt::Unverified;
            }
        };
        rs.rlog = rlog;
        if !with_machine {
            let cached = std::mem::take(&mut old.machine);
            if !replay(old_exec, old_chain, cached, &mut rs) {
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
        Receipt::Stored
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
        self.overtaken
            .retain(|&k, l| k < p.n && k != p.me && l.len() <= p.rlog_max());
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
            // Entries every receiver refuses (§8 EXT validation: a client
            // or view out of range, a bad status): a corrupted own queue
            // holding one made all of this replica's Rep messages dropped,
            // its peers' copies of it froze, and no new view it led was ever
            // installed (sim seed 295, tick-driven). No correct execution
            // produces them, so they are removed (in peers' copies they were
            // refused on receipt already).
            let (pend, reqq) = (r.pend.len(), r.reqq.len());
            r.pend.retain(|c| validate::creq_ok(p, c));
            r.reqq
                .retain(|e| validate::req_ok(p, &e.req) && e.status.0 <= 7);
            if r.pend.len() != pend || r.reqq.len() != reqq {
                fixed += 1;
            }
        }
        fixed
    }
}

fn head_seq(log: &[LogEntry]) -> Option<i64> {
    log.last().map(|e| e.req.seq)
}

/// The message's log ends inside the held copy of the sender's log, which
/// goes on past it: the message left before the one the copy came from
/// (or the sender went back to an older state).
fn overtaken(held: &[LogEntry], delta: &[LogEntry], digest: LogDigest) -> bool {
    let Some(last) = delta.last() else {
        return digest.len == 0 && !held.is_empty();
    };
    let i = held.partition_point(|e| e.req.seq < last.req.seq);
    i + 1 < held.len() && held[i].req.seq == last.req.seq && held[i].chain == last.chain
}

/// Rebuilds the receiver's copy of a peer's machine from the cached one (at
/// `s`, chain value `chain`) and the log entries executed since. False when
/// the cached copy is not on the new log's history (the cached machine is
/// kept; a state transfer is needed).
fn replay(s: i64, chain: u64, cached: crate::machine::Machine, new: &mut Replica) -> bool {
    if s == new.last_exec() && chain == new.chain() {
        new.machine = cached;
        return true;
    }
    let linked = if s == -1 {
        new.rlog.first().is_some_and(|e| e.req.seq == 0)
    } else {
        new.chain_at(s) == Some(chain)
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
