//! Charts as SVG drawn on the server: no script, readable by screen readers through
//! their label, and the same in every browser.

use maud::{Markup, html};

/// Health bands drawn behind score charts: red below 40, yellow to 70, green above.
const BANDS: [(f64, f64, &str); 3] = [
    (0.0, 40.0, "band-red"),
    (40.0, 70.0, "band-yellow"),
    (70.0, 100.0, "band-green"),
];

/// The points of a polyline through `values` in a `width` × `height` box, `max` at the
/// top; x spread evenly over `slots` positions.
fn polyline(values: &[(usize, f64)], slots: usize, width: f64, height: f64, max: f64) -> String {
    let step = width / (slots.max(2) - 1) as f64;
    let max = if max > 0.0 { max } else { 1.0 };
    values
        .iter()
        .map(|(slot, value)| {
            let x = *slot as f64 * step;
            let y = height - (value.clamp(0.0, max) / max) * height;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A small line of a score (0–100) over `slots` days; `points` are (day index, score).
pub fn sparkline(points: &[(usize, f64)], slots: usize, label: &str) -> Markup {
    const W: f64 = 90.0;
    const H: f64 = 22.0;
    html! {
        svg.sparkline viewBox=(format!("0 0 {W} {H}")) width=(W) height=(H) role="img" aria-label=(label) {
            title { (label) }
            @for (from, to, class) in BANDS {
                rect class=(class) x="0" y=(format!("{:.1}", H - to / 100.0 * H)) width=(W) height=(format!("{:.1}", (to - from) / 100.0 * H)) {}
            }
            @if points.len() == 1 {
                circle cx=(format!("{:.1}", W)) cy=(format!("{:.1}", H - points[0].1 / 100.0 * H)) r="2" {}
            } @else if !points.is_empty() {
                polyline points=(polyline(points, slots, W, H, 100.0)) {}
            }
        }
    }
}

/// One series of a line chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<f64>,
}

/// Daily series over the same days, scaled to the largest value, with the first and
/// last day under the x axis and the maximum on the y axis.
pub fn lines(series: &[Series<'_>], first_day: &str, last_day: &str, label: &str) -> Markup {
    const W: f64 = 560.0;
    const H: f64 = 140.0;
    const PAD: f64 = 28.0;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max)
        .max(1.0);
    let slots = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {} {}", W + PAD + 8.0, H + PAD)) role="img" aria-label=(label) {
                title { (label) }
                g transform=(format!("translate({PAD},4)")) {
                    line.axis x1="0" y1=(H) x2=(W) y2=(H) {}
                    line.axis x1="0" y1="0" x2="0" y2=(H) {}
                    text.tick x="-4" y="8" text-anchor="end" { (max.round()) }
                    text.tick x="-4" y=(H) text-anchor="end" { "0" }
                    text.tick x="0" y=(H + 16.0) { (first_day) }
                    text.tick x=(W) y=(H + 16.0) text-anchor="end" { (last_day) }
                    @for s in series {
                        @let points: Vec<(usize, f64)> = s.values.iter().copied().enumerate().collect();
                        polyline class=(s.class) points=(polyline(&points, slots, W, H, max)) {}
                    }
                }
            }
            figcaption {
                @for s in series {
                    span class=(format!("key {}", s.class)) { (s.name) }
                }
            }
        }
    }
}

/// The score history (0–100) over `slots` days on its colour bands.
pub fn score_history(
    points: &[(usize, f64)],
    slots: usize,
    first_day: &str,
    last_day: &str,
    label: &str,
) -> Markup {
    const W: f64 = 560.0;
    const H: f64 = 140.0;
    const PAD: f64 = 28.0;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {} {}", W + PAD + 8.0, H + PAD)) role="img" aria-label=(label) {
                title { (label) }
                g transform=(format!("translate({PAD},4)")) {
                    @for (from, to, class) in BANDS {
                        rect class=(class) x="0" y=(format!("{:.1}", H - to / 100.0 * H)) width=(W) height=(format!("{:.1}", (to - from) / 100.0 * H)) {}
                    }
                    @for mark in [0, 40, 70, 100] {
                        text.tick x="-4" y=(format!("{:.1}", H - f64::from(mark) / 100.0 * H + 4.0)) text-anchor="end" { (mark) }
                    }
                    text.tick x="0" y=(H + 16.0) { (first_day) }
                    text.tick x=(W) y=(H + 16.0) text-anchor="end" { (last_day) }
                    @if points.len() == 1 {
                        circle.score cx=(W) cy=(format!("{:.1}", H - points[0].1 / 100.0 * H)) r="3" {}
                    } @else {
                        polyline.score points=(polyline(points, slots, W, H, 100.0)) {}
                    }
                }
            }
        }
    }
}

/// Bars of values that may be negative (NPS, −100…100), labelled below and above.
pub fn signed_bars(bars: &[(String, Option<f64>)], label: &str) -> Markup {
    const W: f64 = 560.0;
    const H: f64 = 140.0;
    let slot = W / bars.len().max(1) as f64;
    let zero = H / 2.0;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {W} {}", H + 24.0)) role="img" aria-label=(label) {
                title { (label) }
                line.axis x1="0" y1=(zero) x2=(W) y2=(zero) {}
                @for (i, (name, value)) in bars.iter().enumerate() {
                    @let x = i as f64 * slot + slot * 0.2;
                    @let width = slot * 0.6;
                    @if let Some(value) = value {
                        @let height = value.abs().min(100.0) / 100.0 * zero;
                        @let y = if *value >= 0.0 { zero - height } else { zero };
                        rect class=(if *value >= 0.0 { "bar-up" } else { "bar-down" }) x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{width:.1}")) height=(format!("{:.1}", height.max(1.0))) {}
                        text.tick x=(format!("{:.1}", x + width / 2.0)) y=(format!("{:.1}", if *value >= 0.0 { y - 4.0 } else { y + height + 12.0 })) text-anchor="middle" { (format!("{value:.0}")) }
                    } @else {
                        text.tick x=(format!("{:.1}", x + width / 2.0)) y=(format!("{:.1}", zero - 4.0)) text-anchor="middle" { "–" }
                    }
                    text.tick x=(format!("{:.1}", x + width / 2.0)) y=(H + 18.0) text-anchor="middle" { (name) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_span_the_box_from_bottom_to_top() {
        assert_eq!(
            polyline(&[(0, 0.0), (2, 100.0)], 3, 90.0, 20.0, 100.0),
            "0.0,20.0 90.0,0.0"
        );
        assert_eq!(polyline(&[(1, 50.0)], 3, 90.0, 20.0, 100.0), "45.0,10.0");
        // Out-of-range values stay in the box.
        assert_eq!(polyline(&[(0, 150.0)], 1, 90.0, 20.0, 100.0), "0.0,0.0");
    }

    #[test]
    fn charts_carry_their_label_for_screen_readers() {
        let svg = sparkline(&[(0, 30.0), (89, 80.0)], 90, "score 30 → 80").into_string();
        assert!(svg.contains("aria-label=\"score 30 → 80\""));
        assert!(svg.contains("<polyline"));
        let bars =
            signed_bars(&[("Q1".into(), Some(-20.0)), ("Q2".into(), None)], "NPS").into_string();
        assert!(bars.contains("bar-down") && bars.contains(">–<"));
    }
}
