//! `--plot FILE.svg`: throughput and latency (p50, p99) per second of the
//! run, as a small hand-written SVG with two stacked panels.

use super::report::{Report, WindowReport};
use skein_sim::plot::{render, Axis, Chart, Panel, Series};

pub fn svg(report: &Report) -> String {
    let w = plotted_windows(&report.windows);
    let x: Vec<f64> = w.iter().map(|w| w.end_secs).collect();
    let rate = |i: usize, w: &WindowReport| {
        let start = if i == 0 { 0.0 } else { x[i - 1] };
        w.ok as f64 / (w.end_secs - start).max(1e-3)
    };
    let line = |label: &str, colour, y: Vec<f64>| {
        Series::new(label, colour, x.iter().copied().zip(y)).without_markers()
    };
    let throughput = Panel {
        title: "throughput".into(),
        y: Axis::linear("ok/s"),
        series: vec![line(
            "ok/s",
            "#1f77b4",
            w.iter().enumerate().map(|(i, w)| rate(i, w)).collect(),
        )],
    };
    let latency = Panel {
        title: "latency".into(),
        y: Axis::linear("ms"),
        series: vec![
            line(
                "p50",
                "#2ca02c",
                w.iter().map(|w| w.p50_us as f64 / 1e3).collect(),
            ),
            line(
                "p99",
                "#d62728",
                w.iter().map(|w| w.p99_us as f64 / 1e3).collect(),
            ),
        ],
    };
    let mut chart = Chart::new(Axis::linear("seconds"), vec![throughput, latency]);
    chart.columns = 1;
    chart.plot_size = (710.0, 200.0);
    chart.title = Some(format!(
        "{} {}: {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms",
        report.service,
        report.op,
        report.throughput_ops_per_sec,
        report.latency_us.p50 as f64 / 1e3,
        report.latency_us.p99 as f64 / 1e3
    ));
    chart.subtitle = Some(fit(&report.command, SUBTITLE_CHARS_MAX));
    render(&chart)
}

/// Characters of the command line that fit beside the margins at 11 px
/// (the full command is in the text and JSON reports).
const SUBTITLE_CHARS_MAX: usize = 115;
/// A last window shorter than this holds too few requests for its rate and
/// percentiles to mean anything; it stays in the reports, not in the plot.
const LAST_WINDOW_SECS_MIN: f64 = 0.5;

fn plotted_windows(windows: &[WindowReport]) -> &[WindowReport] {
    match windows {
        [.., before, last] if last.end_secs - before.end_secs < LAST_WINDOW_SECS_MIN => {
            &windows[..windows.len() - 1]
        }
        _ => windows,
    }
}

fn fit(text: &str, chars_max: usize) -> String {
    if text.chars().count() <= chars_max {
        return text.to_string();
    }
    let kept: String = text.chars().take(chars_max.saturating_sub(1)).collect();
    kept + "…"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::recorder::Recorder;
    use crate::bench::report::Settings;
    use std::time::{Duration, Instant};

    fn report(seconds: u64) -> Report {
        let start = Instant::now();
        let mut r = Recorder::new(start);
        for i in 0..seconds * 10 {
            let done = start + Duration::from_millis(100 * i + 50);
            r.record(done, Duration::from_micros(500 + i * 10), &Ok(()));
        }
        let settings = Settings {
            command: "skein bench --api 'http://a:1' <&>".into(),
            service: "raft".into(),
            op: "put".into(),
            clients: 1,
            rate_per_sec: None,
            apis: vec![],
            stopped_by: "requests".into(),
        };
        Report::new(settings, &r)
    }

    /// Well-formed enough for any XML reader: one root, every tag closed,
    /// text escaped, and the lines we promise are there.
    #[test]
    fn the_svg_is_well_formed() {
        for seconds in [0, 1, 5] {
            let svg = svg(&report(seconds));
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
            assert!(svg.trim_end().ends_with("</svg>"));
            assert_eq!(svg.matches("<svg").count(), 1);
            assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
            assert_eq!(svg.matches("<polyline").count(), 3);
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(svg.contains("&lt;&amp;&gt;") && !svg.contains("<&>"));
            // Every element is self-closed or closed: tags balance.
            let opens = svg.matches('<').count();
            let closes = svg.matches("/>").count() + svg.matches("</").count() * 2;
            assert_eq!(opens, closes, "{svg}");
        }
    }

    #[test]
    fn a_short_last_window_is_left_out_and_long_commands_fit() {
        let mut r = report(3);
        let mut tail = r.windows[2].clone();
        tail.end_secs = r.windows[2].end_secs + 0.01;
        r.windows.push(tail);
        assert_eq!(plotted_windows(&r.windows).len(), 3);
        assert_eq!(
            plotted_windows(&r.windows[..3]).len(),
            3,
            "full windows stay"
        );
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
