//! bftlist request latency in virtual time on the simulator's network
//! (2–25 ms one-way, mean 10 ms; no faults), with event-driven replication
//! (the default) and tick-driven only (`event_driven_replication = false`,
//! the behaviour before it): printed, never asserted on time. See the
//! figures with
//!
//! ```text
//! cargo test --release -p skein-sim --test bftlist_latency -- --nocapture
//! ```

use skein_bft::BftConfig;
use skein_sim::services::bftlist::{latency, protocol_config};
use skein_sim::services::RunOptions;

fn options(clients: u32, steps: u64) -> RunOptions {
    let mut o = RunOptions::new("bftlist");
    o.clients = clients;
    o.steps = steps;
    o
}

fn tick_driven(clients: u32) -> BftConfig {
    BftConfig {
        event_driven_replication: false,
        ..protocol_config(clients)
    }
}

/// One client and sixteen, event-driven and tick-driven: requests complete
/// in both modes, and the figures print.
#[test]
fn request_latency_is_printed() {
    for clients in [1, 16] {
        let o = options(clients, 30_000);
        let eager = latency::measure(&o).unwrap();
        let ticks = latency::measure_with(&o, tick_driven(clients)).unwrap();
        println!("bftlist n = 6, event-driven: {eager}");
        println!("bftlist n = 6, tick-driven:  {ticks}");
        assert!(eager.ops_ok > 0, "no request completed: {eager}");
        assert!(ticks.ops_ok > 0, "no request completed: {ticks}");
    }
}
