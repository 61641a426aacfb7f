//! The raft service's clients: put, get, delete and compare-and-set on a few
//! keys, each value written once. Redirects (`NotLeader`) are followed; a
//! write whose leader stepped down before applying it is unknown.

use crate::lin::{CasKvInput, CasKvModel, CasKvOutput};
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
}

pub fn key_name(key: u64) -> String {
    format!("k{key}")
}

impl CasWorkload {
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
    type Model = CasKvModel;

    fn model(&self) -> CasKvModel {
        CasKvModel
    }

    fn next_op(&mut self, rng: &mut dyn RngCore, _: u32) -> Option<(Request, CasKvInput)> {
        let key = rng.random_range(0..KEYS);
        self.next_value += 1;
        let value = self.next_value;
        let op = match rng.random_range(0..100u32) {
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
        };
        Some(op)
    }

    fn outcome(&mut self, _: ReplyFrom, input: &CasKvInput, reply: &Reply) -> Outcome<CasKvOutput> {
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
