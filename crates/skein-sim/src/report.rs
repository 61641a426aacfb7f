//! What a run reports: counters, checker verdicts, and the replay command.

use crate::check::{CheckResult, Verdict};
use crate::history::OpCounts;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Counters of one run. Maps are keyed by stable names, ordered for printing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Events taken off the queue.
    pub events: u64,
    /// Inputs fed to protocol cores.
    pub protocol_steps: u64,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub messages_dropped: BTreeMap<&'static str, u64>,
    pub messages_duplicated: u64,
    pub messages_reordered: u64,
    /// Messages Byzantine instances sent that their honest core did not ask for.
    pub byzantine_injected: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    pub disk_writes: u64,
    pub disk_writes_lost: u64,
    pub disk_writes_torn: u64,
    /// Events a paused instance held until it resumed.
    pub events_held: u64,
    /// `corrupt` requests the protocol declined (it does not support them).
    pub corruptions_unsupported: u64,
    /// Replies that arrived after their client had given up.
    pub replies_late: u64,
    pub ops_invoked: u64,
    pub ops_ok: u64,
    pub ops_fail: u64,
    pub ops_unknown: u64,
    /// With `SimConfig::measure_message_bytes`: per message kind, the
    /// messages sent and their encoded (postcard) bytes, per destination.
    pub message_bytes: BTreeMap<&'static str, KindBytes>,
}

/// Messages of one kind and their encoded size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindBytes {
    pub messages: u64,
    pub bytes: u64,
    pub max: u64,
}

impl SimStats {
    pub(crate) fn drop(&mut self, reason: &'static str) {
        *self.messages_dropped.entry(reason).or_default() += 1;
    }

    pub(crate) fn fault(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }

    pub fn faults_injected(&self) -> u64 {
        self.faults
            .iter()
            .filter(|(k, _)| **k != "quiet")
            .map(|(_, v)| v)
            .sum()
    }

    pub(crate) fn set_ops(&mut self, c: OpCounts) {
        self.ops_invoked = c.invoked;
        self.ops_ok = c.ok;
        self.ops_fail = c.fail;
        self.ops_unknown = c.unknown;
    }
}

/// The outcome of one seed, independent of the protocol's types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    pub service: String,
    pub seed: u64,
    pub nodes: u16,
    pub virtual_us: u64,
    pub stats: SimStats,
    pub checks: Vec<CheckResult>,
    /// Hash of the whole event trace: equal for equal runs.
    pub trace_hash: u64,
    /// One command that replays exactly this run.
    pub replay: String,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(CheckResult::failed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.failed())
    }

    /// `name: reason` of the first failure, for one-line sweep output.
    pub fn first_failure(&self) -> Option<String> {
        self.failures().next().map(|c| match &c.verdict {
            Verdict::Fail(why) => {
                let first_line = why.lines().next().unwrap_or_default();
                format!("{}: {first_line}", c.name)
            }
            _ => c.name.clone(),
        })
    }
}

fn join(map: &BTreeMap<&'static str, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
    parts.join(", ")
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "service {} · {} nodes · seed {}",
            self.service, self.nodes, self.seed
        )?;
        writeln!(
            f,
            "events {} · virtual time {:.3} s · trace hash {:016x}",
            s.events,
            self.virtual_us as f64 / 1e6,
            self.trace_hash
        )?;
        writeln!(
            f,
            "ops {} invoked: {} ok, {} failed, {} unknown",
            s.ops_invoked, s.ops_ok, s.ops_fail, s.ops_unknown
        )?;
        writeln!(
            f,
            "messages {} sent, {} delivered, {} duplicated, {} reordered; dropped: {}",
            s.messages_sent,
            s.messages_delivered,
            s.messages_duplicated,
            s.messages_reordered,
            join(&s.messages_dropped)
        )?;
        writeln!(f, "faults ({}): {}", s.faults_injected(), join(&s.faults))?;
        writeln!(
            f,
            "disk {} writes, {} lost, {} torn in crashes",
            s.disk_writes, s.disk_writes_lost, s.disk_writes_torn
        )?;
        for check in &self.checks {
            writeln!(f, "check {check}")?;
        }
        if self.passed() {
            write!(f, "PASS")
        } else {
            write!(f, "FAIL — replay with:\n  {}", self.replay)
        }
    }
}
