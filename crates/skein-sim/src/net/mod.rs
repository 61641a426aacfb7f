//! The simulated network: per-link behaviour ([`LinkConfig`]), partitions of
//! named shapes ([`Partition`]), and the per-link state that decides when and
//! whether each message arrives ([`Network`]).

mod link;
mod network;
mod partition;

pub use link::LinkConfig;
pub use network::{DropReason, Network, SendPlan};
pub use partition::{Partition, PartitionShape};
