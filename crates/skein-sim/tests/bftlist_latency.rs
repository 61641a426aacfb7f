//! bftlist request latency in virtual time on the simulator's network
//! (2–25 ms one-way, mean 10 ms; no faults), with event-driven replication
//! (`event_driven_replication = true`, the default) and tick-driven only:
//! printed, never asserted on time. See the
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

fn with_events(clients: u32, on: bool) -> BftConfig {
    BftConfig {
        event_driven_replication: on,
        ..protocol_config(clients)
    }
}

fn print_both(clients: u32, steps: u64) {
    let o = options(clients, steps);
    let eager = latency::measure_with(&o, with_events(clients, true)).unwrap();
    let ticks = latency::measure_with(&o, with_events(clients, false)).unwrap();
    for (mode, s) in [("event-driven", &eager), ("tick-driven", &ticks)] {
        println!("bftlist n = 6, {mode}: {s}");
        println!("  mean ms by request number: {}", s.blocks_line(16));
        assert!(s.ops_ok > 0, "no request completed: {s}");
        assert!(s.rep_messages > 0, "no Rep message measured: {s}");
    }
}

/// CI: one client, both modes; requests complete and the figures print.
#[test]
fn request_latency_is_printed() {
    print_both(1, 15_000);
}

/// The figures of ALGORITHM.md: 1, 16 and 64 clients, both modes, with the
/// mean latency per block of 100 requests (1,000+ requests at 16 and 64
/// clients) and the encoded size of Rep messages.
///
/// ```text
/// cargo test --release -p skein-sim --test bftlist_latency -- --ignored --nocapture
/// ```
#[test]
#[ignore]
fn request_latency_figures() {
    print_both(1, 60_000);
    print_both(16, 150_000);
    print_both(64, 150_000);
}
