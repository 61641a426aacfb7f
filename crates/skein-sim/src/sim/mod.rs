//! The simulator: one thread, one seeded RNG, one event queue.
//!
//! ```text
//!   EventQueue (time, seq) ──pop──▶ dispatch ──Input──▶ Protocol::step
//!        ▲                                                   │ effects
//!        └── Network::plan / SimDisk::write / timers / clients ◀┘
//!   after every event: invariants;  at the end: liveness, linearizability
//! ```
//! Start at [`Simulation::new`] and [`Simulation::run`]; event handling is in
//! `dispatch.rs`, effects in `effects.rs`, faults in `faults.rs`, clients in
//! `clients.rs`.

mod clients;
mod dispatch;
mod effects;
mod faults;
mod setup;

use crate::byzantine::{AdversaryFactory, ByzantineRegistry, Outgoing};
use crate::check::{Check, CheckResult, ClusterView, Verdict};
use crate::config::SimConfig;
use crate::event::EventQueue;
use crate::fault::Nemesis;
use crate::history::History;
use crate::instance::Instance;
use crate::lin::{self, CheckLimits, LinVerdict};
use crate::net::Network;
use crate::report::SimStats;
use crate::trace::{TraceSink, Tracer};
use crate::workload::{ModelInput, ModelOutput, Workload};
use crate::SimError;
use clients::{ClientState, PendingOp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skein_core::{Effect, NodeId, Protocol, RequestId};
use std::collections::BTreeMap;

/// What one run produced.
pub struct SimOutcome<I, O> {
    pub stats: SimStats,
    pub checks: Vec<CheckResult>,
    pub history: History<I, O>,
    pub trace_hash: u64,
    pub virtual_us: u64,
}

impl<I, O> SimOutcome<I, O> {
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(CheckResult::failed)
    }
}

/// The outcome of a simulation of `P` under `W`.
pub type Outcome<P, W> = SimOutcome<ModelInput<W, P>, ModelOutput<W, P>>;

/// A deterministic simulation of `P` under workload `W`.
pub struct Simulation<'t, P: Protocol, W: Workload<P>> {
    cfg: SimConfig,
    protocol_config: P::Config,
    rng: ChaCha8Rng,
    now_us: u64,
    queue: EventQueue<P>,
    instances: Vec<Instance<P>>,
    members: Vec<NodeId>,
    /// For member `k` (id k+1), the instances carrying that id.
    routes: Vec<Vec<usize>>,
    /// For each instance, its current peer set, ascending: every member but
    /// its own id at boot, then changed by `AddPeer` / `RemovePeer`.
    peers: Vec<Vec<NodeId>>,
    network: Network,
    effects: Vec<Effect<P>>,
    outgoing: Outgoing<P::Message>,
    workload: W,
    clients: Vec<ClientState>,
    pending: BTreeMap<RequestId, PendingOp<P::Request>>,
    history: History<ModelInput<W, P>, ModelOutput<W, P>>,
    next_request: u64,
    invariants: Vec<Box<dyn Check<P>>>,
    liveness: Vec<Box<dyn Check<P>>>,
    registry: ByzantineRegistry<P>,
    stats: SimStats,
    tracer: Tracer<'t>,
    violation: Option<CheckResult>,
    nemesis: Nemesis,
    quiet_at_us: Option<u64>,
    /// Crashes and accepted corruptions so far (see [`ClusterView::transient_faults`]).
    transient_faults: u64,
    ops_ok_after_quiet: u64,
    liveness_results: Vec<CheckResult>,
    stepped: Option<usize>,
    lin_limits: CheckLimits,
    /// Given start states: applied to each core at its first boot only.
    initial_state: Option<InitialState<'t, P>>,
}

/// Sets a core's start state at its first boot (a test's injected state).
pub type InitialState<'t, P> = Box<dyn FnMut(NodeId, &mut P) + 't>;

impl<'t, P: Protocol, W: Workload<P>> Simulation<'t, P, W> {
    pub fn new(cfg: SimConfig, protocol_config: P::Config, workload: W) -> Result<Self, SimError> {
        cfg.validate()?;
        let members: Vec<NodeId> = (1..=cfg.nodes).map(NodeId).collect();
        let nemesis = Nemesis::new(cfg.faults.dynamic(), cfg.nemesis.clone());
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            now_us: 0,
            queue: EventQueue::new(),
            instances: Vec::new(),
            routes: Vec::new(),
            peers: Vec::new(),
            network: Network::new(0, cfg.link, cfg.in_flight_per_link_max),
            effects: Vec::new(),
            outgoing: Vec::new(),
            workload,
            clients: Vec::new(),
            pending: BTreeMap::new(),
            history: History::new(cfg.clients.history_ops_max),
            next_request: 1,
            invariants: Vec::new(),
            liveness: Vec::new(),
            registry: ByzantineRegistry::generic(),
            stats: SimStats::default(),
            tracer: Tracer::new(None),
            violation: None,
            nemesis,
            quiet_at_us: None,
            transient_faults: 0,
            ops_ok_after_quiet: 0,
            liveness_results: Vec::new(),
            stepped: None,
            lin_limits: CheckLimits::default(),
            initial_state: None,
            members,
            protocol_config,
            cfg,
        })
    }

    /// Adds an invariant, checked after every event.
    pub fn invariant(mut self, check: Box<dyn Check<P>>) -> Self {
        self.invariants.push(check);
        self
    }

    /// Adds a liveness check, judged once, `liveness_bound_ms` after faults stop.
    pub fn liveness(mut self, check: Box<dyn Check<P>>) -> Self {
        self.liveness.push(check);
        self
    }

    /// Registers a protocol-specific Byzantine behaviour.
    pub fn behaviour(mut self, name: &str, factory: AdversaryFactory<P>) -> Self {
        self.registry.register(name, factory);
        self
    }

    pub fn trace(mut self, sink: TraceSink<'t>) -> Self {
        self.tracer = Tracer::new(Some(sink));
        self
    }

    /// Starts every node from a given state (scenario tests): `f` sees each
    /// core right after its first boot; restarted nodes boot blank.
    pub fn initial_state(mut self, f: InitialState<'t, P>) -> Self {
        self.initial_state = Some(f);
        self
    }

    pub fn linearizability_limits(mut self, limits: CheckLimits) -> Self {
        self.lin_limits = limits;
        self
    }

    /// Runs to `steps_max` events (or until the queue empties or a check
    /// fails), and past it up to `liveness_extra_steps_max` more events
    /// while a liveness deadline is pending.
    pub fn run(mut self) -> Result<Outcome<P, W>, SimError> {
        self.setup()?;
        while self.violation.is_none() && self.steps_left() {
            let Some(event) = self.queue.pop() else {
                break;
            };
            debug_assert!(event.at_us >= self.now_us, "time never runs backwards");
            self.now_us = event.at_us;
            self.stats.events += 1;
            self.stepped = None;
            self.dispatch(event.kind);
            if self.violation.is_none() {
                self.check_invariants();
            }
            if self.queue.len() > self.cfg.queue_events_max {
                self.violate(
                    "bounded-queues",
                    format!("more than {} pending events", self.cfg.queue_events_max),
                );
            }
        }
        Ok(self.finish())
    }

    fn steps_left(&self) -> bool {
        let events = self.stats.events;
        let awaiting_deadline = self.quiet_at_us.is_some() && self.liveness_results.is_empty();
        events < self.cfg.steps_max
            || (awaiting_deadline
                && events
                    < self
                        .cfg
                        .steps_max
                        .saturating_add(self.cfg.liveness_extra_steps_max))
    }

    fn check_invariants(&mut self) {
        let view = ClusterView {
            now_us: self.now_us,
            instances: &self.instances,
            stepped: self.stepped,
            quiet_at_us: self.quiet_at_us,
            transient_faults: self.transient_faults,
        };
        for check in self.invariants.iter_mut() {
            if let Err(why) = check.check(&view) {
                let name = check.name().to_string();
                self.violation = Some(CheckResult::new(
                    &name,
                    Verdict::Fail(format!(
                        "event {} at {:.6} s: {why}",
                        self.stats.events,
                        self.now_us as f64 / 1e6
                    )),
                ));
                return;
            }
        }
    }

    /// Stops the run with a failed check.
    fn violate(&mut self, name: &str, why: String) {
        if self.violation.is_none() {
            let at = format!(
                "event {} at {:.6} s: ",
                self.stats.events,
                self.now_us as f64 / 1e6
            );
            self.violation = Some(CheckResult::new(name, Verdict::Fail(at + &why)));
        }
    }

    fn finish(mut self) -> Outcome<P, W> {
        let mut checks = Vec::new();
        let failed = self.violation.take();
        for inv in &self.invariants {
            match &failed {
                Some(f) if f.name == inv.name() => checks.push(f.clone()),
                _ => checks.push(CheckResult::new(inv.name(), Verdict::Pass)),
            }
        }
        if let Some(f) = failed.filter(|f| !checks.contains(f)) {
            checks.push(f);
        }
        if self.liveness_results.is_empty() {
            self.skip_liveness(&mut checks);
        } else {
            checks.append(&mut self.liveness_results);
        }
        if self.workload.check_linearizability() {
            checks.push(self.linearizability());
        }
        self.stats.set_ops(self.history.counts());
        SimOutcome {
            stats: self.stats,
            checks,
            history: self.history,
            trace_hash: self.tracer.hash(),
            virtual_us: self.now_us,
        }
    }

    fn skip_liveness(&self, checks: &mut Vec<CheckResult>) {
        let why = match self.quiet_at_us {
            None => "the run ended before the faults stopped; raise --steps".to_string(),
            Some(at) => format!(
                "the run ended {:.3} s before the liveness deadline; raise --steps",
                (at + 1_000 * self.cfg.liveness_bound_ms).saturating_sub(self.now_us) as f64 / 1e6
            ),
        };
        let mut names: Vec<String> = vec![faults::PROGRESS.to_string()];
        names.extend(self.liveness.iter().map(|c| c.name().to_string()));
        for name in names {
            checks.push(CheckResult::new(&name, Verdict::Skipped(why.clone())));
        }
    }

    fn linearizability(&self) -> CheckResult {
        if self.transient_faults > 0 && !self.workload.linearizable_across_transient_faults() {
            let why = format!(
                "{} transient faults (crash of a node that keeps no state, or corruption); \
                 the service's own checks judge it after convergence",
                self.transient_faults
            );
            return CheckResult::new("linearizability", Verdict::Skipped(why));
        }
        let ops = self.history.to_operations();
        let verdict = match lin::check(&self.workload.model(), &ops, self.lin_limits) {
            LinVerdict::Linearizable { .. } => Verdict::Pass,
            LinVerdict::Inconclusive(why) => Verdict::Skipped(why),
            LinVerdict::NotLinearizable(cx) => {
                let mut text = format!(
                    "not linearizable on partition {} in [{:.6} s, {:.6} s] \
                     (ops ending in `-> ?` may or may not have taken effect):",
                    cx.partition,
                    cx.start_us as f64 / 1e6,
                    cx.end_us as f64 / 1e6
                );
                for line in &cx.ops {
                    text.push_str("\n    ");
                    text.push_str(line);
                }
                if cx.context_ops > 0 {
                    text.push_str(&format!(
                        "\n    (+{} earlier operations, each may or may not have taken effect)",
                        cx.context_ops
                    ));
                }
                Verdict::Fail(text)
            }
        };
        CheckResult::new("linearizability", verdict)
    }
}
