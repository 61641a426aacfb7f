//! Cluster scenarios of BFTLIST.md §6.2 on the in-crate harness.

mod byzantine;
mod delta;
mod derived_cost;
mod faults;
mod harness;
mod liveness;
mod normal;
mod spec_rep;
mod spec_ve;
