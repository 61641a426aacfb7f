//! bftlist request latency in virtual time on the simulator's network
//! (2–25 ms one-way, mean 10 ms; no faults): printed, never asserted on
//! time. See the figures with
//!
//! ```text
//! cargo test --release -p skein-sim --test bftlist_latency -- --nocapture
//! ```

use skein_sim::services::bftlist::latency;
use skein_sim::services::RunOptions;

fn options(clients: u32, steps: u64) -> RunOptions {
    let mut o = RunOptions::new("bftlist");
    o.clients = clients;
    o.steps = steps;
    o
}

/// One client and sixteen: every request completes, and the figures print.
#[test]
fn request_latency_is_printed() {
    for clients in [1, 16] {
        let s = latency::measure(&options(clients, 40_000)).unwrap();
        println!("bftlist latency, n = 6, {s}");
        assert!(s.ops_ok > 0, "no request completed: {s}");
    }
}
