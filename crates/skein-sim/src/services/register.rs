//! The `register` service in the simulator: clients read and write a few
//! keys; the history is checked for linearizability against [`KvModel`].
//! `--inject-bug skip-quorum | skip-write-back` plants a bug in the core.

use super::{check_bug, report, RunOptions, ServiceEntry, DEFAULT_NODES};
use crate::byzantine::ByzantineRegistry;
use crate::check::{check_fn, Check, ClusterView};
use crate::lin::{KvInput, KvModel, KvOutput};
use crate::register::{
    Register, RegisterBug, RegisterConfig, RegisterReply, RegisterRequest, ACKS_WAITING_MAX,
    OPS_IN_FLIGHT_MAX,
};
use crate::report::RunReport;
use crate::sim::Simulation;
use crate::trace::TraceSink;
use crate::workload::{Outcome, ReplyFrom, Workload};
use crate::SimError;
use rand::{Rng, RngCore};
use skein_core::Protocol;

pub const ENTRY: ServiceEntry = ServiceEntry {
    name: "register",
    about: "test-only ABD quorum register, with injectable bugs",
    default_nodes: DEFAULT_NODES,
    bugs: &["skip-quorum", "skip-write-back"],
    behaviours: || ByzantineRegistry::<Register>::generic().names(),
    run,
};

/// Keys the clients contend on: few, so operations overlap often.
pub const KEYS: u64 = 3;

/// Half reads, half writes of unique values, on a few keys.
#[derive(Default)]
pub struct KvWorkload {
    next_value: u64,
}

impl Workload<Register> for KvWorkload {
    type Model = KvModel;

    fn model(&self) -> KvModel {
        KvModel
    }

    fn next_op(&mut self, rng: &mut dyn RngCore, _: u32) -> Option<(RegisterRequest, KvInput)> {
        let key = rng.random_range(0..KEYS);
        if rng.random_bool(0.5) {
            return Some((RegisterRequest::Get { key }, KvInput::Get(key)));
        }
        self.next_value += 1;
        let value = self.next_value;
        Some((
            RegisterRequest::Put { key, value },
            KvInput::Put(key, value),
        ))
    }

    fn outcome(
        &mut self,
        _: ReplyFrom,
        input: &KvInput,
        reply: &RegisterReply,
    ) -> Outcome<KvOutput> {
        match (input, reply) {
            (KvInput::Get(_), RegisterReply::Value(v)) => Outcome::Ok(KvOutput::Value(*v)),
            (KvInput::Put(..), RegisterReply::Written) => Outcome::Ok(KvOutput::Ok),
            (KvInput::Put(..), RegisterReply::Timeout) => Outcome::Unknown,
            // A read that gave up changed nothing a later read could tell.
            (KvInput::Get(_), RegisterReply::Timeout) | (_, RegisterReply::Busy) => Outcome::Fail,
            // A reply of the wrong kind: the checker must not accept it.
            (KvInput::Get(_), RegisterReply::Written) => Outcome::Ok(KvOutput::Ok),
            (KvInput::Put(..), RegisterReply::Value(v)) => Outcome::Ok(KvOutput::Value(*v)),
        }
    }
}

pub fn queues_bounded() -> Box<dyn Check<Register>> {
    check_fn(
        "register queues bounded",
        |view: &ClusterView<'_, Register>| {
            let Some(node) = view.stepped() else {
                return Ok(());
            };
            let status = node.core.status();
            if status.ops_in_flight > OPS_IN_FLIGHT_MAX || status.acks_waiting > ACKS_WAITING_MAX {
                return Err(format!("node {}: {status:?}", node.id));
            }
            Ok(())
        },
    )
}

pub fn simulation<'t>(opts: &RunOptions) -> Result<Simulation<'t, Register, KvWorkload>, SimError> {
    check_bug(opts, ENTRY.bugs)?;
    let bug = opts.inject_bug.as_deref().and_then(RegisterBug::from_name);
    let mut cfg = opts.base_config();
    // Operations take milliseconds, so a run spans seconds: faults come often.
    cfg.nemesis.interval_min_ms = 20;
    cfg.nemesis.interval_max_ms = 400;
    cfg.clients.think_ms_max = 10;
    cfg.clients.timeout_ms = 1_500;
    cfg.liveness_bound_ms = 1_000;
    let protocol = RegisterConfig {
        bug,
        ..RegisterConfig::default()
    };
    Ok(Simulation::new(cfg, protocol, KvWorkload::default())?.invariant(queues_bounded()))
}

pub fn run(opts: &RunOptions, trace: Option<TraceSink<'_>>) -> Result<RunReport, SimError> {
    let mut sim = simulation(opts)?;
    if let Some(sink) = trace {
        sim = sim.trace(sink);
    }
    debug_assert_eq!(Register::NAME, ENTRY.name);
    Ok(report(opts, sim.run()?))
}
