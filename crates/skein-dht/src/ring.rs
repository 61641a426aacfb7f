//! The 160-bit identifier circle: ids, hashing, interval tests and the
//! distances the size estimate and the finger table need.
//!
//! A ring id is the first 20 bytes (160 bits) of SHA-256 of a name: a node's
//! [`PeerAddress`] text, or a key's bytes. SHA-256 rather than SHA-1 because
//! SHA-1 collisions are cheap to make; truncating keeps Chord's 160-bit ring
//! (Stoica et al. 2001, §4.2) and its finger count.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use skein_core::PeerAddress;
use std::fmt;

/// Bits in a ring id, and so fingers in a finger table.
pub const RING_BITS: usize = 160;
const RING_BYTES: usize = RING_BITS / 8;

/// A point on the identifier circle, big-endian.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RingId(pub [u8; RING_BYTES]);

impl RingId {
    pub const ZERO: RingId = RingId([0; RING_BYTES]);

    /// The ring id of arbitrary bytes: truncated SHA-256.
    pub fn hash(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; RING_BYTES];
        id.copy_from_slice(&digest[..RING_BYTES]);
        Self(id)
    }

    /// A node's ring id: the hash of its address, so it is stable across
    /// restarts and distinct for distinct addresses.
    pub fn of_address(address: &PeerAddress) -> Self {
        Self::hash(address.0.as_bytes())
    }

    /// A key's ring id.
    pub fn of_key(key: &str) -> Self {
        Self::hash(key.as_bytes())
    }

    /// `self + 2^bit` modulo `2^160`: the start of finger `bit` (Chord §4.3).
    pub fn add_pow2(self, bit: usize) -> Self {
        assert!(bit < RING_BITS, "finger index {bit} out of range");
        let mut out = self.0;
        let mut byte = RING_BYTES - 1 - bit / 8;
        let mut carry = 1u16 << (bit % 8);
        loop {
            let sum = u16::from(out[byte]) + carry;
            out[byte] = sum as u8;
            carry = sum >> 8;
            if carry == 0 || byte == 0 {
                break;
            }
            byte -= 1;
        }
        Self(out)
    }

    /// Clockwise distance from `self` to `to`, as a fraction of the circle in `[0, 1)`.
    pub fn fraction_to(self, to: RingId) -> f64 {
        let mut diff = [0u8; RING_BYTES];
        let mut borrow = 0i16;
        for i in (0..RING_BYTES).rev() {
            let mut d = i16::from(to.0[i]) - i16::from(self.0[i]) - borrow;
            borrow = 0;
            if d < 0 {
                d += 256;
                borrow = 1;
            }
            diff[i] = d as u8;
        }
        // 64 leading bits are plenty for an f64's 53-bit mantissa.
        let mut head = [0u8; 8];
        head.copy_from_slice(&diff[..8]);
        u64::from_be_bytes(head) as f64 / 2f64.powi(64)
    }

    /// The full id as 40 hex digits.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for RingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", &self.to_hex()[..8])
    }
}

impl fmt::Display for RingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Whether `x` lies in the half-open arc `(from, to]` going clockwise.
/// With `from == to` the arc is the whole circle (a ring of one node owns every key).
pub fn in_half_open(from: RingId, x: RingId, to: RingId) -> bool {
    match from.cmp(&to) {
        std::cmp::Ordering::Less => from < x && x <= to,
        _ => x > from || x <= to,
    }
}

/// Whether `x` lies in the open arc `(from, to)` going clockwise.
/// With `from == to` that is every point but `from`.
pub fn in_open(from: RingId, x: RingId, to: RingId) -> bool {
    match from.cmp(&to) {
        std::cmp::Ordering::Less => from < x && x < to,
        std::cmp::Ordering::Equal => x != from,
        std::cmp::Ordering::Greater => x > from || x < to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(last: u8) -> RingId {
        let mut b = [0u8; RING_BYTES];
        b[RING_BYTES - 1] = last;
        RingId(b)
    }

    #[test]
    fn hashes_are_160_bit_prefixes_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 ...
        let h = RingId::hash(b"abc");
        assert_eq!(h.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a3");
        assert_eq!(
            RingId::of_address(&PeerAddress("sim:1".into())),
            RingId::hash(b"sim:1")
        );
    }

    #[test]
    fn add_pow2_carries_and_wraps() {
        assert_eq!(id(1).add_pow2(0), id(2));
        assert_eq!(id(0xff).add_pow2(0).0[RING_BYTES - 2..], [1, 0]);
        let top = RingId::ZERO.add_pow2(RING_BITS - 1);
        assert_eq!(top.0[0], 0x80);
        assert_eq!(
            top.add_pow2(RING_BITS - 1),
            RingId::ZERO,
            "wraps modulo 2^160"
        );
        let all_ones = RingId([0xff; RING_BYTES]);
        assert_eq!(all_ones.add_pow2(0), RingId::ZERO);
    }

    #[test]
    fn arcs_wrap_around_zero() {
        assert!(in_half_open(id(10), id(20), id(20)));
        assert!(!in_half_open(id(10), id(10), id(20)));
        assert!(in_half_open(id(200), id(5), id(10)), "wrapping arc");
        assert!(in_half_open(id(200), id(250), id(10)));
        assert!(!in_half_open(id(200), id(100), id(10)));
        assert!(in_half_open(id(7), id(7), id(7)), "one node owns all");
        assert!(in_open(id(10), id(15), id(20)));
        assert!(!in_open(id(10), id(20), id(20)));
        assert!(in_open(id(200), id(0), id(10)));
        assert!(in_open(id(7), id(8), id(7)));
        assert!(!in_open(id(7), id(7), id(7)));
    }

    #[test]
    fn fractions_measure_clockwise_distance() {
        let half = RingId::ZERO.add_pow2(RING_BITS - 1);
        assert_eq!(RingId::ZERO.fraction_to(half), 0.5);
        assert_eq!(half.fraction_to(RingId::ZERO), 0.5);
        let quarter = RingId::ZERO.add_pow2(RING_BITS - 2);
        assert_eq!(half.fraction_to(quarter), 0.75, "wraps clockwise");
        assert_eq!(quarter.fraction_to(quarter), 0.0);
    }
}
