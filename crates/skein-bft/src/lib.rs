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
//! ## Event-driven replication (the default; `event_driven_replication = false` for tick-only)
//! A Rep message or client request that can advance the three-phase
//! protocol runs Rep steps 7–8 at once and sends the change, paced by
//! `event_send_gap_us` (module `eager`); what makes the node
//! self-stabilizing (consolidation, stale detection and flush, the periodic
//! resend of every structure) stays on the tick, so the argument below is
//! unchanged: the eager step is one more interleaving of the Rep loop's own
//! steps, which BFTLIST.md §2 allows.
//!
//! ## Between ticks: failure detection and view changes
//! Heartbeat tokens are answered `fd_token_gap_ms` after they arrive, VE
//! and PM step as soon as one of their inputs changes (paced by
//! `control_step_gap_us`), and ED-FD rounds run back to back only while
//! the view is unsettled (module `control`). Like the eager Rep step these
//! are more iterations of the modules' own loops, which §2 allows; what is
//! periodic stays on the tick.
//!
//! ## Less traffic, still self-stabilizing
//! The original sent every structure in full every iteration. Here a Rep
//! message carries, every tick and on every event-driven send:
//! * the bounded parts that change all the time in full — `pend` and `reqq`
//!   (≤ σK each, in steady state the requests in flight), seq, flags, view;
//! * of the log (≤ 3σK entries, each with the machine digest after it and a
//!   hash chain) only a **delta**: the entries from the head the receiver
//!   last said it holds of the sender's log (`holds`, in the receiver's own
//!   Rep messages) to the end, or the whole log when that head is not on the
//!   sender's log; plus a **digest** of the whole log ([`rep::LogDigest`]:
//!   its length and a hash of every entry's request, machine digest and
//!   chain value and of the last entry's xset);
//! * the list itself only every `full_state_every_ticks` ticks (R), with the
//!   whole log, or when a peer asked for it (`StateRequest`).
//!
//! The receiver rebuilds the sender's log from its cached copy and the delta
//! and stores it only if the result matches the digest; otherwise the copy
//! becomes TEE ("not heard", the spec's flushed value), and the receiver's
//! next message says it holds nothing, so the sender sends its whole log.
//! It rebuilds the sender's list from its cached list by replaying the new
//! log entries, and uses a list only after checking it against the log's
//! machine digest.
//!
//! *Why per-receiver acknowledgements, not a fixed window of the latest
//! entries*: a window must be wider than the most the receiver can have
//! missed (lost messages, a slow tick, a burst of executions between two
//! sends), or every miss costs a state request and a round trip; and the
//! acknowledgement already travels in the message the receiver sends every
//! tick, so it costs a few bytes. A lost or stale acknowledgement only
//! makes the sender send more (it starts at the acknowledged entry, which
//! its receiver has or later had), never less than the receiver needs,
//! except after the receiver's copy was dropped, corrupted or set back by a
//! reordered older message — which the digest detects (costing one TEE
//! copy and one whole log; TCP links do not reorder).
//!
//! Self-stabilization still holds because:
//! 1. every decision that compares replicas (compatibility, consolidation,
//!    commit support) reads `pend`/`reqq`, sent whole in every message, and
//!    copies of logs that matched the digest of the message they came with:
//!    a copy rebuilt from a corrupted cache, a lying delta or a stale
//!    acknowledgement fails the digest and is not used (TEE) — the same as
//!    a peer not heard, which the algorithm tolerates;
//! 2. the acknowledgements (`BftNode::acked`) are not protocol state: any
//!    value only changes how many entries are sent, and a wrong one costs one
//!    failed rebuild, after which the receiver acknowledges nothing and gets
//!    the whole log; every R ticks the whole log is sent anyway;
//! 3. a list is only ever used (adopted) after its digest is checked against
//!    the log, so a corrupted cached list is never adopted, and it is replaced
//!    within R ticks or at once by a state transfer;
//! 4. an own list or log that does not match its digests or chain is
//!    detected by `stale_rep` and flushed.
//!
//! The xsets of a copy's older entries are not in the digest: each replica
//! records its own when it executes, and one that adopts another's log
//! (catch-up) changes them without changing its history; of a peer's log
//! only the last xset is read (`last_common_exec`), and the whole log every
//! R ticks replaces the others. A Rep message is thus O(σK + entries
//! executed since the receiver's last acknowledgement) bytes, independent of
//! the list and of the log's length, except for one full copy every R ticks.

mod admin;
pub mod byzantine;
mod client;
pub mod config;
mod control;
pub mod corrupt;
mod eager;
pub mod edfd;
pub mod fd;
pub mod fuzzing;
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
