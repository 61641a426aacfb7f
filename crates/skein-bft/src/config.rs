//! Settings, their validation, and the derived parameters (quorums, bounds).

use crate::byzantine::ByzantineBehaviour;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Keys left out of the config file keep their defaults; unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BftConfig {
    /// Byzantine replicas tolerated; the cluster needs `n ≥ 5f+1` (§1).
    pub f: usize,
    /// One iteration of VE → Rep → PM (and their sends) per tick.
    pub tick_interval_ms: u64,
    /// σ, the per-client sequence-number window (§1, original 5).
    pub sigma: usize,
    /// K, the number of clients; valid client ids are `0..clients_max`.
    pub clients_max: usize,
    /// false = the non-self-stabilizing baseline: fixed view 0, no VE, no stale checks.
    pub self_stabilizing: bool,
    /// The event-driven failure detector (§2.5) gating VE steps.
    pub event_driven_fd: bool,
    /// k of §2.5: token round-trips per round.
    pub k_admissibility: u32,
    /// None = the spec's default (50 if n ≤ 6 else 250).
    pub beat_threshold: Option<u32>,
    /// None = the spec's default (25 if n ≤ 6 else 125).
    pub cnt_threshold: Option<u32>,
    /// Event-driven replication (the default): a Rep message or client
    /// request that can advance the three-phase protocol does so at once
    /// and the change is sent without waiting for the tick. false =
    /// tick-driven only, as the original (ALGORITHM.md "Event-driven
    /// replication").
    pub event_driven_replication: bool,
    /// Least time between two event-driven Rep broadcasts of a node; changes
    /// made meanwhile go out together at its end.
    pub event_send_gap_us: u64,
    /// [EXT] delta + digest: the list itself travels every this many ticks (R).
    pub full_state_every_ticks: u32,
    /// Heartbeat tokens owed to peers are answered this long after one
    /// arrives instead of at the next tick (0, or ≥ the tick: at the tick
    /// only, as the original's FD_SLEEP pacing). Sets how fast the FD's
    /// token-counting thresholds are reached (module `control`).
    pub fd_token_gap_ms: u64,
    /// Least time between two VE/PM steps taken between ticks, when a
    /// VE, PM or FD input changed (0 = at the tick only; module `control`).
    pub control_step_gap_us: u64,
    /// A silent failure-detector link is restarted after this many ticks.
    pub fd_restart_ticks: u32,
    /// Longest list a peer may report; longer structures are refused.
    pub list_len_max: usize,
    /// Emulated Byzantine behaviour of this node (§5); None = correct.
    pub byzantine: Option<ByzantineBehaviour>,
    /// Accept the admin requests that corrupt state or set a Byzantine
    /// behaviour. The node runtime sets it from `--allow-fault-injection`.
    pub allow_fault_injection: bool,
}

impl Default for BftConfig {
    fn default() -> Self {
        Self {
            f: 1,
            tick_interval_ms: 100,
            sigma: 5,
            // 64 concurrent clients (issue 4's benchmark). σK = 320 bounds
            // pend/reqq and 3σK = 960 the log every Rep message carries.
            clients_max: 64,
            self_stabilizing: true,
            event_driven_fd: true,
            k_admissibility: 5,
            // On: a one-client append takes ~9 ms instead of three 100 ms
            // ticks, and it is faster on every measured figure (README,
            // "bftlist on real processes").
            event_driven_replication: true,
            event_send_gap_us: 2_000,
            beat_threshold: None,
            cnt_threshold: None,
            full_state_every_ticks: 20,
            fd_token_gap_ms: 20,
            control_step_gap_us: 5_000,
            fd_restart_ticks: 10,
            list_len_max: 1 << 20,
            byzantine: None,
            allow_fault_injection: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BftConfigError {
    #[error("bftlist needs n ≥ 5f+1 replicas: n = {n} with f = {f} needs at least {need}; add replicas or lower `f`")]
    TooFewReplicas { n: usize, f: usize, need: usize },
    #[error("bftlist supports at most {max} replicas, got {n}")]
    TooManyReplicas { n: usize, max: usize },
    #[error("`{name}` must be at least 1")]
    Zero { name: &'static str },
    #[error("this node ({id}) is not among the cluster members")]
    NotAMember { id: u16 },
}

/// Largest cluster accepted (keeps per-node arrays and the O(n²) predicates small).
pub const REPLICAS_MAX: usize = 256;

impl BftConfig {
    /// Checks the config for a cluster of `n` replicas. The runtime refuses to
    /// start on an error; `boot` keeps the node inert instead of panicking.
    pub fn validate(&self, n: usize) -> Result<(), BftConfigError> {
        let need = 5 * self.f + 1;
        if n < need {
            return Err(BftConfigError::TooFewReplicas { n, f: self.f, need });
        }
        if n > REPLICAS_MAX {
            return Err(BftConfigError::TooManyReplicas {
                n,
                max: REPLICAS_MAX,
            });
        }
        for (name, value) in [
            ("sigma", self.sigma as u64),
            ("clients_max", self.clients_max as u64),
            ("tick_interval_ms", self.tick_interval_ms),
            ("k_admissibility", u64::from(self.k_admissibility)),
            (
                "full_state_every_ticks",
                u64::from(self.full_state_every_ticks),
            ),
            ("fd_restart_ticks", u64::from(self.fd_restart_ticks)),
        ] {
            if value == 0 {
                return Err(BftConfigError::Zero { name });
            }
        }
        Ok(())
    }
}

/// Everything derived from the config and the membership, fixed for a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub n: usize,
    pub f: usize,
    /// This node's processor index.
    pub me: usize,
    pub q1: usize,
    pub q2: usize,
    pub q3: usize,
    pub sigma: usize,
    pub clients: usize,
    pub self_stabilizing: bool,
    pub event_driven_fd: bool,
    pub k_adm: u32,
    pub beat_threshold: u32,
    pub cnt_threshold: u32,
    pub full_every: u32,
    pub fd_restart: u32,
    pub list_len_max: usize,
}

impl Params {
    pub fn new(n: usize, me: usize, c: &BftConfig) -> Self {
        let f = c.f;
        Self {
            n,
            f,
            me,
            q1: n.saturating_sub(f),
            q2: n.saturating_sub(2 * f),
            q3: n.saturating_sub(3 * f),
            sigma: c.sigma.max(1),
            clients: c.clients_max.max(1),
            self_stabilizing: c.self_stabilizing,
            event_driven_fd: c.event_driven_fd && c.self_stabilizing,
            k_adm: c.k_admissibility.max(1),
            beat_threshold: c.beat_threshold.unwrap_or(if n <= 6 { 50 } else { 250 }),
            cnt_threshold: c.cnt_threshold.unwrap_or(if n <= 6 { 25 } else { 125 }),
            full_every: c.full_state_every_ticks.max(1),
            fd_restart: c.fd_restart_ticks.max(1),
            list_len_max: c.list_len_max,
        }
    }

    /// σK: bound of `pend` and `reqq`, and the sequence-number window.
    pub fn sigma_k(&self) -> usize {
        self.sigma * self.clients
    }

    /// 3σK: bound of `rlog` and the `delayed()` lag.
    pub fn rlog_max(&self) -> usize {
        3 * self.sigma_k()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resilience_is_checked_with_a_clear_message() {
        let c = BftConfig::default();
        assert!(c.validate(6).is_ok());
        let err = c.validate(5).unwrap_err();
        assert_eq!(
            err,
            BftConfigError::TooFewReplicas {
                n: 5,
                f: 1,
                need: 6
            }
        );
        assert!(err.to_string().contains("5f+1"));
        let c2 = BftConfig {
            f: 2,
            ..BftConfig::default()
        };
        assert!(c2.validate(11).is_ok() && c2.validate(10).is_err());
        let z = BftConfig {
            sigma: 0,
            ..BftConfig::default()
        };
        assert_eq!(z.validate(6), Err(BftConfigError::Zero { name: "sigma" }));
    }

    #[test]
    fn quorums_follow_the_table() {
        let p = Params::new(6, 0, &BftConfig::default());
        assert_eq!((p.q1, p.q2, p.q3), (5, 4, 3));
        assert_eq!((p.beat_threshold, p.cnt_threshold), (50, 25));
        let p = Params::new(
            12,
            0,
            &BftConfig {
                f: 2,
                ..BftConfig::default()
            },
        );
        assert_eq!((p.q1, p.q2, p.q3), (10, 8, 6));
        assert_eq!((p.beat_threshold, p.cnt_threshold), (250, 125));
    }
}
