//! Small charts as inline SVG, drawn on the server.
//!
//! Two shapes cover what the explorer plots — bars for counts per minute,
//! a line for a ratio over time — so a few dozen lines of SVG replace a
//! charting library and its JavaScript, and the charts show with
//! JavaScript disabled. Colours come from the stylesheet (classes), not
//! inline styles, so the Content-Security-Policy can forbid inline styles.

use maud::{html, Markup};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;
const PAD_LEFT: f64 = 34.0;
const PAD_BOTTOM: f64 = 18.0;
const PAD_TOP: f64 = 8.0;

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// A bar chart of counts, one bar per `(label, value)`, with the first and
/// last labels under the axis.
pub(crate) fn bars(title: &str, points: &[(String, u64)]) -> Markup {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let n = points.len().max(1) as f64;
    let plot_w = WIDTH - PAD_LEFT;
    let plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP;
    let slot = plot_w / n;
    let total: u64 = points.iter().map(|p| p.1).sum();
    html! {
        svg class="chart" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label={ (title) ": " (total) " in total" } {
            title { (title) }
            line class="axis" x1=(fmt(PAD_LEFT)) y1=(fmt(HEIGHT - PAD_BOTTOM))
                x2=(fmt(WIDTH)) y2=(fmt(HEIGHT - PAD_BOTTOM)) {}
            text class="tick" x="2" y=(fmt(PAD_TOP + 8.0)) { (max) }
            text class="tick" x="2" y=(fmt(HEIGHT - PAD_BOTTOM)) { "0" }
            @for (i, (label, value)) in points.iter().enumerate() {
                @let h = plot_h * (*value as f64) / (max as f64);
                rect class="bar" x=(fmt(PAD_LEFT + slot * i as f64 + 1.0))
                    y=(fmt(HEIGHT - PAD_BOTTOM - h)) width=(fmt((slot - 2.0).max(1.0)))
                    height=(fmt(h)) {
                    title { (label) ": " (value) }
                }
            }
            @if let (Some(first), Some(last)) = (points.first(), points.last()) {
                text class="tick" x=(fmt(PAD_LEFT)) y=(fmt(HEIGHT - 4.0)) { (first.0) }
                text class="tick" x=(fmt(WIDTH)) y=(fmt(HEIGHT - 4.0)) text-anchor="end" { (last.0) }
            }
        }
    }
}

/// A line chart of ratios in 0..=1 against block numbers.
pub(crate) fn ratio_line(title: &str, points: &[(u64, f64)]) -> Markup {
    let plot_w = WIDTH - PAD_LEFT;
    let plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP;
    let (lo, hi) = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (a.0, b.0.max(a.0 + 1)),
        _ => (0, 1),
    };
    let x = |block: u64| PAD_LEFT + plot_w * (block.saturating_sub(lo)) as f64 / (hi - lo) as f64;
    let y = |ratio: f64| PAD_TOP + plot_h * (1.0 - ratio.clamp(0.0, 1.0));
    let path: String = points
        .iter()
        .map(|&(b, r)| format!("{},{}", fmt(x(b)), fmt(y(r))))
        .collect::<Vec<_>>()
        .join(" ");
    html! {
        svg class="chart" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
            title { (title) }
            line class="axis" x1=(fmt(PAD_LEFT)) y1=(fmt(HEIGHT - PAD_BOTTOM))
                x2=(fmt(WIDTH)) y2=(fmt(HEIGHT - PAD_BOTTOM)) {}
            line class="grid" x1=(fmt(PAD_LEFT)) y1=(fmt(y(0.5))) x2=(fmt(WIDTH)) y2=(fmt(y(0.5))) {}
            text class="tick" x="2" y=(fmt(PAD_TOP + 8.0)) { "100%" }
            text class="tick" x="2" y=(fmt(y(0.5) + 4.0)) { "50%" }
            text class="tick" x="2" y=(fmt(HEIGHT - PAD_BOTTOM)) { "0%" }
            @if points.len() == 1 {
                circle class="dot" cx=(fmt(x(lo))) cy=(fmt(y(points[0].1))) r="3" {}
            } @else {
                polyline class="line" points=(path) {}
            }
            @if !points.is_empty() {
                text class="tick" x=(fmt(PAD_LEFT)) y=(fmt(HEIGHT - 4.0)) { "block " (lo) }
                text class="tick" x=(fmt(WIDTH)) y=(fmt(HEIGHT - 4.0)) text-anchor="end" { "block " (hi) }
            }
        }
    }
}
