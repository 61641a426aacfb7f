//! What one directed link does to a message: delay, loss, duplication,
//! reordering, and (for streams) connection resets.

use crate::SimError;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Behaviour of a directed link. Datagrams suffer loss, duplication and
/// reordering; streams are FIFO and lose messages only when their connection
/// breaks (partition, crash, reset, full buffer), like TCP across reconnects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    pub latency_min_us: u64,
    pub latency_mean_us: u64,
    /// Latency is drawn uniformly from `mean ± jitter`, then clamped to `min`.
    pub latency_jitter_us: u64,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    /// A reordered datagram is held back by up to four mean latencies extra.
    pub reorder_probability: f64,
    /// Chance that sending on a stream breaks its connection, dropping what is in flight.
    pub stream_reset_probability: f64,
}

impl Default for LinkConfig {
    /// A healthy LAN: 1 ms ± 0.5 ms, nothing lost.
    fn default() -> Self {
        Self {
            latency_min_us: 200,
            latency_mean_us: 1_000,
            latency_jitter_us: 500,
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            reorder_probability: 0.0,
            stream_reset_probability: 0.0,
        }
    }
}

impl LinkConfig {
    /// The bad network the `network` fault switches on for a while.
    pub fn chaotic() -> Self {
        Self {
            latency_min_us: 500,
            latency_mean_us: 5_000,
            latency_jitter_us: 4_500,
            loss_probability: 0.1,
            duplicate_probability: 0.05,
            reorder_probability: 0.2,
            stream_reset_probability: 0.01,
        }
    }

    pub fn validate(&self) -> Result<(), SimError> {
        let probabilities = [
            self.loss_probability,
            self.duplicate_probability,
            self.reorder_probability,
            self.stream_reset_probability,
        ];
        if probabilities.iter().any(|p| !(0.0..=1.0).contains(p)) {
            return Err(SimError::Invalid(
                "link probabilities must lie in 0..=1".into(),
            ));
        }
        if self.latency_min_us > self.latency_mean_us + self.latency_jitter_us {
            return Err(SimError::Invalid(
                "latency_min_us exceeds the largest latency".into(),
            ));
        }
        Ok(())
    }

    pub fn sample_latency_us(&self, rng: &mut ChaCha8Rng) -> u64 {
        let low = self.latency_mean_us.saturating_sub(self.latency_jitter_us);
        let high = self.latency_mean_us + self.latency_jitter_us;
        let drawn = if high > low {
            rng.random_range(low..=high)
        } else {
            low
        };
        drawn.max(self.latency_min_us).max(1)
    }

    pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
        // No draw at all for the common p = 0 keeps healthy runs cheap.
        p > 0.0 && rng.random_bool(p)
    }
}
