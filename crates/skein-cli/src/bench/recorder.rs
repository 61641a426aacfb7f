//! What a run measured: one latency histogram, per-window counts for the
//! plot, errors by kind, and mean latency by request number.
//!
//! Latencies are in microseconds. The drivers decide what a latency is
//! (closed loop: from send; open loop: from the intended send), the recorder
//! only counts.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The largest latency recorded exactly; longer ones count as this.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;
/// The width of one time window of the plot and the JSON time series.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Windows kept (the duration cap is 3,600 s); later completions count in the last.
pub const WINDOWS_MAX: usize = 3_700;
/// Requests per block of the by-request-number series.
pub const BLOCK_REQUESTS: u64 = 10;
/// Blocks kept: the first 10,000 requests.
pub const BLOCKS_MAX: usize = 1_000;
/// Distinct error kinds kept; the rest count as `other`.
pub const ERROR_KINDS_MAX: usize = 64;

/// One time window: completions in it and their latencies (2 significant figures).
pub struct Window {
    pub ok: u64,
    pub errors: u64,
    pub latency_us: Histogram<u32>,
}

pub struct Recorder {
    /// When measurement began: the origin of the windows.
    pub start: Instant,
    /// When the last measured request completed.
    pub last_done: Instant,
    pub ok: u64,
    pub latency_us: Histogram<u64>,
    pub windows: Vec<Window>,
    pub errors: BTreeMap<String, u64>,
    /// (sum of latencies in µs, count) per block of [`BLOCK_REQUESTS`] completions.
    pub blocks: Vec<(u64, u64)>,
}

impl Recorder {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            last_done: start,
            ok: 0,
            latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid bounds"),
            windows: Vec::new(),
            errors: BTreeMap::new(),
            blocks: Vec::new(),
        }
    }

    /// Records one completed request: `Ok` or the kind of its error.
    pub fn record(&mut self, done: Instant, latency: Duration, outcome: &Result<(), String>) {
        let latency_us = (latency.as_micros() as u64).clamp(1, LATENCY_US_MAX);
        self.last_done = self.last_done.max(done);
        let window = self.window_index(done);
        match outcome {
            Ok(()) => {
                self.ok += 1;
                self.latency_us.saturating_record(latency_us);
                self.windows[window].ok += 1;
                self.windows[window]
                    .latency_us
                    .saturating_record(latency_us);
                self.record_block(latency_us);
            }
            Err(kind) => {
                self.windows[window].errors += 1;
                let known = self.errors.len() < ERROR_KINDS_MAX || self.errors.contains_key(kind);
                let kind = if known { kind.as_str() } else { "other" };
                *self.errors.entry(kind.to_string()).or_default() += 1;
            }
        }
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The index of the window `done` falls in, creating windows up to it.
    fn window_index(&mut self, done: Instant) -> usize {
        let at = done.saturating_duration_since(self.start);
        let index = ((at.as_nanos() / WINDOW.as_nanos()) as usize).min(WINDOWS_MAX - 1);
        while self.windows.len() <= index {
            self.windows.push(Window {
                ok: 0,
                errors: 0,
                latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, 2).expect("valid bounds"),
            });
        }
        index
    }

    fn record_block(&mut self, latency_us: u64) {
        let block = (self.ok - 1) / BLOCK_REQUESTS;
        if block as usize >= BLOCKS_MAX {
            return;
        }
        if self.blocks.len() <= block as usize {
            self.blocks.push((0, 0));
        }
        let (sum, count) = self.blocks.last_mut().expect("pushed");
        *sum += latency_us;
        *count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_windows_blocks_and_errors() {
        let start = Instant::now();
        let mut r = Recorder::new(start);
        for i in 0..25u64 {
            let done = start + Duration::from_millis(100 * i);
            r.record(done, Duration::from_millis(i + 1), &Ok(()));
        }
        r.record(start, Duration::from_secs(1), &Err("timeout".into()));
        r.record(start, Duration::from_secs(1), &Err("timeout".into()));
        assert_eq!(r.ok, 25);
        assert_eq!(r.errors_total(), 2);
        assert_eq!(r.errors["timeout"], 2);
        // 25 completions 100 ms apart: windows of 10, 10 and 5 (+2 errors in the first).
        let oks: Vec<u64> = r.windows.iter().map(|w| w.ok).collect();
        assert_eq!(oks, [10, 10, 5]);
        assert_eq!(r.windows[0].errors, 2);
        // Blocks of 10: the mean latency of requests 1-10 is 5.5 ms.
        assert_eq!(r.blocks.len(), 3);
        assert_eq!(r.blocks[0], (55_000, 10));
        assert_eq!(r.blocks[2].1, 5);
        assert_eq!(r.last_done, start + Duration::from_millis(2_400));
    }

    #[test]
    fn limits_hold() {
        let start = Instant::now();
        let mut r = Recorder::new(start);
        r.record(
            start + Duration::from_secs(100_000),
            Duration::ZERO,
            &Ok(()),
        );
        assert_eq!(r.windows.len(), WINDOWS_MAX);
        r.record(start, Duration::from_secs(1 << 40), &Ok(()));
        assert!(r.latency_us.max() >= LATENCY_US_MAX);
        for i in 0..ERROR_KINDS_MAX + 5 {
            r.record(start, Duration::ZERO, &Err(format!("kind {i}")));
        }
        assert_eq!(r.errors.len(), ERROR_KINDS_MAX + 1);
        assert_eq!(r.errors["other"], 5);
    }
}
