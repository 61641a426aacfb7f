//! Building the cluster before the first event: instances (Byzantine ones
//! and Twins included), the network, booting every node, the first client
//! wake-ups, the fixed fault schedule and the nemesis.

use super::clients::ClientState;
use super::Simulation;
use crate::byzantine::{ByzantineSpec, TWINS};
use crate::config::FaultKind;
use crate::event::EventKind;
use crate::fault::FaultAction;
use crate::instance::Instance;
use crate::net::Network;
use crate::workload::Workload;
use crate::SimError;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use skein_core::{NodeId, Protocol};
use std::collections::BTreeSet;

impl<P: Protocol, W: Workload<P>> Simulation<'_, P, W> {
    pub(super) fn setup(&mut self) -> Result<(), SimError> {
        // The same gate the runtime applies before a node starts.
        P::validate(&self.protocol_config, &self.members)
            .map_err(|why| SimError::Invalid(format!("{} refuses this cluster: {why}", P::NAME)))?;
        let specs = self.byzantine_specs()?;
        for &id in &self.members {
            self.instances.push(Instance::new(id));
            self.routes.push(vec![self.instances.len() - 1]);
        }
        for spec in &specs {
            let primary = usize::from(spec.node.0 - 1);
            self.instances[primary].byzantine = Some(spec.behaviour.clone());
            if spec.name() == TWINS {
                self.add_twin(spec.node);
            } else {
                self.instances[primary].adversary = Some(self.registry.create(spec)?);
            }
        }
        self.peers = self
            .instances
            .iter()
            .map(|i| {
                self.members
                    .iter()
                    .copied()
                    .filter(|&m| m != i.id)
                    .collect()
            })
            .collect();
        self.network = Network::new(
            self.instances.len(),
            self.cfg.link,
            self.cfg.in_flight_per_link_max,
        );
        for i in 0..self.instances.len() {
            let id = self.instances[i].id;
            match self.cfg.boot_at_ms.iter().find(|(n, _)| *n == id) {
                // A late node comes up the way a crashed one restarts.
                Some(&(_, at_ms)) => self
                    .queue
                    .push(1_000 * at_ms, EventKind::Fault(FaultAction::Restart(id))),
                None => self.boot(i),
            }
        }
        let think_ms_max = self.cfg.clients.think_ms_max.max(1);
        for client in 0..self.cfg.clients.clients {
            self.clients.push(ClientState::default());
            let at_us = 1_000 * self.rng.random_range(1..=think_ms_max);
            self.queue.push(at_us, EventKind::ClientWake { client });
        }
        for fault in self.cfg.schedule.clone() {
            self.queue
                .push(1_000 * fault.at_ms, EventKind::Fault(fault.action));
        }
        let first = self.nemesis.next_delay_us(&mut self.rng);
        self.queue.push(first, EventKind::Nemesis);
        Ok(())
    }

    /// The configured Byzantine nodes, plus random ones when the `byzantine`
    /// fault is on: f = max(1, (n-1)/3) nodes with random generic behaviours.
    fn byzantine_specs(&mut self) -> Result<Vec<ByzantineSpec>, SimError> {
        let mut specs = self.cfg.byzantine.clone();
        for spec in &specs {
            if !self.registry.has(spec.name()) {
                return Err(SimError::UnknownBehaviour(
                    spec.name().into(),
                    self.registry.names().join(", "),
                ));
            }
        }
        if self.cfg.faults.contains(FaultKind::Byzantine) && self.members.len() > 1 {
            let taken: BTreeSet<NodeId> = specs.iter().map(|s| s.node).collect();
            let mut free: Vec<NodeId> = self
                .members
                .iter()
                .copied()
                .filter(|m| !taken.contains(m))
                .collect();
            free.shuffle(&mut self.rng);
            let f = match self.cfg.byzantine_nodes_max {
                None => ((self.members.len() - 1) / 3).max(1),
                Some(max) => max.saturating_sub(specs.len()),
            };
            let names = self.registry.names();
            for node in free.into_iter().take(f) {
                let name = names
                    .choose(&mut self.rng)
                    .cloned()
                    .unwrap_or_else(|| TWINS.into());
                specs.push(ByzantineSpec::new(node.0, &name));
            }
        }
        // One behaviour per node: a later spec for the same node would be ambiguous.
        let mut seen = BTreeSet::new();
        specs.retain(|s| seen.insert(s.node));
        Ok(specs)
    }

    /// Twins: a second instance with the same id; the other members are
    /// split at random, each twin talking to one side.
    fn add_twin(&mut self, id: NodeId) {
        let mut others: Vec<NodeId> = self.members.iter().copied().filter(|&m| m != id).collect();
        others.shuffle(&mut self.rng);
        let half = others.len().div_ceil(2);
        let mut side_a: BTreeSet<NodeId> = others[..half].iter().copied().collect();
        let mut side_b: BTreeSet<NodeId> = others[half..].iter().copied().collect();
        side_a.insert(id);
        side_b.insert(id);
        let primary = usize::from(id.0 - 1);
        self.instances[primary].side = Some(side_a);
        let mut twin = Instance::new(id);
        twin.side = Some(side_b);
        twin.byzantine = Some(TWINS.into());
        self.instances.push(twin);
        self.routes[primary].push(self.instances.len() - 1);
    }
}
