//! `BftNode`: the modules wired together behind the sans-IO `Protocol` trait.
//!
//! One tick = one iteration of VE → Rep → PM, then the sends (§2 "inferred"
//! order). Failure-detector tokens are handled as they arrive and answered
//! at the next tick.

use crate::byzantine::ByzantineBehaviour;
use crate::config::{BftConfig, BftConfigError, Params};
use crate::edfd::EdfdState;
use crate::fd::{FdEnv, FdState};
use crate::message::{BftMessage, BftReply, BftRequest};
use crate::pm::PmState;
use crate::rep::{Env, Receipt, RepState};
use crate::status::{BftCounters, BftStatus};
use crate::types::{ClientId, ClientRequest, View};
use crate::ve::VeState;
use serde::{Deserialize, Serialize};
use skein_core::{Boot, Context, Input, NodeId, Protocol, RequestId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Every module's variables: what `corrupt` overwrites, what
/// `/api/v1/bft/state` shows and what a state file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BftState {
    pub ve: VeState,
    pub rep: RepState,
    pub pm: PmState,
    pub fd: FdState,
    pub edfd: EdfdState,
}

impl BftState {
    pub fn new(n: usize) -> Self {
        BftState {
            ve: VeState::new(n),
            rep: RepState::new(n),
            pm: PmState::new(n),
            fd: FdState::new(n),
            edfd: EdfdState::new(n),
        }
    }
}

/// Most client requests waiting for execution at once (a bound, §STYLE).
pub const WAITING_MAX: usize = 1024;

pub struct BftNode {
    pub(crate) p: Params,
    pub(crate) config: BftConfig,
    /// Set when the config was refused at boot: the node stays inert.
    pub(crate) config_error: Option<BftConfigError>,
    pub(crate) members: Vec<NodeId>,
    pub(crate) st: BftState,
    pub(crate) byz: Option<ByzantineBehaviour>,
    /// Callers waiting per `(client, ts)`, with the tick they arrived.
    pub(crate) waiting: BTreeMap<(ClientId, u64), crate::client::Waiting>,
    pub(crate) ticks: u64,
    /// Peers that asked for our full structure.
    pub(crate) full_to: BTreeSet<usize>,
    pub(crate) counters: BftCounters,
    pub(crate) eager: crate::eager::EagerSends,
    /// What each peer last said it holds of our log: where our next log
    /// delta to it starts. Driver bookkeeping, not protocol state: any value
    /// only changes how many entries travel, since the receiver checks the
    /// rebuilt log against the digest (`rep::delta`).
    pub(crate) acked: Vec<Option<crate::rep::LogHead>>,
    pub(crate) pacing: crate::control::FdPacing,
    /// When this replica demanded the view change under way, and how long
    /// its last demanded change took until it served again (`control`).
    pub(crate) view_change_clock: crate::control::ViewChangeClock,
}

impl BftNode {
    /// Builds a node without a driver (tests, tools). Same rules as `boot`.
    pub fn new(id: NodeId, members: &[NodeId], config: &BftConfig) -> Self {
        let mut sorted = members.to_vec();
        sorted.sort();
        sorted.dedup();
        let n = sorted.len();
        let me = sorted.iter().position(|&m| m == id);
        let config_error = match me {
            None => Some(BftConfigError::NotAMember { id: id.0 }),
            Some(_) => config.validate(n).err(),
        };
        let p = Params::new(n, me.unwrap_or(0), config);
        BftNode {
            p,
            config: config.clone(),
            config_error,
            members: sorted,
            st: BftState::new(n),
            byz: config.byzantine,
            waiting: BTreeMap::new(),
            ticks: 0,
            full_to: BTreeSet::new(),
            counters: BftCounters::default(),
            eager: Default::default(),
            acked: vec![None; n],
            pacing: Default::default(),
            view_change_clock: Default::default(),
        }
    }

    pub fn params(&self) -> &Params {
        &self.p
    }

    /// The full state of every module (`/api/v1/bft/state`).
    pub fn state(&self) -> &BftState {
        &self.st
    }

    /// Starts from a given state (a state file, or a test's injected start
    /// state). Anything malformed in it is repaired at the next step.
    pub fn set_state(&mut self, state: BftState) {
        self.st = state;
    }

    /// Mutable access for tests and fault injection.
    pub fn state_mut(&mut self) -> &mut BftState {
        &mut self.st
    }

    pub fn byzantine(&self) -> Option<ByzantineBehaviour> {
        self.byz
    }

    /// Changes the emulated Byzantine behaviour at run time.
    pub fn set_byzantine(&mut self, b: Option<ByzantineBehaviour>) {
        if self.byz == Some(ByzantineBehaviour::Unresponsive) && b.is_none() {
            // §2.4: after leaving UNRESPONSIVE, restart the token ping-pong.
            for k in 0..self.p.n {
                if k != self.p.me {
                    self.st.fd.owed.insert(k);
                }
            }
        }
        self.byz = b;
    }

    pub fn config_error(&self) -> Option<&BftConfigError> {
        self.config_error.as_ref()
    }

    pub fn counters(&self) -> &BftCounters {
        &self.counters
    }

    pub(crate) fn index_of(&self, id: NodeId) -> Option<usize> {
        self.members.iter().position(|&m| m == id)
    }

    pub(crate) fn node_of(&self, k: usize) -> NodeId {
        self.members[k]
    }

    /// `VE.get_current_view(k)` for every k.
    pub(crate) fn current_views(&self) -> Vec<View> {
        (0..self.p.n)
            .map(|k| self.st.ve.get_current_view(&self.p, k))
            .collect()
    }

    /// Repairs what no correct execution produces (§4 "bounded trimming").
    pub(crate) fn sanitize(&mut self) {
        let p = &self.p;
        let mut fixed = self.st.ve.sanitize(p.n);
        fixed += self.st.rep.sanitize(p);
        fixed += self.st.pm.sanitize(p);
        fixed += self.st.fd.sanitize(p);
        fixed += self.st.edfd.sanitize(p);
        if self.st.ve.edfd_after > self.st.edfd.token.saturating_add(1) {
            // A VE gate beyond the next round can only be corruption.
            self.st.ve.edfd_after = self.st.edfd.token;
            fixed += 1;
        }
        self.counters.repairs += fixed;
    }

    fn on_tick(&mut self, ctx: &mut Context<'_, Self>) {
        self.ticks += 1;
        self.sanitize();
        let p = self.p.clone();
        self.ve_step();
        let cv = self.current_views();
        let allow = self.st.ve.allow_service(&p);
        self.requeue_lost_requests();
        self.rep_step(ctx, &cv, allow);
        self.pm_step(&cv, allow);
        self.time_view_change(ctx.now());
        self.send_all(ctx);
    }

    /// Rep's iteration (§2.2 steps 1–8) and the replies it makes.
    pub(crate) fn rep_step(&mut self, ctx: &mut Context<'_, Self>, cv: &[View], allow: bool) {
        let p = self.p.clone();
        let env = Env {
            p: &p,
            allow,
            cv: cv.to_vec(),
            pm_ok: self.st.pm.no_view_change(p.me),
            byz: self.byz,
        };
        let out = self.st.rep.iterate(&env);
        self.counters.flushes += u64::from(out.flushed);
        self.counters.adoptions += u64::from(out.adopted);
        self.counters.repairs += out.cleaned;
        self.counters.executed += out.executed.len() as u64;
        for e in out.executed {
            self.reply_executed(ctx, &e.req.creq, e.req.seq, e.result);
        }
        self.reply_learnt(ctx);
    }

    /// VE's iteration, at most once per finished ED-FD round when that
    /// detector is on (§2.5); the fixed view 0 without self-stabilization.
    pub(crate) fn ve_step(&mut self) {
        let p = &self.p;
        if !p.self_stabilizing {
            self.st.ve.pin_view_zero();
            return;
        }
        self.st.ve.mask = if p.event_driven_fd {
            self.st.edfd.mask(p.n)
        } else {
            vec![true; p.n]
        };
        let gate = !p.event_driven_fd || self.st.edfd.last.token >= self.st.ve.edfd_after;
        if gate {
            let o = self.st.ve.iterate(p, self.st.rep.need_flush);
            if o.reset {
                self.st.rep.rep_request_reset();
                self.counters.ve_resets += 1;
            }
            if o.case.is_some() && p.event_driven_fd {
                self.st.ve.edfd_after = self.st.edfd.token.saturating_add(1);
            }
        }
    }

    /// PM's iteration; a demand for a view change goes to VE.
    pub(crate) fn pm_step(&mut self, cv: &[View], allow: bool) {
        let p = &self.p;
        let suspected = self.st.fd.suspected(p, cv);
        if self.st.pm.iterate(p, cv, allow, suspected) {
            // PM repeats its demand every step until the view changes;
            // the counter counts demands, not repetitions.
            if !self.st.ve.vchg[p.me] {
                self.counters.view_change_demands += 1;
            }
            self.st.ve.view_change(p.me);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, message: BftMessage) {
        let Some(j) = self.index_of(from) else {
            self.counters.dropped += 1;
            return;
        };
        if j == self.p.me {
            self.counters.dropped += 1;
            return;
        }
        let p = self.p.clone();
        let ok = match message {
            BftMessage::Ve(m) => {
                let before = self.st.ve.entry_of(j);
                let ok = !p.self_stabilizing || self.st.ve.receive(&p, j, &m);
                if ok && before != self.st.ve.entry_of(j) {
                    self.control_step_soon(ctx);
                }
                ok
            }
            BftMessage::Rep(m) => {
                if let Some(a) = self.acked.get_mut(j) {
                    *a = m.holds;
                }
                // §2.2: Rep messages are taken only while service is allowed.
                if self.st.ve.allow_service(&p) {
                    let pm_ok = self.st.pm.no_view_change(p.me);
                    match self.st.rep.receive(&p, j, *m, pm_ok) {
                        Receipt::Stored => {
                            self.advance_now(ctx);
                            true
                        }
                        Receipt::Unverified => {
                            self.counters.log_deltas_unverified += 1;
                            true
                        }
                        Receipt::Overtaken | Receipt::Refused => false,
                    }
                } else {
                    true
                }
            }
            BftMessage::StateRequest => {
                self.full_to.insert(j);
                true
            }
            BftMessage::Pm(m) => {
                let changed = self.st.pm.vcm.get(j) != Some(&m.vcm);
                let ok = self.st.pm.receive(&p, j, m);
                if ok && changed {
                    self.control_step_soon(ctx);
                }
                ok
            }
            BftMessage::Fd(m) => {
                let cv = self.current_views();
                // Only the primary's tokens read the progress set, and it
                // costs a scan of every structure: the tokens come every
                // `fd_token_gap_ms` from every peer.
                let pend_reqs = if cv[p.me] == View::V(j) {
                    self.get_pend_reqs()
                } else {
                    None
                };
                let env = FdEnv {
                    cv: &cv,
                    allow: self.st.ve.allow_service(&p),
                    pend_reqs,
                };
                let before = self.st.fd.susp.clone();
                self.st.fd.on_token(&p, j, m.susp, &env);
                self.answer_tokens_soon(ctx);
                if before != self.st.fd.susp {
                    self.control_step_soon(ctx);
                }
                true
            }
            BftMessage::Edfd(m) => {
                let (reply, finished) = self.st.edfd.on_token(&p, j, m);
                if let Some(r) = reply {
                    self.send_to(ctx, j, skein_core::Channel::Stream, BftMessage::Edfd(r));
                }
                if finished {
                    self.edfd_round_ended(ctx);
                }
                true
            }
        };
        if !ok {
            self.counters.dropped += 1;
        }
    }

    /// `Rep.get_pend_reqs()` for the progress check; None is the VIEW_CHANGE
    /// marker. Deviation (BFTLIST.md §2.4, §5 UNRESPONSIVE_TO_HALF): the spec's
    /// `known_pend() ∩ unassigned()` drops a request once the primary
    /// pre-prepared it, so a primary that pre-prepares to only some replicas
    /// looks as if it progressed forever and those replicas never suspect it.
    /// Likewise a request prepared at a sequence number whose gap below is
    /// never filled (ASSIGN_DIFFERENT_SEQNUMS) has left `pend` but never
    /// executes. The intent is "the primary gets known requests executed", so
    /// the check uses `known_pend()` plus the client requests of own `reqq`:
    /// an element leaves this set only by executing (or being dropped).
    ///
    /// BFTLIST.md §2.2/§2.3: in NO_SERVICE and V_CHANGE the copies of the
    /// other structures are frozen but for their states (§2.2 "Receive"),
    /// so `known_pend()` no longer sees new requests; the FD, which keeps
    /// running in both (see `FdState::on_token`), then adds own `pend`: the
    /// primary is stalled, and a request waiting here is one it does not
    /// get executed.
    ///
    /// A request in the queues of ≥ f+1 structures is pending too, even
    /// when it left every `pend` or is no longer known: after a crash or
    /// corruption wiped it at some replicas, fewer than Q2 correct replicas
    /// may still hold it, no one can take the pre-prepare again (it is no
    /// longer known) nor prepare it (support < Q2), and the replicas that
    /// lost it saw nothing pending and never suspected the primary: the
    /// view stalled for good, or until the clients' retries came and a
    /// full FD threshold passed (sim seed 64 event-driven, 79
    /// tick-driven). A correct replica queued it, so it was known to Q2 and
    /// a correct primary gets it executed: no false suspicion of a correct
    /// primary (Lemma 29).
    pub(crate) fn get_pend_reqs(&self) -> Option<Vec<ClientRequest>> {
        let rep = &self.st.rep;
        let own = &rep.rep[self.p.me];
        if own.view_changed {
            return None;
        }
        let mut out = rep.known_pend(&self.p);
        let frozen = !self.st.pm.no_view_change(self.p.me);
        let queued = rep.queued_by_f_plus_1(&self.p);
        let pending = rep.pending_at_f_plus_1(&self.p);
        let extra = own
            .reqq
            .iter()
            .map(|e| &e.req.creq)
            .chain(own.pend.iter().filter(|_| frozen))
            .chain(queued.iter())
            .chain(pending.iter())
            .filter(|c| !c.is_dummy());
        for c in extra {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        Some(out)
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, id: RequestId, request: BftRequest) {
        if let BftRequest::Admin(admin) = request {
            // Before the checks below: an operator must reach an UNRESPONSIVE node.
            self.admin_request(ctx, id, admin);
            return;
        }
        if let Some(e) = &self.config_error {
            let reason = e.to_string();
            ctx.reply(id, BftReply::Refused { reason });
            return;
        }
        if self.byz == Some(ByzantineBehaviour::Unresponsive) {
            return;
        }
        self.client_request(ctx, id, request);
    }
}

impl Protocol for BftNode {
    type Message = BftMessage;
    type Request = BftRequest;
    type Reply = BftReply;
    type Config = BftConfig;
    type Status = BftStatus;

    const NAME: &'static str = "bftlist";
    const PROTOCOL_ID: u16 = 2;
    /// 2: Rep messages carry a log delta, the whole log's digest and what
    /// the sender holds of the receiver's log (`rep::delta`).
    const VERSION: u16 = 2;

    fn validate(config: &BftConfig, members: &[NodeId]) -> Result<(), String> {
        config.validate(members.len()).map_err(|e| e.to_string())
    }

    /// Never panics: a refused config leaves the node inert (it sends
    /// nothing, refuses every request with the reason and shows it in its
    /// status). BFTList keeps nothing durable: after a restart the node
    /// converges like after any transient fault.
    fn boot(boot: Boot<'_, BftConfig>) -> Self {
        BftNode::new(boot.id, boot.members, boot.config)
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        if self.config_error.is_some() {
            if let Input::Request { id, request } = input {
                self.on_request(ctx, id, request);
            }
            return;
        }
        match input {
            Input::Start => {
                // §2.4: at start, a token to every peer.
                for k in (0..self.p.n).filter(|&k| k != self.p.me) {
                    self.st.fd.owed.insert(k);
                }
            }
            Input::Tick => self.on_tick(ctx),
            Input::Message { from, message } => self.on_message(ctx, from, message),
            Input::Request { id, request } => self.on_request(ctx, id, request),
            Input::Timer(crate::eager::REP_SEND_TIMER) => self.on_send_timer(ctx),
            Input::Timer(crate::control::FD_TOKEN_TIMER) => self.on_token_timer(ctx),
            Input::Timer(crate::control::CONTROL_TIMER) => self.on_control_timer(ctx),
            Input::Timer(_) | Input::Persisted { .. } => {}
        }
    }

    fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.config.tick_interval_ms.max(1))
    }

    fn status(&self) -> BftStatus {
        self.build_status()
    }

    fn corrupt(&mut self, rng: &mut dyn rand::RngCore) -> bool {
        crate::corrupt::corrupt_state(&mut self.st, self.p.n, self.p.clients, rng);
        true
    }

    fn message_kind(message: &BftMessage) -> &'static str {
        message.kind()
    }

    fn arbitrary_message(rng: &mut dyn rand::RngCore) -> Option<BftMessage> {
        Some(crate::corrupt::arbitrary_message(rng))
    }
}
