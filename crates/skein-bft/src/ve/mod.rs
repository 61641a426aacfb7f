//! View Establishment (BFTLIST.md §2.1): agree on the current view `(v, v)`
//! and move to `v+1` when Primary Monitoring demands it, recovering from any
//! corrupted view information by a reset to `RST_PAIR` and then view 0.

mod automaton;
mod predicates;

pub use automaton::VeOutcome;

use crate::config::Params;
use crate::types::{View, ViewPair, RST_PAIR};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a node tells another about one processor's VE variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub phase: u8,
    pub wit: bool,
    pub view: ViewPair,
    pub vchg: bool,
}

impl Default for Info {
    fn default() -> Self {
        Info {
            phase: 0,
            wit: false,
            view: RST_PAIR,
            vchg: false,
        }
    }
}

/// `own` = the sender's own entries, `about_you` = its entries for the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VeMsg {
    pub own: Info,
    pub about_you: Info,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VeState {
    pub phs: Vec<u8>,
    pub wit: Vec<bool>,
    pub views: Vec<ViewPair>,
    pub vchg: Vec<bool>,
    /// `echo[k]`: what k last told this node about itself; `echo[me]` = own
    /// values at the last send.
    pub echo: Vec<Info>,
    pub wit_set: BTreeSet<usize>,
    /// ED-FD (§2.5): counts are restricted to these processors (all when off).
    pub mask: Vec<bool>,
    /// ED-FD: the automaton may step again once a round with a token ≥ this completed.
    pub edfd_after: u64,
}

impl VeState {
    pub fn new(n: usize) -> Self {
        VeState {
            phs: vec![0; n],
            wit: vec![false; n],
            views: vec![RST_PAIR; n],
            vchg: vec![false; n],
            echo: vec![Info::default(); n],
            wit_set: BTreeSet::new(),
            mask: vec![true; n],
            edfd_after: 0,
        }
    }

    /// Own entries as sent to peers.
    pub fn own_info(&self, me: usize) -> Info {
        Info {
            phase: self.phs[me],
            wit: self.wit[me],
            view: self.views[me],
            vchg: self.vchg[me],
        }
    }

    /// The message for processor `to`.
    pub fn message_for(&self, me: usize, to: usize) -> VeMsg {
        VeMsg {
            own: self.own_info(me),
            about_you: Info {
                phase: self.phs[to],
                wit: self.wit[to],
                view: self.views[to],
                vchg: self.vchg[to],
            },
        }
    }

    /// After sending to every peer: `echo[i] := own`.
    pub fn sent(&mut self, me: usize) {
        self.echo[me] = self.own_info(me);
    }

    /// What this node stores of `k`'s state (to tell whether a message
    /// changed it).
    pub fn entry_of(&self, k: usize) -> Option<(Info, u8, bool, ViewPair, bool)> {
        Some((
            *self.echo.get(k)?,
            *self.phs.get(k)?,
            *self.wit.get(k)?,
            *self.views.get(k)?,
            *self.vchg.get(k)?,
        ))
    }

    /// §2.1 receive: store only an `own` that is legitimate for its phase.
    /// Returns false when the message was dropped.
    pub fn receive(&mut self, p: &Params, from: usize, m: &VeMsg) -> bool {
        if from >= p.n || from == p.me || !m.own.view.legit(m.own.phase, p.n) {
            return false;
        }
        // BFTLIST.md §8 [EXT] input validation: `about_you` must at least be in range.
        if !m.about_you.view.cur.in_range(p.n) || !m.about_you.view.next.in_range(p.n) {
            return false;
        }
        self.echo[from] = m.about_you;
        self.phs[from] = m.own.phase;
        self.wit[from] = m.own.wit;
        self.views[from] = m.own.view;
        self.vchg[from] = m.own.vchg;
        true
    }

    /// `reset_all()`: everything but `echo` back to the reset values.
    pub fn reset_all(&mut self) {
        let n = self.views.len();
        self.views = vec![RST_PAIR; n];
        self.vchg = vec![false; n];
        self.phs = vec![0; n];
        self.wit = vec![false; n];
        self.wit_set.clear();
    }

    /// Called by PM (§2.1 `view_change()`).
    pub fn view_change(&mut self, me: usize) {
        self.vchg[me] = true;
    }

    /// Repairs values no correct execution produces: wrong array lengths and
    /// out-of-range phases (a corrupted pair is caught by `stale(i)`).
    /// Returns the number of repairs.
    pub fn sanitize(&mut self, n: usize) -> u64 {
        let mut fixed = 0;
        if self.phs.len() != n
            || self.wit.len() != n
            || self.views.len() != n
            || self.vchg.len() != n
            || self.echo.len() != n
            || self.mask.len() != n
        {
            *self = VeState::new(n);
            return 1;
        }
        for ph in &mut self.phs {
            if *ph > 1 {
                *ph = 0;
                fixed += 1;
            }
        }
        let before = self.wit_set.len();
        self.wit_set.retain(|&k| k < n);
        fixed += (before - self.wit_set.len()) as u64;
        fixed
    }

    /// The non-self-stabilizing baseline's fixed view 0.
    pub fn pin_view_zero(&mut self) {
        let n = self.views.len();
        self.views = vec![ViewPair::same(0); n];
        self.phs = vec![0; n];
        self.vchg = vec![false; n];
    }

    pub fn current_pair(&self, me: usize) -> ViewPair {
        self.views[me]
    }

    pub fn view_of(&self, k: usize) -> View {
        self.views[k].cur
    }
}
