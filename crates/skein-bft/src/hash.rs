//! A small deterministic 64-bit hash for state digests and the log's hash
//! chain (FNV-1a with a final avalanche). It detects corruption and
//! disagreement; it is not a cryptographic commitment — authentication of
//! peers is the channel's job (issue 4, authenticated channels).

use crate::types::{ClientRequest, Op, Request};

/// The chain value before the first executed request.
pub const GENESIS: u64 = 0x5ce1_b0f7_0000_0001;

#[derive(Clone, Copy, Debug)]
pub struct Hasher64(u64);

impl Default for Hasher64 {
    fn default() -> Self {
        Hasher64(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher64 {
    pub fn u64(&mut self, x: u64) -> &mut Self {
        for b in x.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    pub fn i64(&mut self, x: i64) -> &mut Self {
        self.u64(x as u64)
    }

    pub fn creq(&mut self, c: &ClientRequest) -> &mut Self {
        self.u64(u64::from(c.client)).u64(c.ts);
        match c.op {
            Op::Append(x) => self.u64(1).i64(x),
            Op::NoOp => self.u64(2),
            Op::Remove(x) => self.u64(3).i64(x),
            Op::Read => self.u64(4),
        }
    }

    pub fn request(&mut self, r: &Request) -> &mut Self {
        self.creq(&r.creq).u64(r.view as u64).i64(r.seq)
    }

    pub fn finish(&self) -> u64 {
        // splitmix64 finaliser: spreads FNV's weak high bits.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `chain_t = H(chain_{t-1}, request_t, digest_t)` ([EXT] hash-chained log, §8).
pub fn chain(prev: u64, req: &Request, digest: u64) -> u64 {
    Hasher64::default()
        .u64(prev)
        .request(req)
        .u64(digest)
        .finish()
}
