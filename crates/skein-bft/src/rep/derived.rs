//! The derived values and predicates of BFTLIST.md §2.2 ("Derived values").

use super::{RepState, Replica};
use crate::config::Params;
use crate::types::{ClientRequest, Phases, Request, MAXINT};
use std::collections::{BTreeMap, BTreeSet};

impl RepState {
    pub fn last_exec(&self, p: &Params) -> i64 {
        self.rep[p.me].last_exec()
    }

    /// Max over k of the seq of `rep[k].rlog.last` when its xset has ≥ Q2 ids.
    pub fn last_common_exec(&self, p: &Params) -> i64 {
        self.rep
            .iter()
            .filter_map(|r| r.rlog.last())
            .filter(|e| valid_ids(p, &e.xset) >= p.q2)
            .map(|e| e.req.seq)
            .max()
            .unwrap_or(-1)
    }

    /// Client requests in the `pend` of ≥ Q2 structures (counted per processor).
    ///
    /// Runs several times per Rep message: one sorted vector of (request,
    /// holder) pairs instead of a map of sets (allocation dominated).
    pub fn known_pend(&self, p: &Params) -> Vec<ClientRequest> {
        let held = self
            .rep
            .iter()
            .enumerate()
            .flat_map(|(k, r)| r.pend.iter().map(move |c| (c, k)));
        let mut out: Vec<ClientRequest> = held_by_q2(held.collect(), p.q2)
            .into_iter()
            .cloned()
            .collect();
        // Keep own pend order first (FIFO), then the rest in a fixed order.
        let mut own_at: Vec<(&ClientRequest, usize)> = self.rep[p.me]
            .pend
            .iter()
            .enumerate()
            .map(|(i, c)| (c, i))
            .collect();
        // Sorted by (request, index): the first of each run is its first position.
        own_at.sort_unstable();
        own_at.dedup_by(|b, a| a.0 == b.0);
        out.sort_by_cached_key(|c| {
            own_at
                .binary_search_by(|(x, _)| (*x).cmp(c))
                .map_or(usize::MAX, |i| own_at[i].1)
        });
        out
    }

    /// Requests held by ≥ Q2 processors in reqq with status ⊇ `s` or in their
    /// rlog, minus own rlog. BFTLIST.md §2.2 (inferred): count distinct
    /// processors, not entries. Sorted by ascending seq.
    pub fn supported(&self, p: &Params, s: Phases) -> Vec<Request> {
        self.supported_with(p, s, &self.logs_beyond_own(p))
    }

    /// The log entries of every structure that own rlog does not hold at
    /// their seq (`logged_at`), with their holder: the part of `supported`
    /// that does not depend on the phase. Requests of own rlog are left out
    /// of `supported` anyway; skipping them here keeps this O(n·3σK) cheap
    /// comparisons instead of sorting them. One Rep step asks `supported`
    /// three times with own rlog unchanged in between, so it computes this
    /// once (`supported_with`); it is never kept past the step.
    pub fn logs_beyond_own(&self, p: &Params) -> Vec<(Request, usize)> {
        let own = &self.rep[p.me];
        let mut out = Vec::new();
        for (k, r) in self.rep.iter().enumerate() {
            out.extend(
                r.rlog
                    .iter()
                    .filter(|e| !own.logged_at(&e.req))
                    .map(|e| (e.req.clone(), k)),
            );
        }
        out
    }

    /// `supported`, given `logs_beyond_own()` of the current own rlog.
    pub fn supported_with(
        &self,
        p: &Params,
        s: Phases,
        beyond_own: &[(Request, usize)],
    ) -> Vec<Request> {
        let own = &self.rep[p.me];
        let mut held: Vec<(&Request, usize)> = beyond_own.iter().map(|(r, k)| (r, *k)).collect();
        for (k, r) in self.rep.iter().enumerate() {
            held.extend(
                r.reqq
                    .iter()
                    .filter(|e| e.status.contains(s))
                    .map(|e| (&e.req, k)),
            );
        }
        let consecutive = own.seqs_consecutive();
        let mut out: Vec<Request> = held_by_q2(held, p.q2)
            .into_iter()
            .filter(|r| !own.in_rlog_with(r, consecutive))
            .cloned()
            .collect();
        out.sort_by_key(|r| r.seq);
        out
    }

    /// Own reqq entries with status ⊇ `s` that ≥ Q2 structures support.
    pub fn known_reqs(&self, p: &Params, s: Phases) -> Vec<Request> {
        let consecutive: Vec<bool> = self.rep.iter().map(Replica::seqs_consecutive).collect();
        let supporters = |req: &Request| {
            self.rep
                .iter()
                .zip(&consecutive)
                .filter(|&(r, &c)| r.supports_with(req, s, c))
                .count()
        };
        self.rep[p.me]
            .reqq
            .iter()
            .filter(|e| e.status.contains(s))
            .filter(|e| supporters(&e.req) >= p.q2)
            .map(|e| e.req.clone())
            .collect()
    }

    /// `rep[prim].reqq` has a PRE_PREP entry for `cr`.
    pub fn preprep_exists(&self, cr: &ClientRequest, prim: usize) -> bool {
        self.rep[prim]
            .reqq
            .iter()
            .any(|e| e.req.creq == *cr && e.status.contains(Phases::PRE_PREP))
    }

    /// Own pend entries the primary has not pre-prepared and that are not
    /// already prepared or committed by a Q2 majority.
    pub fn unassigned(&self, p: &Params) -> Vec<ClientRequest> {
        let own = &self.rep[p.me];
        let known: Vec<Request> = self.known_reqs(p, Phases(Phases::PREP.0 | Phases::COMMIT.0));
        own.pend
            .iter()
            .filter(|c| {
                !own.prim
                    .primary()
                    .is_some_and(|pr| pr < p.n && self.preprep_exists(c, pr))
            })
            .filter(|c| !known.iter().any(|r| r.creq == **c))
            .cloned()
            .collect()
    }

    /// Client requests that ≥ f+1 structures hold in their queues above
    /// their own `last_exec()`: at least one correct replica took each,
    /// which it does only for a request Q2 replicas knew (`accept_preprep`)
    /// or prepared, so a correct primary must get it executed there. For
    /// the FD's progress check (see `BftNode::get_pend_reqs`). Each holder's
    /// own `last_exec()`, not this replica's: a replica that executed the
    /// request with votes that were then lost (crash, corruption) must
    /// still see the others stuck on it (sim seed 88, event-driven).
    pub fn queued_by_f_plus_1(&self, p: &Params) -> Vec<ClientRequest> {
        let mut holders: BTreeMap<&ClientRequest, BTreeSet<usize>> = BTreeMap::new();
        for (k, r) in self.rep.iter().enumerate() {
            let le = r.last_exec();
            for e in r
                .reqq
                .iter()
                .filter(|e| e.req.seq > le && !e.req.creq.is_dummy())
            {
                holders.entry(&e.req.creq).or_default().insert(k);
            }
        }
        holders
            .into_iter()
            .filter(|(_, ks)| ks.len() > p.f)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Client requests in the `pend` of ≥ f+1 structures, not executed
    /// here: a correct replica got each from its client. For the FD's
    /// progress check (see `BftNode::get_pend_reqs`), where `known_pend()`
    /// (Q2) alone missed a primary whose numbers stay empty: it numbered
    /// requests while Q2 knew them, a crash then wiped them at some
    /// replicas, the others no longer pre-prepare them, and with them out
    /// of every queue but the primary's nothing looked pending until the
    /// clients' retries (sim seed 241, event-driven).
    pub fn pending_at_f_plus_1(&self, p: &Params) -> Vec<ClientRequest> {
        let own = &self.rep[p.me];
        let mut count: BTreeMap<&ClientRequest, usize> = BTreeMap::new();
        for r in &self.rep {
            let distinct: BTreeSet<&ClientRequest> = r.pend.iter().collect();
            for c in distinct {
                *count.entry(c).or_default() += 1;
            }
        }
        count
            .into_iter()
            .filter(|&(c, k)| {
                k > p.f && !c.is_dummy() && own.machine.executed(c.client, c.ts).is_none()
            })
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// `last_exec() < r.seq ≤ last_exec() + σK`.
    pub fn in_window(&self, p: &Params, seq: i64) -> bool {
        let le = self.last_exec(p);
        le < seq && seq <= le.saturating_add(p.sigma_k() as i64)
    }

    /// The first Request of `rep[prim]` for `cr` in view `prim` within the window.
    pub fn primary_assignment(
        &self,
        p: &Params,
        cr: &ClientRequest,
        prim: usize,
    ) -> Option<Request> {
        let pr = &self.rep[prim];
        pr.reqq
            .iter()
            .map(|e| &e.req)
            .chain(pr.rlog.iter().map(|e| &e.req))
            .find(|r| r.creq == *cr && r.view == prim && self.in_window(p, r.seq))
            .cloned()
    }

    /// `accept_preprep(cr, prim)`.
    pub fn accept_preprep(
        &self,
        p: &Params,
        cr: &ClientRequest,
        prim: usize,
        known: &[ClientRequest],
    ) -> bool {
        if !known.contains(cr) || !self.preprep_exists(cr, prim) {
            return false;
        }
        let Some(r) = self.primary_assignment(p, cr, prim) else {
            return false;
        };
        // BFTLIST.md §2.2 refuses only an own entry with the same creq,
        // seq and view; the intent (§5 REUSE_SEQNUMS: "reject … duplicate")
        // is one request per (view, seq). With the literal check a correct
        // replica pre-prepared two requests a REUSE_SEQNUMS primary gave one
        // number, both reached Q2 and correct replicas executed different
        // requests at seq 18 (long sweep seed 96, event-driven).
        let own = &self.rep[p.me];
        !own.reqq
            .iter()
            .any(|e| e.req.view == r.view && e.req.seq == r.seq)
            && !own.in_rlog(&r)
    }

    /// Processors holding `r` with COMMIT or in their rlog.
    pub fn committed_set(&self, r: &Request) -> BTreeSet<usize> {
        (0..self.rep.len())
            .filter(|&k| self.rep[k].supports(r, Phases::COMMIT))
            .collect()
    }

    /// `delayed()`: own execution lags the common one by more than 3σK.
    pub fn delayed(&self, p: &Params) -> bool {
        self.last_exec(p) < self.last_common_exec(p).saturating_sub(p.rlog_max() as i64)
    }

    /// Own reqq holds one client request under two different Requests.
    pub fn double(&self, p: &Params) -> bool {
        let q = &self.rep[p.me].reqq;
        q.iter().enumerate().any(|(a, x)| {
            q[a + 1..]
                .iter()
                .any(|y| y.req.creq == x.req.creq && y.req != x.req && !x.req.creq.is_dummy())
        })
    }

    /// `stale_rep()`, plus (Claim 12) an own sequence number outside the
    /// window and ([EXT] hash-chained log) an own machine or log that does not
    /// match its digests.
    pub fn stale_rep(&self, p: &Params) -> bool {
        let own = &self.rep[p.me];
        let le = own.last_exec();
        let top = le.saturating_add(p.sigma_k() as i64);
        // `last_exec() + σK > MAXINT`, computed without overflow.
        le > MAXINT - p.sigma_k() as i64
            || self.double(p)
            || own.rlog.iter().any(|e| valid_ids(p, &e.xset) < p.q2)
            || own.seq > top
            || own.reqq.iter().any(|e| e.req.seq > top)
            || !own.log_well_formed()
            || !own.machine_verified()
    }

    /// `conflict()`: ≥ Q1 processors cannot consolidate.
    pub fn conflict(&self, p: &Params) -> bool {
        self.rep.iter().filter(|r| r.con_flag).count() >= p.q1
    }
}

/// The items of `(item, holder)` pairs that ≥ `q2` distinct holders hold,
/// in ascending order of items (the order a `BTreeMap` keyed by item gave).
fn held_by_q2<T: Ord>(mut held: Vec<(&T, usize)>, q2: usize) -> Vec<&T> {
    held.sort_unstable();
    held.dedup();
    let mut out = Vec::new();
    for run in held.chunk_by(|a, b| a.0 == b.0) {
        if run.len() >= q2 {
            out.push(run[0].0);
        }
    }
    out
}

fn valid_ids(p: &Params, xset: &BTreeSet<usize>) -> usize {
    xset.iter().filter(|&&k| k < p.n).count()
}
