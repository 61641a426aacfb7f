//! Line charts as SVG text, for the figures skein writes to files: the
//! simulator's scale tables (`docs/*.svg`) and `skein bench --plot`.
//!
//! Written by hand rather than with a plotting crate: the charts are
//! straight lines, points and axes, and the output must be stable,
//! diffable text that can be checked into the repo. One renderer serves
//! every figure so that they share axes, ticks, legends and escaping.

use std::fmt::Write;

/// How an axis maps values to positions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// From zero (or the smallest value, if negative) to a round maximum.
    Linear,
    /// Logarithmic in this base, with a tick at each of its powers.
    Log(f64),
}

#[derive(Clone, Debug)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
}

impl Axis {
    pub fn linear(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Linear,
        }
    }

    pub fn log(label: impl Into<String>, base: f64) -> Self {
        assert!(base > 1.0, "a log axis needs a base above 1");
        Self {
            label: label.into(),
            scale: Scale::Log(base),
        }
    }
}

/// What is drawn at a data point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    None,
    Circle,
    Square,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub marker: Marker,
}

/// One line: its legend, SVG colour, dash pattern and points.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub colour: &'static str,
    /// An SVG `stroke-dasharray`, e.g. `"6,4"`; solid when `None`.
    pub dash: Option<&'static str>,
    pub points: Vec<Point>,
}

impl Series {
    /// A solid line with a circle at each point.
    pub fn new(
        label: impl Into<String>,
        colour: &'static str,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        Self {
            label: label.into(),
            colour,
            dash: None,
            points: points
                .into_iter()
                .map(|(x, y)| Point {
                    x,
                    y,
                    marker: Marker::Circle,
                })
                .collect(),
        }
    }

    pub fn dashed(mut self, pattern: &'static str) -> Self {
        self.dash = Some(pattern);
        self
    }

    pub fn without_markers(mut self) -> Self {
        for p in &mut self.points {
            p.marker = Marker::None;
        }
        self
    }
}

/// One plot area: a title, its y axis and its lines.
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub y: Axis,
    pub series: Vec<Series>,
}

/// Panels sharing one x axis, laid out `columns` to a row, with an optional
/// heading (title and a smaller subtitle) and a caption at the bottom.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: Option<String>,
    pub subtitle: Option<String>,
    pub caption: Option<String>,
    pub x: Axis,
    pub panels: Vec<Panel>,
    pub columns: usize,
    /// Width and height of one panel's plot area, in pixels.
    pub plot_size: (f64, f64),
}

impl Chart {
    /// Panels side by side, 430 × 210 px each, no heading or caption.
    pub fn new(x: Axis, panels: Vec<Panel>) -> Self {
        let columns = panels.len().max(1);
        Self {
            title: None,
            subtitle: None,
            caption: None,
            x,
            panels,
            columns,
            plot_size: (430.0, 210.0),
        }
    }
}

const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 20.0;
/// Above each plot area: the panel's title.
const PANEL_TOP: f64 = 30.0;
/// Below each plot area: tick labels and the x axis label.
const AXIS_BELOW: f64 = 44.0;
const LEGEND_ROW: f64 = 16.0;
const LEGEND_COLUMNS: usize = 2;
const TITLE_HEIGHT: f64 = 26.0;
const SUBTITLE_HEIGHT: f64 = 16.0;
const CAPTION_HEIGHT: f64 = 24.0;

/// The chart as a complete SVG document.
pub fn render(chart: &Chart) -> String {
    assert!(chart.columns > 0, "a chart has at least one column");
    let rows = chart.panels.len().div_ceil(chart.columns).max(1);
    let legend_rows = chart
        .panels
        .iter()
        .map(|p| p.series.len().div_ceil(LEGEND_COLUMNS))
        .max()
        .unwrap_or(0);
    let (plot_w, plot_h) = chart.plot_size;
    let cell_w = MARGIN_LEFT + plot_w + MARGIN_RIGHT;
    let cell_h = PANEL_TOP + plot_h + AXIS_BELOW + LEGEND_ROW * legend_rows as f64 + 8.0;
    let mut heading = 0.0;
    if chart.title.is_some() {
        heading += TITLE_HEIGHT;
    }
    if chart.subtitle.is_some() {
        heading += SUBTITLE_HEIGHT;
    }
    let footer = if chart.caption.is_some() {
        CAPTION_HEIGHT
    } else {
        0.0
    };
    let width = cell_w * chart.columns.min(chart.panels.len().max(1)) as f64;
    let height = heading + cell_h * rows as f64 + footer;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    if let Some(title) = &chart.title {
        let _ = writeln!(
            svg,
            r#"<text x="{MARGIN_LEFT}" y="18" font-size="14" font-weight="bold">{}</text>"#,
            escape(title)
        );
    }
    if let Some(subtitle) = &chart.subtitle {
        let _ = writeln!(
            svg,
            r##"<text x="{MARGIN_LEFT}" y="{:.0}" font-size="11" fill="#666">{}</text>"##,
            heading - 4.0,
            escape(subtitle)
        );
    }
    for (i, panel) in chart.panels.iter().enumerate() {
        let left = cell_w * (i % chart.columns) as f64;
        let top = heading + cell_h * (i / chart.columns) as f64;
        draw_panel(&mut svg, chart, panel, left, top);
    }
    if let Some(caption) = &chart.caption {
        let _ = writeln!(
            svg,
            r##"<text x="10" y="{:.0}" fill="#555">{}</text>"##,
            height - 8.0,
            escape(caption)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Where an axis starts and ends (in scaled units: log of the value on a
/// log axis), and its ticks as (value, label).
struct Range {
    scale: Scale,
    lo: f64,
    hi: f64,
}

impl Range {
    fn of(scale: Scale, values: impl Iterator<Item = f64>) -> Self {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            let v = match scale {
                Scale::Linear => v,
                Scale::Log(_) if v > 0.0 => v,
                // Zero or less has no logarithm: such a point sits on the
                // axis floor rather than vanishing.
                Scale::Log(_) => continue,
            };
            min = min.min(v);
            max = max.max(v);
        }
        match scale {
            Scale::Linear => {
                let lo = if min.is_finite() { min.min(0.0) } else { 0.0 };
                let hi = if max.is_finite() { max } else { 1.0 };
                let hi = nice_ceiling(hi.max(lo + f64::EPSILON));
                Self { scale, lo, hi }
            }
            Scale::Log(base) => {
                let log = |v: f64| v.ln() / base.ln();
                let (min, max) = if min.is_finite() {
                    (min, max)
                } else {
                    (1.0, base)
                };
                // The epsilon keeps an exact power (1000 in base 10, 8 in
                // base 2) from landing one decade off through rounding.
                let lo = (log(min) + 1e-9).floor();
                let hi = (log(max) - 1e-9).ceil().max(lo + 1.0);
                Self { scale, lo, hi }
            }
        }
    }

    /// The value's position in [0, 1] along the axis.
    fn fraction(&self, v: f64) -> f64 {
        let scaled = match self.scale {
            Scale::Linear => v,
            Scale::Log(base) => {
                if v > 0.0 {
                    v.ln() / base.ln()
                } else {
                    self.lo
                }
            }
        };
        ((scaled - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match self.scale {
            Scale::Linear => (0..=5)
                .map(|k| {
                    let v = self.lo + (self.hi - self.lo) * f64::from(k) / 5.0;
                    (v, tick_label(v))
                })
                .collect(),
            Scale::Log(base) => (self.lo as i32..=self.hi as i32)
                .map(|k| {
                    let v = base.powi(k);
                    (v, tick_label(v))
                })
                .collect(),
        }
    }
}

fn draw_panel(svg: &mut String, chart: &Chart, panel: &Panel, left: f64, top: f64) {
    let (plot_w, plot_h) = chart.plot_size;
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let xr = Range::of(chart.x.scale, points().map(|p| p.x));
    let yr = Range::of(panel.y.scale, points().map(|p| p.y));
    let x0 = left + MARGIN_LEFT;
    let y0 = top + PANEL_TOP;
    let bottom = y0 + plot_h;
    let sx = |x: f64| x0 + xr.fraction(x) * plot_w;
    let sy = |y: f64| bottom - yr.fraction(y) * plot_h;
    let _ = writeln!(
        svg,
        r#"<text x="{x0:.1}" y="{:.1}" font-size="13" font-weight="bold">{}</text>"#,
        y0 - 10.0,
        escape(&panel.title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{x0:.1}" y="{y0:.1}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#999"/>"##
    );
    for (value, label) in xr.ticks() {
        let x = sx(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            bottom + 16.0
        );
    }
    for (value, label) in yr.ticks() {
        let y = sy(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            x0 + plot_w,
            x0 - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        x0 + plot_w / 2.0,
        bottom + 34.0,
        escape(&chart.x.label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        left + 16.0,
        y0 + plot_h / 2.0,
        escape(&panel.y.label)
    );
    for (i, s) in panel.series.iter().enumerate() {
        let dash = s
            .dash
            .map(|d| format!(r#" stroke-dasharray="{d}""#))
            .unwrap_or_default();
        let path: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p.x), sy(p.y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            path.join(" "),
            s.colour
        );
        for p in &s.points {
            let (x, y) = (sx(p.x), sy(p.y));
            let _ = match p.marker {
                Marker::None => Ok(()),
                Marker::Circle => writeln!(
                    svg,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{}"/>"#,
                    s.colour
                ),
                Marker::Square => writeln!(
                    svg,
                    r#"<rect x="{:.1}" y="{:.1}" width="6" height="6" fill="{}"/>"#,
                    x - 3.0,
                    y - 3.0,
                    s.colour
                ),
            };
        }
        let legend_y = bottom + AXIS_BELOW + 12.0 + LEGEND_ROW * (i / LEGEND_COLUMNS) as f64;
        let legend_x = x0 + (i % LEGEND_COLUMNS) as f64 * plot_w / LEGEND_COLUMNS as f64;
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
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * power)
}

/// A compact tick label: `0.25`, `12.5`, `1200`, `35k`, `2M`.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    let trimmed = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if a >= 1e6 {
        trimmed(format!("{:.1}", v / 1e6)) + "M"
    } else if a >= 1e4 {
        trimmed(format!("{:.1}", v / 1e3)) + "k"
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        trimmed(format!("{v:.1}"))
    } else {
        trimmed(format!("{v:.3}"))
    }
}

/// Escapes text for SVG element content and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(scale: Scale, points: Vec<(f64, f64)>) -> Chart {
        let series = vec![
            Series::new("a < b", "red", points.clone()).dashed("6,4"),
            Series::new("plain", "blue", points).without_markers(),
        ];
        let mut c = Chart::new(
            Axis {
                label: "nodes".into(),
                scale,
            },
            vec![Panel {
                title: "t".into(),
                y: Axis::log("ms", 10.0),
                series,
            }],
        );
        c.title = Some("title \"q\"".into());
        c.caption = Some("caption".into());
        c
    }

    /// One root, every element closed, text escaped, no NaN: well-formed
    /// enough for any XML reader.
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        let opens = svg.matches('<').count();
        let closes = svg.matches("/>").count() + svg.matches("</").count() * 2;
        assert_eq!(opens, closes, "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn every_series_is_drawn_with_its_legend_markers_and_dashes() {
        let points = vec![(10.0, 1.0), (100.0, 20.0), (10_000.0, 300.0)];
        let svg = render(&chart(Scale::Log(10.0), points));
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 3, "markers of one line");
        assert_eq!(svg.matches(r#"stroke-dasharray="6,4""#).count(), 2);
        assert!(svg.contains("a &lt; b") && svg.contains("title &quot;q&quot;"));
        assert!(svg.contains(">10k<") && svg.contains(">1000<"));
    }

    #[test]
    fn empty_or_degenerate_data_still_renders() {
        for (scale, points) in [
            (Scale::Linear, vec![]),
            (Scale::Log(10.0), vec![]),
            (Scale::Linear, vec![(0.0, 0.0)]),
            (Scale::Log(2.0), vec![(16.0, 0.0), (16.0, 5.0)]),
        ] {
            assert_well_formed(&render(&chart(scale, points)));
        }
    }

    #[test]
    fn log_axes_tick_at_powers_of_their_base() {
        let r = Range::of(Scale::Log(2.0), [16.0, 10_000.0].into_iter());
        let ticks: Vec<String> = r.ticks().into_iter().map(|(_, l)| l).collect();
        assert_eq!(ticks.first().map(String::as_str), Some("16"));
        assert_eq!(ticks.last().map(String::as_str), Some("16.4k"));
        let r = Range::of(Scale::Log(10.0), [10.0, 1000.0].into_iter());
        assert_eq!(
            (r.lo, r.hi),
            (1.0, 3.0),
            "exact powers stay on their decade"
        );
        assert_eq!(r.fraction(100.0), 0.5);
    }

    #[test]
    fn linear_axes_end_on_a_round_number() {
        assert_eq!(nice_ceiling(37.0), 50.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        let r = Range::of(Scale::Linear, [3.0, 37.0].into_iter());
        assert_eq!((r.lo, r.hi), (0.0, 50.0));
        assert_eq!(r.ticks()[1], (10.0, "10".into()));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(12.34), "12.3");
        assert_eq!(tick_label(1234.0), "1234");
        assert_eq!(tick_label(35_000.0), "35k");
        assert_eq!(tick_label(2_000_000.0), "2M");
    }
}
