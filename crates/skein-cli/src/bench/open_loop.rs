//! The open loop: request `i` is due at `start + i / rate`, whether or not
//! earlier requests were answered. At most `clients` are in flight; a due
//! request waits for a free client, and its latency counts from when it was
//! **due**, not from when it could be sent. That is the coordinated-omission
//! correction (Gil Tene; wrk2): a stall delays every request due during it,
//! and each of those delays shows in the histogram, as a real user's would.

use super::phase::Phase;
use super::workload::Workload;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// When request `i` is due at `rate_per_sec` requests per second from `start`.
pub fn due_at(start: Instant, i: u64, rate_per_sec: f64) -> Instant {
    assert!(rate_per_sec > 0.0);
    start + Duration::from_secs_f64(i as f64 / rate_per_sec)
}

/// Runs `phase` at `rate_per_sec`; returns the clients.
pub async fn run<W: Workload>(
    workload: &Arc<W>,
    clients: Vec<W::Client>,
    rate_per_sec: f64,
    phase: &Phase,
) -> Vec<W::Client> {
    let slots = clients.len();
    assert!(slots > 0);
    // Idle clients; bounded by their number, so never more than `slots` in flight.
    let (idle_tx, mut idle) = mpsc::channel(slots);
    for client in clients {
        idle_tx.try_send(client).expect("room for every client");
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..phase.requests_max {
        let due = due_at(start, i, rate_per_sec);
        if due >= phase.deadline || !phase.may_start(i) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let Some(mut client) = idle.recv().await else {
            break;
        };
        while tasks.try_join_next().is_some() {}
        let (workload, phase, idle_tx) = (workload.clone(), phase.clone(), idle_tx.clone());
        tasks.spawn(async move {
            let outcome = workload.call(&mut client, i).await;
            phase.record(due, &outcome);
            let _ = idle_tx.send(client).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    drop(idle_tx);
    let mut clients = Vec::with_capacity(slots);
    while let Ok(client) = idle.try_recv() {
        clients.push(client);
    }
    clients
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::recorder::Recorder;
    use crate::bench::{closed_loop, phase::Phase};
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;

    #[test]
    fn requests_are_due_on_a_fixed_schedule() {
        let start = Instant::now();
        assert_eq!(due_at(start, 0, 100.0), start);
        assert_eq!(
            due_at(start, 150, 100.0),
            start + Duration::from_millis(1_500)
        );
        // No drift from adding up rounded intervals.
        assert_eq!(
            due_at(start, 3_000_000, 3.0),
            start + Duration::from_secs(1_000_000)
        );
    }

    /// Answers at once, except request `stall_at`, which takes `stall`.
    struct Stalling {
        stall_at: u64,
        stall: Duration,
    }

    impl Workload for Stalling {
        type Client = ();
        fn client(&self, _index: usize) {}
        async fn call(&self, _client: &mut (), n: u64) -> Result<(), String> {
            if n == self.stall_at {
                tokio::time::sleep(self.stall).await;
            }
            Ok(())
        }
    }

    /// A synthetic schedule: 1,000 requests/s, one client, and one 200 ms
    /// stall. Every request due during the stall must show its wait: about
    /// 200 latencies from 200 ms down to 0 (200 × 100 ms on average). The
    /// closed loop over the same stall sees one slow request.
    #[tokio::test]
    async fn a_stall_shows_in_every_request_due_during_it() {
        let stall = Duration::from_millis(200);
        let workload = Arc::new(Stalling {
            stall_at: 20,
            stall,
        });
        let phase = |recorder: &Arc<Mutex<Recorder>>| Phase {
            recorder: Some(recorder.clone()),
            ..Phase::new(
                400,
                Duration::from_secs(10),
                Arc::new(AtomicBool::new(false)),
            )
        };
        let open = Arc::new(Mutex::new(Recorder::new(Instant::now())));
        let clients = run(&workload, vec![()], 1_000.0, &phase(&open)).await;
        assert_eq!(clients.len(), 1, "the client comes back");
        let closed = Arc::new(Mutex::new(Recorder::new(Instant::now())));
        closed_loop::run(&workload, vec![()], &phase(&closed)).await;

        let slow_us = 50_000;
        let open = open.lock().unwrap();
        let closed = closed.lock().unwrap();
        assert_eq!(open.ok, 400);
        assert_eq!(closed.ok, 400);
        let slow = |r: &Recorder| r.latency_us.count_between(slow_us, u64::MAX);
        assert_eq!(
            slow(&closed),
            1,
            "closed loop: only the stalled request is slow"
        );
        // Due 1 ms apart during a 200 ms stall: ~150 requests waited over 50 ms.
        // Generous bounds: a shared CI machine may add its own stalls.
        assert!(slow(&open) >= 100, "open loop: {} slow", slow(&open));
        assert!(open.latency_us.max() >= 190_000);
        assert!(open.latency_us.value_at_quantile(0.5) > closed.latency_us.value_at_quantile(0.5));
    }
}
