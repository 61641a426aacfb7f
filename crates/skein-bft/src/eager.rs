//! Event-driven replication: a Rep message or a client request that can
//! advance pre-prepare / prepare / commit / execute does so at once, and the
//! changed structure goes out without waiting for the next tick.
//!
//! Why this keeps the algorithm's guarantees: the eager step is
//! `RepState::advance` — steps 7–8 of the Rep loop, unchanged — run at one
//! more moment. BFTLIST.md §2 lets the modules interleave arbitrarily, so
//! this is one more legal schedule. What makes the node self-stabilizing
//! stays on the tick: view handling, consolidation, stale-state detection
//! and flush, and the periodic resend of every structure (VE and PM also
//! step between ticks, on change: module `control`). A wrong or stale
//! variable is therefore still found and overwritten within the same
//! bounded number of ticks as before.
//!
//! Bounded work: one eager step is one bounded `advance` (O(n·σK) per
//! message), and its sends are paced — after an eager or periodic Rep
//! broadcast the next eager one waits `event_send_gap_us`, collecting every
//! change made meanwhile into one message (a timer sends it). So a node
//! sends at most one Rep broadcast per gap plus one per tick, whatever the
//! rate of arriving messages.

use crate::node::BftNode;
use crate::rep::{Env, ReqEntry};
use crate::types::ClientRequest;
use skein_core::{Context, TimerId};
use std::time::Duration;

/// The timer that sends changes collected during a send gap.
pub(crate) const REP_SEND_TIMER: TimerId = TimerId(1);

/// What an eager step can change in the own structure, compared before and
/// after it (bounded: σK pending, σK queued).
#[derive(PartialEq, Eq)]
struct Mark {
    last_exec: i64,
    seq: i64,
    pend: Vec<ClientRequest>,
    reqq: Vec<ReqEntry>,
}

/// Pacing of eager sends (driver-side bookkeeping, not protocol state: a
/// wrong value delays one send until the next tick, which resends anyway).
#[derive(Clone, Debug, Default)]
pub(crate) struct EagerSends {
    /// A change not yet sent.
    pub dirty: bool,
    pub timer_armed: bool,
    /// When the last Rep broadcast went out.
    pub last_sent: Option<Duration>,
}

impl BftNode {
    fn mark(&self) -> Mark {
        let own = &self.st.rep.rep[self.p.me];
        Mark {
            last_exec: own.last_exec(),
            seq: own.seq,
            pend: own.pend.clone(),
            reqq: own.reqq.clone(),
        }
    }

    /// Runs the eager Rep step after an input that may let it advance.
    pub(crate) fn advance_now(&mut self, ctx: &mut Context<'_, Self>) {
        if !self.config.event_driven_replication {
            return;
        }
        let p = self.p.clone();
        // Rep messages are stored only while service is allowed (§2.2), and
        // the non-self-stabilizing mode pins VE to a view that allows it.
        let allow = self.st.ve.allow_service(&p);
        if !allow {
            return;
        }
        let before = self.mark();
        let env = Env {
            p: &p,
            allow,
            cv: self.current_views(),
            pm_ok: self.st.pm.no_view_change(p.me),
            byz: self.byz,
        };
        let out = self.st.rep.advance(&env);
        self.counters.repairs += out.cleaned;
        self.counters.executed += out.executed.len() as u64;
        for e in out.executed {
            self.reply_executed(ctx, &e.req.creq, e.req.seq, e.result);
        }
        if self.mark() != before {
            self.eager.dirty = true;
            self.send_changes(ctx);
        }
    }

    /// Sends the collected changes now, or arms the timer for the end of
    /// the current send gap.
    fn send_changes(&mut self, ctx: &mut Context<'_, Self>) {
        let gap = Duration::from_micros(self.config.event_send_gap_us);
        let now = ctx.now();
        let ready_at = self.eager.last_sent.map_or(now, |t| t + gap);
        if now >= ready_at || ready_at > now + gap {
            // `ready_at > now + gap` only after the clock went back: send.
            self.send_rep(ctx, false);
            self.counters.event_sends += 1;
            return;
        }
        if !self.eager.timer_armed {
            self.eager.timer_armed = true;
            ctx.set_timer(REP_SEND_TIMER, ready_at - now);
        }
    }

    /// The send-gap timer fired.
    pub(crate) fn on_send_timer(&mut self, ctx: &mut Context<'_, Self>) {
        self.eager.timer_armed = false;
        if self.eager.dirty {
            self.send_changes(ctx);
        }
    }

    /// Every Rep broadcast (eager or periodic) records itself here.
    pub(crate) fn rep_sent(&mut self, now: Duration) {
        self.eager.dirty = false;
        self.eager.last_sent = Some(now);
    }
}
