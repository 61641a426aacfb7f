//! The sends at the end of a tick, with the Byzantine alterations of §5.

use crate::byzantine::ByzantineBehaviour as B;
use crate::fd::FdMsg;
use crate::machine::Machine;
use crate::message::BftMessage;
use crate::node::BftNode;
use crate::pm::PmMsg;
use crate::rep::delta::{self, LogDigest, LogHead};
use crate::rep::{LogEntry, RepMsg, Replica};
use skein_core::{Channel, Context};

/// A StateRequest is repeated at most every this many ticks.
const STATE_REQUEST_EVERY_TICKS: u64 = 4;

impl BftNode {
    /// Sends to processor `to` unless the Byzantine behaviour suppresses it.
    pub(crate) fn send_to(
        &mut self,
        ctx: &mut Context<'_, Self>,
        to: usize,
        ch: Channel,
        m: BftMessage,
    ) {
        if self.byz.is_some_and(|b| !b.sends_to(to)) || to == self.p.me {
            return;
        }
        self.counters.sent += 1;
        ctx.send_via(self.node_of(to), ch, m);
    }

    /// Sends to every peer (one Broadcast effect when no behaviour interferes).
    pub(crate) fn broadcast(&mut self, ctx: &mut Context<'_, Self>, ch: Channel, m: BftMessage) {
        if self.byz.is_none() {
            self.counters.sent += self.p.n.saturating_sub(1) as u64;
            ctx.broadcast_via(ch, m);
            return;
        }
        for k in 0..self.p.n {
            self.send_to(ctx, k, ch, m.clone());
        }
    }

    pub(crate) fn send_all(&mut self, ctx: &mut Context<'_, Self>) {
        let p = self.p.clone();
        self.send_ve(ctx);
        self.send_rep(ctx, true);
        self.send_pm(ctx);
        let susp = self.st.fd.susp[p.me];
        let due = self.st.fd.due(&p);
        for to in due {
            self.send_to(ctx, to, Channel::Datagram, BftMessage::Fd(FdMsg { susp }));
        }
        if p.event_driven_fd {
            let due = self.edfd_round_due();
            if let Some(t) = self.st.edfd.tick(&p, due) {
                self.broadcast(ctx, Channel::Stream, BftMessage::Edfd(t));
            }
        }
        if self.ticks % STATE_REQUEST_EVERY_TICKS == 0 {
            let need: Vec<usize> = self.st.rep.need_machine.iter().copied().collect();
            for k in need {
                self.send_to(ctx, k, Channel::Stream, BftMessage::StateRequest);
            }
        }
    }

    pub(crate) fn send_ve(&mut self, ctx: &mut Context<'_, Self>) {
        let (n, me) = (self.p.n, self.p.me);
        if !self.p.self_stabilizing {
            return;
        }
        for to in (0..n).filter(|&k| k != me) {
            let mut m = self.st.ve.message_for(me, to);
            if let Some(own) = self.byz.and_then(|b| b.ve_own(to)) {
                m.own = own;
            }
            self.send_to(ctx, to, Channel::Stream, BftMessage::Ve(m));
        }
        self.st.ve.sent(me);
    }

    pub(crate) fn send_pm(&mut self, ctx: &mut Context<'_, Self>) {
        let pm = PmMsg {
            vcm: self.st.pm.vcm[self.p.me].clone(),
        };
        self.broadcast(ctx, Channel::Stream, BftMessage::Pm(pm));
    }

    /// [EXT] delta + digest (§8): the structure every tick, its log as a
    /// delta per receiver (the entries after the head the receiver last said
    /// it holds, see `rep::delta`) with the digest of the whole log, and the
    /// machine with the whole log only every `full_every` ticks or to peers
    /// that asked for it. `periodic` is the tick's send; an eager send (see
    /// `eager`) never carries the periodic full copy.
    pub(crate) fn send_rep(&mut self, ctx: &mut Context<'_, Self>, periodic: bool) {
        self.rep_sent(ctx.now());
        let p = self.p.clone();
        let me = p.me;
        let full_now = periodic && self.ticks % u64::from(p.full_every) == 0;
        if let Some(b) = self
            .byz
            .filter(|b| matches!(b, B::WrongCcsp | B::AssignDifferentSeqnums))
        {
            for to in (0..p.n).filter(|&k| k != me) {
                let rs = b.rep_structure(me, to, p.n, &self.st.rep.rep[me]);
                let m = RepMsg::whole(rs, true, self.holds_of(to));
                self.send_to(ctx, to, Channel::Stream, BftMessage::Rep(Box::new(m)));
            }
            return;
        }
        let full_to = std::mem::take(&mut self.full_to);
        let own = &self.st.rep.rep[me];
        let log = LogDigest::of(&own.rlog);
        let mut messages = Vec::with_capacity(p.n);
        for to in (0..p.n).filter(|&k| k != me) {
            let with_machine = full_now || full_to.contains(&to);
            let rs = if with_machine {
                own.clone()
            } else {
                let acked = self.acked.get(to).copied().flatten();
                without_machine(own, delta::delta_for(&own.rlog, acked))
            };
            let m = RepMsg {
                rs,
                with_machine,
                log,
                holds: self.holds_of(to),
            };
            messages.push((to, m));
        }
        for (to, m) in messages {
            self.send_to(ctx, to, Channel::Stream, BftMessage::Rep(Box::new(m)));
        }
    }

    /// What this node holds of `k`'s log (its cached copy's head).
    fn holds_of(&self, k: usize) -> Option<LogHead> {
        delta::head_of(&self.st.rep.rep[k].rlog)
    }
}

fn without_machine(r: &Replica, log_delta: &[LogEntry]) -> Replica {
    Replica {
        machine: Machine::default(),
        rlog: log_delta.to_vec(),
        pend: r.pend.clone(),
        reqq: r.reqq.clone(),
        seq: r.seq,
        con_flag: r.con_flag,
        view_changed: r.view_changed,
        prim: r.prim,
    }
}
