//! Leader handling of membership requests: one server at a time (thesis
//! §4.1), learners that catch up before they vote (§4.2.1), automatic
//! promotion for `AddMember`.

use crate::membership::Membership;
use crate::message::Payload;
use crate::raft::Raft;
use crate::request::{RaftError, Reply, Request};
use skein_core::{Context, NodeId, PeerAddress, RequestId};

impl Raft {
    pub(crate) fn on_membership_request(
        &mut self,
        ctx: &mut Context<'_, Self>,
        id: RequestId,
        request: Request,
    ) {
        match self.next_membership(&request) {
            Ok(Some(next)) => {
                if let Err(error) = self.admit_proposal() {
                    ctx.reply(id, Reply::Error(error));
                    return;
                }
                let index = self.propose(ctx, Payload::Config(next));
                self.leader_mut().proposals.insert(index, id);
            }
            Ok(None) => {
                let reply = Reply::Membership {
                    membership: self.membership().clone(),
                    index: self.memberships.latest_index(),
                };
                ctx.reply(id, reply);
            }
            Err(error) => ctx.reply(id, Reply::Error(error)),
        }
    }

    /// The configuration after `request`, `None` if nothing changes now.
    fn next_membership(&mut self, request: &Request) -> Result<Option<Membership>, RaftError> {
        if !self.membership_index_committed() || !self.committed_in_term() {
            return Err(RaftError::ConfigChangeInProgress);
        }
        let mut next = self.membership().clone();
        match request.clone() {
            Request::AddMember { id, address } if next.is_voter(id) => {
                return Ok(readdressed(next, id, address));
            }
            Request::AddMember { id, address }
                if next.learners.contains(&id) && !self.caught_up(id) =>
            {
                self.leader_mut().auto_promote.insert(id);
                return Ok(readdressed(next, id, address));
            }
            Request::AddMember { id, address } if next.learners.contains(&id) => {
                next.learners.remove(&id);
                next.voters.insert(id);
                next.addresses.extend(address.map(|a| (id, a)));
            }
            Request::AddMember { id, address } => {
                next.learners.insert(id);
                next.addresses.extend(address.map(|a| (id, a)));
                self.leader_mut().auto_promote.insert(id);
            }
            Request::AddLearner { id, address } if next.contains(id) => {
                return Ok(readdressed(next, id, address));
            }
            Request::AddLearner { id, address } => {
                next.learners.insert(id);
                next.addresses.extend(address.map(|a| (id, a)));
            }
            Request::Promote { id } if !next.learners.contains(&id) => {
                return Err(RaftError::UnknownNode { id })
            }
            Request::Promote { id } if !self.caught_up(id) => {
                return Err(RaftError::NotCaughtUp { id })
            }
            Request::Promote { id } => {
                next.learners.remove(&id);
                next.voters.insert(id);
            }
            Request::RemoveMember { id } if !next.contains(id) => {
                return Err(RaftError::UnknownNode { id })
            }
            Request::RemoveMember { id } => {
                next.remove(id);
                if next.voters.is_empty() {
                    return Err(RaftError::NoVotersLeft);
                }
                self.leader_mut().auto_promote.remove(&id);
            }
            _ => unreachable!("only membership requests reach here"),
        }
        self.stamp_own_address(&mut next);
        Ok(Some(next))
    }

    /// A learner is caught up once it holds everything committed.
    fn caught_up(&self, id: NodeId) -> bool {
        self.leader_ref()
            .progress
            .get(&id)
            .is_some_and(|p| p.match_index >= self.commit_index)
    }

    /// Promotes an `AddMember` learner once it has caught up.
    pub(crate) fn maybe_auto_promote(&mut self, ctx: &mut Context<'_, Self>) {
        if !self.is_leader()
            || self.leader_ref().transfer.is_some()
            || !self.membership_index_committed()
            || !self.committed_in_term()
        {
            return;
        }
        let ready = self
            .leader_ref()
            .auto_promote
            .iter()
            .copied()
            .find(|&id| self.membership().learners.contains(&id) && self.caught_up(id));
        let Some(id) = ready else { return };
        self.leader_mut().auto_promote.remove(&id);
        let mut next = self.membership().clone();
        next.learners.remove(&id);
        next.voters.insert(id);
        self.stamp_own_address(&mut next);
        self.propose(ctx, Payload::Config(next));
    }

    /// Records the proposing leader's own address in a configuration it
    /// proposes, so members that did not start with it (joiners, or anyone
    /// after a restart) can dial it.
    fn stamp_own_address(&self, next: &mut Membership) {
        if next.contains(self.id) {
            next.addresses.insert(self.id, self.address.clone());
        }
    }
}

/// `current` with `id` moved to `address`, or `None` if that changes nothing.
fn readdressed(
    mut current: Membership,
    id: NodeId,
    address: Option<PeerAddress>,
) -> Option<Membership> {
    let address = address?;
    if current.addresses.get(&id) == Some(&address) {
        return None;
    }
    current.addresses.insert(id, address);
    Some(current)
}
