//! One phase of a run (prefill, warmup or the measured run): its bounds in
//! count and time, the stop flag Ctrl-C sets, and where results go.

use super::recorder::Recorder;
use indicatif::ProgressBar;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Phase {
    /// Requests to start at most.
    pub requests_max: u64,
    /// No request starts at or after this.
    pub deadline: Instant,
    /// Set on Ctrl-C: no new request starts.
    pub stop: Arc<AtomicBool>,
    /// None: an unmeasured phase.
    pub recorder: Option<Arc<Mutex<Recorder>>>,
    pub progress: ProgressBar,
}

impl Phase {
    pub fn new(requests_max: u64, duration: Duration, stop: Arc<AtomicBool>) -> Self {
        Self {
            requests_max,
            deadline: Instant::now() + duration,
            stop,
            recorder: None,
            progress: ProgressBar::hidden(),
        }
    }

    /// Whether request number `n` may start now.
    pub fn may_start(&self, n: u64) -> bool {
        n < self.requests_max
            && Instant::now() < self.deadline
            && !self.stop.load(Ordering::Relaxed)
    }

    /// Records a completed request whose latency counts from `since`.
    pub fn record(&self, since: Instant, outcome: &Result<(), String>) {
        let done = Instant::now();
        if let Some(recorder) = &self.recorder {
            let mut recorder = recorder.lock().expect("not poisoned");
            recorder.record(done, done.saturating_duration_since(since), outcome);
        }
        self.progress.inc(1);
    }
}
