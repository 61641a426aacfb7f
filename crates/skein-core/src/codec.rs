//! Message payload codec: serde + postcard, with a size bound.
//!
//! Every protocol message crosses the wire as postcard bytes inside a
//! [`crate::Frame`]. Decoding never panics on hostile input; it returns
//! [`CodecError`].

use serde::{de::DeserializeOwned, Serialize};

/// Why a payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("payload of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("payload is not a valid message: {0}")]
    Malformed(String),
}

/// Serializes `value`, refusing results longer than `max_bytes`.
pub fn encode<T: Serialize>(value: &T, max_bytes: usize) -> Result<Vec<u8>, CodecError> {
    let bytes = postcard::to_stdvec(value).map_err(|e| CodecError::Malformed(e.to_string()))?;
    if bytes.len() > max_bytes {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    Ok(bytes)
}

/// Deserializes `bytes`. Trailing bytes are an error: a frame carries exactly one message.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max_bytes: usize) -> Result<T, CodecError> {
    if bytes.len() > max_bytes {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| CodecError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Malformed(format!(
            "{} trailing bytes after the message",
            rest.len()
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_trailing_bytes() {
        let bytes = encode(&(7u32, String::from("x")), 64).unwrap();
        assert_eq!(
            decode::<(u32, String)>(&bytes, 64).unwrap(),
            (7, "x".into())
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode::<(u32, String)>(&longer, 64),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn enforces_the_size_bound_both_ways() {
        let big = vec![1u8; 100];
        assert!(matches!(encode(&big, 50), Err(CodecError::TooLarge { .. })));
        let bytes = encode(&big, 1000).unwrap();
        assert!(matches!(
            decode::<Vec<u8>>(&bytes, 50),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        // A length prefix claiming a huge vector must not allocate it.
        let garbage = [0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
        assert!(decode::<Vec<u64>>(&garbage, 1024).is_err());
    }
}
