//! skein-core: what every skein protocol and driver shares.
//!
//! Owns node and request ids, the versioned wire envelope and its codec,
//! peer-channel MACs (pairwise HMAC keys, [`mac`]), the
//! sans-IO [`Protocol`] trait (events in, effects out), the self-stabilizing
//! datagram link state machine, and the built-in `heartbeat` protocol used to
//! test drivers end to end.
//!
//! Must not do I/O: no tokio, sockets, files, wall clock or global random
//! generator. Time and randomness reach a protocol only through [`Context`].
//! A test in `tests/no_io.rs` fails if this crate (or any other core crate)
//! gains such a dependency.
//!
//! Start reading at [`protocol`], then [`heartbeat`] for a complete example.

pub mod client_key;
pub mod codec;
pub mod envelope;
pub mod fuzzing;
pub mod heartbeat;
pub mod id;
pub mod mac;
pub mod protocol;
pub mod sslink;

pub use envelope::{Frame, FrameError, FrameHeader, FrameKind};
pub use id::{NodeId, RequestId};
pub use protocol::{
    Boot, Channel, Context, Effect, Input, PeerAddress, Protocol, StorageWrite, TimerId,
};
