//! The report: what `skein bench` prints and writes with `--json`.

use super::recorder::{Recorder, BLOCK_REQUESTS, WINDOW};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The command line that produced this report.
    pub command: String,
    pub service: String,
    pub op: String,
    /// `closed` (N clients back to back) or `open` (fixed rate, latency from the due time).
    pub mode: String,
    pub clients: usize,
    pub rate_per_sec: Option<f64>,
    pub apis: Vec<String>,
    /// Why the run ended: `requests`, `duration` or `interrupted`.
    pub stopped_by: String,
    pub ok: u64,
    pub errors_total: u64,
    pub errors: BTreeMap<String, u64>,
    /// From the start of measurement to the last completion.
    pub elapsed_secs: f64,
    pub throughput_ops_per_sec: f64,
    pub latency_us: Latency,
    /// One entry per second of the run.
    pub windows: Vec<WindowReport>,
    /// Mean latency of requests 1–10, 11–20, … in completion order (first 10,000).
    pub latency_mean_us_by_block_of_10: Vec<u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub min: u64,
    pub mean: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WindowReport {
    /// Seconds from the start of measurement to the end of the window.
    pub end_secs: f64,
    pub ok: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// The settings a report describes, apart from what was measured.
pub struct Settings {
    pub command: String,
    pub service: String,
    pub op: String,
    pub clients: usize,
    pub rate_per_sec: Option<f64>,
    pub apis: Vec<String>,
    pub stopped_by: String,
}

impl Report {
    pub fn new(settings: Settings, recorder: &Recorder) -> Self {
        let elapsed = recorder.last_done.saturating_duration_since(recorder.start);
        let elapsed_secs = elapsed.as_secs_f64();
        let throughput = if elapsed_secs > 0.0 {
            recorder.ok as f64 / elapsed_secs
        } else {
            0.0
        };
        let h = &recorder.latency_us;
        let latency = if recorder.ok == 0 {
            Latency::default()
        } else {
            Latency {
                min: h.min(),
                mean: h.mean().round() as u64,
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
                p999: h.value_at_quantile(0.999),
                max: h.max(),
            }
        };
        let windows = recorder
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| WindowReport {
                end_secs: ((i + 1) as f64 * WINDOW.as_secs_f64()).min(elapsed_secs.max(0.001)),
                ok: w.ok,
                errors: w.errors,
                p50_us: if w.ok > 0 {
                    w.latency_us.value_at_quantile(0.5)
                } else {
                    0
                },
                p99_us: if w.ok > 0 {
                    w.latency_us.value_at_quantile(0.99)
                } else {
                    0
                },
            })
            .collect();
        debug_assert_eq!(BLOCK_REQUESTS, 10, "the JSON field names the block size");
        Self {
            command: settings.command,
            service: settings.service,
            op: settings.op,
            mode: if settings.rate_per_sec.is_some() {
                "open"
            } else {
                "closed"
            }
            .into(),
            clients: settings.clients,
            rate_per_sec: settings.rate_per_sec,
            apis: settings.apis,
            stopped_by: settings.stopped_by,
            ok: recorder.ok,
            errors_total: recorder.errors_total(),
            errors: recorder.errors.clone(),
            elapsed_secs,
            throughput_ops_per_sec: throughput,
            latency_us: latency,
            windows,
            latency_mean_us_by_block_of_10: recorder
                .blocks
                .iter()
                .map(|(sum, count)| sum / (*count).max(1))
                .collect(),
        }
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let load = match self.rate_per_sec {
            Some(rate) => format!(
                "open loop at {rate} req/s, up to {} in flight",
                self.clients
            ),
            None => format!("closed loop, {} clients", self.clients),
        };
        let _ = writeln!(
            out,
            "skein bench: {} {}, {load}, {} nodes (stopped by {})",
            self.service,
            self.op,
            self.apis.len(),
            self.stopped_by
        );
        let _ = writeln!(
            out,
            "  requests    {} ok, {} errors in {:.2} s: {:.0} ops/s",
            self.ok, self.errors_total, self.elapsed_secs, self.throughput_ops_per_sec
        );
        let l = &self.latency_us;
        let _ = writeln!(
            out,
            "  latency     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max)
        );
        for (kind, count) in &self.errors {
            let _ = writeln!(out, "  error       {kind}: {count}");
        }
        let _ = writeln!(out, "  command     {}", self.command);
        out
    }
}

/// Microseconds as milliseconds with two decimals, e.g. `1.25 ms`.
pub fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1_000.0)
}

/// The command line as typed, quoted where a shell would need it.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    let words: Vec<String> = args
        .into_iter()
        .enumerate()
        .map(|(i, word)| {
            let word = if i == 0 { program_name(&word) } else { word };
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./,:=@%+".contains(c));
            if plain {
                word
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect();
    words.join(" ")
}

/// `skein` rather than `/long/path/target/release/skein`.
fn program_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn settings() -> Settings {
        Settings {
            command: "skein bench".into(),
            service: "raft".into(),
            op: "put".into(),
            clients: 4,
            rate_per_sec: None,
            apis: vec!["http://127.0.0.1:4001".into()],
            stopped_by: "requests".into(),
        }
    }

    #[test]
    fn percentiles_throughput_and_windows() {
        let start = Instant::now();
        let mut r = Recorder::new(start);
        // 1,000 requests with latencies 1..=1000 ms, completing over 2 s.
        for i in 1..=1_000u64 {
            r.record(
                start + Duration::from_millis(2 * i),
                Duration::from_millis(i),
                &Ok(()),
            );
        }
        r.record(start, Duration::ZERO, &Err("503 no_leader".into()));
        let report = Report::new(settings(), &r);
        assert_eq!(report.ok, 1_000);
        assert_eq!(report.errors_total, 1);
        assert!((report.throughput_ops_per_sec - 500.0).abs() < 0.01);
        let l = &report.latency_us;
        let near =
            |got: u64, want_ms: u64| (got as f64 - want_ms as f64 * 1e3).abs() <= want_ms as f64; // 0.1%
        assert!(near(l.p50, 500), "{l:?}");
        assert!(near(l.p90, 900), "{l:?}");
        assert!(near(l.p99, 990), "{l:?}");
        assert!(near(l.p999, 999), "{l:?}");
        assert!(near(l.max, 1_000), "{l:?}");
        assert!(l.min <= l.p50 && l.p50 <= l.p90 && l.p99 <= l.p999 && l.p999 <= l.max);
        assert_eq!(report.windows.len(), 3);
        assert_eq!(report.windows[0].ok, 499);
        assert_eq!(report.windows[2].end_secs, 2.0);
        assert_eq!(report.latency_mean_us_by_block_of_10[0], 5_500);
        let text = report.text();
        assert!(
            text.contains("1000 ok, 1 errors in 2.00 s: 500 ops/s"),
            "{text}"
        );
        assert!(text.contains("503 no_leader: 1"), "{text}");
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["latency_us"]["p50"], l.p50);
        assert_eq!(json["mode"], "closed");
    }

    #[test]
    fn an_empty_run_reports_zeroes() {
        let report = Report::new(settings(), &Recorder::new(Instant::now()));
        assert_eq!((report.ok, report.throughput_ops_per_sec), (0, 0.0));
        assert_eq!(report.latency_us.max, 0);
    }

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        let args = [
            "/x/target/release/skein",
            "bench",
            "--api",
            "http://a:1,http://b:2",
            "it's",
        ];
        assert_eq!(
            command_line(args.map(String::from)),
            r"skein bench --api http://a:1,http://b:2 'it'\''s'"
        );
    }
}
