//! Per-client request authentication with MAC authenticators (as PBFT's):
//! client `c` shares one key with each replica `r`, and tags a request for
//! `r` with `K(service, c, r)`.
//!
//! ```text
//!  K(service, c, r) = HMAC-SHA256(S, "skein-client-key" ‖ len(service) ‖ service ‖ c ‖ r)
//!                     c as u32 BE, r as u16 BE
//!  tag for r = HMAC-SHA256(K(service, c, r), request bytes)[..16], sent hex-encoded
//! ```
//!
//! Why one key per client *and replica*: an operator hands client `c` only
//! its keys `K(·, c, ·)` (`skein list key --client c` prints them), so the
//! client acts as itself and no other; replica `r` needs only `K(·, ·, r)`
//! (`skein cluster up` gives each node a key file holding just its own), so
//! a Byzantine replica can tag requests for itself but cannot make one that
//! a correct replica accepts. A node holding the cluster secret derives any
//! key instead. The request bytes a service tags must name the client and a
//! per-client counter (bftlist's `(client, ts)`), so a captured request
//! cannot be replayed as a new one: the service's exactly-once rule answers
//! a replay with the first result.
//!
//! Pure computation, like [`crate::mac`].

use crate::id::NodeId;
use crate::mac::{ClusterSecret, PairKey, PAIR_KEY_BYTES, TAG_BYTES};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const CLIENT_KEY_LABEL: &[u8] = b"skein-client-key";

/// One client's key for one service. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct ClientKey {
    bytes: [u8; PAIR_KEY_BYTES],
    mac: PairKey,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientKeyError {
    #[error("a client key is {expected} hex digits; this one has {found}")]
    Length { expected: usize, found: usize },
    #[error("a client key is hex digits only (0-9, a-f)")]
    NotHex,
}

impl ClientKey {
    /// The key client `client` of `service` shares with replica `replica`.
    pub fn derive(secret: &ClusterSecret, service: &str, client: u32, replica: NodeId) -> Self {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
        mac.update(CLIENT_KEY_LABEL);
        mac.update(&(service.len() as u32).to_be_bytes());
        mac.update(service.as_bytes());
        mac.update(&client.to_be_bytes());
        mac.update(&replica.0.to_be_bytes());
        Self::from_bytes(mac.finalize().into_bytes().into())
    }

    fn from_bytes(bytes: [u8; PAIR_KEY_BYTES]) -> Self {
        Self {
            bytes,
            mac: PairKey::from_bytes(&bytes),
        }
    }

    /// The raw key bytes (a key file stores pair keys in this same form).
    pub fn bytes(&self) -> [u8; PAIR_KEY_BYTES] {
        self.bytes
    }

    /// The key as a client is given it: 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.bytes)
    }

    pub fn from_hex(text: &str) -> Result<Self, ClientKeyError> {
        let text = text.trim();
        let bytes = unhex(text, PAIR_KEY_BYTES)?;
        let mut key = [0u8; PAIR_KEY_BYTES];
        key.copy_from_slice(&bytes);
        Ok(Self::from_bytes(key))
    }

    /// The tag of `request`, hex-encoded (32 digits).
    pub fn tag(&self, request: &[u8]) -> String {
        hex(&self.mac.tag(request))
    }

    /// Whether `tag` (hex) is the tag of `request`, compared in constant time.
    pub fn verify(&self, request: &[u8], tag: &str) -> bool {
        match unhex(tag.trim(), TAG_BYTES) {
            Ok(tag) => self.mac.verify(request, &tag),
            Err(_) => false,
        }
    }
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str, expected: usize) -> Result<Vec<u8>, ClientKeyError> {
    if text.len() != expected * 2 {
        return Err(ClientKeyError::Length {
            expected: expected * 2,
            found: text.len(),
        });
    }
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ClientKeyError::NotHex);
    }
    Ok((0..expected)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("checked hex"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> ClusterSecret {
        ClusterSecret::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn a_client_tags_what_a_replica_verifies() {
        let replica_side = ClientKey::derive(&secret(1), "bftlist", 3, NodeId(2));
        let client_side = ClientKey::from_hex(&replica_side.to_hex()).unwrap();
        let tag = client_side.tag(b"request");
        assert_eq!(tag.len(), 2 * TAG_BYTES);
        assert!(replica_side.verify(b"request", &tag));
        assert!(!replica_side.verify(b"requesT", &tag));
    }

    #[test]
    fn keys_differ_by_client_service_and_secret() {
        let key = |s, service, c, r| ClientKey::derive(&secret(s), service, c, NodeId(r)).to_hex();
        let base = key(1, "bftlist", 3, 1);
        assert_ne!(base, key(1, "bftlist", 4, 1));
        assert_ne!(base, key(1, "bftlist", 3, 2));
        assert_ne!(base, key(1, "raft", 3, 1));
        assert_ne!(base, key(2, "bftlist", 3, 1));
        // Client 3 cannot tag as client 4; replica 2's key does not convince replica 1.
        let derive = |c, r| ClientKey::derive(&secret(1), "bftlist", c, NodeId(r));
        let tag = derive(3, 1).tag(b"x");
        assert!(!derive(4, 1).verify(b"x", &tag));
        let tag = derive(3, 2).tag(b"x");
        assert!(!derive(3, 1).verify(b"x", &tag));
    }

    #[test]
    fn malformed_keys_and_tags_are_refused_not_panicked_on() {
        assert_eq!(
            ClientKey::from_hex("abc").unwrap_err(),
            ClientKeyError::Length {
                expected: 64,
                found: 3
            }
        );
        assert_eq!(
            ClientKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            ClientKeyError::NotHex
        );
        let key = ClientKey::derive(&secret(1), "bftlist", 0, NodeId(1));
        for tag in ["", "00", "é".repeat(16).as_str(), &"g".repeat(32)] {
            assert!(!key.verify(b"x", tag));
        }
        assert_eq!(format!("{key:?}"), "ClientKey(..)");
    }
}
