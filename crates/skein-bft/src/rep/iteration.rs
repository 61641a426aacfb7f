//! One Replication loop iteration (BFTLIST.md §2.2 "Loop iteration") and commit.

use super::structure::{LogEntry, ReqEntry};
use super::{Env, RepState};
use crate::byzantine::ByzantineBehaviour as B;
use crate::config::Params;
use crate::hash;
use crate::machine::OpResult;
use crate::types::{ClientRequest, Op, Phases, Request, View};
use std::collections::{BTreeMap, BTreeSet};

/// A request this replica executed, for the client reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    pub req: Request,
    pub result: OpResult,
}

/// What one iteration did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepOutcome {
    pub executed: Vec<Executed>,
    /// Stale state or a conflict was detected and the structures flushed.
    pub flushed: bool,
    /// The consolidated state was adopted.
    pub adopted: bool,
    /// Own stale queue entries removed.
    pub cleaned: u64,
}

impl RepState {
    pub fn iterate(&mut self, env: &Env) -> RepOutcome {
        let p = env.p;
        let me = p.me;
        let mut out = RepOutcome::default();
        if p.self_stabilizing {
            self.view_and_state_steps(env, &mut out);
        } else {
            // Non-self-stabilizing baseline: view fixed to 0, steps 1–6 skipped.
            self.rep[me].prim = View::V(0);
        }
        self.advance_into(env, &mut out);
        out
    }

    /// Steps 7–8 alone: known requests join `pend`, then the three-phase
    /// protocol and execution. The node runs this as soon as a Rep message
    /// or a client request arrives (event-driven replication, see the crate
    /// docs); it is one more interleaving of the Rep loop's own steps, which
    /// the algorithm tolerates, and it leaves view handling, consolidation
    /// and stale-state detection (steps 2–6) to the periodic iteration.
    pub fn advance(&mut self, env: &Env) -> RepOutcome {
        let mut out = RepOutcome::default();
        self.advance_into(env, &mut out);
        out
    }

    fn advance_into(&mut self, env: &Env, out: &mut RepOutcome) {
        let p = env.p;
        let me = p.me;
        // Step 7 (every iteration): known pending requests join own pend,
        // and so do executed ones others still wait for (`awaited`).
        let known = self.known_pend(p);
        let awaited = self.awaited(p);
        // Look-ups by set: under load the lists hold up to σK requests each.
        let awaited_set: BTreeSet<&ClientRequest> = awaited.iter().collect();
        let mut in_pend: BTreeSet<ClientRequest> = self.rep[me].pend.iter().cloned().collect();
        for c in known.iter().chain(awaited.iter()) {
            let own = &mut self.rep[me];
            let fresh = own.machine.executed(c.client, c.ts).is_none();
            if !in_pend.contains(c) && (fresh || awaited_set.contains(c)) {
                own.pend.push(c.clone());
                in_pend.insert(c.clone());
            }
        }
        let own = &mut self.rep[me];
        own.pend
            .retain(|c| own.machine.executed(c.client, c.ts).is_none() || awaited_set.contains(c));
        let excess = own.pend.len().saturating_sub(p.sigma_k());
        own.pend.drain(..excess);
        // Step 8, only in the view the own structure already acts in: the
        // eager step runs before the tick's step 3 handles a view change,
        // and a replica that still took itself for the old view's primary
        // numbered a request over the old view's pre-prepare at that
        // number (VE installed the new view between ticks; §6.2 Claim 25
        // lost r3 once VE and PM stepped between ticks). The same step 3
        // replaces a corrupted own `prim` (an index past the last replica
        // panicked, long sweep seed 108, event-driven).
        let settled_prim = self.rep[me].prim == env.cv[me];
        if env.allow && !self.need_flush && env.pm_ok && !self.rep[me].view_changed && settled_prim
        {
            if let Some(prim) = self.rep[me].prim.primary().filter(|&q| q < p.n) {
                // Own rlog changes only by the commits at the very end.
                let beyond_own = self.logs_beyond_own(p);
                if prim == me {
                    self.assign(p, env.byz);
                } else {
                    self.accept_and_prepare(p, prim, &beyond_own);
                }
                self.commit_phase(p, out, &beyond_own);
            }
        }
        out.cleaned += self.clean_queue(p);
    }

    /// Requests the own machine executed that Q2 − 1 other replicas still
    /// wait for (in their `pend`, not executed there): own `pend` holds
    /// them, since this replica's copy is what makes them known to Q2 and
    /// so orderable. BFTLIST.md §2.2 only ever adds to `pend` in step 7;
    /// dropping every executed request there took a request out of `pend`
    /// at a replica that ran ahead of the Q2 prefix (Lemma 20 case 1: node
    /// 1 executed r2, nodes 0, 2, 3 wait for it), it was then known to too
    /// few to be ordered, and once consolidation rolled that replica back
    /// no one ever executed it (22 of seeds 0..40 tick-driven, 7
    /// event-driven, which hit it at the scenario's own seed 43). Such a
    /// request comes back when the others' copies show them waiting, since
    /// a copy may be older than the state it is compared with. Counting
    /// only replicas that did not execute it keeps executed requests from
    /// holding each other in `pend` for ever.
    fn awaited(&self, p: &Params) -> Vec<ClientRequest> {
        let own = &self.rep[p.me].machine;
        // In first-seen order, with an index for the look-ups (σK each).
        let mut waiting: Vec<(&ClientRequest, usize)> = Vec::new();
        let mut index: BTreeMap<&ClientRequest, usize> = BTreeMap::new();
        let others = (0..p.n).filter(|&k| k != p.me).map(|k| &self.rep[k]);
        for r in others {
            let mut seen: BTreeSet<&ClientRequest> = BTreeSet::new();
            for c in &r.pend {
                let done_here = own.executed(c.client, c.ts).is_some();
                if !done_here || r.machine.executed(c.client, c.ts).is_some() || !seen.insert(c) {
                    continue;
                }
                match index.get(c) {
                    Some(&i) => waiting[i].1 += 1,
                    None => {
                        index.insert(c, waiting.len());
                        waiting.push((c, 1));
                    }
                }
            }
        }
        waiting
            .into_iter()
            .filter(|&(_, n)| n + 1 >= p.q2)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Steps 2–6 (self-stabilizing mode only).
    fn view_and_state_steps(&mut self, env: &Env, out: &mut RepOutcome) {
        let p = env.p;
        let me = p.me;
        if env.allow && !self.rep[me].view_changed {
            let changed = !self.rep[me].is_tee() && env.cv[me] != self.rep[me].prim;
            self.rep[me].view_changed = changed;
        }
        if env.allow {
            let pv = env.cv[me];
            self.rep[me].prim = pv;
            if let Some(pi) = pv.primary() {
                if self.rep[me].view_changed && pi == me {
                    self.new_primary(env);
                } else if self.rep[me].view_changed
                    && !self.rep[pi].view_changed
                    && self.rep[pi].prim == pv
                {
                    self.follow(env, pi);
                }
            }
        }
        let x = self.consolidate(p);
        self.rep[me].con_flag = x.is_none();
        if let Some(x) = x {
            // BFTLIST.md §2.2 step 5 adopts X also when `delayed()`, whose
            // `last_common_exec()` is a max over all structures: one forged
            // log entry (a Byzantine node's seq 666) makes every replica
            // "delayed" at every tick. The intent is catching up, so a
            // compatible replica adopts X for it only when X is ahead;
            // otherwise it would roll back requests it executed since the
            // others last reported (sim seed 35 with event-driven
            // replication, where a replica runs ahead between ticks).
            let behind = self.rep[x.base].last_exec() > self.last_exec(p);
            if !self.prefix_ok(me, &x) || (self.delayed(p) && behind) {
                out.adopted = self.adopt(p, x.base);
            }
        }
        if !out.adopted {
            if let Some(base) = self.catch_up(p) {
                out.adopted = self.adopt(p, base);
            }
        }
        // §5: Byzantine nodes skip the stale/conflict flush.
        if env.byz.is_none() {
            if self.stale_rep(p) || self.conflict(p) {
                self.flush_local();
                self.need_flush = true;
                out.flushed = true;
            }
            if self.flush {
                self.flush_local();
                self.flush = false;
            }
        }
    }

    /// Adopts `rep[base]`'s machine and log when its cached machine verifies;
    /// otherwise asks `base` for a state transfer.
    pub(crate) fn adopt(&mut self, p: &Params, base: usize) -> bool {
        if base == p.me {
            return false;
        }
        if !self.rep[base].machine_verified() {
            self.need_machine.insert(base);
            return false;
        }
        let (machine, rlog) = (self.rep[base].machine.clone(), self.rep[base].rlog.clone());
        let own = &mut self.rep[p.me];
        let before = own.last_exec();
        own.machine = machine;
        own.rlog = rlog;
        let le = own.last_exec();
        if le < before {
            // A roll-back (BFTLIST.md §2.2 step 5: own state not on the
            // consolidated prefix, e.g. Q2 structures were flushed to the
            // default, Claim 14 / Lemma 17). The own queue and sequence
            // number were assigned on top of the abandoned history, so the
            // slots between the new `last_exec` and them are holes no one
            // will ever fill: a primary keeping its `seq` stops assigning
            // (window full) and nothing above a hole executes, while the
            // FD sees nothing pending (sim seed 102, event-driven). The
            // queue starts again from the adopted state.
            own.reqq.clear();
            own.seq = le;
            return true;
        }
        let top = le.saturating_add(p.sigma_k() as i64);
        own.seq = own.seq.clamp(le, top);
        own.reqq.retain(|e| e.req.seq > le && e.req.seq <= top);
        true
    }

    /// Primary: assign sequence numbers to unassigned requests (§2.2 8, §5).
    fn assign(&mut self, p: &Params, byz: Option<B>) {
        if byz == Some(B::StopAssigningSeqnums) {
            return;
        }
        let me = p.me;
        // BFTLIST.md §2.2 step 8 assigns every `unassigned()` request of own
        // `pend`, which also holds requests only this replica has (injected
        // by a client, or left there by a transient fault). The other
        // replicas pre-prepare only known requests (`accept_preprep`, §3: "a
        // request seen by fewer [than Q2] is never ordered"), so such a
        // number is never filled and nothing above it executes; after a
        // crash of Q3 replicas every request the primary kept is in that
        // case (sim seed 102, event-driven). The primary numbers known
        // requests only.
        let known = self.known_pend(p);
        // Own `pend` may keep requests this replica executed (`awaited`);
        // numbering one again would only execute a no-op.
        let fresh = |c: &ClientRequest| self.rep[me].machine.executed(c.client, c.ts).is_none();
        let todo: Vec<ClientRequest> = self
            .unassigned(p)
            .into_iter()
            .filter(|c| known.contains(c) && fresh(c))
            .collect();
        for cr in todo {
            let le = self.last_exec(p);
            let own = &mut self.rep[me];
            if own.seq >= le.saturating_add(p.sigma_k() as i64) || own.reqq.len() >= p.sigma_k() {
                break;
            }
            own.seq = match byz {
                Some(B::ReuseSeqnums) => own.seq.max(le + 1),
                Some(B::SeqnumOutBound) => own.seq.saturating_add(p.sigma_k() as i64 + 1),
                _ => own.seq + 1,
            };
            let creq = if byz == Some(B::ModifyClientReq) {
                ClientRequest {
                    client: 0,
                    ts: 5,
                    op: Op::Append(5),
                }
            } else {
                cr
            };
            let req = Request {
                creq,
                view: me,
                seq: own.seq,
            };
            if own.reqq.iter().any(|e| e.req == req) {
                continue;
            }
            own.reqq.push(ReqEntry {
                req,
                status: Phases::PP_P,
            });
        }
    }

    /// Non-primary: (a) accept the primary's pre-prepares, (b) prepare.
    fn accept_and_prepare(&mut self, p: &Params, prim: usize, beyond_own: &[(Request, usize)]) {
        let me = p.me;
        let known = self.known_pend(p);
        for cr in &known {
            if self.accept_preprep(p, cr, prim, &known) {
                if let Some(req) = self.primary_assignment(p, cr, prim) {
                    push_bounded(p, &mut self.rep[me].reqq, req, Phases::PRE_PREP);
                }
            }
        }
        for r in self.supported_with(p, Phases::PRE_PREP, beyond_own) {
            if let Some(e) = self.rep[me].reqq.iter_mut().find(|e| e.req == r) {
                if e.status == Phases::PRE_PREP {
                    e.status = Phases::PP_P;
                }
            }
        }
    }

    /// (c) commit-vote prepared requests, (d) execute in sequence order.
    fn commit_phase(&mut self, p: &Params, out: &mut RepOutcome, beyond_own: &[(Request, usize)]) {
        let me = p.me;
        for r in self.supported_with(p, Phases::PREP, beyond_own) {
            let own = &mut self.rep[me];
            match own.reqq.iter_mut().find(|e| e.req == r) {
                Some(e) if e.status == Phases::PP_P => e.status = Phases::ALL,
                Some(_) => {}
                None => push_bounded(p, &mut own.reqq, r.clone(), Phases::ALL),
            }
            own.pend.retain(|c| *c != r.creq);
        }
        for r in self.supported_with(p, Phases(Phases::PREP.0 | Phases::COMMIT.0), beyond_own) {
            // The seq test first: `committed_set` is a scan of every
            // structure, and only one candidate can be next.
            if r.seq != self.last_exec(p) + 1 {
                continue;
            }
            let xset = self.committed_set(&r);
            if xset.len() >= p.q2 {
                let result = self.commit(p, r.clone(), xset);
                out.executed.push(Executed { req: r, result });
            }
        }
    }

    /// Commit(r, xset): apply, record in the hash-chained log, dequeue.
    pub(crate) fn commit(&mut self, p: &Params, r: Request, xset: BTreeSet<usize>) -> OpResult {
        let own = &mut self.rep[p.me];
        let result = own.machine.apply(&r);
        let digest = own.machine.digest();
        let chain = hash::chain(own.chain(), &r, digest);
        own.pend.retain(|c| *c != r.creq);
        own.reqq.retain(|e| e.req != r);
        own.rlog.push(LogEntry {
            req: r,
            xset,
            digest,
            chain,
        });
        let excess = own.rlog.len().saturating_sub(p.rlog_max());
        own.rlog.drain(..excess);
        result
    }

    /// Own reqq entries at or below `last_exec()` can never execute; they
    /// would only hold a slot of the bounded queue.
    fn clean_queue(&mut self, p: &Params) -> u64 {
        let own = &mut self.rep[p.me];
        let le = own.last_exec();
        let before = own.reqq.len();
        own.reqq.retain(|e| e.req.seq > le);
        (before - own.reqq.len()) as u64
    }
}

/// Adds an entry, keeping at most σK by dropping the lowest seq (§1 table).
fn push_bounded(p: &Params, q: &mut Vec<ReqEntry>, req: Request, status: Phases) {
    if q.iter().any(|e| e.req == req) {
        return;
    }
    q.push(ReqEntry { req, status });
    if q.len() > p.sigma_k() {
        if let Some(lowest) = (0..q.len()).min_by_key(|&i| q[i].req.seq) {
            q.remove(lowest);
        }
    }
}
