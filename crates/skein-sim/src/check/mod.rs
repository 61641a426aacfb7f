//! Checkers and their verdicts. Invariants run after every event and see the
//! whole cluster through a [`ClusterView`]; liveness checks run once, a
//! bound after the faults stop. Protocols register their own [`Check`]s.

use crate::instance::Instance;
use skein_core::{NodeId, Protocol};
use std::fmt;
use std::time::Duration;

/// What a checker concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    /// Not judged, and why (e.g. the run ended before the liveness deadline).
    Skipped(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    pub verdict: Verdict,
}

impl CheckResult {
    pub fn new(name: &str, verdict: Verdict) -> Self {
        Self {
            name: name.into(),
            verdict,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Fail(_))
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::Pass => write!(f, "{}: pass", self.name),
            Verdict::Fail(why) => write!(f, "{}: FAIL — {why}", self.name),
            Verdict::Skipped(why) => write!(f, "{}: skipped ({why})", self.name),
        }
    }
}

/// One running instance, as a checker sees it.
pub struct NodeView<'a, P: Protocol> {
    pub id: NodeId,
    /// Index of the instance (Twins share an id, not an index).
    pub instance: usize,
    pub core: &'a P,
    pub honest: bool,
    pub paused: bool,
    /// The node's own clock.
    pub local_now: Duration,
}

/// The cluster right after one event.
pub struct ClusterView<'a, P: Protocol> {
    pub(crate) now_us: u64,
    pub(crate) instances: &'a [Instance<P>],
    pub(crate) stepped: Option<usize>,
    pub(crate) quiet_at_us: Option<u64>,
    pub(crate) transient_faults: u64,
}

impl<'a, P: Protocol> ClusterView<'a, P> {
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// When the nemesis went quiet (every fault undone), if it has.
    pub fn quiet_at_us(&self) -> Option<u64> {
        self.quiet_at_us
    }

    /// Transient faults so far: crashes (a node that persists nothing comes
    /// back with a blank state) and corruptions the core accepted. A
    /// self-stabilizing protocol is only judged after it converged from them.
    pub fn transient_faults(&self) -> u64 {
        self.transient_faults
    }

    fn view(&self, i: usize) -> Option<NodeView<'a, P>> {
        let inst = &self.instances[i];
        Some(NodeView {
            id: inst.id,
            instance: i,
            core: inst.core.as_ref()?,
            honest: inst.is_honest(),
            paused: inst.paused,
            local_now: Duration::from_micros(inst.clock.local_us(self.now_us)),
        })
    }

    /// Every instance that is not crashed, in instance order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'a, P>> + '_ {
        (0..self.instances.len()).filter_map(|i| self.view(i))
    }

    /// The honest running instances.
    pub fn honest(&self) -> impl Iterator<Item = NodeView<'a, P>> + '_ {
        self.nodes().filter(|n| n.honest)
    }

    /// The instance whose core just took a step, if the event was a step.
    pub fn stepped(&self) -> Option<NodeView<'a, P>> {
        self.view(self.stepped?)
    }

    /// Ids of honest nodes that are crashed right now.
    pub fn crashed(&self) -> Vec<NodeId> {
        self.instances
            .iter()
            .filter(|i| i.core.is_none() && i.is_honest())
            .map(|i| i.id)
            .collect()
    }
}

/// A property of the cluster. `check` must be cheap for invariants: it runs
/// after every event.
pub trait Check<P: Protocol> {
    fn name(&self) -> &str;
    fn check(&mut self, view: &ClusterView<'_, P>) -> Result<(), String>;
}

/// A check from a closure.
pub struct FnCheck<F> {
    name: String,
    f: F,
}

impl<P: Protocol, F: FnMut(&ClusterView<'_, P>) -> Result<(), String>> Check<P> for FnCheck<F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&mut self, view: &ClusterView<'_, P>) -> Result<(), String> {
        (self.f)(view)
    }
}

pub fn check_fn<P, F>(name: &str, f: F) -> Box<dyn Check<P>>
where
    P: Protocol,
    F: FnMut(&ClusterView<'_, P>) -> Result<(), String> + 'static,
{
    Box::new(FnCheck {
        name: name.into(),
        f,
    })
}
