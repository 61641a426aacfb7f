//! Who a node is: an Ed25519 key pair, made from the protocol's rng on first
//! boot and persisted. The overlay identity ([`KeyId`]) is a hash of the
//! public key, so no node can take another's identity without its secret key.
//!
//! How this relates to skein's `NodeId` (a small integer from the config,
//! used by drivers to route): the membership table binds each `NodeId` to
//! the first key that proves it (a signed `Alive` or `Join`), remembers the
//! binding across restarts, and refuses any later claim to that `NodeId` by
//! another key. A forged id is therefore refused, not merely ignored.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// An Ed25519 public key as sent on the wire.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

/// An Ed25519 signature as sent on the wire (serde has no `[u8; 64]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sig(pub [u8; 32], pub [u8; 32]);

/// The overlay identity: the first 8 bytes of sha256(public key), shown in hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyId(pub u64);

impl PublicKey {
    /// The 32 bytes in hex (64 digits).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The inverse of [`PublicKey::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(key))
    }

    pub fn key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.0);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        KeyId(u64::from_be_bytes(first))
    }

    /// Whether `sig` is this key's signature of `bytes`; a malformed key is not.
    pub fn verifies(&self, bytes: &[u8], sig: &Sig) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&sig.0);
        raw[32..].copy_from_slice(&sig.1);
        key.verify(bytes, &Signature::from_bytes(&raw)).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key:{}", self.key_id())
    }
}
impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{:02x}{:02x}..", self.0[0], self.0[1])
    }
}
impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// This node's key pair.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// A fresh key from the protocol's rng (never a global one).
    pub fn generate(rng: &mut dyn RngCore) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::from_secret(secret)
    }

    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    pub fn secret(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    pub fn sign(&self, bytes: &[u8]) -> Sig {
        let raw = self.signing.sign(bytes).to_bytes();
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        a.copy_from_slice(&raw[..32]);
        b.copy_from_slice(&raw[32..]);
        Sig(a, b)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.public().key_id())
    }
}

/// Join proof of work: sha256(key ‖ nonce) starts with `bits` zero bits.
/// Costs a joiner about 2^bits hashes and a boot node one.
pub fn pow_valid(key: &PublicKey, nonce: u64, bits: u8) -> bool {
    let digest = Sha256::new()
        .chain_update(key.0)
        .chain_update(nonce.to_be_bytes())
        .finalize();
    leading_zero_bits(&digest) >= u32::from(bits)
}

/// The first nonce that satisfies [`pow_valid`]; bounded by the difficulty
/// ceiling the config enforces (2^24 tries at most, in expectation 2^bits).
pub fn pow_solve(key: &PublicKey, bits: u8) -> u64 {
    (0..u64::MAX)
        .find(|&n| pow_valid(key, n, bits))
        .expect("some nonce below 2^64 meets a difficulty of at most 24 bits")
}

fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut zeros = 0;
    for b in bytes {
        zeros += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    zeros
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_signature_verifies_only_under_its_key_and_bytes() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let me = Identity::generate(&mut rng);
        let other = Identity::generate(&mut rng);
        let sig = me.sign(b"hello");
        assert!(me.public().verifies(b"hello", &sig));
        assert!(!me.public().verifies(b"hellO", &sig));
        assert!(!other.public().verifies(b"hello", &sig));
        assert!(!PublicKey([0xff; 32]).verifies(b"hello", &sig));
        assert_ne!(me.public().key_id(), other.public().key_id());
    }

    #[test]
    fn a_key_survives_its_secret_bytes() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let me = Identity::generate(&mut rng);
        assert_eq!(Identity::from_secret(me.secret()).public(), me.public());
    }

    #[test]
    fn proof_of_work_meets_its_difficulty() {
        let key = PublicKey([3; 32]);
        let nonce = pow_solve(&key, 8);
        assert!(pow_valid(&key, nonce, 8));
        assert_eq!(PublicKey::from_hex(&key.to_hex()), Some(key));
        assert_eq!(PublicKey::from_hex("zz"), None);
        assert!(pow_valid(&key, 12345, 0), "difficulty 0 accepts anything");
        assert_eq!(leading_zero_bits(&[0, 0x10]), 11);
    }
}
