//! The replicated state machine: the list plus, per client, its last executed
//! request (`last_req`, §2.2), which makes execution exactly-once ([EXT] §8).
//!
//! Both parts are replicated, digested and adopted together, so the
//! exactly-once decision — made at execution, from replicated state only — is
//! the same at every correct replica.

use crate::hash::Hasher64;
use crate::types::{ClientId, Op, Request, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The last request of a client that was executed, and its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReq {
    pub ts: u64,
    pub seq: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub list: Vec<Value>,
    pub last: BTreeMap<ClientId, LastReq>,
}

/// What executing one request did; sent to the client in the reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Appended,
    NoOp,
    /// [EXT] whether the value was found (and removed).
    Removed {
        found: bool,
    },
    /// [EXT] the list as of this request's sequence number.
    Read {
        list: Vec<Value>,
    },
    /// The client already had this or a newer request executed: run as NO_OP.
    Duplicate,
}

impl Machine {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && self.last.is_empty()
    }

    /// Digest of the whole machine (list and `last_req`).
    pub fn digest(&self) -> u64 {
        let mut h = Hasher64::default();
        h.u64(self.list.len() as u64);
        for &x in &self.list {
            h.i64(x);
        }
        h.u64(self.last.len() as u64);
        for (&c, l) in &self.last {
            h.u64(u64::from(c)).u64(l.ts).i64(l.seq);
        }
        h.finish()
    }

    /// Executes `req`. Deterministic: the same machine and request give the
    /// same result everywhere. BFTLIST.md §8 [EXT] exactly-once: a request
    /// whose `ts ≤ last_req[client].ts` runs as NO_OP.
    pub fn apply(&mut self, req: &Request) -> OpResult {
        let c = &req.creq;
        if c.is_dummy() {
            return OpResult::NoOp;
        }
        if self.last.get(&c.client).is_some_and(|l| c.ts <= l.ts) {
            return OpResult::Duplicate;
        }
        self.last.insert(
            c.client,
            LastReq {
                ts: c.ts,
                seq: req.seq,
            },
        );
        match c.op {
            Op::Append(x) => {
                self.list.push(x);
                OpResult::Appended
            }
            Op::NoOp => OpResult::NoOp,
            Op::Remove(x) => {
                let at = self.list.iter().position(|&y| y == x);
                if let Some(at) = at {
                    self.list.remove(at);
                }
                OpResult::Removed {
                    found: at.is_some(),
                }
            }
            Op::Read => OpResult::Read {
                list: self.list.clone(),
            },
        }
    }

    /// True when the client's request `ts` was already executed here.
    pub fn executed(&self, client: ClientId, ts: u64) -> Option<LastReq> {
        self.last.get(&client).copied().filter(|l| ts <= l.ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ClientRequest;

    fn req(client: ClientId, ts: u64, op: Op, seq: i64) -> Request {
        Request {
            creq: ClientRequest { client, ts, op },
            view: 0,
            seq,
        }
    }

    #[test]
    fn append_remove_read_and_exactly_once() {
        let mut m = Machine::default();
        let d0 = m.digest();
        assert_eq!(m.apply(&req(0, 1, Op::Append(7), 0)), OpResult::Appended);
        assert_eq!(m.apply(&req(1, 1, Op::Append(8), 1)), OpResult::Appended);
        assert_eq!(m.apply(&req(0, 1, Op::Append(7), 2)), OpResult::Duplicate);
        assert_eq!(m.list, vec![7, 8]);
        assert_eq!(
            m.apply(&req(0, 2, Op::Remove(7), 3)),
            OpResult::Removed { found: true }
        );
        assert_eq!(
            m.apply(&req(0, 3, Op::Read, 4)),
            OpResult::Read { list: vec![8] }
        );
        assert_eq!(
            m.apply(&Request {
                creq: ClientRequest::dummy(),
                view: 0,
                seq: 5
            }),
            OpResult::NoOp
        );
        assert_ne!(m.digest(), d0);
        assert_eq!(m.executed(0, 2).map(|l| l.seq), Some(4));
        assert!(m.executed(0, 4).is_none());
    }
}
