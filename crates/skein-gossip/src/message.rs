//! What gossip nodes say to each other. Membership facts travel as signed
//! [`Update`]s (SWIM's piggybacked dissemination); broadcasts as Plumtree's
//! `Gossip` (eager push), `IHave` (lazy push), `Graft` and `Prune`.
//!
//! Every list in a message has a limit ([`UPDATES_PER_MESSAGE_MAX`] and
//! friends); a message over it is dropped whole and counted.

use crate::floors::Stamp;
use crate::identity::{Identity, PublicKey, Sig};
use serde::{Deserialize, Serialize};
use skein_core::{NodeId, PeerAddress};
use std::fmt;

pub const UPDATES_PER_MESSAGE_MAX: usize = 64;
pub const IDS_PER_MESSAGE_MAX: usize = 256;
pub const ADDRESS_BYTES_MAX: usize = 256;
pub const REASON_BYTES_MAX: usize = 256;
/// Plumtree hop count past which a message is not forwarded (bounds a
/// message's life in the network, so the bounded seen-cache covers it).
pub const HOPS_MAX: u16 = 64;

/// A broadcast's id: a hash of its origin's key, a random nonce and the payload.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{self}")
    }
}
impl std::str::FromStr for MessageId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(MessageId)
    }
}

/// What an update says about its subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fact {
    /// The subject is up at this address with this key (signed by the subject).
    Alive {
        key: PublicKey,
        address: PeerAddress,
        version: u16,
        beacon: bool,
    },
    /// The reporter got no answer from the subject.
    Suspect,
    /// The reporter's suspicion was not refuted in time.
    Dead,
    /// The subject left on purpose (signed by the subject).
    Left,
}

impl Fact {
    /// SWIM's precedence at equal incarnation: a later state overrides an earlier one.
    pub fn rank(&self) -> u8 {
        match self {
            Fact::Alive { .. } => 0,
            Fact::Suspect => 1,
            Fact::Dead => 2,
            Fact::Left => 3,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Fact::Alive { .. } => "alive",
            Fact::Suspect => "suspect",
            Fact::Dead => "dead",
            Fact::Left => "left",
        }
    }
}

/// A signed membership fact. `Alive` and `Left` must be signed by the
/// subject itself (`reporter == subject`), so only a node can announce or
/// refute for itself; `Suspect` and `Dead` by whoever reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub subject: NodeId,
    pub incarnation: u64,
    pub fact: Fact,
    pub reporter: NodeId,
    pub signature: Sig,
}

impl Update {
    pub fn signed(
        identity: &Identity,
        subject: NodeId,
        incarnation: u64,
        fact: Fact,
        reporter: NodeId,
    ) -> Self {
        let signature = identity.sign(&Self::signed_bytes(subject, incarnation, &fact, reporter));
        Self {
            subject,
            incarnation,
            fact,
            reporter,
            signature,
        }
    }

    /// What the signature covers; the protocol id keeps a gossip signature
    /// from being replayed as anything else.
    pub fn signed_bytes(
        subject: NodeId,
        incarnation: u64,
        fact: &Fact,
        reporter: NodeId,
    ) -> Vec<u8> {
        postcard::to_stdvec(&(b"skein-gossip/update", subject, incarnation, fact, reporter))
            .expect("updates serialize")
    }

    pub fn verifies_under(&self, key: &PublicKey) -> bool {
        let bytes = Self::signed_bytes(self.subject, self.incarnation, &self.fact, self.reporter);
        key.verifies(&bytes, &self.signature)
    }

    /// Precedence key: (incarnation, rank) compared lexicographically.
    pub fn precedence(&self) -> (u64, u8) {
        (self.incarnation, self.fact.rank())
    }
}

/// A broadcast as it travels, signed by its origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broadcast {
    pub id: MessageId,
    pub origin: NodeId,
    /// The origin's key: a receiver that has not met the origin yet can still
    /// check the signature (and the id, which hashes this key).
    pub key: PublicKey,
    /// The origin's monotone count of its broadcasts ([`crate::floors`]):
    /// signed, so a receiver can trust it to tell a stale copy.
    pub stamp: Stamp,
    /// Random: with the key and payload it makes the id (as before stamps
    /// existed, so ids and the simulator's runs are unchanged by them: the
    /// long-sweep seeds that found the stale-copy bugs replay the same runs).
    pub nonce: u64,
    pub payload: Vec<u8>,
    pub signature: Sig,
}

impl Broadcast {
    pub fn signed_bytes(origin: NodeId, stamp: Stamp, nonce: u64, payload: &[u8]) -> Vec<u8> {
        postcard::to_stdvec(&(b"skein-gossip/broadcast", origin, stamp, nonce, payload))
            .expect("broadcasts serialize")
    }

    /// The stamp is not hashed: the signature covers it, and ids keep
    /// the form they had before stamps.
    pub fn id_of(key: &PublicKey, nonce: u64, payload: &[u8]) -> MessageId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(key.0)
            .chain_update(nonce.to_be_bytes())
            .chain_update(payload)
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        MessageId(u64::from_be_bytes(first))
    }

    pub fn new(
        identity: &Identity,
        origin: NodeId,
        (stamp, nonce): (Stamp, u64),
        payload: Vec<u8>,
    ) -> Self {
        let signature = identity.sign(&Self::signed_bytes(origin, stamp, nonce, &payload));
        Self {
            id: Self::id_of(&identity.public(), nonce, &payload),
            origin,
            key: identity.public(),
            stamp,
            nonce,
            payload,
            signature,
        }
    }

    /// The id matches the content and the carried key signed it.
    pub fn verifies(&self) -> bool {
        self.id == Self::id_of(&self.key, self.nonce, &self.payload)
            && self.key.verifies(
                &Self::signed_bytes(self.origin, self.stamp, self.nonce, &self.payload),
                &self.signature,
            )
    }
}

/// A join request: the joiner's own signed `Alive` and its proof of work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    pub alive: Update,
    pub pow_nonce: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GossipMessage {
    Join(Join),
    /// A boot node admitted the joiner: here are members it knows.
    Welcome {
        updates: Vec<Update>,
    },
    /// A boot node refused the joiner, and why (version, identity, limits).
    Refused {
        reason: String,
    },
    /// Periodic peer sync: a sample of the sender's membership; answered in kind.
    Sync {
        updates: Vec<Update>,
        reply: bool,
    },
    Ping {
        probe: u64,
        updates: Vec<Update>,
    },
    Ack {
        probe: u64,
        updates: Vec<Update>,
    },
    /// Probe `target` for me (SWIM's indirect probe).
    PingReq {
        probe: u64,
        target: NodeId,
    },
    /// `target` answered an indirect probe.
    IndirectAck {
        probe: u64,
        target: NodeId,
    },
    Gossip {
        message: Broadcast,
        hops: u16,
    },
    IHave {
        ids: Vec<(MessageId, u16)>,
    },
    Graft {
        ids: Vec<MessageId>,
    },
    Prune,
    /// Anti-entropy: ids of recent messages the sender got by the ordinary
    /// spread; the receiver grafts what it lacks and does not spread it on.
    Offer {
        ids: Vec<MessageId>,
    },
    /// To a beacon: the sender delivered `id` for the first time, `hops` from its origin.
    Delivered {
        id: MessageId,
        hops: u16,
    },
}

impl GossipMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            GossipMessage::Join(_) => "join",
            GossipMessage::Welcome { .. } => "welcome",
            GossipMessage::Refused { .. } => "refused",
            GossipMessage::Sync { .. } => "sync",
            GossipMessage::Ping { .. } => "ping",
            GossipMessage::Ack { .. } => "ack",
            GossipMessage::PingReq { .. } => "ping_req",
            GossipMessage::IndirectAck { .. } => "indirect_ack",
            GossipMessage::Gossip { .. } => "gossip",
            GossipMessage::IHave { .. } => "ihave",
            GossipMessage::Graft { .. } => "graft",
            GossipMessage::Prune => "prune",
            GossipMessage::Offer { .. } => "offer",
            GossipMessage::Delivered { .. } => "delivered",
        }
    }

    /// Every kind, for metrics labels.
    pub const KINDS: [&'static str; 14] = [
        "join",
        "welcome",
        "refused",
        "sync",
        "ping",
        "ack",
        "ping_req",
        "indirect_ack",
        "gossip",
        "ihave",
        "graft",
        "prune",
        "delivered",
        "offer",
    ];

    /// Whether every list and string is within its limit (hostile input check).
    pub fn within_limits(&self, payload_bytes_max: usize) -> Result<(), &'static str> {
        let updates_ok = |u: &[Update]| {
            u.len() <= UPDATES_PER_MESSAGE_MAX
                && u.iter().all(|u| match &u.fact {
                    Fact::Alive { address, .. } => address.0.len() <= ADDRESS_BYTES_MAX,
                    _ => true,
                })
        };
        let ok = match self {
            GossipMessage::Join(j) => updates_ok(std::slice::from_ref(&j.alive)),
            GossipMessage::Welcome { updates }
            | GossipMessage::Sync { updates, .. }
            | GossipMessage::Ping { updates, .. }
            | GossipMessage::Ack { updates, .. } => updates_ok(updates),
            GossipMessage::Refused { reason } => reason.len() <= REASON_BYTES_MAX,
            GossipMessage::Gossip { message, hops } => {
                message.payload.len() <= payload_bytes_max && *hops <= HOPS_MAX
            }
            GossipMessage::IHave { ids } => ids.len() <= IDS_PER_MESSAGE_MAX,
            GossipMessage::Graft { ids } | GossipMessage::Offer { ids } => {
                ids.len() <= IDS_PER_MESSAGE_MAX
            }
            GossipMessage::PingReq { .. }
            | GossipMessage::IndirectAck { .. }
            | GossipMessage::Prune
            | GossipMessage::Delivered { .. } => true,
        };
        if ok {
            Ok(())
        } else {
            Err("over a message limit")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn identity(seed: u64) -> Identity {
        Identity::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    #[test]
    fn an_update_verifies_only_unchanged() {
        let me = identity(1);
        let u = Update::signed(&me, NodeId(2), 5, Fact::Suspect, NodeId(1));
        assert!(u.verifies_under(&me.public()));
        let mut forged = u.clone();
        forged.fact = Fact::Dead;
        assert!(!forged.verifies_under(&me.public()));
        assert!(!u.verifies_under(&identity(2).public()));
    }

    #[test]
    fn a_broadcast_id_binds_its_content() {
        let me = identity(3);
        let b = Broadcast::new(&me, NodeId(1), (9, 4), b"hi".to_vec());
        assert!(b.verifies());
        let mut tampered = b.clone();
        tampered.payload = b"ho".to_vec();
        assert!(!tampered.verifies());
        let mut restamped = b.clone();
        restamped.stamp += 1;
        assert!(!restamped.verifies(), "a stamp cannot be forged");
        let mut rekeyed = b.clone();
        rekeyed.key = identity(4).public();
        assert!(!rekeyed.verifies());
        assert_eq!(b.id.to_string().parse::<MessageId>().unwrap(), b.id);
    }

    #[test]
    fn precedence_orders_incarnation_then_state() {
        let me = identity(4);
        let alive = |inc| {
            let fact = Fact::Alive {
                key: me.public(),
                address: PeerAddress("a".into()),
                version: 1,
                beacon: false,
            };
            Update::signed(&me, NodeId(1), inc, fact, NodeId(1))
        };
        let suspect = Update::signed(&me, NodeId(1), 3, Fact::Suspect, NodeId(2));
        assert!(suspect.precedence() > alive(3).precedence());
        assert!(alive(4).precedence() > suspect.precedence());
    }

    #[test]
    fn oversized_lists_are_over_the_limit() {
        let ids = vec![(MessageId(1), 0); IDS_PER_MESSAGE_MAX + 1];
        assert!(GossipMessage::IHave { ids }.within_limits(10).is_err());
        assert!(GossipMessage::Prune.within_limits(10).is_ok());
    }
}
