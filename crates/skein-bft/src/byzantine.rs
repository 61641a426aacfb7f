//! The emulated Byzantine behaviours of BFTLIST.md §5. A node set to one of
//! them alters its own outputs; everything else it does stays correct.

use crate::hash;
use crate::machine::Machine;
use crate::rep::{LogEntry, Replica};
use crate::types::{ClientRequest, Op, Request, ViewPair, RST_PAIR};
use crate::ve::Info;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ByzantineBehaviour {
    /// Sends nothing on any channel.
    Unresponsive,
    /// Drops every outgoing message to odd processor indices.
    UnresponsiveToHalf,
    /// VE: claims stable view (1,1) to even processors, (2,2) to odd ones.
    DifferentViews,
    /// VE: claims RST_PAIR in phase 0 with wit true.
    ForcingReset,
    /// As primary, never assigns sequence numbers.
    StopAssigningSeqnums,
    /// As primary, tells odd processors each assignment 3 numbers further.
    AssignDifferentSeqnums,
    /// As primary, reuses the last sequence number.
    ReuseSeqnums,
    /// As primary, jumps σK+1 sequence numbers per assignment.
    SeqnumOutBound,
    /// Sends a forged consolidated state prefix `[666]`.
    WrongCcsp,
    /// As primary, replaces each assigned request by (client 0, ts 5, APPEND 5).
    ModifyClientReq,
}

impl ByzantineBehaviour {
    pub const ALL: [ByzantineBehaviour; 10] = [
        Self::Unresponsive,
        Self::UnresponsiveToHalf,
        Self::DifferentViews,
        Self::ForcingReset,
        Self::StopAssigningSeqnums,
        Self::AssignDifferentSeqnums,
        Self::ReuseSeqnums,
        Self::SeqnumOutBound,
        Self::WrongCcsp,
        Self::ModifyClientReq,
    ];

    /// The kebab-case name (`different-views`), as used by flags and REST.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unresponsive => "unresponsive",
            Self::UnresponsiveToHalf => "unresponsive-to-half",
            Self::DifferentViews => "different-views",
            Self::ForcingReset => "forcing-reset",
            Self::StopAssigningSeqnums => "stop-assigning-seqnums",
            Self::AssignDifferentSeqnums => "assign-different-seqnums",
            Self::ReuseSeqnums => "reuse-seqnums",
            Self::SeqnumOutBound => "seqnum-out-bound",
            Self::WrongCcsp => "wrong-ccsp",
            Self::ModifyClientReq => "modify-client-req",
        }
    }

    /// Whether anything at all may be sent to processor `to`.
    pub fn sends_to(self, to: usize) -> bool {
        match self {
            Self::Unresponsive => false,
            Self::UnresponsiveToHalf => to % 2 == 0,
            _ => true,
        }
    }

    /// The VE `own` part this node claims to processor `to`, if altered.
    pub fn ve_own(self, to: usize) -> Option<Info> {
        let view = match self {
            Self::DifferentViews if to % 2 == 0 => ViewPair::same(1),
            Self::DifferentViews => ViewPair::same(2),
            Self::ForcingReset => RST_PAIR,
            _ => return None,
        };
        Some(Info {
            phase: 0,
            wit: true,
            view,
            vchg: false,
        })
    }

    /// The replica structure sent to processor `to` (n = cluster size).
    pub fn rep_structure(self, me: usize, to: usize, n: usize, real: &Replica) -> Replica {
        match self {
            Self::WrongCcsp => forged(me, n),
            Self::AssignDifferentSeqnums if to % 2 == 1 => {
                // The second structure: the k-th own assignment above the last
                // executed number sits 3k further instead of k.
                let le = real.last_exec();
                let mut s = real.clone();
                for e in s.reqq.iter_mut().filter(|e| e.req.view == me) {
                    e.req.seq = le + 3 * (e.req.seq - le);
                }
                s.seq = le + 3 * (s.seq - le).max(0);
                s
            }
            _ => real.clone(),
        }
    }
}

/// §5 WRONG_CCSP: state `[666]`, one log entry (client 0, ts 666, APPEND 666)
/// in this node's view at seq 666, committed by everyone.
fn forged(me: usize, n: usize) -> Replica {
    let req = Request {
        creq: ClientRequest {
            client: 0,
            ts: 666,
            op: Op::Append(666),
        },
        view: me,
        seq: 666,
    };
    let mut machine = Machine::default();
    machine.apply(&req);
    let digest = machine.digest();
    Replica {
        machine,
        rlog: vec![LogEntry {
            chain: hash::chain(hash::GENESIS, &req, digest),
            req,
            xset: (0..n).collect(),
            digest,
        }],
        ..Replica::default()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown Byzantine behaviour `{0}`; expected one of: unresponsive, unresponsive-to-half, different-views, forcing-reset, stop-assigning-seqnums, assign-different-seqnums, reuse-seqnums, seqnum-out-bound, wrong-ccsp, modify-client-req")]
pub struct UnknownBehaviour(pub String);

impl FromStr for ByzantineBehaviour {
    type Err = UnknownBehaviour;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|b| b.name() == norm)
            .ok_or_else(|| UnknownBehaviour(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_accept_the_original_spelling() {
        for b in ByzantineBehaviour::ALL {
            assert_eq!(b.name().parse::<ByzantineBehaviour>().unwrap(), b);
        }
        assert_eq!(
            "DIFFERENT_VIEWS".parse::<ByzantineBehaviour>().unwrap(),
            ByzantineBehaviour::DifferentViews
        );
        assert!("nice".parse::<ByzantineBehaviour>().is_err());
    }

    #[test]
    fn unresponsive_to_half_drops_odd_ids() {
        let b = ByzantineBehaviour::UnresponsiveToHalf;
        assert!(b.sends_to(0) && !b.sends_to(1) && b.sends_to(4));
        assert!(!ByzantineBehaviour::Unresponsive.sends_to(2));
    }
}
