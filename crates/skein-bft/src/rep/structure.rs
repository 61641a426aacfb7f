//! The replica structure `RS` of BFTLIST.md §2.2 and its special values.

use crate::hash::{self, GENESIS};
use crate::machine::Machine;
use crate::types::{ClientRequest, Phases, Request, View};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One executed request with the ids that committed it ([EXT] §8: plus the
/// machine digest after it and the hash chain up to it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub req: Request,
    pub xset: BTreeSet<usize>,
    pub digest: u64,
    pub chain: u64,
}

/// A request in the three-phase protocol with the phases it passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReqEntry {
    pub req: Request,
    pub status: Phases,
}

/// `RS`: the executed machine, the executed log (≤ 3σK), pending client
/// requests (≤ σK), the request queue (≤ σK) and the view bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    pub machine: Machine,
    pub rlog: Vec<LogEntry>,
    pub pend: Vec<ClientRequest>,
    pub reqq: Vec<ReqEntry>,
    /// Last assigned sequence number (−1 = none).
    pub seq: i64,
    pub con_flag: bool,
    pub view_changed: bool,
    pub prim: View,
}

impl Default for Replica {
    fn default() -> Self {
        Replica {
            machine: Machine::default(),
            rlog: Vec::new(),
            pend: Vec::new(),
            reqq: Vec::new(),
            seq: -1,
            con_flag: false,
            view_changed: false,
            prim: View::V(0),
        }
    }
}

impl Replica {
    /// The TEE structure: everything empty, seq −1, flags false, prim TEE.
    pub fn tee() -> Self {
        Replica {
            prim: View::Tee,
            ..Replica::default()
        }
    }

    pub fn is_tee(&self) -> bool {
        *self == Replica::tee()
    }

    /// `def_prefix`: machine, rlog, pend and reqq all empty.
    pub fn is_def(&self) -> bool {
        self.machine.is_empty()
            && self.rlog.is_empty()
            && self.pend.is_empty()
            && self.reqq.is_empty()
    }

    /// No executed state at all (empty log and machine), whatever is queued.
    pub fn executed_nothing(&self) -> bool {
        self.rlog.is_empty() && self.machine.is_empty()
    }

    /// `last_exec()`: seq of the last rlog entry, else −1.
    pub fn last_exec(&self) -> i64 {
        self.rlog.last().map_or(-1, |e| e.req.seq)
    }

    /// The hash chain at `last_exec()`.
    pub fn chain(&self) -> u64 {
        self.rlog.last().map_or(GENESIS, |e| e.chain)
    }

    /// The machine digest the log says this structure should have.
    pub fn expected_digest(&self) -> u64 {
        self.rlog
            .last()
            .map_or_else(|| Machine::default().digest(), |e| e.digest)
    }

    /// The machine matches the log (verifies a cached or adopted copy).
    pub fn machine_verified(&self) -> bool {
        self.machine.digest() == self.expected_digest()
    }

    /// The chain value at `seq`, if the (bounded) log still holds it.
    pub fn chain_at(&self, seq: i64) -> Option<u64> {
        if seq == -1 && self.rlog.first().is_some_and(|e| e.req.seq == 0) {
            return Some(GENESIS);
        }
        self.rlog.iter().find(|e| e.req.seq == seq).map(|e| e.chain)
    }

    /// The log is contiguous and its hash chain links up.
    pub fn log_well_formed(&self) -> bool {
        self.rlog.windows(2).all(|w| {
            w[1].req.seq == w[0].req.seq.wrapping_add(1)
                && w[1].chain == hash::chain(w[0].chain, &w[1].req, w[1].digest)
        }) && self
            .rlog
            .first()
            .is_none_or(|e| e.req.seq != 0 || e.chain == hash::chain(GENESIS, &e.req, e.digest))
    }

    pub fn reqq_entry(&self, r: &Request) -> Option<&ReqEntry> {
        self.reqq.iter().find(|e| e.req == *r)
    }

    pub fn in_rlog(&self, r: &Request) -> bool {
        self.rlog.iter().any(|e| e.req == *r)
    }

    /// `in_rlog` in O(1) for a log of consecutive seqs (a correct one); may
    /// answer false for a request a corrupted log holds elsewhere.
    pub fn logged_at(&self, r: &Request) -> bool {
        let Some(first) = self.rlog.first() else {
            return false;
        };
        let Ok(i) = usize::try_from(r.seq.wrapping_sub(first.req.seq)) else {
            return false;
        };
        self.rlog.get(i).is_some_and(|e| e.req == *r)
    }

    /// Holds `r` in its reqq with status ⊇ `s`, or in its rlog.
    pub fn supports(&self, r: &Request, s: Phases) -> bool {
        self.supports_with(r, s, self.seqs_consecutive())
    }

    /// The log's seqs are consecutive, as a correct log's are. Then
    /// `logged_at` answers `in_rlog` exactly: an entry equal to `r` can only
    /// sit at index `r.seq − first seq`. O(len) cheap comparisons: callers
    /// that look up many requests check once per call (never cached across
    /// steps, so a corrupted log is seen as it is now).
    pub fn seqs_consecutive(&self) -> bool {
        self.rlog
            .windows(2)
            .all(|w| w[1].req.seq == w[0].req.seq.wrapping_add(1))
    }

    /// `in_rlog`, in O(1) when `consecutive` is `seqs_consecutive()` of
    /// the log as it is now and true.
    pub fn in_rlog_with(&self, r: &Request, consecutive: bool) -> bool {
        if consecutive {
            self.logged_at(r)
        } else {
            self.in_rlog(r)
        }
    }

    /// `supports` with `in_rlog_with`.
    pub fn supports_with(&self, r: &Request, s: Phases, consecutive: bool) -> bool {
        self.reqq
            .iter()
            .any(|e| e.req == *r && e.status.contains(s))
            || self.in_rlog_with(r, consecutive)
    }
}

/// [EXT] hash-chained compatibility (§8): one execution point lies on the
/// other's history. A def_prefix structure is compatible only with def_prefix
/// structures (§2.2). When the lower point is older than the other's bounded
/// log, compatibility cannot be decided and is assumed; such a lag exceeds
/// 3σK and `delayed()` makes the laggard adopt the consolidated state anyway.
pub fn compatible(a: &Replica, b: &Replica) -> bool {
    if a.is_def() || b.is_def() {
        return a.is_def() && b.is_def();
    }
    let (lo, hi) = if a.last_exec() <= b.last_exec() {
        (a, b)
    } else {
        (b, a)
    };
    let s = lo.last_exec();
    if s == -1 {
        return true;
    }
    if s == hi.last_exec() {
        return lo.chain() == hi.chain();
    }
    match hi.chain_at(s) {
        Some(c) => c == lo.chain(),
        None => hi.rlog.first().is_none_or(|e| e.req.seq > s),
    }
}
