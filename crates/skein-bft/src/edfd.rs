//! Event-driven failure detector (BFTLIST.md §2.5): rounds in which this node
//! exchanges k tokens with ≥ Q2−1 peers; the peers heard from at least once
//! in a finished round are taken to be all the correct ones (k-admissibility:
//! Byzantine nodes are the slowest), and VE steps at most once per round,
//! counting only those peers.

use crate::config::Params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// `{token, owner}`; the owner's peers echo it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdfdMsg {
    pub token: u64,
    pub owner: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRound {
    pub token: u64,
    pub correct: BTreeSet<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdfdState {
    /// The current round's id (a counter; the branch uses a timestamp).
    pub token: u64,
    pub counters: Vec<u32>,
    pub last: LastRound,
    /// Ticks the current round has run (a stalled round is re-broadcast).
    pub round_ticks: u32,
}

impl EdfdState {
    pub fn new(n: usize) -> Self {
        EdfdState {
            token: 1,
            counters: vec![0; n],
            last: LastRound {
                token: 0,
                correct: (0..n).collect(),
            },
            round_ticks: 0,
        }
    }

    /// The processors VE may count: those of the last finished round.
    pub fn mask(&self, n: usize) -> Vec<bool> {
        (0..n).map(|k| self.last.correct.contains(&k)).collect()
    }

    /// Handles a token from `from`; returns the token to send back, if any.
    /// Returns `(reply, round_finished)`.
    pub fn on_token(&mut self, p: &Params, from: usize, m: EdfdMsg) -> (Option<EdfdMsg>, bool) {
        if from >= p.n || from == p.me || m.owner >= p.n {
            return (None, false);
        }
        if m.owner != p.me {
            return (Some(m), false);
        }
        if m.token != self.token {
            return (None, false);
        }
        self.counters[from] = self.counters[from].saturating_add(1);
        let done = self.counters.iter().filter(|&&c| c >= p.k_adm).count() + 1 >= p.q2;
        if done {
            // The branch's set: every peer heard at least once this round.
            let mut correct: BTreeSet<usize> = (0..p.n).filter(|&k| self.counters[k] > 0).collect();
            correct.insert(p.me);
            self.last = LastRound {
                token: self.token,
                correct,
            };
            self.counters.iter_mut().for_each(|c| *c = 0);
            self.token = self.token.wrapping_add(1);
            self.round_ticks = 0;
            return (None, true);
        }
        (Some(m), false)
    }

    /// The token to broadcast when a round starts, or again when it stalled
    /// for `restart_ticks` ticks (a lost token must not stop the detector).
    pub fn tick(&mut self, p: &Params, just_finished: bool) -> Option<EdfdMsg> {
        self.round_ticks = self.round_ticks.saturating_add(1);
        if just_finished || self.round_ticks >= p.fd_restart {
            self.round_ticks = 0;
            return Some(EdfdMsg {
                token: self.token,
                owner: p.me,
            });
        }
        None
    }

    pub fn sanitize(&mut self, p: &Params) -> u64 {
        if self.counters.len() != p.n {
            *self = EdfdState::new(p.n);
            return 1;
        }
        let before = self.last.correct.len();
        self.last.correct.retain(|&k| k < p.n);
        u64::from(before != self.last.correct.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BftConfig;

    #[test]
    fn a_round_ends_after_k_exchanges_with_q2_minus_one_peers() {
        let p = Params::new(6, 0, &BftConfig::default());
        let mut ed = EdfdState::new(6);
        let tok = EdfdMsg { token: 1, owner: 0 };
        // Peers echo other owners' tokens back.
        assert_eq!(
            ed.on_token(&p, 1, EdfdMsg { token: 9, owner: 3 }),
            (Some(EdfdMsg { token: 9, owner: 3 }), false)
        );
        let mut finished = false;
        for _ in 0..p.k_adm {
            for peer in 1..=3 {
                let (_, f) = ed.on_token(&p, peer, tok);
                finished |= f;
            }
        }
        assert!(finished);
        assert_eq!(ed.token, 2);
        assert_eq!(ed.last.correct, [0, 1, 2, 3].into_iter().collect());
        // A stale token is dropped without an answer.
        assert_eq!(ed.on_token(&p, 1, tok), (None, false));
    }
}
