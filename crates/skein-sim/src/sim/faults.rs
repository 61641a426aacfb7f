//! Carrying out faults, booting and crashing instances, the nemesis's turn,
//! and judging liveness once the faults have stopped.

use super::Simulation;
use crate::check::{CheckResult, ClusterView, Verdict};
use crate::event::EventKind;
use crate::fault::{FaultAction, NemesisView};
use crate::time::{to_us, NodeClock};
use crate::workload::Workload;
use rand::Rng;
use skein_core::{Boot, Input, NodeId, PeerAddress, Protocol};
use std::time::Duration;

/// The generic liveness check: some client operation succeeds after the faults stop.
pub(crate) const PROGRESS: &str = "liveness: progress after faults stop";

impl<P: Protocol, W: Workload<P>> Simulation<'_, P, W> {
    pub(super) fn apply_fault(&mut self, action: FaultAction) {
        self.stats.fault(action.kind());
        let node = match &action {
            FaultAction::Crash(n)
            | FaultAction::Restart(n)
            | FaultAction::Pause(n)
            | FaultAction::Resume(n)
            | FaultAction::Corrupt(n)
            | FaultAction::Drift { node: n, .. } => Some(*n),
            _ => None,
        };
        self.tracer
            .record_debug(self.stats.events, self.now_us, "fault", node, &action);
        let ids: Vec<NodeId> = self.instances.iter().map(|i| i.id).collect();
        let of = |n: NodeId| -> Vec<usize> { (0..ids.len()).filter(|&i| ids[i] == n).collect() };
        match action {
            FaultAction::Partition(p) => self.network.set_partition(Some(p), &ids),
            FaultAction::Heal => self.network.set_partition(None, &ids),
            FaultAction::Crash(n) => of(n).into_iter().for_each(|i| self.crash(i)),
            FaultAction::Restart(n) => of(n).into_iter().for_each(|i| self.restart(i)),
            FaultAction::Pause(n) => {
                for i in of(n) {
                    self.instances[i].paused = self.instances[i].core.is_some();
                }
            }
            FaultAction::Resume(n) => of(n).into_iter().for_each(|i| self.resume(i)),
            FaultAction::Drift { node, ppm } => {
                for i in of(node) {
                    self.instances[i].clock.set_drift(self.now_us, ppm);
                }
            }
            FaultAction::Corrupt(n) => {
                for i in of(n) {
                    if let Some(core) = self.instances[i].core.as_mut() {
                        if core.corrupt(&mut self.rng) {
                            self.transient_faults += 1;
                        } else {
                            self.stats.corruptions_unsupported += 1;
                        }
                    }
                }
            }
            FaultAction::Network(cfg) => self.network.set_chaos(cfg),
            FaultAction::Quiet => {
                self.network.set_partition(None, &ids);
                self.network.set_chaos(None);
                for i in 0..ids.len() {
                    self.resume(i);
                    self.restart(i);
                }
            }
        }
    }

    fn crash(&mut self, inst: usize) {
        let instance = &mut self.instances[inst];
        if instance.core.take().is_none() {
            return;
        }
        self.transient_faults += 1;
        instance.epoch += 1;
        instance.paused = false;
        instance.held.clear();
        instance.timers.clear();
        let damage = instance.disk.crash(&mut self.rng, &self.cfg.disk);
        self.stats.disk_writes_lost += damage.lost;
        self.stats.disk_writes_torn += damage.torn;
        self.network.reset_instance(inst);
    }

    fn restart(&mut self, inst: usize) {
        if self.instances[inst].core.is_none() {
            self.network.reset_instance(inst);
            self.boot(inst);
        }
    }

    /// Builds the core from the durable records, feeds `Start`, and starts
    /// its ticks at a random phase so nodes do not tick in lockstep.
    pub(super) fn boot(&mut self, inst: usize) {
        let drift = self.instances[inst].clock.drift_ppm();
        self.instances[inst].clock = NodeClock::started_at(self.now_us, drift);
        // The peer set is driver state: a restarted node starts again from
        // every other member, as a restarted process does from `--peers`.
        let id = self.instances[inst].id;
        self.peers[inst] = self.members.iter().copied().filter(|&m| m != id).collect();
        let address = sim_address(id);
        let core = P::boot(Boot {
            id,
            address: &address,
            members: &self.members,
            config: &self.protocol_config,
            persisted: self.instances[inst].disk.records(),
            now: Duration::ZERO,
            rng: &mut self.rng,
        });
        let mut core = core;
        if self.instances[inst].epoch == 0 {
            if let Some(set) = self.initial_state.as_mut() {
                set(id, &mut core);
            }
        }
        let instance = &mut self.instances[inst];
        instance.tick_us = to_us(core.tick_interval()).max(1);
        instance.core = Some(core);
        if let (Some(adversary), Some(core)) = (instance.adversary.as_mut(), instance.core.as_mut())
        {
            adversary.configure(core);
        }
        let (id, epoch, tick_us) = (instance.id, instance.epoch, instance.tick_us);
        self.tracer.record(
            self.stats.events,
            self.now_us,
            "boot",
            Some(id),
            None,
            &epoch,
        );
        self.step(inst, Input::Start);
        let phase_us = self.rng.random_range(1..=tick_us);
        let delay = self.instances[inst].clock.global_delay_us(phase_us);
        self.queue
            .push(self.now_us + delay, EventKind::Tick { inst, epoch });
    }

    /// Releases what a paused instance held, in order, at the current time.
    fn resume(&mut self, inst: usize) {
        let instance = &mut self.instances[inst];
        if !instance.paused {
            return;
        }
        instance.paused = false;
        let held = std::mem::take(&mut instance.held);
        for kind in held {
            self.queue.push(self.now_us, kind);
        }
    }

    /// The nemesis acts, until the run is far enough along to go quiet.
    pub(super) fn nemesis_turn(&mut self) {
        let quiet_after =
            self.cfg.steps_max * u64::from(self.cfg.nemesis.quiet_after_percent) / 100;
        if self.stats.events >= quiet_after {
            self.apply_fault(FaultAction::Quiet);
            self.quiet_at_us = Some(self.now_us);
            let deadline = self.now_us + 1_000 * self.cfg.liveness_bound_ms;
            self.queue.push(deadline, EventKind::LivenessDeadline);
            return;
        }
        if !self.nemesis.is_idle() {
            let view = self.nemesis_view();
            if let Some(action) = self.nemesis.next(&mut self.rng, &view) {
                self.apply_fault(action);
            }
        }
        let delay = self.nemesis.next_delay_us(&mut self.rng);
        self.queue.push(self.now_us + delay, EventKind::Nemesis);
    }

    fn nemesis_view(&self) -> NemesisView {
        let primaries = &self.instances[..self.members.len()];
        let ids = |f: &dyn Fn(&crate::instance::Instance<P>) -> bool| -> Vec<NodeId> {
            primaries.iter().filter(|i| f(i)).map(|i| i.id).collect()
        };
        NemesisView {
            members: self.members.clone(),
            crashed: ids(&|i| i.core.is_none()),
            paused: ids(&|i| i.paused),
            running: ids(&|i| i.is_running()),
            partitioned: self.network.partition().is_some(),
            chaotic: self.network.is_chaotic(),
        }
    }

    pub(super) fn judge_liveness(&mut self) {
        let bound_ms = self.cfg.liveness_bound_ms;
        let progress = if self.cfg.clients.clients == 0 {
            Verdict::Skipped("no clients".into())
        } else if self.ops_ok_after_quiet > 0 || self.history.is_full() {
            Verdict::Pass
        } else {
            Verdict::Fail(format!(
                "no operation succeeded within {bound_ms} ms after the faults stopped"
            ))
        };
        self.liveness_results
            .push(CheckResult::new(PROGRESS, progress));
        let view = ClusterView {
            now_us: self.now_us,
            instances: &self.instances,
            stepped: None,
            quiet_at_us: self.quiet_at_us,
            transient_faults: self.transient_faults,
        };
        for check in self.liveness.iter_mut() {
            let verdict = match check.check(&view) {
                Ok(()) => Verdict::Pass,
                Err(why) => Verdict::Fail(format!("{bound_ms} ms after the faults stopped: {why}")),
            };
            self.liveness_results
                .push(CheckResult::new(check.name(), verdict));
        }
    }
}

/// The simulator's form of a [`PeerAddress`]: it routes by id, so the
/// address only names the id.
pub(crate) fn sim_address(id: NodeId) -> PeerAddress {
    PeerAddress(format!("sim:{}", id.0))
}
