//! Clients of the `dht` service: puts, gets, deletes and lookups on a small
//! key set, recorded in a [`Ledger`] the ring checks read (which writes were
//! acknowledged, at which version) and the scaling tests print.
//!
//! Chord promises no linearizability, so the history is not checked against
//! a model; each operation is its own echo, and the ledger counts stale reads
//! (a read older than a write acknowledged before the read began).

use crate::lin::EchoModel;
use crate::workload::{Outcome, ReplyFrom, Workload};
use rand::{Rng, RngCore};
use skein_dht::{Dht, DhtError, Reply, Request, Version};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Keys the clients use.
pub const KEYS: u32 = 32;
/// Operations remembered while in flight; older ones (timed out) are dropped.
const IN_FLIGHT_MAX: usize = 4_096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Put,
    Get,
    Delete,
    Lookup,
}

/// What the clients saw, and what the final ring checks found.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Highest acknowledged write per key, and whether it was a put.
    pub acked: BTreeMap<String, (Version, bool)>,
    pub ops_ok: u64,
    pub ops_failed: u64,
    pub ops_unknown: u64,
    pub lookups_ok: u64,
    pub lookups_failed: u64,
    pub stale_reads: u64,
    /// Hops of client lookups that succeeded.
    pub client_hops: Vec<u32>,
    /// Filled by the ring check once the ring has stabilized.
    pub ring: Option<super::checks::RingReport>,
}

impl Ledger {
    /// Share of lookups (client `Lookup` operations) that found a node.
    pub fn lookup_success_rate(&self) -> f64 {
        let all = self.lookups_ok + self.lookups_failed;
        if all == 0 {
            return 1.0;
        }
        self.lookups_ok as f64 / all as f64
    }
}

struct InFlight {
    kind: OpKind,
    key: String,
    acked_at_issue: Option<(Version, bool)>,
}

pub struct DhtWorkload {
    ledger: Rc<RefCell<Ledger>>,
    next: u64,
    in_flight: BTreeMap<u64, InFlight>,
}

impl DhtWorkload {
    pub fn new(ledger: Rc<RefCell<Ledger>>) -> Self {
        Self {
            ledger,
            next: 0,
            in_flight: BTreeMap::new(),
        }
    }
}

impl Workload<Dht> for DhtWorkload {
    type Model = EchoModel;

    fn model(&self) -> EchoModel {
        EchoModel
    }

    fn next_op(&mut self, rng: &mut dyn RngCore, _client: u32) -> Option<(Request, u64)> {
        self.next += 1;
        let serial = self.next;
        let key = format!("k{}", rng.random_range(0..KEYS));
        let (kind, request) = match rng.random_range(0..100) {
            0..35 => (
                OpKind::Put,
                Request::Put {
                    key: key.clone(),
                    value: serial.to_be_bytes().to_vec(),
                },
            ),
            35..70 => (OpKind::Get, Request::Get { key: key.clone() }),
            70..80 => (OpKind::Delete, Request::Delete { key: key.clone() }),
            _ => (OpKind::Lookup, Request::Lookup { key: key.clone() }),
        };
        let acked_at_issue = self.ledger.borrow().acked.get(&key).copied();
        self.in_flight.insert(
            serial,
            InFlight {
                kind,
                key,
                acked_at_issue,
            },
        );
        while self.in_flight.len() > IN_FLIGHT_MAX {
            self.in_flight.pop_first();
        }
        Some((request, serial))
    }

    fn outcome(&mut self, _from: ReplyFrom, serial: &u64, reply: &Reply) -> Outcome<u64> {
        let Some(op) = self.in_flight.remove(serial) else {
            return Outcome::Unknown;
        };
        let mut ledger = self.ledger.borrow_mut();
        let outcome = match reply {
            Reply::Stored { version, .. } => {
                ack(&mut ledger, &op.key, *version, true);
                Outcome::Ok(*serial)
            }
            Reply::Deleted {
                version: Some(version),
                ..
            } => {
                ack(&mut ledger, &op.key, *version, false);
                Outcome::Ok(*serial)
            }
            Reply::Value { version, .. } => {
                if op.acked_at_issue.is_some_and(|(v, _)| v > *version) {
                    ledger.stale_reads += 1;
                }
                Outcome::Ok(*serial)
            }
            Reply::NotFound => {
                if op.acked_at_issue.is_some_and(|(_, put)| put) {
                    ledger.stale_reads += 1;
                }
                Outcome::Ok(*serial)
            }
            Reply::Lookup(found) => {
                ledger.lookups_ok += 1;
                ledger.client_hops.push(found.hops);
                Outcome::Ok(*serial)
            }
            Reply::Error(
                DhtError::NotJoined | DhtError::Busy { .. } | DhtError::StoreFull { .. },
            ) => Outcome::Fail,
            Reply::Error(_) => Outcome::Unknown,
            _ => Outcome::Fail,
        };
        if op.kind == OpKind::Lookup && !matches!(outcome, Outcome::Ok(_)) {
            ledger.lookups_failed += 1;
        }
        match outcome {
            Outcome::Ok(_) => ledger.ops_ok += 1,
            Outcome::Fail => ledger.ops_failed += 1,
            _ => ledger.ops_unknown += 1,
        }
        outcome
    }

    fn check_linearizability(&self) -> bool {
        false
    }
}

fn ack(ledger: &mut Ledger, key: &str, version: Version, put: bool) {
    let entry = ledger
        .acked
        .entry(key.to_string())
        .or_insert((version, put));
    if version >= entry.0 {
        *entry = (version, put);
    }
}
