//! The versioned wire envelope every inter-node frame travels in.
//!
//! ```text
//!  0       4    5    6       8       10      12          16          20                20+length
//!  +-------+----+----+-------+-------+-------+-----------+-----------+---------+--------------+
//!  | magic |ver |kind|sender |receivr|proto  | length    | checksum  | payload | tag          |
//!  | SKEN  | 2  | u8 | u16   | u16   | u16   | u32       | u32 crc32 | length B| 16 B, if T   |
//!  +-------+----+----+-------+-------+-------+-----------+-----------+---------+--------------+
//!                 └─ bit 7 = T (tagged), bits 0..7 = the frame kind
//! ```
//! All integers are big-endian. The checksum is CRC-32 over the first 16
//! header bytes and the payload, so a corrupted header is caught too. It
//! detects accidents, not attacks: that is the tag's job.
//!
//! Version 2 added the tag: when bit 7 of the kind byte is set, an
//! HMAC-SHA256 tag truncated to [`TAG_BYTES`] follows the payload, computed
//! with the sender and receiver's pair key over the whole header and payload
//! (see [`crate::mac`]). `length` counts the payload only. The decoder is
//! told whether the node authenticates (a [`Keyring`]) and then demands a tag
//! that verifies, or, when it does not, refuses tagged frames: a cluster
//! whose nodes disagree on authentication fails loudly on both sides instead
//! of half working. Version 1 frames (no flag bit) are refused as an
//! unsupported version.
//!
//! The decoder validates the header as soon as its 20 bytes are present, so a
//! stream that starts with garbage, announces an oversized frame, lacks a tag
//! it needs or names a sender without a key is refused before any payload is
//! buffered.

use crate::id::NodeId;
use crate::mac::{Keyring, PairKey, TAG_BYTES};

pub const MAGIC: [u8; 4] = *b"SKEN";
pub const VERSION: u8 = 2;
pub const HEADER_BYTES: usize = 20;
/// Bit 7 of the kind byte: a [`TAG_BYTES`] MAC tag follows the payload.
pub const FLAG_TAGGED: u8 = 0x80;
/// Hard ceiling on any frame's payload; drivers may configure a lower one.
pub const PAYLOAD_BYTES_MAX: usize = 4 << 20;

/// What a frame carries. Unknown kinds are refused, so a newer peer cannot
/// smuggle a frame type an older node would misread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A protocol message (postcard bytes of `Protocol::Message`).
    Message = 0,
    /// A data frame of the self-stabilizing datagram link.
    LinkData = 1,
    /// An acknowledgement of the self-stabilizing datagram link.
    LinkAck = 2,
    /// The first frame on a stream connection: who is speaking.
    Hello = 3,
}

impl FrameKind {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Message),
            1 => Some(Self::LinkData),
            2 => Some(Self::LinkAck),
            3 => Some(Self::Hello),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: FrameKind,
    /// A MAC tag follows the payload.
    pub tagged: bool,
    pub sender: NodeId,
    pub receiver: NodeId,
    pub protocol: u16,
    pub length: u32,
    pub checksum: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub sender: NodeId,
    pub receiver: NodeId,
    pub protocol: u16,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("bad magic {found:02x?}: not a skein frame")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported envelope version {found} (this node speaks {VERSION})")]
    UnsupportedVersion { found: u8 },
    #[error("unknown frame kind {found}")]
    UnknownKind { found: u8 },
    #[error("frame payload of {length} bytes exceeds the limit of {max} bytes")]
    TooLarge { length: usize, max: usize },
    #[error("checksum mismatch: header says {expected:#010x}, payload gives {actual:#010x}")]
    ChecksumMismatch { expected: u32, actual: u32 },
    #[error("datagram holds {actual} bytes but its header announces {expected}")]
    LengthMismatch { expected: usize, actual: usize },
    #[error("frame from node {sender} has no MAC tag, but this node authenticates its peers (is the sender configured with the cluster secret?)")]
    MissingTag { sender: NodeId },
    #[error("frame from node {sender} carries a MAC tag, but this node has no cluster secret to check it (configure the same secret on every node)")]
    UnexpectedTag { sender: NodeId },
    #[error("frame names sender {sender}, a node this node holds no key for")]
    UnknownSender { sender: NodeId },
    #[error("frame from node {sender} has a MAC tag that does not verify (wrong secret, forged or altered)")]
    BadTag { sender: NodeId },
}

impl Frame {
    /// Encodes the frame without a tag. Panics only on a caller bug: a
    /// payload over the hard ceiling.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(None)
    }

    /// Encodes the frame with a tag made with `key`, which must be the pair
    /// key of this frame's sender and receiver.
    pub fn encode_tagged(&self, key: &PairKey) -> Vec<u8> {
        self.encode_with(Some(key))
    }

    fn encode_with(&self, key: Option<&PairKey>) -> Vec<u8> {
        assert!(
            self.payload.len() <= PAYLOAD_BYTES_MAX,
            "caller must bound payloads before framing"
        );
        let mut out = Vec::with_capacity(HEADER_BYTES + self.payload.len() + TAG_BYTES);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        let flags = if key.is_some() { FLAG_TAGGED } else { 0 };
        out.push(self.kind as u8 | flags);
        out.extend_from_slice(&self.sender.0.to_be_bytes());
        out.extend_from_slice(&self.receiver.0.to_be_bytes());
        out.extend_from_slice(&self.protocol.to_be_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        let checksum = checksum(&out, &self.payload);
        out.extend_from_slice(&checksum.to_be_bytes());
        out.extend_from_slice(&self.payload);
        if let Some(key) = key {
            let tag = key.tag(&out);
            out.extend_from_slice(&tag);
        }
        out
    }

    /// Decodes one whole datagram: exactly one frame, nothing more or less.
    /// `keys`: as for [`decode_prefix`].
    pub fn decode_datagram(
        bytes: &[u8],
        payload_max: usize,
        keys: Option<&Keyring>,
    ) -> Result<Frame, FrameError> {
        match decode_prefix(bytes, payload_max, keys)? {
            Some((frame, used)) if used == bytes.len() => Ok(frame),
            Some((_, used)) => Err(FrameError::LengthMismatch {
                expected: used,
                actual: bytes.len(),
            }),
            None => Err(FrameError::LengthMismatch {
                expected: match parse_header(bytes, payload_max) {
                    Ok(Some(header)) => header.frame_bytes(),
                    _ => HEADER_BYTES,
                },
                actual: bytes.len(),
            }),
        }
    }
}

impl FrameHeader {
    /// Bytes of the whole frame this header starts: header, payload, tag.
    pub fn frame_bytes(&self) -> usize {
        HEADER_BYTES + self.length as usize + if self.tagged { TAG_BYTES } else { 0 }
    }
}

fn checksum(header_without_checksum: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header_without_checksum[..16]);
    hasher.update(payload);
    hasher.finalize()
}

/// Validates a header. Returns `Ok(None)` when fewer than [`HEADER_BYTES`] are given.
pub fn parse_header(bytes: &[u8], payload_max: usize) -> Result<Option<FrameHeader>, FrameError> {
    if bytes.len() < HEADER_BYTES {
        // Refuse a wrong magic as early as its bytes arrive.
        let seen = bytes.len().min(4);
        if bytes[..seen] != MAGIC[..seen] {
            let mut found = [0u8; 4];
            found[..seen].copy_from_slice(&bytes[..seen]);
            return Err(FrameError::BadMagic { found });
        }
        return Ok(None);
    }
    let be16 = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let be32 =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let found: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if found != MAGIC {
        return Err(FrameError::BadMagic { found });
    }
    if bytes[4] != VERSION {
        return Err(FrameError::UnsupportedVersion { found: bytes[4] });
    }
    let tagged = bytes[5] & FLAG_TAGGED != 0;
    let kind = FrameKind::from_byte(bytes[5] & !FLAG_TAGGED)
        .ok_or(FrameError::UnknownKind { found: bytes[5] })?;
    let length = be32(12);
    let max = payload_max.min(PAYLOAD_BYTES_MAX);
    if length as usize > max {
        return Err(FrameError::TooLarge {
            length: length as usize,
            max,
        });
    }
    Ok(Some(FrameHeader {
        kind,
        tagged,
        sender: NodeId(be16(6)),
        receiver: NodeId(be16(8)),
        protocol: be16(10),
        length,
        checksum: be32(16),
    }))
}

/// Decodes the frame at the start of `bytes`, if it is complete.
///
/// With `keys`, the frame must carry a tag that verifies under the key the
/// keyring holds for the frame's sender, so the returned `sender` is
/// authenticated; without, the frame must carry no tag.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((frame, used)))`
/// when a frame was read from the first `used` bytes, and an error as soon
/// as the bytes cannot start a valid frame. Never panics, whatever the input.
pub fn decode_prefix(
    bytes: &[u8],
    payload_max: usize,
    keys: Option<&Keyring>,
) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(header) = parse_header(bytes, payload_max)? else {
        return Ok(None);
    };
    // Refuse on the header alone, before buffering a payload that cannot pass.
    let sender = header.sender;
    let key = match (keys, header.tagged) {
        (None, false) => None,
        (None, true) => return Err(FrameError::UnexpectedTag { sender }),
        (Some(_), false) => return Err(FrameError::MissingTag { sender }),
        (Some(keys), true) => Some(
            keys.key(sender)
                .ok_or(FrameError::UnknownSender { sender })?,
        ),
    };
    let total = header.frame_bytes();
    if bytes.len() < total {
        return Ok(None);
    }
    let signed = HEADER_BYTES + header.length as usize;
    let payload = &bytes[HEADER_BYTES..signed];
    let actual = checksum(bytes, payload);
    if actual != header.checksum {
        return Err(FrameError::ChecksumMismatch {
            expected: header.checksum,
            actual,
        });
    }
    if let Some(key) = key {
        if !key.verify(&bytes[..signed], &bytes[signed..total]) {
            return Err(FrameError::BadTag { sender });
        }
    }
    Ok(Some((
        Frame {
            kind: header.kind,
            sender: header.sender,
            receiver: header.receiver,
            protocol: header.protocol,
            payload: payload.to_vec(),
        },
        total,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mac::ClusterSecret;
    use proptest::prelude::*;

    fn sample(payload: Vec<u8>) -> Frame {
        Frame {
            kind: FrameKind::Message,
            sender: NodeId(3),
            receiver: NodeId(9),
            protocol: 1,
            payload,
        }
    }

    #[test]
    fn round_trips_a_frame() {
        let frame = sample(b"hello".to_vec());
        let bytes = frame.encode();
        assert_eq!(bytes.len(), HEADER_BYTES + 5);
        assert_eq!(
            decode_prefix(&bytes, 1024, None).unwrap(),
            Some((frame.clone(), bytes.len()))
        );
        assert_eq!(Frame::decode_datagram(&bytes, 1024, None).unwrap(), frame);
    }

    #[test]
    fn waits_for_more_bytes_then_decodes() {
        let bytes = sample(vec![7; 100]).encode();
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_prefix(&bytes[..cut], 1024, None).unwrap(),
                None,
                "cut at {cut}"
            );
        }
        assert!(decode_prefix(&bytes, 1024, None).unwrap().is_some());
    }

    #[test]
    fn refuses_bad_magic_from_the_first_byte() {
        assert!(matches!(
            decode_prefix(b"X", 1024, None),
            Err(FrameError::BadMagic { .. })
        ));
        assert!(matches!(
            decode_prefix(b"GET / HTTP/1.1\r\n\r\n....", 1024, None),
            Err(FrameError::BadMagic { .. })
        ));
    }

    #[test]
    fn refuses_an_oversized_frame_from_its_header() {
        let bytes = sample(vec![0; 2000]).encode();
        assert_eq!(
            decode_prefix(&bytes[..HEADER_BYTES], 1000, None),
            Err(FrameError::TooLarge {
                length: 2000,
                max: 1000
            })
        );
    }

    #[test]
    fn detects_a_flipped_bit_anywhere() {
        let bytes = sample(b"payload".to_vec()).encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            // A stream may have to wait for the bytes a corrupted length
            // announces, but it never yields a frame; a datagram errs at once.
            assert!(
                !matches!(decode_prefix(&bad, 1024, None), Ok(Some(_))),
                "flip at byte {i}"
            );
            assert!(
                Frame::decode_datagram(&bad, 1024, None).is_err(),
                "flip at byte {i}"
            );
        }
    }

    #[test]
    fn datagram_must_hold_exactly_one_frame() {
        let mut bytes = sample(b"abc".to_vec()).encode();
        bytes.push(0);
        assert!(matches!(
            Frame::decode_datagram(&bytes, 1024, None),
            Err(FrameError::LengthMismatch { .. })
        ));
        assert!(Frame::decode_datagram(&bytes[..10], 1024, None).is_err());
    }

    // Authenticated frames (crate::mac): nodes 1, 2 and 3 of one cluster.
    fn cluster_secret() -> ClusterSecret {
        ClusterSecret::new(b"correct horse battery staple".to_vec()).unwrap()
    }

    fn keyring(me: u16) -> Keyring {
        Keyring::from_secret(&cluster_secret(), NodeId(me), [1, 2, 3].map(NodeId))
    }

    /// A frame from `sender` to `receiver`, tagged with their pair key.
    fn tagged(sender: u16, receiver: u16, payload: &[u8]) -> (Frame, Vec<u8>) {
        let frame = Frame {
            sender: NodeId(sender),
            receiver: NodeId(receiver),
            ..sample(payload.to_vec())
        };
        let key = keyring(sender).key(NodeId(receiver)).unwrap().clone();
        let bytes = frame.encode_tagged(&key);
        (frame, bytes)
    }

    #[test]
    fn a_tagged_frame_round_trips_and_authenticates_its_sender() {
        let (frame, bytes) = tagged(2, 1, b"hello");
        assert_eq!(bytes.len(), HEADER_BYTES + 5 + TAG_BYTES);
        assert_eq!(bytes[5], FrameKind::Message as u8 | FLAG_TAGGED);
        let ring = keyring(1);
        assert_eq!(
            decode_prefix(&bytes, 1024, Some(&ring)).unwrap(),
            Some((frame.clone(), bytes.len()))
        );
        assert_eq!(
            Frame::decode_datagram(&bytes, 1024, Some(&ring)).unwrap(),
            frame
        );
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_prefix(&bytes[..cut], 1024, Some(&ring)),
                Ok(None),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn tampering_with_any_byte_of_a_tagged_frame_is_detected() {
        let (_, bytes) = tagged(2, 1, b"some payload");
        let ring = keyring(1);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    !matches!(decode_prefix(&bad, 1024, Some(&ring)), Ok(Some(_))),
                    "flip of bit {bit} at byte {i} accepted"
                );
                assert!(
                    Frame::decode_datagram(&bad, 1024, Some(&ring)).is_err(),
                    "flip of bit {bit} at byte {i} accepted"
                );
            }
        }
        // An attacker who also fixes the CRC is stopped by the tag.
        let mut bad = bytes.clone();
        bad[HEADER_BYTES] ^= 1;
        let crc = checksum(&bad, &bad[HEADER_BYTES..bytes.len() - TAG_BYTES]);
        bad[16..20].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            Frame::decode_datagram(&bad, 1024, Some(&ring)),
            Err(FrameError::BadTag { sender: NodeId(2) })
        );
    }

    #[test]
    fn a_frame_tagged_with_a_wrong_key_is_refused() {
        let frame = Frame {
            sender: NodeId(2),
            receiver: NodeId(1),
            ..sample(b"x".to_vec())
        };
        let other_cluster = ClusterSecret::new(vec![9; 32]).unwrap();
        let wrong_secret = PairKey::derive(&other_cluster, NodeId(1), NodeId(2));
        let wrong_pair = PairKey::derive(&cluster_secret(), NodeId(2), NodeId(3));
        for key in [wrong_secret, wrong_pair] {
            assert_eq!(
                Frame::decode_datagram(&frame.encode_tagged(&key), 1024, Some(&keyring(1))),
                Err(FrameError::BadTag { sender: NodeId(2) })
            );
        }
        // Sent to node 1 but delivered to node 3: node 3's key with 2 differs.
        let (_, to_one) = tagged(2, 1, b"x");
        assert_eq!(
            Frame::decode_datagram(&to_one, 1024, Some(&keyring(3))),
            Err(FrameError::BadTag { sender: NodeId(2) })
        );
    }

    #[test]
    fn a_node_cannot_speak_for_another_with_its_own_keys() {
        // Node 3 holds only its own pair keys (never the cluster secret).
        let secret = cluster_secret();
        let three = Keyring::from_pair_keys(
            NodeId(3),
            [1, 2].map(|p| (NodeId(p), secret.pair_key_bytes(NodeId(3), NodeId(p)))),
        );
        let forged = Frame {
            sender: NodeId(2),
            receiver: NodeId(1),
            ..sample(b"I am node 2".to_vec())
        };
        let ring = keyring(1);
        for peer in three.peers() {
            let bytes = forged.encode_tagged(three.key(peer).unwrap());
            assert_eq!(
                Frame::decode_datagram(&bytes, 1024, Some(&ring)),
                Err(FrameError::BadTag { sender: NodeId(2) }),
                "forged with K(3,{peer})"
            );
        }
        // Its own frames, with its real id, pass.
        let honest = Frame {
            sender: NodeId(3),
            ..forged
        };
        let bytes = honest.encode_tagged(three.key(NodeId(1)).unwrap());
        assert_eq!(
            Frame::decode_datagram(&bytes, 1024, Some(&ring)),
            Ok(honest)
        );
    }

    #[test]
    fn tags_are_demanded_exactly_when_the_node_authenticates() {
        let plain = sample(b"x".to_vec()).encode();
        let ring = keyring(9);
        // Refused from the header alone, before any payload arrives.
        assert_eq!(
            decode_prefix(&plain[..HEADER_BYTES], 1024, Some(&ring)),
            Err(FrameError::MissingTag { sender: NodeId(3) })
        );
        let (_, tagged_bytes) = tagged(2, 1, b"x");
        assert_eq!(
            decode_prefix(&tagged_bytes[..HEADER_BYTES], 1024, None),
            Err(FrameError::UnexpectedTag { sender: NodeId(2) })
        );
        // A sender outside the keyring: no key, refused without hashing.
        let stranger = Frame {
            sender: NodeId(42),
            ..sample(vec![])
        }
        .encode_tagged(&PairKey::derive(&cluster_secret(), NodeId(42), NodeId(1)));
        assert_eq!(
            decode_prefix(&stranger[..HEADER_BYTES], 1024, Some(&keyring(1))),
            Err(FrameError::UnknownSender { sender: NodeId(42) })
        );
        // Version 1 frames are refused.
        let mut v1 = plain.clone();
        v1[4] = 1;
        assert_eq!(
            decode_prefix(&v1, 1024, None),
            Err(FrameError::UnsupportedVersion { found: 1 })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let ring = keyring(1);
            let _ = decode_prefix(&bytes, 256, None);
            let _ = Frame::decode_datagram(&bytes, 256, None);
            let _ = decode_prefix(&bytes, 256, Some(&ring));
            let _ = Frame::decode_datagram(&bytes, 256, Some(&ring));
        }

        #[test]
        fn random_bytes_behind_a_valid_tagged_header_never_panic(
            kind in 0u8..4, sender in 0u16..5, length in 0u32..300,
            rest in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            // A header that passes every check up to the tag, then anything.
            let mut bytes = MAGIC.to_vec();
            bytes.extend([VERSION, kind | FLAG_TAGGED]);
            bytes.extend(sender.to_be_bytes());
            bytes.extend(1u16.to_be_bytes());
            bytes.extend(1u16.to_be_bytes());
            bytes.extend(length.to_be_bytes());
            bytes.extend(rest);
            let ring = keyring(1);
            prop_assert!(!matches!(decode_prefix(&bytes, 256, Some(&ring)), Ok(Some(_))));
            prop_assert!(Frame::decode_datagram(&bytes, 256, Some(&ring)).is_err());
            let _ = decode_prefix(&bytes, 256, None);
        }

        #[test]
        fn any_tagged_frame_round_trips_and_any_mutation_is_refused(
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            sender in 2u16..4, protocol in any::<u16>(),
            at in any::<usize>(), delta in 1u8..=255,
        ) {
            let frame = Frame { kind: FrameKind::LinkData, sender: NodeId(sender), receiver: NodeId(1), protocol, payload };
            let bytes = frame.encode_tagged(keyring(sender).key(NodeId(1)).unwrap());
            let ring = keyring(1);
            prop_assert_eq!(Frame::decode_datagram(&bytes, 300, Some(&ring)).unwrap(), frame);
            let mut bad = bytes.clone();
            let at = at % bad.len();
            bad[at] = bad[at].wrapping_add(delta);
            prop_assert!(Frame::decode_datagram(&bad, 300, Some(&ring)).is_err());
            prop_assert!(!matches!(decode_prefix(&bad, 300, Some(&ring)), Ok(Some(_))));
        }

        #[test]
        fn valid_header_with_random_tail_never_panics(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            flip in any::<usize>(),
        ) {
            let mut bytes = sample(payload).encode();
            let at = flip % bytes.len();
            bytes[at] = bytes[at].wrapping_add(1);
            bytes.extend(tail);
            let _ = decode_prefix(&bytes, 256, None);
        }

        #[test]
        fn any_frame_round_trips(
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            sender in any::<u16>(), receiver in any::<u16>(), protocol in any::<u16>(),
        ) {
            let frame = Frame { kind: FrameKind::LinkAck, sender: NodeId(sender), receiver: NodeId(receiver), protocol, payload };
            let bytes = frame.encode();
            prop_assert_eq!(Frame::decode_datagram(&bytes, 300, None).unwrap(), frame);
        }
    }
}
