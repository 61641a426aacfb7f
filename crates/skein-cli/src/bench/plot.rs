//! `--plot FILE.svg`: throughput and latency (p50, p99) per second of the
//! run, as a small hand-written SVG with two stacked panels.

use super::report::{Report, WindowReport};
use std::fmt::Write as _;

const WIDTH: f64 = 800.0;
const PANEL_HEIGHT: f64 = 220.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_TOP: f64 = 60.0;
const PANEL_GAP: f64 = 50.0;

/// One line of a panel: its legend, colour, and y value per window.
struct Series<'a> {
    label: &'a str,
    colour: &'a str,
    y: Vec<f64>,
}

pub fn svg(report: &Report) -> String {
    let height = MARGIN_TOP + 2.0 * PANEL_HEIGHT + PANEL_GAP + 40.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = format!(
        "{} {}: {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms",
        report.service,
        report.op,
        report.throughput_ops_per_sec,
        report.latency_us.p50 as f64 / 1e3,
        report.latency_us.p99 as f64 / 1e3
    );
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN_LEFT}" y="20" font-size="14">{}</text>"#,
        escape(&title)
    );
    let _ = writeln!(
        out,
        r##"<text x="{MARGIN_LEFT}" y="34" fill="#666" font-size="11">{}</text>"##,
        escape(&fit(&report.command, SUBTITLE_CHARS_MAX))
    );
    let w = plotted_windows(&report.windows);
    let x: Vec<f64> = w.iter().map(|w| w.end_secs).collect();
    let rate = |w: &WindowReport, i: usize| {
        let start = if i == 0 { 0.0 } else { x[i - 1] };
        w.ok as f64 / (w.end_secs - start).max(1e-3)
    };
    let throughput = Series {
        label: "ok/s",
        colour: "#1f77b4",
        y: w.iter().enumerate().map(|(i, w)| rate(w, i)).collect(),
    };
    panel(&mut out, MARGIN_TOP, "throughput (ok/s)", &x, &[throughput]);
    let p50 = Series {
        label: "p50",
        colour: "#2ca02c",
        y: w.iter().map(|w| w.p50_us as f64 / 1e3).collect(),
    };
    let p99 = Series {
        label: "p99",
        colour: "#d62728",
        y: w.iter().map(|w| w.p99_us as f64 / 1e3).collect(),
    };
    let top = MARGIN_TOP + PANEL_HEIGHT + PANEL_GAP;
    panel(&mut out, top, "latency (ms)", &x, &[p50, p99]);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds</text>"#,
        MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2.0,
        top + PANEL_HEIGHT + 32.0
    );
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, top: f64, title: &str, x: &[f64], series: &[Series]) {
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let x_max = x.iter().copied().fold(1e-3, f64::max);
    let y_max = series
        .iter()
        .flat_map(|s| s.y.iter().copied())
        .fold(1e-3, f64::max)
        * 1.1;
    let bottom = top + PANEL_HEIGHT;
    let _ = writeln!(
        out,
        r##"<rect x="{MARGIN_LEFT}" y="{top}" width="{plot_width}" height="{PANEL_HEIGHT}" fill="none" stroke="#999"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN_LEFT}" y="{}">{title}</text>"#,
        top - 6.0
    );
    for (value, y) in [
        (y_max, top),
        (y_max / 2.0, top + PANEL_HEIGHT / 2.0),
        (0.0, bottom),
    ] {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            MARGIN_LEFT - 6.0,
            y + 4.0,
            short(value)
        );
    }
    for (value, at) in [(0.0, MARGIN_LEFT), (x_max, MARGIN_LEFT + plot_width)] {
        let _ = writeln!(
            out,
            r#"<text x="{at}" y="{}" text-anchor="middle">{}</text>"#,
            bottom + 16.0,
            short(value)
        );
    }
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = x
            .iter()
            .zip(&s.y)
            .map(|(x, y)| {
                let px = MARGIN_LEFT + x / x_max * plot_width;
                let py = bottom - y / y_max * PANEL_HEIGHT;
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            s.colour,
            points.join(" ")
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" fill="{}">{}</text>"#,
            MARGIN_LEFT + plot_width - 40.0 * (series.len() - k) as f64,
            top - 6.0,
            s.colour,
            s.label
        );
    }
}

/// A compact axis label: `12.5`, `1200`, `35k`.
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

fn short(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.0}k", value / 1e3)
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

    #[test]
    fn labels_are_short() {
        assert_eq!(short(12.345), "12.3");
        assert_eq!(short(1234.0), "1234");
        assert_eq!(short(35_000.0), "35k");
    }
}
