//! Virtual time. The simulator counts whole microseconds from the start of a
//! run; each node reads its own, possibly drifting, local clock.

use std::time::Duration;

/// Parts per million of a clock rate; 1,000,000 ppm would double the rate.
pub const DRIFT_PPM_MAX: i32 = 500_000;
const PPM: i128 = 1_000_000;

/// Converts a duration to whole microseconds, saturating.
pub fn to_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A node's local clock. It restarts at zero when the node (re)starts, because
/// `Context::now` is "time since the driver started it", and runs at
/// `(1e6 + drift_ppm) / 1e6` times the speed of virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeClock {
    anchor_global_us: u64,
    anchor_local_us: u64,
    drift_ppm: i32,
}

impl NodeClock {
    pub fn started_at(global_us: u64, drift_ppm: i32) -> Self {
        assert!(drift_ppm.abs() <= DRIFT_PPM_MAX, "drift {drift_ppm} ppm");
        Self {
            anchor_global_us: global_us,
            anchor_local_us: 0,
            drift_ppm,
        }
    }

    pub fn drift_ppm(&self) -> i32 {
        self.drift_ppm
    }

    pub fn local_us(&self, global_us: u64) -> u64 {
        let elapsed = i128::from(global_us.saturating_sub(self.anchor_global_us));
        let scaled = elapsed * (PPM + i128::from(self.drift_ppm)) / PPM;
        self.anchor_local_us + scaled as u64
    }

    /// Changes the rate from now on; local time stays continuous.
    pub fn set_drift(&mut self, global_us: u64, drift_ppm: i32) {
        assert!(drift_ppm.abs() <= DRIFT_PPM_MAX, "drift {drift_ppm} ppm");
        self.anchor_local_us = self.local_us(global_us);
        self.anchor_global_us = global_us;
        self.drift_ppm = drift_ppm;
    }

    /// How much virtual time passes while this clock advances `local_us`.
    /// At least 1 µs, so a zero-length timer still lets time move on.
    pub fn global_delay_us(&self, local_us: u64) -> u64 {
        let global = i128::from(local_us) * PPM / (PPM + i128::from(self.drift_ppm));
        (global as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_clock_runs_ahead_and_stays_continuous() {
        let mut clock = NodeClock::started_at(1_000, 0);
        assert_eq!(clock.local_us(2_000), 1_000);
        clock.set_drift(2_000, 100_000); // 10% fast
        assert_eq!(clock.local_us(2_000), 1_000);
        assert_eq!(clock.local_us(12_000), 12_000);
        assert_eq!(clock.global_delay_us(11_000), 10_000);
    }
}
