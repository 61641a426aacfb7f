//! Tests that drive whole nodes: exact-effect unit tests and a small
//! deterministic multi-node harness (until skein-sim takes over).

mod cluster;
mod fx;
mod harness;
mod unit_election;
mod unit_replication;
mod unit_services;
