//! Growth curves as standalone SVG files (`--svg FILE` on the benches).
//!
//! Operators choose a system by how its figures grow with the work, so the
//! benches that sweep a dimension (engines per bounty, artifacts per
//! bounty, chain length) write the curve as well as the table. One shape
//! covers them all — a line per series over a linear or logarithmic x axis
//! — so a few dozen lines of SVG replace a plotting library, and the file
//! renders anywhere (GitHub shows it inline in `docs/BENCHMARKS.md`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// One line of a chart: a name for the legend and its points `(x, y)`.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(f64, f64)>,
}

/// A chart: titles, axes and the lines on it.
#[derive(Clone, Debug)]
pub(crate) struct Chart {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    /// A logarithmic x axis (for sweeps like 1, 3, 10, 30, 100); every x
    /// must then be positive.
    pub(crate) log_x: bool,
    pub(crate) series: Vec<Series>,
}

impl Chart {
    /// Writes the chart to `path`.
    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.render())
            .with_context(|| format!("writing the chart to {}", path.display()))
    }

    /// The chart as an SVG document. Non-finite points (and, on a log
    /// axis, x ≤ 0) are left out rather than drawn off the chart.
    pub(crate) fn render(&self) -> String {
        let fx = |x: f64| if self.log_x { x.log10() } else { x };
        let usable =
            |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!self.log_x || x > 0.0);
        let points = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().filter(|p| usable(p)))
        };
        let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut y1 = 0.0_f64;
        for &(x, y) in points() {
            x0 = x0.min(fx(x));
            x1 = x1.max(fx(x));
            y1 = y1.max(y);
        }
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let y1 = nice_ceiling(y1);
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let px = |x: f64| LEFT + (fx(x) - x0) / (x1 - x0) * plot_w;
        let py = |y: f64| TOP + plot_h - y / y1 * plot_h;

        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
        );
        let _ = write!(
            svg,
            r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
            LEFT + plot_w / 2.0,
            escape(&self.title)
        );
        // Axes, y ticks (0, ¼, ½, ¾, max) with grid lines.
        let _ = write!(
            svg,
            r##"<path d="M{LEFT} {TOP}V{b}H{r}" fill="none" stroke="#333"/>"##,
            b = TOP + plot_h,
            r = LEFT + plot_w
        );
        for i in 0..=4 {
            let y = y1 * f64::from(i) / 4.0;
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" x2="{r}" y1="{p:.1}" y2="{p:.1}" stroke="#ddd"/><text x="{t}" y="{q:.1}" text-anchor="end">{}</text>"##,
                tick(y),
                r = LEFT + plot_w,
                p = py(y),
                t = LEFT - 6.0,
                q = py(y) + 4.0
            );
        }
        // X ticks: every distinct x of the data (sweeps have few).
        let mut xs: Vec<f64> = points().map(|p| p.0).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        for x in xs {
            let _ = write!(
                svg,
                r##"<line x1="{p:.1}" x2="{p:.1}" y1="{b}" y2="{c}" stroke="#333"/><text x="{p:.1}" y="{t}" text-anchor="middle">{}</text>"##,
                tick(x),
                p = px(x),
                b = TOP + plot_h,
                c = TOP + plot_h + 4.0,
                t = TOP + plot_h + 16.0
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            HEIGHT - 10.0,
            escape(&self.x_label),
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        for (i, series) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let path: Vec<String> = series
                .points
                .iter()
                .filter(|p| usable(p))
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                path.join(" ")
            );
            for &(x, y) in series.points.iter().filter(|p| usable(p)) {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                    px(x),
                    py(y)
                );
            }
            let ly = TOP + 8.0 + 18.0 * i as f64;
            let lx = LEFT + plot_w + 12.0;
            let _ = write!(
                svg,
                r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
                lx + 18.0,
                lx + 24.0,
                ly + 4.0,
                escape(&series.name)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (1 for nothing to show).
fn nice_ceiling(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || v.is_infinite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

/// A tick label: whole numbers with thousands as "k" and millions as "M".
fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
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

    fn chart(log_x: bool, points: Vec<(f64, f64)>) -> Chart {
        Chart {
            title: "lifecycles/s <by> engines".into(),
            x_label: "engines per bounty".into(),
            y_label: "lifecycles/s".into(),
            log_x,
            series: vec![Series {
                name: "SQLite".into(),
                points,
            }],
        }
    }

    #[test]
    fn a_chart_draws_one_marker_per_point_and_escapes_its_text() {
        let svg = chart(true, vec![(1.0, 1100.0), (3.0, 1460.0), (100.0, 40.0)]).render();
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("lifecycles/s &lt;by&gt; engines"));
        assert!(!svg.contains("<by>"));
        // The y axis tops out at a round number above the largest value.
        assert!(svg.contains(">2k<") || svg.contains(">2000<"), "{svg}");
    }

    #[test]
    fn points_that_cannot_be_placed_are_left_out() {
        let svg = chart(true, vec![(0.0, 5.0), (10.0, f64::NAN), (10.0, 3.0)]).render();
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let empty = chart(false, vec![]).render();
        assert!(!empty.contains("NaN") && !empty.contains("inf"));
    }

    #[test]
    fn on_a_log_axis_equal_ratios_are_equal_distances() {
        let c = chart(true, vec![(1.0, 1.0), (10.0, 1.0), (100.0, 1.0)]);
        let svg = c.render();
        let xs: Vec<f64> = svg
            .match_indices("<circle cx=\"")
            .map(|(i, m)| {
                let rest = &svg[i + m.len()..];
                rest[..rest.find('"').unwrap_or(0)]
                    .parse()
                    .unwrap_or(f64::NAN)
            })
            .collect();
        assert_eq!(xs.len(), 3);
        assert!(((xs[1] - xs[0]) - (xs[2] - xs[1])).abs() < 0.2, "{xs:?}");
    }
}
