//! Plain data types shared by every module: views, operations, requests.
//!
//! Processor numbering (BFTLIST.md §1 uses 0..n): processor index `p` is the
//! node at position `p` of the sorted member list, i.e. `NodeId(p + 1)` for the
//! usual members `1..=n`. View `V(v)` has primary processor `v`, i.e. node
//! `NodeId(v + 1)`.

use serde::{Deserialize, Serialize};

/// An element of the replicated list.
pub type Value = i64;
/// A client's id; valid ids are `0..clients_max` (K in the spec).
pub type ClientId = u32;
/// The client id of the dummy request the new primary uses to fill gaps.
pub const DUMMY_CLIENT: ClientId = ClientId::MAX;
/// "Practically self-stabilizing" ceiling of sequence numbers (§1 MAXINT).
pub const MAXINT: i64 = i64::MAX;

/// A view: `Tee` (⊥, no view) or `V(v)` with `v < n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum View {
    Tee,
    V(usize),
}

impl View {
    pub fn in_range(self, n: usize) -> bool {
        match self {
            View::Tee => true,
            View::V(v) => v < n,
        }
    }

    /// `succ(TEE) = DF_VIEW`, `succ(V(v)) = V((v+1) mod n)` (§2.1 `trans`).
    pub fn succ(self, n: usize) -> View {
        match self {
            View::Tee => DF_VIEW,
            View::V(v) => View::V((v + 1) % n.max(1)),
        }
    }

    /// The primary's processor index, if this is a view.
    pub fn primary(self) -> Option<usize> {
        match self {
            View::Tee => None,
            View::V(v) => Some(v),
        }
    }
}

/// The default view, view 0.
pub const DF_VIEW: View = View::V(0);

/// `(cur, next)`; `RST_PAIR = (TEE, DF_VIEW)` marks a reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ViewPair {
    pub cur: View,
    pub next: View,
}

pub const RST_PAIR: ViewPair = ViewPair {
    cur: View::Tee,
    next: DF_VIEW,
};

impl ViewPair {
    pub const fn same(v: usize) -> Self {
        ViewPair {
            cur: View::V(v),
            next: View::V(v),
        }
    }

    /// §2.1: `next ≠ TEE`, both in range.
    pub fn type_ok(self, n: usize) -> bool {
        self.next != View::Tee && self.cur.in_range(n) && self.next.in_range(n)
    }

    pub fn legit0(self, n: usize) -> bool {
        (self.cur == self.next || self == RST_PAIR) && self.type_ok(n)
    }

    pub fn legit1(self, n: usize) -> bool {
        self.cur != self.next && self.type_ok(n)
    }

    /// Legitimate for the given phase (0 or 1); any other phase is illegitimate.
    pub fn legit(self, phase: u8, n: usize) -> bool {
        match phase {
            0 => self.legit0(n),
            1 => self.legit1(n),
            _ => false,
        }
    }
}

/// A client operation. `Remove` and `Read` are [EXT] (BFTLIST.md §8).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Op {
    Append(Value),
    NoOp,
    /// [EXT] removes the first occurrence of the value, if any.
    Remove(Value),
    /// [EXT] linearizable read: ordered through the log like any request; the
    /// reply carries the list as of its sequence number.
    Read,
}

/// `{client, ts, op}`; equality on all three (§2.2).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientRequest {
    pub client: ClientId,
    pub ts: u64,
    pub op: Op,
}

impl ClientRequest {
    /// The new primary's gap filler (§2.2 "Dummy request").
    pub fn dummy() -> Self {
        ClientRequest {
            client: DUMMY_CLIENT,
            ts: 0,
            op: Op::NoOp,
        }
    }

    pub fn is_dummy(&self) -> bool {
        *self == Self::dummy()
    }
}

/// A client request ordered at `seq` in view `view` (§2.2).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Request {
    pub creq: ClientRequest,
    pub view: usize,
    pub seq: i64,
}

/// A subset of `{PRE_PREP, PREP, COMMIT}` as bits.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Phases(pub u8);

impl Phases {
    pub const PRE_PREP: Phases = Phases(1);
    pub const PREP: Phases = Phases(2);
    pub const COMMIT: Phases = Phases(4);
    pub const PP_P: Phases = Phases(3);
    pub const ALL: Phases = Phases(7);

    /// `self ⊇ other`.
    pub fn contains(self, other: Phases) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: Phases) -> Phases {
        Phases(self.0 | other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legitimacy_of_pairs() {
        let n = 6;
        assert!(RST_PAIR.legit0(n) && RST_PAIR.type_ok(n));
        assert!(!RST_PAIR.legit1(n) || RST_PAIR.cur != RST_PAIR.next);
        assert!(ViewPair::same(2).legit0(n));
        assert!(!ViewPair::same(2).legit1(n));
        let change = ViewPair {
            cur: View::V(1),
            next: View::V(2),
        };
        assert!(change.legit1(n) && !change.legit0(n));
        assert!(!ViewPair::same(6).type_ok(n));
        let tee_next = ViewPair {
            cur: View::V(1),
            next: View::Tee,
        };
        assert!(!tee_next.type_ok(n));
        assert_eq!(View::V(5).succ(6), View::V(0));
        assert_eq!(View::Tee.succ(6), DF_VIEW);
    }

    #[test]
    fn phases_are_sets() {
        assert!(Phases::ALL.contains(Phases::PP_P));
        assert!(!Phases::PRE_PREP.contains(Phases::PREP));
        assert_eq!(Phases::PRE_PREP.with(Phases::PREP), Phases::PP_P);
    }
}
