//! The raft service's clients: put, get, delete and compare-and-set on a few
//! keys, each value written once. Redirects (`NotLeader`) are followed; a
//! write whose leader stepped down before applying it is unknown. One client
//! may also drive membership changes ([`MembershipDriver`]).

use super::membership::{self, MembershipDriver};
use super::model::{RaftInput, RaftKvModel, RaftOutput};
use crate::lin::{CasKvInput, CasKvOutput};
use crate::workload::{Outcome, ReplyFrom, Workload};
use rand::{Rng, RngCore};
use skein_raft::{Raft, RaftError, Reply, Request};
use std::collections::BTreeMap;

/// Keys the clients contend on: few, so operations overlap often.
pub const KEYS: u64 = 3;

/// Each key's last value and revision some client saw, so a CAS can name
/// the revision it expects (`None`: seen absent).
#[derive(Default)]
pub struct CasWorkload {
    next_value: u64,
    seen: BTreeMap<u64, Option<(u64, u64)>>,
    /// The client that drives membership changes, and its driver.
    driver: Option<(u32, MembershipDriver)>,
}

pub fn key_name(key: u64) -> String {
    format!("k{key}")
}

impl CasWorkload {
    /// Client `client` also removes, re-adds and promotes members `1..=nodes`.
    pub fn with_membership_driver(client: u32, nodes: u16) -> Self {
        Self {
            driver: Some((client, MembershipDriver::new(nodes))),
            ..Self::default()
        }
    }

    /// Membership changes the driver saw completed (0 without a driver).
    pub fn membership_changes_completed(&self) -> u64 {
        self.driver
            .as_ref()
            .map_or(0, |(_, d)| d.changes_completed())
    }

    fn cas(&mut self, key: u64, value: u64) -> (Request, CasKvInput) {
        let (expected, expected_revision) = match self.seen.get(&key).copied().flatten() {
            Some((v, revision)) => (Some(v), revision),
            None => (None, 0), // raft: revision 0 means "only if absent"
        };
        let request = Request::Cas {
            key: key_name(key),
            expected_revision,
            value: value.to_string(),
        };
        (
            request,
            CasKvInput::Cas {
                key,
                expected,
                value,
            },
        )
    }

    /// Remembers what a successful reply says about its key.
    fn learn(&mut self, input: &CasKvInput, reply: &Reply) {
        let (key, fact) = match (input, reply) {
            (CasKvInput::Get(key), Reply::Value { value, revision }) => {
                (*key, value.as_ref().map(|v| (parse(v), *revision)))
            }
            (CasKvInput::Put(key, v), Reply::Written { revision }) => (*key, Some((*v, *revision))),
            (
                CasKvInput::Cas { key, value, .. },
                Reply::Cas {
                    succeeded: true,
                    revision,
                },
            ) => (*key, Some((*value, *revision))),
            (CasKvInput::Delete(key), Reply::Deleted { .. }) => (*key, None),
            _ => return,
        };
        self.seen.insert(key, fact);
    }
}

/// A value no client wrote reads as one the model can never produce.
fn parse(text: &str) -> u64 {
    text.parse().unwrap_or(u64::MAX)
}

impl Workload<Raft> for CasWorkload {
    type Model = RaftKvModel;

    fn model(&self) -> RaftKvModel {
        RaftKvModel
    }

    fn next_op(&mut self, rng: &mut dyn RngCore, client: u32) -> Option<(Request, RaftInput)> {
        if let Some((_, driver)) = self.driver.as_mut().filter(|(c, _)| *c == client) {
            if let Some(change) = driver.next_change(rng) {
                return Some((membership::request(change), RaftInput::Member(change)));
            }
        }
        let (request, input) = self.next_kv_op(rng);
        Some((request, RaftInput::Kv(input)))
    }

    fn outcome(
        &mut self,
        from: ReplyFrom,
        input: &RaftInput,
        reply: &Reply,
    ) -> Outcome<RaftOutput> {
        match input {
            RaftInput::Kv(kv) => match self.kv_outcome(kv, reply) {
                Outcome::Ok(out) => Outcome::Ok(RaftOutput::Kv(out)),
                Outcome::Fail => Outcome::Fail,
                Outcome::Unknown => Outcome::Unknown,
                Outcome::Retry(to) => Outcome::Retry(to),
                Outcome::Wait => Outcome::Wait,
            },
            RaftInput::Member(change) => match self.driver.as_mut() {
                Some((_, driver)) => driver.outcome(from, *change, reply),
                None => Outcome::Ok(RaftOutput::MemberUnexpected),
            },
        }
    }
}

impl CasWorkload {
    fn next_kv_op(&mut self, rng: &mut dyn RngCore) -> (Request, CasKvInput) {
        let key = rng.random_range(0..KEYS);
        self.next_value += 1;
        let value = self.next_value;
        match rng.random_range(0..100u32) {
            0..30 => (Request::Get { key: key_name(key) }, CasKvInput::Get(key)),
            30..60 => (
                Request::Put {
                    key: key_name(key),
                    value: value.to_string(),
                },
                CasKvInput::Put(key, value),
            ),
            60..85 => self.cas(key, value),
            _ => (
                Request::Delete { key: key_name(key) },
                CasKvInput::Delete(key),
            ),
        }
    }

    fn kv_outcome(&mut self, input: &CasKvInput, reply: &Reply) -> Outcome<CasKvOutput> {
        self.learn(input, reply);
        match (input, reply) {
            (_, Reply::NotLeader { leader }) => Outcome::Retry(*leader),
            (_, Reply::Error(RaftError::TransferInProgress)) => Outcome::Retry(None),
            // ALGORITHM.md: a write pending at a step-down may still commit.
            (_, Reply::Error(RaftError::LeadershipLost)) => Outcome::Unknown,
            // Every other error says nothing was written.
            (_, Reply::Error(_)) => Outcome::Fail,
            (CasKvInput::Get(_), Reply::Value { value, .. }) => {
                Outcome::Ok(CasKvOutput::Value(value.as_deref().map(parse)))
            }
            (CasKvInput::Put(..), Reply::Written { .. }) => Outcome::Ok(CasKvOutput::Ok),
            (CasKvInput::Delete(_), Reply::Deleted { existed, .. }) => {
                Outcome::Ok(CasKvOutput::Deleted { existed: *existed })
            }
            (CasKvInput::Cas { .. }, Reply::Cas { succeeded, .. }) => {
                Outcome::Ok(CasKvOutput::Cas {
                    succeeded: *succeeded,
                })
            }
            // A reply of the wrong kind: the checker must not accept it.
            _ => Outcome::Ok(CasKvOutput::Unexpected),
        }
    }
}
