//! Leadership transfer (thesis §3.10): the leader stops taking writes,
//! brings the target up to date, then sends it TimeoutNow so it campaigns
//! at once, skipping pre-vote and the vote lease. Abandoned after one
//! maximum election timeout.

use crate::message::Message;
use crate::progress::Transfer;
use crate::raft::Raft;
use crate::request::{RaftError, Reply};
use skein_core::{Context, NodeId, RequestId};

impl Raft {
    pub(crate) fn on_transfer_request(
        &mut self,
        ctx: &mut Context<'_, Self>,
        id: RequestId,
        to: Option<NodeId>,
    ) {
        if self.leader_ref().transfer.is_some() {
            ctx.reply(id, Reply::Error(RaftError::TransferInProgress));
            return;
        }
        let target = to.or_else(|| self.most_caught_up_voter());
        let Some(target) = target else {
            ctx.reply(id, Reply::Error(RaftError::UnknownNode { id: self.id }));
            return;
        };
        if target == self.id {
            ctx.reply(id, Reply::TransferStarted { to: target });
            return;
        }
        if !self.membership().is_voter(target) {
            ctx.reply(id, Reply::Error(RaftError::UnknownNode { id: target }));
            return;
        }
        let deadline = self.now + self.config.election_timeout_max();
        self.leader_mut().transfer = Some(Transfer {
            target,
            deadline,
            timeout_now_sent: false,
        });
        ctx.reply(id, Reply::TransferStarted { to: target });
        self.maybe_send_timeout_now(ctx, target);
        self.send_append(ctx, target);
    }

    fn most_caught_up_voter(&self) -> Option<NodeId> {
        let membership = self.membership();
        self.leader_ref()
            .progress
            .iter()
            .filter(|(id, _)| membership.is_voter(**id))
            .max_by_key(|(id, p)| (p.match_index, std::cmp::Reverse(**id)))
            .map(|(id, _)| *id)
    }

    /// Sends TimeoutNow once the target holds the leader's whole log.
    pub(crate) fn maybe_send_timeout_now(&mut self, ctx: &mut Context<'_, Self>, peer: NodeId) {
        let last = self.log.last_index();
        let term = self.term;
        let Some(state) = self.leader_state.as_mut() else {
            return;
        };
        let Some(transfer) = state.transfer.as_mut() else {
            return;
        };
        let caught_up = state
            .progress
            .get(&peer)
            .is_some_and(|p| p.match_index == last);
        if transfer.target == peer && caught_up && !transfer.timeout_now_sent {
            transfer.timeout_now_sent = true;
            ctx.send(peer, Message::TimeoutNow { term });
        }
    }

    pub(crate) fn expire_transfer(&mut self) {
        let now = self.now;
        let state = self.leader_mut();
        if state.transfer.as_ref().is_some_and(|t| now >= t.deadline) {
            state.transfer = None;
        }
    }
}
