//! The settings `skein sim` exposes, and the one command that replays them.

use crate::byzantine::ByzantineSpec;
use crate::config::{ClientConfig, FaultSet, LoopMode, SimConfig};

pub const DEFAULT_NODES: u16 = 5;
pub const DEFAULT_STEPS: u64 = 100_000;
pub const DEFAULT_CLIENTS: u32 = 3;

/// Everything that decides one run of a service. Two runs with equal
/// options are identical; [`RunOptions::replay_command`] prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    pub service: String,
    pub nodes: u16,
    pub seed: u64,
    /// Events to simulate.
    pub steps: u64,
    pub faults: FaultSet,
    pub byzantine: Vec<ByzantineSpec>,
    /// A test-only bug the service should carry (see the service's list).
    pub inject_bug: Option<String>,
    pub clients: u32,
    /// `Some(rate)`: open-loop clients issuing `rate` ops/s each.
    pub open_loop_ops_per_sec: Option<u32>,
}

impl RunOptions {
    pub fn new(service: &str) -> Self {
        Self {
            service: service.into(),
            nodes: super::find(service).map_or(DEFAULT_NODES, |s| s.default_nodes),
            seed: 0,
            steps: DEFAULT_STEPS,
            faults: FaultSet::none(),
            byzantine: Vec::new(),
            inject_bug: None,
            clients: DEFAULT_CLIENTS,
            open_loop_ops_per_sec: None,
        }
    }

    pub fn with_seed(&self, seed: u64) -> Self {
        Self {
            seed,
            ..self.clone()
        }
    }

    /// The simulator settings every service starts from.
    pub fn base_config(&self) -> SimConfig {
        let mut cfg = SimConfig::new(self.seed, self.nodes);
        cfg.steps_max = self.steps;
        cfg.faults = self.faults.clone();
        cfg.byzantine = self.byzantine.clone();
        cfg.clients = ClientConfig {
            clients: self.clients,
            mode: match self.open_loop_ops_per_sec {
                None => LoopMode::Closed,
                Some(ops_per_sec) => LoopMode::Open {
                    ops_per_sec,
                    outstanding_max: 4,
                },
            },
            ..ClientConfig::default()
        };
        cfg
    }

    /// One shell command that reproduces this run exactly.
    pub fn replay_command(&self) -> String {
        let mut cmd = format!(
            "cargo run --release -- sim --service {} --nodes {} --seed {} --steps {} --faults {}",
            self.service, self.nodes, self.seed, self.steps, self.faults
        );
        if !self.byzantine.is_empty() {
            let specs: Vec<String> = self.byzantine.iter().map(ToString::to_string).collect();
            cmd.push_str(&format!(" --byzantine {}", specs.join(",")));
        }
        if let Some(bug) = &self.inject_bug {
            cmd.push_str(&format!(" --inject-bug {bug}"));
        }
        if self.clients != DEFAULT_CLIENTS {
            cmd.push_str(&format!(" --clients {}", self.clients));
        }
        if let Some(rate) = self.open_loop_ops_per_sec {
            cmd.push_str(&format!(" --open-loop {rate}"));
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_command_names_every_setting_that_matters() {
        let mut o = RunOptions::new("register");
        o.seed = 42;
        o.faults = "partitions,crashes".parse().unwrap();
        o.inject_bug = Some("skip-quorum".into());
        o.byzantine = vec!["2:silent".parse().unwrap()];
        assert_eq!(
            o.replay_command(),
            "cargo run --release -- sim --service register --nodes 5 --seed 42 --steps 100000 \
             --faults partitions,crashes --byzantine 2:silent --inject-bug skip-quorum"
        );
    }
}
