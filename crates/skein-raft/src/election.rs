//! Leader election (Raft §5.2) with pre-vote (thesis §9.6), the leader
//! lease on votes that keeps removed or partitioned servers from disrupting
//! a healthy cluster (thesis §4.2.3), and TimeoutNow (thesis §3.10).
//!
//! Votes are only sent once the vote record is durable, and a candidate
//! counts itself only once its own vote is durable (Figure 2: "persist
//! before responding").

use crate::message::{LogId, Message, Payload};
use crate::progress::LeaderState;
use crate::raft::{Raft, Role, TIMER_ELECTION, TIMER_HEARTBEAT};
use skein_core::{Context, NodeId};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub(crate) struct Election {
    /// When a follower without news from a leader starts an election.
    pub deadline: Duration,
    /// When the election timer is armed to fire, if it is.
    pub timer_at: Option<Duration>,
    /// When this node last heard from the leader of its term.
    pub last_leader_contact: Option<Duration>,
    /// Votes (or pre-votes) granted to this node in the current campaign.
    pub granted: BTreeSet<NodeId>,
    /// Token of this candidate's own vote record, until durable.
    pub self_vote_token: Option<u64>,
    /// The last term this node led (assert: never lead twice in one term).
    pub led_term: u64,
}

impl Raft {
    pub(crate) fn reset_election_deadline(&mut self, ctx: &mut Context<'_, Self>) {
        let timeout = self.random_election_timeout(ctx.rng());
        let deadline = self.now + timeout;
        self.election.deadline = deadline;
        if self.election.timer_at.is_none_or(|at| at > deadline) {
            ctx.set_timer(TIMER_ELECTION, timeout);
            self.election.timer_at = Some(deadline);
        }
    }

    pub(crate) fn on_election_timer(&mut self, ctx: &mut Context<'_, Self>) {
        self.election.timer_at = None;
        if self.is_leader() {
            return;
        }
        if self.now < self.election.deadline {
            let deadline = self.election.deadline;
            ctx.set_timer(TIMER_ELECTION, deadline - self.now);
            self.election.timer_at = Some(deadline);
            return;
        }
        self.reset_election_deadline(ctx);
        if !self.may_campaign() {
            return; // learners and removed nodes never campaign
        }
        if self.config.pre_vote {
            self.campaign_pre_vote(ctx);
        } else {
            self.campaign(ctx, false);
        }
    }

    /// Voters campaign. So does a voter of the committed configuration that
    /// an uncommitted change removes: it may hold the only up-to-date log,
    /// and must be able to commit its own removal (thesis §4.2.2).
    pub(crate) fn may_campaign(&self) -> bool {
        let id = self.id;
        self.membership().is_voter(id)
            || (!self.membership_index_committed()
                && self.memberships.at(self.commit_index).is_voter(id))
    }

    /// True while this node believes a leader of its term is alive: it then
    /// refuses (pre-)votes that are not forced (thesis §4.2.3).
    pub(crate) fn lease_active(&self) -> bool {
        if self.is_leader() {
            return true;
        }
        // With lease reads a restarted node must also wait: it may have heard
        // from a leader just before it crashed (thesis §6.4.1).
        if self.config.lease_read && self.now < self.config.election_timeout_min() {
            return true;
        }
        self.leader.is_some()
            && self
                .election
                .last_leader_contact
                .is_some_and(|at| self.now < at + self.config.election_timeout_min())
    }

    fn campaign_pre_vote(&mut self, ctx: &mut Context<'_, Self>) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.election.granted = BTreeSet::from([self.id]);
        let message = Message::RequestVote {
            term: self.term + 1,
            last: self.log.last_id(),
            pre_vote: true,
            force: false,
        };
        self.send_to_voters(ctx, &message);
        self.tally(ctx);
    }

    /// Starts a real election in a new term. `force` is set after TimeoutNow.
    pub(crate) fn campaign(&mut self, ctx: &mut Context<'_, Self>, force: bool) {
        assert!(self.may_campaign(), "only voters campaign");
        assert!(!self.is_leader(), "a leader does not campaign");
        self.term += 1;
        self.voted_for = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.verified_index = 0;
        self.election.granted.clear();
        let token = self.persist_hard_state(ctx);
        self.election.self_vote_token = Some(token);
        let message = Message::RequestVote {
            term: self.term,
            last: self.log.last_id(),
            pre_vote: false,
            force,
        };
        self.send_to_voters(ctx, &message);
    }

    fn send_to_voters(&self, ctx: &mut Context<'_, Self>, message: &Message) {
        for &voter in &self.membership().voters {
            if voter != self.id {
                ctx.send(voter, message.clone());
            }
        }
    }

    pub(crate) fn on_self_vote_durable(&mut self, ctx: &mut Context<'_, Self>) {
        self.election.self_vote_token = None;
        if self.role == Role::Candidate && self.voted_for == Some(self.id) {
            self.election.granted.insert(self.id);
            self.tally(ctx);
        }
    }

    fn tally(&mut self, ctx: &mut Context<'_, Self>) {
        if !self.membership().has_quorum(&self.election.granted) {
            return;
        }
        match self.role {
            Role::PreCandidate => self.campaign(ctx, false),
            Role::Candidate => self.become_leader(ctx),
            _ => {}
        }
    }

    pub(crate) fn on_request_vote(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        term: u64,
        last: LogId,
        pre_vote: bool,
        force: bool,
    ) {
        let lease = !force && self.lease_active();
        let up_to_date = last >= self.log.last_id();
        let reject = Message::VoteResponse {
            term: self.term,
            granted: false,
            pre_vote,
        };
        if pre_vote {
            // Pre-votes change no state (thesis §9.6).
            let granted = term > self.term && up_to_date && !lease;
            let response = Message::VoteResponse {
                term: if granted { term } else { self.term },
                granted,
                pre_vote: true,
            };
            ctx.send(from, response);
            return;
        }
        if lease || term < self.term {
            ctx.send(from, reject);
            return;
        }
        if term > self.term {
            self.become_follower(ctx, term, None);
        }
        let free = self.voted_for.is_none_or(|v| v == from);
        if !(free && up_to_date) {
            let reject = Message::VoteResponse {
                term: self.term,
                granted: false,
                pre_vote: false,
            };
            ctx.send(from, reject);
            return;
        }
        assert!(
            self.voted_for.is_none_or(|v| v == from),
            "never vote for two candidates in term {}",
            self.term
        );
        self.voted_for = Some(from);
        self.reset_election_deadline(ctx);
        let token = self.persist_hard_state(ctx);
        let grant = Message::VoteResponse {
            term: self.term,
            granted: true,
            pre_vote: false,
        };
        self.send_when_durable(token, from, grant);
    }

    pub(crate) fn on_vote_response(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        term: u64,
        granted: bool,
        pre_vote: bool,
    ) {
        let current = if pre_vote {
            self.role == Role::PreCandidate && term == self.term + 1
        } else {
            self.role == Role::Candidate && term == self.term
        };
        if current && granted {
            self.election.granted.insert(from);
            self.tally(ctx);
        }
    }

    /// Steps down to follower, adopting `term` if newer (and persisting it).
    pub(crate) fn become_follower(
        &mut self,
        ctx: &mut Context<'_, Self>,
        term: u64,
        leader: Option<NodeId>,
    ) {
        assert!(term >= self.term, "terms never go back");
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.verified_index = 0;
            self.acked_index = 0;
            self.persist_hard_state(ctx);
        }
        if let Some(state) = self.leader_state.take() {
            state.fail_pending(ctx, leader);
            ctx.cancel_timer(TIMER_HEARTBEAT);
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.election.granted.clear();
        self.election.self_vote_token = None;
        if self.election.timer_at.is_none() {
            self.reset_election_deadline(ctx);
        }
    }

    fn become_leader(&mut self, ctx: &mut Context<'_, Self>) {
        assert_eq!(self.role, Role::Candidate, "only candidates become leader");
        assert!(
            self.election.led_term < self.term,
            "never lead twice in term {}",
            self.term
        );
        assert_eq!(self.voted_for, Some(self.id), "a leader voted for itself");
        self.election.led_term = self.term;
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.election.granted.clear();
        let state = LeaderState::new(self.now, self.now + self.config.election_timeout_max());
        self.leader_state = Some(state);
        self.sync_progress();
        ctx.set_timer(TIMER_HEARTBEAT, self.config.heartbeat_interval());
        let index = self.propose(ctx, Payload::Noop);
        self.leader_mut().term_start_index = index;
    }

    /// A leader asked us to take over (thesis §3.10): campaign at once.
    pub(crate) fn on_timeout_now(&mut self, ctx: &mut Context<'_, Self>, from: NodeId) {
        if self.leader == Some(from) && self.may_campaign() && !self.is_leader() {
            self.campaign(ctx, true);
        }
    }
}
