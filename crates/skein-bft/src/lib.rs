//! skein-bft: the BFTList protocol core — a list replicated as a
//! self-stabilizing Byzantine-tolerant state machine built on failure
//! detectors (Dolev, Georgiou, Marcoullis, Schiller; spec in BFTLIST.md).
//!
//! **Owns** the four modules of the spec as one pure state machine
//! ([`BftNode`], a [`skein_core::Protocol`]): view establishment ([`ve`]),
//! replication ([`rep`]), primary monitoring ([`pm`]), the heartbeat/progress
//! failure detector ([`fd`]) and the event-driven failure detector
//! ([`edfd`]); the ten emulated Byzantine behaviours ([`byzantine`]);
//! transient-fault injection ([`corrupt`]).
//!
//! **Must not** do I/O: no sockets, files, clocks or global randomness (the
//! runtime and the simulator drive it). Corrupted state is detected, repaired
//! and counted ([`BftCounters`]), never asserted.
//!
//! **Start reading** at `ALGORITHM.md` beside this crate, then [`node`] (one
//! tick = VE → Rep → PM → sends), then [`ve`] and [`rep`].
//!
//! ## Event-driven replication (opt-in: `event_driven_replication`)
//! A Rep message or client request that can advance the three-phase
//! protocol runs Rep steps 7–8 at once and sends the change, paced by
//! `event_send_gap_us` (module `eager`); everything that makes the node
//! self-stabilizing (VE, consolidation, stale detection and flush, PM, the
//! FD, the periodic resend of every structure) stays on the tick, so the
//! argument below is unchanged: the eager step is one more interleaving of
//! the Rep loop's own steps, which BFTLIST.md §2 allows.
//!
//! ## Less traffic, still self-stabilizing
//! The original sent every structure in full every iteration. Here the
//! replica structure travels every tick *without* the list: its bounded
//! parts (≤ 3σK log entries, ≤ σK pending and queued requests) plus, per log
//! entry, the machine digest and a hash chain. A receiver rebuilds the
//! sender's list from its cached copy by replaying the log entries it has
//! not seen. The list itself travels every `full_state_every_ticks` ticks (R)
//! and on request when a cached copy fails its digest. Self-stabilization
//! still holds because (1) every decision that compares replicas
//! (compatibility, consolidation, commit support) uses only the bounded
//! parts, which are sent in full every tick, so a stale copy of them is
//! overwritten within one tick; (2) a list is only ever used (adopted) after
//! its digest is checked against the log, so a corrupted cached list is never
//! adopted, and it is replaced within R ticks or at once by a state transfer;
//! (3) an own list that does not match its log is detected by `stale_rep` and
//! flushed. Message size is thus bounded by σK and independent of the list
//! length except for one full copy every R ticks.

mod admin;
pub mod byzantine;
mod client;
pub mod config;
pub mod corrupt;
mod eager;
pub mod edfd;
pub mod fd;
pub mod hash;
mod labels;
pub mod machine;
pub mod message;
pub mod node;
pub mod pm;
pub mod rep;
mod send;
pub mod status;
pub mod types;
pub mod ve;

#[cfg(test)]
mod tests;

pub use byzantine::ByzantineBehaviour;
pub use config::{BftConfig, BftConfigError, Params};
pub use machine::{Machine, OpResult};
pub use message::{AdminReply, AdminRequest, BftMessage, BftReply, BftRequest};
pub use node::{BftNode, BftState};
pub use status::{BftCounters, BftStatus};
pub use types::{ClientId, ClientRequest, Op, Request, Value, View, ViewPair};
