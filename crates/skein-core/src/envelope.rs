//! The versioned wire envelope every inter-node frame travels in.
//!
//! ```text
//!  0       4    5    6       8       10      12          16          20
//!  +-------+----+----+-------+-------+-------+-----------+-----------+---------
//!  | magic |ver |kind|sender |receivr|proto  | length    | checksum  | payload
//!  | SKEN  | u8 | u8 | u16   | u16   | u16   | u32       | u32 crc32 | length B
//!  +-------+----+----+-------+-------+-------+-----------+-----------+---------
//! ```
//! All integers are big-endian. The checksum is CRC-32 over the first 16
//! header bytes and the payload, so a corrupted header is caught too. It
//! detects accidents, not attacks: authentication is a separate layer.
//!
//! The decoder validates the header as soon as its 20 bytes are present, so a
//! stream that starts with garbage or announces an oversized frame is refused
//! before any payload is buffered.

use crate::id::NodeId;

pub const MAGIC: [u8; 4] = *b"SKEN";
pub const VERSION: u8 = 1;
pub const HEADER_BYTES: usize = 20;
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
}

impl Frame {
    /// Encodes the frame. Panics only on a caller bug: a payload over the hard ceiling.
    pub fn encode(&self) -> Vec<u8> {
        assert!(
            self.payload.len() <= PAYLOAD_BYTES_MAX,
            "caller must bound payloads before framing"
        );
        let mut out = Vec::with_capacity(HEADER_BYTES + self.payload.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.sender.0.to_be_bytes());
        out.extend_from_slice(&self.receiver.0.to_be_bytes());
        out.extend_from_slice(&self.protocol.to_be_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        let checksum = checksum(&out, &self.payload);
        out.extend_from_slice(&checksum.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Decodes one whole datagram: exactly one frame, nothing more or less.
    pub fn decode_datagram(bytes: &[u8], payload_max: usize) -> Result<Frame, FrameError> {
        match decode_prefix(bytes, payload_max)? {
            Some((frame, used)) if used == bytes.len() => Ok(frame),
            Some((_, used)) => Err(FrameError::LengthMismatch {
                expected: used,
                actual: bytes.len(),
            }),
            None => Err(FrameError::LengthMismatch {
                expected: match parse_header(bytes, payload_max) {
                    Ok(Some(header)) => HEADER_BYTES + header.length as usize,
                    _ => HEADER_BYTES,
                },
                actual: bytes.len(),
            }),
        }
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
    let kind = FrameKind::from_byte(bytes[5]).ok_or(FrameError::UnknownKind { found: bytes[5] })?;
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
        sender: NodeId(be16(6)),
        receiver: NodeId(be16(8)),
        protocol: be16(10),
        length,
        checksum: be32(16),
    }))
}

/// Decodes the frame at the start of `bytes`, if it is complete.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((frame, used)))`
/// when a frame was read from the first `used` bytes, and an error as soon
/// as the bytes cannot start a valid frame. Never panics, whatever the input.
pub fn decode_prefix(
    bytes: &[u8],
    payload_max: usize,
) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(header) = parse_header(bytes, payload_max)? else {
        return Ok(None);
    };
    let total = HEADER_BYTES + header.length as usize;
    if bytes.len() < total {
        return Ok(None);
    }
    let payload = &bytes[HEADER_BYTES..total];
    let actual = checksum(bytes, payload);
    if actual != header.checksum {
        return Err(FrameError::ChecksumMismatch {
            expected: header.checksum,
            actual,
        });
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
            decode_prefix(&bytes, 1024).unwrap(),
            Some((frame.clone(), bytes.len()))
        );
        assert_eq!(Frame::decode_datagram(&bytes, 1024).unwrap(), frame);
    }

    #[test]
    fn waits_for_more_bytes_then_decodes() {
        let bytes = sample(vec![7; 100]).encode();
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_prefix(&bytes[..cut], 1024).unwrap(),
                None,
                "cut at {cut}"
            );
        }
        assert!(decode_prefix(&bytes, 1024).unwrap().is_some());
    }

    #[test]
    fn refuses_bad_magic_from_the_first_byte() {
        assert!(matches!(
            decode_prefix(b"X", 1024),
            Err(FrameError::BadMagic { .. })
        ));
        assert!(matches!(
            decode_prefix(b"GET / HTTP/1.1\r\n\r\n....", 1024),
            Err(FrameError::BadMagic { .. })
        ));
    }

    #[test]
    fn refuses_an_oversized_frame_from_its_header() {
        let bytes = sample(vec![0; 2000]).encode();
        assert_eq!(
            decode_prefix(&bytes[..HEADER_BYTES], 1000),
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
                !matches!(decode_prefix(&bad, 1024), Ok(Some(_))),
                "flip at byte {i}"
            );
            assert!(
                Frame::decode_datagram(&bad, 1024).is_err(),
                "flip at byte {i}"
            );
        }
    }

    #[test]
    fn datagram_must_hold_exactly_one_frame() {
        let mut bytes = sample(b"abc".to_vec()).encode();
        bytes.push(0);
        assert!(matches!(
            Frame::decode_datagram(&bytes, 1024),
            Err(FrameError::LengthMismatch { .. })
        ));
        assert!(Frame::decode_datagram(&bytes[..10], 1024).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_prefix(&bytes, 256);
            let _ = Frame::decode_datagram(&bytes, 256);
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
            let _ = decode_prefix(&bytes, 256);
        }

        #[test]
        fn any_frame_round_trips(
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            sender in any::<u16>(), receiver in any::<u16>(), protocol in any::<u16>(),
        ) {
            let frame = Frame { kind: FrameKind::LinkAck, sender: NodeId(sender), receiver: NodeId(receiver), protocol, payload };
            let bytes = frame.encode();
            prop_assert_eq!(Frame::decode_datagram(&bytes, 300).unwrap(), frame);
        }
    }
}
