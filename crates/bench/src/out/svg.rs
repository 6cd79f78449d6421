//! One [`Chart`] as inline SVG for the HTML report: no scripts, no fonts, no external references.
//!
//! Layout, top to bottom: a legend (one swatch and name per series, in [`PALETTE`] order, wrapping to more
//! rows when needed), the plot with horizontal grid lines at the y ticks, then the x tick labels and the x
//! axis label; the y axis label runs up the left side. Ticks fall on round numbers ([`ticks`]: steps of 1, 2
//! or 5 × 10ⁿ, about five per axis). The y axis always includes zero. Line charts draw each series as one
//! `<path class="series">` (a non-finite y breaks the line) with point markers when points are few; bar
//! charts draw one group per category and one `<rect class="bar">` per series in it. A chart without a
//! finite point draws its axes over 0…1 and says "no data".

use std::fmt::Write;

use crate::out::html::escape;
use crate::out::text::decimals;
use crate::report::{Chart, ChartKind};

/// Series colours, in order (Tableau 10); the eleventh series reuses the first colour.
pub const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"];

const WIDTH: f64 = 720.0;
const PLOT_HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const BOTTOM: f64 = 48.0;
const LEGEND_ROW: f64 = 20.0;
/// Line series with at most this many points also get a marker per point.
const MARKERS_UP_TO: usize = 60;

/// Round tick values over an axis, and the axis range they imply.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// Low end of the axis.
    pub lo: f64,
    /// High end of the axis.
    pub hi: f64,
    /// Tick values, ascending, within `lo..=hi`.
    pub values: Vec<f64>,
    /// Distance between ticks.
    pub step: f64,
}

/// Ticks over `lo..=hi`: a step of 1, 2 or 5 × 10ⁿ giving about five intervals. With `extend` the axis grows
/// to the ticks just outside the data (for y, so the top tick is above the highest value); without, the axis
/// keeps the data's range and only the ticks inside are drawn (for x). An empty range widens to a unit one.
pub fn ticks(lo: f64, hi: f64, extend: bool) -> Ticks {
    let (lo, hi) = match (lo, hi) {
        (lo, hi) if lo < hi => (lo, hi),
        (v, _) if v == 0.0 || !v.is_finite() => (0.0, 1.0),
        (v, _) if v > 0.0 => (0.0, v),
        (v, _) => (v, 0.0),
    };
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let step = magnitude
        * if norm >= 50f64.sqrt() {
            10.0
        } else if norm >= 10f64.sqrt() {
            5.0
        } else if norm >= 2f64.sqrt() {
            2.0
        } else {
            1.0
        };
    // Indices of the first and last tick; the 1e-9 keeps a value a hair off a tick from adding one.
    let (first, last) = if extend {
        ((lo / step + 1e-9).floor() as i64, (hi / step - 1e-9).ceil() as i64)
    } else {
        ((lo / step - 1e-9).ceil() as i64, (hi / step + 1e-9).floor() as i64)
    };
    let values: Vec<f64> = (first..=last).map(|i| i as f64 * step).collect();
    let (lo, hi) = if extend { (values[0], values[values.len() - 1]) } else { (lo, hi) };
    Ticks { lo, hi, values, step }
}

/// A tick label: as few decimals as the step needs; `k` for steps of thousands, `M` from steps of 100,000.
pub fn tick_label(v: f64, step: f64) -> String {
    let places = |step: f64| (-step.log10().floor()).max(0.0) as usize;
    if v == 0.0 {
        "0".into()
    } else if step >= 1e5 {
        format!("{}M", decimals(v / 1e6, places(step / 1e6)))
    } else if step >= 1e3 {
        format!("{}k", decimals(v / 1e3, places(step / 1e3)))
    } else {
        decimals(v, places(step))
    }
}

/// Maps a value range onto a pixel range.
#[derive(Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }
}

/// A coordinate with one decimal.
fn px(v: f64) -> String {
    decimals(v, 1)
}

/// The chart as one `<svg class="chart">` element.
pub fn chart(c: &Chart) -> String {
    let (legend, legend_height) = legend(c);
    let top = legend_height + 8.0;
    let bottom = top + PLOT_HEIGHT;
    let height = bottom + BOTTOM;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" data-kind="{}" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}" role="img" aria-label="{title}"><title>{title}</title>"#,
        match c.kind {
            ChartKind::Line => "line",
            ChartKind::Bar => "bar",
        },
        h = px(height),
        title = escape(&c.title),
    );
    out.push_str(&legend);
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let points: Vec<(f64, f64)> = c.series.iter().flat_map(|s| s.points.iter().filter(finite)).copied().collect();
    let (y_lo, y_hi) = points.iter().fold((0f64, 0f64), |(lo, hi), (_, y)| (lo.min(*y), hi.max(*y)));
    let y = ticks(y_lo, y_hi, true);
    let ys = Scale { lo: y.lo, hi: y.hi, from: bottom, to: top };
    for v in &y.values {
        let at = px(ys.at(*v));
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{at}" y2="{at}"/><text class="tick" x="{}" y="{at}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            tick_label(*v, y.step)
        );
    }
    let plot = Plot { bottom, y: ys };
    let drawn = match c.kind {
        ChartKind::Line => line(&mut out, c, &points, &plot),
        ChartKind::Bar => bars(&mut out, c, &plot),
    };
    if !drawn {
        let _ = write!(
            out,
            r#"<text class="no-data" x="{}" y="{}" text-anchor="middle">no data</text>"#,
            px((LEFT + WIDTH - RIGHT) / 2.0),
            px((top + bottom) / 2.0)
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{top}" y2="{b}"/><line class="axis" x1="{LEFT}" x2="{}" y1="{b}" y2="{b}"/>"#,
        WIDTH - RIGHT,
        top = px(top),
        b = px(bottom)
    );
    let _ = write!(
        out,
        r#"<text class="label" x="{}" y="{}" text-anchor="middle">{}</text><text class="label" transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text></svg>"#,
        px((LEFT + WIDTH - RIGHT) / 2.0),
        px(height - 8.0),
        escape(&c.x_label),
        px((top + bottom) / 2.0),
        escape(&c.y_label)
    );
    out
}

/// The plot area's bottom edge and y scale.
struct Plot {
    bottom: f64,
    y: Scale,
}

/// The legend's SVG and height; items flow left to right and wrap.
fn legend(c: &Chart) -> (String, f64) {
    let mut out = String::new();
    let (mut x, mut row) = (LEFT, 0.0);
    for (i, s) in c.series.iter().enumerate() {
        let width = 32.0 + 7.0 * s.name.chars().count() as f64;
        if x > LEFT && x + width > WIDTH - RIGHT {
            (x, row) = (LEFT, row + 1.0);
        }
        let y = 8.0 + row * LEGEND_ROW;
        let _ = write!(
            out,
            r#"<g class="legend"><rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}" dominant-baseline="middle">{}</text></g>"#,
            px(x),
            px(y),
            PALETTE[i % PALETTE.len()],
            px(x + 18.0),
            px(y + 6.0),
            escape(&s.name)
        );
        x += width;
    }
    let rows = if c.series.is_empty() { 0.0 } else { row + 1.0 };
    (out, 8.0 + rows * LEGEND_ROW)
}

/// Draws x ticks and one path per series; false when there was nothing to draw.
fn line(out: &mut String, c: &Chart, points: &[(f64, f64)], plot: &Plot) -> bool {
    let (x_lo, x_hi) =
        points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| (lo.min(*x), hi.max(*x)));
    let x = if points.is_empty() { ticks(0.0, 1.0, false) } else { ticks(x_lo, x_hi, false) };
    let xs = Scale { lo: x.lo, hi: x.hi, from: LEFT, to: WIDTH - RIGHT };
    for v in &x.values {
        let at = px(xs.at(*v));
        let _ = write!(
            out,
            r#"<line class="tick" x1="{at}" x2="{at}" y1="{b}" y2="{}"/><text class="tick" x="{at}" y="{}" text-anchor="middle">{}</text>"#,
            px(plot.bottom + 5.0),
            px(plot.bottom + 18.0),
            tick_label(*v, x.step),
            b = px(plot.bottom),
        );
    }
    for (i, s) in c.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut d = String::new();
        let mut pen_down = false;
        for &(px_, py) in &s.points {
            if !(px_.is_finite() && py.is_finite()) {
                pen_down = false;
                continue;
            }
            let _ = write!(
                d,
                "{}{} {}",
                if pen_down {
                    " L"
                } else if d.is_empty() {
                    "M"
                } else {
                    " M"
                },
                px(xs.at(px_)),
                px(plot.y.at(py))
            );
            pen_down = true;
        }
        if d.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            r#"<path class="series" data-series="{}" d="{d}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"/>"#,
            escape(&s.name)
        );
        if s.points.len() <= MARKERS_UP_TO {
            for &(px_, py) in s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
                let _ = write!(
                    out,
                    r#"<circle class="marker" cx="{}" cy="{}" r="2.5" fill="{colour}"><title>{}: {}, {}</title></circle>"#,
                    px(xs.at(px_)),
                    px(plot.y.at(py)),
                    escape(&s.name),
                    decimals(px_, 3),
                    decimals(py, 3)
                );
            }
        }
    }
    !points.is_empty()
}

/// Draws category labels and one group of bars per category; false when there was nothing to draw.
fn bars(out: &mut String, c: &Chart, plot: &Plot) -> bool {
    let name = |s: &crate::report::Series, x: f64| {
        s.categories.get(x as usize).cloned().filter(|_| x >= 0.0).unwrap_or_else(|| decimals(x, 3))
    };
    let mut categories: Vec<String> = Vec::new();
    for s in &c.series {
        for &(x, y) in &s.points {
            let n = name(s, x);
            if x.is_finite() && y.is_finite() && !categories.contains(&n) {
                categories.push(n);
            }
        }
    }
    if categories.is_empty() {
        return false;
    }
    let group = (WIDTH - RIGHT - LEFT) / categories.len() as f64;
    let bar = group * 0.8 / c.series.len() as f64;
    let rotate = categories.iter().any(|n| n.chars().count() as f64 * 6.5 > group);
    for (k, n) in categories.iter().enumerate() {
        let x = LEFT + group * (k as f64 + 0.5);
        let y = plot.bottom + 16.0;
        let transform = if rotate {
            format!(r#" transform="rotate(-25 {} {})" text-anchor="end""#, px(x), px(y))
        } else {
            r#" text-anchor="middle""#.into()
        };
        let _ = write!(out, r#"<text class="tick" x="{}" y="{}"{transform}>{}</text>"#, px(x), px(y), escape(n));
    }
    let zero = plot.y.at(0.0);
    for (i, s) in c.series.iter().enumerate() {
        for &(x, y) in s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
            let n = name(s, x);
            let k = categories.iter().position(|c| *c == n).unwrap_or_default();
            let left = LEFT + group * (k as f64 + 0.1) + bar * i as f64;
            let (top, height) = (plot.y.at(y).min(zero), (plot.y.at(y) - zero).abs());
            let _ = write!(
                out,
                r#"<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}, {}: {}</title></rect>"#,
                px(left),
                px(top),
                px(bar),
                px(height),
                PALETTE[i % PALETTE.len()],
                escape(&s.name),
                escape(&n),
                decimals(y, 3)
            );
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Ticks) -> Vec<String> {
        t.values.iter().map(|v| tick_label(*v, t.step)).collect()
    }

    #[test]
    fn ticks_fall_on_round_numbers() {
        let t = ticks(0.0, 97.0, true);
        assert_eq!((t.lo, t.hi, t.step), (0.0, 100.0, 20.0));
        assert_eq!(values(&t), ["0", "20", "40", "60", "80", "100"]);
        assert_eq!(values(&ticks(0.0, 1.0, true)), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        assert_eq!(values(&ticks(0.0, 3.0, false)), ["0", "0.5", "1", "1.5", "2", "2.5", "3"]);
        assert_eq!(
            values(&ticks(0.0, 0.0123, true)),
            ["0", "0.002", "0.004", "0.006", "0.008", "0.01", "0.012", "0.014"]
        );
        assert_eq!(values(&ticks(-12.0, 40.0, true)), ["-20", "-10", "0", "10", "20", "30", "40"]);
        assert_eq!(values(&ticks(0.0, 25_000.0, true)), ["0", "5k", "10k", "15k", "20k", "25k"]);
        assert_eq!(values(&ticks(0.0, 3.2e6, true)), ["0", "0.5M", "1M", "1.5M", "2M", "2.5M", "3M", "3.5M"]);
    }

    #[test]
    fn ticks_without_extending_stay_inside_the_data() {
        let t = ticks(1.3, 61.0, false);
        assert_eq!((t.lo, t.hi), (1.3, 61.0));
        assert_eq!(values(&t), ["10", "20", "30", "40", "50", "60"]);
    }

    #[test]
    fn empty_ranges_widen() {
        assert_eq!(values(&ticks(0.0, 0.0, true)), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        assert_eq!((ticks(7.0, 7.0, true).lo, ticks(7.0, 7.0, true).hi), (0.0, 7.0));
        assert_eq!(ticks(-3.0, -3.0, true).lo, -3.0);
        assert_eq!(ticks(f64::NAN, f64::NAN, true).hi, 1.0);
    }
}
