//! A small hand-written SVG line chart for the gossip scale table: a few
//! series over a log-scaled x axis (node count), side by side in panels.
//! Written by hand rather than with a plotting crate because the chart is
//! two panels of straight lines and the output must be a stable, diffable
//! text file checked into the repo.

use std::fmt::Write;

/// One line: a label, an SVG colour, dashed or not, and (x, y) points.
pub struct Series {
    pub label: String,
    pub colour: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// One chart: title, axis labels, whether y is logarithmic, its lines.
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub log_y: bool,
    pub series: Vec<Series>,
}

const PANEL_W: f64 = 520.0;
const PANEL_H: f64 = 380.0;
const MARGIN_L: f64 = 70.0;
const MARGIN_R: f64 = 20.0;
const MARGIN_T: f64 = 40.0;
const MARGIN_B: f64 = 130.0;

/// The panels side by side in one SVG document, x = node count (log 10).
pub fn render(panels: &[Panel], x_label: &str, caption: &str) -> String {
    assert!(!panels.is_empty(), "at least one panel");
    let width = PANEL_W * panels.len() as f64;
    let height = PANEL_H + 24.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut svg, panel, x_label, PANEL_W * i as f64);
    }
    let _ = writeln!(
        svg,
        r##"<text x="10" y="{:.0}" fill="#555">{}</text>"##,
        height - 8.0,
        escape(caption)
    );
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, panel: &Panel, x_label: &str, left: f64) {
    let points = panel.series.iter().flat_map(|s| s.points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    assert!(x_min > 0.0 && x_max >= x_min, "x is a positive node count");
    let (x0, x1) = (
        x_min.log10().floor(),
        x_max.log10().ceil().max(x_min.log10().floor() + 1.0),
    );
    let (y0, y1) = if panel.log_y {
        let lo = y_min.max(1e-3).log10().floor();
        (lo, y_max.max(1e-3).log10().ceil().max(lo + 1.0))
    } else {
        (0.0, nice_ceiling(y_max))
    };
    let plot_w = PANEL_W - MARGIN_L - MARGIN_R;
    let plot_h = PANEL_H - MARGIN_T - MARGIN_B;
    let sx = |x: f64| left + MARGIN_L + (x.log10() - x0) / (x1 - x0) * plot_w;
    let sy = |y: f64| {
        let v = if panel.log_y { y.max(1e-3).log10() } else { y };
        MARGIN_T + plot_h - (v - y0) / (y1 - y0) * plot_h
    };
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="22" font-size="14" font-weight="bold">{}</text>"#,
        left + MARGIN_L,
        escape(&panel.title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{:.1}" y="{MARGIN_T}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#999"/>"##,
        left + MARGIN_L
    );
    for decade in x0 as i32..=x1 as i32 {
        let x = sx(10f64.powi(decade));
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{MARGIN_T}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            MARGIN_T + plot_h,
            MARGIN_T + plot_h + 16.0,
            10u64.pow(decade as u32)
        );
    }
    for (value, label) in y_ticks(panel.log_y, y0, y1) {
        let y = sy(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            left + MARGIN_L,
            left + MARGIN_L + plot_w,
            left + MARGIN_L - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        left + MARGIN_L + plot_w / 2.0,
        MARGIN_T + plot_h + 34.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        left + 18.0,
        MARGIN_T + plot_h / 2.0,
        escape(&panel.y_label)
    );
    for (i, s) in panel.series.iter().enumerate() {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            path.join(" "),
            s.colour
        );
        for &(x, y) in &s.points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                sx(x),
                sy(y),
                s.colour
            );
        }
        let legend_y = MARGIN_T + plot_h + 54.0 + 16.0 * (i / 2) as f64;
        let legend_x = left + MARGIN_L + (i % 2) as f64 * plot_w / 2.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{legend_y:.1}">{}</text>"#,
            legend_y - 4.0,
            legend_x + 24.0,
            legend_y - 4.0,
            s.colour,
            legend_x + 30.0,
            escape(&s.label)
        );
    }
}

/// A round number at or above `v` (1, 2 or 5 times a power of ten).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

fn y_ticks(log_y: bool, y0: f64, y1: f64) -> Vec<(f64, String)> {
    if log_y {
        (y0 as i32..=y1 as i32)
            .map(|d| {
                let v = 10f64.powi(d);
                (v, format_tick(v))
            })
            .collect()
    } else {
        (0..=5)
            .map(|k| {
                let v = y1 * f64::from(k) / 5.0;
                (v, format_tick(v))
            })
            .collect()
    }
}

fn format_tick(v: f64) -> String {
    if v >= 1.0 && v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_drawn_with_its_legend_and_points() {
        let panel = Panel {
            title: "t".into(),
            y_label: "ms".into(),
            log_y: true,
            series: vec![Series {
                label: "a < b".into(),
                colour: "red",
                dashed: true,
                points: vec![(10.0, 1.0), (100.0, 20.0), (10_000.0, 300.0)],
            }],
        };
        let svg = render(&[panel], "nodes", "caption");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("a &lt; b") && svg.contains("10000"));
    }

    #[test]
    fn nice_ceilings_round_up_to_one_two_or_five() {
        assert_eq!(nice_ceiling(37.0), 50.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }
}
