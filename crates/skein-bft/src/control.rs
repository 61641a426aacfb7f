//! The control plane between ticks: heartbeat tokens answered after
//! `fd_token_gap_ms` instead of at the next tick, event-driven FD rounds back
//! to back only while the view is unsettled, and VE/PM steps taken as soon
//! as their inputs change (paced by `control_step_gap_us`).
//!
//! Why the heartbeat answers do not wait for the tick: the spec's thresholds
//! count tokens (BEAT_THRESHOLD 50 for n ≤ 6), so the time to suspect a
//! silent primary is the threshold times the token period. At one token per
//! peer per 100 ms tick that is ~1.25 s at n = 6 (four live peers), most of
//! a view change; the original paced its UDP tokens with FD_SLEEP 0.25 s.
//! The thresholds and the FD's logic are unchanged: only the schedule of the
//! answers, which the asynchronous model leaves free, is. A wrong value of
//! the pacing bookkeeping below only delays one answer to the next tick,
//! which sends every owed answer anyway.
//!
//! Why ED-FD rounds wait for the tick once the view is settled: a round
//! restarted the moment the last one ends turns into a busy loop of token
//! echoes on a fast network (one core per replica on loopback) while VE,
//! which steps at most once per round and once per tick, does not need
//! them. While a view change or reset is under way, rounds run back to back
//! as before, so VE is never held back by the pacing.
//!
//! Why VE and PM also step between ticks: a view change is a chain of
//! agreements (suspicion → NO_SERVICE → V_CHANGE → VE's phases → service),
//! each one exchange of state; stepping only at ticks made every link cost
//! up to a tick. The original ran each module in its own loop as fast as
//! its sends allowed, so an extra iteration is the spec's own schedule
//! (BFTLIST.md §2: the modules interleave arbitrarily). A control step is
//! taken only after a VE, PM or FD input changed, or an ED-FD round ended
//! while the view is unsettled, at most one per `control_step_gap_us`: in a
//! settled cluster it never runs, and a Byzantine peer that keeps changing
//! what it says buys at most one step per gap. Everything periodic — the
//! resend of every structure, consolidation, stale checks, sanitising —
//! stays on the tick, so the self-stabilization argument is unchanged.

use crate::fd::FdMsg;
use crate::message::BftMessage;
use crate::node::BftNode;
use crate::pm::PmStatus;
use skein_core::{Channel, Context, TimerId};
use std::time::Duration;

/// The timer that sends the heartbeat answers owed since it was armed.
pub(crate) const FD_TOKEN_TIMER: TimerId = TimerId(2);

/// The timer of the next VE/PM step between ticks.
pub(crate) const CONTROL_TIMER: TimerId = TimerId(3);

/// The original's convergence figure (BFTLIST.md §7: from PM's
/// view-change demand to the new view established), per replica.
#[derive(Clone, Debug, Default)]
pub(crate) struct ViewChangeClock {
    pub demanded_at: Option<Duration>,
    pub last: Option<Duration>,
}

/// Driver-side bookkeeping of the pacing (not protocol state).
#[derive(Clone, Debug, Default)]
pub(crate) struct FdPacing {
    pub token_timer_armed: bool,
    pub control_timer_armed: bool,
    /// An ED-FD round ended while the view was settled; the next starts at
    /// the next tick.
    pub edfd_round_waits: bool,
}

impl BftNode {
    /// After a heartbeat token arrived: answer it (and any other owed) once
    /// the token gap has passed.
    pub(crate) fn answer_tokens_soon(&mut self, ctx: &mut Context<'_, Self>) {
        let gap = self.config.fd_token_gap_ms;
        if gap == 0 || gap >= self.config.tick_interval_ms || self.pacing.token_timer_armed {
            return;
        }
        self.pacing.token_timer_armed = true;
        ctx.set_timer(FD_TOKEN_TIMER, Duration::from_millis(gap));
    }

    /// The token-gap timer fired: the owed answers go out now.
    pub(crate) fn on_token_timer(&mut self, ctx: &mut Context<'_, Self>) {
        self.pacing.token_timer_armed = false;
        let susp = self.st.fd.susp[self.p.me];
        let owed = std::mem::take(&mut self.st.fd.owed);
        let n = self.p.n;
        for to in owed.into_iter().filter(|&k| k < n) {
            self.send_to(ctx, to, Channel::Datagram, BftMessage::Fd(FdMsg { susp }));
        }
    }

    /// The view is established, served and nobody here asks for a change.
    fn view_settled(&self) -> bool {
        let p = &self.p;
        let me = p.me;
        self.st.ve.allow_service(p)
            && self.st.ve.phs.get(me) == Some(&0)
            && self.st.ve.vchg.get(me) == Some(&false)
            && self.st.pm.vcm.get(me).map(|v| v.status) == Some(PmStatus::Ok)
    }

    /// An ED-FD round of this node just ended: start the next one now, or
    /// at the next tick once the view is settled.
    pub(crate) fn edfd_round_ended(&mut self, ctx: &mut Context<'_, Self>) {
        if self.view_settled() {
            self.pacing.edfd_round_waits = true;
            return;
        }
        self.pacing.edfd_round_waits = false;
        if let Some(t) = self.st.edfd.tick(&self.p, true) {
            self.broadcast(ctx, Channel::Stream, BftMessage::Edfd(t));
        }
        // VE may step now that a round ended.
        self.control_step_soon(ctx);
    }

    /// After an input VE or PM could act on: a control step within the gap.
    pub(crate) fn control_step_soon(&mut self, ctx: &mut Context<'_, Self>) {
        let gap = self.config.control_step_gap_us;
        if gap == 0 || !self.p.self_stabilizing || self.pacing.control_timer_armed {
            return;
        }
        self.pacing.control_timer_armed = true;
        ctx.set_timer(CONTROL_TIMER, Duration::from_micros(gap));
    }

    /// VE, then Rep if the view or service changed, then PM, and their
    /// state out to the peers (Rep's only if it stepped).
    pub(crate) fn on_control_timer(&mut self, ctx: &mut Context<'_, Self>) {
        self.pacing.control_timer_armed = false;
        if !self.p.self_stabilizing {
            return;
        }
        // As at the tick: the steps below index by processor.
        self.sanitize();
        let before = (self.view(), self.st.ve.allow_service(&self.p));
        self.ve_step();
        let cv = self.current_views();
        let allow = self.st.ve.allow_service(&self.p);
        if before != (cv[self.p.me], allow) {
            self.rep_step(ctx, &cv, allow);
            self.send_rep(ctx, false);
        }
        self.pm_step(&cv, allow);
        self.time_view_change(ctx.now());
        self.send_ve(ctx);
        self.send_pm(ctx);
    }

    /// At the tick: whether a round waits to start (consumed).
    pub(crate) fn edfd_round_due(&mut self) -> bool {
        std::mem::take(&mut self.pacing.edfd_round_waits)
    }
}

impl BftNode {
    /// Starts the clock at this replica's demand and stops it once the
    /// replica serves in an established view with PM content again.
    pub(crate) fn time_view_change(&mut self, now: Duration) {
        if self.st.ve.vchg.get(self.p.me) == Some(&true) {
            self.view_change_clock.demanded_at.get_or_insert(now);
            return;
        }
        let settled = self.view_settled();
        let clock = &mut self.view_change_clock;
        if let (Some(at), true) = (clock.demanded_at, settled) {
            clock.last = Some(now.saturating_sub(at));
            clock.demanded_at = None;
        }
    }

    /// From this replica's last view-change demand to its serving in the
    /// new view (None before its first).
    pub fn last_view_change(&self) -> Option<Duration> {
        self.view_change_clock.last
    }
}
