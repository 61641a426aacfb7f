//! Failure detector (BFTLIST.md §2.4): heartbeat (responsiveness) and
//! progress of the primary, driven by tokens ping-ponged with every peer over
//! the self-stabilizing datagram link.

use crate::config::Params;
use crate::types::{ClientRequest, View};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The token, carrying the sender's own suspicion bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdMsg {
    pub susp: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdState {
    pub beat: Vec<u32>,
    pub cnt: u32,
    pub susp: Vec<bool>,
    pub check: Vec<ClientRequest>,
    pub fd_set: BTreeSet<usize>,
    pub prim: View,
    /// Peers whose token arrived and awaits our answer at the next tick
    /// (paces the ping-pong at one token per peer per tick, like FD_SLEEP).
    pub owed: BTreeSet<usize>,
    /// Ticks since each peer's last token (restart of a silent link).
    pub silent_ticks: Vec<u32>,
}

/// What the FD needs from the other modules when a token arrives.
#[derive(Clone, Debug)]
pub struct FdEnv<'a> {
    pub cv: &'a [View],
    pub allow: bool,
    /// `Rep.get_pend_reqs()`; None is the VIEW_CHANGE marker. Read only
    /// for a token from the primary (callers may leave it None otherwise).
    pub pend_reqs: Option<Vec<ClientRequest>>,
}

impl FdState {
    pub fn new(n: usize) -> Self {
        FdState {
            beat: vec![0; n],
            cnt: 0,
            susp: vec![false; n],
            check: Vec::new(),
            fd_set: BTreeSet::new(),
            prim: View::V(0),
            owed: BTreeSet::new(),
            silent_ticks: vec![0; n],
        }
    }

    /// `reset()`.
    pub fn reset(&mut self) {
        self.beat.iter_mut().for_each(|b| *b = 0);
        self.cnt = 0;
        self.susp.iter_mut().for_each(|s| *s = false);
        self.check.clear();
    }

    /// `suspected()`: ≥ Q2 processors of our view suspect the primary.
    pub fn suspected(&self, p: &Params, cv: &[View]) -> bool {
        (0..p.n)
            .filter(|&k| self.susp[k] && cv[k] == cv[p.me])
            .count()
            >= p.q2
    }

    /// Upon a token from `j` with bit `b` (steps 1–3; the answer is owed).
    pub fn on_token(&mut self, p: &Params, j: usize, b: bool, env: &FdEnv) {
        let me = p.me;
        if j >= p.n || j == me {
            return;
        }
        self.silent_ticks[j] = 0;
        for (k, beat) in self.beat.iter_mut().enumerate() {
            if k == j || k == me {
                *beat = 0;
            } else {
                *beat = beat.saturating_add(1);
            }
        }
        self.fd_set = (0..p.n)
            .filter(|&k| k == me || k == j || self.beat[k] < p.beat_threshold)
            .collect();
        let np = env.cv[me];
        if self.prim != np {
            self.reset();
        }
        self.prim = np;
        // BFTLIST.md §2.3/§2.4: the spec runs these steps only while
        // `PM.no_view_change()`, i.e. status OK. NO_SERVICE is sticky while
        // ≥ Q3 entries report it (§2.3 step 2), and it is meant to lead on to
        // V_CHANGE once Q2 processors need a change. A node in NO_SERVICE
        // with a frozen FD never suspects and never learns its peers' new
        // suspicion bits, so after a transient fault (or with a Byzantine
        // node among them) Q3 processors stuck in NO_SERVICE with fewer than
        // Q2 frozen suspicions hold each other there for good: the
        // three-phase protocol is stopped and no view change ever comes.
        // The FD therefore keeps running under NO_SERVICE (a primary that is
        // stalled makes no progress, so it is suspected and replaced, which
        // is what NO_SERVICE asks for). It runs under V_CHANGE too: that
        // node's demand is made, but the change needs Q1 demands, so the
        // correct nodes still in OK or NO_SERVICE must see Q2 suspicions
        // too, and a V_CHANGE node whose FD was reset or frozen without
        // suspicion (a transient fault) sent them "no suspicion" for good
        // (sim seed 157: four followers in V_CHANGE, the primary in
        // NO_SERVICE one demand short of Q1).
        if env.allow {
            if self.prim == View::V(j) {
                // BFTLIST.md §2.4 reads the VIEW_CHANGE marker as "nothing
                // pending", i.e. progress at every token: a node waiting for a
                // new view that is never installed (a Byzantine new primary, or
                // a corrupted `view_changed` flag the primary's state never
                // satisfies) then never suspects, and with f Byzantine nodes
                // Q2 suspicions are out of reach — no view change, no progress
                // (§6.1 item 8). The marker is a pending item instead: it
                // leaves, i.e. progress, once this node's view is installed.
                let now = env
                    .pend_reqs
                    .clone()
                    .unwrap_or_else(|| vec![ClientRequest::dummy()]);
                let progress = self.check.is_empty() || self.check.iter().any(|c| !now.contains(c));
                if progress {
                    self.cnt = 0;
                    self.check = now;
                } else {
                    self.cnt = self.cnt.saturating_add(1);
                }
            } else if self.prim == env.cv[j] {
                self.susp[j] = b;
            }
            if self.prim == View::V(me) {
                self.cnt = 0;
            }
            if !self.susp[me] {
                let prim_alive = self
                    .prim
                    .primary()
                    .is_some_and(|pr| self.fd_set.contains(&pr));
                self.susp[me] = !prim_alive || self.cnt > p.cnt_threshold;
            }
        } else if !env.allow {
            self.reset();
        }
        self.owed.insert(j);
    }

    /// At a tick: the peers to send a token to now (owed answers, plus
    /// restarts of links silent for `fd_restart` ticks: a lost token must not
    /// stop the ping-pong forever).
    pub fn due(&mut self, p: &Params) -> Vec<usize> {
        let mut due: BTreeSet<usize> = std::mem::take(&mut self.owed);
        for k in 0..p.n {
            if k == p.me {
                continue;
            }
            self.silent_ticks[k] = self.silent_ticks[k].saturating_add(1);
            if self.silent_ticks[k] >= p.fd_restart {
                self.silent_ticks[k] = 0;
                due.insert(k);
            }
        }
        due.into_iter().filter(|&k| k < p.n && k != p.me).collect()
    }

    pub fn sanitize(&mut self, p: &Params) -> u64 {
        if self.beat.len() != p.n || self.susp.len() != p.n || self.silent_ticks.len() != p.n {
            *self = FdState::new(p.n);
            return 1;
        }
        let mut fixed = 0;
        if !self.prim.in_range(p.n) {
            self.prim = View::Tee;
            fixed += 1;
        }
        if self.check.len() > p.sigma_k() {
            self.check.truncate(p.sigma_k());
            fixed += 1;
        }
        self.fd_set.retain(|&k| k < p.n);
        self.owed.retain(|&k| k < p.n);
        fixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BftConfig;

    #[test]
    fn a_silent_primary_leaves_fd_set_and_is_suspected() {
        let p = Params::new(6, 1, &BftConfig::default());
        let cv = vec![View::V(0); 6];
        let env = FdEnv {
            cv: &cv,
            allow: true,
            pend_reqs: Some(vec![]),
        };
        let mut fd = FdState::new(6);
        for round in 0..=p.beat_threshold {
            fd.on_token(&p, 2 + (round as usize % 4), false, &env);
        }
        assert!(!fd.fd_set.contains(&0));
        assert!(fd.susp[1]);
        assert_eq!(fd.due(&p).len(), 4, "one owed answer per peer heard");
        fd.reset();
        assert!(!fd.susp[1] && fd.cnt == 0);
    }
}
