//! Peer-channel authentication: pairwise HMAC-SHA256 keys and truncated tags
//! over whole frames (BFTLIST.md §8, "[EXT] Authenticated channels: pairwise
//! MAC keys; keys are outside the corruptible state (configuration), the
//! sender id comes from the link").
//!
//! ```text
//!  cluster secret S (configuration, never in protocol state)
//!      │  K(a,b) = HMAC-SHA256(S, "skein-pair-key" ‖ min(a,b) ‖ max(a,b))   ids as u16 BE
//!      ▼
//!  frame bytes = header ‖ payload ‖ tag,  tag = HMAC-SHA256(K(sender,receiver), header ‖ payload)[..16]
//! ```
//!
//! Why pairwise keys rather than one cluster key: node `i` needs only the
//! keys `K(i, j)`, and a frame checked with `K(i, j)` can only have been made
//! by `i` or `j`, so a node holding its own keys speaks only as itself, to
//! each peer (the header, which the tag covers, also names sender and
//! receiver, so a frame cannot be reflected or redirected either). That
//! guarantee against a *member* needs each node to be given only its own
//! pair keys (a [`Keyring`] built with [`Keyring::from_pair_keys`]); a node
//! given the cluster secret itself can derive every pair's key, so then the
//! secret keeps outsiders out but a Byzantine member could speak for others.
//!
//! Why a MAC and not signatures (Ed25519): a channel between two known
//! nodes needs only the receiver to be convinced, and HMAC is symmetric and
//! cheap. Signatures are verifiable by third parties (needed to forward proof
//! of what a node said), which channel authentication does not need.
//!
//! Pure computation, no I/O: the driver reads the secret from configuration
//! and hands it in, as it does time and randomness.

use crate::id::NodeId;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;

/// Bytes of the truncated HMAC-SHA256 tag appended to an authenticated frame
/// (128 bits: forging one takes 2^128 guesses, each costing a round trip).
pub const TAG_BYTES: usize = 16;
/// Bytes of a derived pair key (the HMAC-SHA256 output).
pub const PAIR_KEY_BYTES: usize = 32;
/// A shorter secret is refused as configuration: it could be guessed offline
/// from one captured frame.
pub const SECRET_BYTES_MIN: usize = 16;
/// Domain separation: keys derived here are never used for anything else.
const PAIR_KEY_LABEL: &[u8] = b"skein-pair-key";

type HmacSha256 = Hmac<Sha256>;

/// The shared secret of one cluster. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret(pub(crate) Vec<u8>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a cluster secret of {length} bytes is too short: use at least {SECRET_BYTES_MIN} (e.g. 32 random bytes, hex-encoded)")]
pub struct SecretTooShort {
    pub length: usize,
}

impl ClusterSecret {
    pub fn new(bytes: Vec<u8>) -> Result<Self, SecretTooShort> {
        if bytes.len() < SECRET_BYTES_MIN {
            return Err(SecretTooShort {
                length: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }

    /// The raw bytes of `K(a, b)`; the order of `a` and `b` does not matter.
    pub fn pair_key_bytes(&self, a: NodeId, b: NodeId) -> [u8; PAIR_KEY_BYTES] {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(PAIR_KEY_LABEL);
        mac.update(&low.0.to_be_bytes());
        mac.update(&high.0.to_be_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterSecret(<{} bytes, redacted>)", self.0.len())
    }
}

/// The key of one pair of nodes, ready to tag: the HMAC state after the key
/// schedule, so each tag costs only the message's hashing.
#[derive(Clone)]
pub struct PairKey {
    mac: HmacSha256,
}

impl PairKey {
    pub fn from_bytes(key: &[u8; PAIR_KEY_BYTES]) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    pub fn derive(secret: &ClusterSecret, a: NodeId, b: NodeId) -> Self {
        Self::from_bytes(&secret.pair_key_bytes(a, b))
    }

    /// The tag of `bytes` (a frame's header and payload).
    pub fn tag(&self, bytes: &[u8]) -> [u8; TAG_BYTES] {
        let full = self.mac.clone().chain_update(bytes).finalize().into_bytes();
        let mut tag = [0u8; TAG_BYTES];
        tag.copy_from_slice(&full[..TAG_BYTES]);
        tag
    }

    /// Whether `tag` is the tag of `bytes`, compared in constant time.
    pub fn verify(&self, bytes: &[u8], tag: &[u8]) -> bool {
        tag.len() == TAG_BYTES
            && self
                .mac
                .clone()
                .chain_update(bytes)
                .verify_truncated_left(tag)
                .is_ok()
    }
}

impl std::fmt::Debug for PairKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairKey(<redacted>)")
    }
}

/// One node's keys: `K(me, peer)` for each peer it may talk to. A frame from
/// a sender without a key here is refused before its tag is even computed.
///
/// A keyring built from the cluster secret keeps it, so a driver can derive
/// the key of a peer added at run time ([`Keyring::add_peer`]); one built
/// from given pair keys cannot, by design.
#[derive(Clone, Debug)]
pub struct Keyring {
    me: NodeId,
    keys: BTreeMap<NodeId, PairKey>,
    secret: Option<ClusterSecret>,
}

impl Keyring {
    /// Derives this node's key with every other member from the cluster secret.
    pub fn from_secret(
        secret: &ClusterSecret,
        me: NodeId,
        members: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let keys = members
            .into_iter()
            .filter(|&peer| peer != me)
            .map(|peer| (peer, PairKey::derive(secret, me, peer)))
            .collect();
        Self {
            me,
            keys,
            secret: Some(secret.clone()),
        }
    }

    /// A keyring of explicitly given pair keys: the node never sees the
    /// cluster secret, so it cannot derive any other pair's key.
    pub fn from_pair_keys(
        me: NodeId,
        keys: impl IntoIterator<Item = (NodeId, [u8; PAIR_KEY_BYTES])>,
    ) -> Self {
        let keys = keys
            .into_iter()
            .filter(|&(peer, _)| peer != me)
            .map(|(peer, key)| (peer, PairKey::from_bytes(&key)))
            .collect();
        Self {
            me,
            keys,
            secret: None,
        }
    }

    /// Derives and keeps `K(me, peer)` for a peer added at run time. Returns
    /// whether this keyring now holds a key for `peer`: false for itself, or
    /// for a new peer when the keyring was given pair keys, not the secret.
    pub fn add_peer(&mut self, peer: NodeId) -> bool {
        if peer == self.me {
            return false;
        }
        if self.keys.contains_key(&peer) {
            return true;
        }
        let Some(secret) = &self.secret else {
            return false;
        };
        self.keys
            .insert(peer, PairKey::derive(secret, self.me, peer));
        true
    }

    /// Whether this keyring can derive keys of new peers (it holds the secret).
    pub fn derives(&self) -> bool {
        self.secret.is_some()
    }

    /// A keyring holding only `K(me, peer)`: the one it has, or one derived
    /// from the secret. Lets a driver check a frame from a node outside its
    /// peer set (a joining node) without adding it first.
    pub fn for_peer(&self, peer: NodeId) -> Option<Keyring> {
        if peer == self.me {
            return None;
        }
        let key = match (self.keys.get(&peer), &self.secret) {
            (Some(key), _) => key.clone(),
            (None, Some(secret)) => PairKey::derive(secret, self.me, peer),
            (None, None) => return None,
        };
        Some(Self {
            me: self.me,
            keys: BTreeMap::from([(peer, key)]),
            secret: None,
        })
    }

    /// Forgets `K(me, peer)`: frames from `peer` are refused from now on.
    pub fn remove_peer(&mut self, peer: NodeId) {
        self.keys.remove(&peer);
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    /// `K(me, peer)`, if `peer` is a node this one talks to.
    pub fn key(&self, peer: NodeId) -> Option<&PairKey> {
        self.keys.get(&peer)
    }

    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.keys.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> ClusterSecret {
        ClusterSecret::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            ClusterSecret::new(b"hunter2".to_vec()),
            Err(SecretTooShort { length: 7 })
        );
        assert!(ClusterSecret::new(vec![0; SECRET_BYTES_MIN]).is_ok());
    }

    #[test]
    fn pair_keys_are_symmetric_and_distinct_per_pair() {
        let s = secret(1);
        let (a, b, c) = (NodeId(1), NodeId(2), NodeId(3));
        assert_eq!(s.pair_key_bytes(a, b), s.pair_key_bytes(b, a));
        assert_ne!(s.pair_key_bytes(a, b), s.pair_key_bytes(a, c));
        assert_ne!(s.pair_key_bytes(a, b), s.pair_key_bytes(b, c));
        assert_ne!(s.pair_key_bytes(a, b), secret(2).pair_key_bytes(a, b));
        // Ids are fixed-width: (1, 258) and (257, 2) must not collide.
        assert_ne!(
            s.pair_key_bytes(NodeId(1), NodeId(258)),
            s.pair_key_bytes(NodeId(257), NodeId(2))
        );
    }

    #[test]
    fn tags_verify_and_anything_else_does_not() {
        let key = PairKey::derive(&secret(1), NodeId(1), NodeId(2));
        let tag = key.tag(b"frame bytes");
        assert!(key.verify(b"frame bytes", &tag));
        assert!(!key.verify(b"frame byteS", &tag));
        assert!(
            !key.verify(b"frame bytes", &tag[..8]),
            "a short tag is refused"
        );
        assert!(!key.verify(b"frame bytes", &[]), "an empty tag is refused");
        let other = PairKey::derive(&secret(1), NodeId(1), NodeId(3));
        assert!(!other.verify(b"frame bytes", &tag));
    }

    #[test]
    fn a_keyring_holds_one_key_per_peer_and_none_for_itself() {
        let ring = Keyring::from_secret(&secret(1), NodeId(2), [1, 2, 3].map(NodeId));
        assert_eq!(ring.peers().collect::<Vec<_>>(), vec![NodeId(1), NodeId(3)]);
        assert!(ring.key(NodeId(2)).is_none());
        let given = Keyring::from_pair_keys(
            NodeId(2),
            [(NodeId(1), secret(1).pair_key_bytes(NodeId(1), NodeId(2)))],
        );
        let tag = ring.key(NodeId(1)).unwrap().tag(b"x");
        assert!(given.key(NodeId(1)).unwrap().verify(b"x", &tag));
        assert!(!format!("{:?}", secret(7)).contains('7'));
    }

    #[test]
    fn a_keyring_from_the_secret_derives_keys_of_added_peers() {
        let mut ring = Keyring::from_secret(&secret(1), NodeId(1), [1, 2].map(NodeId));
        assert!(ring.key(NodeId(9)).is_none());
        assert!(ring.add_peer(NodeId(9)));
        let nine = Keyring::from_secret(&secret(1), NodeId(9), [1, 9].map(NodeId));
        let tag = ring.key(NodeId(9)).unwrap().tag(b"x");
        assert!(nine.key(NodeId(1)).unwrap().verify(b"x", &tag));
        assert!(!ring.add_peer(NodeId(1)), "never a key with itself");
        ring.remove_peer(NodeId(9));
        assert!(ring.key(NodeId(9)).is_none());
        let one = ring.for_peer(NodeId(5)).expect("derived from the secret");
        assert_eq!(one.peers().collect::<Vec<_>>(), vec![NodeId(5)]);
        assert!(!one.derives(), "a one-key ring derives nothing more");
        let mut given = Keyring::from_pair_keys(NodeId(1), []);
        assert!(!given.add_peer(NodeId(9)), "no secret, no new keys");
        assert!(given.for_peer(NodeId(9)).is_none());
    }
}
