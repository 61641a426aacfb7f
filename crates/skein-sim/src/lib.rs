//! skein-sim: the deterministic simulator, fault and Byzantine models,
//! history recording and checkers for skein protocol cores.
//!
//! Owns: a single-threaded discrete-event [`Simulation`] that runs n
//! instances of any [`skein_core::Protocol`] unchanged, on a virtual clock,
//! with one seeded ChaCha8 generator; the simulated network ([`net`]),
//! disk ([`disk`]) and clocks ([`time`]); faults and the nemesis ([`fault`]);
//! Byzantine adversaries and Twins ([`byzantine`]); client workloads and
//! histories ([`workload`], [`history`]); invariant and liveness checks
//! ([`check`]) and a linearizability checker ([`lin`]); the services `skein
//! sim` knows ([`services`]), including a test register with injectable bugs
//! ([`register`]).
//!
//! Must not: do real I/O or read the wall clock in the simulation path (no
//! tokio, sockets, files or `Instant`); iterate a `HashMap` where order
//! could reach the run; panic on a failed check (failures are verdicts).
//! Same seed and config ⇒ the same run, bit for bit; the trace hash proves it.
//!
//! Start reading at [`sim`] (the event loop), then [`services::heartbeat`]
//! for how a protocol plugs in, then [`lin`] for the checker.

pub mod byzantine;
pub mod check;
pub mod config;
pub mod disk;
mod error;
pub(crate) mod event;
pub mod fault;
pub mod history;
pub(crate) mod instance;
pub mod lean;
pub mod lin;
pub mod net;
pub mod plot;
pub mod register;
pub mod report;
pub mod services;
pub mod sim;
pub mod time;
pub mod trace;
pub mod workload;

pub use config::{ClientConfig, FaultKind, FaultSet, LoopMode, NemesisConfig, SimConfig};
pub use error::SimError;
pub use report::{KindBytes, RunReport, SimStats};
pub use sim::{SimOutcome, Simulation};
