//! The closed loop: N clients, each sending its next request as soon as the
//! last one is answered. Latency counts from the actual send, so a slow
//! answer delays the requests behind it without showing in their latency
//! (coordinated omission); use the open loop for latency under a given load.

use super::phase::Phase;
use super::workload::Workload;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Runs `phase` with one task per client; returns the clients (their
/// connections stay open for the next phase).
pub async fn run<W: Workload>(
    workload: &Arc<W>,
    clients: Vec<W::Client>,
    phase: &Phase,
) -> Vec<W::Client> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for mut client in clients {
        let (workload, phase, next) = (workload.clone(), phase.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if !phase.may_start(n) {
                    break;
                }
                let sent = Instant::now();
                let outcome = workload.call(&mut client, n).await;
                phase.record(sent, &outcome);
            }
            client
        });
    }
    let mut clients = Vec::new();
    while let Some(done) = tasks.join_next().await {
        clients.push(done.expect("a bench client task does not panic"));
    }
    clients
}
